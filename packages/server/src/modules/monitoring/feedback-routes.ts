import type { FastifyInstance } from "fastify";
import { monitoringRoutes as R } from "@cairn/contract";
import { registerRoute } from "../../platform/http/app.js";
import type { FeedbackService } from "./feedback.js";

/** Ground truth and performance of deployments: each route validates, then makes one service call. */
export function registerFeedbackRoutes(app: FastifyInstance, svc: FeedbackService): void {
  registerRoute(app, R.postFeedback, async ({ params, body }) => svc.post(params.name, body));
  registerRoute(app, R.getPerformance, async ({ params, query }) => svc.performance(params.name, query));
}
