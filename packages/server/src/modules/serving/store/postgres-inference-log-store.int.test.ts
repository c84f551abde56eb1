import { describePg } from "../../../../test/pg.js";
import { pgTestDb, storeOn } from "../../../../test/db.js";
import { createInferenceLogStore } from "./inference-log-store.js";
import { describeInferenceLogStore } from "./inference-log-store.suite.js";

await describePg("InferenceLogStore (postgres)", () => {
  describeInferenceLogStore("postgres", () => storeOn(pgTestDb, createInferenceLogStore));
});
