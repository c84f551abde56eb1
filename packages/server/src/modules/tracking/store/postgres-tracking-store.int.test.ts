import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import { describe, expect, it } from "vitest";
import { openDatabase } from "../../../platform/db/database.js";
import type { Database } from "../../../platform/db/database.js";
import { createTrackingStore } from "./sql-tracking-store.js";
import { describeTrackingStore } from "./tracking-store.suite.js";
import type { TrackingStore } from "./tracking-store.js";

const baseUrl = process.env.CAIRN_TEST_PG_URL ?? "postgresql://postgres@127.0.0.1:5432/test";
const required = process.env.CAIRN_REQUIRE_SERVICES === "1";

/** Whether PostgreSQL answers; the reason when it does not. */
async function probe(): Promise<string | undefined> {
  let db: Database | undefined;
  try {
    db = await openDatabase(withParam(baseUrl, "connect_timeout", "3"));
    const conn = db;
    await Promise.race([
      sql`select 1`.execute(conn.kysely),
      new Promise((_, reject) => setTimeout(() => reject(new Error("no answer within 5 s")), 5000).unref()),
    ]);
    return undefined;
  } catch (e) {
    return (e as Error).message || String(e);
  } finally {
    await db?.close().catch(() => {});
  }
}

function withParam(url: string, key: string, value: string): string {
  return `${url}${url.includes("?") ? "&" : "?"}${key}=${encodeURIComponent(value)}`;
}

const unreachable = await probe();

if (unreachable && !required) {
  console.warn(`Skipping PostgreSQL store tests: ${baseUrl} is unreachable (${unreachable}). Set CAIRN_TEST_PG_URL, or CAIRN_REQUIRE_SERVICES=1 to fail instead.`);
  describe.skip("TrackingStore (postgres)", () => {
    it("needs PostgreSQL", () => {});
  });
} else if (unreachable) {
  describe("TrackingStore (postgres)", () => {
    it("needs PostgreSQL (CAIRN_REQUIRE_SERVICES=1)", () => {
      throw new Error(`PostgreSQL at ${baseUrl} is unreachable: ${unreachable}`);
    });
  });
} else {
  describeTrackingStore("postgres", async () => {
    // A fresh schema per run, selected through the connection's search_path.
    const schema = `t_${randomBytes(6).toString("hex")}`;
    const admin = await openDatabase(baseUrl);
    await sql`create schema ${sql.id(schema)}`.execute(admin.kysely);
    const db = await openDatabase(withParam(baseUrl, "options", `-c search_path=${schema}`));
    const dropSchema = async () => {
      await db.close();
      await sql`drop schema ${sql.id(schema)} cascade`.execute(admin.kysely);
      await admin.close();
    };
    let store: TrackingStore;
    try {
      store = await createTrackingStore(db);
    } catch (e) {
      await dropSchema();
      throw e;
    }
    return {
      store,
      cleanup: dropSchema,
    };
  });
}

if (!unreachable) {
  describe("migrations (postgres)", () => {
    it("serialises concurrent migrators on a fresh schema", async () => {
      const schema = `t_${randomBytes(6).toString("hex")}`;
      const admin = await openDatabase(baseUrl);
      await sql`create schema ${sql.id(schema)}`.execute(admin.kysely);
      const dbs = await Promise.all([0, 1, 2].map(() => openDatabase(withParam(baseUrl, "options", `-c search_path=${schema}`))));
      try {
        const stores = await Promise.all(dbs.map((db) => createTrackingStore(db)));
        expect(stores.map((s) => s.backend)).toEqual(["postgres", "postgres", "postgres"]);
        const experiments = await sql<{ n: number }>`select count(*)::int as n from experiments`.execute(dbs[0]!.kysely);
        expect(experiments.rows[0]?.n).toBe(1);
      } finally {
        for (const db of dbs) await db.close();
        await sql`drop schema ${sql.id(schema)} cascade`.execute(admin.kysely);
        await admin.close();
      }
    });
  });
}
