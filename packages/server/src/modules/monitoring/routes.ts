import type { FastifyInstance } from "fastify";
import { monitoringRoutes as R } from "@cairn/contract";
import { registerRoute } from "../../platform/http/app.js";
import { withRawBody } from "../../platform/http/raw-body.js";
import type { FeedbackService } from "./feedback.js";
import type { DriftService } from "./drift-service.js";
import type { MonitorService } from "./monitors.js";
import { actorOf } from "../../platform/auth/principal.js";

/** Monitoring of deployments (ground truth, performance, drift): each route validates, then makes one service call. */
export function registerMonitoringRoutes(app: FastifyInstance, svc: { feedback: FeedbackService; drift: DriftService; monitors: MonitorService }): void {
  registerRoute(app, R.postFeedback, async ({ params, body }) => svc.feedback.post(params.name, body));
  registerRoute(app, R.getPerformance, async ({ params, query }) => svc.feedback.performance(params.name, query));
  registerRoute(app, R.deploymentDrift, async ({ params, body }) => svc.drift.deploymentDrift(params.name, body));
  // The body is the uploaded file(s), streamed to temporary files: not parsed, and not under the JSON body limit.
  withRawBody(app, (scope) => {
    // An answer before the whole body was read (a bad query, an upload over the limit) closes the
    // connection: the unread rest would otherwise hold it open.
    scope.addHook("onSend", async (req, reply, payload) => {
      if (!req.raw.complete) reply.header("connection", "close");
      return payload;
    });
    registerRoute(scope, R.fileDrift, async ({ query, body, req }) => {
      const declared = Number(req.headers["content-length"]);
      return svc.drift.fileDrift(body as AsyncIterable<unknown>, query, Number.isFinite(declared) ? declared : undefined);
    });
  });
  registerRoute(app, R.createMonitor, async ({ params, body, req }) => svc.monitors.create(params.name, body, actorOf(req)));
  registerRoute(app, R.listMonitors, async ({ params }) => ({ monitors: await svc.monitors.list(params.name) }));
  registerRoute(app, R.deleteMonitor, async ({ params }) => (await svc.monitors.delete(params.name, params.monitor), {}));
  registerRoute(app, R.runMonitor, async ({ params }) => svc.monitors.runNow(params.name, params.monitor));
  registerRoute(app, R.getMonitorSeries, async ({ params, query }) => svc.monitors.series(params.name, params.monitor, query));
  registerRoute(app, R.listAlertEvents, async ({ params, query }) => svc.monitors.events(params.name, query));
}
