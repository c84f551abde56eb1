import { describePg } from "../../../../test/pg.js";
import { pgTestDb, storeOn } from "../../../../test/db.js";
import { createInferenceLogStore } from "../../serving/store/inference-log-store.js";
import { createFeedbackStore } from "./feedback-store.js";
import { describeFeedbackStore } from "./feedback-store.suite.js";

await describePg("FeedbackStore (postgres)", () => {
  describeFeedbackStore("postgres", () => storeOn(pgTestDb, async (db) => ({ feedback: await createFeedbackStore(db), log: await createInferenceLogStore(db) })));
});
