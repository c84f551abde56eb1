import type { Database } from "../../../platform/db/database.js";
import { SqlTrackingStore } from "./sql-store-base.js";

/**
 * The PostgreSQL tracking store: the shared Kysely implementation, with multi-row statements
 * in one transaction per batch and row locks taken in key order so concurrent writers do not deadlock.
 *
 * Throws the CairnErrors documented on `TrackingStore`.
 * @example const store = new PostgresTrackingStore(await openDatabase("postgresql://localhost/cairn")) // after migrate()
 */
export class PostgresTrackingStore extends SqlTrackingStore {
  readonly backend = "postgres" as const;

  /** Expects a migrated database (see `createTrackingStore`). */
  constructor(db: Database) {
    super(db);
    if (db.kind !== "postgres") throw new Error("PostgresTrackingStore needs a PostgreSQL database");
  }
}
