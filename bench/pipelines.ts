import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parsePipeline } from "../packages/server/src/modules/pipelines/definition.js";
import { runPipelineLocally } from "../packages/server/src/modules/pipelines/local-executor.js";
import { Cairn } from "../packages/sdk/src/index.js";
import { freePort, percentile, report, ROOT, startProcess, stopProcess, type Figure } from "./util.js";

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
    figures.push(...(await handoff(tmp, cli, med(a) / CHAIN)));
    report("pipelines", figures, { machine: `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}` }, json);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

const HANDOFF_STEPS = Number(process.env.BENCH_HANDOFF_STEPS ?? 30);

/**
 * Worker handoff: a chain of no-op steps pushed to a server (a separate process, SQLite) and run by
 * one `cairn worker` process. A step's handoff is from the moment the server accepted the previous
 * step's completion (which makes it ready) to the worker reporting that its command started: the
 * claim's wake-up, fetching the step's files and inputs, and starting the process. Both times are
 * the server's clock. Baselines in the same run: a bare HTTP round trip to the same server, and the
 * local executor's time per step from the chain above.
 */
async function handoff(tmp: string, cli: string, localPerStepMs: number): Promise<Figure[]> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const server = await startProcess([cli, "server", "--port", String(port), "--data-dir", path.join(tmp, "handoff-data"), "--log-level", "error", "--no-audit"], url);
  const worker = spawnWorker(cli, url, path.join(tmp, "handoff-work"));
  try {
    const root = path.join(tmp, "handoff");
    fs.mkdirSync(root);
    const yaml = Array.from({ length: HANDOFF_STEPS }, (_, i) => `  s${i}:\n    cmd: mkdir -p out && echo ${i} > out/s${i}\n    outs: [out/s${i}]\n${i > 0 ? `    deps: [out/s${i - 1}]\n` : ""}    cache: false\n`).join("");
    fs.writeFileSync(path.join(root, "cairn.yaml"), `name: handoff\nsteps:\n${yaml}`);
    execFileSync(process.execPath, [cli, "--url", url, "pipeline", "push", root], { stdio: "ignore" });
    const sdk = new Cairn({ url, handleExit: false });
    for (let i = 0; i < 100 && (await sdk.client.api.listWorkers({})).workers.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    const gaps: number[] = [];
    let total = 0;
    for (let round = 0; round < 2; round++) {
      const t0 = performance.now();
      const { run } = await sdk.client.api.startPipelineRun({ params: { name: "handoff" }, body: {} });
      let done = run;
      while (!["succeeded", "failed", "cancelled"].includes(done.status)) {
        await new Promise((r) => setTimeout(r, 50));
        done = (await sdk.client.api.getPipelineRun({ params: { id: run.id } })).run;
      }
      if (done.status !== "succeeded") throw new Error(`handoff chain ${done.status}: ${done.error ?? ""}`);
      total = performance.now() - t0;
      // The first round warms the worker's caches; the second is measured.
      if (round === 0) continue;
      for (let i = 1; i < done.steps.length; i++) gaps.push(done.steps[i]!.startedAt! - done.steps[i - 1]!.endedAt!);
    }
    const rtt: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t0 = performance.now();
      await (await fetch(`${url}/health`)).text();
      rtt.push(performance.now() - t0);
    }
    gaps.sort((x, y) => x - y);
    rtt.sort((x, y) => x - y);
    const p50 = percentile(gaps, 50);
    return [
      { name: `worker handoff, step ready → remote worker started it (p50 of ${gaps.length})`, value: p50, unit: "ms", target: "<= 200 ms", pass: p50 <= 200, baseline: { name: "a bare HTTP round trip to the same server (p50)", value: percentile(rtt, 50), unit: "ms" } },
      { name: "worker handoff, p95", value: percentile(gaps, 95), unit: "ms" },
      { name: `chain of ${HANDOFF_STEPS} no-op steps through the server's queue and one worker, per step`, value: total / HANDOFF_STEPS, unit: "ms", baseline: { name: "the same through the local executor, per step", value: localPerStepMs, unit: "ms" } },
    ];
  } finally {
    await stopProcess(worker);
    await stopProcess(server);
  }
}

function spawnWorker(cli: string, url: string, workDir: string) {
  return spawn(process.execPath, [cli, "--url", url, "worker", "--name", "bench", "--work-dir", workDir], { cwd: ROOT, stdio: ["ignore", "ignore", "ignore"] });
}
