import { describePg } from "../../../../test/pg.js";
import { pgTestDb, storeOn } from "../../../../test/db.js";
import { createPipelineStore } from "./sql-pipeline-store.js";
import { describePipelineStore } from "./pipeline-store.suite.js";

await describePg("PipelineStore (postgres)", () => {
  describePipelineStore("postgres", () => storeOn(pgTestDb, createPipelineStore));
});
