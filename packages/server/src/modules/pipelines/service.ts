import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import { Readable } from "node:stream";
import {
  CairnError,
  DEFAULT_PROJECT,
  PIPELINE_LIMITS,
  PROJECT_TAG,
  unlessMissing,
  type ClaimedTask,
  type LogsPage,
  type ParamValue,
  type PipelineInfo,
  type PipelineRun,
  type PipelineRunSummary,
  type PipelineSpec,
  type RunTrigger,
  type Schedule,
  type StepRunStatus,
  type StepState,
  type WorkerInfo,
} from "@cairn/contract";
import type { z } from "zod";
import * as C from "@cairn/contract";
import type { Logger } from "pino";
import type { TrackingService } from "../tracking/service.js";
import type { DatasetService } from "../datasets/service.js";
import { resolveWithoutFiles } from "./definition.js";
import type { StepStatus as ExecutorStepStatus } from "./local-executor.js";
import { experimentName, PIPELINE_TAGS, runStatusOf } from "./run-recorder.js";
import { nextCronRun, validateCron } from "./cron.js";
import type { PipelineStore, RunRow, ScheduleRow, StepRow, WorkerRow } from "./store/pipeline-store.js";

type In<S extends z.ZodType> = z.output<S>;

/** Step states that are final. */
const DONE: ReadonlySet<StepRunStatus> = new Set(["succeeded", "cached", "failed", "timeout", "oom", "skipped", "cancelled"]);
const FAILED: ReadonlySet<StepRunStatus> = new Set(["failed", "timeout", "oom"]);
const OK: ReadonlySet<StepRunStatus> = new Set(["succeeded", "cached"]);
/** A step whose worker was lost this many times fails instead of being queued again. */
export const MAX_CLAIMS = 3;
const DEFINITION_TAG_MAX = 8000;
const LOG_TAIL_LINES = 20;
const LOG_ARTIFACT_MAX_CHARS = 64 * 1024 * 1024;
/** Who dataset versions written by the pipeline service are attributed to. */
const PIPELINE_ACTOR = { name: "cairn-pipelines", keepsOrigin: false };

function versionRequest(files: In<typeof C.ManifestEntry>[], message: string, runId: string | undefined): In<typeof C.CreateVersionRequest> {
  return C.CreateVersionRequest.parse({ files, message: message.slice(0, 10_000), ...(runId ? { runId } : {}) });
}

/** The internal datasets a pipeline's files live in. */
export const sourceDatasetOf = (pipeline: string) => `pipeline-src.${pipeline}`;
export const outputsDatasetOf = (pipeline: string) => `pipeline-out.${pipeline}`;

/** The step cache's row key: entries are per pipeline (pipeline names hold no ':'). */
const cacheRowKey = (pipeline: string, key: string) => `${pipeline}:${key}`;

/**
 * A task id names one claim of one step of one run: `<run id>:<step index>:<claim>`. The claim number
 * keeps a re-claimed step's task apart from its lost predecessor on the same worker.
 */
const taskIdOf = (s: Pick<StepRow, "runId" | "idx" | "claim">) => `${s.runId}:${s.idx}:${s.claim}`;
function parseTaskId(id: string): { runId: string; idx: number } {
  const m = /^([^:]+):(\d{1,9}):(\d{1,9})$/.exec(id);
  if (!m) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Task '${id}' not found`);
  return { runId: m[1]!, idx: Number(m[2]) };
}

const projectOf = (tags: Record<string, string>) => tags[PROJECT_TAG] ?? DEFAULT_PROJECT;

const stringParams = (p: Record<string, ParamValue> | undefined): Record<string, string> => Object.fromEntries(Object.entries(p ?? {}).map(([k, v]) => [k, String(v)]));

/** The spec a run stores: the resolved pipeline without its root. */
function specOf(def: unknown, params: Record<string, ParamValue> | undefined): PipelineSpec {
  const p = resolveWithoutFiles(def, stringParams(params));
  if (p.steps.length > PIPELINE_LIMITS.stepsPerPipeline) throw new CairnError("INVALID_PARAMETER_VALUE", `Pipeline '${p.name}' has ${p.steps.length} steps; at most ${PIPELINE_LIMITS.stepsPerPipeline}`);
  return { name: p.name, params: p.params, steps: p.steps.map((s) => ({ ...s })) };
}

function afterOf(step: PipelineSpec["steps"][number]): string[] {
  return [...new Set(step.deps.flatMap((d) => (d.kind === "step" ? [d.step] : [])))];
}

function tail(text: string): string {
  return text.split("\n").slice(-LOG_TAIL_LINES).join("\n");
}

/** Who asks (for tracking's user id and pushed-by). */
export interface Actor {
  user?: string;
}

export interface PipelineServiceOptions {
  store: PipelineStore;
  tracking: TrackingService;
  datasets: DatasetService;
  logger?: Logger;
  now?: () => number;
  /** How often expired leases and due schedules are checked (ms); default 500. */
  tickMs?: number;
}

/**
 * Pipelines on the server: pushed pipelines, runs whose steps go to workers through a queue (with
 * leases, heartbeats and re-queueing of lost work), local runs reporting in, logs, the shared step
 * cache and schedules. Every run is a tracking run with a child run per step.
 */
export class PipelineService {
  readonly store: PipelineStore;
  readonly #tracking: TrackingService;
  readonly #datasets: DatasetService;
  readonly #log: Logger | undefined;
  readonly #now: () => number;
  readonly #tickMs: number;
  /** `ready`: a step may have become claimable; `log:<run>` / `run:<run>`: new log lines or a state change. */
  readonly #events = new EventEmitter();
  #timer: NodeJS.Timeout | undefined;
  #ticking = false;
  #rounds = 0;

  constructor(opts: PipelineServiceOptions) {
    this.store = opts.store;
    this.#tracking = opts.tracking;
    this.#datasets = opts.datasets;
    this.#log = opts.logger;
    this.#now = opts.now ?? Date.now;
    this.#tickMs = opts.tickMs ?? 500;
    this.#events.setMaxListeners(0);
  }

  /** Starts the background work: re-queueing steps whose worker stopped heartbeating, and firing due schedules. */
  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.tick(), this.#tickMs);
    this.#timer.unref();
  }

  /** Stops the background work and wakes every waiting long poll. */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#events.emit("ready");
  }

  /** One round of background work (also called by tests). */
  async tick(): Promise<void> {
    if (this.#ticking) return;
    this.#ticking = true;
    try {
      await this.requeueExpired();
      await this.fireSchedules();
      // Rare (a crash between a run's last step and its end): checked every 20th round.
      if (++this.#rounds % 20 === 1) await this.finishStaleRuns();
      // A retry waiting out its backoff becomes claimable by time alone.
      const next = await this.store.nextReadyAt(this.#now() - this.#tickMs);
      if (next !== undefined && next <= this.#now()) this.#events.emit("ready");
    } catch (e) {
      this.#log?.error({ err: e }, "pipelines: background work failed");
    } finally {
      this.#ticking = false;
    }
  }

  // ---------- pipelines ----------

  /**
   * Pushes a pipeline: validates the definition (everything but file checks, which the client did
   * against its files), checks the source version exists, creates the pipeline's experiment.
   * @throws CairnError INVALID_PARAMETER_VALUE (definition), RESOURCE_DOES_NOT_EXIST (source version)
   */
  async pushPipeline(req: In<typeof C.PushPipelineRequest>, actor: Actor = {}): Promise<PipelineInfo> {
    const spec = specOf(req.definition, undefined);
    const project = req.tags?.[PROJECT_TAG] ?? DEFAULT_PROJECT;
    // The caller was authorized for `project` only: everything the pipeline touches must be in it.
    const existing = await unlessMissing(this.#tracking.getExperimentByName(experimentName(spec.name)));
    if (existing && projectOf(existing.tags) !== project) throw new CairnError("RESOURCE_ALREADY_EXISTS", `A pipeline named '${spec.name}' exists in another project`);
    if (req.source.dataset !== sourceDatasetOf(spec.name)) throw new CairnError("INVALID_PARAMETER_VALUE", `The source of pipeline '${spec.name}' must be a version of '${sourceDatasetOf(spec.name)}'`);
    await this.#sameProject(req.source.dataset, project, true);
    await this.#sameProject(outputsDatasetOf(spec.name), project, false);
    for (const step of spec.steps) for (const out of step.outs) if (out.dataset) await this.#sameProject(out.dataset, project, false);
    const version = await this.#datasets.getVersion(req.source.dataset, req.source.version);
    await this.#experiment(spec.name, project);
    await this.#ensureDataset(outputsDatasetOf(spec.name), `Step outputs of pipeline ${spec.name} (written by its workers)`, project);
    const row = { name: spec.name, definition: req.definition, source: { dataset: req.source.dataset, version: version.id }, pushedAt: this.#now(), ...(actor.user ? { pushedBy: actor.user } : {}) };
    await this.store.upsertPipeline(row);
    return this.getPipeline(spec.name);
  }

  /** Pushed pipelines and those only known from their runs, by name. `projects`: only those in these projects. */
  async listPipelines(projects?: ReadonlySet<string>): Promise<PipelineInfo[]> {
    const stats = await this.store.runStats();
    const pushed = new Map((await this.store.listPipelines()).map((p) => [p.name, p]));
    const names = [...new Set([...pushed.keys(), ...stats.keys()])].sort();
    const out: PipelineInfo[] = [];
    for (const name of names) {
      const exp = await unlessMissing(this.#tracking.getExperimentByName(experimentName(name)));
      if (projects && !projects.has(exp?.tags[PROJECT_TAG] ?? "default")) continue;
      out.push(this.#info(name, pushed.get(name), stats.get(name), exp?.experimentId));
    }
    return out;
  }

  /** @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async getPipeline(name: string): Promise<PipelineInfo> {
    const row = await this.store.getPipeline(name);
    const stats = (await this.store.runStats()).get(name);
    if (!row && !stats) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Pipeline '${name}' not found`);
    const exp = await unlessMissing(this.#tracking.getExperimentByName(experimentName(name)));
    return this.#info(name, row, stats, exp?.experimentId);
  }

  #info(name: string, row: Awaited<ReturnType<PipelineStore["getPipeline"]>>, stats: { count: number; last: { id: string; status: string; createdAt: number } } | undefined, experimentId: string | undefined): PipelineInfo {
    const info: PipelineInfo = { name, definition: row?.definition ?? {}, runCount: stats?.count ?? 0 };
    if (row?.source) info.source = row.source;
    if (row?.pushedAt !== undefined) info.pushedAt = row.pushedAt;
    if (row?.pushedBy !== undefined) info.pushedBy = row.pushedBy;
    if (experimentId !== undefined) info.experimentId = experimentId;
    if (stats) info.lastRun = stats.last;
    return info;
  }

  /**
   * Refuses a dataset of another project (as if it did not exist, so its project stays hidden).
   * @throws CairnError RESOURCE_DOES_NOT_EXIST when `mustExist` and it is missing or elsewhere; RESOURCE_ALREADY_EXISTS when it exists elsewhere
   */
  async #sameProject(name: string, project: string, mustExist: boolean): Promise<void> {
    const ds = await unlessMissing(this.#datasets.getDataset(name));
    if (ds && projectOf(ds.tags) === project) return;
    if (mustExist) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Dataset '${name}' not found`);
    if (ds) throw new CairnError("RESOURCE_ALREADY_EXISTS", `Dataset '${name}' exists in another project; a pipeline can only write datasets of its own project`);
  }

  /** Creates a dataset unless it exists (a concurrent create is fine). */
  async #ensureDataset(name: string, description: string, project: string | undefined): Promise<void> {
    if (await unlessMissing(this.#datasets.getDataset(name))) return;
    try {
      await this.#datasets.createDataset(C.CreateDatasetRequest.parse({ name, description, tags: project ? { [PROJECT_TAG]: project } : {} }));
    } catch (e) {
      if (!(await unlessMissing(this.#datasets.getDataset(name)))) throw e;
    }
  }

  async #experiment(pipeline: string, project?: string): Promise<string> {
    const name = experimentName(pipeline);
    const found = await unlessMissing(this.#tracking.getExperimentByName(name));
    if (found) return found.experimentId;
    try {
      return (await this.#tracking.createExperiment({ name, tags: project ? { [PROJECT_TAG]: project } : {} })).experimentId;
    } catch (e) {
      // Two pushes at once: the other created it.
      const again = await unlessMissing(this.#tracking.getExperimentByName(name));
      if (again) return again.experimentId;
      throw e;
    }
  }

  // ---------- runs through the queue ----------

  /**
   * Starts a run of a pushed pipeline: resolves it with `params`, records the tracking run and
   * queues the steps that wait for nothing.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST (pipeline, or only run locally), INVALID_PARAMETER_VALUE (params)
   */
  async startRun(name: string, req: In<typeof C.StartRunRequest>, actor: Actor = {}): Promise<PipelineRun> {
    const pipeline = await this.store.getPipeline(name);
    if (!pipeline?.source) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Pipeline '${name}' has not been pushed (cairn pipeline push)`);
    const spec = specOf(pipeline.definition, req.params);
    const trigger: RunTrigger = req.trigger ?? { kind: "api" };
    const now = this.#now();
    const experimentId = await this.#experiment(name);
    const definition = JSON.stringify(spec);
    const tracked = await this.#tracking.createRun({
      experimentId,
      runName: `${name} ${new Date(now).toISOString()}`,
      startTime: now,
      ...(actor.user ? { userId: actor.user } : {}),
      tags: {
        ...(req.tags ?? {}),
        [PIPELINE_TAGS.pipeline]: name,
        [PIPELINE_TAGS.definition]: definition.length > DEFINITION_TAG_MAX ? `${definition.slice(0, DEFINITION_TAG_MAX - 1)}…` : definition,
        "cairn.pipeline.trigger": trigger.detail ? `${trigger.kind}: ${trigger.detail}`.slice(0, 8000) : trigger.kind,
        "cairn.pipeline.mode": "queued",
      },
    });
    const runId = tracked.info.runId;
    const params = Object.entries(spec.params).map(([key, value]) => ({ key, value: String(value).slice(0, 6000) }));
    for (let i = 0; i < params.length; i += 100) await this.#tracking.logBatch(runId, { params: params.slice(i, i + 100) });
    await this.#tracking.uploadRunArtifact(runId, "pipeline.json", Readable.from([Buffer.from(JSON.stringify(spec, null, 2))]));
    const run: RunRow = { id: runId, pipeline: name, status: "queued", mode: "queued", params: spec.params, trigger, spec, source: pipeline.source, createdAt: now, cancelRequested: false };
    await this.store.insertRun(run, this.#stepRows(runId, spec, now));
    this.#events.emit("ready");
    return this.getRun(runId);
  }

  #stepRows(runId: string, spec: PipelineSpec, now: number): StepRow[] {
    return spec.steps.map((s, idx) => {
      const after = afterOf(s);
      const row: StepRow = { runId, name: s.name, idx, status: after.length === 0 ? "ready" : "waiting", after, attempts: 0, maxAttempts: s.retries + 1, resources: s.resources, cache: s.cache, claim: 0 };
      if (after.length === 0) row.readyAt = now;
      return row;
    });
  }

  /** A run with its steps. @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async getRun(id: string): Promise<PipelineRun> {
    const run = await this.store.getRun(id);
    if (!run) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Pipeline run '${id}' not found`);
    const steps = await this.store.getSteps(id);
    return { ...this.#summary(run), steps: steps.map(stepState), spec: run.spec } as PipelineRun;
  }

  #summary(run: RunRow): Omit<PipelineRunSummary, "stepCounts"> {
    const s: Omit<PipelineRunSummary, "stepCounts"> = { id: run.id, pipeline: run.pipeline, status: run.status, mode: run.mode, params: run.params, trigger: run.trigger, createdAt: run.createdAt, cancelRequested: run.cancelRequested };
    if (run.startedAt !== undefined) s.startedAt = run.startedAt;
    if (run.endedAt !== undefined) s.endedAt = run.endedAt;
    if (run.error !== undefined) s.error = run.error;
    if (run.source) s.source = run.source;
    return s;
  }

  /** Runs, newest first, with a count of steps per status. `projects`: only runs of pipelines in these. */
  async listRuns(q: In<typeof C.RunsQuery>, projects?: ReadonlySet<string>): Promise<PipelineRunSummary[]> {
    const runs = await this.store.listRuns({ ...(q.pipeline ? { pipeline: q.pipeline } : {}), ...(q.status ? { status: q.status } : {}), limit: q.limit ?? PIPELINE_LIMITS.runsPageDefault });
    const out: PipelineRunSummary[] = [];
    const projectByPipeline = new Map<string, string>();
    for (const r of runs) {
      if (projects) {
        if (!projectByPipeline.has(r.pipeline)) projectByPipeline.set(r.pipeline, projectOf((await unlessMissing(this.#tracking.getExperimentByName(experimentName(r.pipeline))))?.tags ?? {}));
        if (!projects.has(projectByPipeline.get(r.pipeline)!)) continue;
      }
      const counts: Record<string, number> = {};
      for (const s of await this.store.getSteps(r.id)) counts[s.status] = (counts[s.status] ?? 0) + 1;
      out.push({ ...this.#summary(r), stepCounts: counts });
    }
    return out;
  }

  /**
   * Cancels a run: steps not yet started are cancelled at once; running ones are told to stop at their
   * worker's next heartbeat (SIGTERM, then SIGKILL) and end as cancelled.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST; INVALID_STATE when the run already ended
   */
  async cancelRun(id: string): Promise<PipelineRun> {
    const run = await this.store.getRun(id);
    if (!run) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Pipeline run '${id}' not found`);
    if (run.status === "succeeded" || run.status === "failed" || run.status === "cancelled") throw new CairnError("INVALID_STATE", `Pipeline run '${id}' already ended (${run.status})`);
    const now = this.#now();
    const ended = await this.store.tx(async (s) => {
      await s.updateRun(id, { cancelRequested: true });
      await s.updateStepsWhere(id, ["waiting", "ready"], { status: "cancelled", error: "cancelled", endedAt: now, token: null });
      return this.#advance(s, id);
    });
    await this.#afterAdvance(ended);
    this.#events.emit(`run:${id}`);
    return this.getRun(id);
  }

  /**
   * Resumes a failed or cancelled run (after a fix, or after a server outage): its failed, skipped and
   * cancelled steps are queued again; steps that finished keep their results.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST; INVALID_STATE when the run is still going or succeeded, or ran locally
   */
  async resumeRun(id: string): Promise<PipelineRun> {
    const run = await this.store.getRun(id);
    if (!run) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Pipeline run '${id}' not found`);
    if (run.mode !== "queued") throw new CairnError("INVALID_STATE", `Pipeline run '${id}' ran locally: run it again with cairn run (unchanged steps come from the cache)`);
    if (run.status !== "failed" && run.status !== "cancelled") throw new CairnError("INVALID_STATE", `Only a failed or cancelled run can be resumed; '${id}' is ${run.status}`);
    const ended = await this.store.tx(async (s) => {
      await s.updateRun(id, { status: "running", cancelRequested: false, endedAt: null, error: null });
      await s.updateStepsWhere(id, ["failed", "timeout", "oom", "skipped", "cancelled"], {
        status: "waiting",
        attempts: 0,
        error: null,
        logTail: null,
        endedAt: null,
        startedAt: null,
        durationMs: null,
        workerId: null,
        token: null,
        claim: 0,
      });
      return this.#advance(s, id);
    });
    await this.#tracking.updateRun(id, { status: "RUNNING" }).catch((e) => this.#warn(e, "resume: tracking"));
    await this.#afterAdvance(ended);
    this.#events.emit("ready");
    return this.getRun(id);
  }

  /**
   * Reads a run's log lines after `after`; with `waitMs`, waits for new ones while the run goes on.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST
   */
  async getLogs(id: string, q: In<typeof C.LogsQuery>, signal?: AbortSignal): Promise<LogsPage> {
    const limit = q.limit ?? PIPELINE_LIMITS.logsPageDefault;
    const after = q.after ?? 0;
    const deadline = this.#now() + (q.waitMs ?? 0);
    for (;;) {
      const run = await this.store.getRun(id);
      if (!run) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Pipeline run '${id}' not found`);
      const ended = run.status === "succeeded" || run.status === "failed" || run.status === "cancelled";
      const entries = await this.store.readLogs(id, { ...(q.step ? { step: q.step } : {}), after, limit });
      const left = deadline - this.#now();
      if (entries.length > 0 || ended || left <= 0 || signal?.aborted) {
        return { entries, next: entries.length > 0 ? entries[entries.length - 1]!.seq : after, done: ended && entries.length < limit };
      }
      await this.#wait([`log:${id}`, `run:${id}`], Math.min(left, 1000), signal);
    }
  }

  /** Resolves on one of these events, after `ms`, or when `signal` aborts. */
  #wait(events: string[], ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        for (const e of events) this.#events.off(e, done);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      for (const e of events) this.#events.once(e, done);
      signal?.addEventListener("abort", done, { once: true });
    });
  }

  // ---------- local runs reporting in ----------

  /**
   * Records a run that `cairn run` executes on its own machine, so the UI and `cairn logs` follow it.
   * The id is its (existing) tracking run's.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST (tracking run), INVALID_STATE (the id is a queued run)
   */
  async reportLocalRun(id: string, req: In<typeof C.ReportLocalRunRequest>): Promise<PipelineRun> {
    const info = await this.#tracking.getRunInfo(id);
    const existing = await this.store.getRun(id);
    if (existing && existing.mode !== "local") throw new CairnError("INVALID_STATE", `Pipeline run '${id}' runs through the queue; it cannot be reported as local`);
    // The run must be recorded in the pipeline's own experiment, so a report cannot land in another pipeline (project).
    const exp = await this.#tracking.getExperiment(info.experimentId);
    if (exp.name !== experimentName(req.spec.name)) throw new CairnError("INVALID_PARAMETER_VALUE", `Run '${id}' is not in experiment '${experimentName(req.spec.name)}'`);
    const names = new Set<string>();
    for (const st of req.spec.steps) {
      if (names.has(st.name)) throw new CairnError("INVALID_PARAMETER_VALUE", `Step '${st.name}' appears twice`);
      names.add(st.name);
    }
    if (!existing) {
      const now = this.#now();
      const run: RunRow = { id, pipeline: req.spec.name, status: "running", mode: "local", params: req.params, trigger: req.trigger ?? { kind: "local" }, spec: req.spec, createdAt: now, startedAt: now, cancelRequested: false };
      const steps = this.#stepRows(id, req.spec, now).map((s) => ({ ...s, status: "waiting" as const }));
      await this.store.insertRun(run, steps);
    }
    this.#events.emit(`run:${id}`);
    return this.getRun(id);
  }

  async #localRun(id: string): Promise<RunRow> {
    const run = await this.store.getRun(id);
    if (!run) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Pipeline run '${id}' not found`);
    if (run.mode !== "local") throw new CairnError("INVALID_STATE", `Pipeline run '${id}' runs through the queue; only its workers report on it`);
    return run;
  }

  /** A local run's step changed state. @throws CairnError RESOURCE_DOES_NOT_EXIST, INVALID_STATE */
  async reportLocalStep(id: string, req: In<typeof C.ReportStepRequest>): Promise<void> {
    await this.#localRun(id);
    const { step, ...rest } = req;
    const patch: Parameters<PipelineStore["updateStep"]>[2] = { status: rest.status };
    for (const k of ["attempts", "gpus", "startedAt", "endedAt", "durationMs", "error", "logTail", "cacheKey", "cacheReason", "outputs"] as const) {
      if (rest[k] !== undefined) (patch as Record<string, unknown>)[k] = rest[k];
    }
    if (rest.runId !== undefined) patch.stepRunId = rest.runId;
    if (!(await this.store.updateStep(id, step, patch))) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Pipeline run '${id}' has no step '${step}'`);
    this.#events.emit(`run:${id}`);
  }

  /** Appends a local run's log lines. @throws CairnError RESOURCE_DOES_NOT_EXIST, INVALID_STATE */
  async appendLocalLogs(id: string, req: In<typeof C.AppendLogsRequest>): Promise<void> {
    await this.#localRun(id);
    await this.store.appendLogs(id, req.lines, this.#now());
    this.#events.emit(`log:${id}`);
  }

  /** A local run ended. @throws CairnError RESOURCE_DOES_NOT_EXIST, INVALID_STATE */
  async finishLocalRun(id: string, req: In<typeof C.FinishLocalRunRequest>): Promise<void> {
    await this.#localRun(id);
    await this.store.updateRun(id, { status: req.status, endedAt: this.#now(), ...(req.error ? { error: req.error } : {}) });
    this.#events.emit(`run:${id}`);
    this.#events.emit(`log:${id}`);
  }

  // ---------- workers ----------

  /** Registers a worker (a new id each start). */
  async registerWorker(req: In<typeof C.RegisterWorkerRequest>): Promise<WorkerInfo> {
    const now = this.#now();
    const w: WorkerRow = { id: randomBytes(12).toString("hex"), name: req.name, resources: req.resources, leaseMs: req.leaseMs ?? PIPELINE_LIMITS.leaseMsDefault, registeredAt: now, lastSeenAt: now };
    if (req.host) w.host = req.host;
    await this.store.upsertWorker(w);
    return this.#workerInfo(w, []);
  }

  /** Workers, each with its state and the steps it runs. */
  async listWorkers(): Promise<WorkerInfo[]> {
    const running = await this.store.runningSteps();
    return (await this.store.listWorkers()).map((w) => this.#workerInfo(w, running.filter((s) => s.workerId === w.id)));
  }

  #workerInfo(w: WorkerRow, running: StepRow[]): WorkerInfo {
    const lost = this.#now() - w.lastSeenAt > w.leaseMs;
    const info: WorkerInfo = { id: w.id, name: w.name, resources: w.resources, leaseMs: w.leaseMs, registeredAt: w.registeredAt, lastSeenAt: w.lastSeenAt, state: lost ? "lost" : running.length > 0 ? "busy" : "idle", running: running.map((s) => ({ runId: s.runId, step: s.name })) };
    if (w.host) info.host = w.host;
    return info;
  }

  async #worker(id: string): Promise<WorkerRow> {
    const w = await this.store.getWorker(id);
    if (!w) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Worker '${id}' not found (register again)`);
    return w;
  }

  /**
   * Claims a ready step that fits `free` for this worker, waiting up to `waitMs` for one. The step's
   * tracking run is created on its first claim.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST (unknown worker)
   */
  async claim(workerId: string, req: In<typeof C.ClaimRequest>, signal?: AbortSignal): Promise<ClaimedTask | null> {
    const worker = await this.#worker(workerId);
    const deadline = this.#now() + (req.waitMs ?? 0);
    for (;;) {
      if (signal?.aborted) return null;
      const now = this.#now();
      await this.store.touchWorker(workerId, now);
      const token = randomBytes(16).toString("hex");
      const step = await this.store.claimStep(req.free, now, { workerId, token, leaseUntil: now + worker.leaseMs });
      if (step) {
        try {
          return await this.#task(step, token, worker);
        } catch (e) {
          // Give the step back rather than leave it held by a worker that never hears of it.
          await this.store.updateStep(step.runId, step.name, { status: "ready", readyAt: this.#now(), token: null, leaseUntil: null, workerId: null, claim: Math.max(0, step.claim - 1) }, { status: ["running"], token });
          this.#events.emit("ready");
          throw e;
        }
      }
      const left = deadline - this.#now();
      if (left <= 0 || signal?.aborted || !this.#timer) return null;
      // Woken at once by a step becoming ready on this server; the timeout covers other servers and backoffs.
      await this.#wait(["ready"], Math.min(left, 1000), signal);
    }
  }

  async #task(step: StepRow, token: string, worker: WorkerRow): Promise<ClaimedTask> {
    const run = (await this.store.getRun(step.runId))!;
    const spec = run.spec.steps[step.idx]!;
    let stepRunId = step.stepRunId;
    if (!stepRunId) {
      const child = await this.#tracking.createRun({
        experimentId: (await this.#tracking.getRunInfo(run.id)).experimentId,
        runName: step.name,
        startTime: this.#now(),
        tags: { [PIPELINE_TAGS.parent]: run.id, [PIPELINE_TAGS.step]: step.name, [PIPELINE_TAGS.pipeline]: run.pipeline },
      });
      stepRunId = child.info.runId;
      const params = spec.params.filter((p) => p in run.params).map((p) => ({ key: p, value: String(run.params[p]).slice(0, 6000) }));
      if (params.length > 0) await this.#tracking.logBatch(stepRunId, { params: params.slice(0, 100) });
      await this.store.updateStep(step.runId, step.name, { stepRunId });
    }
    if (run.status === "queued") {
      await this.store.updateRun(run.id, { status: "running", startedAt: this.#now() });
      this.#events.emit(`run:${run.id}`);
    }
    await this.store.appendLogs(run.id, [{ step: step.name, attempt: Math.max(1, step.attempts), stream: "stderr", text: `cairn: claimed by worker ${worker.name} (${worker.id}), claim ${step.claim}` }], this.#now());
    const upstream: ClaimedTask["upstream"] = [];
    for (const name of step.after) {
      const up = await this.store.getStep(run.id, name);
      if (up?.outVersion) upstream.push({ step: name, dataset: outputsDatasetOf(run.pipeline), version: up.outVersion, digests: up.outputs ?? {} });
    }
    const task: ClaimedTask = {
      id: taskIdOf(step),
      token,
      runId: run.id,
      pipeline: run.pipeline,
      step: spec,
      params: run.params,
      claim: step.claim,
      leaseMs: worker.leaseMs,
      upstream,
      outputsDataset: outputsDatasetOf(run.pipeline),
      stepRunId,
    };
    if (run.source) task.source = run.source;
    return task;
  }

  /**
   * Renews the leases of the steps a worker holds; answers which to stop (cancelled runs) and which
   * it no longer holds (their lease ran out and they were queued again).
   * @throws CairnError RESOURCE_DOES_NOT_EXIST (unknown worker)
   */
  async heartbeat(workerId: string, req: In<typeof C.HeartbeatRequest>): Promise<{ cancel: string[]; lost: string[] }> {
    const worker = await this.#worker(workerId);
    const now = this.#now();
    await this.store.touchWorker(workerId, now);
    const held: { id: string; runId: string; name: string; token: string }[] = [];
    const lost: string[] = [];
    for (const t of req.tasks) {
      const { runId, idx } = parseTaskId(t.id);
      const run = await this.store.getRun(runId);
      const name = run?.spec.steps[idx]?.name;
      if (name === undefined) lost.push(t.id);
      else held.push({ id: t.id, runId, name, token: t.token });
    }
    const renewed = await this.store.renewLeases(held, now + worker.leaseMs);
    const cancel: string[] = [];
    for (const h of held) {
      if (!renewed.has(`${h.runId}/${h.name}`)) lost.push(h.id);
      else if ((await this.store.getRun(h.runId))?.cancelRequested) cancel.push(h.id);
    }
    return { cancel, lost };
  }

  /** The step behind a task, when `token` still holds its claim. @throws CairnError ABORTED when it does not */
  async #held(taskId: string, token: string): Promise<{ run: RunRow; step: StepRow }> {
    const { runId, idx } = parseTaskId(taskId);
    const run = await this.store.getRun(runId);
    const name = run?.spec.steps[idx]?.name;
    const step = name === undefined ? undefined : await this.store.getStep(runId, name);
    if (!run || !step) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Task '${taskId}' not found`);
    if (step.status !== "running" || step.token !== token) throw new CairnError("ABORTED", `Task '${taskId}' is no longer held by this claim (it was queued again or ended); drop its results`);
    return { run, step };
  }

  /** A claimed step started an attempt, looked up the cache, or sampled its GPUs. @throws CairnError ABORTED, RESOURCE_DOES_NOT_EXIST */
  async taskEvent(taskId: string, req: In<typeof C.TaskEventRequest>): Promise<void> {
    const { run, step } = await this.#held(taskId, req.token);
    const e = req.event;
    if (e.type === "started") {
      await this.store.updateStep(run.id, step.name, { attempts: e.attempt, gpus: e.gpus, ...(step.startedAt === undefined ? { startedAt: this.#now() } : {}) }, { token: req.token });
      if (e.attempt > 1) await this.store.appendLogs(run.id, [{ step: step.name, attempt: e.attempt, stream: "stderr", text: `cairn: attempt ${e.attempt}/${step.maxAttempts}` }], this.#now());
    } else if (e.type === "cache") {
      await this.store.updateStep(run.id, step.name, { ...(e.key ? { cacheKey: e.key } : {}), ...(e.reason ? { cacheReason: e.reason } : {}) }, { token: req.token });
    } else if (step.stepRunId) {
      const ts = this.#now();
      const metrics = e.samples.flatMap((s) => [
        { key: `system/gpu_${s.index}_utilization`, value: s.utilization, timestamp: ts, step: 0 },
        { key: `system/gpu_${s.index}_memory_mb`, value: s.memoryUsedMb, timestamp: ts, step: 0 },
      ]);
      await this.#tracking.logBatch(step.stepRunId, { metrics });
    }
    this.#events.emit(`run:${run.id}`);
  }

  /** Appends a claimed step's log lines. @throws CairnError ABORTED, RESOURCE_DOES_NOT_EXIST */
  async taskLogs(taskId: string, req: In<typeof C.TaskLogsRequest>): Promise<void> {
    const { run } = await this.#held(taskId, req.token);
    await this.store.appendLogs(run.id, req.lines, this.#now());
    this.#events.emit(`log:${run.id}`);
  }

  /**
   * Finishes a claimed step. On success its outputs become a version of the pipeline's outputs
   * dataset (and of each `dataset:` output's dataset), its cache entry is saved, and the steps
   * after it become ready. Only the claim holding the step is accepted, so a step's outputs are
   * recorded exactly once even when a lost worker reports late.
   * @throws CairnError ABORTED (the claim was lost: drop the results), RESOURCE_DOES_NOT_EXIST, INVALID_PARAMETER_VALUE
   */
  async completeTask(taskId: string, req: In<typeof C.CompleteTaskRequest>): Promise<void> {
    const { run, step } = await this.#held(taskId, req.token);
    if (req.status === "released") {
      // A stopping worker gives the step back: queued again at once, and the claim does not count.
      const back = await this.store.updateStep(run.id, step.name, { status: "ready", readyAt: this.#now(), token: null, leaseUntil: null, workerId: null, claim: Math.max(0, step.claim - 1) }, { status: ["running"], token: req.token });
      if (!back) throw new CairnError("ABORTED", `Task '${taskId}' is no longer held by this claim`);
      await this.store.appendLogs(run.id, [{ step: step.name, attempt: Math.max(1, step.attempts), stream: "stderr", text: "cairn: its worker stopped and gave it back; queued again" }], this.#now());
      this.#events.emit("ready");
      this.#events.emit(`run:${run.id}`);
      return;
    }
    const spec = run.spec.steps[step.idx]!;
    const now = this.#now();
    let outVersion: string | undefined;
    let digests: Record<string, string> | undefined;
    if (req.status === "cached") {
      const entry = req.cacheKey ? await this.store.getCache(cacheRowKey(run.pipeline, req.cacheKey)) : undefined;
      if (!entry || (req.cachedVersion !== undefined && entry.version !== req.cachedVersion)) throw new CairnError("INVALID_PARAMETER_VALUE", `No step cache entry ${req.cacheKey ?? "(no key)"} to restore '${step.name}' from`);
      outVersion = entry.version;
      digests = entry.digests;
    } else if (req.status === "succeeded") {
      if (!req.outputs) throw new CairnError("INVALID_PARAMETER_VALUE", `A succeeded step must send its outputs`);
      for (const out of spec.outs) {
        if (!(out.path in req.outputs.digests)) throw new CairnError("INVALID_PARAMETER_VALUE", `The outputs lack '${out.path}' of step '${step.name}'`);
      }
      const version = await this.#datasets.createVersion(outputsDatasetOf(run.pipeline), versionRequest(req.outputs.files, `${run.pipeline} ${step.name} (run ${run.id})`, step.stepRunId), PIPELINE_ACTOR);
      outVersion = version.id;
      digests = req.outputs.digests;
    }
    const status: StepRunStatus = req.status;
    const patch: Parameters<PipelineStore["updateStep"]>[2] = {
      status,
      attempts: req.attempts,
      endedAt: now,
      durationMs: req.durationMs,
      token: null,
      leaseUntil: null,
      ...(req.error !== undefined ? { error: req.error } : {}),
      ...(req.logTail !== undefined ? { logTail: tail(req.logTail) } : {}),
      ...(req.cacheKey !== undefined ? { cacheKey: req.cacheKey } : {}),
      ...(outVersion !== undefined ? { outVersion } : {}),
      ...(digests !== undefined ? { outputs: digests } : {}),
    };
    const ended = await this.store.tx(async (s) => {
      if (!(await s.updateStep(run.id, step.name, patch, { status: ["running"], token: req.token }))) {
        throw new CairnError("ABORTED", `Task '${taskId}' is no longer held by this claim; its results were dropped`);
      }
      if (status === "succeeded" && step.cache && req.cacheKey && outVersion && digests) {
        await s.putCache({ key: cacheRowKey(run.pipeline, req.cacheKey), pipeline: run.pipeline, step: step.name, dataset: outputsDatasetOf(run.pipeline), version: outVersion, digests, runId: step.stepRunId ?? run.id, createdAt: now });
      }
      return this.#advance(s, run.id);
    });
    if (status === "succeeded" && req.outputs) await this.#registerDatasetOutputs(run, step, spec, req.outputs.files);
    await this.#finishStepRun(run, { ...step, ...patch, status } as StepRow, req.cacheComponents);
    await this.#afterAdvance(ended);
    this.#events.emit(`run:${run.id}`);
    this.#events.emit(`log:${run.id}`);
    this.#events.emit("ready");
  }

  /** `dataset:` outputs become versions of their datasets (created when missing), made by the step's run. */
  async #registerDatasetOutputs(run: RunRow, step: StepRow, spec: PipelineSpec["steps"][number], files: In<typeof C.ManifestEntry>[]): Promise<void> {
    for (const out of spec.outs) {
      if (!out.dataset) continue;
      const prefix = `${out.path}/`;
      const mine = files.flatMap((f) => (f.path === out.path ? [{ ...f, path: out.path.split("/").pop()! }] : f.path.startsWith(prefix) ? [{ ...f, path: f.path.slice(prefix.length) }] : []));
      try {
        const exp = await unlessMissing(this.#tracking.getExperimentByName(experimentName(run.pipeline)));
        const project = projectOf(exp?.tags ?? {});
        const ds = await unlessMissing(this.#datasets.getDataset(out.dataset));
        // Created in another project since the push: a pipeline writes only its own project's datasets.
        if (ds && projectOf(ds.tags) !== project) throw new CairnError("PERMISSION_DENIED", `dataset ${out.dataset} is in another project than pipeline ${run.pipeline}`);
        if (!ds) await this.#ensureDataset(out.dataset, `Output ${out.path} of pipeline ${run.pipeline}`, project);
        await this.#datasets.createVersion(out.dataset, versionRequest(mine, `${run.pipeline}/${step.name} (run ${run.id})`, step.stepRunId), PIPELINE_ACTOR);
      } catch (e) {
        this.#warn(e, `registering ${out.path} as dataset ${out.dataset}`);
        await this.store.appendLogs(run.id, [{ step: step.name, attempt: Math.max(1, step.attempts), stream: "stderr", text: `cairn: warning: could not register ${out.path} as a version of dataset ${out.dataset}: ${(e as Error).message}` }], this.#now());
      }
    }
  }

  /** The step's tracking run gets its final tags, duration, log artifact and status. */
  async #finishStepRun(run: RunRow, step: StepRow, components?: { name: string; value: string; hash: string }[]): Promise<void> {
    if (!step.stepRunId) return;
    const id = step.stepRunId;
    try {
      const tags = [
        { key: PIPELINE_TAGS.stepStatus, value: step.status },
        { key: PIPELINE_TAGS.attempts, value: String(step.attempts) },
        { key: PIPELINE_TAGS.cache, value: !step.cache ? "off" : step.status === "cached" ? "hit" : "miss" },
        ...(step.cacheReason ? [{ key: PIPELINE_TAGS.cacheReason, value: step.cacheReason.slice(0, 8000) }] : []),
        ...(step.error ? [{ key: PIPELINE_TAGS.error, value: step.error.slice(0, 8000) }] : []),
        ...(step.workerId ? [{ key: "cairn.step.worker", value: step.workerId }] : []),
      ];
      await this.#tracking.logBatch(id, { tags, metrics: [{ key: "duration_s", value: (step.durationMs ?? 0) / 1000, timestamp: this.#now(), step: 0 }] });
      const lines: string[] = [];
      let chars = 0;
      for (let after = 0; ; ) {
        const page = await this.store.readLogs(run.id, { step: step.name, after, limit: 5000 });
        for (const l of page) {
          lines.push(l.text);
          chars += l.text.length + 1;
        }
        // The artifact keeps the first 64 MiB of a step's log; the rest stays readable through the logs API.
        if (page.length < 5000 || chars > LOG_ARTIFACT_MAX_CHARS) break;
        after = page[page.length - 1]!.seq;
      }
      if (lines.length > 0) await this.#tracking.uploadRunArtifact(id, `logs/${step.name}.log`, Readable.from([Buffer.from(`${lines.join("\n")}\n`)]));
      if (components) await this.#tracking.uploadRunArtifact(id, "cache-key.json", Readable.from([Buffer.from(JSON.stringify({ key: step.cacheKey, components }, null, 2))]));
      await this.#tracking.updateRun(id, { status: runStatusOf(step.status as ExecutorStepStatus), endTime: this.#now() });
    } catch (e) {
      this.#warn(e, `tracking for step ${step.name}`);
    }
  }

  /**
   * Moves a run on after a change: waiting steps whose inputs all succeeded become ready, those
   * after a failure are skipped; when every step is done the run ends. Runs inside the caller's
   * transaction; returns the run when it just ended.
   */
  async #advance(s: PipelineStore, runId: string, recover = false): Promise<RunRow | undefined> {
    // Completions of sibling steps take turns, so the last one sees the others done (fan-in).
    await s.lockRun(runId);
    const run = await s.getRun(runId);
    if (!run) return undefined;
    const steps = await s.getSteps(runId);
    const byName = new Map(steps.map((x) => [x.name, x]));
    const now = this.#now();
    let changed = true;
    let readied = false;
    while (changed) {
      changed = false;
      for (const st of steps) {
        if (st.status !== "waiting") continue;
        const ups = st.after.map((a) => byName.get(a)!).filter(Boolean);
        const bad = ups.find((u) => FAILED.has(u.status) || u.status === "skipped" || u.status === "cancelled");
        if (bad) {
          const cause = bad.status === "skipped" ? (bad.error?.replace(/^skipped: /, "") ?? bad.name) : `${bad.name} ${bad.status}`;
          st.status = run.cancelRequested ? "cancelled" : "skipped";
          st.error = run.cancelRequested ? "cancelled" : `skipped: ${cause}`;
          await s.updateStep(runId, st.name, { status: st.status, error: st.error, endedAt: now }, { status: ["waiting"] });
          changed = true;
        } else if (ups.every((u) => OK.has(u.status)) && !run.cancelRequested) {
          st.status = "ready";
          await s.updateStep(runId, st.name, { status: "ready", readyAt: now }, { status: ["waiting"] });
          changed = true;
          readied = true;
        }
      }
    }
    if (readied) this.#events.emit("ready");
    if (run.status === "succeeded" || run.status === "failed" || run.status === "cancelled") return undefined;
    if (!steps.every((x) => DONE.has(x.status))) return undefined;
    // One caller ends the run; `recover` takes over an ending that a crash interrupted.
    if (!recover && !(await s.markRunEnding(runId, now))) return undefined;
    const failed = steps.find((x) => FAILED.has(x.status));
    const status = run.cancelRequested || steps.some((x) => x.status === "cancelled") ? "cancelled" : failed ? "failed" : "succeeded";
    const error = failed ? `step ${failed.name} ${failed.status}${failed.error ? `: ${failed.error}` : ""}` : undefined;
    return { ...run, status, endedAt: now, ...(error ? { error: error.slice(0, 65536) } : {}) };
  }

  /**
   * After every step of a run is done: its tracking run is ended first, then the run itself, so a
   * run seen as ended is fully recorded. A crash in between leaves the run going with every step
   * done; the background work ends it (see {@link finishStaleRuns}).
   */
  async #afterAdvance(ended: RunRow | undefined): Promise<void> {
    if (!ended) return;
    await this.#recordEnd(ended);
    await this.store.updateRun(ended.id, { status: ended.status, endedAt: ended.endedAt ?? this.#now(), ...(ended.error ? { error: ended.error } : {}) });
    this.#events.emit(`run:${ended.id}`);
    this.#events.emit(`log:${ended.id}`);
  }

  /** Ends runs whose steps are all done but that were not ended (a crash between the two). */
  async finishStaleRuns(): Promise<number> {
    let n = 0;
    const now = this.#now();
    for (const status of ["running", "queued"] as const) {
      for (const run of await this.store.listRuns({ status, limit: PIPELINE_LIMITS.runsPageMax })) {
        if (run.mode !== "queued") continue;
        // An ending under way (ended_at set) is left a minute to finish before it is taken over.
        if (run.endedAt !== undefined && now - run.endedAt < 60_000) continue;
        const ended = await this.store.tx((s) => this.#advance(s, run.id, run.endedAt !== undefined));
        if (ended) {
          await this.#afterAdvance(ended);
          n += 1;
        }
      }
    }
    return n;
  }

  async #recordEnd(ended: RunRow): Promise<void> {
    try {
      await this.#tracking.logBatch(ended.id, {
        tags: [{ key: PIPELINE_TAGS.status, value: ended.status }],
        metrics: [{ key: "duration_s", value: ((ended.endedAt ?? this.#now()) - (ended.startedAt ?? ended.createdAt)) / 1000, timestamp: this.#now(), step: 0 }],
      });
      await this.#tracking.updateRun(ended.id, { status: ended.status === "succeeded" ? "FINISHED" : ended.status === "failed" ? "FAILED" : "KILLED", endTime: ended.endedAt ?? this.#now() });
    } catch (e) {
      this.#warn(e, `tracking for run ${ended.id}`);
    }
  }

  /**
   * Steps whose worker stopped heartbeating for a whole lease are queued again (another worker
   * takes them), up to {@link MAX_CLAIMS} claims; then they fail. A cancelled run's are cancelled.
   */
  async requeueExpired(): Promise<number> {
    const now = this.#now();
    let n = 0;
    for (const st of await this.store.expiredLeases(now)) {
      const run = await this.store.getRun(st.runId);
      const giveUp = st.claim >= MAX_CLAIMS;
      const status: StepRunStatus = run?.cancelRequested ? "cancelled" : giveUp ? "failed" : "ready";
      const note = run?.cancelRequested
        ? "cancelled (its worker stopped answering)"
        : giveUp
          ? `its worker stopped answering ${st.claim} times; giving up`
          : `its worker (${st.workerId ?? "?"}) stopped heartbeating; queued again`;
      let moved = false;
      const ended = await this.store.tx(async (s) => {
        const patch = status === "ready" ? { status, readyAt: now, token: null, leaseUntil: null, workerId: null } : { status, error: note, endedAt: now, token: null, leaseUntil: null };
        if (!(await s.updateStep(st.runId, st.name, patch, { status: ["running"], ...(st.token ? { token: st.token } : {}) }))) return undefined;
        moved = true;
        n += 1;
        await s.appendLogs(st.runId, [{ step: st.name, attempt: Math.max(1, st.attempts), stream: "stderr", text: `cairn: ${note}` }], now);
        return this.#advance(s, st.runId);
      });
      // The worker's completion may have won the race: then its result stands.
      if (moved && status !== "ready" && run) await this.#finishStepRun(run, { ...st, status, error: note });
      await this.#afterAdvance(ended);
      this.#events.emit(`log:${st.runId}`);
      this.#events.emit(`run:${st.runId}`);
    }
    if (n > 0) this.#events.emit("ready");
    return n;
  }

  /**
   * A pipeline's step cache entry. Entries are per pipeline: a key names inputs, and the outputs
   * live in that pipeline's outputs dataset (and project).
   * @throws CairnError RESOURCE_DOES_NOT_EXIST
   */
  async cacheEntry(pipeline: string, key: string): Promise<In<typeof C.CacheEntryInfo>> {
    const e = await this.store.getCache(cacheRowKey(pipeline, key));
    if (!e) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `No step cache entry ${key} for pipeline '${pipeline}'`);
    return { ...e, key };
  }

  // ---------- schedules ----------

  /**
   * Schedules a pushed pipeline: a cron, a dataset trigger (a new version of `onDataset` starts a
   * run), or both.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST (pipeline not pushed, dataset), INVALID_PARAMETER_VALUE (cron, timezone, params, neither trigger)
   */
  async createSchedule(pipeline: string, req: In<typeof C.ScheduleInput>): Promise<Schedule> {
    const p = await this.store.getPipeline(pipeline);
    if (!p?.source) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Pipeline '${pipeline}' has not been pushed (cairn pipeline push)`);
    if (!req.cron && !req.onDataset) throw new CairnError("INVALID_PARAMETER_VALUE", "A schedule needs a cron, a dataset trigger (onDataset), or both");
    if ((await this.store.listSchedules(pipeline)).length >= PIPELINE_LIMITS.schedulesPerPipeline) throw new CairnError("RESOURCE_EXHAUSTED", `Pipeline '${pipeline}' has ${PIPELINE_LIMITS.schedulesPerPipeline} schedules already`);
    specOf(p.definition, req.params);
    const timezone = req.timezone ?? "UTC";
    if (req.cron) validateCron(req.cron, timezone);
    const now = this.#now();
    const row: ScheduleRow = { id: randomBytes(8).toString("hex"), pipeline, timezone, params: req.params ?? {}, enabled: req.enabled ?? true, createdAt: now };
    if (req.cron) {
      row.cron = req.cron;
      const next = nextCronRun(req.cron, timezone, now);
      if (next !== undefined) row.nextRunAt = next;
    }
    if (req.onDataset) {
      row.onDataset = req.onDataset;
      await this.#datasets.getDataset(req.onDataset);
      // Only versions made from now on trigger: the current one is the baseline.
      const latest = await unlessMissing(this.#datasets.getVersion(req.onDataset, "latest"));
      if (latest) row.lastDatasetVersion = latest.id;
    }
    await this.store.insertSchedule(row);
    return scheduleOf(row);
  }

  /** Schedules of one pipeline, or all; `projects`: only those of pipelines in these projects. */
  async listSchedules(pipeline?: string, projects?: ReadonlySet<string>): Promise<Schedule[]> {
    const rows = await this.store.listSchedules(pipeline);
    if (!projects) return rows.map(scheduleOf);
    const allowed = new Map<string, boolean>();
    const out: Schedule[] = [];
    for (const r of rows) {
      if (!allowed.has(r.pipeline)) {
        const exp = await unlessMissing(this.#tracking.getExperimentByName(experimentName(r.pipeline)));
        allowed.set(r.pipeline, exp !== undefined && projects.has(projectOf(exp.tags)));
      }
      if (allowed.get(r.pipeline)) out.push(scheduleOf(r));
    }
    return out;
  }

  /** Changes a schedule. @throws CairnError RESOURCE_DOES_NOT_EXIST, INVALID_PARAMETER_VALUE */
  async updateSchedule(pipeline: string, id: string, req: In<typeof C.ScheduleInput>): Promise<Schedule> {
    const s = await this.store.getSchedule(id);
    if (!s || s.pipeline !== pipeline) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Schedule '${id}' of pipeline '${pipeline}' not found`);
    const p = await this.store.getPipeline(pipeline);
    if (req.params && p) specOf(p.definition, req.params);
    const cron = req.cron ?? s.cron;
    const timezone = req.timezone ?? s.timezone;
    if (cron) validateCron(cron, timezone);
    if (req.onDataset) await this.#datasets.getDataset(req.onDataset);
    const patch: Parameters<PipelineStore["updateSchedule"]>[1] = {};
    if (req.cron !== undefined) patch.cron = req.cron;
    if (req.timezone !== undefined) patch.timezone = req.timezone;
    if (req.onDataset !== undefined) patch.onDataset = req.onDataset;
    if (req.params !== undefined) patch.params = req.params;
    if (req.enabled !== undefined) patch.enabled = req.enabled;
    if (cron && (req.cron !== undefined || req.timezone !== undefined || (req.enabled === true && !s.enabled))) patch.nextRunAt = nextCronRun(cron, timezone, this.#now()) ?? null;
    await this.store.updateSchedule(id, patch);
    return scheduleOf((await this.store.getSchedule(id))!);
  }

  /** Deletes a schedule. @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async deleteSchedule(pipeline: string, id: string): Promise<void> {
    const s = await this.store.getSchedule(id);
    if (!s || s.pipeline !== pipeline || !(await this.store.deleteSchedule(id))) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Schedule '${id}' of pipeline '${pipeline}' not found`);
  }

  /**
   * Starts the runs due now: crons whose next time passed, and dataset triggers whose dataset has a
   * newer latest version. Each firing first moves the schedule on with a compare-and-set, so of
   * several servers sharing a database only one starts the run. A missed cron fires once, not once
   * per missed time.
   */
  async fireSchedules(): Promise<number> {
    const now = this.#now();
    let fired = 0;
    for (const s of await this.store.listSchedules()) {
      if (!s.enabled) continue;
      if (s.cron && s.nextRunAt !== undefined && s.nextRunAt <= now) {
        const next = nextCronRun(s.cron, s.timezone, now) ?? null;
        // One run of a schedule at a time: a firing while the last run still goes is skipped, not queued.
        const last = s.lastRunId ? await this.store.getRun(s.lastRunId) : undefined;
        const busy = last !== undefined && (last.status === "queued" || last.status === "running");
        if (await this.store.updateSchedule(s.id, { nextRunAt: next, ...(busy ? {} : { lastRunAt: now }) }, { nextRunAt: s.nextRunAt })) {
          if (!busy) fired += await this.#fire(s, { kind: "schedule", detail: `${s.id} (${s.cron})` });
        }
      }
      if (s.onDataset) {
        const latest = await unlessMissing(this.#datasets.getVersion(s.onDataset, "latest"));
        if (latest && latest.id !== s.lastDatasetVersion) {
          // A version this pipeline wrote (a `dataset:` output) does not start it again: that would loop.
          const own = latest.sourceRunId !== undefined && (await unlessMissing(this.#tracking.getRun(latest.sourceRunId)))?.data.tags[PIPELINE_TAGS.pipeline] === s.pipeline;
          if (await this.store.updateSchedule(s.id, { lastDatasetVersion: latest.id, ...(own ? {} : { lastRunAt: now }) }, { lastDatasetVersion: s.lastDatasetVersion ?? null })) {
            if (!own) fired += await this.#fire(s, { kind: "dataset", detail: `${s.onDataset}@v${latest.number}` });
          }
        }
      }
    }
    return fired;
  }

  async #fire(s: ScheduleRow, trigger: RunTrigger): Promise<number> {
    try {
      const run = await this.startRun(s.pipeline, { params: s.params, trigger, tags: { "cairn.schedule": s.id } });
      await this.store.updateSchedule(s.id, { lastRunId: run.id });
      return 1;
    } catch (e) {
      this.#warn(e, `schedule ${s.id} of ${s.pipeline}`);
      return 0;
    }
  }

  #warn(e: unknown, what: string): void {
    this.#log?.warn({ err: e }, `pipelines: ${what} failed`);
  }
}

function stepState(s: StepRow): StepState {
  const out: StepState = { name: s.name, status: s.status, after: s.after, attempts: s.attempts, maxAttempts: s.maxAttempts, resources: s.resources, cache: s.cache };
  if (s.stepRunId) out.runId = s.stepRunId;
  if (s.workerId) out.worker = s.workerId;
  if (s.gpus) out.gpus = s.gpus;
  if (s.startedAt !== undefined) out.startedAt = s.startedAt;
  if (s.endedAt !== undefined) out.endedAt = s.endedAt;
  if (s.durationMs !== undefined) out.durationMs = s.durationMs;
  if (s.error !== undefined) out.error = s.error;
  if (s.logTail !== undefined) out.logTail = s.logTail;
  if (s.cacheKey !== undefined) out.cacheKey = s.cacheKey;
  if (s.cacheReason !== undefined) out.cacheReason = s.cacheReason;
  if (s.outputs !== undefined) out.outputs = s.outputs;
  return out;
}

function scheduleOf(s: ScheduleRow): Schedule {
  const out: Schedule = { id: s.id, pipeline: s.pipeline, timezone: s.timezone, params: s.params, enabled: s.enabled, createdAt: s.createdAt };
  if (s.cron !== undefined) out.cron = s.cron;
  if (s.onDataset !== undefined) out.onDataset = s.onDataset;
  if (s.nextRunAt !== undefined) out.nextRunAt = s.nextRunAt;
  if (s.lastRunAt !== undefined) out.lastRunAt = s.lastRunAt;
  if (s.lastRunId !== undefined) out.lastRunId = s.lastRunId;
  if (s.lastDatasetVersion !== undefined) out.lastDatasetVersion = s.lastDatasetVersion;
  return out;
}
