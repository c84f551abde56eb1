import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../../../platform/db/database.js";
import { createTrackingStore } from "./sql-tracking-store.js";
import { describeTrackingStore } from "./tracking-store.suite.js";

describeTrackingStore("sqlite", async () => {
  const dir = mkdtempSync(join(tmpdir(), "cairn-store-"));
  const db = await openDatabase(`sqlite://${join(dir, "nested", "cairn.db")}`);
  const store = await createTrackingStore(db);
  return {
    store,
    async cleanup() {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
