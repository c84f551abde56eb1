import { sqliteTestDb } from "../../../../test/db.js";
import { describeAuthStore } from "./auth-store.suite.js";

describeAuthStore("sqlite", sqliteTestDb);
