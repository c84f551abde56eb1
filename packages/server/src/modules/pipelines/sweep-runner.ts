import fs from "node:fs";
import path from "node:path";
import { CairnError } from "@cairn/contract";
import { parse as parseYaml } from "yaml";
import type { ExecutorEvent, PipelineStatus } from "./local-executor.js";
import {
  bestTrial,
  gridSampler,
  medianStoppingRule,
  parseSearchSpace,
  randomSampler,
  tpeSampler,
  type Direction,
  type MedianStoppingOptions,
  type Params,
  type Sampler,
  type SearchSpace,
  type StoppingDecision,
  type Trial,
} from "./sweep.js";
import type { Pipeline, Resources } from "./types.js";

/**
 * The sweep engine behind `cairn sweep`: draws params from a sampler (`sweep.ts`), runs up to
 * `parallel` trials at once through an injected {@link TrialExecutor} (the CLI's runs the pipeline
 * with `executePipeline`), reads the objective from the steps' printed `::metric` lines, prunes
 * trials with the median stopping rule (aborting them), and picks the best completed trial.
 *
 * The metric contract: a step prints, on stdout, lines of the form
 * `::metric NAME=VALUE [NAME=VALUE ...] [step=N]` (leading spaces allowed). Values are numbers
 * (`nan`, `inf`, `-inf` accepted). Reports with `step=` are intermediate values (they feed the
 * median stopping rule); a trial's objective is its last report of the objective metric, with or
 * without a step. A trial whose pipeline succeeded without reporting the objective has failed.
 */

/** The sampling methods `cairn sweep --method` takes. */
export const SWEEP_METHODS = ["grid", "random", "tpe"] as const;
export type SweepMethod = (typeof SWEEP_METHODS)[number];

/** The final status of a trial as `cairn sweep` reports it. */
export type SweepTrialStatus = "completed" | "pruned" | "failed" | "cancelled";

/** One `::metric` report. */
export interface MetricReport {
  name: string;
  value: number;
  step?: number;
  /** Date.now() when it was read. */
  time: number;
}

/** A trial as the engine tracks it: the core's `Trial` plus what was printed and how it ended. */
export interface SweepTrial extends Trial {
  /** 1-based trial number (`Trial.id`). */
  id: number;
  /** The worker slot it ran in (0 ≤ slot < the effective parallelism). */
  slot: number;
  /** Every `::metric` report of every metric, in the order they were printed. */
  metrics: MetricReport[];
  /** Set once the trial ended. `running` trials have none. */
  outcome?: SweepTrialStatus;
  error?: string;
  /** The tracking run the executor recorded the trial as, when it did. */
  runId?: string;
  /** Why the median stopping rule pruned it. */
  pruned?: StoppingDecision;
  startedAt: number;
  endedAt?: number;
}

/** What the executor is asked to run. */
export interface TrialSpec {
  id: number;
  slot: number;
  params: Params;
}

/** What the executor gets besides the spec: a signal (median stop, Ctrl-C) and the event sink. */
export interface TrialHooks {
  signal: AbortSignal;
  /** Feed every executor event here: `log` events are scanned for `::metric` lines. */
  onEvent: (e: ExecutorEvent) => void;
}

/** How one execution ended. */
export interface TrialExecution {
  status: PipelineStatus;
  error?: string;
  /** The tracking run of the execution. */
  runId?: string;
}

/** Runs one trial to the end; it should resolve (not throw) for a failed pipeline. */
export type TrialExecutor = (trial: TrialSpec, hooks: TrialHooks) => Promise<TrialExecution>;

export interface SweepOptions {
  space: SearchSpace;
  method: SweepMethod;
  /** The most trials to run. Required for random and TPE; grid stops at the grid's size anyway. */
  maxTrials?: number;
  /** Trials running at once (≥ 1). */
  parallel: number;
  /** The metric name that is the objective. */
  objective: string;
  direction: Direction;
  /** Seed of the random and TPE samplers (default 0). */
  seed?: number;
  /** Grid points per continuous (uniform/loguniform) param, for `grid` (default 5). */
  gridPoints?: number;
  /** TPE's random start-up trials (default: min(10, max(2, maxTrials / 3))). */
  tpeStartupTrials?: number;
  /** Turns the median stopping rule on. */
  medianStop?: MedianStoppingOptions;
  execute: TrialExecutor;
  /** Cancels the sweep: running trials are aborted, no new ones start. */
  signal?: AbortSignal;
  /** Progress: a trial started, reported a metric, was pruned, or ended. */
  onProgress?: (trial: SweepTrial, what: "started" | "metric" | "pruning" | "finished") => void;
}

export interface SweepResult {
  trials: SweepTrial[];
  best?: SweepTrial;
  /** True when the signal stopped the sweep before it ran out of trials. */
  cancelled: boolean;
}

const METRIC_PREFIX = /^\s*::metric\s+(.*)$/;
const NAME_RE = /^[A-Za-z0-9_.\-/:]+$/;

function parseNumber(v: string): number | undefined {
  const s = v.trim().toLowerCase();
  if (s === "nan") return NaN;
  if (s === "inf" || s === "+inf" || s === "infinity") return Infinity;
  if (s === "-inf" || s === "-infinity") return -Infinity;
  if (s === "" || !/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/.test(s)) return undefined;
  return Number(s);
}

/**
 * Parses one printed line: `::metric loss=0.25 acc=0.9 step=3` → two reports at step 3. Returns an
 * empty list for any other line, and for a malformed `::metric` line (no valid `name=value`).
 * @example parseMetricLine("::metric loss=0.5 step=2") // [{ name: "loss", value: 0.5, step: 2 }]
 */
export function parseMetricLine(line: string): { name: string; value: number; step?: number }[] {
  const m = METRIC_PREFIX.exec(line.replace(/\r$/, ""));
  if (!m) return [];
  let step: number | undefined;
  const pairs: { name: string; value: number }[] = [];
  for (const word of m[1]!.trim().split(/\s+/)) {
    const eq = word.indexOf("=");
    if (eq <= 0) continue;
    const name = word.slice(0, eq);
    const value = parseNumber(word.slice(eq + 1));
    if (value === undefined) continue;
    if (name === "step") {
      if (Number.isInteger(value) && value >= 0) step = value;
      continue;
    }
    if (NAME_RE.test(name)) pairs.push({ name, value });
  }
  return pairs.map((p) => (step === undefined ? p : { ...p, step }));
}

/**
 * Splits executor `log` chunks (stdout only) into lines per step and attempt, and hands every
 * `::metric` report to `emit`. Call `flush(step)` when a step ends so a last line without a newline
 * counts too.
 */
export class MetricLineReader {
  readonly #partial = new Map<string, string>();
  readonly #emit: (r: { name: string; value: number; step?: number }) => void;

  constructor(emit: (r: { name: string; value: number; step?: number }) => void) {
    this.#emit = emit;
  }

  /** Feeds one executor event. */
  onEvent(e: ExecutorEvent): void {
    if (e.type === "log" && e.stream === "stdout") {
      const key = `${e.step}\0${e.attempt}`;
      const text = (this.#partial.get(key) ?? "") + e.text;
      const lines = text.split("\n");
      this.#partial.set(key, lines.pop() ?? "");
      for (const line of lines) for (const r of parseMetricLine(line)) this.#emit(r);
    } else if (e.type === "step-finished" || e.type === "step-retry") {
      this.flush(e.step);
    }
  }

  /** Emits what is left of a step's output without a trailing newline. */
  flush(step: string): void {
    for (const [key, rest] of this.#partial) {
      if (!key.startsWith(`${step}\0`)) continue;
      this.#partial.delete(key);
      for (const r of parseMetricLine(rest)) this.#emit(r);
    }
  }
}

/**
 * The resources one trial reserves: per kind, the most any step of the pipeline asks for (steps of
 * one trial may run in parallel inside it, but the reservation is what one step needs at least).
 */
export function trialResources(pipeline: Pipeline): Resources {
  const r: Resources = { cpu: 0, memoryMb: 0, gpu: 0 };
  for (const s of pipeline.steps) {
    r.cpu = Math.max(r.cpu, s.resources.cpu);
    r.memoryMb = Math.max(r.memoryMb, s.resources.memoryMb);
    r.gpu = Math.max(r.gpu, s.resources.gpu);
  }
  return r;
}

/**
 * How many trials may run at once: the requested number, bounded by how many trial reservations
 * fit into the capacity (cpu, memory, gpu). At least 1 (a trial that does not fit at all fails in
 * the executor, with its reason).
 */
export function trialSlots(requested: number, need: Resources, capacity: Resources): number {
  let n = Math.max(1, Math.floor(requested));
  if (need.cpu > 0) n = Math.min(n, Math.floor(capacity.cpu / need.cpu));
  if (need.memoryMb > 0) n = Math.min(n, Math.floor(capacity.memoryMb / need.memoryMb));
  if (need.gpu > 0) n = Math.min(n, Math.floor(capacity.gpu / need.gpu));
  return Math.max(1, n);
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Reads a search-space file (YAML or JSON). Besides what `parseSearchSpace` accepts, a spec may name
 * its bounds `low`/`high` instead of `min`/`max` (`{ type: loguniform, low: 1e-4, high: 1 }`), and
 * the space may sit under a top-level `space:` key.
 * @throws CairnError RESOURCE_DOES_NOT_EXIST (no such file), INVALID_PARAMETER_VALUE (syntax, or a bad spec naming the param)
 */
export function loadSearchSpace(file: string): SearchSpace {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    throw new CairnError("RESOURCE_DOES_NOT_EXIST", `cannot read the search space file ${file}`);
  }
  let raw: unknown;
  try {
    raw = path.extname(file).toLowerCase() === ".json" ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new CairnError("INVALID_PARAMETER_VALUE", `search space file ${file}: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`);
  }
  if (isPlainObject(raw) && Object.keys(raw).length === 1 && isPlainObject(raw["space"])) raw = raw["space"];
  return parseSearchSpace(normalizeBounds(raw));
}

/** `low`/`high` → `min`/`max` in the canonical `{ type: … }` form. */
export function normalizeBounds(raw: unknown): unknown {
  if (!isPlainObject(raw)) return raw;
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(raw)) {
    if (isPlainObject(spec) && "type" in spec && ("low" in spec || "high" in spec) && !("min" in spec) && !("max" in spec)) {
      const { low, high, ...rest } = spec;
      out[name] = { ...rest, min: low, max: high };
    } else out[name] = spec;
  }
  return out;
}

/**
 * The sampler for a method. Random and TPE stop after `maxTrials`; grid after its last combination.
 * @throws CairnError INVALID_PARAMETER_VALUE (random/TPE without maxTrials; bad grid points)
 */
export function samplerFor(opts: Pick<SweepOptions, "space" | "method" | "maxTrials" | "seed" | "gridPoints" | "direction" | "tpeStartupTrials">): Sampler & { size?: number } {
  const seed = opts.seed ?? 0;
  if (opts.method === "grid") return gridSampler(opts.space, { grid: opts.gridPoints ?? 5 });
  if (opts.maxTrials === undefined) throw new CairnError("INVALID_PARAMETER_VALUE", `--trials is required for ${opts.method} search`);
  if (opts.method === "random") return randomSampler(opts.space, seed, { maxTrials: opts.maxTrials });
  const startupTrials = opts.tpeStartupTrials ?? Math.min(10, Math.max(2, Math.floor(opts.maxTrials / 3)));
  return tpeSampler(opts.space, seed, { maxTrials: opts.maxTrials, direction: opts.direction, startupTrials });
}

/**
 * Runs a sweep to the end: at most `maxTrials` trials (grid: at most the grid's size), `parallel` at
 * once; each trial's objective is read from its printed `::metric` lines; with `medianStop`, a trial
 * is aborted (pruned) as soon as an intermediate report is worse than the median of the others.
 * Resolves when every started trial has ended; the signal aborts running trials and starts no more.
 * @throws CairnError INVALID_PARAMETER_VALUE for a bad space, method options or `parallel`
 * @example
 * const res = await runSweep({ space, method: "random", maxTrials: 8, parallel: 2, objective: "loss", direction: "minimize", execute });
 * console.log(res.best?.params, res.best?.value);
 */
export async function runSweep(opts: SweepOptions): Promise<SweepResult> {
  if (!Number.isInteger(opts.parallel) || opts.parallel < 1) throw new CairnError("INVALID_PARAMETER_VALUE", `parallel must be a positive integer (got ${opts.parallel})`);
  if (opts.maxTrials !== undefined && (!Number.isInteger(opts.maxTrials) || opts.maxTrials < 1)) {
    throw new CairnError("INVALID_PARAMETER_VALUE", `trials must be a positive integer (got ${opts.maxTrials})`);
  }
  const sampler = samplerFor(opts);
  const rule = opts.medianStop ? medianStoppingRule(opts.medianStop) : undefined;
  const trials: SweepTrial[] = [];
  const running = new Map<number, Promise<void>>();
  const controllers = new Map<number, AbortController>();
  const freeSlots = Array.from({ length: opts.parallel }, (_, i) => i);
  const progress = (t: SweepTrial, what: "started" | "metric" | "pruning" | "finished") => opts.onProgress?.(t, what);
  let exhausted = false;

  const onSweepAbort = () => {
    for (const c of controllers.values()) c.abort();
  };
  opts.signal?.addEventListener("abort", onSweepAbort, { once: true });

  const onReport = (t: SweepTrial, r: { name: string; value: number; step?: number }) => {
    t.metrics.push({ ...r, time: Date.now() });
    if (r.name !== opts.objective) return;
    t.value = r.value;
    if (r.step !== undefined) t.intermediate.push({ step: r.step, value: r.value });
    progress(t, "metric");
    if (!rule || r.step === undefined || t.status !== "running") return;
    const decision = rule.evaluate(t, trials, opts.direction);
    if (decision.stop) {
      // Pruned now, so other trials' decisions no longer count it; the executor then cancels.
      t.status = "pruned";
      t.pruned = decision;
      progress(t, "pruning");
      controllers.get(t.id)?.abort();
    }
  };

  const start = (params: Params): void => {
    const slot = freeSlots.shift()!;
    const t: SweepTrial = { id: trials.length + 1, slot, params, status: "running", intermediate: [], metrics: [], startedAt: Date.now() };
    trials.push(t);
    const ac = new AbortController();
    controllers.set(t.id, ac);
    const reader = new MetricLineReader((r) => onReport(t, r));
    progress(t, "started");
    const done = (async () => {
      let ex: TrialExecution;
      try {
        ex = await opts.execute({ id: t.id, slot, params }, { signal: ac.signal, onEvent: (e) => reader.onEvent(e) });
      } catch (e) {
        ex = { status: "failed", error: e instanceof Error ? e.message : String(e) };
      }
      t.endedAt = Date.now();
      if (ex.runId !== undefined) t.runId = ex.runId;
      if (t.status === "pruned") {
        t.outcome = "pruned";
      } else if (ex.status === "succeeded") {
        if (t.value === undefined) {
          t.status = "failed";
          t.outcome = "failed";
          t.error = `the pipeline succeeded but never printed "::metric ${opts.objective}=<value>"`;
        } else if (!Number.isFinite(t.value)) {
          t.status = "failed";
          t.outcome = "failed";
          t.error = `objective ${opts.objective} is ${t.value}`;
        } else {
          t.status = "completed";
          t.outcome = "completed";
        }
      } else {
        t.status = "failed";
        t.outcome = ex.status === "cancelled" ? "cancelled" : "failed";
        t.error = ex.error ?? `pipeline ${ex.status}`;
      }
      // Only completed trials keep a final value: bestTrial and TPE read `value`.
      if (t.status !== "completed") delete t.value;
      controllers.delete(t.id);
      running.delete(t.id);
      freeSlots.push(slot);
      freeSlots.sort((a, b) => a - b);
      progress(t, "finished");
    })();
    running.set(t.id, done);
  };

  try {
    for (;;) {
      while (!exhausted && !opts.signal?.aborted && running.size < opts.parallel && (opts.maxTrials === undefined || trials.length < opts.maxTrials)) {
        const params = sampler.next(trials);
        if (params === undefined) {
          exhausted = true;
          break;
        }
        start(params);
      }
      if (running.size === 0) break;
      await Promise.race(running.values());
    }
  } finally {
    opts.signal?.removeEventListener("abort", onSweepAbort);
  }
  const best = bestTrial(trials, opts.direction) as SweepTrial | undefined;
  return { trials, ...(best ? { best } : {}), cancelled: opts.signal?.aborted ?? false };
}

/** Trials sorted best first: completed by objective (ties: lower id), then pruned, failed, cancelled, each by id. */
export function rankTrials(trials: SweepTrial[], direction: Direction): SweepTrial[] {
  const order: Record<SweepTrialStatus, number> = { completed: 0, pruned: 1, failed: 2, cancelled: 3 };
  return [...trials].sort((a, b) => {
    const oa = order[a.outcome ?? "cancelled"];
    const ob = order[b.outcome ?? "cancelled"];
    if (oa !== ob) return oa - ob;
    if (oa === 0 && a.value !== b.value) return direction === "minimize" ? a.value! - b.value! : b.value! - a.value!;
    return a.id - b.id;
  });
}
