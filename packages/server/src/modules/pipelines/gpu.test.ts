import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { detectGpus, sampleGpus } from "./gpu.js";

const DETECT_ARGS = "--query-gpu=index,uuid,name,memory.total --format=csv,noheader,nounits";
const SAMPLE_ARGS = "--query-gpu=index,utilization.gpu,memory.used,memory.total --format=csv,noheader,nounits";

let dir: string;

/** Puts a fake `nvidia-smi` in `dir/bin` that prints canned CSV per query and records its arguments. */
function fakeNvidiaSmi(opts: { detect?: string; sample?: string; exitCode?: number; sleep?: number }): NodeJS.ProcessEnv {
  const bin = join(dir, "bin");
  rmSync(bin, { recursive: true, force: true });
  writeFileSync(join(dir, "detect.csv"), opts.detect ?? "");
  writeFileSync(join(dir, "sample.csv"), opts.sample ?? "");
  const script = `#!/bin/sh
echo "$*" >> "${dir}/args.log"
${opts.sleep ? `sleep ${opts.sleep}` : ""}
${opts.exitCode ? `echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver." >&2; exit ${opts.exitCode}` : ""}
case "$*" in
  "${DETECT_ARGS}") cat "${dir}/detect.csv" ;;
  "${SAMPLE_ARGS}") cat "${dir}/sample.csv" ;;
  *) echo "unexpected arguments: $*" >&2; exit 2 ;;
esac
`;
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, "nvidia-smi"), script);
  chmodSync(join(bin, "nvidia-smi"), 0o755);
  return { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}` };
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "cairn-gpu-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("detectGpus", () => {
  it("parses nvidia-smi's CSV into sorted GPUs", async () => {
    const env = fakeNvidiaSmi({
      detect:
        "1, GPU-bbbbbbbb-0000-0000-0000-000000000001, NVIDIA H100 80GB HBM3, 81559\n" +
        "0, GPU-aaaaaaaa-0000-0000-0000-000000000000, NVIDIA H100 80GB HBM3, 81559\n",
    });
    const gpus = await detectGpus({ env });
    expect(gpus).toEqual([
      { index: 0, uuid: "GPU-aaaaaaaa-0000-0000-0000-000000000000", name: "NVIDIA H100 80GB HBM3", memoryTotalMb: 81559 },
      { index: 1, uuid: "GPU-bbbbbbbb-0000-0000-0000-000000000001", name: "NVIDIA H100 80GB HBM3", memoryTotalMb: 81559 },
    ]);
    expect(readFileSync(join(dir, "args.log"), "utf8").trim()).toBe(DETECT_ARGS);
  });

  it("keeps commas inside the GPU name and tolerates blank lines, CRLF and garbage rows", async () => {
    const env = fakeNvidiaSmi({
      detect: "\r\n0, GPU-x, Weird, Name, 24576\r\nnot a gpu line\n\n[N/A], GPU-y, Foo, 1\n",
    });
    expect(await detectGpus({ env })).toEqual([{ index: 0, uuid: "GPU-x", name: "Weird, Name", memoryTotalMb: 24576 }]);
  });

  it("answers [] when nvidia-smi is not installed", async () => {
    const env = { ...process.env, PATH: join(dir, "empty-bin") };
    expect(await detectGpus({ env })).toEqual([]);
    expect(await detectGpus({ nvidiaSmi: join(dir, "no-such-nvidia-smi") })).toEqual([]);
  });

  it("answers [] when nvidia-smi fails (no driver)", async () => {
    const env = fakeNvidiaSmi({ detect: "0, GPU-x, A, 1\n", exitCode: 9 });
    expect(await detectGpus({ env })).toEqual([]);
  });

  it("answers [] when nvidia-smi hangs past the timeout", async () => {
    const env = fakeNvidiaSmi({ detect: "0, GPU-x, A, 1\n", sleep: 5 });
    const t0 = Date.now();
    expect(await detectGpus({ env, timeoutMs: 200 })).toEqual([]);
    expect(Date.now() - t0).toBeLessThan(4000);
  });

  it("answers [] for empty output", async () => {
    const env = fakeNvidiaSmi({ detect: "" });
    expect(await detectGpus({ env })).toEqual([]);
  });

  it("accepts an explicit executable path", async () => {
    fakeNvidiaSmi({ detect: "0, GPU-x, A100, 40960\n" });
    const gpus = await detectGpus({ nvidiaSmi: join(dir, "bin", "nvidia-smi") });
    expect(gpus).toEqual([{ index: 0, uuid: "GPU-x", name: "A100", memoryTotalMb: 40960 }]);
  });
});

describe("sampleGpus", () => {
  it("returns samples for the asked indices only, in the asked order", async () => {
    const env = fakeNvidiaSmi({ sample: "0, 12, 1024, 81559\n1, 97, 70000, 81559\n2, 0, 3, 81559\n" });
    expect(await sampleGpus([2, 1], { env })).toEqual([
      { index: 2, utilizationPct: 0, memoryUsedMb: 3, memoryTotalMb: 81559 },
      { index: 1, utilizationPct: 97, memoryUsedMb: 70000, memoryTotalMb: 81559 },
    ]);
    expect(readFileSync(join(dir, "args.log"), "utf8").trim()).toBe(SAMPLE_ARGS);
  });

  it("maps [N/A] and [Not Supported] to null and skips unknown indices", async () => {
    const env = fakeNvidiaSmi({ sample: "0, [N/A], [Not Supported], 81559\n" });
    expect(await sampleGpus([0, 5], { env })).toEqual([
      { index: 0, utilizationPct: null, memoryUsedMb: null, memoryTotalMb: 81559 },
    ]);
  });

  it("does not run nvidia-smi for no indices", async () => {
    const env = fakeNvidiaSmi({ sample: "0, 1, 2, 3\n" });
    expect(await sampleGpus([], { env })).toEqual([]);
    expect(() => readFileSync(join(dir, "args.log"), "utf8")).toThrow();
  });

  it("answers [] when nvidia-smi is missing or fails", async () => {
    expect(await sampleGpus([0], { env: { ...process.env, PATH: join(dir, "empty-bin") } })).toEqual([]);
    const env = fakeNvidiaSmi({ sample: "0, 1, 2, 3\n", exitCode: 1 });
    expect(await sampleGpus([0], { env })).toEqual([]);
  });

  it("uses process.env when no env is given", async () => {
    const env = fakeNvidiaSmi({ sample: "0, 50, 100, 200\n" });
    const saved = process.env.PATH;
    process.env.PATH = env.PATH;
    try {
      expect(await sampleGpus([0])).toEqual([{ index: 0, utilizationPct: 50, memoryUsedMb: 100, memoryTotalMb: 200 }]);
    } finally {
      process.env.PATH = saved;
    }
  });
});
