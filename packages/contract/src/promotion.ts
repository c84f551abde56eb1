import { z } from "zod";
import { Int64, Key } from "./tracking.js";
import { AliasName, ModelName, VersionNumber } from "./registry.js";
import type { RouteDef } from "./routes.js";

/** Limits on promotion policies and requests. */
export const PROMOTION_LIMITS = {
  protectedAliases: 50,
  gates: 50,
  reasonLength: 2000,
  commentLength: 10000,
  /** Comments one request may carry. */
  comments: 1000,
  listDefault: 100,
  listMax: 1000,
} as const;

// ---------- policy: protected aliases and validation gates ----------

/** Comparison operators of a metric gate. */
export const GateOp = z.enum([">=", ">", "<=", "<", "=="]);
export type GateOp = z.infer<typeof GateOp>;

const finite = z.number().refine(Number.isFinite, "must be a finite number");

/** The candidate version's source-run latest value of `metric` compared with `value`. */
export const MetricGate = z.object({ kind: z.literal("metric"), metric: Key, op: GateOp, value: finite });
/**
 * The candidate is not worse than the version holding the target alias (the champion) by more than
 * `maxRegression` on `metric` (higher is better unless `higherIsBetter` is false).
 */
export const ChampionRegressionGate = z.object({
  kind: z.literal("champion_regression"),
  metric: Key,
  maxRegression: finite.pipe(z.number().min(0, "must be >= 0")),
  higherIsBetter: z.boolean().default(true),
});
/** The candidate's signature is compatible with the champion's (no breaking finding; both present). */
export const SignatureCompatibleGate = z.object({ kind: z.literal("signature_compatible") });

/** One validation gate, checked on every promotion request. */
export const Gate = z.discriminatedUnion("kind", [MetricGate, ChampionRegressionGate, SignatureCompatibleGate]);
export type Gate = z.infer<typeof Gate>;
export type GateInput = z.input<typeof Gate>;

/**
 * A registered model's promotion policy: the aliases that change only through an approved promotion
 * request, and the gates every request is checked against. Both default to empty.
 */
export const PromotionPolicy = z.object({
  protectedAliases: z
    .array(AliasName)
    .max(PROMOTION_LIMITS.protectedAliases, `at most ${PROMOTION_LIMITS.protectedAliases} protected aliases`)
    .refine((a) => new Set(a).size === a.length, "must not repeat an alias")
    .default([]),
  gates: z.array(Gate).max(PROMOTION_LIMITS.gates, `at most ${PROMOTION_LIMITS.gates} gates`).default([]),
});
export type PromotionPolicy = z.infer<typeof PromotionPolicy>;
export type PromotionPolicyInput = z.input<typeof PromotionPolicy>;

/** A gate in words, e.g. `metrics.accuracy >= 0.9`. */
export function describeGate(g: GateInput): string {
  if (g.kind === "metric") return `metrics.${g.metric} ${g.op} ${g.value}`;
  if (g.kind === "champion_regression") {
    const dir = g.higherIsBetter === false ? "lower is better" : "higher is better";
    return `metrics.${g.metric} not worse than the champion by more than ${g.maxRegression} (${dir})`;
  }
  return "signature compatible with the champion";
}

// ---------- promotion requests ----------

export const PromotionStatus = z.enum(["open", "approved", "rejected", "cancelled"]);
export type PromotionStatus = z.infer<typeof PromotionStatus>;

/** A gate's outcome for one request: whether it passed and why. */
export const GateResult = z.object({ gate: Gate, passed: z.boolean(), message: z.string() });
export type GateResult = z.infer<typeof GateResult>;

export const PromotionComment = z.object({ author: z.string(), text: z.string(), time: z.number() });
export type PromotionComment = z.infer<typeof PromotionComment>;

/** A request to point `alias` of model `name` at `version`, decided by an approver other than the requester. */
export const PromotionRequest = z.object({
  id: z.number(),
  name: z.string(),
  alias: z.string(),
  version: z.string(),
  /** The version the alias pointed to when the request was made (null: none). */
  fromVersion: z.string().nullable(),
  reason: z.string(),
  requester: z.string(),
  status: PromotionStatus,
  /** Computed when the request is made, recomputed (and replaced) when it is approved. */
  gateResults: z.array(GateResult),
  /** Every gate in `gateResults` passed. */
  gatesPassed: z.boolean(),
  comments: z.array(PromotionComment),
  decidedBy: z.string().nullable(),
  decidedAt: z.number().nullable(),
  decisionComment: z.string().nullable(),
  createdAt: z.number(),
});
export type PromotionRequest = z.infer<typeof PromotionRequest>;

const PromotionId = Int64.pipe(z.number().int().min(1, "must be a positive integer"));
const Reason = z.string().trim().min(1, "must not be empty").max(PROMOTION_LIMITS.reasonLength, `must be at most ${PROMOTION_LIMITS.reasonLength} characters`);
const CommentText = z.string().trim().min(1, "must not be empty").max(PROMOTION_LIMITS.commentLength, `must be at most ${PROMOTION_LIMITS.commentLength} characters`);

export const CreatePromotionRequest = z.object({ alias: AliasName, version: VersionNumber, reason: Reason });
export type CreatePromotionRequest = z.input<typeof CreatePromotionRequest>;
/** Approving (or cancelling) may carry a comment; rejecting must. */
export const DecidePromotionRequest = z.object({ comment: CommentText.optional() });
export const RejectPromotionRequest = z.object({ comment: CommentText });
export const CommentPromotionRequest = z.object({ text: CommentText });
export const ListPromotionsQuery = z.object({
  name: ModelName.optional(),
  alias: AliasName.optional(),
  status: PromotionStatus.optional(),
  maxResults: Int64.pipe(z.number().int().min(1).max(PROMOTION_LIMITS.listMax)).optional(),
  pageToken: z.string().max(1000).optional(),
});
export type ListPromotionsQuery = z.input<typeof ListPromotionsQuery>;

export const PolicyResponse = z.object({
  name: z.string(),
  policy: PromotionPolicy,
  /** Null while the model has the default (empty) policy. */
  lastUpdatedTimestamp: z.number().nullable(),
});
export type PolicyResponse = z.infer<typeof PolicyResponse>;
export const PromotionRequestResponse = z.object({ promotionRequest: PromotionRequest });
export const PromotionRequestsPage = z.object({ promotionRequests: z.array(PromotionRequest), nextPageToken: z.string().optional() });
export type PromotionRequestsPage = z.infer<typeof PromotionRequestsPage>;

// ---------- routes ----------

function route<const R extends RouteDef>(r: R): R {
  return r;
}

const NameParams = z.object({ name: ModelName });
const IdParams = z.object({ id: PromotionId });

/**
 * Protected aliases, validation gates and promotion requests. Requests are numbered globally, so
 * they live under `/api/v1/promotions`; a model's policy and new requests under its path.
 */
export const promotionRoutes = {
  getPromotionPolicy: route({ method: "GET", path: "/api/v1/models/:name/policy", summary: "A model's promotion policy: protected aliases and validation gates", tag: "promotions", params: NameParams, response: PolicyResponse }),
  setPromotionPolicy: route({ method: "PUT", path: "/api/v1/models/:name/policy", summary: "Replace a model's promotion policy", tag: "promotions", params: NameParams, body: PromotionPolicy, response: PolicyResponse, permission: "manage" }),
  createPromotionRequest: route({ method: "POST", path: "/api/v1/models/:name/promotions", summary: "Request that an alias point at a version (gates are checked now and again at approval)", tag: "promotions", params: NameParams, body: CreatePromotionRequest, response: PromotionRequestResponse, status: 201 }),
  listPromotionRequests: route({ method: "GET", path: "/api/v1/promotions", summary: "Promotion requests, newest first, by model, alias and status", tag: "promotions", query: ListPromotionsQuery, response: PromotionRequestsPage }),
  getPromotionRequest: route({ method: "GET", path: "/api/v1/promotions/:id", summary: "A promotion request with its gate results and comments", tag: "promotions", params: IdParams, response: PromotionRequestResponse }),
  approvePromotionRequest: route({ method: "POST", path: "/api/v1/promotions/:id/approve", summary: "Approve a request (not one's own): gates are rechecked and the alias moves", tag: "promotions", params: IdParams, body: DecidePromotionRequest, response: PromotionRequestResponse, permission: "approve" }),
  rejectPromotionRequest: route({ method: "POST", path: "/api/v1/promotions/:id/reject", summary: "Reject a request, with a comment saying why", tag: "promotions", params: IdParams, body: RejectPromotionRequest, response: PromotionRequestResponse, permission: "approve" }),
  cancelPromotionRequest: route({ method: "POST", path: "/api/v1/promotions/:id/cancel", summary: "Cancel one's own open request", tag: "promotions", params: IdParams, body: DecidePromotionRequest, response: PromotionRequestResponse }),
  commentPromotionRequest: route({ method: "POST", path: "/api/v1/promotions/:id/comments", summary: "Add a comment to a request", tag: "promotions", params: IdParams, body: CommentPromotionRequest, response: PromotionRequestResponse, status: 201 }),
} as const satisfies Record<string, RouteDef>;

export type PromotionRoutes = typeof promotionRoutes;
