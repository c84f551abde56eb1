import type { InferenceRecord } from "@cairn/contract";
import type { Kysely } from "kysely";
import { migrate, type Database } from "../../../platform/db/database.js";
import { servingMigrations } from "./migrations.js";

/** A logged record with its model and its place in the log. */
export interface StoredRecord extends InferenceRecord {
  model: string;
  seq: number;
}

export interface LogQuery {
  model: string;
  version?: string;
  deployment?: string;
  arm?: string;
  from?: number;
  to?: number;
  /** Records after this sequence number. */
  afterSeq?: number;
  limit: number;
}

/** The inference log's storage: atomic batch appends, queries oldest first. */
export interface InferenceLogStore {
  /** Appends records of one model in one transaction; a request id already logged for the model and arm is skipped. Returns how many were new. */
  append(model: string, records: InferenceRecord[]): Promise<number>;
  query(q: LogQuery): Promise<StoredRecord[]>;
  /** Traffic of a deployment in [from, to): logged predictions by arm, their mean latency and how many failed. */
  summary(q: { model: string; deployment: string; from: number; to: number }): Promise<{ arm: string; requests: number; errors: number; meanLatencyMs: number | null }[]>;
}

/** The inference log over SQLite or PostgreSQL. */
export class SqlInferenceLogStore implements InferenceLogStore {
  readonly #k: Kysely<any>;

  constructor(k: Kysely<any>) {
    this.#k = k;
  }

  async append(model: string, records: InferenceRecord[]): Promise<number> {
    if (records.length === 0) return 0;
    const rows = records.map((r) => ({
      model,
      request_id: r.requestId,
      version: r.version,
      deployment: r.deployment,
      arm: r.arm,
      inputs: JSON.stringify(r.inputs ?? null),
      outputs: JSON.stringify(r.outputs ?? null),
      latency_ms: r.latencyMs,
      status: r.status,
      time: r.time,
    }));
    return this.#k.transaction().execute(async (trx) => {
      let added = 0;
      // 10 parameters a row keep a chunk well under PostgreSQL's 65,535-parameter limit.
      for (let i = 0; i < rows.length; i += 1000) {
        const r = await trx
          .insertInto("il_records")
          .values(rows.slice(i, i + 1000))
          .onConflict((oc) => oc.columns(["model", "request_id", "arm"]).doNothing())
          .executeTakeFirst();
        added += Number(r.numInsertedOrUpdatedRows ?? 0);
      }
      return added;
    });
  }

  async summary(q: { model: string; deployment: string; from: number; to: number }): Promise<{ arm: string; requests: number; errors: number; meanLatencyMs: number | null }[]> {
    const rows = await this.#k
      .selectFrom("il_records")
      .select((eb) => ["arm", eb.fn.countAll().as("n"), eb.fn.sum(eb.case().when("status", ">=", 400).then(1).else(0).end()).as("errors"), eb.fn.avg("latency_ms").as("latency")])
      .where("model", "=", q.model)
      .where("deployment", "=", q.deployment)
      .where("time", ">=", q.from)
      .where("time", "<", q.to)
      .groupBy("arm")
      .orderBy("arm")
      .execute();
    return rows.map((r) => ({ arm: String(r.arm), requests: Number(r.n), errors: Number(r.errors ?? 0), meanLatencyMs: r.latency === null ? null : Number(r.latency) }));
  }

  async query(q: LogQuery): Promise<StoredRecord[]> {
    let query = this.#k.selectFrom("il_records").selectAll().where("model", "=", q.model);
    if (q.version !== undefined) query = query.where("version", "=", q.version);
    if (q.deployment !== undefined) query = query.where("deployment", "=", q.deployment);
    if (q.arm !== undefined) query = query.where("arm", "=", q.arm);
    if (q.from !== undefined) query = query.where("time", ">=", q.from);
    if (q.to !== undefined) query = query.where("time", "<", q.to);
    if (q.afterSeq !== undefined) query = query.where("seq", ">", q.afterSeq);
    const rows = await query.orderBy("seq").limit(q.limit).execute();
    return rows.map((r) => ({
      seq: Number(r.seq),
      model: String(r.model),
      requestId: String(r.request_id),
      version: String(r.version),
      deployment: String(r.deployment),
      arm: r.arm as InferenceRecord["arm"],
      inputs: JSON.parse(String(r.inputs)) as unknown,
      outputs: JSON.parse(String(r.outputs)) as unknown,
      latencyMs: Number(r.latency_ms),
      status: Number(r.status),
      time: Number(r.time),
    }));
  }
}

/** Opens the inference log on a database, applying its migrations. */
export async function createInferenceLogStore(db: Database): Promise<SqlInferenceLogStore> {
  await migrate(db, servingMigrations);
  return new SqlInferenceLogStore(db.kysely);
}
