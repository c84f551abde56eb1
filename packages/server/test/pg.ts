/**
 * PostgreSQL for tests: the server's URL, a reachability probe, `describePg` (skips with a printed
 * reason when PostgreSQL is unreachable, fails instead under CAIRN_REQUIRE_SERVICES=1) and a fresh
 * schema per use, selected through the connection's search_path and dropped afterwards.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { describe, it } from "vitest";
import { CAIRN_MIGRATION_LOCK } from "../src/platform/db/database.js";

export const PG_URL = process.env.CAIRN_TEST_PG_URL ?? "postgresql://postgres@127.0.0.1:5432/test";
const REQUIRED = process.env.CAIRN_REQUIRE_SERVICES === "1";

/** Adds a query parameter to a connection URL. */
export function withParam(url: string, key: string, value: string): string {
  return `${url}${url.includes("?") ? "&" : "?"}${key}=${encodeURIComponent(value)}`;
}

let probed: Promise<string | undefined> | undefined;

/** Why PostgreSQL cannot be used (undefined when it answers); probed once per test file. */
export function pgUnreachable(): Promise<string | undefined> {
  probed ??= (async () => {
    const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000, query_timeout: 5000 });
    try {
      await client.connect();
      await client.query("select 1");
      return undefined;
    } catch (e) {
      return (e as Error).message || String(e);
    } finally {
      await client.end().catch(() => {});
    }
  })();
  return probed;
}

/** Registers `body`'s tests when PostgreSQL answers; otherwise one skipped (or, when required, failing) test. */
export async function describePg(name: string, body: () => void): Promise<void> {
  const reason = await pgUnreachable();
  if (!reason) return body();
  if (!REQUIRED) {
    console.warn(`[skip] ${name}: PostgreSQL at ${PG_URL} is unreachable (${reason}). Set CAIRN_TEST_PG_URL, or CAIRN_REQUIRE_SERVICES=1 to fail instead.`);
    describe.skip(name, () => it("needs PostgreSQL", () => {}));
    return;
  }
  describe(name, () => {
    it("needs PostgreSQL (CAIRN_REQUIRE_SERVICES=1)", () => {
      throw new Error(`PostgreSQL at ${PG_URL} is unreachable: ${reason}`);
    });
  });
}

/** A new empty schema: `url` connects with it as the search_path; `drop()` removes it and everything in it. */
export async function freshPgSchema(): Promise<{ url: string; drop(): Promise<void> }> {
  const schema = `t_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`create schema "${schema}"`);
  return {
    url: withParam(PG_URL, "options", `-c search_path=${schema}`),
    drop: async () => {
      try {
        // Kysely's migrator scans every schema's catalog (has_schema_privilege on each); a schema dropped
        // in the middle of that scan fails another file's migration. Migrations hold this lock throughout.
        await admin.query(`select pg_advisory_lock(${CAIRN_MIGRATION_LOCK})`);
        await admin.query(`drop schema "${schema}" cascade`);
        await admin.query(`select pg_advisory_unlock(${CAIRN_MIGRATION_LOCK})`);
      } finally {
        await admin.end();
      }
    },
  };
}
