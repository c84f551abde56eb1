import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import { describe, it } from "vitest";
import { openDatabase } from "../../../platform/db/database.js";
import type { Database } from "../../../platform/db/database.js";
import { createRegistryStore } from "./sql-registry-store.js";
import { describeRegistryStore } from "./registry-store.suite.js";
import type { RegistryStore } from "./registry-store.js";

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
  console.warn(`Skipping PostgreSQL registry store tests: ${baseUrl} is unreachable (${unreachable}). Set CAIRN_TEST_PG_URL, or CAIRN_REQUIRE_SERVICES=1 to fail instead.`);
  describe.skip("RegistryStore (postgres)", () => {
    it("needs PostgreSQL", () => {});
  });
} else if (unreachable) {
  describe("RegistryStore (postgres)", () => {
    it("needs PostgreSQL (CAIRN_REQUIRE_SERVICES=1)", () => {
      throw new Error(`PostgreSQL at ${baseUrl} is unreachable: ${unreachable}`);
    });
  });
} else {
  describeRegistryStore("postgres", async () => {
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
    let store: RegistryStore;
    try {
      store = await createRegistryStore(db);
    } catch (e) {
      await dropSchema();
      throw e;
    }
    return { store, cleanup: dropSchema };
  });
}
