import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { CompiledQuery, Kysely, Migrator, PostgresAdapter, PostgresDialect, SqliteDialect, sql } from "kysely";
import type { DatabaseConnection, Driver, SqliteDatabase } from "kysely";
import type { Migration, MigrationProvider, MigrationResultSet } from "kysely";
import pg from "pg";

/**
 * An open database: a Kysely instance over SQLite (better-sqlite3) or PostgreSQL (pg Pool).
 * Hot paths may use the raw `sqlite` handle; everything else goes through `kysely`.
 */
export interface Database {
  readonly kind: "sqlite" | "postgres";
  // Stores are typed per module; the shared handle is untyped on purpose.
  readonly kysely: Kysely<any>;
  /** The raw better-sqlite3 handle (SQLite only). */
  readonly sqlite?: BetterSqlite3.Database;
  /** The URI the database was opened with. */
  readonly uri: string;
  /** Closes the pool or file handle. Safe to call twice. */
  close(): Promise<void>;
}

export type { Migration };

const PG_INT8_OID = 20;
const PG_NUMERIC_OID = 1700;

/**
 * Opens a database from a URI, choosing the backend by scheme.
 *
 * - `sqlite:///abs/path.db` (parent directories are created), `sqlite:relative.db` or `sqlite::memory:`:
 *   WAL journal, `synchronous=NORMAL` (a killed process loses nothing committed), a busy timeout,
 *   foreign keys on, case-sensitive LIKE (MLflow's LIKE is case-sensitive), a 64 MiB page cache.
 * - `postgresql://...` or `postgres://...`: a pg Pool of up to 10 connections whose BIGINT and
 *   NUMERIC columns come back as JS numbers (set on this pool only, not globally).
 *
 * Throws a plain `Error` for an unknown scheme. PostgreSQL connects lazily, so an unreachable
 * server shows up on the first query.
 * @example const db = await openDatabase("sqlite:///var/lib/cairn/cairn.db")
 */
export async function openDatabase(uri: string): Promise<Database> {
  if (uri.startsWith("sqlite:")) return openSqlite(uri);
  if (uri.startsWith("postgresql://") || uri.startsWith("postgres://")) return openPostgres(uri);
  throw new Error(`Unsupported database URI '${redactUri(uri)}': expected sqlite:///path.db, sqlite::memory: or postgresql://...`);
}

/** The file path of a `sqlite:` URI, or ":memory:". */
export function sqlitePathFromUri(uri: string): string {
  const rest = uri.slice("sqlite:".length);
  if (rest === ":memory:" || rest === "//:memory:" || rest === "") return ":memory:";
  // sqlite:///abs/path -> /abs/path ; sqlite://rel/path -> rel/path ; sqlite:rel -> rel
  if (rest.startsWith("///")) return rest.slice(2);
  if (rest.startsWith("//")) return rest.slice(2);
  return rest;
}

/**
 * Kysely's SQLite dialect with write transactions that take the write lock when they begin
 * (`BEGIN IMMEDIATE`). A deferred transaction that reads and then writes fails at once with
 * SQLITE_BUSY when another process wrote in between (the busy timeout cannot help a stale snapshot);
 * an immediate one waits its turn instead.
 */
class ImmediateSqliteDialect extends SqliteDialect {
  override createDriver(): Driver {
    const driver = super.createDriver();
    driver.beginTransaction = async (connection: DatabaseConnection) => {
      await connection.executeQuery(CompiledQuery.raw("begin immediate"));
    };
    return driver;
  }
}

const STATEMENT_CACHE_SIZE = 1000;

/**
 * The better-sqlite3 handle as Kysely sees it, with prepared statements cached by SQL text: Kysely
 * prepares every query it runs, and preparing cost more than running the registry's small queries.
 * Kysely runs one query at a time on the connection, so a cached statement is never used twice at once.
 */
function cachingStatements(sqlite: BetterSqlite3.Database): SqliteDatabase {
  const cache = new Map<string, BetterSqlite3.Statement>();
  return {
    close: () => sqlite.close(),
    prepare(text: string) {
      let stmt = cache.get(text);
      if (stmt) {
        // Map order is insertion order: move a hit to the back so the oldest unused one is dropped first.
        cache.delete(text);
      } else {
        stmt = sqlite.prepare(text);
        if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value!);
      }
      cache.set(text, stmt);
      return stmt;
    },
  };
}

function openSqlite(uri: string): Database {
  const path = sqlitePathFromUri(uri);
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  const sqlite = new BetterSqlite3(path);
  sqlite.pragma("journal_mode = WAL");
  sqlite.pragma("synchronous = NORMAL");
  sqlite.pragma("busy_timeout = 10000");
  sqlite.pragma("foreign_keys = ON");
  sqlite.pragma("case_sensitive_like = ON");
  // A server process: a 64 MiB page cache and in-memory temp sorts keep searches off the file system.
  sqlite.pragma("cache_size = -65536");
  sqlite.pragma("temp_store = MEMORY");
  // Checkpoints copy the WAL into the database and fsync it; at the default 1000 pages a busy writer
  // pays that every few hundred commits. 10000 pages (about 40 MB of WAL) makes it rarer.
  sqlite.pragma("wal_autocheckpoint = 10000");
  const kysely = new Kysely<unknown>({ dialect: new ImmediateSqliteDialect({ database: cachingStatements(sqlite) }) });
  let closed = false;
  return {
    kind: "sqlite",
    kysely,
    sqlite,
    uri,
    async close() {
      if (closed) return;
      closed = true;
      await kysely.destroy();
    },
  };
}

function openPostgres(uri: string): Database {
  const pool = new pg.Pool({
    connectionString: uri,
    max: 10,
    types: {
      getTypeParser(oid: number, format?: string) {
        if (oid === PG_INT8_OID || oid === PG_NUMERIC_OID) return (v: string) => (v === null ? null : Number(v));
        return pg.types.getTypeParser(oid, format as "text");
      },
    } as pg.CustomTypesConfig,
  });
  // An idle client's error (e.g. the server restarting) must not crash the process.
  pool.on("error", () => {});
  const kysely = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
  let closed = false;
  return {
    kind: "postgres",
    kysely,
    uri,
    async close() {
      if (closed) return;
      closed = true;
      await kysely.destroy();
    },
  };
}

function redactUri(uri: string): string {
  return uri.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@");
}

// A fixed key for pg_advisory_lock, distinct from Kysely's own migration lock id.
/** The PostgreSQL advisory lock migrations hold (exported so test harnesses can keep schema drops out of a migration's way). */
export const CAIRN_MIGRATION_LOCK = 7_306_145_221_034_811;

/**
 * Applies every pending migration of one module (or several), in name order.
 *
 * Names are prefixed by module (`tracking_0001_init`), so modules can be migrated by separate
 * calls: migrations another module already applied are tolerated, and migrations may be applied
 * out of global order. Each migration runs in a transaction (DDL is transactional on both backends).
 * On PostgreSQL a session advisory lock serialises concurrent migrators, so two servers starting at
 * once do not collide. Throws the failing migration's error, after rolling it back.
 * @example await migrate(db, { tracking_0001_init: { up: async (k) => { ... } } })
 */
export async function migrate(db: Database, migrations: Record<string, Migration>): Promise<MigrationResultSet> {
  const run = async (k: Kysely<any>): Promise<MigrationResultSet> => {
    const applied = await appliedMigrationNames(k);
    const all: Record<string, Migration> = {};
    // Migrations applied by other modules appear as no-ops so Kysely's "missing migration" check passes.
    for (const name of applied) all[name] = { up: async () => {} };
    for (const [name, m] of Object.entries(migrations)) {
      // Kysely runs SQLite migrations outside a transaction; SQLite's DDL is transactional, so make each one atomic.
      all[name] = db.kind === "sqlite" ? { ...m, up: (k) => (k.isTransaction ? m.up(k) : k.transaction().execute((trx) => m.up(trx))) } : m;
    }
    const provider: MigrationProvider = { getMigrations: async () => all };
    // Kysely looks for its tables in every schema unless told which; pin it to ours (the search_path's first).
    const schema = isPostgres(k) ? (await sql<{ s: string }>`select current_schema() as s`.execute(k)).rows[0]?.s : undefined;
    const migrator = new Migrator({ db: k, provider, allowUnorderedMigrations: true, ...(schema ? { migrationTableSchema: schema } : {}) });
    const result = await migrator.migrateToLatest();
    if (result.error) throw result.error;
    return result;
  };
  if (db.kind === "sqlite") return run(db.kysely);
  return db.kysely.connection().execute(async (conn) => {
    await sql`select pg_advisory_lock(${sql.lit(CAIRN_MIGRATION_LOCK)})`.execute(conn);
    try {
      return await run(conn);
    } finally {
      await sql`select pg_advisory_unlock(${sql.lit(CAIRN_MIGRATION_LOCK)})`.execute(conn);
    }
  });
}

async function appliedMigrationNames(k: Kysely<any>): Promise<string[]> {
  // Looked up through the search path (PostgreSQL) so another schema's migration table is not mistaken for ours.
  const exists = isPostgres(k)
    ? (await sql<{ t: string | null }>`select to_regclass('kysely_migration')::text as t`.execute(k)).rows[0]?.t
    : (await sql<{ t: string }>`select name as t from sqlite_master where type = 'table' and name = 'kysely_migration'`.execute(k)).rows[0]?.t;
  if (!exists) return [];
  const rows = await k.selectFrom("kysely_migration").select("name").execute();
  return rows.map((r) => String(r.name));
}

/** Whether a Kysely instance talks to PostgreSQL (for the few places where SQL differs). */
export function isPostgres(k: Kysely<any>): boolean {
  return k.getExecutor().adapter instanceof PostgresAdapter;
}

/** Whether a driver error is a unique-constraint violation (PostgreSQL 23505 or SQLite's). */
export function isUniqueViolation(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === "23505" || code === "SQLITE_CONSTRAINT_UNIQUE" || code === "SQLITE_CONSTRAINT_PRIMARYKEY";
}

/** Runs DDL statements in order (a migration's `up`, written as one text per statement). */
export async function execStatements(k: Kysely<any>, statements: readonly string[]): Promise<void> {
  for (const s of statements) await sql.raw(s).execute(k);
}
