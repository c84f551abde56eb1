import { sql, type Kysely } from "kysely";
import type BetterSqlite3 from "better-sqlite3";
import { migrate, type Database } from "../../../platform/db/database.js";
import { chain, GENESIS_HASH, type NewAuditRecord, type StoredAuditRecord } from "../chain.js";
import { auditMigrations } from "./migrations.js";

/** Filters of an audit query. `resource`/`action` ending in `*` match by prefix. */
export interface AuditFilter {
  resource?: string;
  actor?: string;
  action?: string;
  since?: number;
  until?: number;
}

/** Storage of the append-only, hash-chained audit log. */
export interface AuditStore {
  /** Appends records in one transaction, chained after the current head, and returns them as stored. */
  append(records: NewAuditRecord[]): Promise<StoredAuditRecord[]>;
  /** Newest first, `seq < before`, at most `limit`. */
  list(filter: AuditFilter, before: number | undefined, limit: number): Promise<StoredAuditRecord[]>;
  /** Oldest first, `seq > after`, at most `limit` (for verification and export). */
  scan(after: number, limit: number, filter?: AuditFilter): Promise<StoredAuditRecord[]>;
  close(): Promise<void>;
}

// Any constant distinct from the migration lock; it serialises appenders across servers sharing one PostgreSQL.
const AUDIT_CHAIN_LOCK = 7_306_145_221_034_812;

type Row = { seq: number; time: number; actor: string; action: string; resource: string; before_json: string | null; after_json: string | null; status: number; request_id: string; client: string; prev_hash: string; hash: string };

function fromRow(r: Row): StoredAuditRecord {
  return { seq: Number(r.seq), time: Number(r.time), actor: r.actor, action: r.action, resource: r.resource, beforeJson: r.before_json, afterJson: r.after_json, status: Number(r.status), requestId: r.request_id, client: r.client, prevHash: r.prev_hash, hash: r.hash };
}

function toRow(r: StoredAuditRecord): Row {
  return { seq: r.seq, time: r.time, actor: r.actor, action: r.action, resource: r.resource, before_json: r.beforeJson, after_json: r.afterJson, status: r.status, request_id: r.requestId, client: r.client, prev_hash: r.prevHash, hash: r.hash };
}

const likePrefix = (s: string) => s.slice(0, -1).replace(/[\\%_]/g, (c) => `\\${c}`) + "%";

/** The audit store over Kysely (PostgreSQL) or the raw better-sqlite3 handle (SQLite appends, which are on every write's path). */
class SqlAuditStore implements AuditStore {
  readonly #k: Kysely<any>;
  readonly #sqlite?: BetterSqlite3.Database;
  readonly #sqliteAppend?: (records: NewAuditRecord[]) => StoredAuditRecord[];

  constructor(db: Database) {
    this.#k = db.kysely;
    this.#sqlite = db.sqlite;
    if (db.sqlite) {
      const head = db.sqlite.prepare("select seq, hash from audit_log order by seq desc limit 1");
      const insert = db.sqlite.prepare(
        "insert into audit_log (seq, time, actor, action, resource, before_json, after_json, status, request_id, client, prev_hash, hash) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      );
      // IMMEDIATE: take the write lock before reading the head, so another process cannot chain in between.
      const tx = db.sqlite.transaction((records: NewAuditRecord[]) => {
        const h = head.get() as { seq: number; hash: string } | undefined;
        const out = chain(h ? { seq: Number(h.seq), hash: h.hash } : { seq: 0, hash: GENESIS_HASH }, records);
        // Positional parameters bind faster than named ones on this, the write path of every change.
        for (const r of out) insert.run(r.seq, r.time, r.actor, r.action, r.resource, r.beforeJson, r.afterJson, r.status, r.requestId, r.client, r.prevHash, r.hash);
        return out;
      });
      this.#sqliteAppend = (records) => tx.immediate(records);
    }
  }

  async append(records: NewAuditRecord[]): Promise<StoredAuditRecord[]> {
    if (records.length === 0) return [];
    if (this.#sqlite && this.#sqliteAppend) {
      const run = this.#sqliteAppend;
      // A Kysely transaction may be open on the shared connection across an await: wait for it
      // rather than landing inside it (its rollback would take the audit records along).
      if (!this.#sqlite.inTransaction) return run(records);
      return this.#k.connection().execute(async () => run(records));
    }
    return this.#k.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(${sql.lit(AUDIT_CHAIN_LOCK)})`.execute(trx);
      const h = await trx.selectFrom("audit_log").select(["seq", "hash"]).orderBy("seq", "desc").limit(1).executeTakeFirst();
      const out = chain(h ? { seq: Number(h.seq), hash: h.hash } : { seq: 0, hash: GENESIS_HASH }, records);
      await trx.insertInto("audit_log").values(out.map(toRow)).execute();
      return out;
    });
  }

  #filtered(filter: AuditFilter) {
    let q = this.#k.selectFrom("audit_log").selectAll();
    const match = (col: "resource" | "action", v: string | undefined) => {
      if (v === undefined) return;
      q = v.endsWith("*") ? q.where(sql<boolean>`${sql.ref(col)} like ${likePrefix(v)} escape '\\'`) : q.where(col, "=", v);
    };
    match("resource", filter.resource);
    match("action", filter.action);
    if (filter.actor !== undefined) q = q.where("actor", "=", filter.actor);
    if (filter.since !== undefined) q = q.where("time", ">=", filter.since);
    if (filter.until !== undefined) q = q.where("time", "<=", filter.until);
    return q;
  }

  async list(filter: AuditFilter, before: number | undefined, limit: number): Promise<StoredAuditRecord[]> {
    let q = this.#filtered(filter);
    if (before !== undefined) q = q.where("seq", "<", before);
    return (await q.orderBy("seq", "desc").limit(limit).execute()).map((r) => fromRow(r as Row));
  }

  async scan(after: number, limit: number, filter: AuditFilter = {}): Promise<StoredAuditRecord[]> {
    return (await this.#filtered(filter).where("seq", ">", after).orderBy("seq", "asc").limit(limit).execute()).map((r) => fromRow(r as Row));
  }

  async close(): Promise<void> {}
}

/**
 * Migrates the audit table and returns the store.
 * @example const audit = await createAuditStore(await openDatabase("sqlite::memory:"));
 */
export async function createAuditStore(db: Database): Promise<AuditStore> {
  await migrate(db, auditMigrations);
  return new SqlAuditStore(db);
}
