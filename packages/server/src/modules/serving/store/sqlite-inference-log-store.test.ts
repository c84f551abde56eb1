import { sqliteTestDb, storeOn } from "../../../../test/db.js";
import { createInferenceLogStore } from "./inference-log-store.js";
import { describeInferenceLogStore } from "./inference-log-store.suite.js";

describeInferenceLogStore("sqlite", () => storeOn(sqliteTestDb, createInferenceLogStore));
