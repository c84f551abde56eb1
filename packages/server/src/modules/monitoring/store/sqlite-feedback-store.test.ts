import { sqliteTestDb, storeOn } from "../../../../test/db.js";
import { createInferenceLogStore } from "../../serving/store/inference-log-store.js";
import { createFeedbackStore } from "./feedback-store.js";
import { describeFeedbackStore } from "./feedback-store.suite.js";

describeFeedbackStore("sqlite", () => storeOn(sqliteTestDb, async (db) => ({ feedback: await createFeedbackStore(db), log: await createInferenceLogStore(db) })));
