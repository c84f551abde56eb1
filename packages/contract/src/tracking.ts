import { z } from "zod";
import { KEY_PATTERN, LIMITS, isCleanKeyPath } from "./limits.js";

/** A 64-bit-ish integer that may arrive as a JSON number or a numeric string (MLflow clients send both). */
export const Int64 = z.union([z.number(), z.string().regex(/^-?\d+$/, "must be an integer")]).transform((v, ctx) => {
  const n = typeof v === "number" ? v : Number(v);
  if (!Number.isSafeInteger(n)) {
    ctx.addIssue({ code: "custom", message: "must be an integer within ±2^53" });
    return z.NEVER;
  }
  return n;
});

/** A key for a metric, param or tag. */
export const Key = z
  .string()
  .min(1, "must not be empty")
  .max(LIMITS.keyLength, `must be at most ${LIMITS.keyLength} characters`)
  .regex(KEY_PATTERN, "may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colons (:) and slashes (/)")
  .refine(isCleanKeyPath, "must be a clean relative path (no leading, trailing or doubled slashes, no '.' or '..' segments)");

export const Id = z.string().min(1).max(64);

export const LifecycleStage = z.enum(["active", "deleted"]);
export type LifecycleStage = z.infer<typeof LifecycleStage>;
export const ViewType = z.enum(["ACTIVE_ONLY", "DELETED_ONLY", "ALL"]);
export type ViewType = z.infer<typeof ViewType>;
export const RunStatus = z.enum(["RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"]);
export type RunStatus = z.infer<typeof RunStatus>;

const tagMap = (maxValue: number) => z.record(Key, z.string().max(maxValue, `tag values must be at most ${maxValue} characters`));

// ---------- entities ----------

export const Experiment = z.object({
  experimentId: z.string(),
  name: z.string(),
  artifactLocation: z.string(),
  lifecycleStage: LifecycleStage,
  creationTime: z.number(),
  lastUpdateTime: z.number(),
  tags: z.record(z.string(), z.string()),
});
export type Experiment = z.infer<typeof Experiment>;

export const RunInfo = z.object({
  runId: z.string(),
  runName: z.string(),
  experimentId: z.string(),
  userId: z.string(),
  status: RunStatus,
  startTime: z.number(),
  endTime: z.number().nullable(),
  artifactUri: z.string(),
  lifecycleStage: LifecycleStage,
});
export type RunInfo = z.infer<typeof RunInfo>;

/** One metric point. `value` may be NaN or ±Infinity in memory; on the JSON wire those travel as the strings "NaN", "Infinity", "-Infinity". */
export const Metric = z.object({
  key: z.string(),
  value: z.number(),
  timestamp: z.number(),
  step: z.number(),
});
export type Metric = z.infer<typeof Metric>;

export const DatasetSummary = z.object({
  name: z.string(),
  digest: z.string(),
  sourceType: z.string(),
  source: z.string(),
  schema: z.string().optional(),
  profile: z.string().optional(),
});
export type DatasetSummary = z.infer<typeof DatasetSummary>;

export const DatasetInput = z.object({ dataset: DatasetSummary, tags: z.record(z.string(), z.string()) });
export type DatasetInput = z.infer<typeof DatasetInput>;

export const Run = z.object({
  info: RunInfo,
  data: z.object({
    /** The latest value of each metric (highest step, then latest timestamp). */
    metrics: z.array(Metric),
    params: z.record(z.string(), z.string()),
    tags: z.record(z.string(), z.string()),
  }),
  inputs: z.object({ datasetInputs: z.array(DatasetInput) }),
});
export type Run = z.infer<typeof Run>;

// ---------- requests ----------

export const CreateExperimentRequest = z.object({
  name: z.string().min(1, "must not be empty").max(LIMITS.experimentNameLength, `must be at most ${LIMITS.experimentNameLength} characters`),
  artifactLocation: z.string().max(2000).optional(),
  tags: tagMap(LIMITS.experimentTagValueLength).optional(),
});
export type CreateExperimentRequest = z.infer<typeof CreateExperimentRequest>;

export const SearchExperimentsRequest = z.object({
  filter: z.string().max(10000).optional(),
  orderBy: z.array(z.string().max(500)).max(20).optional(),
  maxResults: Int64.pipe(z.number().int().min(1).max(LIMITS.searchExperimentsMax)).optional(),
  pageToken: z.string().max(1000).optional(),
  viewType: ViewType.optional(),
});
export type SearchExperimentsRequest = z.input<typeof SearchExperimentsRequest>;

export const UpdateExperimentRequest = z.object({
  name: z.string().min(1, "must not be empty").max(LIMITS.experimentNameLength, `must be at most ${LIMITS.experimentNameLength} characters`),
});

export const SetExperimentTagRequest = z.object({
  key: Key,
  value: z.string().max(LIMITS.experimentTagValueLength, `must be at most ${LIMITS.experimentTagValueLength} characters`),
});
export const SetRunTagRequest = z.object({
  key: Key,
  value: z.string().max(LIMITS.runTagValueLength, `must be at most ${LIMITS.runTagValueLength} characters`),
});
export const DeleteTagQuery = z.object({ key: Key });

export const CreateRunRequest = z.object({
  experimentId: Id,
  runName: z.string().max(LIMITS.runNameLength).optional(),
  userId: z.string().max(250).optional(),
  startTime: Int64.optional(),
  tags: tagMap(LIMITS.runTagValueLength).optional(),
});
export type CreateRunRequest = z.input<typeof CreateRunRequest>;

export const UpdateRunRequest = z.object({
  status: RunStatus.optional(),
  endTime: Int64.optional(),
  runName: z.string().max(LIMITS.runNameLength).optional(),
});
export type UpdateRunRequest = z.input<typeof UpdateRunRequest>;

/** A metric value: a finite number, or one of the strings "NaN", "Infinity", "-Infinity". */
export const MetricValue = z.union([
  z.number(),
  z.union([z.literal("NaN"), z.literal("Infinity"), z.literal("-Infinity"), z.literal("inf"), z.literal("-inf"), z.literal("nan")]).transform((s) => (s.toLowerCase() === "nan" ? NaN : s.startsWith("-") ? -Infinity : Infinity)),
]);

export const LogMetricItem = z.object({
  key: Key,
  value: MetricValue,
  timestamp: Int64.optional(),
  step: Int64.optional(),
});
export const LogParamItem = z.object({
  key: Key,
  value: z.string().max(LIMITS.paramValueLength, `param values must be at most ${LIMITS.paramValueLength} characters`),
});
export const LogTagItem = z.object({
  key: Key,
  value: z.string().max(LIMITS.runTagValueLength, `tag values must be at most ${LIMITS.runTagValueLength} characters`),
});

export const LogBatchRequest = z
  .object({
    metrics: z.array(LogMetricItem).max(LIMITS.batchMetrics, `at most ${LIMITS.batchMetrics} metrics per batch`).optional(),
    params: z.array(LogParamItem).max(LIMITS.batchParams, `at most ${LIMITS.batchParams} params per batch`).optional(),
    tags: z.array(LogTagItem).max(LIMITS.batchTags, `at most ${LIMITS.batchTags} tags per batch`).optional(),
    /** Idempotency key chosen by the client: a retried batch with the same id is applied once. */
    batchId: z.string().regex(/^[\w.:-]{1,64}$/, "must be 1-64 letters, digits, '_', '.', ':' or '-'").optional(),
  })
  .refine((b) => (b.metrics?.length ?? 0) + (b.params?.length ?? 0) + (b.tags?.length ?? 0) <= LIMITS.batchTotal, {
    message: `at most ${LIMITS.batchTotal} metrics, params and tags in total per batch`,
  });
export type LogBatchRequest = z.input<typeof LogBatchRequest>;
export type LogBatch = z.output<typeof LogBatchRequest>;

const LogBatchExtras = z.object({ params: LogBatchRequest.shape.params, tags: LogBatchRequest.shape.tags, batchId: LogBatchRequest.shape.batchId });
const validKeys = new Set<string>();

/** Whether a key is valid per the `Key` schema; valid keys are remembered (bounded), as batches repeat them. */
function isValidKey(k: unknown): k is string {
  if (typeof k !== "string") return false;
  if (validKeys.has(k)) return true;
  if (!Key.safeParse(k).success) return false;
  if (validKeys.size >= 10_000) validKeys.clear();
  validKeys.add(k);
  return true;
}

const isInt = (v: unknown): v is number | undefined => v === undefined || (typeof v === "number" && Number.isSafeInteger(v));

/**
 * Parses a log-batch body whose metrics are in the canonical shape (numeric values, integer
 * steps and timestamps, valid keys) without building zod's intermediate objects: large metric
 * batches are the hottest request there is. Returns undefined for anything else, and the caller
 * then parses with `LogBatchRequest` (which also produces the error messages). For inputs it
 * accepts, the result equals `LogBatchRequest.parse(input)`.
 */
export function parseCanonicalLogBatch(input: unknown): LogBatch | undefined {
  if (typeof input !== "object" || input === null) return undefined;
  const { metrics, params, tags, batchId } = input as Record<string, unknown>;
  if (metrics !== undefined && (!Array.isArray(metrics) || metrics.length > LIMITS.batchMetrics)) return undefined;
  const out: LogBatch = {};
  if (metrics) {
    const ms: LogBatch["metrics"] & object = new Array(metrics.length);
    for (let i = 0; i < metrics.length; i++) {
      const m = metrics[i] as Record<string, unknown> | null;
      if (typeof m !== "object" || m === null) return undefined;
      const { key, value, timestamp, step } = m;
      if (typeof value !== "number" || !Number.isFinite(value) || !isInt(timestamp) || !isInt(step) || !isValidKey(key)) return undefined;
      const item: { key: string; value: number; timestamp?: number; step?: number } = { key, value };
      if (timestamp !== undefined) item.timestamp = timestamp;
      if (step !== undefined) item.step = step;
      ms[i] = item;
    }
    out.metrics = ms;
  }
  const rest = LogBatchExtras.safeParse({ params, tags, batchId });
  if (!rest.success) return undefined;
  if (rest.data.params) out.params = rest.data.params;
  if (rest.data.tags) out.tags = rest.data.tags;
  if (rest.data.batchId !== undefined) out.batchId = rest.data.batchId;
  if ((out.metrics?.length ?? 0) + (out.params?.length ?? 0) + (out.tags?.length ?? 0) > LIMITS.batchTotal) return undefined;
  return out;
}


export const LogInputsRequest = z.object({
  datasets: z
    .array(
      z.object({
        dataset: z.object({
          name: z.string().min(1).max(LIMITS.datasetFieldLength),
          digest: z.string().min(1).max(LIMITS.datasetFieldLength),
          sourceType: z.string().min(1).max(LIMITS.datasetFieldLength),
          source: z.string().min(1).max(65535),
          schema: z.string().max(LIMITS.datasetSchemaLength).optional(),
          profile: z.string().max(16384).optional(),
        }),
        tags: z.record(Key, z.string().max(500)).optional(),
      }),
    )
    .max(LIMITS.datasetInputsPerCall),
});
export type LogInputsRequest = z.input<typeof LogInputsRequest>;

export const SearchRunsRequest = z.object({
  experimentIds: z.array(Id).min(1, "at least one experiment id is required").max(1000),
  filter: z.string().max(10000).optional(),
  orderBy: z.array(z.string().max(500)).max(20).optional(),
  maxResults: Int64.pipe(z.number().int().min(1).max(LIMITS.searchRunsMax)).optional(),
  pageToken: z.string().max(1000).optional(),
  viewType: ViewType.optional(),
});
export type SearchRunsRequest = z.input<typeof SearchRunsRequest>;

export const MetricHistoryQuery = z.object({
  maxResults: Int64.pipe(z.number().int().min(1).max(LIMITS.metricHistoryPageMax)).optional(),
  pageToken: z.string().max(1000).optional(),
});

export const DownsampleQuery = z.object({
  buckets: Int64.pipe(z.number().int().min(1).max(LIMITS.downsampleBucketsMax)).optional(),
  minStep: Int64.optional(),
  maxStep: Int64.optional(),
});
export type DownsampleQuery = z.input<typeof DownsampleQuery>;

export const BulkDownsampleRequest = z.object({
  runIds: z.array(Id).min(1).max(100),
  keys: z.array(Key).min(1).max(100),
  buckets: z.number().int().min(1).max(LIMITS.downsampleBucketsMax).optional(),
  minStep: Int64.optional(),
  maxStep: Int64.optional(),
});
export type BulkDownsampleRequest = z.input<typeof BulkDownsampleRequest>;

// ---------- responses ----------

export const MetricBucket = z.object({
  /** Lowest and highest step actually present in the bucket. */
  stepStart: z.number(),
  stepEnd: z.number(),
  count: z.number(),
  min: z.number(),
  max: z.number(),
  /** Value at the highest step in the bucket (latest timestamp breaks ties). */
  last: z.number(),
  lastStep: z.number(),
  lastTimestamp: z.number(),
});
export type MetricBucket = z.infer<typeof MetricBucket>;

export const DownsampledSeries = z.object({
  runId: z.string(),
  key: z.string(),
  /** Points in the requested step range. */
  totalPoints: z.number(),
  buckets: z.array(MetricBucket),
});
export type DownsampledSeries = z.infer<typeof DownsampledSeries>;

export const ArtifactEntry = z.object({ path: z.string(), isDir: z.boolean(), fileSize: z.number().optional() });
export type ArtifactEntry = z.infer<typeof ArtifactEntry>;

export const Page = <T extends z.ZodType>(key: string, item: T) => z.object({ [key]: z.array(item), nextPageToken: z.string().optional() });

export const ExperimentResponse = z.object({ experiment: Experiment });
export const ExperimentsPage = z.object({ experiments: z.array(Experiment), nextPageToken: z.string().optional() });
export const RunResponse = z.object({ run: Run });
export const RunsPage = z.object({ runs: z.array(Run), nextPageToken: z.string().optional() });
export const MetricHistoryPage = z.object({ metrics: z.array(Metric), nextPageToken: z.string().optional() });
export const ArtifactList = z.object({ rootUri: z.string(), files: z.array(ArtifactEntry) });
export const ArtifactUploaded = z.object({ path: z.string(), fileSize: z.number() });
export const BulkDownsampleResponse = z.object({ series: z.array(DownsampledSeries) });
export const Empty = z.object({});
