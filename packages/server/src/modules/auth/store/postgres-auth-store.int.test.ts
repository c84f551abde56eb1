import { describePg } from "../../../../test/pg.js";
import { pgTestDb } from "../../../../test/db.js";
import { describeAuthStore } from "./auth-store.suite.js";

await describePg("AuthStore (postgres)", () => describeAuthStore("postgres", pgTestDb));
