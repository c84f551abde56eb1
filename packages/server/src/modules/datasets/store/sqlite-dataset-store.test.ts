import { sqliteTestDb, storeOn } from "../../../../test/db.js";
import { createDatasetStore } from "./sql-dataset-store.js";
import { describeDatasetStore } from "./dataset-store.suite.js";

describeDatasetStore("sqlite", () => storeOn(sqliteTestDb, createDatasetStore));
