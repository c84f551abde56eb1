import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parsePipeline } from "../packages/server/src/modules/pipelines/definition.js";
import { runPipelineLocally } from "../packages/server/src/modules/pipelines/local-executor.js";
import { report, ROOT, type Figure } from "./util.js";

// Smaller for a quick look: BENCH_CHAIN_STEPS=20 npm run bench -- pipelines
const CHAIN = Number(process.env.BENCH_CHAIN_STEPS ?? 100);
const CACHED = Number(process.env.BENCH_CACHED_STEPS ?? 50);

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
const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;

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
    const perStep = (med(a) - med(b)) / CHAIN;
    figures.push({
      name: `chain of ${CHAIN} no-op steps through the local executor (median of 3)`,
      value: med(a) / 1000,
      unit: "s",
      baseline: { name: "the same commands from one shell script", value: med(b) / 1000, unit: "s" },
    });
    figures.push({ name: "scheduling overhead per step (difference / steps)", value: perStep, unit: "ms", target: "<= 50 ms", pass: perStep <= 50 });
    // A fully cached re-run, through the built CLI as users run it (`npm run build` first).
    const cached = path.join(tmp, "cached");
    fs.mkdirSync(cached);
    fs.writeFileSync(path.join(cached, "cairn.yaml"), chainYaml(CACHED, JSON.stringify(cmd)).replace(/cache: false/g, "cache: true"));
    const cli = path.join(ROOT, "packages", "server", "bin", "cairn.js");
    const env = { ...process.env, CAIRN_CACHE_DIR: path.join(tmp, "cache") };
    const runCli = () => {
      const t0 = performance.now();
      const out = execFileSync(process.execPath, [cli, "--json", "run", "--offline", cached], { env, stdio: ["ignore", "pipe", "ignore"] }).toString();
      return { ms: performance.now() - t0, result: JSON.parse(out) as { steps: { status: string }[] | Record<string, { status: string }> } };
    };
    log(`${CACHED}-step pipeline: a first run, then fully cached re-runs`);
    const first = runCli();
    const statuses = (r: ReturnType<typeof runCli>) => Object.values(r.result.steps).map((x) => x.status);
    if (!statuses(first).every((st) => st === "succeeded")) throw new Error(`first run: ${statuses(first).join(",")}`);
    const reruns = [runCli(), runCli(), runCli()];
    for (const r of reruns) if (!statuses(r).every((st) => st === "cached")) throw new Error(`re-run not fully cached: ${statuses(r).join(",")}`);
    const again = med(reruns.map((r) => r.ms));
    figures.push({ name: `cairn run, ${CACHED} steps, first run (all run)`, value: first.ms / 1000, unit: "s" });
    figures.push({ name: `cairn run, ${CACHED} steps, fully cached re-run, whole command (median of 3)`, value: again / 1000, unit: "s", target: "<= 2 s", pass: again <= 2000 });
    report("pipelines", figures, { machine: `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`, note: "worker handoff comes with the distributed workers" }, json);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
