import { sqliteTestDb, storeOn } from "../../../../test/db.js";
import { createDeploymentStore } from "./deployment-store.js";
import { describeDeploymentStore } from "./deployment-store.suite.js";

describeDeploymentStore("sqlite", () => storeOn(sqliteTestDb, createDeploymentStore));
