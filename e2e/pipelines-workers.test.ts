/**
 * Pipelines through the server's queue, with real processes: a server and `cairn worker`s started
 * from the CLI. A fan-out DAG spreads over two workers; a worker killed with SIGKILL mid-step has
 * its step re-queued and finished by another (its outputs recorded once); a server killed with
 * SIGKILL mid-run comes back and the run completes; `cairn cancel` stops a running step with
 * SIGTERM; GPU steps go only to the worker with (fake) GPUs, each with its own device; a cron
 * schedule and a dataset trigger start runs; the API trigger refuses unknown params.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Cairn, isCairnError } from "@cairn/sdk";
import type { PipelineRun } from "@cairn/contract";
import { CLI, ROOT, runCliExpect, writeFiles, type Exit } from "./processes.js";

let tmp: string;
let dataDir: string;
let port: number;
let url: string;
let server: ChildProcess | undefined;
const workers: ChildProcess[] = [];
let sdk: Cairn;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const p = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(p));
    });
  });
}

function node(args: string[], env: Record<string, string> = {}): ChildProcess {
  const child = spawn(process.execPath, ["--conditions=@cairn/source", "--import", "tsx", CLI, ...args], { cwd: ROOT, env: { ...process.env, FORCE_COLOR: "0", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  (child as ChildProcess & { output: () => string }).output = () => out;
  return child;
}

async function startServer(): Promise<void> {
  server = node(["server", "--port", String(port), "--data-dir", dataDir, "--log-level", "error"]);
  for (let i = 0; i < 300; i++) {
    if (server.exitCode !== null) throw new Error(`server exited: ${(server as ChildProcess & { output: () => string }).output()}`);
    try {
      if ((await fetch(`${url}/health`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("server did not start");
}

/** Starts `cairn worker` (2 s leases) and waits until the server lists it. */
async function startWorker(name: string, extra: string[] = [], env: Record<string, string> = {}): Promise<ChildProcess> {
  const w = node(["--url", url, "worker", "--name", name, "--lease", "2s", "--work-dir", path.join(tmp, `work-${name}`), ...extra], env);
  workers.push(w);
  for (let i = 0; i < 200; i++) {
    const { workers: list } = await sdk.client.api.listWorkers({});
    if (list.some((x) => x.name === name && x.state !== "lost")) return w;
    if (w.exitCode !== null) throw new Error(`worker ${name} exited: ${(w as ChildProcess & { output: () => string }).output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`worker ${name} did not register`);
}

async function stopWorkers(): Promise<void> {
  for (const w of workers.splice(0)) {
    if (w.exitCode === null && w.signalCode === null) {
      w.kill("SIGTERM");
      await new Promise((r) => w.once("exit", r));
    }
  }
}

const cairn = (args: string[], code = 0): Promise<Exit> => runCliExpect(url, args, code);

function project(name: string, yaml: string, files: Record<string, string> = {}): string {
  const dir = path.join(tmp, name);
  writeFiles(dir, { "cairn.yaml": yaml, ...files });
  return dir;
}

async function waitFor(runId: string, pred: (r: PipelineRun) => boolean, ms = 30_000): Promise<PipelineRun> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      const { run } = await sdk.client.api.getPipelineRun({ params: { id: runId } });
      if (pred(run)) return run;
      if (Date.now() > until) throw new Error(`run ${runId} did not reach the state in time: ${JSON.stringify(run.steps.map((s) => [s.name, s.status, s.error]))}`);
    } catch (e) {
      // The server may be restarting.
      if (!isCairnError(e) || e.code !== "TEMPORARILY_UNAVAILABLE" || Date.now() > until) throw e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

const ended = (r: PipelineRun) => r.status === "succeeded" || r.status === "failed" || r.status === "cancelled";

async function logText(runId: string, step?: string): Promise<string> {
  const page = await sdk.client.api.getPipelineLogs({ params: { id: runId }, query: { limit: 10_000, ...(step ? { step } : {}) } });
  return page.entries.map((e) => `${e.step}: ${e.text}`).join("\n");
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-workers-"));
  dataDir = path.join(tmp, "data");
  port = await freePort();
  url = `http://127.0.0.1:${port}`;
  // Short timeouts and retries: a restarting server is waited for by the test's own polling.
  sdk = new Cairn({ url, handleExit: false, retry: { retries: 20, minDelayMs: 100, maxDelayMs: 500 } });
  await startServer();
});

afterEach(stopWorkers);

afterAll(async () => {
  await stopWorkers();
  server?.kill("SIGKILL");
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe("pipelines on workers (e2e)", () => {
  it("spreads a fan-out DAG over two workers, passes outputs between them, records tracking runs and logs", async () => {
    // One core each, so the two middle steps must go to different workers.
    await startWorker("w1", ["--cpus", "1"]);
    await startWorker("w2", ["--cpus", "1"]);
    const dir = project(
      "fan",
      `name: fan
params: { n: 4 }
steps:
  gen:
    cmd: node gen.js \${params.n} > nums.txt
    deps: [gen.js]
    outs: [nums.txt]
  left:
    cmd: sleep 0.5; awk '{s+=$1} END {print s}' nums.txt > sum.txt; echo left-on-$CAIRN_STEP
    deps: [nums.txt]
    outs: [sum.txt]
  right:
    cmd: sleep 0.5; wc -l < nums.txt | tr -d ' ' > count.txt
    deps: [nums.txt]
    outs: [count.txt]
  join:
    cmd: mkdir -p out && echo "$(cat sum.txt)/$(cat count.txt)" > out/mean.txt; cat out/mean.txt
    deps: [sum.txt, count.txt]
    outs: [out/]
`,
      { "gen.js": "for (let i = 1; i <= Number(process.argv[2]); i++) console.log(i * 10);\n" },
    );
    await cairn(["pipeline", "push", dir]);
    const { run } = await sdk.client.api.startPipelineRun({ params: { name: "fan" }, body: { params: { n: 5 } } });
    const done = await waitFor(run.id, ended);
    expect(done.status).toBe("succeeded");
    expect(done.steps.map((s) => s.status)).toEqual(["succeeded", "succeeded", "succeeded", "succeeded"]);
    // left and right ran at the same time on different workers.
    const left = done.steps.find((s) => s.name === "left")!;
    const right = done.steps.find((s) => s.name === "right")!;
    expect(left.worker).not.toBe(right.worker);
    expect(left.startedAt!).toBeLessThan(right.endedAt!);
    expect(right.startedAt!).toBeLessThan(left.endedAt!);
    expect(await logText(run.id, "join")).toContain("150/5");
    expect(await logText(run.id, "left")).toContain("left-on-left");
    // The join output is stored: download it from the outputs version.
    const join = done.steps.find((s) => s.name === "join")!;
    expect(Object.keys(join.outputs!)).toEqual(["out"]);
    const files = await sdk.datasets.materialize(`pipeline-out.fan@${(await sdk.datasets.getVersion("pipeline-out.fan", "latest")).id}`, path.join(tmp, "fan-out"));
    expect(files.files).toBeGreaterThan(0);
    expect(fs.readFileSync(path.join(tmp, "fan-out", "out", "mean.txt"), "utf8").trim()).toBe("150/5");
    // The run is a tracking run with a child run per step.
    const parent = await sdk.runs.get(run.id);
    expect(parent.info.status).toBe("FINISHED");
    expect(parent.data.tags["cairn.pipeline.status"]).toBe("succeeded");
    expect(parent.data.params.n).toBe("5");
    const child = await sdk.runs.get(join.runId!);
    expect(child.data.tags["mlflow.parentRunId"]).toBe(run.id);
    expect(child.data.tags["cairn.step.status"]).toBe("succeeded");
    expect(child.info.status).toBe("FINISHED");
    const artifacts = await sdk.artifacts.list(join.runId!, "logs");
    expect(artifacts.map((f) => f.path)).toContain("logs/join.log");

    // Again with the same params: every step comes from the shared cache, without running.
    const again = await sdk.client.api.startPipelineRun({ params: { name: "fan" }, body: { params: { n: 5 } } });
    const cached = await waitFor(again.run.id, ended);
    expect(cached.steps.map((s) => s.status)).toEqual(["cached", "cached", "cached", "cached"]);
    // A new param reruns gen and everything after it.
    const changed = await waitFor((await sdk.client.api.startPipelineRun({ params: { name: "fan" }, body: { params: { n: 2 } } })).run.id, ended);
    expect(changed.steps.map((s) => s.status)).toEqual(["succeeded", "succeeded", "succeeded", "succeeded"]);
    expect(await logText(changed.id, "join")).toContain("30/2");
    await stopWorkers();
  });

  it("re-queues the step of a worker killed with SIGKILL; another worker finishes it and its outputs are recorded once", async () => {
    const dir = project(
      "crash",
      `name: crash
steps:
  slow:
    cmd: echo started; sleep 2; echo "made by $CAIRN_STEP_ATTEMPT" > result.txt
    outs: [result.txt]
    cache: false
  after:
    cmd: cat result.txt
    deps: [result.txt]
    cache: false
`,
    );
    await cairn(["pipeline", "push", dir]);
    const a = await startWorker("doomed");
    const { run } = await sdk.client.api.startPipelineRun({ params: { name: "crash" }, body: {} });
    await waitFor(run.id, (r) => r.steps[0]!.status === "running" && r.steps[0]!.attempts >= 1);
    a.kill("SIGKILL");
    await startWorker("rescuer");
    const done = await waitFor(run.id, ended, 40_000);
    expect(done.status).toBe("succeeded");
    const logs = await logText(run.id, "slow");
    expect(logs).toMatch(/stopped heartbeating; queued again/);
    expect(logs).toMatch(/claimed by worker rescuer/);
    const { workers: list } = await sdk.client.api.listWorkers({});
    expect(done.steps[0]!.worker).toBe(list.find((w) => w.name === "rescuer")!.id);
    // One outputs version for the step, made by the accepted claim.
    const versions = [];
    for await (const v of sdk.datasets.versions("pipeline-out.crash")) versions.push(v);
    expect(versions.filter((v) => v.message.includes(" slow ")).length).toBe(1);
    expect(await logText(run.id, "after")).toContain("made by 1");
    await stopWorkers();
  });

  it("survives a server killed with SIGKILL mid-run: the worker reconnects and the run completes, fully recorded", async () => {
    const dir = project(
      "restart",
      `name: restart
steps:
  first:
    cmd: echo one; sleep 3; echo done > one.txt
    outs: [one.txt]
    cache: false
  second:
    cmd: cat one.txt
    deps: [one.txt]
    cache: false
`,
    );
    await cairn(["pipeline", "push", dir]);
    await startWorker("steady");
    const { run } = await sdk.client.api.startPipelineRun({ params: { name: "restart" }, body: {} });
    await waitFor(run.id, (r) => r.steps[0]!.status === "running");
    server!.kill("SIGKILL");
    await new Promise((r) => server!.once("exit", r));
    await new Promise((r) => setTimeout(r, 500));
    await startServer();
    const done = await waitFor(run.id, ended, 40_000);
    expect(done.status, JSON.stringify(done.steps) + (await logText(run.id))).toBe("succeeded");
    expect(done.steps.map((s) => s.status)).toEqual(["succeeded", "succeeded"]);
    const parent = await sdk.runs.get(run.id);
    expect(parent.info.status).toBe("FINISHED");
    for (const s of done.steps) expect((await sdk.runs.get(s.runId!)).info.status).toBe("FINISHED");
    expect(await logText(run.id, "second")).toContain("done");
    await stopWorkers();
  });

  it("cancels a running step with SIGTERM (cairn cancel) and a resumed run finishes", async () => {
    const dir = project(
      "stoppable",
      `name: stoppable
steps:
  long:
    cmd: trap 'echo got SIGTERM; exit 143' TERM; echo waiting; sleep 30 & wait
    cache: false
  next:
    cmd: echo next
    deps: []
    cache: false
`,
    );
    await cairn(["pipeline", "push", dir]);
    await startWorker("w-cancel", ["--cpus", "1"]);
    const { run } = await sdk.client.api.startPipelineRun({ params: { name: "stoppable" }, body: {} });
    await waitFor(run.id, (r) => r.steps.some((s) => s.status === "running" && s.name === "long"));
    await waitFor(run.id, () => true);
    await new Promise((r) => setTimeout(r, 300));
    await cairn(["cancel", run.id]);
    const done = await waitFor(run.id, ended, 20_000);
    expect(done.status).toBe("cancelled");
    expect(done.steps.find((s) => s.name === "long")!.status).toBe("cancelled");
    expect(await logText(run.id, "long")).toContain("got SIGTERM");
    const res = await cairn(["pipeline", "status", run.id]);
    expect(res.stdout).toMatch(/long\s+cancelled/);
    // Resuming queues the unfinished steps again.
    await sdk.client.api.resumePipelineRun({ params: { id: run.id }, body: {} });
    await sdk.client.api.cancelPipelineRun({ params: { id: run.id }, body: {} }).catch(() => {});
    await waitFor(run.id, ended, 20_000);
    await stopWorkers();
  });

  it("sends GPU steps only to a worker with GPUs, each with its own device, and logs GPU metrics", async () => {
    const bin = path.join(tmp, "fake-bin");
    fs.mkdirSync(bin, { recursive: true });
    fs.writeFileSync(
      path.join(bin, "nvidia-smi"),
      `#!/bin/sh
case "$1" in
  --query-gpu=index,uuid,name,memory.total) printf '0, GPU-a, Fake A100, 40960\\n1, GPU-b, Fake A100, 40960\\n' ;;
  --query-gpu=index,utilization.gpu,memory.used,memory.total) printf '0, 87, 1200, 40960\\n1, 55, 800, 40960\\n' ;;
  *) exit 2 ;;
esac
`,
    );
    fs.chmodSync(path.join(bin, "nvidia-smi"), 0o755);
    const dir = project(
      "gpus",
      `name: gpus
steps:
  train-a:
    cmd: echo "device=$CUDA_VISIBLE_DEVICES"; sleep 1.5
    resources: { gpu: 1 }
    cache: false
  train-b:
    cmd: echo "device=$CUDA_VISIBLE_DEVICES"; sleep 1.5
    resources: { gpu: 1 }
    cache: false
  report:
    cmd: echo "cpu step device=[$CUDA_VISIBLE_DEVICES]"
    cache: false
`,
    );
    await cairn(["pipeline", "push", dir]);
    await startWorker("cpu-only", ["--nvidia-smi", path.join(tmp, "no-such-nvidia-smi")]);
    await startWorker("gpu-box", ["--nvidia-smi", path.join(bin, "nvidia-smi"), "--cpus", "3"]);
    const { workers: list } = await sdk.client.api.listWorkers({});
    const gpuBox = list.find((w) => w.name === "gpu-box" && w.state !== "lost")!;
    expect(gpuBox.resources.gpus.map((g) => g.index)).toEqual([0, 1]);
    const { run } = await sdk.client.api.startPipelineRun({ params: { name: "gpus" }, body: {} });
    const done = await waitFor(run.id, ended);
    expect(done.status).toBe("succeeded");
    const a = done.steps.find((s) => s.name === "train-a")!;
    const b = done.steps.find((s) => s.name === "train-b")!;
    expect(a.worker).toBe(gpuBox.id);
    expect(b.worker).toBe(gpuBox.id);
    expect(new Set([...a.gpus!, ...b.gpus!])).toEqual(new Set([0, 1]));
    const devices = [(await logText(run.id, "train-a")).match(/device=(\d)/)![1], (await logText(run.id, "train-b")).match(/device=(\d)/)![1]];
    expect(new Set(devices)).toEqual(new Set(["0", "1"]));
    expect(await logText(run.id, "report")).toContain("cpu step device=[]");
    const metrics = (await sdk.runs.get(a.runId!)).data.metrics.map((m) => m.key);
    expect(metrics.some((k) => /^system\/gpu_\d_utilization$/.test(k))).toBe(true);
    await stopWorkers();
  });

  it("starts runs from a cron schedule, a new dataset version and the API; refuses bad input with 4xx", async () => {
    const dir = project(
      "sched",
      `name: sched
params: { label: none }
steps:
  hello:
    cmd: echo "hello \${params.label}"
    cache: false
`,
    );
    await cairn(["pipeline", "push", dir]);
    await startWorker("w-sched");
    // Six fields: every second.
    const created = await cairn(["--json", "schedule", "create", "sched", "--cron", "* * * * * *", "-p", "label=cron"]);
    const cron = JSON.parse(created.stdout) as { id: string };
    const until = Date.now() + 15_000;
    let fired: PipelineRun | undefined;
    while (!fired && Date.now() < until) {
      const { runs } = await sdk.client.api.listPipelineRuns({ query: { pipeline: "sched" } });
      const r = runs.find((x) => x.trigger.kind === "schedule");
      if (r) fired = await waitFor(r.id, ended);
      else await new Promise((res) => setTimeout(res, 200));
    }
    expect(fired?.status).toBe("succeeded");
    expect(await logText(fired!.id, "hello")).toContain("hello cron");
    await cairn(["schedule", "disable", "sched", cron.id]);

    await sdk.datasets.create("sched-input");
    const onData = await sdk.client.api.createSchedule({ params: { name: "sched" }, body: { onDataset: "sched-input", params: { label: "data" } } });
    expect(onData.schedule.onDataset).toBe("sched-input");
    const file = path.join(tmp, "input.txt");
    fs.writeFileSync(file, "rows\n");
    await cairn(["data", "add", file, "--name", "sched-input"]);
    const until2 = Date.now() + 15_000;
    let byData: PipelineRun | undefined;
    while (!byData && Date.now() < until2) {
      const { runs } = await sdk.client.api.listPipelineRuns({ query: { pipeline: "sched" } });
      const r = runs.find((x) => x.trigger.kind === "dataset");
      if (r) byData = await waitFor(r.id, ended);
      else await new Promise((res) => setTimeout(res, 200));
    }
    expect(byData?.trigger.detail).toBe("sched-input@v1");
    expect(await logText(byData!.id, "hello")).toContain("hello data");

    const api = await sdk.client.api.startPipelineRun({ params: { name: "sched" }, body: { params: { label: "api" }, trigger: { kind: "api", detail: "retrain alert 7" } } });
    expect((await waitFor(api.run.id, ended)).status).toBe("succeeded");

    await expect(sdk.client.api.startPipelineRun({ params: { name: "sched" }, body: { params: { nope: 1 } } })).rejects.toMatchObject({ code: "INVALID_PARAMETER_VALUE" });
    await expect(sdk.client.api.startPipelineRun({ params: { name: "missing" }, body: {} })).rejects.toMatchObject({ code: "RESOURCE_DOES_NOT_EXIST" });
    await expect(sdk.client.api.createSchedule({ params: { name: "sched" }, body: { cron: "61 * * * *" } })).rejects.toMatchObject({ code: "INVALID_PARAMETER_VALUE" });
    await expect(sdk.client.api.createSchedule({ params: { name: "sched" }, body: {} })).rejects.toMatchObject({ code: "INVALID_PARAMETER_VALUE" });
    await expect(sdk.client.api.completeTask({ params: { id: `${api.run.id}:0:1` }, body: { token: "forged", status: "succeeded", attempts: 1, durationMs: 1 } })).rejects.toMatchObject({ code: "ABORTED" });
    const listed = await cairn(["schedule", "ls"]);
    expect(listed.stdout).toContain("sched-input");
    await stopWorkers();
  });
});
