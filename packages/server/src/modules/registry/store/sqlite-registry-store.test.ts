import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../../../platform/db/database.js";
import { createRegistryStore } from "./sql-registry-store.js";
import { describeRegistryStore } from "./registry-store.suite.js";

describeRegistryStore("sqlite", async () => {
  const dir = mkdtempSync(join(tmpdir(), "cairn-registry-"));
  const db = await openDatabase(`sqlite://${join(dir, "cairn.db")}`);
  const store = await createRegistryStore(db);
  return {
    store,
    async cleanup() {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
