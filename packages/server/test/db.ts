import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase, type Database } from "../src/platform/db/database.js";
import { freshPgSchema } from "./pg.js";

/** An open test database and how to throw it away. */
export interface TestDb {
  db: Database;
  /** The URI it was opened with (to open a second handle on the same database). */
  uri: string;
  cleanup(): Promise<void>;
}

/** A SQLite database in a fresh temporary directory. */
export async function sqliteTestDb(): Promise<TestDb> {
  const dir = mkdtempSync(join(tmpdir(), "cairn-db-"));
  const uri = `sqlite://${join(dir, "cairn.db")}`;
  const db = await openDatabase(uri);
  return { db, uri, cleanup: async () => (await db.close(), rmSync(dir, { recursive: true, force: true })) };
}

/** A fresh PostgreSQL schema (dropped by cleanup). */
export async function pgTestDb(): Promise<TestDb> {
  const schema = await freshPgSchema();
  const db = await openDatabase(schema.url);
  return { db, uri: schema.url, cleanup: async () => (await db.close(), await schema.drop()) };
}

/**
 * A store over a fresh test database, for the shared store suites: `cleanup` closes and removes the
 * database, and a store that fails to open (a migration error) cleans up before rethrowing.
 */
export async function storeOn<S>(open: () => Promise<TestDb>, create: (db: Database) => Promise<S>): Promise<{ store: S; cleanup(): Promise<void> }> {
  const t = await open();
  try {
    return { store: await create(t.db), cleanup: t.cleanup };
  } catch (e) {
    await t.cleanup();
    throw e;
  }
}
