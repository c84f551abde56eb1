import type { FastifyInstance } from "fastify";
import { authRoutes as R } from "@cairn/contract";
import { registerRoute } from "../../platform/http/app.js";
import type { AuditLog } from "./service.js";

/** The audit log's API (`/api/v1/audit`, admins only): list, export as JSON lines, verify. */
export function registerAuditRoutes(app: FastifyInstance, log: AuditLog): void {
  registerRoute(app, R.listAudit, async ({ query }) => {
    const { before, limit, ...filter } = query;
    return log.list(filter, before, limit);
  });
  registerRoute(app, R.exportAudit, async ({ query, reply }) => reply.type("application/x-ndjson").send(log.exportJsonl(query)));
  registerRoute(app, R.verifyAudit, async () => log.verify());
}
