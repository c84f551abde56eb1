import type { FastifyInstance } from "fastify";
import type { Readable } from "node:stream";
import { trackingRoutes as R, type DownsampledSeries, type Metric, type Run } from "@cairn/contract";
import { authenticatedUser, readableProjects } from "../../platform/auth/principal.js";
import { registerRoute } from "../../platform/http/app.js";
import { wireNumber } from "../../platform/http/json-body.js";
import { sendBlob, withRawBody } from "../../platform/http/raw-body.js";
import type { TrackingService } from "./service.js";

/** Metrics on the wire: non-finite values travel as "NaN"/"Infinity"/"-Infinity". */
export function wireMetric(m: Metric): Metric {
  return Number.isFinite(m.value) ? m : ({ ...m, value: wireNumber(m.value) } as unknown as Metric);
}
function wireRun(r: Run): Run {
  return r.data.metrics.every((m) => Number.isFinite(m.value)) ? r : { ...r, data: { ...r.data, metrics: r.data.metrics.map(wireMetric) } };
}
function wireSeries(s: DownsampledSeries): DownsampledSeries {
  const fin = (b: DownsampledSeries["buckets"][number]) => Number.isFinite(b.min) && Number.isFinite(b.max) && Number.isFinite(b.last);
  if (s.buckets.every(fin)) return s;
  return {
    ...s,
    buckets: s.buckets.map((b) => (fin(b) ? b : ({ ...b, min: wireNumber(b.min), max: wireNumber(b.max), last: wireNumber(b.last) } as unknown as typeof b))),
  };
}

/** The native tracking API (`/api/v1`): each route validates, then makes one service call. */
export function registerTrackingRoutes(app: FastifyInstance, svc: TrackingService): void {
  registerRoute(app, R.createExperiment, async ({ body }) => ({ experiment: await svc.createExperiment(body) }));
  registerRoute(app, R.searchExperiments, async ({ body, req }) => svc.searchExperiments(body, { projects: readableProjects(req) }));
  registerRoute(app, R.getExperiment, async ({ params }) => ({ experiment: await svc.getExperiment(params.id) }));
  registerRoute(app, R.getExperimentByName, async ({ params }) => ({ experiment: await svc.getExperimentByName(params.name) }));
  registerRoute(app, R.updateExperiment, async ({ params, body }) => ({ experiment: await svc.updateExperiment(params.id, body.name) }));
  registerRoute(app, R.deleteExperiment, async ({ params }) => ({ experiment: await svc.deleteExperiment(params.id) }));
  registerRoute(app, R.restoreExperiment, async ({ params }) => ({ experiment: await svc.restoreExperiment(params.id) }));
  registerRoute(app, R.setExperimentTag, async ({ params, body }) => ({ experiment: await svc.setExperimentTag(params.id, body.key, body.value) }));
  registerRoute(app, R.deleteExperimentTag, async ({ params, query }) => ({ experiment: await svc.deleteExperimentTag(params.id, query.key) }));

  registerRoute(app, R.createRun, async ({ body, req }) => ({ run: wireRun(await svc.createRun({ ...body, userId: authenticatedUser(req) ?? body.userId })) }));
  registerRoute(app, R.searchRuns, async ({ body }) => {
    const res = await svc.searchRuns(body);
    return { ...res, runs: res.runs.map(wireRun) };
  });
  registerRoute(app, R.getRun, async ({ params }) => ({ run: wireRun(await svc.getRun(params.id)) }));
  registerRoute(app, R.updateRun, async ({ params, body }) => {
    await svc.updateRun(params.id, body);
    return { run: wireRun(await svc.getRun(params.id)) };
  });
  registerRoute(app, R.deleteRun, async ({ params }) => (await svc.deleteRun(params.id), {}));
  registerRoute(app, R.restoreRun, async ({ params }) => (await svc.restoreRun(params.id), {}));
  registerRoute(app, R.logBatch, async ({ params, body }) => (await svc.logBatch(params.id, body), {}));
  registerRoute(app, R.logInputs, async ({ params, body }) => (await svc.logInputs(params.id, body), {}));
  registerRoute(app, R.setRunTag, async ({ params, body }) => (await svc.setRunTag(params.id, body.key, body.value), {}));
  registerRoute(app, R.deleteRunTag, async ({ params, query }) => (await svc.deleteRunTag(params.id, query.key), {}));
  registerRoute(app, R.getMetricHistory, async ({ params, query }) => {
    const res = await svc.getMetricHistory(params.id, params.key, query);
    return { ...res, metrics: res.metrics.map(wireMetric) };
  });
  registerRoute(app, R.getDownsampledMetric, async ({ params, query }) => wireSeries(await svc.downsampleMetric(params.id, params.key, query)));
  registerRoute(app, R.bulkDownsample, async ({ body }) => ({ series: (await svc.bulkDownsample(body)).series.map(wireSeries) }));

  registerRoute(app, R.listArtifacts, async ({ params, query }) => svc.listRunArtifacts(params.id, query.path ?? ""));
  registerRoute(app, R.downloadArtifact, async ({ params, reply }) => {
    const path = params["*"];
    const blob = await svc.downloadRunArtifact(params.id, path);
    return sendBlob(reply, blob, path);
  });
  registerRoute(app, R.deleteArtifact, async ({ params }) => (await svc.deleteRunArtifact(params.id, params["*"]), {}));
  withRawBody(app, (scope) => {
    registerRoute(scope, R.uploadArtifact, async ({ params, body }) => svc.uploadRunArtifact(params.id, params["*"], body as Readable));
  });
}
