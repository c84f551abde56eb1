import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { testStep } from "../../../test/pipeline-steps.js";
import { runPipelineLocally, type ExecutorEvent } from "./local-executor.js";
import {
  loadSearchSpace,
  MetricLineReader,
  parseMetricLine,
  rankTrials,
  runSweep,
  trialResources,
  trialSlots,
  type SweepOptions,
  type TrialExecutor,
} from "./sweep-runner.js";
import type { Params } from "./sweep.js";
import type { Pipeline } from "./types.js";

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "cairn-sweep-runner-"));
  // The "training" script: prints `::metric loss=<x> step=i` for i = 1..steps, sleeping between, then the final value.
  writeFileSync(
    join(dir, "train.js"),
    `const [x, steps, delay, mode] = process.argv.slice(2);
(async () => {
  if (mode === "fail") { console.error("boom"); process.exit(3); }
  if (mode === "silent") { console.log("trained, but reported nothing"); return; }
  for (let i = 1; i <= Number(steps); i++) {
    console.log("::metric loss=" + x + " step=" + i);
    await new Promise((r) => setTimeout(r, Number(delay)));
  }
  process.stdout.write("::metric loss=" + x + " acc=" + (1 / (1 + Number(x))));
})();
`,
  );
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** One-step pipeline per trial running train.js with the trial's params (`x`, optional `mode`). */
function executor(opts: { steps?: number; delayMs?: number; track?: (e: { id: number; slot: number; phase: "start" | "end" }) => void } = {}): TrialExecutor {
  return async (spec, hooks) => {
    opts.track?.({ id: spec.id, slot: spec.slot, phase: "start" });
    const mode = typeof spec.params["mode"] === "string" ? spec.params["mode"] : "ok";
    const pipeline: Pipeline = {
      name: "sweep-test",
      root: dir,
      params: spec.params,
      steps: [testStep("train", `node train.js ${spec.params["x"]} ${opts.steps ?? 1} ${opts.delayMs ?? 0} ${mode}`, { cache: false })],
    };
    const res = await runPipelineLocally(pipeline, { logDir: join(dir, "logs", `trial-${spec.id}`), signal: hooks.signal, onEvent: hooks.onEvent, killGraceMs: 200, gpus: [] });
    opts.track?.({ id: spec.id, slot: spec.slot, phase: "end" });
    return { status: res.status, ...(res.steps["train"]?.error ? { error: res.steps["train"].error } : {}) };
  };
}

const base = (over: Partial<SweepOptions> & Pick<SweepOptions, "space" | "execute">): SweepOptions => ({
  method: "grid",
  parallel: 1,
  objective: "loss",
  direction: "minimize",
  ...over,
});

describe("parseMetricLine / MetricLineReader", () => {
  it("parses name=value pairs, an optional step, and ignores other lines", () => {
    expect(parseMetricLine("::metric loss=0.5 step=2")).toEqual([{ name: "loss", value: 0.5, step: 2 }]);
    expect(parseMetricLine("  ::metric loss=1e-3 acc=0.9")).toEqual([
      { name: "loss", value: 0.001 },
      { name: "acc", value: 0.9 },
    ]);
    expect(parseMetricLine("::metric loss=nan")[0]!.value).toBeNaN();
    expect(parseMetricLine("::metric loss=abc step=1")).toEqual([]);
    expect(parseMetricLine("loss=0.5")).toEqual([]);
    expect(parseMetricLine("echo ::metric loss=0.5")).toEqual([]);
  });

  it("reassembles lines split across log chunks and flushes a last line without a newline", () => {
    const got: { name: string; value: number; step?: number }[] = [];
    const reader = new MetricLineReader((r) => got.push(r));
    const log = (text: string, stream: "stdout" | "stderr" = "stdout"): ExecutorEvent => ({ type: "log", step: "s", attempt: 1, stream, text, time: 0 });
    reader.onEvent(log("hello\n::met"));
    reader.onEvent(log("ric loss=0.25 st"));
    reader.onEvent(log("ep=1\n::metric loss=0.125"));
    reader.onEvent(log("::metric loss=9\n", "stderr"));
    expect(got).toEqual([{ name: "loss", value: 0.25, step: 1 }]);
    reader.onEvent({ type: "step-finished", step: "s", status: "succeeded", attempts: 1, durationMs: 1, time: 0 });
    expect(got).toEqual([{ name: "loss", value: 0.25, step: 1 }, { name: "loss", value: 0.125 }]);
  });
});

describe("resources and search spaces", () => {
  it("reserves the largest step per resource and bounds the parallelism by the capacity", () => {
    const p: Pipeline = {
      name: "p",
      root: dir,
      params: {},
      steps: [testStep("a", "true", { resources: { cpu: 2, memoryMb: 100, gpu: 0 } }), testStep("b", "true", { resources: { cpu: 1, memoryMb: 300, gpu: 1 } })],
    };
    const need = trialResources(p);
    expect(need).toEqual({ cpu: 2, memoryMb: 300, gpu: 1 });
    expect(trialSlots(8, need, { cpu: 16, memoryMb: 10_000, gpu: 2 })).toBe(2); // GPUs bound it
    expect(trialSlots(8, need, { cpu: 5, memoryMb: 10_000, gpu: 8 })).toBe(2); // CPUs bound it
    expect(trialSlots(3, need, { cpu: 64, memoryMb: 10_000, gpu: 8 })).toBe(3);
    expect(trialSlots(4, need, { cpu: 1, memoryMb: 10, gpu: 0 })).toBe(1); // never below one
  });

  it("reads low/high bounds and the shorthand forms from a YAML file", () => {
    const f = join(dir, "space.yaml");
    writeFileSync(f, "lr: { type: loguniform, low: 1e-4, high: 1 }\ndepth: { type: int, low: 2, high: 8 }\nopt: [adam, sgd]\n");
    expect(loadSearchSpace(f)).toEqual({
      lr: { type: "loguniform", min: 1e-4, max: 1 },
      depth: { type: "int", min: 2, max: 8 },
      opt: { type: "choice", values: ["adam", "sgd"] },
    });
    writeFileSync(f, "lr: { type: loguniform, low: 0, high: 1 }\n");
    expect(() => loadSearchSpace(f)).toThrow(/sweep param 'lr': loguniform min must be > 0/);
  });
});

describe("runSweep", () => {
  it("never runs more trials at once than `parallel`, and reuses the freed slots", async () => {
    let now = 0;
    let peak = 0;
    const slotsInUse = new Set<number>();
    const slotsSeen = new Set<number>();
    const res = await runSweep(
      base({
        method: "random",
        maxTrials: 6,
        parallel: 2,
        seed: 3,
        space: { x: { type: "uniform", min: 0, max: 1 } },
        execute: executor({
          delayMs: 150,
          track: ({ slot, phase }) => {
            if (phase === "start") {
              expect(slotsInUse.has(slot)).toBe(false);
              slotsInUse.add(slot);
              slotsSeen.add(slot);
              now += 1;
              peak = Math.max(peak, now);
            } else {
              slotsInUse.delete(slot);
              now -= 1;
            }
          },
        }),
      }),
    );
    expect(res.trials).toHaveLength(6);
    expect(res.trials.every((t) => t.outcome === "completed")).toBe(true);
    expect(peak).toBe(2);
    expect([...slotsSeen].sort()).toEqual([0, 1]);
  }, 30_000);

  it("prunes a clearly bad trial with the median stopping rule and aborts its run", async () => {
    const finished: Record<number, number> = {};
    const res = await runSweep(
      base({
        // Grid order: three good trials first, then one far worse.
        space: { x: { type: "choice", values: [1, 1.1, 1.2, 50] } },
        medianStop: { warmupSteps: 0, minTrials: 3 },
        execute: executor({ steps: 12, delayMs: 100 }),
        onProgress: (t, what) => {
          if (what === "finished") finished[t.id] = t.endedAt! - t.startedAt;
        },
      }),
    );
    const bad = res.trials.find((t) => t.params["x"] === 50)!;
    expect(bad.outcome).toBe("pruned");
    expect(bad.pruned).toMatchObject({ stop: true, step: 1, best: 50, median: 1.1, compared: 3 });
    expect(bad.value).toBeUndefined();
    // Twelve steps of 100 ms would take 1.2 s; the pruned trial was killed after its first report.
    expect(finished[bad.id]!).toBeLessThan(1000);
    expect(res.trials.filter((t) => t.outcome === "completed").map((t) => t.params["x"])).toEqual([1, 1.1, 1.2]);
    expect(res.best?.params).toEqual({ x: 1 });
  }, 30_000);

  it("grid search runs every combination exactly once, then stops", async () => {
    const res = await runSweep(
      base({
        maxTrials: 100,
        parallel: 3,
        space: { x: { type: "choice", values: [0.5, 0.25] }, tag: { type: "choice", values: ["a", "b", "c"] } },
        execute: executor(),
      }),
    );
    expect(res.trials).toHaveLength(6);
    const combos = res.trials.map((t) => `${t.params["x"]}/${t.params["tag"]}`).sort();
    expect(combos).toEqual(["0.25/a", "0.25/b", "0.25/c", "0.5/a", "0.5/b", "0.5/c"]);
    expect(res.cancelled).toBe(false);
  }, 30_000);

  it("counts failed trials (a failing step, no objective printed) and picks the best of the rest", async () => {
    const res = await runSweep(
      base({
        parallel: 2,
        space: { x: { type: "choice", values: [3, 2, 7] }, mode: { type: "choice", values: ["ok", "fail", "silent"] } },
        execute: executor(),
      }),
    );
    expect(res.trials).toHaveLength(9);
    const by = (mode: string) => res.trials.filter((t) => t.params["mode"] === mode);
    expect(by("ok").every((t) => t.outcome === "completed")).toBe(true);
    expect(by("fail").every((t) => t.outcome === "failed" && /exit|code 3|failed/.test(t.error ?? ""))).toBe(true);
    expect(by("silent").every((t) => t.outcome === "failed" && /never printed "::metric loss=<value>"/.test(t.error ?? ""))).toBe(true);
    expect(res.best?.params).toEqual({ x: 2, mode: "ok" });
    expect(res.best?.value).toBe(2);
    // Intermediate reports are kept apart from the final value; other metrics are kept too.
    expect(res.best?.intermediate).toEqual([{ step: 1, value: 2 }]);
    expect(res.best?.metrics.map((m) => m.name)).toEqual(["loss", "loss", "acc"]);
    const ranked = rankTrials(res.trials, "minimize");
    expect(ranked.slice(0, 3).map((t) => t.params["x"])).toEqual([2, 3, 7]);
    expect(ranked.slice(3).every((t) => t.outcome === "failed")).toBe(true);
  }, 30_000);

  it("maximizes another metric when asked", async () => {
    const res = await runSweep(
      base({
        objective: "acc",
        direction: "maximize",
        space: { x: { type: "choice", values: [4, 0.5, 2] } },
        execute: executor(),
      }),
    );
    // acc = 1 / (1 + x): largest for the smallest x.
    expect(res.best?.params).toEqual({ x: 0.5 });
    expect(rankTrials(res.trials, "maximize").map((t) => t.params["x"])).toEqual([0.5, 2, 4]);
  }, 30_000);

  it("cancels running trials and starts no more when the signal aborts", async () => {
    const ac = new AbortController();
    const started: Params[] = [];
    const res = await runSweep(
      base({
        method: "random",
        maxTrials: 10,
        parallel: 2,
        space: { x: { type: "uniform", min: 0, max: 1 } },
        signal: ac.signal,
        execute: executor({ steps: 50, delayMs: 100 }),
        onProgress: (t, what) => {
          if (what === "started") started.push(t.params);
          if (what === "metric" && !ac.signal.aborted) ac.abort();
        },
      }),
    );
    expect(res.cancelled).toBe(true);
    expect(res.trials).toHaveLength(2);
    expect(res.trials.every((t) => t.outcome === "cancelled")).toBe(true);
    expect(res.best).toBeUndefined();
  }, 30_000);

  it("rejects random search without a trial budget", async () => {
    await expect(runSweep(base({ method: "random", space: { x: { type: "uniform", min: 0, max: 1 } }, execute: executor() }))).rejects.toThrow(/--trials is required/);
  });
});
