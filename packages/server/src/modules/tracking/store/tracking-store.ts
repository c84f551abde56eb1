import type { DatasetInput, DownsampledSeries, Experiment, LifecycleStage, Metric, Run, RunInfo, RunStatus, ViewType } from "@cairn/contract";
import type { ExperimentFilter, OrderKey, RunFilter } from "../search/filter-ast.js";

/** A metric point as stored. NaN and ±Infinity are legal values. */
export interface MetricPoint {
  key: string;
  value: number;
  timestamp: number;
  step: number;
}

export interface NewExperiment {
  name: string;
  /** When absent the store sets `mlflow-artifacts:/<id>` once the id is known. */
  artifactLocation?: string;
  tags: Record<string, string>;
  creationTime: number;
}

export interface ExperimentPatch {
  name?: string;
  lifecycleStage?: LifecycleStage;
  lastUpdateTime: number;
}

export interface NewRun {
  runId: string;
  experimentId: string;
  runName: string;
  userId: string;
  status: RunStatus;
  startTime: number;
  artifactUri: string;
  tags: Record<string, string>;
}

export interface RunPatch {
  status?: RunStatus;
  endTime?: number | null;
  runName?: string;
  lifecycleStage?: LifecycleStage;
  deletedTime?: number | null;
}

export interface LogBatchInput {
  metrics: MetricPoint[];
  params: { key: string; value: string }[];
  tags: { key: string; value: string }[];
  /** Idempotency: a batch with an id already applied to the run is acknowledged without writing again. */
  batchId?: string;
}

export interface SearchExperimentsQuery {
  /** Only experiments of these projects (their `cairn.project` tag, `default` without one); undefined: all. */
  projects?: readonly string[] | undefined;
  filter: ExperimentFilter;
  orderBy: OrderKey[];
  viewType: ViewType;
  offset: number;
  limit: number;
}

export interface SearchRunsQuery {
  experimentIds: string[];
  filter: RunFilter;
  orderBy: OrderKey[];
  viewType: ViewType;
  offset: number;
  limit: number;
}

export interface DownsampleOptions {
  buckets: number;
  minStep?: number;
  maxStep?: number;
}

/**
 * Storage for experiment tracking. One interface, implemented for SQLite and PostgreSQL
 * and exercised by one shared test suite (`describeTrackingStore`).
 *
 * Stores check existence and lifecycle inside their own transactions and throw
 * `CairnError` with a stable code:
 * - RESOURCE_DOES_NOT_EXIST for an unknown experiment or run;
 * - RESOURCE_ALREADY_EXISTS for a duplicate experiment name;
 * - INVALID_PARAMETER_VALUE for a param rewritten with a different value, or for
 *   writes to a run or experiment that is not active.
 */
export interface TrackingStore {
  readonly backend: "sqlite" | "postgres";

  createExperiment(input: NewExperiment): Promise<Experiment>;
  getExperiment(experimentId: string): Promise<Experiment | undefined>;
  getExperimentByName(name: string): Promise<Experiment | undefined>;
  /** Returns up to `limit + 1` rows so the caller can tell whether another page exists. */
  searchExperiments(query: SearchExperimentsQuery): Promise<Experiment[]>;
  updateExperiment(experimentId: string, patch: ExperimentPatch): Promise<Experiment>;
  setExperimentTag(experimentId: string, key: string, value: string): Promise<void>;
  /** Throws RESOURCE_DOES_NOT_EXIST when the tag is absent. */
  deleteExperimentTag(experimentId: string, key: string): Promise<void>;

  createRun(input: NewRun): Promise<Run>;
  getRun(runId: string): Promise<Run | undefined>;
  getRunInfo(runId: string): Promise<RunInfo | undefined>;
  updateRun(runId: string, patch: RunPatch): Promise<RunInfo>;
  /**
   * Writes metrics, params and tags in one transaction: all of it lands or none of it.
   * Keeps the latest-metric table and the metric rollups in step with the raw points.
   * Setting the `mlflow.runName` tag also renames the run (MLflow's behaviour).
   */
  logBatch(runId: string, batch: LogBatchInput): Promise<void>;
  /** Throws RESOURCE_DOES_NOT_EXIST when the tag is absent. */
  deleteRunTag(runId: string, key: string): Promise<void>;
  logInputs(runId: string, inputs: DatasetInput[]): Promise<void>;
  /** Returns up to `limit + 1` runs so the caller can tell whether another page exists. */
  searchRuns(query: SearchRunsQuery): Promise<Run[]>;

  /** Raw points ordered by step, then timestamp; returns up to `limit + 1`. */
  getMetricHistory(runId: string, key: string, page: { offset: number; limit: number }): Promise<Metric[]>;
  /** N step buckets with min, max and last; never reads every raw point of a long history. */
  downsampleMetric(runId: string, key: string, opts: DownsampleOptions): Promise<DownsampledSeries>;

  close(): Promise<void>;
}
