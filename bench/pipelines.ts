import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parsePipeline } from "../packages/server/src/modules/pipelines/definition.js";
import { runPipelineLocally } from "../packages/server/src/modules/pipelines/local-executor.js";
import { report, type Figure } from "./util.js";

// Smaller for a quick look: BENCH_CHAIN_STEPS=20 npm run bench -- pipelines
const CHAIN = Number(process.env.BENCH_CHAIN_STEPS ?? 100);

function log(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

/** A chain of `n` steps, each running `cmd` after the one before. */
function chainYaml(n: number, cmd: string): string {
  const steps = Array.from({ length: n }, (_, i) => `  s${i}:\n    cmd: ${cmd}\n    outs: [out/s${i}]\n${i > 0 ? `    deps: [out/s${i - 1}]\n` : ""}    cache: false\n`).join("");
  return `name: chain\nsteps:\n${steps}`;
}

/**
 * Scheduling overhead: a chain of no-op steps through the local executor against the same commands
 * run back to back by one shell script, in the same run. Each step writes its (empty) output so the
 * chain's dependencies are real files, as in a real pipeline; the script writes the same files.
 */
export async function run({ json }: { json: boolean }): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-bench-pipelines-"));
  const figures: Figure[] = [];
  try {
    const cmd = "mkdir -p out && : > out/$CAIRN_STEP";
    const root = path.join(tmp, "chain");
    fs.mkdirSync(root);
    const pipeline = parsePipeline(chainYaml(CHAIN, JSON.stringify(cmd)), { root });
    const script = path.join(tmp, "chain.sh");
    fs.writeFileSync(script, Array.from({ length: CHAIN }, (_, i) => `CAIRN_STEP=s${i} /bin/sh -c '${cmd}'`).join("\n") + "\n");
    const shell = () => {
      fs.rmSync(path.join(root, "out"), { recursive: true, force: true });
      const t0 = performance.now();
      execFileSync("/bin/sh", [script], { cwd: root, stdio: "ignore" });
      return performance.now() - t0;
    };
    const ours = async () => {
      fs.rmSync(path.join(root, "out"), { recursive: true, force: true });
      const t0 = performance.now();
      const res = await runPipelineLocally(pipeline, { logDir: path.join(tmp, "logs"), capacity: { cpu: os.cpus().length, gpu: 0 } });
      if (res.status !== "succeeded") throw new Error(`chain ${res.status}`);
      return performance.now() - t0;
    };
    log(`chain of ${CHAIN} no-op steps, 3 rounds each, interleaved`);
    const a: number[] = [];
    const b: number[] = [];
    for (let r = 0; r < 3; r++) {
      b.push(shell());
      a.push(await ours());
    }
    const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[1]!;
    const perStep = (med(a) - med(b)) / CHAIN;
    figures.push({
      name: `chain of ${CHAIN} no-op steps through the local executor (median of 3)`,
      value: med(a) / 1000,
      unit: "s",
      baseline: { name: "the same commands from one shell script", value: med(b) / 1000, unit: "s" },
    });
    figures.push({ name: "scheduling overhead per step (difference / steps)", value: perStep, unit: "ms", target: "<= 50 ms", pass: perStep <= 50 });
    report("pipelines", figures, { machine: `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`, note: "cached re-run and worker handoff figures come with the step cache CLI and the workers" }, json);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
