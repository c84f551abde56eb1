import { z } from "zod";
import * as T from "./tracking.js";
import { registryRoutes } from "./registry.js";
import { authRoutes } from "./auth.js";
import { promotionRoutes } from "./promotion.js";
import { datasetRoutes } from "./datasets.js";
import { pipelineRoutes } from "./pipelines.js";
import { deploymentRoutes, servingRoutes } from "./serving.js";
import { monitoringRoutes } from "./monitoring.js";

export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/**
 * What a caller must hold to use a route when auth is on. `read` needs viewer (or higher) in the
 * resource's project, `write` editor, `approve` approver, `manage` owner; `admin` the global admin
 * role; `authenticated` any valid token; `public` nothing. Default: `read` for GET, `write` otherwise.
 */
export type Permission = "public" | "authenticated" | "read" | "write" | "approve" | "manage" | "admin";

/** A binary (streamed) request or response body. */
export const BINARY = "binary" as const;

/**
 * One route of the native API. The server registers it, the SDK calls it and the
 * OpenAPI document describes it, all from this single definition.
 * Path parameters are written `:name`; a trailing `*` captures the rest of the path.
 */
export interface RouteDef {
  method: HttpMethod;
  path: string;
  summary: string;
  tag: string;
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType | typeof BINARY;
  response: z.ZodType | typeof BINARY;
  /** Media type of a BINARY response, for the OpenAPI document (default application/octet-stream). */
  responseType?: string;
  /** HTTP status of a successful answer (default 200). */
  status?: number;
  /** Permission needed when auth is on (default: `read` for GET, `write` otherwise). */
  permission?: Permission;
}

/** The permission a route needs: its declared one, else `read` for GET and `write` otherwise. */
export function routePermission(r: Pick<RouteDef, "method" | "permission">): Permission {
  return r.permission ?? (r.method === "GET" ? "read" : "write");
}

function route<const R extends RouteDef>(r: R): R {
  return r;
}

const IdParams = z.object({ id: T.Id });
const RunKeyParams = z.object({ id: T.Id, key: T.Key });
const ArtifactParams = z.object({ id: T.Id, "*": z.string().min(1) });

/** The native tracking API, under /api/v1. */
export const trackingRoutes = {
  createExperiment: route({ method: "POST", path: "/api/v1/experiments", summary: "Create an experiment", tag: "experiments", body: T.CreateExperimentRequest, response: T.ExperimentResponse, status: 201 }),
  searchExperiments: route({ method: "POST", path: "/api/v1/experiments/search", summary: "Search experiments with a filter, order and paging", tag: "experiments", body: T.SearchExperimentsRequest, response: T.ExperimentsPage, permission: "read" }),
  getExperiment: route({ method: "GET", path: "/api/v1/experiments/:id", summary: "Get an experiment", tag: "experiments", params: IdParams, response: T.ExperimentResponse }),
  getExperimentByName: route({ method: "GET", path: "/api/v1/experiments-by-name/:name", summary: "Get an experiment by name", tag: "experiments", params: z.object({ name: z.string().min(1) }), response: T.ExperimentResponse }),
  updateExperiment: route({ method: "PATCH", path: "/api/v1/experiments/:id", summary: "Rename an experiment", tag: "experiments", params: IdParams, body: T.UpdateExperimentRequest, response: T.ExperimentResponse }),
  deleteExperiment: route({ method: "DELETE", path: "/api/v1/experiments/:id", summary: "Delete an experiment (soft: it can be restored)", tag: "experiments", params: IdParams, response: T.ExperimentResponse }),
  restoreExperiment: route({ method: "POST", path: "/api/v1/experiments/:id/restore", summary: "Restore a deleted experiment", tag: "experiments", params: IdParams, response: T.ExperimentResponse }),
  setExperimentTag: route({ method: "PUT", path: "/api/v1/experiments/:id/tags", summary: "Set an experiment tag", tag: "experiments", params: IdParams, body: T.SetExperimentTagRequest, response: T.ExperimentResponse }),
  deleteExperimentTag: route({ method: "DELETE", path: "/api/v1/experiments/:id/tags", summary: "Delete an experiment tag", tag: "experiments", params: IdParams, query: T.DeleteTagQuery, response: T.ExperimentResponse }),

  createRun: route({ method: "POST", path: "/api/v1/runs", summary: "Create a run", tag: "runs", body: T.CreateRunRequest, response: T.RunResponse, status: 201 }),
  searchRuns: route({ method: "POST", path: "/api/v1/runs/search", summary: "Search runs with MLflow's filter grammar, multi-key order and paging", tag: "runs", body: T.SearchRunsRequest, response: T.RunsPage, permission: "read" }),
  getRun: route({ method: "GET", path: "/api/v1/runs/:id", summary: "Get a run with its latest metrics, params, tags and inputs", tag: "runs", params: IdParams, response: T.RunResponse }),
  updateRun: route({ method: "PATCH", path: "/api/v1/runs/:id", summary: "Update a run's status, end time or name", tag: "runs", params: IdParams, body: T.UpdateRunRequest, response: T.RunResponse }),
  deleteRun: route({ method: "DELETE", path: "/api/v1/runs/:id", summary: "Delete a run (soft: it can be restored)", tag: "runs", params: IdParams, response: T.Empty }),
  restoreRun: route({ method: "POST", path: "/api/v1/runs/:id/restore", summary: "Restore a deleted run", tag: "runs", params: IdParams, response: T.Empty }),
  logBatch: route({ method: "POST", path: "/api/v1/runs/:id/log", summary: "Log metrics, params and tags atomically", tag: "runs", params: IdParams, body: T.LogBatchRequest, response: T.Empty }),
  logInputs: route({ method: "POST", path: "/api/v1/runs/:id/inputs", summary: "Log dataset inputs", tag: "runs", params: IdParams, body: T.LogInputsRequest, response: T.Empty }),
  setRunTag: route({ method: "PUT", path: "/api/v1/runs/:id/tags", summary: "Set a run tag", tag: "runs", params: IdParams, body: T.SetRunTagRequest, response: T.Empty }),
  deleteRunTag: route({ method: "DELETE", path: "/api/v1/runs/:id/tags", summary: "Delete a run tag", tag: "runs", params: IdParams, query: T.DeleteTagQuery, response: T.Empty }),
  getMetricHistory: route({ method: "GET", path: "/api/v1/runs/:id/metrics/:key/history", summary: "Full history of one metric, paged", tag: "metrics", params: RunKeyParams, query: T.MetricHistoryQuery, response: T.MetricHistoryPage }),
  getDownsampledMetric: route({ method: "GET", path: "/api/v1/runs/:id/metrics/:key/downsampled", summary: "History of one metric in N step buckets with min, max and last", tag: "metrics", params: RunKeyParams, query: T.DownsampleQuery, response: T.DownsampledSeries }),
  bulkDownsample: route({ method: "POST", path: "/api/v1/metrics/downsampled", summary: "Downsampled histories for several runs and keys at once", tag: "metrics", body: T.BulkDownsampleRequest, response: T.BulkDownsampleResponse, permission: "read" }),

  listArtifacts: route({ method: "GET", path: "/api/v1/runs/:id/artifacts", summary: "List a run's artifacts under a path", tag: "artifacts", params: IdParams, query: z.object({ path: z.string().max(4096).optional() }), response: T.ArtifactList }),
  uploadArtifact: route({ method: "PUT", path: "/api/v1/runs/:id/artifacts/*", summary: "Upload one artifact file (streamed body)", tag: "artifacts", params: ArtifactParams, body: BINARY, response: T.ArtifactUploaded, status: 201 }),
  downloadArtifact: route({ method: "GET", path: "/api/v1/runs/:id/artifacts/*", summary: "Download one artifact file (streamed)", tag: "artifacts", params: ArtifactParams, response: BINARY }),
  deleteArtifact: route({ method: "DELETE", path: "/api/v1/runs/:id/artifacts/*", summary: "Delete an artifact file or directory", tag: "artifacts", params: ArtifactParams, response: T.Empty }),
} as const satisfies Record<string, RouteDef>;

export type TrackingRoutes = typeof trackingRoutes;

/** Every native route, keyed by operation id. Later capabilities add their tables here. */
export const apiRoutes = { ...trackingRoutes, ...registryRoutes, ...authRoutes, ...promotionRoutes, ...datasetRoutes, ...pipelineRoutes, ...servingRoutes, ...deploymentRoutes, ...monitoringRoutes } as const;
export type ApiRoutes = typeof apiRoutes;
export type RouteName = keyof ApiRoutes;

type ZIn<S> = S extends z.ZodType ? z.input<S> : never;
type ZOut<S> = S extends z.ZodType ? z.output<S> : never;

/** What a caller passes to a route: path params, query and body, each only where the route has one. */
export type RouteInput<R extends RouteDef> = (R["params"] extends z.ZodType ? { params: ZIn<R["params"]> } : {}) &
  (R["query"] extends z.ZodType ? { query?: ZIn<R["query"]> } : {}) &
  (R["body"] extends z.ZodType ? { body: ZIn<R["body"]> } : {});

/** What a route answers with (its parsed response type). */
export type RouteOutput<R extends RouteDef> = R["response"] extends z.ZodType ? ZOut<R["response"]> : never;

/** A `:param` placeholder in a route path (letters, digits and `_`, not starting with a digit). */
export const PATH_PARAM = /:([A-Za-z_][A-Za-z0-9_]*)/g;

/**
 * Fills a route's `:param` and `*` placeholders, URL-encoding each value
 * (the `*` value keeps its slashes).
 * @example buildPath("/api/v1/runs/:id", { id: "r1" }) // "/api/v1/runs/r1"
 */
export function buildPath(path: string, params: Record<string, unknown> = {}): string {
  return path
    .replace(PATH_PARAM, (_m, name: string) => encodeURIComponent(String(params[name] ?? "")))
    .replace(/\*$/, () => String(params["*"] ?? "").split("/").map(encodeURIComponent).join("/"));
}
