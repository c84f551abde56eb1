import { z } from "zod";
import { InferenceArm } from "./serving.js";
import type { RouteDef } from "./routes.js";

/** Limits on ground-truth feedback and performance queries. */
export const MONITORING_LIMITS = {
  feedbackPerPost: 10_000,
  requestIdLength: 128,
  /** A string label's length. */
  labelLength: 256,
  /** Windows one performance query may ask for. */
  windowsMax: 1000,
  windowSecondsMin: 1,
  windowSecondsMax: 366 * 24 * 3600,
  /** Joined predictions read per version, arm and window; beyond it the window says `truncated`. */
  rowsPerWindow: 200_000,
  /** Default time range of a performance query (ending now). */
  defaultRangeMs: 24 * 3600 * 1000,
  calibrationBins: 10,
} as const;

/** A ground-truth label: a number (regression, or numeric classes), a boolean, or a class name. One type per deployment. */
export const FeedbackLabel = z.union([z.number(), z.boolean(), z.string().min(1).max(MONITORING_LIMITS.labelLength)]);
export type FeedbackLabel = z.infer<typeof FeedbackLabel>;

/** One label for a logged prediction, joined to it by request id (the `x-request-id` the deployment answered with). */
export const FeedbackRecord = z.object({
  requestId: z.string().min(1).max(MONITORING_LIMITS.requestIdLength),
  label: FeedbackLabel,
  /** When the label was observed (ms since the epoch; default: when it was posted). */
  time: z.number().int().min(0).optional(),
});
export type FeedbackRecord = z.infer<typeof FeedbackRecord>;

export const PostFeedbackRequest = z.object({ records: z.array(FeedbackRecord).min(1).max(MONITORING_LIMITS.feedbackPerPost) });
export type PostFeedbackRequest = z.input<typeof PostFeedbackRequest>;

/**
 * What a feedback post did. Labels are keyed by (deployment, request id): a label for a request that
 * already has one replaces it (a correction), and counts as `updated`; a request id given twice in one
 * post keeps its last label. `unmatched` counts request ids with no logged prediction of the deployment
 * yet: their labels are stored anyway (the log may not have flushed) and join once the prediction is logged.
 */
export const PostFeedbackResponse = z.object({
  accepted: z.number().int(),
  updated: z.number().int(),
  unmatched: z.number().int(),
});
export type PostFeedbackResponse = z.infer<typeof PostFeedbackResponse>;

export const PerformanceTask = z.enum(["classification", "regression"]);
export type PerformanceTask = z.infer<typeof PerformanceTask>;

export const PerformanceQuery = z.object({
  /** Predictions at or after this time (ms; default: `to` minus 24 hours). Windows start here. */
  from: z.coerce.number().int().min(0).optional(),
  /** Predictions before this time (ms; default: now). */
  to: z.coerce.number().int().min(1).optional(),
  /** Window length (default: the whole range as one window). */
  windowSeconds: z.coerce.number().int().min(MONITORING_LIMITS.windowSecondsMin).max(MONITORING_LIMITS.windowSecondsMax).optional(),
  /** Default: classification for boolean and string labels, regression for numbers. */
  task: PerformanceTask.optional(),
  /** The output tensor holding the prediction (default: the first). */
  output: z.string().min(1).max(256).optional(),
  /** The positive class (default: `true` for boolean labels, `1` for numbers; required for string labels). */
  positive: z.string().min(1).max(MONITORING_LIMITS.labelLength).optional(),
  /** A probability at or above it predicts the positive class (default 0.5). */
  threshold: z.coerce.number().min(0).max(1).default(0.5),
  /**
   * The reference that calibrates the label-free estimates (CBPE): labelled predictions at or after
   * this time (ms; default: `from`). See {@link EstimatedMetrics}.
   */
  referenceFrom: z.coerce.number().int().min(0).optional(),
  /** … and before this time (ms; default: `to`). */
  referenceTo: z.coerce.number().int().min(1).optional(),
});

/** One of 10 equal-width bins of predicted probability: the mean prediction and the observed positive rate in it. */
export const CalibrationBin = z.object({
  lower: z.number(),
  upper: z.number(),
  count: z.number().int(),
  /** Null when the bin is empty. */
  meanPredicted: z.number().nullable(),
  observedRate: z.number().nullable(),
});
export type CalibrationBin = z.infer<typeof CalibrationBin>;

/** Binary metrics for the positive class; null where undefined (no rows, a single class, no probability output). */
export const ClassificationMetrics = z.object({
  accuracy: z.number().nullable(),
  precision: z.number().nullable(),
  recall: z.number().nullable(),
  f1: z.number().nullable(),
  rocAuc: z.number().nullable(),
  logLoss: z.number().nullable(),
  calibration: z.array(CalibrationBin).nullable(),
});
export type ClassificationMetrics = z.infer<typeof ClassificationMetrics>;

/**
 * Label-free estimates of a window's binary metrics (CBPE, as NannyML's confidence-based performance
 * estimation): computed from every logged prediction of the window with a probability output, labelled
 * or not, so they exist before the labels arrive and sit beside the realized metrics once they do.
 *
 * How: the probabilities are calibrated by isotonic regression fitted on a reference of labelled
 * predictions of the same version and arm: those in [`referenceFrom`, `referenceTo`) (default: the
 * query's whole range), the oldest `MONITORING_LIMITS.rowsPerWindow` of them (so by default the
 * earliest labelled windows). Each prediction then adds its calibrated probability p to the expected
 * true positives (1 − p to the false positives) when its score is at or above `threshold`, else p to the
 * false negatives (1 − p to the true negatives); accuracy, precision, recall and F1 are those of the
 * expected confusion matrix. ROC AUC is the expected one: each prediction counts as p of a positive and
 * 1 − p of a negative at its score (ties one half), as NannyML does. Without labelled reference
 * predictions the scores are taken as calibrated already (`calibrated: false`). Estimates are only as
 * good as the calibration carries over: they assume the relation of score to outcome did not change
 * since the reference (covariate shift only). Null where undefined (no probability outputs, no
 * expected positives).
 */
export const EstimatedMetrics = z.object({
  /** Predictions of the window the estimate covers (with a probability output in [0, 1]). */
  n: z.number().int(),
  /** More than `MONITORING_LIMITS.rowsPerWindow` logged predictions: the estimate covers the first ones. */
  truncated: z.boolean(),
  /** Whether an isotonic calibration from labelled reference predictions was applied. */
  calibrated: z.boolean(),
  accuracy: z.number().nullable(),
  precision: z.number().nullable(),
  recall: z.number().nullable(),
  f1: z.number().nullable(),
  rocAuc: z.number().nullable(),
});
export type EstimatedMetrics = z.infer<typeof EstimatedMetrics>;

export const RegressionMetrics = z.object({
  mae: z.number().nullable(),
  rmse: z.number().nullable(),
  r2: z.number().nullable(),
});
export type RegressionMetrics = z.infer<typeof RegressionMetrics>;

/** One time window of one version and arm. */
export const PerformanceWindow = z.object({
  /** [start, end) in ms, by the prediction's time. */
  start: z.number().int(),
  end: z.number().int(),
  /** Labelled predictions the metrics are computed over. */
  n: z.number().int(),
  /** Labelled predictions whose output could not be read as a prediction (missing output, several rows, wrong type). */
  skipped: z.number().int(),
  /** More than `MONITORING_LIMITS.rowsPerWindow` labelled predictions: the metrics cover the first ones (oldest logged first). */
  truncated: z.boolean(),
  classification: ClassificationMetrics.optional(),
  /** Classification only: label-free estimates over all of the window's predictions (see {@link EstimatedMetrics}). */
  estimated: EstimatedMetrics.optional(),
  regression: RegressionMetrics.optional(),
});
export type PerformanceWindow = z.infer<typeof PerformanceWindow>;

export const PerformanceSeries = z.object({
  version: z.string(),
  arm: InferenceArm,
  /** Classification: the labelled predictions that calibrated this series' estimates ([from, to), n of them; n = 0: uncalibrated). */
  estimationReference: z.object({ from: z.number().int(), to: z.number().int(), n: z.number().int() }).optional(),
  windows: z.array(PerformanceWindow),
});

export const PerformanceResponse = z.object({
  deployment: z.string(),
  model: z.string(),
  task: PerformanceTask,
  /** The deployment's label type (null: no labels yet). */
  labelType: z.enum(["number", "boolean", "string"]).nullable(),
  positive: z.string().nullable(),
  threshold: z.number(),
  from: z.number().int(),
  to: z.number().int(),
  windowSeconds: z.number().int(),
  /**
   * One series per version and arm that has labelled predictions in the range (shadow included); for
   * classification also those with only unlabelled predictions (their estimates).
   */
  series: z.array(PerformanceSeries),
});
export type PerformanceResponse = z.infer<typeof PerformanceResponse>;

// ---------------------------------------------------------------- drift

export const DriftTestName = z.enum(["ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi"]);
export type DriftTestName = z.infer<typeof DriftTestName>;

const TimeRange = z.object({ from: z.number().int().min(0), to: z.number().int().min(0) }).refine((r) => r.from < r.to, "'from' must be before 'to'");

/** `BINARY` from routes.ts, repeated here: routes.ts imports this module. */
const BINARY = "binary" as const;

/** What the current window is compared with: an earlier window of the log, or a dataset version's tabular file. */
export const DriftReference = z.union([
  z.object({ window: TimeRange }).strict(),
  z.object({ dataset: z.string().min(1).max(600), path: z.string().min(1).max(1024).optional() }).strict(),
]);

export const DriftRequest = z.object({
  reference: DriftReference,
  /** The window of logged predictions to test (default: the last hour). */
  current: TimeRange.optional(),
  /** Only these columns (default: every input and output), each optionally with its own test and threshold. */
  columns: z.array(z.object({ name: z.string().min(1).max(512), test: DriftTestName.optional(), threshold: z.number().min(0).optional() })).max(2000).optional(),
  /** Names of the columns of 2-D input tensors, by tensor (`{ "features": ["age", "income"] }`), to match a dataset's columns. */
  columnNames: z.record(z.string(), z.array(z.string().min(1).max(512)).max(10_000)).optional(),
  /** The share of drifted columns at which the dataset counts as drifted (default 0.5). */
  driftShare: z.number().min(0).max(1).optional(),
});
export type DriftRequest = z.input<typeof DriftRequest>;

export const DriftColumnReport = z.object({
  column: z.string(),
  kind: z.enum(["numeric", "categorical"]),
  test: DriftTestName.optional(),
  statistic: z.number().optional(),
  pValue: z.number().optional(),
  threshold: z.number().optional(),
  drifted: z.boolean().optional(),
  /** True when the current window has no values in the column (no verdict, never a NaN score). */
  noData: z.boolean().optional(),
  /** Both distributions for charts: counts in shared bins (`edges`, numeric) or per value (`labels`, the most frequent; the rest as "(other)"). */
  histogram: z.object({ edges: z.array(z.number()).optional(), labels: z.array(z.string()).optional(), ref: z.array(z.number()), cur: z.array(z.number()) }).optional(),
  nRef: z.number().int(),
  nCur: z.number().int(),
});

export const DriftReportResponse = z.object({
  columns: z.array(DriftColumnReport),
  dataset: z.object({ driftedColumns: z.number().int(), totalColumns: z.number().int(), share: z.number(), driftShare: z.number(), datasetDrift: z.boolean(), noData: z.boolean() }),
  reference: z.object({ rows: z.number().int(), truncated: z.boolean(), source: z.string() }),
  /** A window of the log (`from`, `to`), or an uploaded file (`source`). */
  current: z.object({ rows: z.number().int(), truncated: z.boolean(), from: z.number().int().optional(), to: z.number().int().optional(), source: z.string().optional() }),
});
export type DriftReportResponse = z.infer<typeof DriftReportResponse>;

/** Formats of an uploaded drift file. */
export const DriftFileFormat = z.enum(["csv", "parquet"]);
export type DriftFileFormat = z.infer<typeof DriftFileFormat>;

/**
 * `POST /api/v1/drift`: drift of an uploaded file against a reference, no deployment needed. The
 * request body is the file's bytes (CSV with a header row, or Parquet), streamed, at most the server's
 * `driftUploadLimit` (`CAIRN_DRIFT_UPLOAD_LIMIT`, default 256 MiB) in all. The reference is either a
 * dataset version (`reference`) or a second uploaded file: then the body is the reference file's
 * `referenceBytes` bytes followed by the current file's (`cat ref.csv cur.csv | curl --data-binary @- …`).
 */
export const FileDriftQuery = z.object({
  /** A dataset version: `NAME@VERSION` (`data:` prefix allowed), e.g. `credit@v3`. */
  reference: z.string().min(1).max(600).optional(),
  /** The dataset version's tabular file, when it has several. */
  referencePath: z.string().min(1).max(1024).optional(),
  /** Instead of `reference`: the body starts with a reference file of this many bytes. */
  referenceBytes: z.coerce.number().int().min(1).optional(),
  /** Default: Parquet when the file starts with `PAR1`, else CSV. */
  referenceFormat: DriftFileFormat.optional(),
  currentFormat: DriftFileFormat.optional(),
  /** Names of the files, for the report and messages (default `reference`, `current`). */
  referenceName: z.string().min(1).max(256).optional(),
  currentName: z.string().min(1).max(256).optional(),
  /** Only these columns, comma-separated (default: every column of the current file; the reference must have each). */
  columns: z.string().min(1).max(100_000).optional(),
  /** One test for every column (default: Evidently's automatic choice per column). */
  test: DriftTestName.optional(),
  /** The test's drift threshold for every column (default: the test's). */
  threshold: z.coerce.number().min(0).optional(),
  /** The share of drifted columns at which the dataset counts as drifted (default 0.5). */
  driftShare: z.coerce.number().min(0).max(1).optional(),
});
export type FileDriftQuery = z.input<typeof FileDriftQuery>;

// ---------------------------------------------------------------- monitors and alerts

/** A monitor's name: like a deployment's. */
export const MonitorName = z.string().min(1).max(63).regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, "must be lower-case letters, digits and '-', starting and ending with a letter or digit");

/** What an alert does when it fires: record an event (always), call a webhook, or start a pipeline run (retraining). */
export const AlertAction = z.discriminatedUnion("type", [
  z.object({ type: z.literal("webhook"), url: z.string().min(1).max(2048) }),
  z.object({ type: z.literal("pipeline"), pipeline: z.string().min(1).max(256), params: z.record(z.string().min(1).max(256), z.union([z.string().max(65536), z.number(), z.boolean()])).optional() }),
]);
export type AlertAction = z.infer<typeof AlertAction>;

/**
 * A threshold rule on one of the monitor's series: `traffic.<arm>.requests|error_rate`,
 * `latency.<arm>.mean_ms`, `prediction.<arm>.<output>.mean|p10|p50|p90`, `drift.share`,
 * `drift.<column>` (and `.p_value`), `performance.<arm>.<metric>`, `estimated.<arm>.<metric>`.
 */
export const AlertRule = z.object({
  name: z.string().min(1).max(128).regex(/^[\w.-]+$/, "letters, digits, '_', '.' and '-'"),
  series: z.string().min(1).max(600),
  op: z.enum([">", ">=", "<", "<="]),
  threshold: z.number(),
  /** Consecutive breached windows before it fires (default 1). */
  forWindows: z.number().int().min(1).max(1000).default(1),
  /** A re-firing within this many seconds of the last runs no actions (default 0). */
  cooldownSeconds: z.number().int().min(0).max(366 * 24 * 3600).default(0),
  actions: z.array(AlertAction).max(10).default([]),
});
export type AlertRule = z.output<typeof AlertRule>;

export const MonitorSpec = z.object({
  name: MonitorName,
  /** Each run looks at the last `windowSeconds` of traffic … */
  windowSeconds: z.number().int().min(10).max(30 * 24 * 3600).default(3600),
  /** … every `intervalSeconds`. */
  intervalSeconds: z.number().int().min(5).max(30 * 24 * 3600).default(300),
  /** What drift is measured against (none: no drift series). */
  reference: DriftReference.optional(),
  columns: DriftRequest.shape.columns,
  columnNames: DriftRequest.shape.columnNames,
  /**
   * Realized performance from labels (classification: positive class, threshold; or regression), and for
   * classification label-free estimates, calibrated on the labels of the reference window when `reference`
   * is a window, else on the window's own.
   */
  performance: z.object({ task: PerformanceTask, output: z.string().max(256).optional(), positive: z.union([z.string(), z.number(), z.boolean()]).optional(), threshold: z.number().min(0).max(1).optional() }).optional(),
  rules: z.array(AlertRule).max(100).default([]),
});
export type MonitorSpec = z.input<typeof MonitorSpec>;

export const Monitor = z.object({
  deployment: z.string(),
  spec: MonitorSpec,
  createdAt: z.number().int(),
  createdBy: z.string(),
  lastRunAt: z.number().int().nullable(),
  nextRunAt: z.number().int(),
  /** Each rule's state: ok, pending (breached, not yet for long enough) or firing. */
  alerts: z.array(z.object({ rule: z.string(), status: z.enum(["ok", "pending", "firing"]), consecutive: z.number().int(), lastFiredAt: z.number().int().nullable() })),
});
export type Monitor = z.infer<typeof Monitor>;

export const MonitorPoint = z.object({ time: z.number().int(), series: z.string(), value: z.number().nullable() });
export const MonitorSeriesQuery = z.object({
  series: z.string().max(600).optional(),
  from: z.coerce.number().int().min(0).optional(),
  to: z.coerce.number().int().min(0).optional(),
  limit: z.coerce.number().int().min(1).max(100_000).optional(),
  /** With `limit`: the newest points rather than the oldest (answered oldest first either way). */
  latest: z.enum(["true", "false"]).transform((v) => v === "true").optional(),
});
export const MonitorSeriesResponse = z.object({ points: z.array(MonitorPoint) });

export const AlertEvent = z.object({
  seq: z.number().int(),
  deployment: z.string(),
  monitor: z.string(),
  rule: z.string(),
  kind: z.enum(["fired", "suppressed", "resolved"]),
  time: z.number().int(),
  value: z.number(),
  /** What each action did (a webhook's status, the pipeline run started). */
  actions: z.array(z.object({ type: z.string(), ok: z.boolean(), detail: z.string() })),
});
export type AlertEvent = z.infer<typeof AlertEvent>;
export const AlertEventsQuery = z.object({ monitor: z.string().max(63).optional(), limit: z.coerce.number().int().min(1).max(1000).optional(), before: z.coerce.number().int().min(1).optional() });
export const AlertEventsResponse = z.object({ events: z.array(AlertEvent) });
export const MonitorRunResponse = z.object({ time: z.number().int(), points: z.array(MonitorPoint), events: z.array(AlertEvent) });

function route<const R extends RouteDef>(r: R): R {
  return r;
}
// `name` so the auth guard resolves the deployment's model project (write to post, read to query).
const DeploymentParams = z.object({ name: z.string().min(1).max(256) });

/** Monitoring: delayed ground truth for a deployment's predictions, and its performance over time. */
export const monitoringRoutes = {
  postFeedback: route({ method: "POST", path: "/api/v1/deployments/:name/feedback", summary: "Post ground-truth labels for a deployment's predictions by request id (a later label for a request replaces the earlier one)", tag: "monitoring", params: DeploymentParams, body: PostFeedbackRequest, response: PostFeedbackResponse, permission: "write" }),
  deploymentDrift: route({ method: "POST", path: "/api/v1/deployments/:name/drift", summary: "Drift of a deployment's logged inputs and outputs in a window against a reference (an earlier window or a dataset version), per column with Evidently's tests, SciPy-exact", tag: "monitoring", params: DeploymentParams, body: DriftRequest, response: DriftReportResponse, permission: "read" }),
  fileDrift: route({ method: "POST", path: "/api/v1/drift", summary: "Drift of an uploaded CSV or Parquet file (the body) against a dataset version or a second uploaded file, per column with Evidently's tests, SciPy-exact; no deployment needed", tag: "monitoring", query: FileDriftQuery, body: BINARY, response: DriftReportResponse, permission: "read" }),
  createMonitor: route({ method: "POST", path: "/api/v1/deployments/:name/monitors", summary: "Create (or replace) a monitor: drift, traffic and performance over sliding windows on a schedule, with alert rules", tag: "monitoring", params: DeploymentParams, body: MonitorSpec, response: Monitor, status: 201, permission: "write" }),
  listMonitors: route({ method: "GET", path: "/api/v1/deployments/:name/monitors", summary: "A deployment's monitors with their alert states", tag: "monitoring", params: DeploymentParams, response: z.object({ monitors: z.array(Monitor) }), permission: "read" }),
  deleteMonitor: route({ method: "DELETE", path: "/api/v1/deployments/:name/monitors/:monitor", summary: "Delete a monitor with its series and alert history", tag: "monitoring", params: DeploymentParams.extend({ monitor: z.string().min(1).max(63) }), response: z.object({}), permission: "write" }),
  runMonitor: route({ method: "POST", path: "/api/v1/deployments/:name/monitors/:monitor/run", summary: "Run a monitor now (as its schedule would): its window's points, and the alerts they fired", tag: "monitoring", params: DeploymentParams.extend({ monitor: z.string().min(1).max(63) }), response: MonitorRunResponse, permission: "write" }),
  getMonitorSeries: route({ method: "GET", path: "/api/v1/deployments/:name/monitors/:monitor/series", summary: "A monitor's stored points, oldest first (one series, or all)", tag: "monitoring", params: DeploymentParams.extend({ monitor: z.string().min(1).max(63) }), query: MonitorSeriesQuery, response: MonitorSeriesResponse, permission: "read" }),
  listAlertEvents: route({ method: "GET", path: "/api/v1/deployments/:name/alerts", summary: "A deployment's alert events, newest first: fired, suppressed (cooldown) and resolved, with what their actions did", tag: "monitoring", params: DeploymentParams, query: AlertEventsQuery, response: AlertEventsResponse, permission: "read" }),
  getPerformance: route({ method: "GET", path: "/api/v1/deployments/:name/performance", summary: "A deployment's performance against its labels per version, arm and time window (classification or regression metrics)", tag: "monitoring", params: DeploymentParams, query: PerformanceQuery, response: PerformanceResponse, permission: "read" }),
} as const satisfies Record<string, RouteDef>;
