import type { FastifyInstance } from "fastify";
import { servingRoutes as R } from "@cairn/contract";
import { registerRoute } from "../../platform/http/app.js";
import type { InferenceLogService } from "./inference-log.js";

/** The inference log API: each route validates, then makes one service call. */
export function registerServingRoutes(app: FastifyInstance, log: InferenceLogService): void {
  registerRoute(app, R.appendInferenceLog, async ({ params, body }) => ({ appended: await log.append(params.name, body.records) }), { bodyLimit: 64 * 1024 * 1024 });
  registerRoute(app, R.queryInferenceLog, async ({ params, query }) => log.query(params.name, query));
}
