import { CairnError } from "@cairn/contract";
import type { LogBatchInput } from "./tracking-store.js";
import { latestPoint } from "./rollups.js";
import type { StoredPoint } from "./rollups.js";

/** The tag that mirrors a run's name (MLflow). */
export const RUN_NAME_TAG = "mlflow.runName";

/** One metric key of a batch: its points (NaN as null) and its latest point. */
export interface BatchSeries {
  key: string;
  points: StoredPoint[];
  latest: StoredPoint;
}

/** A batch grouped and checked in memory before any SQL runs. */
export interface PreparedBatch {
  params: { key: string; value: string }[];
  tags: { key: string; value: string }[];
  /** The new run name when the batch sets the `mlflow.runName` tag. */
  runName: string | undefined;
  /** Sorted by key, so concurrent writers lock series rows in the same order. */
  series: BatchSeries[];
  pointCount: number;
  /** The client's id for this batch; a batch whose id was already applied to the run is skipped. */
  batchId: string | undefined;
}

/**
 * Groups a batch by key and rejects internal conflicts: the same param key twice with different
 * values is INVALID_PARAMETER_VALUE. Duplicate tag keys keep the last value.
 */
export function prepareBatch(batch: LogBatchInput): PreparedBatch {
  const params = new Map<string, string>();
  for (const p of batch.params) {
    const prev = params.get(p.key);
    if (prev !== undefined && prev !== p.value) {
      throw new CairnError("INVALID_PARAMETER_VALUE", `Duplicate parameter key '${p.key}' in the batch with different values ('${prev}' and '${p.value}')`);
    }
    params.set(p.key, p.value);
  }
  const tags = new Map<string, string>();
  for (const t of batch.tags) tags.set(t.key, t.value);
  const byKey = new Map<string, StoredPoint[]>();
  for (const m of batch.metrics) {
    let list = byKey.get(m.key);
    if (!list) byKey.set(m.key, (list = []));
    list.push({ step: m.step, timestamp: m.timestamp, value: Number.isNaN(m.value) ? null : m.value });
  }
  const series = [...byKey.entries()]
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([key, points]) => ({ key, points, latest: latestPoint(points) }));
  return {
    params: [...params.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([key, value]) => ({ key, value })),
    tags: [...tags.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([key, value]) => ({ key, value })),
    runName: tags.get(RUN_NAME_TAG),
    series,
    pointCount: batch.metrics.length,
    batchId: batch.batchId,
  };
}

/** INVALID_PARAMETER_VALUE for a param logged again with another value (MLflow's wording). */
export function paramConflict(runId: string, key: string, oldValue: string, newValue: string): CairnError {
  return new CairnError(
    "INVALID_PARAMETER_VALUE",
    `Changing param values is not allowed. Param with key='${key}' was already logged with value='${oldValue}' for run ID='${runId}'. Attempted logging new value '${newValue}'.`,
  );
}

/** RESOURCE_DOES_NOT_EXIST for an unknown run. */
export function runNotFound(runId: string): CairnError {
  return new CairnError("RESOURCE_DOES_NOT_EXIST", `Run with id=${runId} not found`);
}

/** INVALID_PARAMETER_VALUE for a write to a deleted run (MLflow's wording). */
export function runNotActive(runId: string, stage: string): CairnError {
  return new CairnError("INVALID_PARAMETER_VALUE", `The run ${runId} must be in the 'active' state. Current state is ${stage}.`);
}

/** RESOURCE_DOES_NOT_EXIST for an unknown experiment. */
export function experimentNotFound(experimentId: string): CairnError {
  return new CairnError("RESOURCE_DOES_NOT_EXIST", `No Experiment with id=${experimentId} exists`);
}

/** INVALID_PARAMETER_VALUE for a write to a deleted experiment. */
export function experimentNotActive(experimentId: string, stage: string): CairnError {
  return new CairnError("INVALID_PARAMETER_VALUE", `The experiment ${experimentId} must be in the 'active' state. Current state is ${stage}.`);
}

/** RESOURCE_ALREADY_EXISTS for a duplicate experiment name. */
export function experimentNameTaken(name: string): CairnError {
  return new CairnError("RESOURCE_ALREADY_EXISTS", `Experiment '${name}' already exists.`);
}

export { isUniqueViolation } from "../../../platform/db/database.js";
