import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { InvalidArgumentError, Option, type Command } from "commander";
import { CairnError, isCairnError, LIMITS, type Cairn, type ModelVersion } from "@cairn/sdk";
import { clientFor, formatDuration, formatNumber, printError, printJson, printTable, usageErrorsExit2, wantsJson, type Cell } from "../../cli/output.js";
import { keyValue, positiveInt, nonNegativeInt } from "../../cli/parsers.js";
import { executePipeline } from "./cli.js";
import { loadPipeline } from "./definition.js";
import { detectGpus, type Gpu } from "./gpu.js";
import { defaultCapacity, type ExecutorEvent } from "./local-executor.js";
import { experimentName, gitState, PIPELINE_TAGS } from "./run-recorder.js";
import { isBetter, type Direction, type Params } from "./sweep.js";
import {
  loadSearchSpace,
  rankTrials,
  runSweep,
  SWEEP_METHODS,
  trialResources,
  trialSlots,
  type SweepMethod,
  type SweepResult,
  type SweepTrial,
  type TrialExecution,
  type TrialSpec,
} from "./sweep-runner.js";
import type { Pipeline } from "./types.js";

/**
 * `cairn sweep [PIPELINE]`: a hyperparameter sweep over a pipeline. Each trial runs the pipeline as
 * `cairn run` does (`executePipeline`: the step cache, tracking) with params drawn from `--space`;
 * the trial's pipeline run is a child of one sweep run. Steps report the objective by printing
 * `::metric NAME=VALUE [step=N]` (see `sweep-runner.ts`). Prints a table of trials, best first.
 * Exit codes: 0 at least one trial completed, 1 none did (or the sweep could not start), 2 usage
 * or an invalid definition / search space, 130 cancelled (Ctrl-C).
 */

interface SweepCliOptions {
  space?: string;
  method: SweepMethod;
  trials?: number;
  parallel: number;
  objective: string;
  direction: Direction;
  seed: number;
  grid: number;
  medianStop?: boolean;
  warmupSteps: number;
  minTrials: number;
  register?: string;
  modelPath?: string;
  param?: Record<string, string>;
  paramsFile?: string;
  cache: boolean;
  offline?: boolean;
}

/** Exit codes of `cairn sweep`. */
export const SWEEP_EXIT = { ok: 0, failed: 1, usage: 2, cancelled: 130 } as const;

/** Tags on the sweep run and its trials. */
export const SWEEP_TAGS = {
  /** On the sweep run: `parent`; on a trial run: the sweep run's id. */
  sweep: "cairn.sweep",
  /** On a trial run: its 1-based number. */
  trial: "cairn.sweep.trial",
  trialStatus: "cairn.sweep.trial_status",
  method: "cairn.sweep.method",
  objective: "cairn.sweep.objective",
  direction: "cairn.sweep.direction",
  space: "cairn.sweep.space",
  bestRun: "cairn.sweep.best_run",
  bestTrial: "cairn.sweep.best_trial",
  registered: "cairn.sweep.registered_model",
} as const;

const usage = (message: string) => Object.assign(new Error(message), { usage: true as const });
const errText = (e: unknown) => (isCairnError(e) ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e));


function seedArg(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new InvalidArgumentError("must be a number");
  return n;
}

/** The definition file behind PIPELINE (a file, or a directory holding cairn.yaml / cairn.yml). */
function definitionFile(target: string): string {
  const abs = path.resolve(target);
  if (fs.existsSync(abs) && fs.statSync(abs).isDirectory()) {
    const yml = ["cairn.yaml", "cairn.yml"].map((f) => path.join(abs, f)).find((f) => fs.existsSync(f));
    return yml ?? path.join(abs, "cairn.yaml");
  }
  return abs;
}

/** A param value as a `-p` string: `loadPipeline` turns numbers and booleans back (strings stay strings for string params). */
const asOverride = (v: string | number | boolean) => String(v);

function formatParam(v: string | number | boolean | undefined): string {
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : formatNumber(v);
  return v === undefined ? "-" : String(v);
}

/**
 * Copies the pipeline root for a parallel worker: everything but `.git`, `.cairn` and the steps'
 * outputs (recreated or restored from the cache); a top-level `node_modules` is linked, not copied.
 */
function copyWorkspace(pipeline: Pipeline, dest: string): void {
  const root = path.resolve(pipeline.root);
  const skip = new Set([".git", ".cairn", "node_modules", ...pipeline.steps.flatMap((s) => s.outs.map((o) => o.path))]);
  fs.cpSync(root, dest, {
    recursive: true,
    filter: (src) => {
      const rel = path.relative(root, src).split(path.sep).join("/");
      return rel === "" || !skip.has(rel);
    },
  });
  if (fs.existsSync(path.join(root, "node_modules"))) fs.symlinkSync(path.join(root, "node_modules"), path.join(dest, "node_modules"), "dir");
}

interface SweepReport {
  sweepRunId: string | null;
  sweepRunUrl: string | null;
  pipeline: string;
  method: SweepMethod;
  objective: string;
  direction: Direction;
  parallel: number;
  cancelled: boolean;
  best: TrialJson | null;
  registered: { name: string; version: string; status: string; source: string } | null;
  trials: TrialJson[];
}

interface TrialJson {
  trial: number;
  status: string;
  params: Params;
  objective: number | null;
  runId: string | null;
  durationMs: number | null;
  error: string | null;
  /** For pruned trials: the step, the trial's best value and the median it was compared with. */
  pruned: { step: number | null; best: number | null; median: number | null } | null;
}

function trialJson(t: SweepTrial): TrialJson {
  return {
    trial: t.id,
    status: t.outcome ?? "cancelled",
    params: t.params,
    objective: t.value ?? null,
    runId: t.runId ?? null,
    durationMs: t.endedAt !== undefined ? t.endedAt - t.startedAt : null,
    error: t.error ?? null,
    pruned: t.pruned ? { step: t.pruned.step ?? null, best: t.pruned.best ?? null, median: t.pruned.median ?? null } : null,
  };
}

/** Whether an artifact (file or directory) exists at `p` in the run. */
async function hasArtifact(cairn: Cairn, runId: string, p: string): Promise<boolean> {
  const parent = path.posix.dirname(p);
  try {
    const entries = await cairn.artifacts.list(runId, parent === "." ? "" : parent);
    return entries.some((e) => e.path === p);
  } catch (e) {
    if (isCairnError(e) && e.code === "RESOURCE_DOES_NOT_EXIST") return false;
    throw e;
  }
}

/**
 * Registers the best trial's model: the artifact at `modelPath` in the trial's run, else in one of
 * its step runs.
 * @throws CairnError RESOURCE_DOES_NOT_EXIST when no run of the trial holds that artifact
 */
async function registerBest(cairn: Cairn, best: SweepTrial, sweepRunId: string, name: string, modelPath: string): Promise<ModelVersion> {
  const trialRun = best.runId!;
  let holder: string | undefined;
  if (await hasArtifact(cairn, trialRun, modelPath)) holder = trialRun;
  else {
    const run = await cairn.runs.get(trialRun);
    for await (const r of cairn.runs.searchAll({ experimentIds: [run.info.experimentId] })) {
      if (r.data.tags[PIPELINE_TAGS.parent] === trialRun && (await hasArtifact(cairn, r.info.runId, modelPath))) {
        holder = r.info.runId;
        break;
      }
    }
  }
  if (holder === undefined) {
    throw new CairnError("RESOURCE_DOES_NOT_EXIST", `no artifact "${modelPath}" in the best trial's run ${trialRun} or its step runs (and no such output file in its workspace)`);
  }
  try {
    await cairn.models.create(name);
  } catch (e) {
    if (!isCairnError(e) || e.code !== "RESOURCE_ALREADY_EXISTS") throw e;
  }
  return cairn.models.createVersion({
    name,
    source: `runs:/${holder}/${modelPath}`,
    runId: holder,
    tags: { [SWEEP_TAGS.sweep]: sweepRunId, [SWEEP_TAGS.trial]: String(best.id) },
  });
}

async function sweepCommand(target: string, opts: SweepCliOptions, cmd: Command): Promise<void> {
  const json = wantsJson(cmd);
  const err = (s: string) => process.stderr.write(s);
  const file = definitionFile(target);
  const fixed = opts.param ?? {};
  const loadOpts = (params: Record<string, string>) => ({ params, ...(opts.paramsFile !== undefined ? { paramsFile: path.resolve(opts.paramsFile) } : {}) });

  // Everything is checked before the first trial: the definition, the space against its params, the options.
  const pipeline = loadPipeline(file, loadOpts(fixed));
  const spaceFile = opts.space ?? path.join(pipeline.root, "sweep.yaml");
  if (opts.space === undefined && !fs.existsSync(spaceFile)) throw usage("no --space FILE given and no sweep.yaml next to the pipeline");
  const space = loadSearchSpace(spaceFile);
  for (const name of Object.keys(space)) {
    if (!(name in pipeline.params)) throw usage(`search space param "${name}" is not a param of pipeline ${pipeline.name} (declare it under params:)`);
    if (name in fixed) throw usage(`param "${name}" is both in the search space and fixed with -p`);
  }
  if (opts.register !== undefined && opts.modelPath === undefined) throw usage("--register needs --model-path (the model's artifact path in the trial's run)");
  if (opts.modelPath !== undefined && opts.register === undefined) throw usage("--model-path is only used with --register");
  if (opts.register !== undefined && opts.offline) throw usage("--register needs a server; it cannot be used with --offline");
  const modelPath = opts.modelPath?.replace(/^\.\/+/, "").replace(/\/+$/, "");
  if (modelPath !== undefined && (modelPath === "" || path.posix.isAbsolute(modelPath) || modelPath.split("/").includes(".."))) {
    throw usage(`--model-path must be a relative path inside the run (got "${opts.modelPath}")`);
  }
  const maxTrials = opts.trials ?? (opts.method === "grid" ? undefined : 10);

  // Parallel trials each reserve the pipeline's largest step; they run in their own copies of the root.
  const gpus = await detectGpus();
  const capacity = defaultCapacity(gpus);
  const need = trialResources(pipeline);
  const slots = trialSlots(opts.parallel, need, capacity);
  if (slots < opts.parallel) {
    err(`note: running ${slots} trial${slots === 1 ? "" : "s"} at once, not ${opts.parallel}: each reserves cpu ${need.cpu}, memory ${need.memoryMb} MiB, gpu ${need.gpu} of cpu ${capacity.cpu}, memory ${capacity.memoryMb} MiB, gpu ${capacity.gpu}\n`);
  }
  const slotGpus = (slot: number): Gpu[] => gpus.slice(slot * need.gpu, (slot + 1) * need.gpu);

  const cairn = opts.offline ? undefined : clientFor(cmd);
  const t0 = Date.now();
  const stamp = new Date(t0).toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  let sweepRunId: string | undefined;
  if (cairn) {
    try {
      const tags: Record<string, string> = {
        [SWEEP_TAGS.sweep]: "parent",
        [SWEEP_TAGS.method]: opts.method,
        [SWEEP_TAGS.objective]: opts.objective,
        [SWEEP_TAGS.direction]: opts.direction,
        [SWEEP_TAGS.space]: JSON.stringify(space).slice(0, LIMITS.runTagValueLength),
        [PIPELINE_TAGS.pipeline]: pipeline.name,
        "mlflow.source.type": "PIPELINE",
        "mlflow.source.name": pipeline.root,
      };
      const g = await gitState(pipeline.root);
      if (g) {
        tags[PIPELINE_TAGS.gitCommit] = g.commit;
        tags[PIPELINE_TAGS.gitDirty] = g.dirty ? "true" : "false";
      }
      const run = await cairn.startRun({ experiment: { name: experimentName(pipeline.name) }, runName: `sweep ${pipeline.name} ${stamp}`.slice(0, LIMITS.runNameLength), tags, captureContext: false, startTime: t0 });
      sweepRunId = run.id;
      const params = [
        { key: "sweep.method", value: opts.method },
        { key: "sweep.objective", value: opts.objective },
        { key: "sweep.direction", value: opts.direction },
        { key: "sweep.seed", value: String(opts.seed) },
        { key: "sweep.parallel", value: String(slots) },
        ...(maxTrials !== undefined ? [{ key: "sweep.trials", value: String(maxTrials) }] : []),
        ...Object.entries(fixed).map(([key, value]) => ({ key, value: value.slice(0, LIMITS.paramValueLength) })),
      ];
      for (let i = 0; i < params.length; i += LIMITS.batchParams) await cairn.runs.logBatch(run.id, { params: params.slice(i, i + LIMITS.batchParams) });
    } catch (e) {
      err(`error: cannot record this sweep on ${cairn.url}: ${errText(e)}\n  start the server, point --url / CAIRN_URL at one, or run with --offline\n`);
      process.exitCode = SWEEP_EXIT.failed;
      return;
    }
    err(`sweep run ${sweepRunId}: ${cairn.url.replace(/\/+$/, "")}/#/runs/${sweepRunId}\n`);
  }
  const sweepUrl = cairn && sweepRunId ? `${cairn.url.replace(/\/+$/, "")}/#/runs/${sweepRunId}` : undefined;

  const tmpRoot = slots > 1 ? fs.mkdtempSync(path.join(os.tmpdir(), "cairn-sweep-")) : undefined;
  const workspaces: string[] = [];
  for (let s = 0; s < slots; s++) {
    if (!tmpRoot) workspaces.push(pipeline.root);
    else {
      const dir = path.join(tmpRoot, `slot-${s}`);
      copyWorkspace(pipeline, dir);
      workspaces.push(dir);
    }
  }
  const defRel = path.relative(pipeline.root, file);
  const logBase = path.join(pipeline.root, ".cairn", "logs", `sweep-${stamp}`);

  const ac = new AbortController();
  let interrupts = 0;
  const onSigint = (): void => {
    interrupts += 1;
    if (interrupts > 1) process.exit(SWEEP_EXIT.cancelled);
    err("cancelling the running trials (Ctrl-C again to quit at once)…\n");
    ac.abort();
  };
  process.on("SIGINT", onSigint);

  const byId = new Map<number, SweepTrial>();
  let bestValue: number | undefined;
  const recording: Promise<void>[] = [];
  const total = maxTrials !== undefined ? `/${maxTrials}` : "";
  const paramText = (p: Params) => Object.entries(p).map(([k, v]) => `${k}=${formatParam(v)}`).join(" ");

  const execute = async (spec: TrialSpec, hooks: { signal: AbortSignal; onEvent: (e: ExecutorEvent) => void }): Promise<TrialExecution> => {
    const params = { ...fixed };
    for (const [k, v] of Object.entries(spec.params)) params[k] = asOverride(v);
    const ws = workspaces[spec.slot]!;
    const trialPipeline = loadPipeline(path.join(ws, defRel), loadOpts(params));
    const ran = await executePipeline(
      trialPipeline,
      {
        cache: opts.cache,
        offline: cairn === undefined,
        quiet: true,
        signal: hooks.signal,
        onEvent: hooks.onEvent,
        logDir: path.join(logBase, `trial-${spec.id}`),
        // One trial at a time gets the whole machine; parallel trials share it evenly.
        ...(slots > 1 ? { cpus: Math.max(need.cpu, capacity.cpu / slots), gpus: slotGpus(spec.slot) } : {}),
        ...(sweepRunId ? { tags: { [PIPELINE_TAGS.parent]: sweepRunId, [SWEEP_TAGS.sweep]: sweepRunId, [SWEEP_TAGS.trial]: String(spec.id) } } : {}),
      },
      cmd,
    );
    if (typeof ran === "number") return { status: "failed", error: "the trial's pipeline could not start (see above)" };
    const { result, recorder } = ran;
    const failedStep = Object.values(result.steps).find((r) => r.status === "failed" || r.status === "timeout" || r.status === "oom");
    const out: TrialExecution = { status: result.status, ...(recorder ? { runId: recorder.runId } : {}) };
    if (failedStep) out.error = `step ${failedStep.name} ${failedStep.status}: ${failedStep.error ?? failedStep.status}`;
    // The model must be uploaded before this slot's workspace is reused by the next trial.
    const t = byId.get(spec.id);
    if (cairn && recorder && modelPath !== undefined && result.status === "succeeded" && t?.value !== undefined && t.status === "running") {
      const notWorse = bestValue === undefined || !isBetter(bestValue, t.value, opts.direction);
      const local = path.join(ws, ...modelPath.split("/"));
      if (notWorse && fs.existsSync(local)) {
        const isDir = fs.statSync(local).isDirectory();
        const dest = isDir ? modelPath : path.posix.dirname(modelPath);
        try {
          await cairn.artifacts.upload(recorder.runId, local, dest === "." ? undefined : dest);
        } catch (e) {
          err(`warning: trial ${spec.id}: uploading ${modelPath}: ${errText(e)}\n`);
        }
      }
    }
    return out;
  };

  const record = async (t: SweepTrial): Promise<void> => {
    if (!cairn || !t.runId) return;
    const runId = t.runId;
    try {
      // A report without step= goes one step past the metric's last, so the run's latest value (highest step) is the final one.
      const lastStep = new Map<string, number>();
      const metrics = t.metrics.map((m) => {
        const step = m.step ?? (lastStep.has(m.name) ? lastStep.get(m.name)! + 1 : 0);
        lastStep.set(m.name, Math.max(step, lastStep.get(m.name) ?? step));
        return { key: m.name, value: m.value, timestamp: m.time, step };
      });
      for (let i = 0; i < metrics.length; i += LIMITS.batchMetrics) await cairn.runs.logBatch(runId, { metrics: metrics.slice(i, i + LIMITS.batchMetrics) });
      await cairn.runs.logBatch(runId, { tags: [{ key: SWEEP_TAGS.trialStatus, value: t.outcome ?? "cancelled" }, ...(t.error ? [{ key: PIPELINE_TAGS.error, value: t.error.slice(0, LIMITS.runTagValueLength) }] : [])] });
      await cairn.runs.update(runId, { runName: `${pipeline.name} trial ${t.id}` });
    } catch (e) {
      err(`warning: tracking: trial ${t.id}: ${errText(e)}\n`);
    }
  };

  let result: SweepResult;
  try {
    result = await runSweep({
      space,
      method: opts.method,
      ...(maxTrials !== undefined ? { maxTrials } : {}),
      parallel: slots,
      objective: opts.objective,
      direction: opts.direction,
      seed: opts.seed,
      gridPoints: opts.grid,
      ...(opts.medianStop ? { medianStop: { warmupSteps: opts.warmupSteps, minTrials: opts.minTrials } } : {}),
      execute,
      signal: ac.signal,
      onProgress: (t, what) => {
        if (what === "started") {
          byId.set(t.id, t);
          err(`trial ${t.id}${total} started: ${paramText(t.params)}\n`);
        } else if (what === "pruning") {
          err(`trial ${t.id}: pruning at step ${t.pruned?.step}: best ${formatParam(t.pruned?.best)} is worse than the median ${formatParam(t.pruned?.median)} of ${t.pruned?.compared} others\n`);
        } else if (what === "finished") {
          if (t.outcome === "completed" && t.value !== undefined && (bestValue === undefined || isBetter(t.value, bestValue, opts.direction))) bestValue = t.value;
          const took = formatDuration((t.endedAt ?? Date.now()) - t.startedAt);
          const detail = t.outcome === "completed" ? `${opts.objective}=${formatParam(t.value)}` : (t.error ?? "");
          err(`trial ${t.id}${total} ${t.outcome} in ${took}${detail ? `: ${detail}` : ""}${bestValue !== undefined ? ` (best ${formatParam(bestValue)})` : ""}\n`);
          recording.push(record(t));
        }
      },
    });
  } finally {
    process.off("SIGINT", onSigint);
  }
  await Promise.all(recording);

  const { best } = result;
  let registered: SweepReport["registered"] = null;
  let registerFailed = false;
  if (cairn && sweepRunId) {
    const counts = { completed: 0, pruned: 0, failed: 0, cancelled: 0 };
    for (const t of result.trials) counts[t.outcome ?? "cancelled"] += 1;
    try {
      await cairn.runs.logBatch(sweepRunId, {
        metrics: [
          ...(best?.value !== undefined ? [{ key: opts.objective, value: best.value, timestamp: Date.now(), step: 0 }] : []),
          ...Object.entries(counts).map(([k, v]) => ({ key: `trials_${k}`, value: v, timestamp: Date.now(), step: 0 })),
          { key: "duration_s", value: (Date.now() - t0) / 1000, timestamp: Date.now(), step: 0 },
        ],
        tags: best?.runId ? [{ key: SWEEP_TAGS.bestRun, value: best.runId }, { key: SWEEP_TAGS.bestTrial, value: String(best.id) }] : [],
      });
    } catch (e) {
      err(`warning: tracking: the sweep result: ${errText(e)}\n`);
    }
    if (opts.register !== undefined && modelPath !== undefined) {
      if (!best?.runId) {
        err(`error: --register: no completed trial${best ? " with a tracking run" : ""}; nothing registered\n`);
        registerFailed = true;
      } else {
        try {
          const v = await registerBest(cairn, best, sweepRunId, opts.register, modelPath);
          registered = { name: v.name, version: String(v.version), status: v.status, source: v.source };
          await cairn.runs.setTag(sweepRunId, SWEEP_TAGS.registered, `${v.name}/${v.version}`);
          err(`registered ${v.name} version ${v.version} (${v.status}) from trial ${best.id}: ${v.source}\n`);
        } catch (e) {
          err(`error: --register: ${errText(e)}\n`);
          registerFailed = true;
        }
      }
    }
    try {
      await cairn.runs.update(sweepRunId, { status: result.cancelled ? "KILLED" : best ? "FINISHED" : "FAILED", endTime: Date.now() });
    } catch (e) {
      err(`warning: tracking: ending the sweep run: ${errText(e)}\n`);
    }
  }
  if (tmpRoot) fs.rmSync(tmpRoot, { recursive: true, force: true });

  const ranked = rankTrials(result.trials, opts.direction);
  if (json) {
    const report: SweepReport = {
      sweepRunId: sweepRunId ?? null,
      sweepRunUrl: sweepUrl ?? null,
      pipeline: pipeline.name,
      method: opts.method,
      objective: opts.objective,
      direction: opts.direction,
      parallel: slots,
      cancelled: result.cancelled,
      best: best ? trialJson(best) : null,
      registered,
      trials: ranked.map(trialJson),
    };
    printJson(report);
  } else {
    const names = Object.keys(space);
    printTable(
      ["TRIAL", "STATUS", ...names.map((n) => n.toUpperCase()), opts.objective.toUpperCase(), "DURATION", "RUN"],
      ranked.map((t): Cell[] => [
        t === best ? `${t.id} (best)` : String(t.id),
        t.outcome ?? "cancelled",
        ...names.map((n) => formatParam(t.params[n])),
        t.value !== undefined ? formatParam(t.value) : t.outcome === "pruned" && t.intermediate.length > 0 ? `(${formatParam(t.intermediate[t.intermediate.length - 1]!.value)})` : "-",
        t.endedAt !== undefined ? formatDuration(t.endedAt - t.startedAt) : "-",
        t.runId ?? "-",
      ]),
      { maxCell: 40 },
    );
    if (best) err(`best: trial ${best.id} ${opts.objective}=${formatParam(best.value)} (${paramText(best.params)})${best.runId ? `, run ${best.runId}` : ""}\n`);
  }
  for (const t of result.trials) if (t.outcome === "failed" && t.error) err(`trial ${t.id} failed: ${t.error}${t.runId ? ` (run ${t.runId})` : ""}\n`);
  if (result.cancelled) process.exitCode = SWEEP_EXIT.cancelled;
  else process.exitCode = best && !registerFailed ? SWEEP_EXIT.ok : SWEEP_EXIT.failed;
}

/** Adds `cairn sweep` to the program. */
export function registerSweepCommand(program: Command): void {
  const sweep = program
    .command("sweep")
    .description("run a hyperparameter sweep over a pipeline (cairn.yaml): each trial is a tracked pipeline run with sampled params")
    .argument("[pipeline]", "a cairn.yaml file, or a directory holding one", ".")
    .option("--space <file>", "the search space (YAML or JSON): { lr: { type: loguniform, low: 1e-4, high: 1 }, depth: { type: int, low: 2, high: 8 }, opt: [adam, sgd] } (default: sweep.yaml next to the pipeline)")
    .addOption(new Option("--method <method>", "how params are drawn").choices([...SWEEP_METHODS]).default("tpe"))
    .addOption(new Option("--trials <n>", "the most trials to run (default 10; grid: the whole grid)").argParser(positiveInt))
    .addOption(new Option("--parallel <n>", "trials at once (also bounded by CPUs/memory/GPUs: each trial reserves its largest step's resources)").argParser(positiveInt).default(1))
    .requiredOption("--objective <metric>", "the metric to optimize, printed by a step as `::metric NAME=VALUE [step=N]`")
    .addOption(new Option("--direction <direction>", "minimize or maximize the objective").choices(["minimize", "maximize"]).default("minimize"))
    .addOption(new Option("--seed <n>", "seed of the random and TPE samplers").argParser(seedArg).default(0))
    .addOption(new Option("--grid <n>", "grid points per continuous param (grid search)").argParser(positiveInt).default(5))
    .option("--median-stop", "prune a trial whose intermediate objective (`step=`) is worse than the median of the other trials at that step")
    .addOption(new Option("--warmup-steps <n>", "with --median-stop: never prune before this step").argParser(nonNegativeInt).default(0))
    .addOption(new Option("--min-trials <n>", "with --median-stop: other trials that must have reached the step").argParser(positiveInt).default(3))
    .option("--register <model>", "register the best trial's model (needs --model-path) as a new version of this model")
    .option("--model-path <path>", "with --register: the model's artifact path in the trial's run or a step run (an output file or directory of that path is uploaded to the trial run)")
    .option("-p, --param <name=value>", "fix a param for every trial (repeatable)", keyValue)
    .option("--params-file <file>", "a YAML or JSON file of param values (applied before -p)")
    .option("--no-cache", "run every step of every trial; do not use the step cache")
    .option("--offline", "run without a server: no tracking runs")
    .action(async (target: string, opts: SweepCliOptions, cmd: Command) => {
      try {
        await sweepCommand(target, opts, cmd);
      } catch (e) {
        if ((e as { usage?: boolean }).usage) {
          process.stderr.write(`error: ${(e as Error).message}\n`);
          process.exitCode = SWEEP_EXIT.usage;
          return;
        }
        if (isCairnError(e) && (e.code === "INVALID_PARAMETER_VALUE" || e.code === "RESOURCE_DOES_NOT_EXIST")) {
          const list = (e.details ?? []).filter((d) => typeof (d as { message?: unknown }).message === "string") as { message: string }[];
          if (list.length > 0) {
            process.stderr.write(`error: ${e.code}: ${e.message.split("\n")[0]}\n`);
            for (const d of list) process.stderr.write(`  - ${d.message}\n`);
          } else printError(e);
          process.exitCode = SWEEP_EXIT.usage;
          return;
        }
        printError(e);
        process.exitCode = SWEEP_EXIT.failed;
      }
    });
  usageErrorsExit2(sweep);
}
