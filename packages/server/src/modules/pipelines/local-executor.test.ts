import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os, { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Gpu } from "./gpu.js";
import {
  runPipelineLocally,
  stepLogFile,
  type ExecutorEvent,
  type LocalExecutorOptions,
  type StepCache,
} from "./local-executor.js";
import type { Pipeline, Step } from "./types.js";

let dir: string;
let logDir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "cairn-exec-"));
  logDir = join(dir, ".logs");
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

type StepSpec = Partial<Omit<Step, "name" | "cmd" | "resources">> & {
  after?: string[];
  resources?: Partial<Step["resources"]>;
};

function step(name: string, cmd: string, spec: StepSpec = {}): Step {
  const { after = [], resources = {}, ...rest } = spec;
  return {
    name,
    cmd,
    deps: after.map((s) => ({ kind: "step" as const, step: s, path: `${s}.out` })),
    outs: [],
    params: [],
    env: {},
    retries: 0,
    retryDelayMs: 0,
    cache: false,
    ...rest,
    resources: { cpu: 0, memoryMb: 0, gpu: 0, ...resources },
  };
}

function pipe(steps: Step[], name = "test-pipe"): Pipeline {
  return { name, root: dir, params: {}, steps };
}

interface Run {
  result: Awaited<ReturnType<typeof runPipelineLocally>>;
  events: ExecutorEvent[];
}

async function run(steps: Step[], opts: Partial<LocalExecutorOptions> = {}): Promise<Run> {
  const events: ExecutorEvent[] = [];
  const result = await runPipelineLocally(pipe(steps), {
    capacity: { cpu: 8, memoryMb: 64 * 1024, ...opts.capacity },
    gpus: [],
    logDir,
    killGraceMs: 500,
    ...opts,
    onEvent: (e) => {
      events.push(e);
      opts.onEvent?.(e);
    },
  });
  return { result, events };
}

/** `date +%s%N` in ms. */
const STAMP = `$(date +%s%N)`;
function readStamp(file: string): number {
  return Number(BigInt(readFileSync(join(dir, file), "utf8").trim()) / 1000n) / 1000;
}

/** Highest number of [start, end] intervals open at the same time. */
function maxOverlap(intervals: Array<[number, number]>): number {
  const points = intervals.flatMap(([s, e]) => [
    [s, 1],
    [e, -1],
  ]);
  // Ends sort before starts at the same instant.
  points.sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
  let cur = 0;
  let max = 0;
  for (const [, d] of points) {
    cur += d!;
    max = Math.max(max, cur);
  }
  return max;
}

/** Whether a process exists and is not a zombie (PID 1 here may not reap orphans). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2).charAt(0);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

async function waitGone(pid: number, ms = 3000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return !alive(pid);
}

function fakeGpus(n: number): Gpu[] {
  return Array.from({ length: n }, (_, i) => ({ index: i, uuid: `GPU-fake-${i}`, name: "Fake GPU", memoryTotalMb: 16384 }));
}

/** A fake nvidia-smi first on PATH; returns the env to pass to the executor. */
function fakeNvidiaSmi(detect: string, sample: string): NodeJS.ProcessEnv {
  const bin = join(dir, "fake-bin");
  mkdirSync(bin, { recursive: true });
  writeFileSync(
    join(bin, "nvidia-smi"),
    `#!/bin/sh
case "$1" in
  --query-gpu=index,uuid,name,memory.total) printf '%s' '${detect}' ;;
  --query-gpu=index,utilization.gpu,memory.used,memory.total) printf '%s' '${sample}' ;;
  *) exit 2 ;;
esac
`,
  );
  chmodSync(join(bin, "nvidia-smi"), 0o755);
  return { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}` };
}

describe("runPipelineLocally: order, env, logs", () => {
  it("runs steps after their dependencies, with the step env and CAIRN_* variables", async () => {
    const rec = (n: string) => `echo ${n} >> order.txt`;
    const { result, events } = await run([
      step("a", `${rec("a")}; echo "$CAIRN_PIPELINE/$CAIRN_STEP/$CAIRN_STEP_ATTEMPT/$GREETING" > a.env`, {
        env: { GREETING: "hi" },
      }),
      step("b", rec("b"), { after: ["a"] }),
      step("c", rec("c"), { after: ["a"] }),
      step("d", rec("d"), { after: ["b", "c"] }),
    ]);
    expect(result.status).toBe("succeeded");
    const order = readFileSync(join(dir, "order.txt"), "utf8").trim().split("\n");
    expect(order[0]).toBe("a");
    expect(order[3]).toBe("d");
    expect(new Set(order.slice(1, 3))).toEqual(new Set(["b", "c"]));
    expect(readFileSync(join(dir, "a.env"), "utf8").trim()).toBe("test-pipe/a/1/hi");
    for (const n of ["a", "b", "c", "d"]) {
      expect(result.steps[n]).toMatchObject({ name: n, status: "succeeded", attempts: 1, exitCode: 0 });
    }
    expect(Object.keys(result.steps)).toEqual(["a", "b", "c", "d"]);
    expect(events[0]?.type).toBe("pipeline-started");
    expect(events.at(-1)).toMatchObject({ type: "pipeline-finished", status: "succeeded" });
    // d starts only after b and c finished.
    const idx = (type: string, s: string) => events.findIndex((e) => e.type === type && "step" in e && e.step === s);
    expect(idx("step-started", "d")).toBeGreaterThan(idx("step-finished", "b"));
    expect(idx("step-started", "d")).toBeGreaterThan(idx("step-finished", "c"));
  });

  it("writes stdout and stderr to <logDir>/<step>.log and streams them as log events", async () => {
    const { result, events } = await run([step("talk", "echo out-line; echo err-line >&2; printf 'héllo'")]);
    expect(result.steps.talk?.logPath).toBe(join(logDir, "talk.log"));
    const log = readFileSync(join(logDir, "talk.log"), "utf8");
    expect(log).toMatch(/=== cairn: step "talk" attempt 1\/1 started /);
    expect(log).toContain("out-line\n");
    expect(log).toContain("err-line\n");
    expect(log).toContain("héllo");
    const logs = events.filter((e) => e.type === "log");
    const out = logs.filter((e) => e.stream === "stdout").map((e) => e.text).join("");
    const err = logs.filter((e) => e.stream === "stderr").map((e) => e.text).join("");
    expect(out).toBe("out-line\nhéllo");
    expect(err).toBe("err-line\n");
    expect(logs.every((e) => e.step === "talk" && e.attempt === 1)).toBe(true);
  });

  it("appends to an existing log and sanitizes odd step names", async () => {
    mkdirSync(logDir, { recursive: true });
    writeFileSync(join(logDir, "a.log"), "previous run\n");
    const { result } = await run([step("a", "echo again"), step("../evil name", "echo ok")]);
    expect(readFileSync(join(logDir, "a.log"), "utf8")).toMatch(/^previous run\n=== cairn/);
    const file = stepLogFile("../evil name");
    expect(file).toMatch(/^__evil_name-[0-9a-f]{8}\.log$/);
    expect(stepLogFile("../evil_name")).not.toBe(file);
    expect(stepLogFile("train.v2")).toBe("train.v2.log");
    expect(result.steps["../evil name"]?.logPath).toBe(join(logDir, file));
    expect(readFileSync(join(logDir, file), "utf8")).toContain("ok\n");
  });

  it("uses the machine's CPU count and 80% of its memory by default", async () => {
    const result = await runPipelineLocally(pipe([step("a", "true")]), { logDir, gpus: [] });
    expect(result.capacity).toEqual({
      cpu: os.cpus().length,
      memoryMb: Math.floor((os.totalmem() * 0.8) / 1024 / 1024),
      gpu: 0,
    });
    expect(result.status).toBe("succeeded");
  });
});

describe("runPipelineLocally: resources", () => {
  it("runs at most `capacity.cpu` cores' worth of steps at once", async () => {
    const body = `echo ${STAMP} > $CAIRN_STEP.start; sleep 0.3; echo ${STAMP} > $CAIRN_STEP.end`;
    const names = ["s1", "s2", "s3", "s4"];
    const { result } = await run(
      names.map((n) => step(n, body, { resources: { cpu: 1 } })),
      { capacity: { cpu: 2 } },
    );
    expect(result.status).toBe("succeeded");
    const intervals = names.map((n): [number, number] => [readStamp(`${n}.start`), readStamp(`${n}.end`)]);
    expect(maxOverlap(intervals)).toBe(2);
  });

  it("respects the memory capacity too", async () => {
    const body = `echo ${STAMP} > $CAIRN_STEP.start; sleep 0.15; echo ${STAMP} > $CAIRN_STEP.end`;
    const names = ["m1", "m2", "m3"];
    const { result } = await run(
      names.map((n) => step(n, body, { resources: { cpu: 0.5, memoryMb: 600 } })),
      { capacity: { cpu: 4, memoryMb: 1000 } },
    );
    expect(result.status).toBe("succeeded");
    const intervals = names.map((n): [number, number] => [readStamp(`${n}.start`), readStamp(`${n}.end`)]);
    expect(maxOverlap(intervals)).toBe(1);
  });

  it("fails a step that needs more than the whole capacity at once, without blocking other branches", async () => {
    const t0 = Date.now();
    const { result, events } = await run(
      [
        step("huge", "touch huge.ran", { resources: { cpu: 4 } }),
        step("after-huge", "touch after.ran", { after: ["huge"] }),
        step("gpu-less", "touch gpu.ran", { resources: { gpu: 1 } }),
        step("fine", "touch fine.ran", { resources: { cpu: 1 } }),
      ],
      { capacity: { cpu: 2, memoryMb: 1024 } },
    );
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(result.status).toBe("failed");
    expect(result.steps.huge).toMatchObject({ status: "failed", attempts: 0 });
    expect(result.steps.huge?.error).toMatch(/whole capacity \(cpu 4 > 2; capacity: cpu 2, memory 1024 MiB, gpu 0\)/);
    expect(result.steps["gpu-less"]?.error).toMatch(/gpu 1 > 0/);
    expect(result.steps["after-huge"]).toMatchObject({ status: "skipped", skippedBecause: "huge" });
    expect(result.steps.fine?.status).toBe("succeeded");
    expect(existsSync(join(dir, "huge.ran"))).toBe(false);
    expect(existsSync(join(dir, "gpu.ran"))).toBe(false);
    expect(existsSync(join(dir, "fine.ran"))).toBe(true);
    expect(events.filter((e) => e.type === "step-started").map((e) => (e as { step: string }).step)).toEqual(["fine"]);
  });

  it("fails steps with unknown dependencies or a dependency cycle instead of hanging", async () => {
    const { result } = await run([
      step("orphan", "true", { after: ["nowhere"] }),
      step("x", "true", { after: ["y"] }),
      step("y", "true", { after: ["x"] }),
      step("ok", "true"),
    ]);
    expect(result.steps.orphan?.error).toMatch(/unknown step\(s\) "nowhere"/);
    expect(result.steps.x).toMatchObject({ status: "failed" });
    expect(result.steps.x?.error).toMatch(/dependency cycle/);
    expect(result.steps.y?.status).toBe("failed");
    expect(result.steps.ok?.status).toBe("succeeded");
  });

  it("rejects duplicate step names", async () => {
    await expect(run([step("a", "true"), step("a", "true")])).rejects.toThrow(/duplicate step name "a"/);
  });
});

describe("runPipelineLocally: GPUs", () => {
  const gpuBody = `echo "$CUDA_VISIBLE_DEVICES" > $CAIRN_STEP.cvd; echo ${STAMP} > $CAIRN_STEP.start; sleep 0.2; echo ${STAMP} > $CAIRN_STEP.end`;

  it("gives gpu steps exclusive devices: two gpu:1 steps on one GPU run one after another", async () => {
    const { result, events } = await run(
      [step("g1", gpuBody, { resources: { gpu: 1 } }), step("g2", gpuBody, { resources: { gpu: 1 } })],
      { gpus: fakeGpus(1), capacity: { cpu: 4 } },
    );
    expect(result.status).toBe("succeeded");
    expect(readFileSync(join(dir, "g1.cvd"), "utf8").trim()).toBe("0");
    expect(readFileSync(join(dir, "g2.cvd"), "utf8").trim()).toBe("0");
    const intervals = ["g1", "g2"].map((n): [number, number] => [readStamp(`${n}.start`), readStamp(`${n}.end`)]);
    expect(maxOverlap(intervals)).toBe(1);
    expect(result.steps.g1?.gpus).toEqual([0]);
    const started = events.filter((e) => e.type === "step-started");
    expect(started.map((e) => e.cudaVisibleDevices)).toEqual(["0", "0"]);
    expect(result.capacity.gpu).toBe(1);
  });

  it("spreads gpu steps over free devices, gives multi-GPU steps several, hides GPUs from CPU steps", async () => {
    const { result } = await run(
      [
        step("g1", gpuBody, { resources: { gpu: 1 } }),
        step("g2", gpuBody, { resources: { gpu: 1 } }),
        step("cpu", `echo "[$CUDA_VISIBLE_DEVICES]" > cpu.cvd`),
        step("both", `echo "$CUDA_VISIBLE_DEVICES $CUDA_DEVICE_ORDER" > both.cvd`, {
          after: ["g1", "g2"],
          resources: { gpu: 2 },
        }),
      ],
      { gpus: fakeGpus(2), env: { ...process.env, CUDA_VISIBLE_DEVICES: "7" } },
    );
    expect(result.status).toBe("succeeded");
    const cvd = ["g1", "g2"].map((n) => readFileSync(join(dir, `${n}.cvd`), "utf8").trim()).sort();
    expect(cvd).toEqual(["0", "1"]);
    const intervals = ["g1", "g2"].map((n): [number, number] => [readStamp(`${n}.start`), readStamp(`${n}.end`)]);
    expect(maxOverlap(intervals)).toBe(2);
    expect(readFileSync(join(dir, "cpu.cvd"), "utf8").trim()).toBe("[]");
    expect(readFileSync(join(dir, "both.cvd"), "utf8").trim()).toBe("0,1 PCI_BUS_ID");
  });

  it("caps the GPUs at capacity.gpu", async () => {
    const { result } = await run([step("g", gpuBody, { resources: { gpu: 2 } })], {
      gpus: fakeGpus(4),
      capacity: { gpu: 1 },
    });
    expect(result.capacity.gpu).toBe(1);
    expect(result.steps.g?.status).toBe("failed");
  });

  it("samples a running GPU step's devices and emits gpu events (none for CPU steps)", async () => {
    const env = fakeNvidiaSmi("", "0, 11, 100, 16384\n1, 93, 15000, 16384\n");
    const { result, events } = await run(
      [step("train", "sleep 0.4", { resources: { gpu: 1 } }), step("cpu", "sleep 0.4")],
      { gpus: fakeGpus(2), env, gpuSampleMs: 50 },
    );
    expect(result.status).toBe("succeeded");
    const gpuEvents = events.filter((e) => e.type === "gpu");
    expect(gpuEvents.length).toBeGreaterThanOrEqual(2);
    expect(gpuEvents.every((e) => e.step === "train")).toBe(true);
    expect(gpuEvents[0]?.samples).toEqual([{ index: 0, utilizationPct: 11, memoryUsedMb: 100, memoryTotalMb: 16384 }]);
    // No samples after the step finished.
    const finishedAt = events.findIndex((e) => e.type === "step-finished" && e.step === "train");
    expect(events.slice(finishedAt).some((e) => e.type === "gpu")).toBe(false);
  });

  it("detects GPUs with nvidia-smi when none are given", async () => {
    const env = fakeNvidiaSmi("0, GPU-a, Fake, 1000\n1, GPU-b, Fake, 1000\n", "");
    const result = await runPipelineLocally(pipe([step("g", `echo "$CUDA_VISIBLE_DEVICES" > g.cvd`, { resources: { gpu: 2 } })]), {
      logDir,
      env,
      gpuSampleMs: 0,
    });
    expect(result.gpus.map((g) => g.uuid)).toEqual(["GPU-a", "GPU-b"]);
    expect(result.capacity.gpu).toBe(2);
    expect(readFileSync(join(dir, "g.cvd"), "utf8").trim()).toBe("0,1");
  });

  it("treats a machine without nvidia-smi as having no GPUs", async () => {
    const result = await runPipelineLocally(pipe([step("c", "true")]), {
      logDir,
      env: { ...process.env, PATH: `${join(dir, "empty")}:/usr/bin:/bin` },
    });
    expect(result.gpus).toEqual([]);
    expect(result.capacity.gpu).toBe(0);
    expect(result.status).toBe("succeeded");
  });
});

describe("runPipelineLocally: retries, timeouts, OOM, failures", () => {
  it("retries a failing step until it succeeds", async () => {
    const cmd = `n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; echo "try $n"; [ $n -ge 3 ]`;
    const { result, events } = await run([step("flaky", cmd, { retries: 3, retryDelayMs: 20 }), step("next", "true", { after: ["flaky"] })]);
    expect(result.status).toBe("succeeded");
    expect(result.steps.flaky).toMatchObject({ status: "succeeded", attempts: 3, exitCode: 0 });
    expect(result.steps.flaky?.error).toBeUndefined();
    const retries = events.filter((e) => e.type === "step-retry");
    expect(retries.map((e) => [e.attempt, e.nextAttempt, e.delayMs, e.status])).toEqual([
      [1, 2, 20, "failed"],
      [2, 3, 40, "failed"],
    ]);
    expect(events.filter((e) => e.type === "step-started" && e.step === "flaky").map((e) => (e as { attempt: number }).attempt)).toEqual([1, 2, 3]);
    const log = readFileSync(join(logDir, "flaky.log"), "utf8");
    expect(log.match(/=== cairn: step "flaky" attempt \d\/4 started/g)).toHaveLength(3);
    expect(log).toContain("try 1\n");
    expect(log).toContain("try 3\n");
  });

  it("backs off exponentially between attempts", async () => {
    const { result } = await run([step("bad", `echo ${STAMP} >> stamps; exit 1`, { retries: 3, retryDelayMs: 100 })]);
    expect(result.steps.bad).toMatchObject({ status: "failed", attempts: 4, exitCode: 1 });
    expect(result.steps.bad?.error).toBe("exited with code 1 (after 4 attempts)");
    const stamps = readFileSync(join(dir, "stamps"), "utf8")
      .trim()
      .split("\n")
      .map((s) => Number(BigInt(s) / 1000000n));
    expect(stamps).toHaveLength(4);
    const gaps = stamps.slice(1).map((s, i) => s - stamps[i]!);
    expect(gaps[1]!).toBeGreaterThan(gaps[0]!);
    expect(gaps[2]!).toBeGreaterThan(gaps[1]!);
  });

  it("kills the whole process group on timeout and reports it as timeout", async () => {
    const { result } = await run([
      step("slow", "sleep 100 & echo $! > child.pid; echo started; wait", { timeoutMs: 300, retries: 1, retryDelayMs: 10 }),
    ]);
    expect(result.steps.slow).toMatchObject({ status: "timeout", attempts: 2, signal: "SIGTERM" });
    expect(result.steps.slow?.error).toMatch(/timed out after 300 ms/);
    expect(result.steps.slow?.logTail).toContain("started");
    const pid = Number(readFileSync(join(dir, "child.pid"), "utf8"));
    expect(await waitGone(pid)).toBe(true);
  });

  it("escalates to SIGKILL after killGraceMs when SIGTERM is ignored (still a timeout, not an OOM)", async () => {
    const { result } = await run(
      [step("stubborn", `trap '' TERM; sleep 100 & echo $! > child.pid; wait; wait; wait`, { timeoutMs: 200 })],
      { killGraceMs: 200 },
    );
    expect(result.steps.stubborn).toMatchObject({ status: "timeout", signal: "SIGKILL" });
    const pid = Number(readFileSync(join(dir, "child.pid"), "utf8"));
    expect(await waitGone(pid)).toBe(true);
  });

  it("kills what a step left running in its group when it exits", async () => {
    const { result } = await run([step("leaky", "sleep 100 > /dev/null 2>&1 & echo $! > child.pid; exit 0")]);
    expect(result.steps.leaky?.status).toBe("succeeded");
    const pid = Number(readFileSync(join(dir, "child.pid"), "utf8"));
    expect(await waitGone(pid)).toBe(true);
  });

  it("reports a SIGKILL it did not send, or exit code 137, as oom", async () => {
    const { result } = await run([step("killed", "echo allocating; kill -9 $$"), step("exit137", "exit 137")]);
    expect(result.steps.killed).toMatchObject({ status: "oom", signal: "SIGKILL" });
    expect(result.steps.killed?.error).toMatch(/likely out of memory/);
    expect(result.steps.killed?.logTail).toBe("allocating");
    expect(result.steps.exit137).toMatchObject({ status: "oom", exitCode: 137 });
    expect(result.steps.exit137?.error).toMatch(/exit code 137\), likely out of memory/);
  });

  it("stops downstream steps of a failure, keeps upstream results, finishes independent branches", async () => {
    const { result } = await run([
      step("up", "echo up > up.out"),
      step("bad", `i=1; while [ $i -le 30 ]; do echo "line-$i"; i=$((i+1)); done; exit 3`, { after: ["up"] }),
      step("child", "touch child.ran", { after: ["bad"] }),
      step("grandchild", "touch grandchild.ran", { after: ["child"] }),
      step("side", "sleep 0.2; touch side.ran", { after: ["up"] }),
      step("side2", "touch side2.ran", { after: ["side"] }),
    ]);
    expect(result.status).toBe("failed");
    expect(result.steps.up?.status).toBe("succeeded");
    expect(result.steps.bad).toMatchObject({ status: "failed", exitCode: 3, error: "exited with code 3" });
    const tail = result.steps.bad!.logTail!.split("\n");
    expect(tail).toHaveLength(20);
    expect(tail[0]).toBe("line-11");
    expect(tail[19]).toBe("line-30");
    expect(result.steps.child).toMatchObject({
      status: "skipped",
      attempts: 0,
      skippedBecause: "bad",
      error: 'skipped: upstream step "bad" failed',
    });
    expect(result.steps.grandchild).toMatchObject({ status: "skipped", skippedBecause: "bad" });
    expect(result.steps.grandchild?.error).toBe('skipped: upstream step "child" was skipped because step "bad" failed');
    expect(result.steps.side?.status).toBe("succeeded");
    expect(result.steps.side2?.status).toBe("succeeded");
    expect(existsSync(join(dir, "child.ran"))).toBe(false);
    expect(existsSync(join(dir, "side2.ran"))).toBe(true);
    expect(existsSync(join(dir, "up.out"))).toBe(true);
  });

  it("fails a step whose working directory does not exist", async () => {
    const result = await runPipelineLocally(
      { name: "p", root: join(dir, "missing"), params: {}, steps: [step("a", "true")] },
      { logDir, gpus: [] },
    );
    expect(result.steps.a?.status).toBe("failed");
    expect(result.steps.a?.error).toMatch(/could not start/);
  });
});

describe("runPipelineLocally: cancellation", () => {
  it("cancels running steps (SIGTERM, then SIGKILL), frees GPUs and cancels the rest", async () => {
    const ac = new AbortController();
    const started = new Set<string>();
    const p = run(
      [
        step("polite", "sleep 100 & echo $! > polite.pid; wait", { resources: { gpu: 1 } }),
        step("rude", `trap '' TERM; sleep 100 & echo $! > rude.pid; wait; wait; wait`),
        step("later", "touch later.ran", { after: ["polite"] }),
        step("retrying", "exit 1", { retries: 5, retryDelayMs: 10_000 }),
      ],
      {
        gpus: fakeGpus(1),
        signal: ac.signal,
        killGraceMs: 300,
        onEvent: (e) => {
          if (e.type === "step-started") started.add(e.step);
          if (e.type === "step-retry") started.add(`${e.step}:retry`);
          if (started.has("polite") && started.has("rude") && started.has("retrying:retry") && !ac.signal.aborted) {
            // Let the shells write their pid files first.
            setTimeout(() => ac.abort(), 150);
          }
        },
      },
    );
    const { result } = await p;
    expect(result.status).toBe("cancelled");
    expect(result.steps.polite).toMatchObject({ status: "cancelled", gpus: [0], signal: "SIGTERM" });
    expect(result.steps.rude).toMatchObject({ status: "cancelled", signal: "SIGKILL" });
    expect(result.steps.later).toMatchObject({ status: "cancelled", attempts: 0 });
    expect(result.steps.retrying).toMatchObject({ status: "cancelled", attempts: 1 });
    for (const f of ["polite.pid", "rude.pid"]) {
      expect(await waitGone(Number(readFileSync(join(dir, f), "utf8")))).toBe(true);
    }
    expect(existsSync(join(dir, "later.ran"))).toBe(false);
  });

  it("runs nothing when the signal is already aborted", async () => {
    const { result, events } = await run([step("a", "touch a.ran"), step("b", "touch b.ran", { after: ["a"] })], {
      signal: AbortSignal.abort(),
    });
    expect(result.status).toBe("cancelled");
    expect(Object.values(result.steps).map((s) => s.status)).toEqual(["cancelled", "cancelled"]);
    expect(events.some((e) => e.type === "step-started")).toBe(false);
    expect(existsSync(join(dir, "a.ran"))).toBe(false);
  });
});

describe("runPipelineLocally: caching", () => {
  function fakeCache(hits: Record<string, boolean>, faults: { lookup?: string; save?: string; restore?: string } = {}) {
    const calls: string[] = [];
    const cache: StepCache = {
      async lookup(s) {
        calls.push(`lookup:${s.name}`);
        if (faults.lookup === s.name) throw new Error("index unreadable");
        const hit = hits[s.name] ?? false;
        return {
          hit,
          explain: `${s.name}: ${hit ? "hit" : "miss"} (cmd hash abc)`,
          restore: async () => {
            calls.push(`restore:${s.name}`);
            if (faults.restore === s.name) throw new Error("blob missing");
            writeFileSync(join(dir, `${s.name}.out`), "restored");
          },
        };
      },
      async save(s) {
        calls.push(`save:${s.name}`);
        if (faults.save === s.name) throw new Error("disk full");
      },
    };
    return { cache, calls };
  }

  it("restores a hit without running it, runs and saves a miss, ignores cache: false steps", async () => {
    const { cache, calls } = fakeCache({ prep: true });
    const { result, events } = await run(
      [
        step("prep", "touch prep.ran", { cache: true }),
        step("train", "cat prep.out > train.out", { cache: true, after: ["prep"] }),
        step("report", "true", { after: ["train"] }),
      ],
      { cache },
    );
    expect(result.status).toBe("succeeded");
    expect(result.steps.prep).toMatchObject({ status: "cached", attempts: 0, cacheExplain: "prep: hit (cmd hash abc)" });
    expect(existsSync(join(dir, "prep.ran"))).toBe(false);
    expect(readFileSync(join(dir, "train.out"), "utf8")).toBe("restored");
    expect(result.steps.train).toMatchObject({ status: "succeeded", cacheExplain: "train: miss (cmd hash abc)" });
    expect(calls).toEqual(["lookup:prep", "restore:prep", "lookup:train", "save:train"]);
    expect(events.filter((e) => e.type === "step-cache").map((e) => [e.step, e.hit])).toEqual([
      ["prep", true],
      ["train", false],
    ]);
    expect(events.some((e) => e.type === "step-started" && e.step === "prep")).toBe(false);
  });

  it("runs the step when lookup or restore fails, and reports a failed save without failing the step", async () => {
    const { cache, calls } = fakeCache({ b: true }, { lookup: "a", restore: "b", save: "c" });
    const { result, events } = await run(
      [step("a", "touch a.ran", { cache: true }), step("b", "touch b.ran", { cache: true }), step("c", "true", { cache: true })],
      { cache },
    );
    expect(result.status).toBe("succeeded");
    expect(existsSync(join(dir, "a.ran"))).toBe(true);
    expect(existsSync(join(dir, "b.ran"))).toBe(true);
    expect(result.steps.a?.cacheExplain).toMatch(/lookup failed.*index unreadable/);
    expect(result.steps.b?.cacheExplain).toMatch(/restore failed.*blob missing/);
    expect(result.steps.c).toMatchObject({ status: "succeeded", error: "cache save failed: disk full" });
    expect(events.some((e) => e.type === "warning" && e.step === "c")).toBe(true);
    expect(calls).toContain("save:a");
  });

  it("does not save a failed step", async () => {
    const { cache, calls } = fakeCache({});
    const { result } = await run([step("a", "exit 1", { cache: true })], { cache });
    expect(result.steps.a?.status).toBe("failed");
    expect(calls).toEqual(["lookup:a"]);
  });
});

describe("runPipelineLocally: scheduling overhead (informational)", () => {
  it("measures a chain of 100 no-op steps against 100 back-to-back spawns", async () => {
    const n = 100;
    const steps = Array.from({ length: n }, (_, i) => step(`s${i}`, "true", i > 0 ? { after: [`s${i - 1}`] } : {}));
    const t0 = performance.now();
    const { result } = await run(steps);
    const pipelineMs = performance.now() - t0;
    expect(result.status).toBe("succeeded");

    const t1 = performance.now();
    for (let i = 0; i < n; i++) {
      await new Promise<void>((resolve, reject) => {
        const c = spawn("/bin/sh", ["-c", "true"], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
        c.on("error", reject);
        c.on("close", () => resolve());
      });
    }
    const baselineMs = performance.now() - t1;
    console.log(
      `[pipelines] 100-step chain of 'true': ${pipelineMs.toFixed(0)} ms; 100 back-to-back spawns: ${baselineMs.toFixed(0)} ms; ` +
        `overhead ≈ ${((pipelineMs - baselineMs) / n).toFixed(2)} ms/step (${os.cpus().length} CPUs)`,
    );
  });
});
