import { migrate } from "../../../platform/db/database.js";
import type { Database } from "../../../platform/db/database.js";
import { trackingMigrations } from "./migrations.js";
import { PostgresTrackingStore } from "./postgres-tracking-store.js";
import { SqliteTrackingStore } from "./sqlite-tracking-store.js";
import type { TrackingStore } from "./tracking-store.js";

export { SqliteTrackingStore } from "./sqlite-tracking-store.js";
export { PostgresTrackingStore } from "./postgres-tracking-store.js";
export { SqlTrackingStore } from "./sql-store-base.js";
export { trackingMigrations } from "./migrations.js";

/**
 * Migrates the tracking tables and returns the store for the database's backend.
 * The store does not own the Database: close the database yourself after `store.close()`.
 *
 * Throws the migration's error when the schema cannot be brought up to date.
 * @example
 * const db = await openDatabase("sqlite:///var/lib/cairn/cairn.db");
 * const store = await createTrackingStore(db);
 */
export async function createTrackingStore(db: Database): Promise<TrackingStore> {
  await migrate(db, trackingMigrations);
  if (db.kind === "postgres") return new PostgresTrackingStore(db);
  return new SqliteTrackingStore(db);
}
