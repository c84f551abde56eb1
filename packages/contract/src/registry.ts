import { z } from "zod";
import { Int64, Key } from "./tracking.js";
import type { RouteDef } from "./routes.js";

/** `BINARY` from routes.ts, repeated here: routes.ts imports this module, so importing the value back would be circular. */
const BINARY = "binary" as const;

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
  /** Tensors per side (inputs or outputs) of a signature. */
  signatureTensors: 1000,
  tensorNameLength: 256,
  tensorRank: 32,
  /** Each free-text field of a model card. */
  cardTextLength: 20000,
  cardListItems: 100,
  cardItemLength: 1000,
  retireReasonLength: 2000,
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

// ---------- governance: signatures, cards, retirement ----------

/** Element types a tensor may have. */
export const TensorDType = z.enum(["float32", "float64", "int32", "int64", "bool", "string", "uint8", "int8", "float16"]);
export type TensorDType = z.infer<typeof TensorDType>;

/** One named tensor of a signature; `-1` in `shape` is a dynamic dimension. */
export const TensorSpec = z.object({
  name: z.string().min(1, "must not be empty").max(REGISTRY_LIMITS.tensorNameLength, `must be at most ${REGISTRY_LIMITS.tensorNameLength} characters`),
  dtype: TensorDType,
  shape: z
    .array(z.number().int("dimensions must be integers").min(-1, "dimensions must be -1 (dynamic) or a size >= 0"))
    .max(REGISTRY_LIMITS.tensorRank, `at most ${REGISTRY_LIMITS.tensorRank} dimensions`),
  optional: z.boolean().optional(),
});
export type TensorSpec = z.infer<typeof TensorSpec>;

const tensorList = z
  .array(TensorSpec)
  .max(REGISTRY_LIMITS.signatureTensors, `at most ${REGISTRY_LIMITS.signatureTensors} tensors`)
  .superRefine((list, ctx) => {
    const seen = new Set<string>();
    list.forEach((t, i) => {
      if (seen.has(t.name)) ctx.addIssue({ code: "custom", path: [i, "name"], message: `duplicate tensor name '${t.name}'` });
      seen.add(t.name);
    });
  });

/** A model version's signature: its input and output tensors (names unique within each list). */
export const ModelSignature = z.object({ inputs: tensorList, outputs: tensorList });
export type ModelSignature = z.infer<typeof ModelSignature>;

/** A retired version's state: deprecated (still usable) or archived (takes no alias). */
export const RetirementState = z.enum(["deprecated", "archived"]);
export type RetirementState = z.infer<typeof RetirementState>;
export const Retirement = z.object({ state: RetirementState, reason: z.string(), time: z.number() });
export type Retirement = z.infer<typeof Retirement>;

/** How a version pair differs, finding by finding. */
export const CompatibilityFindingKind = z.enum([
  "no_signature",
  "input_removed",
  "input_renamed",
  "input_added_required",
  "input_added_optional",
  "input_became_required",
  "input_became_optional",
  "output_removed",
  "output_added",
  "dtype_changed",
  "shape_changed",
]);
export type CompatibilityFindingKind = z.infer<typeof CompatibilityFindingKind>;
export const CompatibilityFinding = z.object({
  kind: CompatibilityFindingKind,
  /** `inputs.<name>` or `outputs.<name>` (the old name for a rename); `signature` for no_signature. */
  field: z.string(),
  from: z.string().optional(),
  to: z.string().optional(),
  breaking: z.boolean(),
  message: z.string(),
});
export type CompatibilityFinding = z.infer<typeof CompatibilityFinding>;

const cardText = z.string().max(REGISTRY_LIMITS.cardTextLength, `must be at most ${REGISTRY_LIMITS.cardTextLength} characters`);
const cardItem = z.string().min(1, "must not be empty").max(REGISTRY_LIMITS.cardItemLength, `must be at most ${REGISTRY_LIMITS.cardItemLength} characters`);

/** EU AI Act style risk classes. */
export const RiskClass = z.enum(["minimal", "limited", "high", "unacceptable"]);
export type RiskClass = z.infer<typeof RiskClass>;

/** A registered model's card: structured documentation, stored per model. Every field is optional. */
export const ModelCard = z.object({
  /** The version the card describes; its source run's latest metrics are shown as evaluation results. */
  version: VersionNumber.optional(),
  intendedUse: cardText.optional(),
  outOfScopeUse: cardText.optional(),
  limitations: cardText.optional(),
  trainingDatasets: z
    .array(z.object({ name: cardItem, version: cardItem.optional(), uri: z.string().max(REGISTRY_LIMITS.sourceLength, `must be at most ${REGISTRY_LIMITS.sourceLength} characters`).optional() }))
    .max(REGISTRY_LIMITS.cardListItems, `at most ${REGISTRY_LIMITS.cardListItems} datasets`)
    .optional(),
  /** Free-text notes on how the model was evaluated. */
  evaluation: cardText.optional(),
  ethicalConsiderations: cardText.optional(),
  riskClass: RiskClass.optional(),
  owners: z.array(cardItem).max(REGISTRY_LIMITS.cardListItems, `at most ${REGISTRY_LIMITS.cardListItems} owners`).optional(),
  contact: cardItem.optional(),
});
export type ModelCard = z.infer<typeof ModelCard>;
export type ModelCardInput = z.input<typeof ModelCard>;

/** Evaluation results of a card: the latest metrics of a version's source run. */
export const CardEvaluationResults = z.object({
  version: z.string(),
  runId: z.string(),
  /** Latest value of each metric; empty when the version has no run or the run is gone. */
  metrics: z.record(z.string(), z.number()),
});
export type CardEvaluationResults = z.infer<typeof CardEvaluationResults>;

/**
 * One flavor of a packaged model: a key of its `MLmodel` file's `flavors` (`onnx`, `cairn_js`,
 * `python_function`, …) with that flavor's settings as written there (e.g. `{data: "model.onnx"}`).
 */
export const ModelFlavor = z.object({ name: z.string(), details: z.record(z.string(), z.unknown()) });
export type ModelFlavor = z.infer<typeof ModelFlavor>;

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
  /** The version's input/output signature, or null when none was set. */
  signature: ModelSignature.nullable(),
  /** Null while the version is live. */
  retirement: Retirement.nullable(),
  /** The flavors of the `MLmodel` package at its source, in file order; empty when the source has none. */
  flavors: z.array(ModelFlavor),
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
  /** The approved promotion request that made the change; null for a direct change. */
  requestId: z.number().nullable(),
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
  signature: ModelSignature.optional(),
});
export type CreateModelVersionRequest = z.input<typeof CreateModelVersionRequest>;

export const UpdateModelVersionRequest = z.object({ description: Description });
export const TransitionStageRequest = z.object({ stage: StageInput, archiveExistingVersions: z.boolean().optional() });
export type TransitionStageRequest = z.input<typeof TransitionStageRequest>;

export const AliasHistoryQuery = z.object({ at: Int64.optional() });

/** Sets (or, with null, clears) a version's signature. */
export const SetSignatureRequest = z.object({ signature: ModelSignature.nullable() });
export const CompatibilityQuery = z.object({ from: VersionNumber, to: VersionNumber });
export const RetireRequest = z.object({
  state: RetirementState,
  reason: z.string().min(1, "must not be empty").max(REGISTRY_LIMITS.retireReasonLength, `must be at most ${REGISTRY_LIMITS.retireReasonLength} characters`),
});
export type RetireRequest = z.input<typeof RetireRequest>;
export const CardQuery = z.object({ version: VersionNumber.optional() });

// ---------- responses ----------

export const RegisteredModelResponse = z.object({ registeredModel: RegisteredModel });
export const RegisteredModelsPage = z.object({ registeredModels: z.array(RegisteredModel), nextPageToken: z.string().optional() });
export const ModelVersionResponse = z.object({ modelVersion: ModelVersion });
export const ModelVersionsPage = z.object({ modelVersions: z.array(ModelVersion), nextPageToken: z.string().optional() });
export const DownloadUriResponse = z.object({ artifactUri: z.string() });
/** Alias history, newest first; with `at`, also the version the alias pointed to then (null: none). */
export const AliasHistoryResponse = z.object({ history: z.array(AliasHistoryEntry), versionAt: z.string().nullable().optional() });

export const CompatibilityResponse = z.object({
  name: z.string(),
  from: z.string(),
  to: z.string(),
  /** True only when both versions have signatures and no finding is breaking. */
  compatible: z.boolean(),
  findings: z.array(CompatibilityFinding),
});
export type CompatibilityResponse = z.infer<typeof CompatibilityResponse>;
export const ModelCardResponse = z.object({
  name: z.string(),
  card: ModelCard,
  lastUpdatedTimestamp: z.number(),
  /** With a version (query `version`, else the card's `version`): that version's source-run metrics. */
  evaluationResults: CardEvaluationResults.nullable(),
});
export type ModelCardResponse = z.infer<typeof ModelCardResponse>;

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
  searchRegisteredModels: route({ method: "POST", path: "/api/v1/models/search", summary: "Search registered models with a filter, order and paging", tag: "models", body: SearchRegisteredModelsRequest, response: RegisteredModelsPage, permission: "read" }),
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
  searchModelVersions: route({ method: "POST", path: "/api/v1/model-versions/search", summary: "Search model versions with a filter, order and paging", tag: "model-versions", body: SearchModelVersionsRequest, response: ModelVersionsPage, permission: "read" }),
  getModelVersion: route({ method: "GET", path: "/api/v1/models/:name/versions/:version", summary: "Get a model version", tag: "model-versions", params: VersionParams, response: ModelVersionResponse }),
  updateModelVersion: route({ method: "PATCH", path: "/api/v1/models/:name/versions/:version", summary: "Update a model version's description", tag: "model-versions", params: VersionParams, body: UpdateModelVersionRequest, response: ModelVersionResponse }),
  deleteModelVersion: route({ method: "DELETE", path: "/api/v1/models/:name/versions/:version", summary: "Delete a model version (its aliases are deleted too, in the alias history)", tag: "model-versions", params: VersionParams, response: Empty }),
  setModelVersionTag: route({ method: "PUT", path: "/api/v1/models/:name/versions/:version/tags", summary: "Set a model version tag", tag: "model-versions", params: VersionParams, body: SetRegistryTagRequest, response: Empty }),
  deleteModelVersionTag: route({ method: "DELETE", path: "/api/v1/models/:name/versions/:version/tags", summary: "Delete a model version tag", tag: "model-versions", params: VersionParams, query: RegistryTagQuery, response: Empty }),
  transitionModelVersionStage: route({ method: "POST", path: "/api/v1/models/:name/versions/:version/stage", summary: "Move a version to a stage (legacy; prefer aliases)", tag: "model-versions", params: VersionParams, body: TransitionStageRequest, response: ModelVersionResponse }),
  setModelVersionSignature: route({ method: "PUT", path: "/api/v1/models/:name/versions/:version/signature", summary: "Set (or, with null, clear) a version's input/output signature", tag: "model-versions", params: VersionParams, body: SetSignatureRequest, response: ModelVersionResponse }),
  retireModelVersion: route({ method: "POST", path: "/api/v1/models/:name/versions/:version/retire", summary: "Mark a version deprecated or archived (an archived version takes no alias)", tag: "model-versions", params: VersionParams, body: RetireRequest, response: ModelVersionResponse }),
  unretireModelVersion: route({ method: "POST", path: "/api/v1/models/:name/versions/:version/unretire", summary: "Clear a version's retirement", tag: "model-versions", params: VersionParams, response: ModelVersionResponse }),
  getCompatibility: route({ method: "GET", path: "/api/v1/models/:name/compatibility", summary: "Compare two versions' signatures: breaking and non-breaking findings", tag: "model-versions", params: NameParams, query: CompatibilityQuery, response: CompatibilityResponse }),
  setModelCard: route({ method: "PUT", path: "/api/v1/models/:name/card", summary: "Set (replace) a registered model's card", tag: "models", params: NameParams, body: ModelCard, response: ModelCardResponse }),
  getModelCard: route({ method: "GET", path: "/api/v1/models/:name/card", summary: "Get a registered model's card, with evaluation results of a version", tag: "models", params: NameParams, query: CardQuery, response: ModelCardResponse }),
  getModelCardMarkdown: route({ method: "GET", path: "/api/v1/models/:name/card.md", summary: "A registered model's card rendered as Markdown (text/markdown)", tag: "models", params: NameParams, query: CardQuery, response: BINARY, responseType: "text/markdown" }),
  getModelVersionDownloadUri: route({ method: "GET", path: "/api/v1/models/:name/versions/:version/download-uri", summary: "The artifact URI a version's files are read from", tag: "model-versions", params: VersionParams, response: DownloadUriResponse }),
} as const satisfies Record<string, RouteDef>;

export type RegistryRoutes = typeof registryRoutes;
