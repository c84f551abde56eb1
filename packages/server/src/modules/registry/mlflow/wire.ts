import type { ModelVersion, RegisteredModel } from "@cairn/contract";

/** Converters from Cairn's registry entities to MLflow's snake_case JSON (protobuf JSON field names). */

const kv = (r: Record<string, string>) => Object.entries(r).map(([key, value]) => ({ key, value }));

export function mlflowModelVersion(v: ModelVersion) {
  const out: Record<string, unknown> = {
    name: v.name,
    version: v.version,
    creation_timestamp: v.creationTimestamp,
    last_updated_timestamp: v.lastUpdatedTimestamp,
    current_stage: v.currentStage,
    description: v.description,
    source: v.source,
    status: v.status,
    tags: kv(v.tags),
    aliases: v.aliases,
  };
  // MLflow leaves unset optional fields out rather than sending "".
  if (v.userId) out.user_id = v.userId;
  if (v.runId) out.run_id = v.runId;
  if (v.runLink) out.run_link = v.runLink;
  if (v.statusMessage) out.status_message = v.statusMessage;
  return out;
}

export function mlflowRegisteredModel(m: RegisteredModel) {
  const out: Record<string, unknown> = {
    name: m.name,
    creation_timestamp: m.creationTimestamp,
    last_updated_timestamp: m.lastUpdatedTimestamp,
    description: m.description,
    latest_versions: m.latestVersions.map(mlflowModelVersion),
    tags: kv(m.tags),
    aliases: m.aliases,
  };
  if (m.userId) out.user_id = m.userId;
  return out;
}
