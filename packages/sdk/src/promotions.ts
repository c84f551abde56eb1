import { CairnError, type ListPromotionsQuery, type PolicyResponse, type PromotionPolicyInput, type PromotionRequest, type PromotionRequestsPage, type PromotionStatus } from "@cairn/contract";
import type { ApiClient } from "./core.js";
import { withRetry, type RetryOptions } from "./retry.js";

/** Options for `promotions.list`. */
export interface ListPromotionsOptions {
  /** Only requests for this model. */
  name?: string;
  alias?: string;
  status?: PromotionStatus;
  /** Page size (server default 100, at most 1000). */
  maxResults?: number;
  pageToken?: string;
}

/** A request id from a number or a decimal string. @throws CairnError INVALID_PARAMETER_VALUE */
function toId(id: number | string): number {
  const n = typeof id === "number" ? id : /^\s*\d+\s*$/.test(id) ? Number(id) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new CairnError("INVALID_PARAMETER_VALUE", `Promotion request id must be a positive integer, got '${id}'`);
  return n;
}

/**
 * Protected aliases, validation gates and promotion requests: `cairn.models.promotions`. A protected
 * alias changes only when a promotion request for it is approved by another user (the approver
 * role), with every gate of the model's policy passing. Every method throws `CairnError`.
 * @example
 * await cairn.models.promotions.setPolicy("fraud", { protectedAliases: ["production"], gates: [{ kind: "metric", metric: "auc", op: ">=", value: 0.9 }] });
 * const req = await cairn.models.promotions.request("fraud", { alias: "production", version: 3, reason: "better auc on March data" });
 * // as another user:
 * await cairn.models.promotions.approve(req.id, { comment: "checked the eval report" });
 */
export class Promotions {
  readonly #client: ApiClient;
  readonly #retry: Partial<RetryOptions>;

  constructor(client: ApiClient, retry: Partial<RetryOptions> = {}) {
    this.#client = client;
    this.#retry = retry;
  }

  /** A model's policy (empty lists when none was set). @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async getPolicy(name: string): Promise<PolicyResponse> {
    return withRetry(() => this.#client.api.getPromotionPolicy({ params: { name } }), this.#retry);
  }

  /**
   * Replaces a model's policy: protected aliases and gates (`metric`, `champion_regression`, `signature_compatible`).
   * @throws CairnError RESOURCE_DOES_NOT_EXIST, INVALID_PARAMETER_VALUE for a malformed gate or alias, PERMISSION_DENIED without the manage permission
   */
  async setPolicy(name: string, policy: PromotionPolicyInput): Promise<PolicyResponse> {
    return withRetry(() => this.#client.api.setPromotionPolicy({ params: { name }, body: policy }), this.#retry);
  }

  /**
   * Opens a request to point `alias` at `version`; the gates are checked now (see `gateResults`) and again at approval.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST, INVALID_PARAMETER_VALUE (archived version, empty reason), INVALID_STATE (the alias already points there), RESOURCE_ALREADY_EXISTS (the same request is open)
   */
  async request(name: string, opts: { alias: string; version: number | string; reason: string }): Promise<PromotionRequest> {
    const version = toId(opts.version);
    return (await this.#client.api.createPromotionRequest({ params: { name }, body: { alias: opts.alias, version, reason: opts.reason } })).promotionRequest;
  }

  /** A request with its gate results and comments. @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async get(id: number | string): Promise<PromotionRequest> {
    const n = toId(id);
    return (await withRetry(() => this.#client.api.getPromotionRequest({ params: { id: n } }), this.#retry)).promotionRequest;
  }

  /** One page of requests, newest first. @throws CairnError INVALID_PARAMETER_VALUE for a bad status or page token */
  async list(opts: ListPromotionsOptions = {}): Promise<PromotionRequestsPage> {
    const query: ListPromotionsQuery = {};
    if (opts.name !== undefined) query.name = opts.name;
    if (opts.alias !== undefined) query.alias = opts.alias;
    if (opts.status !== undefined) query.status = opts.status;
    if (opts.maxResults !== undefined) query.maxResults = opts.maxResults;
    if (opts.pageToken !== undefined) query.pageToken = opts.pageToken;
    return withRetry(() => this.#client.api.listPromotionRequests({ query }), this.#retry);
  }

  /**
   * Every matching request, newest first, fetching pages as it goes.
   * @example for await (const r of cairn.models.promotions.listAll({ status: "open" })) console.log(r.id, r.name, r.alias);
   */
  async *listAll(opts: Omit<ListPromotionsOptions, "pageToken"> = {}): AsyncGenerator<PromotionRequest, void, undefined> {
    let pageToken: string | undefined;
    do {
      const page = await this.list(pageToken === undefined ? opts : { ...opts, pageToken });
      yield* page.promotionRequests;
      pageToken = page.nextPageToken || undefined;
    } while (pageToken !== undefined);
  }

  /**
   * Approves an open request (not one's own): the gates are checked again and the alias moves.
   * @throws CairnError PERMISSION_DENIED (own request, or no approver role), INVALID_STATE (not open, a gate fails: the message says which), RESOURCE_DOES_NOT_EXIST
   */
  async approve(id: number | string, opts: { comment?: string } = {}): Promise<PromotionRequest> {
    const n = toId(id);
    return (await this.#client.api.approvePromotionRequest({ params: { id: n }, body: opts.comment === undefined ? {} : { comment: opts.comment } })).promotionRequest;
  }

  /** Rejects an open request; `comment` says why (required). @throws CairnError INVALID_STATE, INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST */
  async reject(id: number | string, comment: string): Promise<PromotionRequest> {
    const n = toId(id);
    return (await this.#client.api.rejectPromotionRequest({ params: { id: n }, body: { comment } })).promotionRequest;
  }

  /** Cancels one's own open request. @throws CairnError PERMISSION_DENIED (another's request), INVALID_STATE, RESOURCE_DOES_NOT_EXIST */
  async cancel(id: number | string, opts: { comment?: string } = {}): Promise<PromotionRequest> {
    const n = toId(id);
    return (await this.#client.api.cancelPromotionRequest({ params: { id: n }, body: opts.comment === undefined ? {} : { comment: opts.comment } })).promotionRequest;
  }

  /** Adds a comment. @throws CairnError INVALID_PARAMETER_VALUE (empty), RESOURCE_DOES_NOT_EXIST */
  async comment(id: number | string, text: string): Promise<PromotionRequest> {
    const n = toId(id);
    return (await this.#client.api.commentPromotionRequest({ params: { id: n }, body: { text } })).promotionRequest;
  }
}
