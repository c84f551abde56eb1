import { sqliteTestDb, storeOn } from "../../../../test/db.js";
import { createRegistryStore } from "./sql-registry-store.js";
import { describeRegistryStore } from "./registry-store.suite.js";

describeRegistryStore("sqlite", () => storeOn(sqliteTestDb, createRegistryStore));
