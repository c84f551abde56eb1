import { sqliteTestDb, storeOn } from "../../../../test/db.js";
import { createPipelineStore } from "./sql-pipeline-store.js";
import { describePipelineStore } from "./pipeline-store.suite.js";

describePipelineStore("sqlite", () => storeOn(sqliteTestDb, createPipelineStore));
