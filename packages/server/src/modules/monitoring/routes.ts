import type { FastifyInstance } from "fastify";
import { monitoringRoutes as R } from "@cairn/contract";
import { registerRoute } from "../../platform/http/app.js";
import type { FeedbackService } from "./feedback.js";
import type { DriftService } from "./drift-service.js";

/** Monitoring of deployments (ground truth, performance, drift): each route validates, then makes one service call. */
export function registerMonitoringRoutes(app: FastifyInstance, svc: { feedback: FeedbackService; drift: DriftService }): void {
  registerRoute(app, R.postFeedback, async ({ params, body }) => svc.feedback.post(params.name, body));
  registerRoute(app, R.getPerformance, async ({ params, query }) => svc.feedback.performance(params.name, query));
  registerRoute(app, R.deploymentDrift, async ({ params, body }) => svc.drift.deploymentDrift(params.name, body));
}
