/**
 * Limits on tracking data. They match MLflow's (`mlflow/utils/validation.py`),
 * but Cairn rejects an over-long value with INVALID_PARAMETER_VALUE instead of truncating it.
 */
export const LIMITS = {
  keyLength: 250,
  paramValueLength: 6000,
  runTagValueLength: 8000,
  experimentNameLength: 500,
  experimentTagValueLength: 5000,
  runNameLength: 250,
  batchMetrics: 1000,
  batchParams: 100,
  batchTags: 100,
  batchTotal: 1000,
  searchRunsDefault: 1000,
  searchRunsMax: 50000,
  searchExperimentsDefault: 1000,
  searchExperimentsMax: 50000,
  metricHistoryPageMax: 25000,
  downsampleBucketsDefault: 1000,
  downsampleBucketsMax: 10000,
  datasetInputsPerCall: 100,
  datasetFieldLength: 500,
  datasetSchemaLength: 1048576,
} as const;

/**
 * Allowed characters in metric, param and tag keys: MLflow's rule
 * (alphanumerics, underscore, dash, period, space, colon and slash).
 */
export const KEY_PATTERN = /^[\w.\- :/]+$/;

/**
 * Whether a key is a clean relative path: MLflow rejects keys whose normalized
 * path differs from the key itself (`a//b`, `./a`, `a/../b`, `/a`, `a/`).
 */
export function isCleanKeyPath(key: string): boolean {
  if (key.startsWith("/") || key.endsWith("/")) return false;
  return key.split("/").every((seg) => seg !== "" && seg !== "." && seg !== "..");
}
