import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { Readable } from "node:stream";
import { CairnError, type RunStatus } from "@cairn/contract";
import * as C from "@cairn/contract";
import { z } from "zod";
import { authenticatedUser, readableProjects } from "../../../platform/auth/principal.js";
import { validate } from "../../../platform/http/validate.js";
import { rawBody, sendBlob, withRawBody } from "../../../platform/http/raw-body.js";
import { safeBlobKey, safeBlobPrefix } from "../../../platform/blob/safe-key.js";
import type { TrackingService } from "../service.js";
import * as M from "./schemas.js";
import { mlflowExperiment, mlflowFile, mlflowMetric, mlflowRun, mlflowRunInfo, tagRecord } from "./wire.js";

const PREFIXES = ["/api/2.0/mlflow", "/ajax-api/2.0/mlflow"];
const ARTIFACT_PREFIXES = ["/api/2.0/mlflow-artifacts", "/ajax-api/2.0/mlflow-artifacts"];

type Handler = (input: Record<string, unknown>, req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

/**
 * MLflow's REST API as a thin adapter over `TrackingService`: each endpoint maps MLflow's
 * snake_case request to the service call and the result back to MLflow's JSON.
 * Validation goes through the contract's schemas, so limits and errors match the native API.
 */
export function registerMlflowRoutes(app: FastifyInstance, svc: TrackingService): void {
  const on = (methods: ("GET" | "POST" | "PATCH" | "DELETE")[], path: string, handler: Handler) => {
    for (const prefix of PREFIXES) {
      app.route({
        method: methods,
        url: `${prefix}/${path}`,
        handler: async (req, reply) => {
          const body: unknown = req.body;
          if (body !== undefined && req.method !== "GET") {
            if (body instanceof Readable) throw new CairnError("UNSUPPORTED_MEDIA_TYPE", "Send a JSON body with Content-Type: application/json");
            if (typeof body !== "object" || body === null || Array.isArray(body)) throw new CairnError("MALFORMED_REQUEST", "The request body must be a JSON object");
          }
          const input = (req.method === "GET" ? req.query : { ...(req.query as object), ...((body as object | undefined) ?? {}) }) as Record<string, unknown>;
          return handler(input, req, reply);
        },
      });
    }
  };
  const runIdOf = (r: { run_id?: string | undefined; run_uuid?: string | undefined }) => (r.run_id ?? r.run_uuid)!;

  // ---------- experiments ----------
  on(["POST"], "experiments/create", async (input) => {
    const m = validate(M.CreateExperiment, input, "body");
    const req = validate(C.CreateExperimentRequest, { name: m.name, artifactLocation: m.artifact_location || undefined, tags: tagRecord(m.tags) }, "body");
    return { experiment_id: (await svc.createExperiment(req)).experimentId };
  });
  on(["GET"], "experiments/get", async (input) => {
    const m = validate(M.ExperimentId, input, "query");
    return { experiment: mlflowExperiment(await svc.getExperiment(m.experiment_id)) };
  });
  on(["GET"], "experiments/get-by-name", async (input) => {
    const m = validate(M.ExperimentName, input, "query");
    return { experiment: mlflowExperiment(await svc.getExperimentByName(m.experiment_name)) };
  });
  on(["GET", "POST"], "experiments/search", async (input, req) => {
    const m = validate(M.SearchExperiments, input, "body");
    const res = await svc.searchExperiments(
      validate(C.SearchExperimentsRequest, { filter: m.filter, orderBy: m.order_by, maxResults: m.max_results, pageToken: m.page_token || undefined, viewType: m.view_type }, "body"),
      { projects: readableProjects(req) },
    );
    return withToken({ experiments: res.experiments.map(mlflowExperiment) }, res.nextPageToken);
  });
  // MLflow 1.x's ListExperiments, still used by older clients (the `mlflow` package on npm).
  on(["GET"], "experiments/list", async (input, req) => {
    const m = validate(M.SearchExperiments, input, "query");
    const res = await svc.searchExperiments(validate(C.SearchExperimentsRequest, { maxResults: m.max_results, pageToken: m.page_token || undefined, viewType: m.view_type }, "query"), { projects: readableProjects(req) });
    return withToken({ experiments: res.experiments.map(mlflowExperiment) }, res.nextPageToken);
  });
  on(["POST"], "experiments/update", async (input) => {
    const m = validate(M.UpdateExperiment, input, "body");
    await svc.updateExperiment(m.experiment_id, validate(C.UpdateExperimentRequest, { name: m.new_name }, "body").name);
    return {};
  });
  on(["POST"], "experiments/delete", async (input) => (await svc.deleteExperiment(validate(M.ExperimentId, input, "body").experiment_id), {}));
  on(["POST"], "experiments/restore", async (input) => (await svc.restoreExperiment(validate(M.ExperimentId, input, "body").experiment_id), {}));
  on(["POST"], "experiments/set-experiment-tag", async (input) => {
    const m = validate(M.SetExperimentTag, input, "body");
    const t = validate(C.SetExperimentTagRequest, { key: m.key, value: m.value }, "body");
    await svc.setExperimentTag(m.experiment_id, t.key, t.value);
    return {};
  });
  on(["POST"], "experiments/delete-experiment-tag", async (input) => {
    const m = validate(M.DeleteExperimentTag, input, "body");
    await svc.deleteExperimentTag(m.experiment_id, m.key);
    return {};
  });

  // ---------- runs ----------
  on(["POST"], "runs/create", async (input, httpReq) => {
    const m = validate(M.CreateRun, input, "body");
    // With auth on, the run belongs to the authenticated user whatever the client says (as MLflow's auth server does).
    const req = validate(
      C.CreateRunRequest,
      { experimentId: m.experiment_id ?? "0", runName: m.run_name || undefined, userId: authenticatedUser(httpReq) ?? (m.user_id || undefined), startTime: m.start_time, tags: tagRecord(m.tags) },
      "body",
    );
    return { run: mlflowRun(await svc.createRun(req)) };
  });
  on(["POST"], "runs/update", async (input) => {
    const m = validate(M.UpdateRun, input, "body");
    const req = validate(C.UpdateRunRequest, { status: m.status as RunStatus | undefined, endTime: m.end_time, runName: m.run_name || undefined }, "body");
    return { run_info: mlflowRunInfo(await svc.updateRun(runIdOf(m), req)) };
  });
  on(["POST"], "runs/delete", async (input) => (await svc.deleteRun(runIdOf(validate(M.RunOnly, input, "body"))), {}));
  on(["POST"], "runs/restore", async (input) => (await svc.restoreRun(runIdOf(validate(M.RunOnly, input, "body"))), {}));
  on(["GET"], "runs/get", async (input) => ({ run: mlflowRun(await svc.getRun(runIdOf(validate(M.RunOnly, input, "query")))) }));
  on(["POST"], "runs/log-metric", async (input) => {
    const m = validate(M.LogMetric, input, "body");
    const metric: { key: string; value: number; timestamp?: number; step?: number } = { key: m.key, value: m.value };
    if (m.timestamp !== undefined) metric.timestamp = m.timestamp;
    if (m.step !== undefined) metric.step = m.step;
    await svc.logBatch(runIdOf(m), { metrics: [metric as { key: string; value: number; timestamp: number; step: number }] });
    return {};
  });
  on(["POST"], "runs/log-parameter", async (input) => {
    const m = validate(M.LogParam, input, "body");
    await svc.logBatch(runIdOf(m), { params: [{ key: m.key, value: m.value }] });
    return {};
  });
  on(["POST"], "runs/set-tag", async (input) => {
    const m = validate(M.SetTag, input, "body");
    await svc.setRunTag(runIdOf(m), m.key, m.value);
    return {};
  });
  on(["POST"], "runs/delete-tag", async (input) => {
    const m = validate(M.DeleteTag, input, "body");
    await svc.deleteRunTag(runIdOf(m), m.key);
    return {};
  });
  on(["POST"], "runs/log-batch", async (input) => {
    const { run_id } = validate(RunIdField, input, "body");
    await svc.logBatch(run_id, validate(C.LogBatchRequest, input, "body"));
    return {};
  });
  on(["POST"], "runs/log-inputs", async (input) => {
    const m = validate(M.LogInputs, input, "body");
    const req = validate(
      C.LogInputsRequest,
      {
        datasets: (m.datasets ?? []).map((d) => ({
          dataset: { name: d.dataset.name, digest: d.dataset.digest, sourceType: d.dataset.source_type, source: d.dataset.source, schema: d.dataset.schema, profile: d.dataset.profile },
          tags: tagRecord(d.tags),
        })),
      },
      "body",
    );
    await svc.logInputs(m.run_id, req);
    return {};
  });
  on(["GET", "POST"], "runs/search", async (input) => {
    const m = validate(M.SearchRuns, input, "body");
    const res = await svc.searchRuns(
      validate(
        C.SearchRunsRequest,
        { experimentIds: m.experiment_ids ?? [], filter: m.filter, orderBy: m.order_by, maxResults: m.max_results, pageToken: m.page_token || undefined, viewType: m.run_view_type },
        "body",
      ),
    );
    return withToken({ runs: res.runs.map(mlflowRun) }, res.nextPageToken);
  });
  on(["GET"], "metrics/get-history", async (input) => {
    const m = validate(M.GetMetricHistory, input, "query");
    const q = validate(C.MetricHistoryQuery, { maxResults: m.max_results, pageToken: m.page_token || undefined }, "query");
    const res = await svc.getMetricHistory(runIdOf(m), m.metric_key, q);
    return withToken({ metrics: res.metrics.map(mlflowMetric) }, res.nextPageToken);
  });
  on(["GET"], "metrics/get-history-bulk-interval", async (input) => {
    const m = validate(M.GetMetricHistoryBulkInterval, input, "query");
    const metrics: Record<string, unknown>[] = [];
    for (const runId of m.run_ids) {
      // MLflow's sample always holds the first and the last step: one bucket fewer, plus the first point.
      const maxResults = m.max_results ?? 320;
      const q: { buckets: number; minStep?: number; maxStep?: number } = { buckets: Math.max(1, maxResults - 1) };
      if (m.start_step !== undefined) q.minStep = m.start_step;
      if (m.end_step !== undefined) q.maxStep = m.end_step;
      const s = await svc.downsampleMetric(runId, m.metric_key, q);
      const first = s.buckets[0] && maxResults > 1 ? await svc.metricPointAt(runId, m.metric_key, s.buckets[0].stepStart) : undefined;
      if (first && first.step < s.buckets[0]!.lastStep) metrics.push({ ...mlflowMetric(first), run_id: runId });
      for (const b of s.buckets) metrics.push({ ...mlflowMetric({ key: m.metric_key, value: b.last, timestamp: b.lastTimestamp, step: b.lastStep }), run_id: runId });
    }
    return { metrics };
  });
  on(["GET"], "artifacts/list", async (input) => {
    const m = validate(M.ListArtifacts, input, "query");
    const res = await svc.listRunArtifacts(runIdOf(m), m.path ?? "");
    return { root_uri: res.rootUri, files: res.files.map((f) => mlflowFile(f)) };
  });

  registerProxiedArtifactRoutes(app, svc);
}

const RunIdField = z.object({ run_id: C.Id });

function withToken<T extends object>(body: T, token: string | undefined): T & { next_page_token?: string } {
  return token ? { ...body, next_page_token: token } : body;
}

/** MLflow's proxied artifact service: files addressed by path under the server's artifact root. */
function registerProxiedArtifactRoutes(app: FastifyInstance, svc: TrackingService): void {
  const pathOf = (req: FastifyRequest) => safeBlobKey((req.params as { "*": string })["*"]);
  for (const prefix of ARTIFACT_PREFIXES) {
    app.get(`${prefix}/artifacts`, async (req) => {
      const m = validate(M.ListProxiedArtifacts, req.query, "query");
      const entries = await svc.blobs.list(safeBlobPrefix(m.path ?? ""));
      return { files: entries.map((e) => mlflowFile({ path: e.path, isDir: e.isDir, ...(e.size !== undefined ? { fileSize: e.size } : {}) })) };
    });
    app.get(`${prefix}/artifacts/*`, async (req, reply) => {
      const key = pathOf(req);
      return sendBlob(reply, await svc.blobs.get(key), key);
    });
    app.delete(`${prefix}/artifacts/*`, async (req) => {
      await svc.blobs.delete(pathOf(req));
      return {};
    });
    withRawBody(app, (scope) => {
      scope.put(`${prefix}/artifacts/*`, async (req) => {
        await svc.blobs.put(pathOf(req), rawBody(req));
        return {};
      });
    });
    for (const op of ["create", "complete", "abort"]) {
      app.post(`${prefix}/mpu/${op}/*`, async () => {
        throw new CairnError(
          "NOT_IMPLEMENTED",
          "Multipart upload through the server is not supported; leave MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD unset and artifacts upload as one streamed PUT",
        );
      });
    }
  }
}
