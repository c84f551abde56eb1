import { CairnError, PROMOTION_LIMITS, type GateResult, type PromotionPolicy, type PromotionRequest, type PromotionStatus } from "@cairn/contract";
import { sql, type Kysely } from "kysely";
import type { Approval, NewPromotionRequest, PromotionListQuery, PromotionStore, StoredPolicy } from "./promotion-store.js";

interface RequestRow {
  id: number;
  name: string;
  alias: string;
  version: number;
  from_version: number | null;
  reason: string;
  requester: string;
  status: string;
  gate_results: string;
  decided_by: string | null;
  decided_at: number | null;
  decision_comment: string | null;
  created_at: number;
}

const noModel = (name: string) => new CairnError("RESOURCE_DOES_NOT_EXIST", `Registered model '${name}' not found`);
const noVersion = (name: string, version: number) => new CairnError("RESOURCE_DOES_NOT_EXIST", `Model version '${name}' version ${version} not found`);
const noRequest = (id: number) => new CairnError("RESOURCE_DOES_NOT_EXIST", `Promotion request ${id} not found`);

function isUniqueViolation(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === "23505" || code === "SQLITE_CONSTRAINT_UNIQUE" || code === "SQLITE_CONSTRAINT_PRIMARYKEY";
}

/** The aliases a model's policy protects (none without a policy); reads through `k`, so inside a transaction it sees that transaction's state. */
export async function protectedAliases(k: Kysely<any>, name: string): Promise<string[]> {
  const row = await k.selectFrom("registered_model_policies").select("policy").where("name", "=", name).executeTakeFirst();
  return row ? (JSON.parse(String(row.policy)) as PromotionPolicy).protectedAliases : [];
}

/** The error for a direct change of a protected alias. */
export function protectedAliasError(name: string, alias: string, what = "changed directly"): CairnError {
  return new CairnError("PERMISSION_DENIED", `Alias '${alias}' of '${name}' is protected and cannot be ${what}; open a promotion request (POST /api/v1/models/${encodeURIComponent(name)}/promotions, or \`cairn models promote\`) and have an approver approve it`);
}

/** Promotion policies and requests over Kysely (SQLite and PostgreSQL alike); every write is one transaction. */
export class SqlPromotionStore implements PromotionStore {
  readonly #k: Kysely<any>;

  constructor(k: Kysely<any>) {
    this.#k = k;
  }

  async getPolicy(name: string): Promise<StoredPolicy | undefined> {
    await requireModel(this.#k, name);
    const row = await this.#k.selectFrom("registered_model_policies").selectAll().where("name", "=", name).executeTakeFirst();
    return row ? { policy: JSON.parse(String(row.policy)) as PromotionPolicy, lastUpdatedTimestamp: Number(row.last_updated_timestamp) } : undefined;
  }

  async setPolicy(name: string, policy: PromotionPolicy, time: number): Promise<StoredPolicy> {
    const text = JSON.stringify(policy);
    await this.#k.transaction().execute(async (trx) => {
      await requireModel(trx, name);
      await trx
        .insertInto("registered_model_policies")
        .values({ name, policy: text, last_updated_timestamp: time })
        .onConflict((oc) => oc.column("name").doUpdateSet({ policy: text, last_updated_timestamp: time }))
        .execute();
    });
    return { policy: JSON.parse(text) as PromotionPolicy, lastUpdatedTimestamp: time };
  }

  async createRequest(input: NewPromotionRequest): Promise<PromotionRequest> {
    const { name, alias, version } = input;
    let id: number;
    try {
      id = await this.#k.transaction().execute(async (trx) => {
        const v = await trx.selectFrom("model_versions").select("retirement_state").where("name", "=", name).where("version", "=", version).executeTakeFirst();
        if (!v) {
          await requireModel(trx, name);
          throw noVersion(name, version);
        }
        if (v.retirement_state === "archived") throw new CairnError("INVALID_PARAMETER_VALUE", `Model version '${name}' version ${version} is archived and cannot be promoted; unretire it first`);
        const from = await currentVersion(trx, name, alias);
        if (from === version) throw new CairnError("INVALID_STATE", `Alias '${alias}' of '${name}' already points to version ${version}`);
        if (from !== input.expectedFrom) throw moved(name, alias);
        const open = await trx.selectFrom("promotion_requests").select("id").where("name", "=", name).where("alias", "=", alias).where("version", "=", version).where("status", "=", "open").executeTakeFirst();
        if (open) throw duplicate(name, alias, version, Number(open.id));
        const row = await trx
          .insertInto("promotion_requests")
          .values({
            name,
            alias,
            version,
            from_version: from,
            reason: input.reason,
            requester: input.requester,
            status: "open",
            gate_results: JSON.stringify(input.gateResults),
            decided_by: null,
            decided_at: null,
            decision_comment: null,
            created_at: input.time,
          })
          .returning("id")
          .executeTakeFirstOrThrow();
        return Number(row.id);
      });
    } catch (e) {
      // Two requesters racing past the check meet the partial unique index instead.
      if (isUniqueViolation(e)) throw duplicate(name, alias, version);
      throw e;
    }
    return (await this.getRequest(id))!;
  }

  async getRequest(id: number): Promise<PromotionRequest | undefined> {
    const row = (await this.#k.selectFrom("promotion_requests").selectAll().where("id", "=", id).executeTakeFirst()) as RequestRow | undefined;
    return row ? (await this.#hydrate(this.#k, [row]))[0] : undefined;
  }

  async listRequests(q: PromotionListQuery): Promise<PromotionRequest[]> {
    let query = this.#k.selectFrom("promotion_requests").selectAll();
    if (q.name !== undefined) query = query.where("name", "=", q.name);
    if (q.alias !== undefined) query = query.where("alias", "=", q.alias);
    if (q.status !== undefined) query = query.where("status", "=", q.status);
    const rows = (await query.orderBy("id", "desc").limit(q.limit).offset(q.offset).execute()) as RequestRow[];
    return this.#hydrate(this.#k, rows);
  }

  async addComment(id: number, comment: { author: string; text: string; time: number }): Promise<PromotionRequest> {
    await this.#k.transaction().execute(async (trx) => {
      await requireRequest(trx, id);
      const n = await trx.selectFrom("promotion_comments").select((e) => e.fn.countAll().as("n")).where("request_id", "=", id).executeTakeFirstOrThrow();
      if (Number(n.n) >= PROMOTION_LIMITS.comments) throw new CairnError("RESOURCE_EXHAUSTED", `Promotion request ${id} already has ${PROMOTION_LIMITS.comments} comments`);
      await trx.insertInto("promotion_comments").values({ request_id: id, author: comment.author, text: comment.text, time: comment.time }).execute();
    });
    return (await this.getRequest(id))!;
  }

  async approve(id: number, a: Approval): Promise<PromotionRequest> {
    await this.#k.transaction().execute(async (trx) => {
      const r = await requireRequest(trx, id);
      // The no-op UPDATE takes the model's row lock (as a version create does): approvals of one
      // model queue here on PostgreSQL, so each sees the alias as the previous one left it.
      await trx.updateTable("registered_models").set({ next_version: sql`next_version` }).where("name", "=", r.name).execute();
      await markDecided(trx, id, "approved", { status: "approved", decided_by: a.actor, decided_at: a.time, decision_comment: a.comment, gate_results: JSON.stringify(a.gateResults) });
      const version = Number(r.version);
      const v = await trx.selectFrom("model_versions").select("retirement_state").where("name", "=", r.name).where("version", "=", version).executeTakeFirst();
      if (!v) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Model version '${r.name}' version ${version} no longer exists; promotion request ${id} cannot be approved (reject or cancel it)`);
      if (v.retirement_state === "archived") throw new CairnError("INVALID_STATE", `Model version '${r.name}' version ${version} was archived; promotion request ${id} cannot be approved (unretire the version, or reject the request)`);
      const from = await currentVersion(trx, r.name, r.alias);
      if (from !== a.expectedFrom) throw moved(r.name, r.alias);
      if (from !== version) {
        await trx
          .insertInto("registered_model_aliases")
          .values({ name: r.name, alias: r.alias, version })
          .onConflict((oc) => oc.columns(["name", "alias"]).doUpdateSet({ version }))
          .execute();
        await trx.insertInto("alias_history").values({ name: r.name, alias: r.alias, from_version: from, to_version: version, actor: a.actor, time: a.time, request_id: id }).execute();
      }
    });
    return (await this.getRequest(id))!;
  }

  async closeRequest(id: number, d: { status: "rejected" | "cancelled"; actor: string; time: number; comment: string | null }): Promise<PromotionRequest> {
    await this.#k.transaction().execute(async (trx) => {
      await markDecided(trx, id, d.status, { status: d.status, decided_by: d.actor, decided_at: d.time, decision_comment: d.comment });
    });
    return (await this.getRequest(id))!;
  }

  async #hydrate(k: Kysely<any>, rows: RequestRow[]): Promise<PromotionRequest[]> {
    if (!rows.length) return [];
    const ids = rows.map((r) => Number(r.id));
    const comments = new Map<number, { author: string; text: string; time: number }[]>();
    for (const c of await k.selectFrom("promotion_comments").selectAll().where("request_id", "in", ids).orderBy("id").execute()) {
      const list = comments.get(Number(c.request_id)) ?? [];
      list.push({ author: String(c.author), text: String(c.text), time: Number(c.time) });
      comments.set(Number(c.request_id), list);
    }
    const str = (v: unknown) => (v === null || v === undefined ? null : String(v));
    return rows.map((r) => {
      const gateResults = JSON.parse(r.gate_results) as GateResult[];
      return {
        id: Number(r.id),
        name: r.name,
        alias: r.alias,
        version: String(r.version),
        fromVersion: str(r.from_version),
        reason: r.reason,
        requester: r.requester,
        status: r.status as PromotionStatus,
        gateResults,
        gatesPassed: gateResults.every((g) => g.passed),
        comments: comments.get(Number(r.id)) ?? [],
        decidedBy: r.decided_by,
        decidedAt: r.decided_at === null ? null : Number(r.decided_at),
        decisionComment: r.decision_comment,
        createdAt: Number(r.created_at),
      };
    });
  }
}

const moved = (name: string, alias: string) => new CairnError("ABORTED", `Alias '${alias}' of '${name}' moved while the gates were being checked; try again`);

function duplicate(name: string, alias: string, version: number, id?: number): CairnError {
  return new CairnError("RESOURCE_ALREADY_EXISTS", `An open promotion request${id === undefined ? "" : ` (${id})`} already asks to point '${name}@${alias}' at version ${version}`);
}

async function currentVersion(k: Kysely<any>, name: string, alias: string): Promise<number | null> {
  const row = await k.selectFrom("registered_model_aliases").select("version").where("name", "=", name).where("alias", "=", alias).executeTakeFirst();
  return row === undefined ? null : Number(row.version);
}

async function requireModel(k: Kysely<any>, name: string): Promise<void> {
  const row = await k.selectFrom("registered_models").select("name").where("name", "=", name).executeTakeFirst();
  if (!row) throw noModel(name);
}

async function requireRequest(k: Kysely<any>, id: number): Promise<RequestRow> {
  const row = (await k.selectFrom("promotion_requests").selectAll().where("id", "=", id).executeTakeFirst()) as RequestRow | undefined;
  if (!row) throw noRequest(id);
  return row;
}

/**
 * Records a decision on a request that is still open (INVALID_STATE otherwise: a request is decided
 * once). The `status = 'open'` condition is in the UPDATE itself, so of two concurrent deciders on
 * PostgreSQL the second waits for the first and then matches no row.
 */
async function markDecided(k: Kysely<any>, id: number, to: string, set: Record<string, unknown>): Promise<void> {
  const res = await k.updateTable("promotion_requests").set(set).where("id", "=", id).where("status", "=", "open").executeTakeFirst();
  if (Number(res.numUpdatedRows) === 1) return;
  const r = await requireRequest(k, id);
  throw new CairnError("INVALID_STATE", `Promotion request ${id} is ${r.status}, not open; it cannot be ${to}`);
}
