import { CairnError, isCairnError, unlessMissing, PROMOTION_LIMITS, describeGate, type Gate, type GateOp, type GateResult, type ModelVersion, type PolicyResponse, type PromotionPolicy, type PromotionRequest, type PromotionRequestsPage, type PromotionStatus } from "@cairn/contract";
import type * as C from "@cairn/contract";
import type { z } from "zod";
import { decodePageToken, encodePageToken } from "../tracking/search/filter-parser.js";
import type { TrackingService } from "../tracking/service.js";
import type { Actor, RegistryService } from "./service.js";
import { diffSignatures } from "./signature.js";
import type { PromotionStore } from "./store/promotion-store.js";

type Out<S extends z.ZodType> = z.output<S>;

/** Query of `listRequests` (with auth on, the request guard drops requests of projects the caller cannot read). */
export interface ListRequestsQuery {
  name?: string | undefined;
  alias?: string | undefined;
  status?: PromotionStatus | undefined;
  maxResults?: number | undefined;
  pageToken?: string | undefined;
}

/** Tolerance for float noise in regression checks (0.9 - 0.89 is 0.010000000000000009). */
const EPSILON = 1e-9;

/**
 * Protected aliases, validation gates and promotion requests of the model registry. A protected
 * alias moves only when a request for it is approved: by someone other than the requester, with
 * every gate passing at approval time. Throws `CairnError`:
 * - RESOURCE_DOES_NOT_EXIST for an unknown model, version or request;
 * - INVALID_PARAMETER_VALUE for promoting an archived version;
 * - PERMISSION_DENIED for approving one's own request or cancelling another's;
 * - INVALID_STATE for deciding a request that is no longer open, approving with a failing gate,
 *   or requesting what the alias already points to;
 * - RESOURCE_ALREADY_EXISTS for a second open request for the same model, alias and version;
 * - ABORTED when the alias moved while the gates were being checked (retry).
 */
export class PromotionService {
  readonly #store: PromotionStore;
  readonly #registry: RegistryService;
  readonly #tracking: TrackingService;

  constructor(store: PromotionStore, registry: RegistryService, tracking: TrackingService) {
    this.#store = store;
    this.#registry = registry;
    this.#tracking = tracking;
  }

  // ---------- policy ----------

  /** A model's policy (empty lists when none was set). @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async getPolicy(name: string): Promise<PolicyResponse> {
    const stored = await this.#store.getPolicy(name);
    return { name, policy: stored?.policy ?? { protectedAliases: [], gates: [] }, lastUpdatedTimestamp: stored?.lastUpdatedTimestamp ?? null };
  }

  /**
   * Replaces a model's policy. Open requests are checked against the new gates when approved.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST
   * @example await promotions.setPolicy("fraud", { protectedAliases: ["production"], gates: [{ kind: "metric", metric: "auc", op: ">=", value: 0.9 }] });
   */
  async setPolicy(name: string, policy: PromotionPolicy): Promise<PolicyResponse> {
    const stored = await this.#store.setPolicy(name, policy, Date.now());
    return { name, policy: stored.policy, lastUpdatedTimestamp: stored.lastUpdatedTimestamp };
  }

  // ---------- requests ----------

  /**
   * Opens a request to point `alias` at `version`, with the reason and the gate results now (a
   * failing gate does not stop the request; it blocks its approval).
   * @throws CairnError RESOURCE_DOES_NOT_EXIST, INVALID_PARAMETER_VALUE (archived version), INVALID_STATE (already there), RESOURCE_ALREADY_EXISTS, ABORTED
   */
  async createRequest(name: string, req: Out<typeof C.CreatePromotionRequest>, by: Actor = {}): Promise<PromotionRequest> {
    const candidate = await this.#registry.getModelVersion(name, req.version);
    if (candidate.retirement?.state === "archived") throw new CairnError("INVALID_PARAMETER_VALUE", `Model version '${name}' version ${req.version} is archived and cannot be promoted; unretire it first`);
    const { champion, results } = await this.#check(name, req.alias, candidate);
    return this.#store.createRequest({
      name,
      alias: req.alias,
      version: req.version,
      reason: req.reason,
      requester: by.actor ?? "",
      time: Date.now(),
      gateResults: results,
      expectedFrom: champion ? Number(champion.version) : null,
    });
  }

  /** @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async getRequest(id: number): Promise<PromotionRequest> {
    const r = await this.#store.getRequest(id);
    if (!r) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Promotion request ${id} not found`);
    return r;
  }

  /**
   * Requests newest first, filtered by model, alias and status.
   * @throws CairnError INVALID_PARAMETER_VALUE for a bad page token
   */
  async listRequests(q: ListRequestsQuery): Promise<PromotionRequestsPage> {
    const offset = decodePageToken(q.pageToken);
    const limit = q.maxResults ?? PROMOTION_LIMITS.listDefault;
    const rows = await this.#store.listRequests({ ...(q.name === undefined ? {} : { name: q.name }), ...(q.alias === undefined ? {} : { alias: q.alias }), ...(q.status === undefined ? {} : { status: q.status }), offset, limit: limit + 1 });
    const out: PromotionRequestsPage = { promotionRequests: rows.slice(0, limit) };
    if (rows.length > limit) out.nextPageToken = encodePageToken(offset + limit);
    return out;
  }

  /** Adds a comment (on a request in any state). @throws CairnError RESOURCE_DOES_NOT_EXIST, RESOURCE_EXHAUSTED */
  async comment(id: number, text: string, by: Actor = {}): Promise<PromotionRequest> {
    return this.#store.addComment(id, { author: by.actor ?? "", text, time: Date.now() });
  }

  /**
   * Approves an open request: the gates are checked again against the current champion and must all
   * pass; then, in one transaction, the alias moves, the alias history records the request and the
   * request is marked approved. The approver must not be the requester (also when both are anonymous).
   * @throws CairnError RESOURCE_DOES_NOT_EXIST, PERMISSION_DENIED (own request), INVALID_STATE (not open, failing gate, archived version), ABORTED
   */
  async approve(id: number, opts: { comment?: string | undefined } = {}, by: Actor = {}): Promise<PromotionRequest> {
    const r = await this.getRequest(id);
    const actor = by.actor ?? "";
    notOpen(r, "approved");
    if (r.requester === actor) throw new CairnError("PERMISSION_DENIED", `You cannot approve your own promotion request (${id} was requested by '${r.requester || "anonymous"}'); another user with the approver role must approve it`);
    const candidate = await this.#registry.getModelVersion(r.name, Number(r.version));
    const { champion, results } = await this.#check(r.name, r.alias, candidate);
    const failed = results.filter((g) => !g.passed);
    if (failed.length) {
      throw new CairnError("INVALID_STATE", `Promotion request ${id} cannot be approved: ${failed.length} gate${failed.length === 1 ? "" : "s"} failed: ${failed.map((g) => `${describeGate(g.gate)}: ${g.message}`).join("; ")}`);
    }
    return this.#store.approve(id, { actor, time: Date.now(), comment: opts.comment ?? null, gateResults: results, expectedFrom: champion ? Number(champion.version) : null });
  }

  /** Rejects an open request; the comment says why. @throws CairnError RESOURCE_DOES_NOT_EXIST, INVALID_STATE */
  async reject(id: number, comment: string, by: Actor = {}): Promise<PromotionRequest> {
    return this.#store.closeRequest(id, { status: "rejected", actor: by.actor ?? "", time: Date.now(), comment });
  }

  /** Cancels one's own open request. @throws CairnError RESOURCE_DOES_NOT_EXIST, PERMISSION_DENIED (another's request), INVALID_STATE */
  async cancel(id: number, opts: { comment?: string | undefined } = {}, by: Actor = {}): Promise<PromotionRequest> {
    const r = await this.getRequest(id);
    const actor = by.actor ?? "";
    notOpen(r, "cancelled");
    if (r.requester !== actor) throw new CairnError("PERMISSION_DENIED", `Only the requester ('${r.requester || "anonymous"}') can cancel promotion request ${id}; an approver can reject it instead`);
    return this.#store.closeRequest(id, { status: "cancelled", actor, time: Date.now(), comment: opts.comment ?? null });
  }

  // ---------- gates ----------

  /** Every gate of the model's policy for `candidate` against the version `alias` points to now. */
  async #check(name: string, alias: string, candidate: ModelVersion): Promise<{ champion: ModelVersion | undefined; results: GateResult[] }> {
    const { policy } = await this.getPolicy(name);
    const champion = await unlessMissing(this.#registry.getModelVersionByAlias(name, alias));
    const metrics = new Map<ModelVersion, Promise<RunMetrics>>();
    const metricsOf = (v: ModelVersion) => {
      if (!metrics.has(v)) metrics.set(v, this.#runMetrics(v));
      return metrics.get(v)!;
    };
    const results: GateResult[] = [];
    for (const gate of policy.gates) results.push({ gate, ...(await evaluate(gate, alias, candidate, champion, metricsOf)) });
    return { champion, results };
  }

  /** The latest metrics of a version's source run: its run id, else the run of a `runs:/` source. */
  async #runMetrics(v: ModelVersion): Promise<RunMetrics> {
    const runId = v.runId || (/^runs:\/([^/]+)/.exec(v.source)?.[1] ?? "");
    if (!runId) return { runId: "", metrics: undefined };
    try {
      const out = new Map<string, number>();
      for (const m of (await this.#tracking.getRun(runId)).data.metrics) out.set(m.key, Number(m.value));
      return { runId, metrics: out };
    } catch (e) {
      if (isCairnError(e) && e.code === "RESOURCE_DOES_NOT_EXIST") return { runId, metrics: undefined };
      throw e;
    }
  }
}

interface RunMetrics {
  runId: string;
  /** Undefined when the version has no source run or the run is gone. */
  metrics: Map<string, number> | undefined;
}

function notOpen(r: PromotionRequest, to: string): void {
  if (r.status !== "open") throw new CairnError("INVALID_STATE", `Promotion request ${r.id} is ${r.status}, not open; it cannot be ${to}`);
}

/** A version's metric, or why it has none. */
function metricOf(v: ModelVersion, rm: RunMetrics, metric: string): { value: number } | { missing: string } {
  if (!rm.runId) return { missing: `version ${v.version} has no source run, so it has no metric '${metric}'` };
  if (!rm.metrics) return { missing: `the source run '${rm.runId}' of version ${v.version} no longer exists` };
  const value = rm.metrics.get(metric);
  if (value === undefined) return { missing: `version ${v.version}'s run '${rm.runId}' logged no metric '${metric}'` };
  if (Number.isNaN(value)) return { missing: `version ${v.version}'s metric '${metric}' is NaN` };
  return { value };
}

function compare(a: number, op: GateOp, b: number): boolean {
  switch (op) {
    case ">=":
      return a >= b;
    case ">":
      return a > b;
    case "<=":
      return a <= b;
    case "<":
      return a < b;
    case "==":
      return a === b;
  }
}

async function evaluate(
  gate: Gate,
  alias: string,
  candidate: ModelVersion,
  champion: ModelVersion | undefined,
  metricsOf: (v: ModelVersion) => Promise<RunMetrics>,
): Promise<{ passed: boolean; message: string }> {
  if (gate.kind === "metric") {
    const m = metricOf(candidate, await metricsOf(candidate), gate.metric);
    if ("missing" in m) return { passed: false, message: m.missing };
    const passed = compare(m.value, gate.op, gate.value);
    return { passed, message: `${gate.metric} = ${m.value}, ${passed ? "" : "not "}${gate.op} ${gate.value}` };
  }
  if (!champion) return { passed: true, message: `no version holds '${alias}' yet, so there is no champion to compare with` };
  if (gate.kind === "champion_regression") {
    const c = metricOf(candidate, await metricsOf(candidate), gate.metric);
    if ("missing" in c) return { passed: false, message: c.missing };
    const base = metricOf(champion, await metricsOf(champion), gate.metric);
    if ("missing" in base) return { passed: false, message: `cannot compare with the champion (version ${champion.version}): ${base.missing}` };
    const regression = gate.higherIsBetter ? base.value - c.value : c.value - base.value;
    const passed = regression <= gate.maxRegression + EPSILON * Math.max(1, Math.abs(base.value), Math.abs(c.value));
    const change = regression > 0 ? `worse by ${+regression.toPrecision(12)}` : `not worse`;
    return { passed, message: `${gate.metric}: candidate ${c.value}, champion v${champion.version} ${base.value}: ${change} (${passed ? "within" : "exceeds"} ${gate.maxRegression})` };
  }
  if (!candidate.signature || !champion.signature) {
    const which = !candidate.signature ? `version ${candidate.version} (the candidate)` : `version ${champion.version} (the champion)`;
    return { passed: false, message: `${which} has no signature, so compatibility cannot be shown` };
  }
  const breaking = diffSignatures(champion.signature, candidate.signature).findings.filter((f) => f.breaking);
  if (breaking.length) return { passed: false, message: `breaking changes from champion v${champion.version}: ${breaking.map((f) => f.message).join("; ")}` };
  return { passed: true, message: `compatible with champion v${champion.version}` };
}
