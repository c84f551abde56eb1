import { z } from "zod";
import { Int64, Key } from "./tracking.js";
import type { RouteDef } from "./routes.js";

/** Limits on model-registry data (MLflow's registry tag values may be 100,000 characters). */
export const REGISTRY_LIMITS = {
  modelNameLength: 256,
  descriptionLength: 65536,
  tagValueLength: 100000,
  aliasLength: 255,
  sourceLength: 4096,
  searchModelsDefault: 100,
  searchModelsMax: 1000,
  searchVersionsDefault: 10000,
  searchVersionsMax: 10000,
} as const;

/** A registered model's name. */
export const ModelName = z
  .string()
  .min(1, "must not be empty")
  .max(REGISTRY_LIMITS.modelNameLength, `must be at most ${REGISTRY_LIMITS.modelNameLength} characters`);

/** A version number: a positive integer, sent as a string or a number (MLflow sends strings). */
export const VersionNumber = Int64.pipe(z.number().int().min(1, "must be a positive integer"));

/**
 * An alias name: letters, digits, `_` and `-`. `latest` and names that look like versions
 * (`3`, `v3`) are reserved, as in MLflow, so `models:/name@alias` is never ambiguous.
 */
export const AliasName = z
  .string()
  .min(1, "must not be empty")
  .max(REGISTRY_LIMITS.aliasLength, `must be at most ${REGISTRY_LIMITS.aliasLength} characters`)
  .regex(/^[\w-]+$/, "may only contain alphanumerics, underscores (_) and dashes (-)")
  .refine((a) => !/^v?\d+$/i.test(a) && a.toLowerCase() !== "latest", "is reserved ('latest' and version-like names such as 'v3')");

/** MLflow's (legacy) model stages. */
export const ModelStage = z.enum(["None", "Staging", "Production", "Archived"]);
export type ModelStage = z.infer<typeof ModelStage>;
/** A stage name, case-insensitive on input (MLflow accepts `production`). */
export const StageInput = z
  .string()
  .transform((s, ctx) => {
    const hit = ModelStage.options.find((o) => o.toLowerCase() === s.toLowerCase());
    if (!hit) {
      ctx.addIssue({ code: "custom", message: `must be one of ${ModelStage.options.join(", ")}` });
      return z.NEVER;
    }
    return hit;
  });

export const ModelVersionStatus = z.enum(["PENDING_REGISTRATION", "FAILED_REGISTRATION", "READY"]);
export type ModelVersionStatus = z.infer<typeof ModelVersionStatus>;

const registryTagMap = z.record(Key, z.string().max(REGISTRY_LIMITS.tagValueLength, `tag values must be at most ${REGISTRY_LIMITS.tagValueLength} characters`));
const Description = z.string().max(REGISTRY_LIMITS.descriptionLength, `must be at most ${REGISTRY_LIMITS.descriptionLength} characters`);

// ---------- entities ----------

export const ModelVersion = z.object({
  name: z.string(),
  /** Decimal string, as in MLflow. */
  version: z.string(),
  creationTimestamp: z.number(),
  lastUpdatedTimestamp: z.number(),
  userId: z.string(),
  currentStage: ModelStage,
  description: z.string(),
  source: z.string(),
  runId: z.string(),
  status: ModelVersionStatus,
  statusMessage: z.string(),
  tags: z.record(z.string(), z.string()),
  runLink: z.string(),
  aliases: z.array(z.string()),
});
export type ModelVersion = z.infer<typeof ModelVersion>;

export const ModelAlias = z.object({ alias: z.string(), version: z.string() });
export type ModelAlias = z.infer<typeof ModelAlias>;

export const RegisteredModel = z.object({
  name: z.string(),
  creationTimestamp: z.number(),
  lastUpdatedTimestamp: z.number(),
  userId: z.string(),
  description: z.string(),
  /** The highest version in each stage that has one. */
  latestVersions: z.array(ModelVersion),
  tags: z.record(z.string(), z.string()),
  aliases: z.array(ModelAlias),
});
export type RegisteredModel = z.infer<typeof RegisteredModel>;

/** One change of an alias: `fromVersion` null means it was created, `toVersion` null means it was deleted. */
export const AliasHistoryEntry = z.object({
  alias: z.string(),
  fromVersion: z.string().nullable(),
  toVersion: z.string().nullable(),
  actor: z.string(),
  time: z.number(),
});
export type AliasHistoryEntry = z.infer<typeof AliasHistoryEntry>;

// ---------- requests ----------

export const CreateRegisteredModelRequest = z.object({
  name: ModelName,
  description: Description.optional(),
  tags: registryTagMap.optional(),
});
export type CreateRegisteredModelRequest = z.input<typeof CreateRegisteredModelRequest>;

export const RenameRegisteredModelRequest = z.object({ newName: ModelName });
export const UpdateRegisteredModelRequest = z.object({ description: Description });
export const SetRegistryTagRequest = z.object({
  key: Key,
  value: z.string().max(REGISTRY_LIMITS.tagValueLength, `must be at most ${REGISTRY_LIMITS.tagValueLength} characters`),
});
export const RegistryTagQuery = z.object({ key: Key });

export const SearchRegisteredModelsRequest = z.object({
  filter: z.string().max(10000).optional(),
  orderBy: z.array(z.string().max(500)).max(20).optional(),
  maxResults: Int64.pipe(z.number().int().min(1).max(REGISTRY_LIMITS.searchModelsMax)).optional(),
  pageToken: z.string().max(1000).optional(),
});
export type SearchRegisteredModelsRequest = z.input<typeof SearchRegisteredModelsRequest>;

export const SearchModelVersionsRequest = z.object({
  filter: z.string().max(10000).optional(),
  orderBy: z.array(z.string().max(500)).max(20).optional(),
  maxResults: Int64.pipe(z.number().int().min(1).max(REGISTRY_LIMITS.searchVersionsMax)).optional(),
  pageToken: z.string().max(1000).optional(),
});
export type SearchModelVersionsRequest = z.input<typeof SearchModelVersionsRequest>;

export const SetAliasRequest = z.object({ version: VersionNumber });

export const CreateModelVersionRequest = z.object({
  source: z.string().min(1, "must not be empty").max(REGISTRY_LIMITS.sourceLength),
  runId: z.string().min(1).max(64).optional(),
  runLink: z.string().max(REGISTRY_LIMITS.sourceLength).optional(),
  description: Description.optional(),
  tags: registryTagMap.optional(),
});
export type CreateModelVersionRequest = z.input<typeof CreateModelVersionRequest>;

export const UpdateModelVersionRequest = z.object({ description: Description });
export const TransitionStageRequest = z.object({ stage: StageInput, archiveExistingVersions: z.boolean().optional() });
export type TransitionStageRequest = z.input<typeof TransitionStageRequest>;

export const AliasHistoryQuery = z.object({ at: Int64.optional() });

// ---------- responses ----------

export const RegisteredModelResponse = z.object({ registeredModel: RegisteredModel });
export const RegisteredModelsPage = z.object({ registeredModels: z.array(RegisteredModel), nextPageToken: z.string().optional() });
export const ModelVersionResponse = z.object({ modelVersion: ModelVersion });
export const ModelVersionsPage = z.object({ modelVersions: z.array(ModelVersion), nextPageToken: z.string().optional() });
export const DownloadUriResponse = z.object({ artifactUri: z.string() });
/** Alias history, newest first; with `at`, also the version the alias pointed to then (null: none). */
export const AliasHistoryResponse = z.object({ history: z.array(AliasHistoryEntry), versionAt: z.string().nullable().optional() });

// ---------- routes ----------

function route<const R extends RouteDef>(r: R): R {
  return r;
}

const Empty = z.object({});
const NameParams = z.object({ name: ModelName });
const AliasParams = z.object({ name: ModelName, alias: AliasName });
const VersionParams = z.object({ name: ModelName, version: VersionNumber });

/**
 * The native model-registry API, under /api/v1/models (version search is `/api/v1/model-versions/search`,
 * so that no model name can shadow it).
 */
export const registryRoutes = {
  createRegisteredModel: route({ method: "POST", path: "/api/v1/models", summary: "Create a registered model", tag: "models", body: CreateRegisteredModelRequest, response: RegisteredModelResponse, status: 201 }),
  searchRegisteredModels: route({ method: "POST", path: "/api/v1/models/search", summary: "Search registered models with a filter, order and paging", tag: "models", body: SearchRegisteredModelsRequest, response: RegisteredModelsPage }),
  getRegisteredModel: route({ method: "GET", path: "/api/v1/models/:name", summary: "Get a registered model", tag: "models", params: NameParams, response: RegisteredModelResponse }),
  renameRegisteredModel: route({ method: "POST", path: "/api/v1/models/:name/rename", summary: "Rename a registered model (its versions, tags and aliases move with it)", tag: "models", params: NameParams, body: RenameRegisteredModelRequest, response: RegisteredModelResponse }),
  updateRegisteredModel: route({ method: "PATCH", path: "/api/v1/models/:name", summary: "Update a registered model's description", tag: "models", params: NameParams, body: UpdateRegisteredModelRequest, response: RegisteredModelResponse }),
  deleteRegisteredModel: route({ method: "DELETE", path: "/api/v1/models/:name", summary: "Delete a registered model with its versions, tags and aliases", tag: "models", params: NameParams, response: Empty }),
  setRegisteredModelTag: route({ method: "PUT", path: "/api/v1/models/:name/tags", summary: "Set a registered model tag", tag: "models", params: NameParams, body: SetRegistryTagRequest, response: Empty }),
  deleteRegisteredModelTag: route({ method: "DELETE", path: "/api/v1/models/:name/tags", summary: "Delete a registered model tag", tag: "models", params: NameParams, query: RegistryTagQuery, response: Empty }),

  setAlias: route({ method: "PUT", path: "/api/v1/models/:name/aliases/:alias", summary: "Point an alias at a version (recorded in the alias history)", tag: "aliases", params: AliasParams, body: SetAliasRequest, response: Empty }),
  deleteAlias: route({ method: "DELETE", path: "/api/v1/models/:name/aliases/:alias", summary: "Delete an alias (recorded in the alias history)", tag: "aliases", params: AliasParams, response: Empty }),
  getAlias: route({ method: "GET", path: "/api/v1/models/:name/aliases/:alias", summary: "Get the version an alias points to", tag: "aliases", params: AliasParams, response: ModelVersionResponse }),
  getAliasHistory: route({ method: "GET", path: "/api/v1/models/:name/aliases/:alias/history", summary: "An alias's changes, newest first; `at` also answers which version it pointed to then", tag: "aliases", params: AliasParams, query: AliasHistoryQuery, response: AliasHistoryResponse }),

  createModelVersion: route({ method: "POST", path: "/api/v1/models/:name/versions", summary: "Register a new version (numbered 1, 2, … per model)", tag: "model-versions", params: NameParams, body: CreateModelVersionRequest, response: ModelVersionResponse, status: 201 }),
  searchModelVersions: route({ method: "POST", path: "/api/v1/model-versions/search", summary: "Search model versions with a filter, order and paging", tag: "model-versions", body: SearchModelVersionsRequest, response: ModelVersionsPage }),
  getModelVersion: route({ method: "GET", path: "/api/v1/models/:name/versions/:version", summary: "Get a model version", tag: "model-versions", params: VersionParams, response: ModelVersionResponse }),
  updateModelVersion: route({ method: "PATCH", path: "/api/v1/models/:name/versions/:version", summary: "Update a model version's description", tag: "model-versions", params: VersionParams, body: UpdateModelVersionRequest, response: ModelVersionResponse }),
  deleteModelVersion: route({ method: "DELETE", path: "/api/v1/models/:name/versions/:version", summary: "Delete a model version (its aliases are deleted too, in the alias history)", tag: "model-versions", params: VersionParams, response: Empty }),
  setModelVersionTag: route({ method: "PUT", path: "/api/v1/models/:name/versions/:version/tags", summary: "Set a model version tag", tag: "model-versions", params: VersionParams, body: SetRegistryTagRequest, response: Empty }),
  deleteModelVersionTag: route({ method: "DELETE", path: "/api/v1/models/:name/versions/:version/tags", summary: "Delete a model version tag", tag: "model-versions", params: VersionParams, query: RegistryTagQuery, response: Empty }),
  transitionModelVersionStage: route({ method: "POST", path: "/api/v1/models/:name/versions/:version/stage", summary: "Move a version to a stage (legacy; prefer aliases)", tag: "model-versions", params: VersionParams, body: TransitionStageRequest, response: ModelVersionResponse }),
  getModelVersionDownloadUri: route({ method: "GET", path: "/api/v1/models/:name/versions/:version/download-uri", summary: "The artifact URI a version's files are read from", tag: "model-versions", params: VersionParams, response: DownloadUriResponse }),
} as const satisfies Record<string, RouteDef>;

export type RegistryRoutes = typeof registryRoutes;
