import { z } from "zod";
import { Id } from "./tracking.js";
import { DatasetName, ManifestEntry } from "./datasets.js";
import type { RouteDef } from "./routes.js";

/** Limits on pipelines, their queue and their logs. */
export const PIPELINE_LIMITS = {
  nameLength: 128,
  stepsPerPipeline: 1000,
  /** Largest definition (JSON) a push or a run may carry. */
  definitionBytes: 4 * 1024 * 1024,
  /** Log lines per append request, and characters per line. */
  logLinesPerRequest: 5000,
  logLineChars: 16 * 1024,
  logsPageDefault: 1000,
  logsPageMax: 10_000,
  /** How long a claim or a log read may wait for something to happen. */
  waitMsMax: 30_000,
  runsPageDefault: 100,
  runsPageMax: 1000,
  /** A claimed step's lease; a worker renews it with heartbeats (every third of it). */
  leaseMsDefault: 30_000,
  leaseMsMin: 500,
  leaseMsMax: 600_000,
  schedulesPerPipeline: 100,
  cronLength: 256,
} as const;

/** Set in a function step's process: run the step named by `CAIRN_STEP` (the SDK's `definePipeline` does). */
export const STEP_FN_ENV = "CAIRN_STEP_FN";
/** A function step's params (those it declares), as JSON. */
export const STEP_PARAMS_ENV = "CAIRN_STEP_PARAMS";

// eslint-disable-next-line no-control-regex
const NO_CONTROL = /^[^\u0000-\u001f\u007f]*$/;

/** A pipeline's or a step's name: starts with a letter or digit; then letters, digits, `_`, `-` and `.`. */
export const PipelineName = z
  .string()
  .min(1, "must not be empty")
  .max(PIPELINE_LIMITS.nameLength, `must be at most ${PIPELINE_LIMITS.nameLength} characters`)
  .regex(/^[A-Za-z0-9][\w.-]*$/, "must start with a letter or digit and contain only letters, digits, '_', '-' and '.'");

export const ParamValue = z.union([z.string().max(65536), z.number(), z.boolean()]);
export type ParamValue = z.infer<typeof ParamValue>;
export const ParamValues = z.record(z.string().min(1).max(256), ParamValue);

export const StepResources = z.object({
  cpu: z.number().positive(),
  memoryMb: z.number().min(0),
  gpu: z.number().int().min(0),
});
export type StepResources = z.infer<typeof StepResources>;

const RelPath = z.string().min(1).max(4096).regex(NO_CONTROL, "must not contain control characters");

export const StepDep = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("path"), path: RelPath }),
  z.object({ kind: z.literal("dataset"), name: DatasetName, ref: z.string().min(1).max(128) }),
  z.object({ kind: z.literal("step"), step: PipelineName, path: RelPath }),
]);

/** A resolved step, as `cairn.yaml` resolves it (the shape of `Step` in the server's pipelines module). */
export const StepSpec = z.object({
  name: PipelineName,
  cmd: z.string().min(1).max(65536),
  deps: z.array(StepDep).max(10_000),
  outs: z.array(z.object({ path: RelPath, dataset: DatasetName.optional() })).max(10_000),
  params: z.array(z.string().min(1).max(256)).max(10_000),
  env: z.record(z.string().min(1).max(256), z.string().max(65536)),
  resources: StepResources,
  retries: z.number().int().min(0).max(100),
  retryDelayMs: z.number().int().min(0),
  timeoutMs: z.number().int().positive().optional(),
  cache: z.boolean(),
});
export type StepSpec = z.infer<typeof StepSpec>;

/** A resolved pipeline (params applied), without its root directory. */
export const PipelineSpec = z.object({
  name: PipelineName,
  params: ParamValues,
  steps: z.array(StepSpec).min(1).max(PIPELINE_LIMITS.stepsPerPipeline),
});
export type PipelineSpec = z.infer<typeof PipelineSpec>;

/** Where a pipeline's files live on the server: a version of an internal dataset (content-addressed, deduplicated). */
export const SourceRef = z.object({ dataset: DatasetName, version: z.string().min(1).max(128) });
export type SourceRef = z.infer<typeof SourceRef>;

/** A pushed pipeline: its definition (the `cairn.yaml` object) and a snapshot of the files its steps read. */
export const PipelineInfo = z.object({
  name: PipelineName,
  /** The definition as written (`cairn.yaml` parsed), so runs can resolve it with other params. */
  definition: z.record(z.string(), z.unknown()),
  /** The files steps read (definition, code, path deps), as a dataset version; absent for a pipeline only ever run locally. */
  source: SourceRef.optional(),
  pushedAt: z.number().int().optional(),
  pushedBy: z.string().optional(),
  /** The experiment its runs are recorded in (`pipeline:<name>`). */
  experimentId: z.string().optional(),
  runCount: z.number().int(),
  lastRun: z.object({ id: z.string(), status: z.string(), createdAt: z.number().int() }).optional(),
});
export type PipelineInfo = z.infer<typeof PipelineInfo>;

export const PushPipelineRequest = z.object({
  definition: z.record(z.string(), z.unknown()),
  source: SourceRef,
  /** `cairn.project` puts the pipeline (its experiment) in a project. */
  tags: z.record(z.string().min(1).max(250), z.string().max(8000)).optional(),
});
export type PushPipelineRequest = z.infer<typeof PushPipelineRequest>;

export const PipelineRunStatusSchema = z.enum(["queued", "running", "succeeded", "failed", "cancelled"]);
export type PipelineRunStatus = z.infer<typeof PipelineRunStatusSchema>;

export const StepRunStatusSchema = z.enum(["waiting", "ready", "running", "succeeded", "cached", "failed", "timeout", "oom", "skipped", "cancelled"]);
export type StepRunStatus = z.infer<typeof StepRunStatusSchema>;

/** What started a run. */
export const RunTrigger = z.object({
  kind: z.enum(["manual", "api", "schedule", "dataset", "local", "rerun", "sweep"]),
  /** The schedule id, the dataset version (`credit@v4`), the caller's note, … */
  detail: z.string().max(1000).optional(),
});
export type RunTrigger = z.infer<typeof RunTrigger>;

export const StepState = z.object({
  name: z.string(),
  status: StepRunStatusSchema,
  /** Step names this one waits for. */
  after: z.array(z.string()),
  attempts: z.number().int(),
  maxAttempts: z.number().int(),
  resources: StepResources,
  cache: z.boolean(),
  /** The step's tracking run (child of the pipeline run), once it started or hit the cache. */
  runId: z.string().optional(),
  worker: z.string().optional(),
  gpus: z.array(z.number().int()).optional(),
  startedAt: z.number().int().optional(),
  endedAt: z.number().int().optional(),
  durationMs: z.number().optional(),
  error: z.string().optional(),
  logTail: z.string().optional(),
  cacheKey: z.string().optional(),
  cacheReason: z.string().optional(),
  /** Output path → content digest, once the step succeeded or was restored. */
  outputs: z.record(z.string(), z.string()).optional(),
});
export type StepState = z.infer<typeof StepState>;

/** A pipeline run. Its id is its tracking run's id (the parent of one child run per step). */
export const PipelineRun = z.object({
  id: z.string(),
  pipeline: z.string(),
  status: PipelineRunStatusSchema,
  /** `queued`: steps go to workers through the server's queue; `local`: `cairn run` executed it and reported here. */
  mode: z.enum(["queued", "local"]),
  params: ParamValues,
  trigger: RunTrigger,
  createdAt: z.number().int(),
  startedAt: z.number().int().optional(),
  endedAt: z.number().int().optional(),
  cancelRequested: z.boolean(),
  error: z.string().optional(),
  steps: z.array(StepState),
  spec: PipelineSpec,
  source: SourceRef.optional(),
});
export type PipelineRun = z.infer<typeof PipelineRun>;

export const PipelineRunSummary = PipelineRun.omit({ steps: true, spec: true }).extend({
  stepCounts: z.record(z.string(), z.number().int()),
});
export type PipelineRunSummary = z.infer<typeof PipelineRunSummary>;

export const StartRunRequest = z.object({
  /** Overrides of the pipeline's params (unknown names are refused). */
  params: z.record(z.string().min(1).max(256), z.union([z.string().max(65536), z.number(), z.boolean()])).optional(),
  /** Extra tags on the run's tracking run. */
  tags: z.record(z.string().min(1).max(250), z.string().max(8000)).optional(),
  /** Why it was started (monitoring names its alert here); `kind` defaults to `api`. */
  trigger: RunTrigger.optional(),
});
export type StartRunRequest = z.input<typeof StartRunRequest>;

export const RunsQuery = z.object({
  pipeline: z.string().max(PIPELINE_LIMITS.nameLength).optional(),
  status: PipelineRunStatusSchema.optional(),
  limit: z.coerce.number().int().min(1).max(PIPELINE_LIMITS.runsPageMax).optional(),
});

export const LogLine = z.object({
  step: z.string().min(1).max(PIPELINE_LIMITS.nameLength),
  attempt: z.number().int().min(1).max(1000),
  stream: z.enum(["stdout", "stderr"]),
  text: z.string().max(PIPELINE_LIMITS.logLineChars),
});
export const LogEntry = LogLine.extend({ seq: z.number().int(), time: z.number().int() });
export type LogEntry = z.infer<typeof LogEntry>;

export const LogsQuery = z.object({
  step: z.string().max(PIPELINE_LIMITS.nameLength).optional(),
  /** Entries after this sequence number (0: from the start). */
  after: z.coerce.number().int().min(0).optional(),
  limit: z.coerce.number().int().min(1).max(PIPELINE_LIMITS.logsPageMax).optional(),
  /** Wait up to this long for new entries when there are none yet (long poll). */
  waitMs: z.coerce.number().int().min(0).max(PIPELINE_LIMITS.waitMsMax).optional(),
});
export const LogsPage = z.object({
  entries: z.array(LogEntry),
  /** Pass as `after` to read on. */
  next: z.number().int(),
  /** The run has ended and every entry was read. */
  done: z.boolean(),
});
export type LogsPage = z.infer<typeof LogsPage>;

// ---------- local runs reporting in ----------

/** `cairn run` reports a locally executed run so the UI shows it live (steps and logs). */
export const ReportLocalRunRequest = z.object({
  spec: PipelineSpec,
  params: ParamValues,
  trigger: RunTrigger.optional(),
});
export const ReportStepRequest = z.object({
  step: PipelineName,
  status: StepRunStatusSchema,
  attempts: z.number().int().min(0).optional(),
  runId: Id.optional(),
  gpus: z.array(z.number().int()).optional(),
  startedAt: z.number().int().optional(),
  endedAt: z.number().int().optional(),
  durationMs: z.number().min(0).optional(),
  error: z.string().max(65536).optional(),
  logTail: z.string().max(65536).optional(),
  cacheKey: z.string().max(128).optional(),
  cacheReason: z.string().max(65536).optional(),
  outputs: z.record(z.string(), z.string()).optional(),
});
export const AppendLogsRequest = z.object({ lines: z.array(LogLine).max(PIPELINE_LIMITS.logLinesPerRequest) });
export const FinishLocalRunRequest = z.object({ status: z.enum(["succeeded", "failed", "cancelled"]), error: z.string().max(65536).optional() });

// ---------- workers ----------

export const GpuInfo = z.object({ index: z.number().int().min(0), name: z.string().max(256), memoryMb: z.number().min(0), uuid: z.string().max(256).optional() });

export const RegisterWorkerRequest = z.object({
  name: z.string().min(1).max(256).regex(NO_CONTROL),
  host: z.string().max(256).optional(),
  resources: z.object({ cpu: z.number().positive(), memoryMb: z.number().min(0), gpus: z.array(GpuInfo).max(64) }),
  /** Lease length for the steps this worker claims (default 30 s). */
  leaseMs: z.number().int().min(PIPELINE_LIMITS.leaseMsMin).max(PIPELINE_LIMITS.leaseMsMax).optional(),
});
export const WorkerInfo = z.object({
  id: z.string(),
  name: z.string(),
  host: z.string().optional(),
  resources: RegisterWorkerRequest.shape.resources,
  leaseMs: z.number().int(),
  registeredAt: z.number().int(),
  lastSeenAt: z.number().int(),
  /** `idle`, `busy`, or `lost` (no heartbeat for a lease). */
  state: z.enum(["idle", "busy", "lost"]),
  running: z.array(z.object({ runId: z.string(), step: z.string() })),
});
export type WorkerInfo = z.infer<typeof WorkerInfo>;

export const ClaimRequest = z.object({
  /** What this worker has free now; only steps that fit are offered. */
  free: z.object({ cpu: z.number().min(0), memoryMb: z.number().min(0), gpu: z.number().int().min(0) }),
  /** Wait up to this long for a step to become ready (long poll). */
  waitMs: z.number().int().min(0).max(PIPELINE_LIMITS.waitMsMax).optional(),
});

/** Another step's outputs a claimed step reads: materialize `version` of `dataset` into the work directory. */
export const UpstreamOutputs = z.object({ step: z.string(), dataset: DatasetName, version: z.string(), digests: z.record(z.string(), z.string()) });

export const ClaimedTask = z.object({
  id: z.string(),
  /** Proves this claim in heartbeats and the completion (a step re-queued after a lost lease gets a new one). */
  token: z.string(),
  runId: z.string(),
  pipeline: z.string(),
  step: StepSpec,
  params: ParamValues,
  /** 1 for the first claim; a re-queued step (lost worker) is claimed again with the next number. */
  claim: z.number().int(),
  leaseMs: z.number().int(),
  source: SourceRef.optional(),
  upstream: z.array(UpstreamOutputs),
  /** Where this step's outputs are stored (as a version of this internal dataset). */
  outputsDataset: DatasetName,
  /** The step's tracking run. */
  stepRunId: z.string(),
});
export type ClaimedTask = z.infer<typeof ClaimedTask>;

export const HeartbeatRequest = z.object({ tasks: z.array(z.object({ id: z.string(), token: z.string() })).max(1000) });
export const HeartbeatResponse = z.object({
  /** Tasks whose run was cancelled: stop them (SIGTERM, then SIGKILL) and complete them as cancelled. */
  cancel: z.array(z.string()),
  /** Tasks this worker no longer holds (lease expired and re-queued): stop them and drop their results. */
  lost: z.array(z.string()),
});

export const TaskLogsRequest = z.object({ token: z.string(), lines: z.array(LogLine).max(PIPELINE_LIMITS.logLinesPerRequest) });
export const TaskEventRequest = z.object({
  token: z.string(),
  event: z.discriminatedUnion("type", [
    z.object({ type: z.literal("started"), attempt: z.number().int().min(1), gpus: z.array(z.number().int()) }),
    z.object({ type: z.literal("cache"), hit: z.boolean(), key: z.string().max(128).optional(), reason: z.string().max(65536).optional() }),
    z.object({ type: z.literal("gpu"), samples: z.array(z.object({ index: z.number().int(), utilization: z.number(), memoryUsedMb: z.number(), memoryTotalMb: z.number().optional() })).max(64) }),
  ]),
});

export const CompleteTaskRequest = z.object({
  token: z.string(),
  /** `released`: the worker is stopping and gives the step back to the queue without it counting as a claim. */
  status: z.enum(["succeeded", "cached", "failed", "timeout", "oom", "cancelled", "released"]),
  attempts: z.number().int().min(0),
  durationMs: z.number().min(0),
  exitCode: z.number().int().optional(),
  error: z.string().max(65536).optional(),
  logTail: z.string().max(65536).optional(),
  /** The step's cache key (cache: true steps), saved with the outputs on success. */
  cacheKey: z.string().max(128).optional(),
  cacheComponents: z.array(z.object({ name: z.string(), value: z.string(), hash: z.string() })).max(100_000).optional(),
  /** On success: the output files (blobs already uploaded to `outputsDataset`) and each output path's digest. */
  outputs: z.object({ files: z.array(ManifestEntry).max(1_000_000), digests: z.record(z.string(), z.string()) }).optional(),
  /** On a cache hit: the version that holds the cached outputs. */
  cachedVersion: z.string().max(128).optional(),
});
export type CompleteTaskRequest = z.input<typeof CompleteTaskRequest>;

export const CacheEntryInfo = z.object({
  key: z.string(),
  pipeline: z.string(),
  step: z.string(),
  dataset: DatasetName,
  version: z.string(),
  digests: z.record(z.string(), z.string()),
  runId: z.string(),
  createdAt: z.number().int(),
});

// ---------- schedules ----------

export const ScheduleInput = z.object({
  /** Five-field cron (minute hour day-of-month month day-of-week), or six with seconds first. */
  cron: z.string().min(1).max(PIPELINE_LIMITS.cronLength).optional(),
  /** IANA time zone the cron is read in (default UTC). */
  timezone: z.string().min(1).max(64).optional(),
  /** Run when this dataset gets a new version. */
  onDataset: DatasetName.optional(),
  params: z.record(z.string().min(1).max(256), z.union([z.string().max(65536), z.number(), z.boolean()])).optional(),
  enabled: z.boolean().optional(),
});
export const Schedule = z.object({
  id: z.string(),
  pipeline: z.string(),
  cron: z.string().optional(),
  timezone: z.string(),
  onDataset: z.string().optional(),
  params: ParamValues,
  enabled: z.boolean(),
  createdAt: z.number().int(),
  nextRunAt: z.number().int().optional(),
  lastRunAt: z.number().int().optional(),
  lastRunId: z.string().optional(),
  /** The dataset version (id) the last dataset trigger saw. */
  lastDatasetVersion: z.string().optional(),
});
export type Schedule = z.infer<typeof Schedule>;

function route<const R extends RouteDef>(r: R): R {
  return r;
}
const NameParams = z.object({ name: PipelineName });
const RunParams = z.object({ id: Id });
const WorkerParams = z.object({ id: Id });
const TaskParams = z.object({ id: Id });
const ScheduleParams = z.object({ name: PipelineName, id: Id });
const Empty = z.object({});

/** The pipelines API: pushed pipelines, runs through the server's queue, workers, logs and schedules. */
export const pipelineRoutes = {
  pushPipeline: route({ method: "POST", path: "/api/v1/pipelines", summary: "Push a pipeline: its definition and a snapshot of the files its steps read (create or replace)", tag: "pipelines", body: PushPipelineRequest, response: z.object({ pipeline: PipelineInfo }), status: 201 }),
  listPipelines: route({ method: "GET", path: "/api/v1/pipelines", summary: "Pipelines: pushed ones and ones only run locally (from their runs)", tag: "pipelines", response: z.object({ pipelines: z.array(PipelineInfo) }), permission: "authenticated" }),
  getPipeline: route({ method: "GET", path: "/api/v1/pipelines/:name", summary: "A pipeline", tag: "pipelines", params: NameParams, response: z.object({ pipeline: PipelineInfo }) }),
  startPipelineRun: route({ method: "POST", path: "/api/v1/pipelines/:name/runs", summary: "Start a run of a pushed pipeline through the queue (the API trigger; params override the defaults)", tag: "pipelines", params: NameParams, body: StartRunRequest, response: z.object({ run: PipelineRun }), status: 201 }),

  listPipelineRuns: route({ method: "GET", path: "/api/v1/pipeline-runs", summary: "Pipeline runs, newest first", tag: "pipeline-runs", query: RunsQuery, response: z.object({ runs: z.array(PipelineRunSummary) }), permission: "authenticated" }),
  getPipelineRun: route({ method: "GET", path: "/api/v1/pipeline-runs/:id", summary: "A pipeline run with its steps", tag: "pipeline-runs", params: RunParams, response: z.object({ run: PipelineRun }) }),
  cancelPipelineRun: route({ method: "POST", path: "/api/v1/pipeline-runs/:id/cancel", summary: "Cancel a run: queued steps are dropped, running ones stopped (SIGTERM, then SIGKILL)", tag: "pipeline-runs", params: RunParams, body: Empty, response: z.object({ run: PipelineRun }) }),
  resumePipelineRun: route({ method: "POST", path: "/api/v1/pipeline-runs/:id/resume", summary: "Re-queue a failed or cancelled run's unfinished steps (finished ones are kept)", tag: "pipeline-runs", params: RunParams, body: Empty, response: z.object({ run: PipelineRun }) }),
  getPipelineLogs: route({ method: "GET", path: "/api/v1/pipeline-runs/:id/logs", summary: "A run's step logs in order (long-poll with waitMs to follow)", tag: "pipeline-runs", params: RunParams, query: LogsQuery, response: LogsPage }),

  reportLocalRun: route({ method: "PUT", path: "/api/v1/pipeline-runs/:id/local", summary: "Report a run `cairn run` executes locally (its id is its tracking run)", tag: "pipeline-runs", params: RunParams, body: ReportLocalRunRequest, response: z.object({ run: PipelineRun }) }),
  reportLocalStep: route({ method: "POST", path: "/api/v1/pipeline-runs/:id/local/steps", summary: "Report a local run's step state", tag: "pipeline-runs", params: RunParams, body: ReportStepRequest, response: Empty }),
  appendLocalLogs: route({ method: "POST", path: "/api/v1/pipeline-runs/:id/local/logs", summary: "Append a local run's log lines", tag: "pipeline-runs", params: RunParams, body: AppendLogsRequest, response: Empty }),
  finishLocalRun: route({ method: "POST", path: "/api/v1/pipeline-runs/:id/local/finish", summary: "Report that a local run ended", tag: "pipeline-runs", params: RunParams, body: FinishLocalRunRequest, response: Empty }),

  registerWorker: route({ method: "POST", path: "/api/v1/workers", summary: "Register a worker and its resources", tag: "workers", body: RegisterWorkerRequest, response: z.object({ worker: WorkerInfo }), status: 201, permission: "admin" }),
  listWorkers: route({ method: "GET", path: "/api/v1/workers", summary: "Workers and what they run", tag: "workers", response: z.object({ workers: z.array(WorkerInfo) }), permission: "authenticated" }),
  claimTask: route({ method: "POST", path: "/api/v1/workers/:id/claim", summary: "Claim a ready step that fits the worker's free resources (long poll)", tag: "workers", params: WorkerParams, body: ClaimRequest, response: z.object({ task: ClaimedTask.nullable() }), permission: "admin" }),
  workerHeartbeat: route({ method: "POST", path: "/api/v1/workers/:id/heartbeat", summary: "Renew the leases of the worker's steps; answers which to cancel or drop", tag: "workers", params: WorkerParams, body: HeartbeatRequest, response: HeartbeatResponse, permission: "admin" }),
  taskEvent: route({ method: "POST", path: "/api/v1/tasks/:id/events", summary: "A claimed step started an attempt, looked up the cache, or sampled its GPUs", tag: "workers", params: TaskParams, body: TaskEventRequest, response: Empty, permission: "admin" }),
  taskLogs: route({ method: "POST", path: "/api/v1/tasks/:id/logs", summary: "Append a claimed step's log lines", tag: "workers", params: TaskParams, body: TaskLogsRequest, response: Empty, permission: "admin" }),
  completeTask: route({ method: "POST", path: "/api/v1/tasks/:id/complete", summary: "Finish a claimed step (refused with ABORTED when the claim was lost: its outputs are not used)", tag: "workers", params: TaskParams, body: CompleteTaskRequest, response: Empty, permission: "admin" }),
  getStepCacheEntry: route({ method: "GET", path: "/api/v1/pipelines/:name/step-cache/:key", summary: "A pipeline's step cache entry by key (its outputs are a version of the pipeline's outputs dataset)", tag: "workers", params: z.object({ name: PipelineName, key: z.string().min(1).max(128) }), response: z.object({ entry: CacheEntryInfo }), permission: "admin" }),

  createSchedule: route({ method: "POST", path: "/api/v1/pipelines/:name/schedules", summary: "Schedule a pushed pipeline: a cron, a dataset-version trigger, or both", tag: "schedules", params: NameParams, body: ScheduleInput, response: z.object({ schedule: Schedule }), status: 201 }),
  listSchedules: route({ method: "GET", path: "/api/v1/pipelines/:name/schedules", summary: "A pipeline's schedules", tag: "schedules", params: NameParams, response: z.object({ schedules: z.array(Schedule) }) }),
  listAllSchedules: route({ method: "GET", path: "/api/v1/schedules", summary: "Every schedule", tag: "schedules", response: z.object({ schedules: z.array(Schedule) }), permission: "authenticated" }),
  updateSchedule: route({ method: "PATCH", path: "/api/v1/pipelines/:name/schedules/:id", summary: "Change a schedule (enable, disable, cron, params)", tag: "schedules", params: ScheduleParams, body: ScheduleInput, response: z.object({ schedule: Schedule }) }),
  deleteSchedule: route({ method: "DELETE", path: "/api/v1/pipelines/:name/schedules/:id", summary: "Delete a schedule", tag: "schedules", params: ScheduleParams, response: Empty }),
} as const satisfies Record<string, RouteDef>;

export type PipelineRoutes = typeof pipelineRoutes;
