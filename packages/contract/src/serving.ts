import { z } from "zod";
import { AliasName, ModelName, VersionNumber, type TensorDType } from "./registry.js";
import type { RouteDef } from "./routes.js";

/** A signature dtype (registry and MLflow names) as the Open Inference Protocol's datatype: the one mapping the server and the UI share. */
export const DTYPE_TO_OIP_DATATYPE = {
  float32: "FP32",
  float64: "FP64",
  float16: "FP16",
  int32: "INT32",
  int64: "INT64",
  int8: "INT8",
  uint8: "UINT8",
  bool: "BOOL",
  string: "BYTES",
} as const satisfies Record<TensorDType, string>;

/** Limits on the inference log. */
export const INFERENCE_LOG_LIMITS = {
  recordsPerAppend: 5000,
  requestIdLength: 128,
  /** Inputs and outputs of one record, as JSON text. */
  payloadChars: 1024 * 1024,
  pageDefault: 100,
  pageMax: 10_000,
} as const;

/** Which side of a deployment answered: the primary, the canary, or the shadow (never returned to the caller). */
export const InferenceArm = z.enum(["primary", "canary", "shadow"]);

/** One logged prediction: the request as the model saw it and what it answered. */
export const InferenceRecord = z.object({
  /** The request id, returned to the caller in `x-request-id`: delayed labels join on it. */
  requestId: z.string().min(1).max(INFERENCE_LOG_LIMITS.requestIdLength),
  version: z.string().min(1).max(32),
  /** The deployment that served it (`serve:<model>` for `cairn serve`). */
  deployment: z.string().min(1).max(256),
  arm: InferenceArm,
  /** Inputs and outputs as the protocol carried them (named tensors: shape, datatype, data). */
  inputs: z.unknown(),
  outputs: z.unknown(),
  latencyMs: z.number().min(0),
  /** The HTTP status answered. */
  status: z.number().int().min(100).max(599),
  /** Milliseconds since the epoch. */
  time: z.number().int().min(0),
});
export type InferenceRecord = z.infer<typeof InferenceRecord>;

export const AppendInferenceLogRequest = z.object({ records: z.array(InferenceRecord).min(1).max(INFERENCE_LOG_LIMITS.recordsPerAppend) });

export const InferenceLogQuery = z.object({
  version: z.string().max(32).optional(),
  deployment: z.string().max(256).optional(),
  arm: InferenceArm.optional(),
  /** Records at or after this time (ms). */
  from: z.coerce.number().int().min(0).optional(),
  /** Records before this time (ms). */
  to: z.coerce.number().int().min(0).optional(),
  limit: z.coerce.number().int().min(1).max(INFERENCE_LOG_LIMITS.pageMax).optional(),
  /** Page on: the `next` of the previous page. */
  after: z.string().max(200).optional(),
});

export const InferenceLogPage = z.object({
  records: z.array(InferenceRecord.extend({ model: z.string() })),
  /** Pass as `after` for the next page (oldest first); absent on the last page. */
  next: z.string().optional(),
});

function route<const R extends RouteDef>(r: R): R {
  return r;
}
const NameParams = z.object({ name: ModelName });

/** The inference log: predictions of served models, queryable by time, version and deployment. */
export const servingRoutes = {
  appendInferenceLog: route({ method: "POST", path: "/api/v1/models/:name/inference-log", summary: "Append predictions of a served model to its inference log (atomic; a request id already logged is kept as it was)", tag: "inference-log", params: NameParams, body: AppendInferenceLogRequest, response: z.object({ appended: z.number().int() }), status: 201 }),
  queryInferenceLog: route({ method: "GET", path: "/api/v1/models/:name/inference-log", summary: "A model's logged predictions, oldest first, by time range, version, deployment and arm", tag: "inference-log", params: NameParams, query: InferenceLogQuery, response: InferenceLogPage }),
} as const satisfies Record<string, RouteDef>;

// ---------------------------------------------------------------- deployments

/** Limits on deployments. */
export const DEPLOYMENT_LIMITS = {
  /** A deployment's name is a DNS label (it becomes a Kubernetes name on export). */
  nameLength: 63,
  descriptionLength: 4000,
  headerNameLength: 128,
  maxBatchSizeMax: 4096,
  maxLatencyMsMax: 10_000,
  historyPageDefault: 100,
  historyPageMax: 1000,
  listMax: 1000,
  /** Recent predictions kept in memory per deployment for the UI. */
  recentPredictions: 50,
} as const;

/** A deployment's name: lower-case letters, digits and `-`, starting and ending with a letter or digit (a DNS label). */
export const DeploymentName = z
  .string()
  .min(1, "must not be empty")
  .max(DEPLOYMENT_LIMITS.nameLength, `must be at most ${DEPLOYMENT_LIMITS.nameLength} characters`)
  .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, "must be lower-case letters, digits and '-', starting and ending with a letter or digit");

/** Which version an arm serves: a fixed `version`, or an `alias` the deployment follows. */
export const ArmRef = z
  .object({
    version: VersionNumber.transform(String).optional(),
    alias: AliasName.optional(),
  })
  .strict()
  .refine((r) => (r.version === undefined) !== (r.alias === undefined), "give exactly one of 'version' and 'alias'");
export type ArmRef = z.output<typeof ArmRef>;

/** A canary: another version of the deployment's model that takes `percent` of the traffic. */
export const CanarySpec = z.object({
  version: VersionNumber.transform(String).optional(),
  alias: AliasName.optional(),
  percent: z.number().min(0).max(100),
}).strict().refine((r) => (r.version === undefined) !== (r.alias === undefined), "give exactly one of 'version' and 'alias'");

/** Micro-batching of a deployment's models (`maxBatchSize` 0 or 1: off). */
export const BatchingSpec = z.object({
  maxBatchSize: z.number().int().min(0).max(DEPLOYMENT_LIMITS.maxBatchSizeMax),
  maxLatencyMs: z.number().min(0).max(DEPLOYMENT_LIMITS.maxLatencyMsMax),
});
export const DEFAULT_BATCHING = { maxBatchSize: 32, maxLatencyMs: 2 } as const;

/** A request header naming the caller (e.g. `x-user-id`), lower-cased. */
const StickyHeader = z.string().min(1).max(DEPLOYMENT_LIMITS.headerNameLength).regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, "must be an HTTP header name").transform((h) => h.toLowerCase());

/** What a deployment serves and how: the part of it that has revisions, history and rollback. */
export const DeploymentSpec = z.object({
  /** The registered model whose versions the arms serve. */
  model: ModelName,
  /** The version that answers requests (the alias is followed as it moves). */
  primary: ArmRef,
  /** Another version answering `percent` of the requests. */
  canary: CanarySpec.nullable().default(null),
  /** Another version getting a copy of every request in the background; its answers are logged, never returned. */
  shadow: ArmRef.nullable().default(null),
  /** A request header whose value pins a caller to one arm (hash of the value), so a user sees one version. */
  stickyHeader: StickyHeader.nullable().default(null),
  /** When the followed alias moves, start the new version as a canary with this share of traffic instead of switching at once. */
  autoRollout: z.object({ canaryPercent: z.number().min(0).max(100) }).nullable().default(null),
  batching: BatchingSpec.default(DEFAULT_BATCHING),
  /** The share of requests written to the inference log, 0–1 (0: off). */
  logSample: z.number().min(0).max(1).default(1),
  /** Accept NaN in float inputs. */
  allowNaN: z.boolean().default(false),
});
export type DeploymentSpec = z.output<typeof DeploymentSpec>;

/** What an arm serves right now: its reference, the version it resolved to, and this server's state of it. */
export const ArmStatus = z.object({
  arm: InferenceArm,
  ref: z.object({ version: z.string().optional(), alias: z.string().optional() }),
  /** The version the reference resolved to when the deployment last changed. */
  version: z.string(),
  percent: z.number().optional(),
  /** loading: being fetched and warmed; ready: serving `version`; failed: could not load (`error`), an older version may still be serving (`servingVersion`). */
  state: z.enum(["loading", "ready", "failed"]),
  /** The version answering requests on this server (differs from `version` while loading or after a failed load). */
  servingVersion: z.string().nullable(),
  error: z.string().optional(),
});
export type ArmStatus = z.infer<typeof ArmStatus>;

export const Deployment = z.object({
  name: DeploymentName,
  description: z.string(),
  spec: DeploymentSpec,
  /** Increases by one with every change (history entries carry it). */
  revision: z.number().int(),
  createdAt: z.number().int(),
  updatedAt: z.number().int(),
  createdBy: z.string(),
  /** Ready when every arm is loaded and warmed on this server. */
  state: z.enum(["loading", "ready", "degraded", "failed"]),
  arms: z.array(ArmStatus),
  /** The newest load error on this server, when any arm failed. */
  error: z.string().optional(),
});
export type Deployment = z.infer<typeof Deployment>;

export const CreateDeploymentRequest = DeploymentSpec.extend({
  name: DeploymentName,
  description: z.string().max(DEPLOYMENT_LIMITS.descriptionLength).default(""),
});
export type CreateDeploymentRequest = z.input<typeof CreateDeploymentRequest>;

/** A change: fields given replace the current ones (`canary: null` removes the canary). */
export const UpdateDeploymentRequest = z.object({
  description: z.string().max(DEPLOYMENT_LIMITS.descriptionLength).optional(),
  primary: ArmRef.optional(),
  canary: CanarySpec.nullable().optional(),
  shadow: ArmRef.nullable().optional(),
  stickyHeader: StickyHeader.nullable().optional(),
  autoRollout: z.object({ canaryPercent: z.number().min(0).max(100) }).nullable().optional(),
  batching: BatchingSpec.optional(),
  logSample: z.number().min(0).max(1).optional(),
  allowNaN: z.boolean().optional(),
  /** Why (shown in the history). */
  message: z.string().max(DEPLOYMENT_LIMITS.descriptionLength).optional(),
});
export type UpdateDeploymentRequest = z.input<typeof UpdateDeploymentRequest>;

/** The resolved state of a revision: the spec with each arm's version. */
export const DeploymentRevisionState = z.object({
  spec: DeploymentSpec,
  /** The version each arm resolved to: primary always, canary and shadow when set. */
  versions: z.object({ primary: z.string(), canary: z.string().nullable(), shadow: z.string().nullable() }),
});
export type DeploymentRevisionState = z.infer<typeof DeploymentRevisionState>;

/** What changed a deployment. */
export const DeploymentAction = z.enum(["create", "update", "promote-canary", "rollback", "alias-moved", "auto-rollout", "delete"]);
export type DeploymentAction = z.infer<typeof DeploymentAction>;

/** One change of a deployment: who, when, what, and its state before and after. */
export const DeploymentHistoryEntry = z.object({
  revision: z.number().int(),
  time: z.number().int(),
  actor: z.string(),
  action: DeploymentAction,
  message: z.string(),
  from: DeploymentRevisionState.nullable(),
  to: DeploymentRevisionState,
});
export type DeploymentHistoryEntry = z.infer<typeof DeploymentHistoryEntry>;

export const DeploymentHistoryQuery = z.object({
  limit: z.coerce.number().int().min(1).max(DEPLOYMENT_LIMITS.historyPageMax).optional(),
  /** Entries below this revision (page on, newest first). */
  before: z.coerce.number().int().min(1).optional(),
});
export const DeploymentHistoryPage = z.object({ history: z.array(DeploymentHistoryEntry), next: z.number().int().optional() });

export const ListDeploymentsQuery = z.object({ model: ModelName.optional() });
export const DeploymentsList = z.object({ deployments: z.array(Deployment) });

export const RollbackRequest = z.object({
  /** The revision whose state to return to (default: the one before the current). */
  toRevision: z.number().int().min(1).optional(),
  message: z.string().max(DEPLOYMENT_LIMITS.descriptionLength).optional(),
});
export const PromoteCanaryRequest = z.object({ message: z.string().max(DEPLOYMENT_LIMITS.descriptionLength).optional() });

/** Live figures of one arm over a time window on this server. */
export const ArmStats = z.object({
  arm: InferenceArm,
  version: z.string(),
  requests: z.number().int(),
  errors: z.number().int(),
  /** Latency percentiles over the window, milliseconds (null: no requests). */
  p50Ms: z.number().nullable(),
  p99Ms: z.number().nullable(),
});

/** One second of traffic on this server. */
export const StatsPoint = z.object({
  /** Second (ms since the epoch, a multiple of 1000). */
  t: z.number().int(),
  arm: InferenceArm,
  requests: z.number().int(),
  errors: z.number().int(),
  /** Mean latency in that second, milliseconds. */
  meanMs: z.number().nullable(),
  p99Ms: z.number().nullable(),
});

/** A recent prediction, kept in memory for the UI (the inference log has them all). */
export const RecentPrediction = z.object({
  requestId: z.string(),
  time: z.number().int(),
  arm: InferenceArm,
  version: z.string(),
  status: z.number().int(),
  latencyMs: z.number(),
  inputs: z.unknown(),
  outputs: z.unknown(),
  error: z.string().optional(),
});

export const DeploymentStatsQuery = z.object({ windowSeconds: z.coerce.number().int().min(10).max(3600).default(300) });
export const DeploymentStats = z.object({
  name: z.string(),
  windowSeconds: z.number().int(),
  arms: z.array(ArmStats),
  series: z.array(StatsPoint),
  recent: z.array(RecentPrediction),
  /** Shadow copies dropped because the shadow was saturated (it never slows the primary). */
  shadowDropped: z.number().int(),
});
export type DeploymentStats = z.infer<typeof DeploymentStats>;

const DeploymentParams = z.object({ name: z.string().min(1).max(256) });

/** Managed deployments on the main server; requests go to `/deployments/{name}/v2/…` and `/deployments/{name}/invocations`. */
export const deploymentRoutes = {
  createDeployment: route({ method: "POST", path: "/api/v1/deployments", summary: "Create a deployment of a registered model (it loads in the background; `state` says when it is ready)", tag: "deployments", body: CreateDeploymentRequest, response: Deployment, status: 201 }),
  listDeployments: route({ method: "GET", path: "/api/v1/deployments", summary: "List deployments (those in the caller's projects) with their state on this server", tag: "deployments", query: ListDeploymentsQuery, response: DeploymentsList }),
  getDeployment: route({ method: "GET", path: "/api/v1/deployments/:name", summary: "Get a deployment: its spec, revision, and each arm's state on this server", tag: "deployments", params: DeploymentParams, response: Deployment }),
  updateDeployment: route({ method: "PATCH", path: "/api/v1/deployments/:name", summary: "Change a deployment (a new revision in its history)", tag: "deployments", params: DeploymentParams, body: UpdateDeploymentRequest, response: Deployment }),
  deleteDeployment: route({ method: "DELETE", path: "/api/v1/deployments/:name", summary: "Delete a deployment (it stops serving; its history and inference log are kept)", tag: "deployments", params: DeploymentParams, response: z.object({}) }),
  promoteCanary: route({ method: "POST", path: "/api/v1/deployments/:name/promote-canary", summary: "Make the canary's version the primary and remove the canary", tag: "deployments", params: DeploymentParams, body: PromoteCanaryRequest, response: Deployment }),
  rollbackDeployment: route({ method: "POST", path: "/api/v1/deployments/:name/rollback", summary: "Return to the previous revision's state (or `toRevision`'s), as a new revision", tag: "deployments", params: DeploymentParams, body: RollbackRequest, response: Deployment }),
  getDeploymentHistory: route({ method: "GET", path: "/api/v1/deployments/:name/history", summary: "A deployment's changes, newest first: who, when, what, from → to", tag: "deployments", params: DeploymentParams, query: DeploymentHistoryQuery, response: DeploymentHistoryPage }),
  getDeploymentStats: route({ method: "GET", path: "/api/v1/deployments/:name/stats", summary: "Live traffic of a deployment on this server: per-arm requests, errors and latency, per-second series, recent predictions", tag: "deployments", params: DeploymentParams, query: DeploymentStatsQuery, response: DeploymentStats }),
} as const satisfies Record<string, RouteDef>;
