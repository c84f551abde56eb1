import os from "node:os";
import path from "node:path";
import { InvalidArgumentError, Option, type Command } from "commander";
import { Cairn } from "@cairn/sdk";
import type { LogEntry, ParamValue, PipelineRun, StepState } from "@cairn/contract";
import { action, clientFor, createProgress, formatDuration, formatTime, globalOptions, printJson, printKeyValues, printTable, usageErrorsExit2, wantsJson, type Cell } from "../../cli/output.js";
import { keyValue, positiveInt } from "../../cli/parsers.js";
import { parseDuration, parseMemoryMb } from "./definition.js";
import { followLogs, pushPipeline } from "./remote.js";
import { PipelineWorker } from "./worker.js";

/** Exit codes of `cairn run --remote --follow` and `cairn logs -f`: as `cairn run`. */
const EXIT = { ok: 0, failed: 1, cancelled: 130 } as const;

const exitFor = (status: string) => (status === "succeeded" ? EXIT.ok : status === "cancelled" ? EXIT.cancelled : EXIT.failed);

function stepRows(steps: StepState[]): Cell[][] {
  return steps.map((s) => [s.name, s.status, s.attempts, s.durationMs !== undefined ? formatDuration(s.durationMs) : "-", s.worker ?? "-", s.error ?? s.cacheReason ?? "-"]);
}

function printRun(run: PipelineRun): void {
  printKeyValues([
    ["run", run.id],
    ["pipeline", run.pipeline],
    ["status", run.status],
    ["mode", run.mode],
    ["trigger", run.trigger.detail ? `${run.trigger.kind}: ${run.trigger.detail}` : run.trigger.kind],
    ["created", formatTime(run.createdAt)],
    ["ended", run.endedAt ? formatTime(run.endedAt) : "-"],
  ]);
  printTable(["STEP", "STATUS", "ATTEMPTS", "DURATION", "WORKER", "DETAIL"], stepRows(run.steps), { maxCell: 80 });
}

function logLine(e: LogEntry, prefix: boolean): string {
  return prefix ? `${e.step} | ${e.text}` : e.text;
}

/** Converts `-p` values to what the server expects (it reads them as `-p` would). */
const asParams = (p: Record<string, string | number | boolean>): Record<string, ParamValue> => ({ ...p });

export interface RemoteRunOptions {
  param?: Record<string, string>;
  paramsFile?: string;
  follow?: boolean;
  project?: string;
}

/**
 * `cairn run --remote`: pushes the pipeline, starts a run through the server's queue (workers run
 * its steps), and with `--follow` streams its logs until it ends. Returns the exit code.
 */
export async function runRemote(target: string, opts: RemoteRunOptions, cmd: Command): Promise<number> {
  const cairn = clientFor(cmd);
  const json = wantsJson(cmd);
  const progress = createProgress("uploading pipeline files", json);
  const { resolved } = await pushPipeline(cairn, target, {
    ...(opts.param ? { params: opts.param } : {}),
    ...(opts.paramsFile ? { paramsFile: opts.paramsFile } : {}),
    ...(opts.project ? { project: opts.project } : {}),
    onProgress: (d, t) => progress.update(d, t),
  });
  progress.stop();
  const { run } = await cairn.client.api.startPipelineRun({ params: { name: resolved.name }, body: { params: asParams(resolved.params), trigger: { kind: "manual" } } });
  const url = `${cairn.url}/#/pipelines/runs/${run.id}`;
  process.stderr.write(`queued run ${run.id} of ${resolved.name}: ${url}\n`);
  if (!opts.follow) {
    if (json) printJson({ runId: run.id, runUrl: url, status: run.status });
    else process.stdout.write(`${run.id}\n`);
    return EXIT.ok;
  }
  const ended = await followLogs(cairn, run.id, (e) => process.stderr.write(`${logLine(e, true)}\n`), { follow: true });
  if (json) printJson({ runId: ended.id, runUrl: url, status: ended.status, steps: ended.steps });
  else printTable(["STEP", "STATUS", "ATTEMPTS", "DURATION", "WORKER", "DETAIL"], stepRows(ended.steps), { maxCell: 80 });
  process.stderr.write(`pipeline ${ended.pipeline} ${ended.status}\n`);
  return exitFor(ended.status);
}

function positiveNumber(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError("must be a positive number");
  return n;
}

function memoryOption(v: string): number {
  const n = parseMemoryMb(v);
  if (n === undefined) throw new InvalidArgumentError("must be MiB or a size such as 4GB");
  return n;
}

function durationOption(v: string): number {
  const n = parseDuration(v);
  if (n === undefined || n <= 0) throw new InvalidArgumentError("must be a duration such as 30s");
  return n;
}

/**
 * Adds the commands that work with the server's pipelines: `cairn worker`, `cairn logs`, `cairn
 * cancel`, `cairn pipeline push|ls|runs|status|trigger|resume`, `cairn schedule …`, `cairn workers`.
 */
export function registerRemotePipelineCommands(program: Command): void {
  const group = program.commands.find((c) => c.name() === "pipeline") ?? usageErrorsExit2(program.command("pipeline").description("pipeline tools (run pipelines with `cairn run`)"));

  usageErrorsExit2(
    program
      .command("worker")
      .description("run pipeline steps for a server: claim ready steps that fit this machine, run them, report results (Ctrl-C stops)")
      .option("--server <url>", "the server (default: --url / CAIRN_URL)")
      .option("--name <name>", "a name for this worker (default: host-pid)")
      .addOption(new Option("--cpus <n>", "CPU cores steps may reserve at once (default: all)").argParser(positiveNumber))
      .addOption(new Option("--memory <size>", "memory steps may reserve at once, e.g. 8GB (default: 80% of RAM)").argParser(memoryOption))
      .option("--work-dir <dir>", "where steps run (default: a cairn-worker folder in the temp directory)")
      .addOption(new Option("--lease <duration>", "lease on each claimed step; heartbeats renew it every third (default 30s)").argParser(durationOption))
      .option("--keep-work-dirs", "keep each step's directory after it ends")
      .option("--nvidia-smi <path>", "the nvidia-smi executable for GPU detection and sampling")
      .addOption(new Option("--step-token <token>", "the token steps get as CAIRN_TOKEN (never the worker's own; default: none)").env("CAIRN_STEP_TOKEN"))
      .action(
        action(async (opts: { server?: string; name?: string; cpus?: number; memory?: number; workDir?: string; lease?: number; keepWorkDirs?: boolean; nvidiaSmi?: string; stepToken?: string }, cmd: Command) => {
          const g = globalOptions(cmd);
          // Long polls hold a request for up to 20 s: the client's timeout must outlast them.
          const cairn = new Cairn({ url: opts.server ?? g.url, token: g.token, handleExit: false, timeoutMs: 60_000 });
          const ac = new AbortController();
          const stop = () => {
            if (ac.signal.aborted) process.exit(EXIT.cancelled);
            process.stderr.write("worker: stopping (running steps are cancelled; Ctrl-C again to quit at once)…\n");
            ac.abort();
          };
          process.on("SIGINT", stop);
          process.on("SIGTERM", stop);
          const worker = new PipelineWorker({
            cairn,
            ...(opts.stepToken ? { stepToken: opts.stepToken } : {}),
            workDir: path.resolve(opts.workDir ?? path.join(os.tmpdir(), `cairn-worker-${process.pid}`)),
            signal: ac.signal,
            ...(opts.name ? { name: opts.name } : {}),
            ...(opts.cpus !== undefined || opts.memory !== undefined ? { capacity: { ...(opts.cpus !== undefined ? { cpu: opts.cpus } : {}), ...(opts.memory !== undefined ? { memoryMb: opts.memory } : {}) } } : {}),
            ...(opts.lease !== undefined ? { leaseMs: opts.lease } : {}),
            ...(opts.keepWorkDirs ? { keepWorkDirs: true } : {}),
            ...(opts.nvidiaSmi ? { nvidiaSmi: opts.nvidiaSmi } : {}),
          });
          await worker.run();
          process.stderr.write(`worker: stopped (${Object.entries(worker.completed).map(([k, v]) => `${v} ${k}`).join(", ") || "no steps"})\n`);
        }),
      ),
  );

  usageErrorsExit2(
    program
      .command("logs")
      .description("print a pipeline run's step logs (-f: follow until it ends)")
      .argument("<run-id>", "the pipeline run (its tracking run id)")
      .option("-f, --follow", "keep printing new lines until the run ends; exit with its status")
      .option("--step <name>", "only this step's lines")
      .action(
        action(async (runId: string, opts: { follow?: boolean; step?: string }, cmd: Command) => {
          const cairn = clientFor(cmd);
          const json = wantsJson(cmd);
          const ac = new AbortController();
          process.once("SIGINT", () => ac.abort());
          const run = await followLogs(cairn, runId, (e) => (json ? process.stdout.write(`${JSON.stringify(e)}\n`) : process.stdout.write(`${logLine(e, !opts.step)}\n`)), {
            ...(opts.step ? { step: opts.step } : {}),
            ...(opts.follow ? { follow: true } : {}),
            signal: ac.signal,
          });
          if (opts.follow) {
            process.stderr.write(`pipeline ${run.pipeline} ${run.status}\n`);
            process.exitCode = exitFor(run.status);
          }
        }),
      ),
  );

  usageErrorsExit2(
    program
      .command("cancel")
      .description("cancel a pipeline run: queued steps are dropped, running ones stopped (SIGTERM, then SIGKILL) and their GPUs freed")
      .argument("<run-id>", "the pipeline run")
      .action(
        action(async (runId: string, _opts: unknown, cmd: Command) => {
          const { run } = await clientFor(cmd).client.api.cancelPipelineRun({ params: { id: runId }, body: {} });
          if (wantsJson(cmd)) printJson(run);
          else process.stderr.write(`cancelling run ${run.id} (${run.pipeline}): ${run.steps.filter((s) => s.status === "running").length} running step(s) are being stopped\n`);
        }),
      ),
  );

  usageErrorsExit2(
    group
      .command("push")
      .description("push a pipeline to the server: its definition and the files its steps read (for workers, schedules and API triggers)")
      .argument("[pipeline]", "a cairn.yaml file, or a directory holding one", ".")
      .option("--project <project>", "the project the pipeline (its experiment) belongs to")
      .action(
        action(async (target: string, opts: { project?: string }, cmd: Command) => {
          const json = wantsJson(cmd);
          const progress = createProgress("uploading pipeline files", json);
          const { pipeline, blobsUploaded } = await pushPipeline(clientFor(cmd), target, { ...(opts.project ? { project: opts.project } : {}), onProgress: (d, t) => progress.update(d, t) });
          progress.stop();
          if (json) printJson(pipeline);
          else process.stderr.write(`pushed ${pipeline.name}: files ${pipeline.source?.dataset}@${pipeline.source?.version} (${blobsUploaded} new blob${blobsUploaded === 1 ? "" : "s"})\n`);
        }),
      ),
  );

  usageErrorsExit2(
    group
      .command("ls")
      .description("list pipelines (pushed, and those only run locally)")
      .action(
        action(async (_opts: unknown, cmd: Command) => {
          const { pipelines } = await clientFor(cmd).client.api.listPipelines({});
          if (wantsJson(cmd)) return printJson(pipelines);
          printTable(["PIPELINE", "PUSHED", "RUNS", "LAST RUN", "STATUS", "WHEN"], pipelines.map((p) => [p.name, p.pushedAt ? formatTime(p.pushedAt) : "-", p.runCount, p.lastRun?.id ?? "-", p.lastRun?.status ?? "-", p.lastRun ? formatTime(p.lastRun.createdAt) : "-"]));
        }),
      ),
  );

  usageErrorsExit2(
    group
      .command("runs")
      .description("list pipeline runs, newest first")
      .option("--pipeline <name>", "only this pipeline's")
      .option("--status <status>", "queued|running|succeeded|failed|cancelled")
      .addOption(new Option("--limit <n>", "at most N runs").argParser(positiveInt).default(50))
      .action(
        action(async (opts: { pipeline?: string; status?: "queued" | "running" | "succeeded" | "failed" | "cancelled"; limit: number }, cmd: Command) => {
          const { runs } = await clientFor(cmd).client.api.listPipelineRuns({ query: { limit: opts.limit, ...(opts.pipeline ? { pipeline: opts.pipeline } : {}), ...(opts.status ? { status: opts.status } : {}) } });
          if (wantsJson(cmd)) return printJson(runs);
          printTable(
            ["RUN", "PIPELINE", "STATUS", "MODE", "TRIGGER", "CREATED", "DURATION", "STEPS"],
            runs.map((r) => [r.id, r.pipeline, r.status, r.mode, r.trigger.kind, formatTime(r.createdAt), r.endedAt ? formatDuration(r.endedAt - (r.startedAt ?? r.createdAt)) : "-", Object.entries(r.stepCounts).map(([k, v]) => `${v} ${k}`).join(", ")]),
          );
        }),
      ),
  );

  usageErrorsExit2(
    group
      .command("status")
      .description("a pipeline run's steps: status, attempts, durations, workers, errors")
      .argument("<run-id>", "the pipeline run")
      .action(
        action(async (runId: string, _opts: unknown, cmd: Command) => {
          const { run } = await clientFor(cmd).client.api.getPipelineRun({ params: { id: runId } });
          if (wantsJson(cmd)) printJson(run);
          else printRun(run);
        }),
      ),
  );

  usageErrorsExit2(
    group
      .command("trigger")
      .description("start a run of a pushed pipeline through the server's queue (as the API trigger does)")
      .argument("<name>", "the pipeline")
      .option("-p, --param <name=value>", "override a param (repeatable)", keyValue)
      .option("-f, --follow", "stream its logs until it ends; exit with its status")
      .action(
        action(async (name: string, opts: { param?: Record<string, string>; follow?: boolean }, cmd: Command) => {
          const cairn = clientFor(cmd);
          const { run } = await cairn.client.api.startPipelineRun({ params: { name }, body: { params: opts.param ?? {}, trigger: { kind: "manual" } } });
          process.stderr.write(`queued run ${run.id}: ${cairn.url}/#/pipelines/runs/${run.id}\n`);
          if (!opts.follow) {
            if (wantsJson(cmd)) printJson(run);
            else process.stdout.write(`${run.id}\n`);
            return;
          }
          const ended = await followLogs(cairn, run.id, (e) => process.stderr.write(`${logLine(e, true)}\n`), { follow: true });
          if (wantsJson(cmd)) printJson(ended);
          else printRun(ended);
          process.exitCode = exitFor(ended.status);
        }),
      ),
  );

  usageErrorsExit2(
    group
      .command("resume")
      .description("queue a failed or cancelled run's unfinished steps again (finished steps keep their results)")
      .argument("<run-id>", "the pipeline run")
      .action(
        action(async (runId: string, _opts: unknown, cmd: Command) => {
          const { run } = await clientFor(cmd).client.api.resumePipelineRun({ params: { id: runId }, body: {} });
          if (wantsJson(cmd)) printJson(run);
          else process.stderr.write(`resumed run ${run.id}: ${run.steps.filter((s) => s.status === "waiting" || s.status === "ready").length} step(s) queued again\n`);
        }),
      ),
  );

  const schedule = usageErrorsExit2(program.command("schedule").description("run pushed pipelines on a cron or when a dataset gets a new version"));
  usageErrorsExit2(
    schedule
      .command("create")
      .description("schedule a pushed pipeline")
      .argument("<pipeline>", "the pipeline")
      .option("--cron <expr>", "five-field cron (minute hour day month weekday), e.g. '0 3 * * *'")
      .option("--timezone <tz>", "IANA time zone of the cron", "UTC")
      .option("--on-dataset <name>", "run when this dataset gets a new version")
      .option("-p, --param <name=value>", "param overrides for the runs (repeatable)", keyValue)
      .option("--disabled", "create it disabled")
      .action(
        action(async (pipeline: string, opts: { cron?: string; timezone: string; onDataset?: string; param?: Record<string, string>; disabled?: boolean }, cmd: Command) => {
          const { schedule: s } = await clientFor(cmd).client.api.createSchedule({
            params: { name: pipeline },
            body: { timezone: opts.timezone, ...(opts.cron ? { cron: opts.cron } : {}), ...(opts.onDataset ? { onDataset: opts.onDataset } : {}), ...(opts.param ? { params: opts.param } : {}), enabled: !opts.disabled },
          });
          if (wantsJson(cmd)) printJson(s);
          else process.stderr.write(`schedule ${s.id} of ${s.pipeline}${s.cron ? `: ${s.cron} (${s.timezone}), next ${formatTime(s.nextRunAt)}` : ""}${s.onDataset ? `; on new versions of ${s.onDataset}` : ""}\n`);
        }),
      ),
  );
  usageErrorsExit2(
    schedule
      .command("ls")
      .description("list schedules")
      .option("--pipeline <name>", "only this pipeline's")
      .action(
        action(async (opts: { pipeline?: string }, cmd: Command) => {
          const api = clientFor(cmd).client.api;
          const { schedules } = opts.pipeline ? await api.listSchedules({ params: { name: opts.pipeline } }) : await api.listAllSchedules({});
          if (wantsJson(cmd)) return printJson(schedules);
          printTable(
            ["ID", "PIPELINE", "CRON", "ON DATASET", "ENABLED", "NEXT", "LAST RUN"],
            schedules.map((s) => [s.id, s.pipeline, s.cron ? `${s.cron} ${s.timezone}` : "-", s.onDataset ?? "-", s.enabled ? "yes" : "no", s.nextRunAt ? formatTime(s.nextRunAt) : "-", s.lastRunId ?? "-"]),
          );
        }),
      ),
  );
  for (const [verb, enabled] of [
    ["enable", true],
    ["disable", false],
  ] as const) {
    usageErrorsExit2(
      schedule
        .command(verb)
        .description(`${verb} a schedule`)
        .argument("<pipeline>", "the pipeline")
        .argument("<id>", "the schedule")
        .action(
          action(async (pipeline: string, id: string, _opts: unknown, cmd: Command) => {
            const { schedule: s } = await clientFor(cmd).client.api.updateSchedule({ params: { name: pipeline, id }, body: { enabled } });
            if (wantsJson(cmd)) printJson(s);
            else process.stderr.write(`schedule ${s.id} ${s.enabled ? "enabled" : "disabled"}\n`);
          }),
        ),
    );
  }
  usageErrorsExit2(
    schedule
      .command("rm")
      .description("delete a schedule")
      .argument("<pipeline>", "the pipeline")
      .argument("<id>", "the schedule")
      .action(
        action(async (pipeline: string, id: string, _opts: unknown, cmd: Command) => {
          await clientFor(cmd).client.api.deleteSchedule({ params: { name: pipeline, id } });
          process.stderr.write(`deleted schedule ${id}\n`);
        }),
      ),
  );

  usageErrorsExit2(
    program
      .command("workers")
      .description("list pipeline workers: resources, state, running steps")
      .action(
        action(async (_opts: unknown, cmd: Command) => {
          const { workers } = await clientFor(cmd).client.api.listWorkers({});
          if (wantsJson(cmd)) return printJson(workers);
          printTable(
            ["ID", "NAME", "STATE", "CPU", "MEMORY", "GPUS", "RUNNING", "LAST SEEN"],
            workers.map((w) => [w.id, w.name, w.state, w.resources.cpu, `${w.resources.memoryMb} MiB`, w.resources.gpus.map((g) => g.index).join(",") || "-", w.running.map((r) => r.step).join(",") || "-", formatTime(w.lastSeenAt)]),
          );
        }),
      ),
  );
}
