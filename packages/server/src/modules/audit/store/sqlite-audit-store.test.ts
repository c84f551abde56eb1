import { sqliteTestDb } from "../../../../test/db.js";
import { describeAuditStore } from "./audit-store.suite.js";

describeAuditStore("sqlite", sqliteTestDb);
