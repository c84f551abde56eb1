import { describePg } from "../../../../test/pg.js";
import { pgTestDb, storeOn } from "../../../../test/db.js";
import { createRegistryStore } from "./sql-registry-store.js";
import { describeRegistryStore } from "./registry-store.suite.js";

await describePg("RegistryStore (postgres)", () => {
  describeRegistryStore("postgres", () => storeOn(pgTestDb, createRegistryStore));
});
