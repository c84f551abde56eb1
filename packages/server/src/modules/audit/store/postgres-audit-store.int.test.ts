import { describePg } from "../../../../test/pg.js";
import { pgTestDb } from "../../../../test/db.js";
import { describeAuditStore } from "./audit-store.suite.js";

await describePg("AuditStore (postgres)", () => describeAuditStore("postgres", pgTestDb));
