import { z } from "zod";
import { ModelName } from "./registry.js";
import type { RouteDef } from "./routes.js";

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
