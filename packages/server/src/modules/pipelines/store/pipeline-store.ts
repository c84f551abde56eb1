import type { LogEntry, ParamValue, PipelineRunStatus, PipelineSpec, RunTrigger, SourceRef, StepResources, StepRunStatus } from "@cairn/contract";

/** A pushed pipeline. */
export interface PipelineRow {
  name: string;
  definition: Record<string, unknown>;
  source?: SourceRef;
  pushedAt?: number;
  pushedBy?: string;
}

/** A pipeline run (id = its tracking run's id). */
export interface RunRow {
  id: string;
  pipeline: string;
  status: PipelineRunStatus;
  mode: "queued" | "local";
  params: Record<string, ParamValue>;
  trigger: RunTrigger;
  spec: PipelineSpec;
  source?: SourceRef;
  createdAt: number;
  startedAt?: number;
  endedAt?: number;
  cancelRequested: boolean;
  error?: string;
}

/** A step of a run: its state, and its place in the queue. */
export interface StepRow {
  runId: string;
  name: string;
  /** Position in the run's (topological) step order. */
  idx: number;
  status: StepRunStatus;
  after: string[];
  attempts: number;
  maxAttempts: number;
  resources: StepResources;
  cache: boolean;
  stepRunId?: string;
  workerId?: string;
  gpus?: number[];
  startedAt?: number;
  endedAt?: number;
  durationMs?: number;
  error?: string;
  logTail?: string;
  cacheKey?: string;
  cacheReason?: string;
  outputs?: Record<string, string>;
  /** The version (of the pipeline's outputs dataset) holding the step's outputs. */
  outVersion?: string;
  /** How many times it was claimed. */
  claim: number;
  token?: string;
  leaseUntil?: number;
  readyAt?: number;
}

/** Columns a step update may set; `null` clears one. */
export type StepPatch = { [K in Exclude<keyof StepRow, "runId" | "name" | "idx" | "after" | "maxAttempts" | "resources" | "cache">]?: StepRow[K] | null };

export type RunPatch = { [K in "status" | "startedAt" | "endedAt" | "cancelRequested" | "error" | "spec" | "params"]?: RunRow[K] | null };

export interface WorkerRow {
  id: string;
  name: string;
  host?: string;
  resources: { cpu: number; memoryMb: number; gpus: { index: number; name: string; memoryMb: number; uuid?: string }[] };
  leaseMs: number;
  registeredAt: number;
  lastSeenAt: number;
}

export interface CacheRow {
  key: string;
  pipeline: string;
  step: string;
  dataset: string;
  version: string;
  digests: Record<string, string>;
  runId: string;
  createdAt: number;
}

export interface ScheduleRow {
  id: string;
  pipeline: string;
  cron?: string;
  timezone: string;
  onDataset?: string;
  params: Record<string, ParamValue>;
  enabled: boolean;
  createdAt: number;
  nextRunAt?: number;
  lastRunAt?: number;
  lastRunId?: string;
  lastDatasetVersion?: string;
}

export type SchedulePatch = { [K in Exclude<keyof ScheduleRow, "id" | "pipeline" | "createdAt">]?: ScheduleRow[K] | null };

export interface NewLogLine {
  step: string;
  attempt: number;
  stream: "stdout" | "stderr";
  text: string;
}

/** Per pipeline: how many runs, and the newest. */
export interface RunStats {
  count: number;
  last: { id: string; status: string; createdAt: number };
}

/**
 * The pipelines module's storage: pushed pipelines, runs and their steps (which are also the
 * queue), logs, workers, the step cache and schedules. Every method runs in one statement or one
 * transaction; `tx` groups several.
 */
export interface PipelineStore {
  /** Runs `fn` in one transaction (nested calls join it). */
  tx<T>(fn: (s: PipelineStore) => Promise<T>): Promise<T>;

  upsertPipeline(p: PipelineRow): Promise<void>;
  getPipeline(name: string): Promise<PipelineRow | undefined>;
  listPipelines(): Promise<PipelineRow[]>;
  runStats(): Promise<Map<string, RunStats>>;

  /** Inserts a run and its steps. @throws CairnError RESOURCE_ALREADY_EXISTS when the id exists */
  insertRun(run: RunRow, steps: StepRow[]): Promise<void>;
  getRun(id: string): Promise<RunRow | undefined>;
  listRuns(q: { pipeline?: string; status?: string; limit: number }): Promise<RunRow[]>;
  updateRun(id: string, patch: RunPatch): Promise<void>;
  /** Within a transaction, locks the run's row until it ends (PostgreSQL; SQLite has one writer), so concurrent completions of one run take turns. */
  lockRun(id: string): Promise<void>;
  /** Marks a run as ending (`ended_at`) unless another caller already did; returns whether this one did. */
  markRunEnding(id: string, endedAt: number): Promise<boolean>;
  getSteps(runId: string): Promise<StepRow[]>;
  getStep(runId: string, name: string): Promise<StepRow | undefined>;
  /**
   * Updates a step when it is in one of `when.status` (and holds `when.token`, when given).
   * @returns whether a row changed (false: the step moved on, e.g. its claim was lost)
   */
  updateStep(runId: string, name: string, patch: StepPatch, when?: { status?: StepRunStatus[]; token?: string }): Promise<boolean>;
  /** Every step of a run in one of these states gets the same patch; returns how many. */
  updateStepsWhere(runId: string, status: StepRunStatus[], patch: StepPatch): Promise<number>;
  /**
   * Claims the oldest ready step (ready_at ≤ now) that fits `free`: it becomes `running` with the
   * worker, token and lease, and its claim count goes up. Concurrent claims never take the same step
   * (PostgreSQL: `FOR UPDATE SKIP LOCKED`).
   */
  claimStep(free: StepResources, now: number, claim: { workerId: string; token: string; leaseUntil: number }): Promise<StepRow | undefined>;
  /** Renews the leases of these (step, token) pairs while they are running; returns those it renewed. */
  renewLeases(held: { runId: string; name: string; token: string }[], leaseUntil: number): Promise<Set<string>>;
  /** Running steps whose lease ended before `now`. */
  expiredLeases(now: number): Promise<StepRow[]>;
  /** Running steps a worker holds. */
  runningSteps(workerId?: string): Promise<StepRow[]>;
  /** The earliest `ready_at` after `now` of a ready step (a retry waiting out its backoff). */
  nextReadyAt(now: number): Promise<number | undefined>;

  /** Appends lines in one transaction holding the run's lock, so a run's lines commit in `seq` order (readers page by `seq`). */
  appendLogs(runId: string, lines: NewLogLine[], time: number): Promise<void>;
  readLogs(runId: string, q: { step?: string; after: number; limit: number }): Promise<LogEntry[]>;

  upsertWorker(w: WorkerRow): Promise<void>;
  getWorker(id: string): Promise<WorkerRow | undefined>;
  listWorkers(): Promise<WorkerRow[]>;
  touchWorker(id: string, now: number): Promise<void>;

  getCache(key: string): Promise<CacheRow | undefined>;
  /** Saves a cache entry; an existing key keeps its first entry. */
  putCache(e: CacheRow): Promise<void>;

  insertSchedule(s: ScheduleRow): Promise<void>;
  getSchedule(id: string): Promise<ScheduleRow | undefined>;
  listSchedules(pipeline?: string): Promise<ScheduleRow[]>;
  updateSchedule(id: string, patch: SchedulePatch, when?: { nextRunAt?: number | null; lastDatasetVersion?: string | null }): Promise<boolean>;
  deleteSchedule(id: string): Promise<boolean>;

  close(): Promise<void>;
}
