import { sql, type Kysely } from "kysely";
import { migrate, type Database } from "../../../platform/db/database.js";
import { servingMigrations } from "../../serving/store/migrations.js";
import { monitoringMigrations } from "./migrations.js";

/** The type of a deployment's labels, fixed by its first label. */
export type LabelType = "number" | "boolean" | "string";

/** One label to store. */
export interface FeedbackRow {
  requestId: string;
  label: number | boolean | string;
  /** When the label was observed (ms). */
  time: number;
}

/** What one write did: labels stored for the first time, and labels that replaced an earlier one. */
export type UpsertResult = { accepted: number; updated: number } | { mismatch: LabelType };

/** Labelled predictions of one version and arm per window: `bucket` is ⌊(time − from) / windowMs⌋. */
export interface JoinedCount {
  version: string;
  arm: string;
  bucket: number;
  count: number;
}

/** One labelled prediction: its place in the log, its outputs (JSON text as logged) and its label. */
export interface JoinedRow {
  seq: number;
  /** The prediction's time (ms). */
  time: number;
  outputs: string;
  label: number | boolean | string;
}

export interface JoinScope {
  model: string;
  deployment: string;
  /** [from, to) by the prediction's time (ms). */
  from: number;
  to: number;
}

/**
 * Ground-truth labels, keyed by (deployment, request id), and their join to the inference log
 * (`il_records`, successful predictions only).
 */
export interface FeedbackStore {
  labelType(deployment: string): Promise<LabelType | undefined>;
  /**
   * Stores labels of one type in one transaction (fixing the deployment's label type when it has none):
   * a request id already labelled gets the new label (and `updated_at`). Nothing is written when the
   * deployment's label type is another (`mismatch`). Request ids must be distinct.
   */
  upsert(deployment: string, model: string, type: LabelType, rows: FeedbackRow[], now: number): Promise<UpsertResult>;
  /** The request ids among `requestIds` that have a logged prediction of the deployment (any arm). */
  loggedRequestIds(model: string, deployment: string, requestIds: string[]): Promise<Set<string>>;
  /** Counts of labelled predictions per version, arm and window. */
  joinedCounts(scope: JoinScope & { windowMs: number }): Promise<JoinedCount[]>;
  /**
   * Labelled predictions of one version and arm in (time, seq) order, after `after` (the last row of
   * the previous page): keyset paging on the log's (model, time) index, so each page costs its own rows.
   */
  joinedPage(scope: JoinScope & { version: string; arm: string; after?: { time: number; seq: number }; limit: number }): Promise<JoinedRow[]>;
  /** Counts of logged predictions (labelled or not) per version, arm and window. */
  loggedCounts(scope: JoinScope & { windowMs: number }): Promise<JoinedCount[]>;
  /** Logged predictions (labelled or not) of one version and arm in (time, seq) order after `after`: keyset paging, as `joinedPage`. */
  loggedPage(scope: JoinScope & { version: string; arm: string; after?: { time: number; seq: number }; limit: number }): Promise<LoggedRow[]>;
}

/** One logged prediction: its place in the log and its outputs (JSON text as logged). */
export type LoggedRow = Omit<JoinedRow, "label">;

/** Rows a statement carries at most (7 parameters a row, well under PostgreSQL's 65,535 and SQLite's 32,766). */
const CHUNK = 1000;

/** Ground truth over SQLite or PostgreSQL. */
export class SqlFeedbackStore implements FeedbackStore {
  readonly #k: Kysely<any>;

  constructor(k: Kysely<any>) {
    this.#k = k;
  }

  async labelType(deployment: string): Promise<LabelType | undefined> {
    const r = await this.#k.selectFrom("monitoring_label_types").select("label_type").where("deployment", "=", deployment).executeTakeFirst();
    return r ? (String(r.label_type) as LabelType) : undefined;
  }

  async upsert(deployment: string, model: string, type: LabelType, rows: FeedbackRow[], now: number): Promise<UpsertResult> {
    return this.#k.transaction().execute(async (trx) => {
      await trx.insertInto("monitoring_label_types").values({ deployment, label_type: type }).onConflict((oc) => oc.column("deployment").doNothing()).execute();
      const established = (await trx.selectFrom("monitoring_label_types").select("label_type").where("deployment", "=", deployment).executeTakeFirstOrThrow()).label_type as LabelType;
      if (established !== type) return { mismatch: established };
      let updated = 0;
      for (let i = 0; i < rows.length; i += CHUNK) {
        const chunk = rows.slice(i, i + CHUNK);
        const existing = await trx
          .selectFrom("monitoring_feedback")
          .select((eb) => eb.fn.countAll().as("n"))
          .where("deployment", "=", deployment)
          .where("request_id", "in", chunk.map((r) => r.requestId))
          .executeTakeFirst();
        updated += Number(existing?.n ?? 0);
        await trx
          .insertInto("monitoring_feedback")
          .values(chunk.map((r) => ({ deployment, request_id: r.requestId, model, label: JSON.stringify(r.label), time: r.time, created_at: now, updated_at: now })))
          .onConflict((oc) =>
            oc.columns(["deployment", "request_id"]).doUpdateSet((eb) => ({ model: eb.ref("excluded.model"), label: eb.ref("excluded.label"), time: eb.ref("excluded.time"), updated_at: eb.ref("excluded.updated_at") })),
          )
          .execute();
      }
      return { accepted: rows.length - updated, updated };
    });
  }

  async loggedRequestIds(model: string, deployment: string, requestIds: string[]): Promise<Set<string>> {
    const found = new Set<string>();
    for (let i = 0; i < requestIds.length; i += CHUNK) {
      const rows = await this.#k
        .selectFrom("il_records")
        .select("request_id")
        .distinct()
        .where("model", "=", model)
        .where("request_id", "in", requestIds.slice(i, i + CHUNK))
        .where("deployment", "=", deployment)
        .execute();
      for (const r of rows) found.add(String(r.request_id));
    }
    return found;
  }

  async joinedCounts(s: JoinScope & { windowMs: number }): Promise<JoinedCount[]> {
    return this.#counts(s, true);
  }

  async joinedPage(s: PageScope): Promise<JoinedRow[]> {
    const rows = await this.#page(s)
      .innerJoin("monitoring_feedback as f", (j) => j.onRef("f.deployment", "=", "il.deployment").onRef("f.request_id", "=", "il.request_id").onRef("f.model", "=", "il.model"))
      .select(["il.seq as seq", "il.time as time", "il.outputs as outputs", "f.label as label"])
      .execute();
    return rows.map((r) => ({ seq: Number(r.seq), time: Number(r.time), outputs: String(r.outputs), label: JSON.parse(String(r.label)) as JoinedRow["label"] }));
  }

  async loggedCounts(s: JoinScope & { windowMs: number }): Promise<JoinedCount[]> {
    return this.#counts(s, false);
  }

  /** Successful answers per version, arm and window; with `labelled`, only those with a label. */
  async #counts(s: JoinScope & { windowMs: number }, labelled: boolean): Promise<JoinedCount[]> {
    const join = labelled ? sql`join monitoring_feedback f on f.deployment = il.deployment and f.request_id = il.request_id and f.model = il.model` : sql``;
    // Grouped by position: the bucket expression's parameters would make PostgreSQL see two different expressions.
    const r = await sql<{ version: string; arm: string; bucket: number | string; n: number | string }>`
      select il.version as version, il.arm as arm, (il.time - cast(${s.from} as bigint)) / cast(${s.windowMs} as bigint) as bucket, count(*) as n
      from il_records il
      ${join}
      where il.model = ${s.model} and il.deployment = ${s.deployment} and il.time >= ${s.from} and il.time < ${s.to} and il.status >= 200 and il.status < 300
      group by 1, 2, 3`.execute(this.#k);
    return r.rows.map((x) => ({ version: String(x.version), arm: String(x.arm), bucket: Number(x.bucket), count: Number(x.n) }));
  }

  async loggedPage(s: PageScope): Promise<LoggedRow[]> {
    const rows = await this.#page(s).select(["il.seq as seq", "il.time as time", "il.outputs as outputs"]).execute();
    return rows.map((r) => ({ seq: Number(r.seq), time: Number(r.time), outputs: String(r.outputs) }));
  }

  /** One version's and arm's successful answers in the window after (time, seq), in index order, one page of them. */
  #page(s: PageScope) {
    let q = this.#k
      .selectFrom("il_records as il")
      .where("il.model", "=", s.model)
      .where("il.deployment", "=", s.deployment)
      .where("il.version", "=", s.version)
      .where("il.arm", "=", s.arm)
      .where("il.time", ">=", s.after ? Math.max(s.from, s.after.time) : s.from)
      .where("il.time", "<", s.to)
      .where("il.status", ">=", 200)
      .where("il.status", "<", 300);
    const after = s.after;
    if (after) q = q.where((eb) => eb.or([eb("il.time", ">", after.time), eb("il.seq", ">", after.seq)]));
    return q.orderBy("il.time").orderBy("il.seq").limit(s.limit);
  }
}

type PageScope = JoinScope & { version: string; arm: string; after?: { time: number; seq: number }; limit: number };

/** Opens the feedback store on a database, applying its migrations (and the inference log's, which it joins). */
export async function createFeedbackStore(db: Database): Promise<SqlFeedbackStore> {
  await migrate(db, { ...servingMigrations, ...monitoringMigrations });
  return new SqlFeedbackStore(db.kysely);
}
