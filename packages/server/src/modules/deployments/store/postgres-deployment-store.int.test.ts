import { describePg } from "../../../../test/pg.js";
import { pgTestDb, storeOn } from "../../../../test/db.js";
import { createDeploymentStore } from "./deployment-store.js";
import { describeDeploymentStore } from "./deployment-store.suite.js";

await describePg("DeploymentStore (postgres)", () => {
  describeDeploymentStore("postgres", () => storeOn(pgTestDb, createDeploymentStore));
});
