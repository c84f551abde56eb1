import type { GateResult, PromotionPolicy, PromotionRequest, PromotionStatus } from "@cairn/contract";

/** A model's stored promotion policy. */
export interface StoredPolicy {
  policy: PromotionPolicy;
  lastUpdatedTimestamp: number;
}

export interface NewPromotionRequest {
  name: string;
  alias: string;
  version: number;
  reason: string;
  requester: string;
  time: number;
  gateResults: GateResult[];
  /** The champion the gates were checked against; the alias must still point there (else ABORTED). */
  expectedFrom: number | null;
}

export interface PromotionListQuery {
  name?: string;
  alias?: string;
  status?: PromotionStatus;
  offset: number;
  /** Rows to return (callers ask for one more to detect a next page). */
  limit: number;
}

/** An approval: the recomputed gate results and the champion they were checked against. */
export interface Approval {
  actor: string;
  time: number;
  comment: string | null;
  gateResults: GateResult[];
  expectedFrom: number | null;
}

/**
 * Storage of promotion policies and requests, beside the registry tables. Every method is one
 * transaction. Errors are `CairnError`s: RESOURCE_DOES_NOT_EXIST for a missing model, version or
 * request; INVALID_STATE for a request that is no longer open; ABORTED when the alias moved after
 * the gates were checked.
 */
export interface PromotionStore {
  /** The model's policy; undefined while it has none. RESOURCE_DOES_NOT_EXIST for an unknown model. */
  getPolicy(name: string): Promise<StoredPolicy | undefined>;
  /** Replaces the model's policy. */
  setPolicy(name: string, policy: PromotionPolicy, time: number): Promise<StoredPolicy>;

  /**
   * Creates an open request. The version must exist and not be archived (INVALID_PARAMETER_VALUE),
   * the alias must not already point at it (INVALID_STATE), and no other open request may promote
   * the same version to the same alias (RESOURCE_ALREADY_EXISTS).
   */
  createRequest(input: NewPromotionRequest): Promise<PromotionRequest>;
  getRequest(id: number): Promise<PromotionRequest | undefined>;
  /** Requests newest first. */
  listRequests(query: PromotionListQuery): Promise<PromotionRequest[]>;
  addComment(id: number, comment: { author: string; text: string; time: number }): Promise<PromotionRequest>;
  /**
   * Approves an open request: in one transaction the alias moves to the request's version (unless it
   * is already there), an alias-history row names the request, and the request records the decision
   * and `gateResults`. The version must exist (RESOURCE_DOES_NOT_EXIST) and not be archived (INVALID_STATE).
   */
  approve(id: number, approval: Approval): Promise<PromotionRequest>;
  /** Rejects or cancels an open request. */
  closeRequest(id: number, decision: { status: "rejected" | "cancelled"; actor: string; time: number; comment: string | null }): Promise<PromotionRequest>;
}
