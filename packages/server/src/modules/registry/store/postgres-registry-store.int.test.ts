import { openDatabase } from "../../../platform/db/database.js";
import { describePg, freshPgSchema } from "../../../../test/pg.js";
import { createRegistryStore } from "./sql-registry-store.js";
import { describeRegistryStore } from "./registry-store.suite.js";

await describePg("RegistryStore (postgres)", () => {
  describeRegistryStore("postgres", async () => {
    const schema = await freshPgSchema();
    const db = await openDatabase(schema.url);
    const cleanup = async () => {
      await db.close();
      await schema.drop();
    };
    try {
      return { store: await createRegistryStore(db), cleanup };
    } catch (e) {
      await cleanup();
      throw e;
    }
  });
});
