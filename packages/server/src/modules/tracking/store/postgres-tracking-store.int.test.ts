import { sql } from "kysely";
import { describe, expect, it } from "vitest";
import { openDatabase } from "../../../platform/db/database.js";
import { describePg, freshPgSchema } from "../../../../test/pg.js";
import { pgTestDb, storeOn } from "../../../../test/db.js";
import { createTrackingStore } from "./sql-tracking-store.js";
import { describeTrackingStore } from "./tracking-store.suite.js";

await describePg("TrackingStore (postgres)", () => {
  describeTrackingStore("postgres", () => storeOn(pgTestDb, createTrackingStore));

  describe("migrations (postgres)", () => {
    it("serialises concurrent migrators on a fresh schema", async () => {
      const schema = await freshPgSchema();
      const dbs = await Promise.all([0, 1, 2].map(() => openDatabase(schema.url)));
      try {
        const stores = await Promise.all(dbs.map((db) => createTrackingStore(db)));
        expect(stores.map((s) => s.backend)).toEqual(["postgres", "postgres", "postgres"]);
        const experiments = await sql<{ n: number }>`select count(*)::int as n from experiments`.execute(dbs[0]!.kysely);
        expect(experiments.rows[0]?.n).toBe(1);
      } finally {
        for (const db of dbs) await db.close();
        await schema.drop();
      }
    });
  });
});
