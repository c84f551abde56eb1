import type { ArtifactEntry, DatasetInput, Experiment, Metric, Run, RunInfo } from "@cairn/contract";
import { wireNumber } from "../../../platform/http/json-body.js";

/** Converters from Cairn's entities to MLflow's snake_case JSON (protobuf JSON field names). */

const kv = (r: Record<string, string>) => Object.entries(r).map(([key, value]) => ({ key, value }));

export function mlflowExperiment(e: Experiment) {
  return {
    experiment_id: e.experimentId,
    name: e.name,
    artifact_location: e.artifactLocation,
    lifecycle_stage: e.lifecycleStage,
    creation_time: e.creationTime,
    last_update_time: e.lastUpdateTime,
    tags: kv(e.tags),
  };
}

export function mlflowRunInfo(i: RunInfo) {
  const out: Record<string, unknown> = {
    run_id: i.runId,
    run_uuid: i.runId,
    run_name: i.runName,
    experiment_id: i.experimentId,
    user_id: i.userId,
    status: i.status,
    start_time: i.startTime,
    artifact_uri: i.artifactUri,
    lifecycle_stage: i.lifecycleStage,
  };
  if (i.endTime !== null) out.end_time = i.endTime;
  return out;
}

export function mlflowMetric(m: Metric) {
  return { key: m.key, value: wireNumber(m.value), timestamp: m.timestamp, step: m.step };
}

function mlflowInput(d: DatasetInput) {
  const ds: Record<string, string> = { name: d.dataset.name, digest: d.dataset.digest, source_type: d.dataset.sourceType, source: d.dataset.source };
  if (d.dataset.schema !== undefined) ds.schema = d.dataset.schema;
  if (d.dataset.profile !== undefined) ds.profile = d.dataset.profile;
  return { tags: kv(d.tags), dataset: ds };
}

export function mlflowRun(r: Run) {
  return {
    info: mlflowRunInfo(r.info),
    data: { metrics: r.data.metrics.map(mlflowMetric), params: kv(r.data.params), tags: kv(r.data.tags) },
    inputs: { dataset_inputs: r.inputs.datasetInputs.map(mlflowInput) },
  };
}

export function mlflowFile(f: ArtifactEntry, name = f.path) {
  const out: Record<string, unknown> = { path: name, is_dir: f.isDir };
  if (!f.isDir && f.fileSize !== undefined) out.file_size = f.fileSize;
  return out;
}

/** Folds MLflow's `[{key, value}]` tag lists into a record. */
export function tagRecord(tags: { key: string; value: string }[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of tags ?? []) out[t.key] = t.value;
  return out;
}
