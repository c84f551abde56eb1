import { describePg } from "../../../../test/pg.js";
import { pgTestDb, storeOn } from "../../../../test/db.js";
import { createDatasetStore } from "./sql-dataset-store.js";
import { describeDatasetStore } from "./dataset-store.suite.js";

await describePg("DatasetStore (postgres)", () => {
  describeDatasetStore("postgres", () => storeOn(pgTestDb, createDatasetStore));
});
