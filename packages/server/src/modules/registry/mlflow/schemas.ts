import { z } from "zod";
import { Int64, ModelName, StageInput, VersionNumber } from "@cairn/contract";

/**
 * Request schemas of MLflow's model-registry REST API (`model_registry.proto`), in its snake_case
 * JSON form. Values are checked again by the contract's schemas, so limits match the native API.
 */

const KeyValue = z.object({ key: z.string(), value: z.string() });
const stringList = z.union([z.string(), z.array(z.string())]).transform((v) => (Array.isArray(v) ? v : [v]));
/** MLflow's boolean fields arrive as JSON booleans, or as "true"/"false" in a query string. */
const Bool = z.union([z.boolean(), z.enum(["true", "false", "True", "False"]).transform((s) => s.toLowerCase() === "true")]);

export const NameOnly = z.object({ name: ModelName });
export const CreateRegisteredModel = z.object({ name: z.string(), tags: z.array(KeyValue).optional(), description: z.string().optional() });
export const RenameRegisteredModel = z.object({ name: ModelName, new_name: z.string() });
export const UpdateRegisteredModel = z.object({ name: ModelName, description: z.string().optional() });
export const Search = z.object({
  filter: z.string().optional(),
  max_results: Int64.optional(),
  order_by: stringList.optional(),
  page_token: z.string().optional(),
});
export const GetLatestVersions = z.object({ name: ModelName, stages: stringList.pipe(z.array(StageInput)).optional() });
export const SetModelTag = z.object({ name: ModelName, key: z.string(), value: z.string() });
export const DeleteModelTag = z.object({ name: ModelName, key: z.string() });
export const SetAlias = z.object({ name: ModelName, alias: z.string(), version: z.union([z.string(), z.number()]) });
export const AliasRef = z.object({ name: ModelName, alias: z.string() });

export const CreateModelVersion = z.object({
  name: ModelName,
  source: z.string(),
  run_id: z.string().optional(),
  tags: z.array(KeyValue).optional(),
  run_link: z.string().optional(),
  description: z.string().optional(),
});
export const VersionRef = z.object({ name: ModelName, version: VersionNumber });
export const UpdateModelVersion = VersionRef.extend({ description: z.string().optional() });
export const TransitionStage = VersionRef.extend({ stage: z.string(), archive_existing_versions: Bool.optional() });
export const SetVersionTag = VersionRef.extend({ key: z.string(), value: z.string() });
export const DeleteVersionTag = VersionRef.extend({ key: z.string() });
