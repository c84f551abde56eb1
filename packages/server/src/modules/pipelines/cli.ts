import path from "node:path";
import { InvalidArgumentError, Option, type Command } from "commander";
import { Cairn, isCairnError } from "@cairn/sdk";
import { clientFor, formatDuration, globalOptions, printError, printJson, printTable, usageErrorsExit2, wantsJson, type Cell } from "../../cli/output.js";
import { keyValue, positiveInt } from "../../cli/parsers.js";
import { StatCache } from "../datasets/stat-cache.js";
import { localCacheDir, statCacheDir } from "../datasets/workspace.js";
import { loadAnyPipeline } from "./definition.js";
import type { Gpu } from "./gpu.js";
import { runPipelineLocally, type ExecutorEvent, type LocalExecutorOptions, type PipelineResult, type StepResult } from "./local-executor.js";
import { rerunCommand, RERUN_EXIT, type RerunOptions } from "./rerun.js";
import { runRemote } from "./remote-cli.js";
import { RunRecorder } from "./run-recorder.js";
import { LocalRunReporter } from "./local-report.js";
import { LocalStepCache, missingOutputs, withOutputChecks, type StepExplanation } from "./step-cache.js";
import type { Pipeline, Step } from "./types.js";

/**
 * `cairn run [PIPELINE]`: runs a pipeline on this machine with the local step cache, tracked on the
 * server (`--url`): a parent run, a child run per step, logs, dataset inputs and outputs (see
 * `run-recorder.ts`). `--offline` never contacts a server (dataset deps are then not cached: they
 * need one to resolve).
 */

interface RunOptions {
  param?: Record<string, string>;
  paramsFile?: string;
  explain?: boolean;
  dryRun?: boolean;
  cache: boolean;
  jobs?: number;
  cpus?: number;
  logDir?: string;
  offline?: boolean;
  remote?: boolean;
  follow?: boolean;
  project?: string;
}

/** Exit codes: 0 succeeded, 1 a step failed, 2 usage or an invalid definition, 130 cancelled (Ctrl-C). */
export const RUN_EXIT = { ok: 0, failed: 1, usage: 2, cancelled: 130 } as const;

function positiveNumber(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError("must be a positive number");
  return n;
}

const stamp = (d = new Date()) => d.toISOString().replace(/[-:]/g, "").replace("T", "-").replace(/Z$/, "");

function depSteps(step: Step): string[] {
  return [...new Set(step.deps.flatMap((d) => (d.kind === "step" ? [d.step] : [])))];
}

function printPlan(pipeline: Pipeline, json: boolean): void {
  if (json) {
    printJson({ pipeline: pipeline.name, root: pipeline.root, params: pipeline.params, steps: pipeline.steps });
    return;
  }
  process.stdout.write(`pipeline ${pipeline.name} (${pipeline.root}): ${pipeline.steps.length} step${pipeline.steps.length === 1 ? "" : "s"}, in order\n`);
  printTable(
    ["STEP", "AFTER", "CMD", "OUTS", "CACHE"],
    pipeline.steps.map((s): Cell[] => [s.name, depSteps(s).join(",") || "-", s.cmd, s.outs.map((o) => o.path).join(",") || "-", s.cache ? "yes" : "no"]),
    { maxCell: 60 },
  );
}

/** The DETAIL column: the error for a step that did not finish well, else what the cache said. */
function detailOf(r: StepResult, cacheOn: boolean, step: Step | undefined): string {
  if (r.status !== "succeeded" && r.status !== "cached") return r.error ?? r.status;
  if (r.error) return r.error; // e.g. a cache-save problem on a succeeded step
  if (!cacheOn) return "cache off (--no-cache)";
  if (step && !step.cache) return "cache: false";
  return r.cacheExplain ?? "-";
}

/** A failed step that exited 0 without an output gets a clearer error than "exited with code 86". */
function clarify(result: PipelineResult): void {
  for (const r of Object.values(result.steps)) {
    const missing = missingOutputs(r);
    if (r.status === "failed" && missing.length > 0) {
      r.error = `the command exited 0 but did not produce its output${missing.length === 1 ? "" : "s"} ${missing.map((m) => `"${m}"`).join(", ")}`;
    }
  }
}

function explainLines(e: StepExplanation): string {
  const lines = [`${e.step}: ${e.reason}`];
  if (e.key) lines.push(`  key ${e.key}`);
  for (const c of e.components) lines.push(`  ${c.name.padEnd(24)} ${c.value.length > 80 ? `${c.value.slice(0, 79)}…` : c.value.replace(/\n/g, "\\n")}`);
  return `${lines.join("\n")}\n`;
}

export interface ExecuteOptions {
  cache: boolean;
  explain?: boolean;
  jobs?: number;
  cpus?: number;
  logDir?: string;
  /** No tracking run at all. */
  offline?: boolean;
  /** Extra tags on the parent tracking run. */
  tags?: Record<string, string>;
  /** Cancels the run; when given, the caller handles Ctrl-C (no SIGINT handler is installed). */
  signal?: AbortSignal;
  /** Called with every executor event, after the tracking recorder has seen it. */
  onEvent?: (e: ExecutorEvent) => void;
  /** No progress lines on stderr (warnings and errors still print). */
  quiet?: boolean;
  /** The GPUs the run may assign (default: every GPU nvidia-smi reports). */
  gpus?: Gpu[];
}

export interface Executed {
  result: PipelineResult;
  recorder?: RunRecorder;
  cache?: LocalStepCache;
  logDir: string;
}

/**
 * Runs a loaded pipeline as `cairn run` does (tracking, cache, progress on stderr, Ctrl-C), and
 * returns the result; or the exit code when it could not start (the error is printed).
 */
export async function executePipeline(pipeline: Pipeline, opts: ExecuteOptions, cmd: Command): Promise<Executed | number> {
  const err = (s: string) => process.stderr.write(s);
  const logDir = path.resolve(opts.logDir ?? path.join(pipeline.root, ".cairn", "logs", stamp()));

  // Tracking: the parent run is created before anything runs, so an unreachable server fails fast.
  let recorder: RunRecorder | undefined;
  let reporter: LocalRunReporter | undefined;
  let cache: LocalStepCache | undefined;
  let statCache: StatCache | undefined;
  if (opts.cache) {
    try {
      statCache = new StatCache(statCacheDir(localCacheDir()));
    } catch {
      statCache = undefined; // hashing without it is only slower
    }
  }
  if (!opts.offline) {
    const cairn = clientFor(cmd);
    try {
      // A quick probe without retries, so an unreachable server fails at once.
      const g = globalOptions(cmd);
      await new Cairn({ url: g.url, token: g.token, handleExit: false, retry: { retries: 0 }, timeoutMs: 15_000 }).experiments.search({ maxResults: 1 });
      recorder = await RunRecorder.start({
        cairn,
        pipeline,
        logDir,
        cacheOn: opts.cache,
        explain: (s) => cache?.explain(s),
        ...(opts.tags ? { tags: opts.tags } : {}),
        ...(statCache ? { statCache } : {}),
      });
    } catch (e) {
      const unreachable = isCairnError(e) && e.code === "TEMPORARILY_UNAVAILABLE";
      err(
        `error: cannot record this run on ${cairn.url}: ${isCairnError(e) ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e)}\n` +
          `${unreachable ? "  the server is unreachable; " : "  "}start it, point --url / CAIRN_URL at one, or run with --offline to run without tracking\n`,
      );
      statCache?.close();
      return RUN_EXIT.failed;
    }
    if (!opts.quiet) err(`tracking run ${recorder.runId}: ${recorder.url}\n`);
    const rec = recorder;
    reporter = new LocalRunReporter({ cairn: clientFor(cmd), runId: rec.runId, stepRunId: (s) => rec.stepRunId(s), warn: (m) => err(`warning: ${m}\n`) });
    await reporter.start(pipeline);
  }

  if (opts.cache) {
    cache = new LocalStepCache(pipeline, {
      ...(statCache ? { statCache } : {}),
      ...(recorder ? { datasetDigest: recorder.datasetDigest } : {}),
    });
  }

  // The executor runs commands that also check their declared outputs exist (see withOutputChecks).
  let runnable = withOutputChecks(pipeline);
  const capacity: LocalExecutorOptions["capacity"] = {};
  if (opts.cpus !== undefined) capacity.cpu = opts.cpus;
  if (opts.jobs !== undefined) {
    // At most N steps at once: each step counts as one slot (its cpu reservation is not used).
    capacity.cpu = opts.jobs;
    runnable = { ...runnable, steps: runnable.steps.map((s) => ({ ...s, resources: { ...s.resources, cpu: 1 } })) };
  }

  const started = new Map<string, number>();
  const onEvent = (e: ExecutorEvent): void => {
    recorder?.onEvent(e);
    reporter?.onEvent(e);
    opts.onEvent?.(e);
    if (opts.quiet && e.type !== "warning") return;
    const at = (s: string) => `${formatDuration(Date.now() - (started.get(s) ?? e.time))}`;
    switch (e.type) {
      case "pipeline-started":
        err(`pipeline ${e.pipeline}: ${pipeline.steps.length} steps, capacity cpu ${e.capacity.cpu}, memory ${e.capacity.memoryMb} MiB, gpu ${e.capacity.gpu}; logs in ${logDir}\n`);
        break;
      case "step-cache":
        if (opts.explain && cache) {
          const ex = cache.explain(e.step);
          if (ex) err(explainLines(ex));
          else if (e.error) err(`${e.step}: ${e.error}\n`);
        } else if (e.error) err(`${e.step}: ${e.error}\n`);
        break;
      case "step-started":
        if (!started.has(e.step)) started.set(e.step, e.time);
        err(`${e.step}: started${e.maxAttempts > 1 ? ` (attempt ${e.attempt}/${e.maxAttempts})` : ""}${e.gpus.length > 0 ? ` on GPU ${e.gpus.join(",")}` : ""}\n`);
        break;
      case "step-retry":
        err(`${e.step}: attempt ${e.attempt} ${e.status}: ${e.error}; retrying in ${formatDuration(e.delayMs)}\n`);
        break;
      case "step-finished": {
        const r = e.status;
        if (r === "cached") err(`${e.step}: cached (restored in ${formatDuration(e.durationMs)})\n`);
        else if (r === "succeeded") err(`${e.step}: succeeded in ${at(e.step)}${e.error ? ` (${e.error})` : ""}\n`);
        else if (r === "skipped" || r === "cancelled") err(`${e.step}: ${r}${e.error ? `: ${e.error.replace(/^(skipped|cancelled): /, "")}` : ""}\n`);
        else err(`${e.step}: ${r} after ${formatDuration(e.durationMs)}${e.error ? `: ${e.error}` : ""}\n`);
        break;
      }
      case "warning":
        err(`warning: ${e.step ? `${e.step}: ` : ""}${e.message}\n`);
        break;
      default:
        break;
    }
  };

  const ac = new AbortController();
  let interrupts = 0;
  const onSigint = (): void => {
    interrupts += 1;
    if (interrupts > 1) process.exit(RUN_EXIT.cancelled);
    err("cancelling (Ctrl-C again to quit at once)…\n");
    ac.abort();
  };
  if (opts.signal) {
    if (opts.signal.aborted) ac.abort();
    else opts.signal.addEventListener("abort", () => ac.abort(), { once: true });
  } else process.on("SIGINT", onSigint);
  let result: PipelineResult;
  try {
    result = await runPipelineLocally(runnable, {
      logDir,
      ...(cache ? { cache } : {}),
      ...(opts.gpus ? { gpus: opts.gpus } : {}),
      capacity,
      signal: ac.signal,
      onEvent,
      // Steps that use the SDK reach the server this run is tracked on, even when it came from --url.
      ...(recorder ? { env: { ...process.env, CAIRN_URL: recorder.serverUrl, CAIRN_PIPELINE_RUN_ID: recorder.runId, ...(globalOptions(cmd).token ? { CAIRN_TOKEN: globalOptions(cmd).token } : {}) } } : {}),
    });
  } catch (e) {
    process.off("SIGINT", onSigint);
    await recorder?.abort("FAILED", e instanceof Error ? e.message : String(e));
    statCache?.close();
    throw e;
  }
  clarify(result);
  if (recorder) {
    if (!opts.quiet) err(`recording the results on ${recorder.url}…\n`);
    await recorder.finish(result);
    await reporter?.finish(result);
  }
  process.off("SIGINT", onSigint);
  statCache?.close();
  return { result, ...(recorder ? { recorder } : {}), ...(cache ? { cache } : {}), logDir };

}

async function runCommand(target: string, opts: RunOptions, cmd: Command): Promise<void> {
  const json = wantsJson(cmd);
  const err = (s: string) => process.stderr.write(s);
  if (opts.jobs !== undefined && opts.cpus !== undefined) cmd.error("error: use --jobs or --cpus, not both", { exitCode: RUN_EXIT.usage });

  let pipeline: Pipeline;
  try {
    pipeline = (await loadAnyPipeline(target, { params: opts.param ?? {}, ...(opts.paramsFile !== undefined ? { paramsFile: opts.paramsFile } : {}) })).pipeline;
  } catch (e) {
    if (isCairnError(e) && (e.code === "INVALID_PARAMETER_VALUE" || e.code === "RESOURCE_DOES_NOT_EXIST")) {
      const list = (e.details ?? []).filter((d) => typeof (d as { message?: unknown }).message === "string") as { message: string }[];
      if (list.length > 0) {
        err(`error: ${e.code}: ${e.message.split("\n")[0]}\n`);
        for (const d of list) err(`  - ${d.message}\n`);
      } else printError(e);
      process.exitCode = RUN_EXIT.usage;
      return;
    }
    throw e;
  }

  if (opts.dryRun) {
    printPlan(pipeline, json);
    return;
  }
  if (opts.remote) {
    process.exitCode = await runRemote(target, { ...(opts.param ? { param: opts.param } : {}), ...(opts.paramsFile ? { paramsFile: opts.paramsFile } : {}), ...(opts.follow ? { follow: true } : {}), ...(opts.project ? { project: opts.project } : {}) }, cmd);
    return;
  }

  const ran = await executePipeline(pipeline, opts, cmd);
  if (typeof ran === "number") {
    process.exitCode = ran;
    return;
  }
  const { result, recorder, cache, logDir } = ran;

  const stepsByName = new Map(pipeline.steps.map((s) => [s.name, s]));
  const rows = pipeline.steps.map((s) => result.steps[s.name]!);
  if (json) {
    printJson({
      pipeline: result.pipeline,
      status: result.status,
      ...(recorder ? { runId: recorder.runId, runUrl: recorder.url } : {}),
      durationMs: result.durationMs,
      logDir,
      steps: rows.map((r) => {
        const ex = cache?.explain(r.name);
        return {
          ...r,
          detail: detailOf(r, !!cache, stepsByName.get(r.name)),
          ...(ex ? { cache: { key: ex.key ?? null, hit: ex.hit, reason: ex.reason, changes: ex.changes, components: ex.components } } : {}),
        };
      }),
    });
  } else {
    printTable(
      ["STEP", "STATUS", "ATTEMPTS", "DURATION", "DETAIL"],
      rows.map((r): Cell[] => [r.name, r.status, r.attempts, formatDuration(r.durationMs), detailOf(r, !!cache, stepsByName.get(r.name))]),
      { maxCell: 100 },
    );
  }

  for (const r of rows) {
    if (r.status !== "failed" && r.status !== "timeout" && r.status !== "oom") continue;
    err(`error: step "${r.name}" ${r.status}: ${r.error ?? r.status}\n`);
    if (r.logTail) err(`--- last lines of ${r.logPath ?? "its log"} ---\n${r.logTail}\n---\n`);
  }
  err(`pipeline ${result.pipeline} ${result.status} in ${formatDuration(result.durationMs)}\n`);
  process.exitCode = result.status === "succeeded" ? RUN_EXIT.ok : result.status === "cancelled" ? RUN_EXIT.cancelled : RUN_EXIT.failed;
}

/** Adds `cairn run` to the program. */
export function registerPipelineCommands(program: Command): void {
  const run = program
    .command("run")
    .description("run a pipeline (cairn.yaml) on this machine, restoring unchanged steps from the local cache")
    .argument("[pipeline]", "a cairn.yaml, a TypeScript definition (cairn.ts, exporting definePipeline(...)), or a directory holding one", ".")
    .option("-p, --param <name=value>", "override a param (repeatable)", keyValue)
    .option("--params-file <file>", "a YAML or JSON file of param values (applied before -p)")
    .option("--explain", "print each step's cache key components and why it hits or misses")
    .option("--dry-run", "validate the pipeline and print the plan without running anything")
    .option("--no-cache", "run every step; do not look up or save cached outputs")
    .addOption(new Option("-j, --jobs <n>", "run at most N steps at once (ignores the steps' cpu reservations)").argParser(positiveInt))
    .addOption(new Option("--cpus <n>", "CPU cores steps may reserve at once (default: all)").argParser(positiveNumber))
    .option("--log-dir <dir>", "where step logs go (default: <pipeline dir>/.cairn/logs/<time>)")
    .option("--offline", "run without a server: no tracking runs, no dataset inputs or outputs recorded")
    .option("--remote", "push the pipeline and run it through the server's queue on workers (`cairn worker`) instead of here")
    .option("-f, --follow", "with --remote: stream the step logs until the run ends, and exit with its status")
    .option("--project <project>", "with --remote: the project the pipeline belongs to")
    .action(async (target: string, opts: RunOptions, cmd: Command) => {
      try {
        await runCommand(target, opts, cmd);
      } catch (e) {
        printError(e);
        process.exitCode = RUN_EXIT.failed;
      }
    });
  usageErrorsExit2(run);

  const rerun = program
    .command("rerun")
    .description("reproduce a recorded `cairn run`: check its inputs, run it again without the cache, compare the outputs hash for hash")
    .argument("<run-id>", "the parent tracking run of the `cairn run` to reproduce")
    .option("--dir <dir>", "the pipeline root (a directory holding cairn.yaml, or the file)", ".")
    .option("--force", "rerun even when inputs (code, deps, datasets, params, definition) differ from the recorded run")
    .option("--offline-compare", "do not record the rerun as a new tracking run; only compare (the recorded run is still read from the server)")
    .addOption(new Option("-j, --jobs <n>", "run at most N steps at once").argParser(positiveInt))
    .addOption(new Option("--cpus <n>", "CPU cores steps may reserve at once (default: all)").argParser(positiveNumber))
    .option("--log-dir <dir>", "where step logs go (default: <pipeline dir>/.cairn/logs/<time>)")
    .action(async (runId: string, opts: RerunOptions, cmd: Command) => {
      try {
        if (opts.jobs !== undefined && opts.cpus !== undefined) cmd.error("error: use --jobs or --cpus, not both", { exitCode: RERUN_EXIT.usage });
        await rerunCommand(runId, opts, cmd, executePipeline);
      } catch (e) {
        printError(e);
        process.exitCode = RERUN_EXIT.differ;
      }
    });
  usageErrorsExit2(rerun);
}
