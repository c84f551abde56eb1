import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CairnError, type Cairn } from "@cairn/sdk";
import { runPipelineLocally } from "./local-executor.js";
import { createHash } from "node:crypto";
import { gitState, lockfileHashes, RunRecorder, runStatusOf } from "./run-recorder.js";
import type { Pipeline, Step } from "./types.js";
import { testStep } from "../../../test/pipeline-steps.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
const tmpDir = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-recorder-"));
  dirs.push(d);
  return d;
};

const step = (name: string, cmd: string, extra: Partial<Step> = {}): Step => testStep(name, cmd, { cache: false, ...extra });

interface Call {
  method: string;
  args: unknown[];
}

/** A fake client: records calls; `fail(method)` makes that method throw. */
function fakeCairn(fail: (method: string) => CairnError | undefined = () => undefined): { cairn: Cairn; calls: Call[] } {
  const calls: Call[] = [];
  let n = 0;
  const call = (method: string) => async (...args: unknown[]) => {
    calls.push({ method, args });
    const e = fail(method);
    if (e) throw e;
    if (method === "startRun") return { id: `run${n++}` };
    if (method === "datasets.getVersion") return { digest: "d1" };
    return undefined;
  };
  const cairn = {
    url: "http://cairn.test/",
    startRun: call("startRun"),
    runs: { logBatch: call("runs.logBatch"), update: call("runs.update"), setTag: call("runs.setTag") },
    artifacts: { upload: call("artifacts.upload") },
    datasets: { linkRun: call("datasets.linkRun"), getVersion: call("datasets.getVersion"), getOrCreate: call("datasets.getOrCreate"), uploadVersion: call("datasets.uploadVersion") },
  } as unknown as Cairn;
  return { cairn, calls };
}

describe("RunRecorder", () => {
  it("maps step statuses to run statuses", () => {
    expect(runStatusOf("succeeded")).toBe("FINISHED");
    expect(runStatusOf("cached")).toBe("FINISHED");
    expect(runStatusOf("failed")).toBe("FAILED");
    expect(runStatusOf("timeout")).toBe("FAILED");
    expect(runStatusOf("oom")).toBe("FAILED");
    expect(runStatusOf("skipped")).toBe("KILLED");
    expect(runStatusOf("cancelled")).toBe("KILLED");
  });

  it("gitState is undefined outside a git repository", async () => {
    expect(await gitState(tmpDir())).toBeUndefined();
  });

  it("records a parent, child runs, dataset inputs and ends them with the right statuses", async () => {
    const root = tmpDir();
    const pipeline: Pipeline = {
      name: "p",
      root,
      params: { lr: 0.1 },
      steps: [
        step("a", "echo hello-a", { params: ["lr"], deps: [{ kind: "dataset", name: "raw", ref: "v1" }] }),
        step("b", "echo oops >&2; exit 2", { deps: [{ kind: "step", step: "a", path: "x" }] }),
        step("c", "echo never", { deps: [{ kind: "step", step: "b", path: "y" }] }),
      ],
    };
    const { cairn, calls } = fakeCairn();
    const logDir = path.join(root, "logs");
    const rec = await RunRecorder.start({ cairn, pipeline, logDir, cacheOn: true, warn: () => undefined });
    expect(rec.runId).toBe("run0");
    expect(rec.url).toBe("http://cairn.test/#/runs/run0");
    const result = await runPipelineLocally(pipeline, { logDir, capacity: { gpu: 0 }, onEvent: (e) => rec.onEvent(e) });
    await rec.finish(result);
    expect(rec.warnings).toBe(0);

    const starts = calls.filter((c) => c.method === "startRun").map((c) => c.args[0] as { runName: string; tags: Record<string, string>; experiment: unknown });
    expect(starts[0]).toMatchObject({ runName: expect.stringMatching(/^p \d{4}-/), experiment: { name: "pipeline:p" }, tags: { "cairn.pipeline": "p" } });
    expect(starts.slice(1).map((s) => [s.runName, s.tags["mlflow.parentRunId"]])).toEqual([
      ["a", "run0"],
      ["b", "run0"],
      ["c", "run0"],
    ]);
    const link = calls.find((c) => c.method === "datasets.linkRun")!;
    expect(link.args).toEqual(["run1", { dataset: "raw", version: "v1", direction: "input", context: "a" }]);
    const ends = Object.fromEntries(calls.filter((c) => c.method === "runs.update").map((c) => [c.args[0], (c.args[1] as { status: string }).status]));
    expect(ends).toEqual({ run0: "FAILED", run1: "FINISHED", run2: "FAILED", run3: "KILLED" });
    const uploads = calls.filter((c) => c.method === "artifacts.upload").map((c) => [c.args[0], path.basename(c.args[1] as string), c.args[2]]);
    expect(uploads).toEqual(expect.arrayContaining([["run0", "pipeline.json", undefined], ["run1", "a.log", "logs"], ["run2", "b.log", "logs"]]));
    expect(uploads.some((u) => u[0] === "run3")).toBe(false); // never ran: no log
    const tagsOf = (id: string) =>
      Object.fromEntries(
        calls
          .filter((c) => c.method === "runs.logBatch" && c.args[0] === id)
          .flatMap((c) => ((c.args[1] as { tags?: { key: string; value: string }[] }).tags ?? []).map((t) => [t.key, t.value])),
      );
    expect(tagsOf("run2")).toMatchObject({ "cairn.step.status": "failed", "cairn.step.attempts": "1", "cairn.step.cache": "off", "cairn.step.cache_reason": "cache: false" });
    expect(await rec.datasetDigest("raw", "v1")).toBe("d1");
  });

  it("server errors become warnings and never stop the pipeline; an unreachable server is reported once", async () => {
    const root = tmpDir();
    const pipeline: Pipeline = { name: "p", root, params: { x: 1 }, steps: [step("a", "echo a"), step("b", "echo b")] };
    let down = false;
    const { cairn, calls } = fakeCairn((m) => (m === "runs.logBatch" && !down ? new CairnError("INVALID_PARAMETER_VALUE", "bad") : down ? new CairnError("TEMPORARILY_UNAVAILABLE", "gone") : undefined));
    const warnings: string[] = [];
    const rec = await RunRecorder.start({ cairn, pipeline, logDir: path.join(root, "logs"), cacheOn: false, warn: (m) => warnings.push(m) });
    expect(warnings.length).toBeGreaterThan(0); // params refused: a warning
    down = true;
    const result = await runPipelineLocally(pipeline, { logDir: path.join(root, "logs"), capacity: { gpu: 0 }, onEvent: (e) => rec.onEvent(e) });
    await rec.finish(result);
    expect(result.status).toBe("succeeded");
    expect(warnings.filter((w) => w.includes("TEMPORARILY_UNAVAILABLE"))).toHaveLength(1);
    const after = calls.length;
    await rec.finish(result);
    expect(calls.length).toBe(after); // nothing more is tried
  });

  it("hashes the lockfiles in the root", async () => {
    const root = tmpDir();
    fs.writeFileSync(path.join(root, "package-lock.json"), "{}\n");
    fs.writeFileSync(path.join(root, "requirements-dev.txt"), "pytest\n");
    fs.writeFileSync(path.join(root, "notes.txt"), "x\n");
    expect(await lockfileHashes(root)).toEqual({
      "package-lock.json": createHash("sha256").update("{}\n").digest("hex"),
      "requirements-dev.txt": createHash("sha256").update("pytest\n").digest("hex"),
    });
  });

  it("records runtime and lockfile tags, extra tags, and reproducibility.json with inputs and output digests", async () => {
    const root = tmpDir();
    fs.writeFileSync(path.join(root, "uv.lock"), "lock\n");
    fs.writeFileSync(path.join(root, "gen.sh"), "echo 42 > out.txt\n");
    const pipeline: Pipeline = {
      name: "p",
      root,
      params: { n: 2 },
      steps: [
        step("gen", "sh gen.sh", { params: ["n"], deps: [{ kind: "path", path: "gen.sh" }], outs: [{ path: "out.txt" }] }),
        step("use", "cat out.txt > copy.txt", { deps: [{ kind: "step", step: "gen", path: "out.txt" }], outs: [{ path: "copy.txt" }] }),
      ],
    };
    const { cairn, calls } = fakeCairn();
    let uploaded: unknown;
    (cairn.artifacts as unknown as { upload: (id: string, file: string) => Promise<void> }).upload = async (_id, file) => {
      if (path.basename(file) === "reproducibility.json") uploaded = JSON.parse(fs.readFileSync(file, "utf8"));
    };
    const logDir = path.join(root, "logs");
    const rec = await RunRecorder.start({ cairn, pipeline, logDir, cacheOn: false, warn: () => undefined, tags: { "cairn.rerun_of": "r9" } });
    const result = await runPipelineLocally(pipeline, { logDir, capacity: { gpu: 0 }, onEvent: (e) => rec.onEvent(e) });
    await rec.finish(result);
    const parentTags = (calls.find((c) => c.method === "startRun")!.args[0] as { tags: Record<string, string> }).tags;
    expect(parentTags).toMatchObject({
      "cairn.runtime.node": process.version,
      "cairn.runtime.platform": process.platform,
      "cairn.runtime.arch": process.arch,
      "cairn.lockfile.uv.lock": createHash("sha256").update("lock\n").digest("hex"),
      "cairn.rerun_of": "r9",
    });
    const r = uploaded as { lockfiles: Record<string, string>; steps: Record<string, { status: string; components: { name: string; value: string }[]; outputs: Record<string, string> }> };
    expect(Object.keys(r.lockfiles)).toEqual(["uv.lock"]);
    expect(r.steps.gen!.status).toBe("succeeded");
    expect(r.steps.gen!.components.map((c) => c.name)).toEqual(expect.arrayContaining(["cmd", "code:gen.sh", "param:n", "runtime"]));
    const genOut = r.steps.gen!.outputs["out.txt"]!;
    expect(genOut).toMatch(/^[0-9a-f]{64}$/);
    // The downstream step's dep is the upstream output's digest, as hashed when it finished.
    expect(r.steps.use!.components.find((c) => c.name === "dep:out.txt")?.value).toBe(genOut);
    expect(r.steps.use!.outputs["copy.txt"]).toMatch(/^[0-9a-f]{64}$/);
  });
});
