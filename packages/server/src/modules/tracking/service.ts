import { randomUUID } from "node:crypto";
import type { Readable } from "node:stream";
import {
  CairnError,
  isCairnError,
  LIMITS,
  type ArtifactEntry,
  type DownsampledSeries,
  type Experiment,
  type Metric,
  type Run,
  type RunInfo,
  type ViewType,
} from "@cairn/contract";
import type { z } from "zod";
import type * as T from "@cairn/contract";
import type { BlobStore } from "../../platform/blob/blob-store.js";
import { safeBlobKey, safeBlobPrefix } from "../../platform/blob/safe-key.js";
import { decodePageToken, encodePageToken, parseExperimentFilter, parseOrderBy, parseRunFilter } from "./search/filter-parser.js";
import type { LogBatchInput, TrackingStore } from "./store/tracking-store.js";

type Out<S extends z.ZodType> = z.output<S>;

/** The URI scheme of artifacts the server stores and serves itself (MLflow's proxied artifacts). */
export const PROXY_SCHEME = "mlflow-artifacts:";

/** Called after dataset inputs were logged on a run. */
export type InputsListener = (runId: string, inputs: { dataset: T.DatasetSummary; tags: Record<string, string> }[]) => Promise<void>;

/** Restricts a search to the projects a caller may read (undefined: all). */
export interface SearchScope {
  projects?: readonly string[] | undefined;
}

/**
 * Experiment tracking: the one implementation behind both the native `/api/v1` routes and the
 * MLflow REST adapter. Throws `CairnError`:
 * - RESOURCE_DOES_NOT_EXIST for an unknown experiment, run, metric or artifact;
 * - RESOURCE_ALREADY_EXISTS for a duplicate experiment name;
 * - INVALID_PARAMETER_VALUE for bad filters, page tokens, param rewrites, writes to deleted runs
 *   and artifact paths that escape their root.
 */
export class TrackingService {
  readonly #store: TrackingStore;
  readonly #blobs: BlobStore;
  readonly #inputListeners: InputsListener[] = [];

  constructor(store: TrackingStore, blobs: BlobStore) {
    this.#store = store;
    this.#blobs = blobs;
  }

  // ---------- experiments ----------

  /** Creates an experiment; its artifacts default to the server's store (`mlflow-artifacts:/<id>`). */
  async createExperiment(req: Out<typeof T.CreateExperimentRequest>): Promise<Experiment> {
    const input: Parameters<TrackingStore["createExperiment"]>[0] = { name: req.name, tags: req.tags ?? {}, creationTime: Date.now() };
    if (req.artifactLocation) input.artifactLocation = req.artifactLocation;
    return this.#store.createExperiment(input);
  }

  /** @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async getExperiment(experimentId: string): Promise<Experiment> {
    const e = await this.#store.getExperiment(experimentId);
    if (!e) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `No experiment with id '${experimentId}'`);
    return e;
  }

  /** @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async getExperimentByName(name: string): Promise<Experiment> {
    const e = await this.#store.getExperimentByName(name);
    if (!e) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `No experiment named '${name}'`);
    return e;
  }

  /** @throws CairnError INVALID_PARAMETER_VALUE for a bad filter, order or page token */
  async searchExperiments(req: Out<typeof T.SearchExperimentsRequest>, scope: SearchScope = {}): Promise<{ experiments: Experiment[]; nextPageToken?: string }> {
    const limit = req.maxResults ?? LIMITS.searchExperimentsDefault;
    const offset = req.pageToken ? decodePageToken(req.pageToken) : 0;
    const filter = parseExperimentFilter(req.filter ?? "");
    const orderBy = parseOrderBy(req.orderBy ?? [], "experiment");
    checkJoinCount(filter, orderBy);
    const rows = await this.#store.searchExperiments({
      projects: scope.projects,
      filter,
      orderBy,
      viewType: req.viewType ?? "ACTIVE_ONLY",
      offset,
      limit,
    });
    return page("experiments", rows, limit, offset);
  }

  /** Renames an experiment. @throws CairnError RESOURCE_DOES_NOT_EXIST, RESOURCE_ALREADY_EXISTS */
  async updateExperiment(experimentId: string, name: string): Promise<Experiment> {
    await this.getExperiment(experimentId);
    return this.#store.updateExperiment(experimentId, { name, lastUpdateTime: Date.now() });
  }

  /** Soft-deletes an experiment (and so hides its runs). @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async deleteExperiment(experimentId: string): Promise<Experiment> {
    await this.getExperiment(experimentId);
    return this.#store.updateExperiment(experimentId, { lifecycleStage: "deleted", lastUpdateTime: Date.now() });
  }

  /** @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async restoreExperiment(experimentId: string): Promise<Experiment> {
    await this.getExperiment(experimentId);
    return this.#store.updateExperiment(experimentId, { lifecycleStage: "active", lastUpdateTime: Date.now() });
  }

  /** @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async setExperimentTag(experimentId: string, key: string, value: string): Promise<Experiment> {
    await this.#store.setExperimentTag(experimentId, key, value);
    return this.getExperiment(experimentId);
  }

  /** @throws CairnError RESOURCE_DOES_NOT_EXIST for an unknown experiment or tag */
  async deleteExperimentTag(experimentId: string, key: string): Promise<Experiment> {
    await this.#store.deleteExperimentTag(experimentId, key);
    return this.getExperiment(experimentId);
  }

  // ---------- runs ----------

  /**
   * Creates a run in an active experiment. Its artifact URI sits under the experiment's
   * artifact location: `<location>/<runId>/artifacts`.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST, INVALID_PARAMETER_VALUE (deleted experiment)
   */
  async createRun(req: Out<typeof T.CreateRunRequest>): Promise<Run> {
    const exp = await this.getExperiment(req.experimentId);
    if (exp.lifecycleStage !== "active") {
      throw new CairnError("INVALID_PARAMETER_VALUE", `Experiment '${exp.experimentId}' is deleted; restore it before creating runs`);
    }
    const runId = randomUUID().replaceAll("-", "");
    const tags = { ...(req.tags ?? {}) };
    return this.#store.createRun({
      runId,
      experimentId: exp.experimentId,
      runName: req.runName ?? tags["mlflow.runName"] ?? "",
      userId: req.userId ?? tags["mlflow.user"] ?? "",
      status: "RUNNING",
      startTime: req.startTime ?? Date.now(),
      artifactUri: `${exp.artifactLocation.replace(/\/+$/, "")}/${runId}/artifacts`,
      tags,
    });
  }

  /** @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async getRun(runId: string): Promise<Run> {
    const r = await this.#store.getRun(runId);
    if (!r) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `No run with id '${runId}'`);
    return r;
  }

  /** @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async getRunInfo(runId: string): Promise<RunInfo> {
    const r = await this.#store.getRunInfo(runId);
    if (!r) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `No run with id '${runId}'`);
    return r;
  }

  /**
   * Updates status, end time or name. A terminal status without an end time gets "now".
   * @throws CairnError RESOURCE_DOES_NOT_EXIST
   */
  async updateRun(runId: string, req: Out<typeof T.UpdateRunRequest>): Promise<RunInfo> {
    await this.getRunInfo(runId);
    const patch: Parameters<TrackingStore["updateRun"]>[1] = {};
    if (req.status) patch.status = req.status;
    if (req.endTime !== undefined) patch.endTime = req.endTime;
    else if (req.status && req.status !== "RUNNING" && req.status !== "SCHEDULED") patch.endTime = Date.now();
    if (req.runName !== undefined) patch.runName = req.runName;
    return this.#store.updateRun(runId, patch);
  }

  /** Soft-deletes a run. @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async deleteRun(runId: string): Promise<void> {
    await this.getRunInfo(runId);
    await this.#store.updateRun(runId, { lifecycleStage: "deleted", deletedTime: Date.now() });
  }

  /** @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async restoreRun(runId: string): Promise<void> {
    await this.getRunInfo(runId);
    await this.#store.updateRun(runId, { lifecycleStage: "active", deletedTime: null });
  }

  /**
   * Logs metrics, params and tags atomically. Missing timestamps default to now, steps to 0.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST, INVALID_PARAMETER_VALUE (param rewrite, deleted run)
   */
  async logBatch(runId: string, req: Out<typeof T.LogBatchRequest>): Promise<void> {
    const now = Date.now();
    const batch: LogBatchInput = {
      metrics: (req.metrics ?? []).map((m) => ({ key: m.key, value: m.value, timestamp: m.timestamp ?? now, step: m.step ?? 0 })),
      params: req.params ?? [],
      tags: req.tags ?? [],
    };
    if (req.batchId !== undefined) batch.batchId = req.batchId;
    if (batch.metrics.length + batch.params.length + batch.tags.length === 0) {
      await this.getRunInfo(runId);
      return;
    }
    await this.#store.logBatch(runId, batch);
  }

  /** @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async setRunTag(runId: string, key: string, value: string): Promise<void> {
    await this.#store.logBatch(runId, { metrics: [], params: [], tags: [{ key, value }] });
  }

  /** @throws CairnError RESOURCE_DOES_NOT_EXIST for an unknown run or tag */
  async deleteRunTag(runId: string, key: string): Promise<void> {
    await this.#store.deleteRunTag(runId, key);
  }

  /**
   * Logs dataset inputs, then tells the listeners (the datasets module links inputs that name a
   * Cairn dataset version into the lineage graph).
   * @throws CairnError RESOURCE_DOES_NOT_EXIST
   */
  async logInputs(runId: string, req: Out<typeof T.LogInputsRequest>): Promise<void> {
    const inputs = req.datasets.map((d) => ({ dataset: d.dataset, tags: d.tags ?? {} }));
    await this.#store.logInputs(runId, inputs);
    for (const l of this.#inputListeners) await l(runId, inputs);
  }

  /** Registers a listener called after every `logInputs`, with the inputs as stored. */
  onInputsLogged(listener: InputsListener): void {
    this.#inputListeners.push(listener);
  }

  /** @throws CairnError INVALID_PARAMETER_VALUE for a bad filter, order or page token */
  async searchRuns(req: Out<typeof T.SearchRunsRequest>): Promise<{ runs: Run[]; nextPageToken?: string }> {
    const limit = req.maxResults ?? LIMITS.searchRunsDefault;
    const offset = req.pageToken ? decodePageToken(req.pageToken) : 0;
    const filter = parseRunFilter(req.filter ?? "");
    const orderBy = parseOrderBy(req.orderBy ?? [], "run");
    checkJoinCount(filter, orderBy);
    const rows = await this.#store.searchRuns({
      experimentIds: req.experimentIds,
      filter,
      orderBy,
      viewType: (req.viewType ?? "ACTIVE_ONLY") as ViewType,
      offset,
      limit,
    });
    return page("runs", rows, limit, offset);
  }

  /** One page of a metric's raw history. @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async getMetricHistory(runId: string, key: string, q: Out<typeof T.MetricHistoryQuery>): Promise<{ metrics: Metric[]; nextPageToken?: string }> {
    await this.getRunInfo(runId);
    const limit = q.maxResults ?? LIMITS.metricHistoryPageMax;
    const offset = q.pageToken ? decodePageToken(q.pageToken) : 0;
    const rows = await this.#store.getMetricHistory(runId, key, { offset, limit });
    return page("metrics", rows, limit, offset);
  }

  /** A metric's history in step buckets. @throws CairnError RESOURCE_DOES_NOT_EXIST, INVALID_PARAMETER_VALUE */
  async downsampleMetric(runId: string, key: string, q: Out<typeof T.DownsampleQuery>): Promise<DownsampledSeries> {
    await this.getRunInfo(runId);
    if (q.minStep !== undefined && q.maxStep !== undefined && q.minStep > q.maxStep) {
      throw new CairnError("INVALID_PARAMETER_VALUE", "minStep must not be greater than maxStep");
    }
    const opts: Parameters<TrackingStore["downsampleMetric"]>[2] = { buckets: q.buckets ?? LIMITS.downsampleBucketsDefault };
    if (q.minStep !== undefined) opts.minStep = q.minStep;
    if (q.maxStep !== undefined) opts.maxStep = q.maxStep;
    return this.#store.downsampleMetric(runId, key, opts);
  }

  /** The latest point logged at exactly `step` (undefined when there is none). @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async metricPointAt(runId: string, key: string, step: number): Promise<Metric | undefined> {
    const s = await this.#store.downsampleMetric(runId, key, { buckets: 1, minStep: step, maxStep: step });
    const b = s.buckets[0];
    return b ? { key, value: b.last, timestamp: b.lastTimestamp, step: b.lastStep } : undefined;
  }

  /** Downsampled histories for every (run, key) pair. @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async bulkDownsample(req: Out<typeof T.BulkDownsampleRequest>): Promise<{ series: DownsampledSeries[] }> {
    const series: DownsampledSeries[] = [];
    for (const runId of req.runIds) {
      for (const key of req.keys) {
        const q: Out<typeof T.DownsampleQuery> = {};
        if (req.buckets !== undefined) q.buckets = req.buckets;
        if (req.minStep !== undefined) q.minStep = req.minStep;
        if (req.maxStep !== undefined) q.maxStep = req.maxStep;
        series.push(await this.downsampleMetric(runId, key, q));
      }
    }
    return { series };
  }

  // ---------- artifacts ----------

  /**
   * The blob-store key of a run's artifact root, for runs whose artifacts the server stores.
   * @throws CairnError INVALID_PARAMETER_VALUE when the run's artifacts live elsewhere
   */
  async runArtifactRoot(runId: string): Promise<{ rootUri: string; key: string }> {
    const info = await this.getRunInfo(runId);
    return { rootUri: info.artifactUri, key: proxiedKey(info.artifactUri) };
  }

  /** Lists a run's artifacts under `path` (paths in the answer are relative to the run's root). */
  async listRunArtifacts(runId: string, path = ""): Promise<{ rootUri: string; files: ArtifactEntry[] }> {
    const root = await this.runArtifactRoot(runId);
    const rel = safeBlobPrefix(path.replace(/^\/+|\/+$/g, ""));
    const entries = await this.#blobs.list(rel ? `${root.key}/${rel}` : root.key);
    return {
      rootUri: root.rootUri,
      files: entries.map((e) => {
        const out: ArtifactEntry = { path: rel ? `${rel}/${e.path}` : e.path, isDir: e.isDir };
        if (!e.isDir && e.size !== undefined) out.fileSize = e.size;
        return out;
      }),
    };
  }

  /** Streams one artifact into the store (atomically). @throws CairnError INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST */
  async uploadRunArtifact(runId: string, path: string, body: Readable): Promise<{ path: string; fileSize: number }> {
    const root = await this.runArtifactRoot(runId);
    const key = safeBlobKey(root.key, safeBlobKey(path));
    const { size } = await this.#blobs.put(key, body);
    return { path, fileSize: size };
  }

  /** @throws CairnError RESOURCE_DOES_NOT_EXIST, INVALID_PARAMETER_VALUE */
  async downloadRunArtifact(runId: string, path: string): Promise<{ stream: Readable; size: number }> {
    const root = await this.runArtifactRoot(runId);
    try {
      return await this.#blobs.get(safeBlobKey(root.key, safeBlobKey(path)));
    } catch (e) {
      // The store's message names its internal key; users know only the run-relative path.
      if (isCairnError(e) && e.code === "RESOURCE_DOES_NOT_EXIST") throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Run '${runId}' has no artifact file '${path}'`);
      throw e;
    }
  }

  /** Deletes one artifact file or directory. @throws CairnError INVALID_PARAMETER_VALUE */
  async deleteRunArtifact(runId: string, path: string): Promise<void> {
    const root = await this.runArtifactRoot(runId);
    await this.#blobs.delete(safeBlobKey(root.key, safeBlobKey(path)));
  }

  /** The blob store, for the proxied `mlflow-artifacts` routes that address it by path. */
  get blobs(): BlobStore {
    return this.#blobs;
  }
}

/**
 * Maps a proxied artifact URI (`mlflow-artifacts:/0/abc/artifacts`, or with a host:
 * `mlflow-artifacts://host:5005/0/abc/artifacts`) to its blob-store key.
 * @throws CairnError INVALID_PARAMETER_VALUE for any other scheme
 */
export function proxiedKey(uri: string): string {
  if (!uri.startsWith(PROXY_SCHEME)) {
    throw new CairnError("INVALID_PARAMETER_VALUE", `Artifacts at '${uri}' are not stored by this server; read them from their own store`);
  }
  let rest = uri.slice(PROXY_SCHEME.length);
  if (rest.startsWith("//")) rest = rest.slice(2).replace(/^[^/]*/, "");
  return safeBlobPrefix(rest.replace(/^\/+/, "").replace(/\/+$/, ""));
}

/** Most metric, param, tag and dataset terms one search may combine (each costs the query a join; SQLite allows 64). */
export const MAX_SEARCH_KEY_TERMS = 40;

function checkJoinCount(filter: { type: string }[], orderBy: { type: string }[]): void {
  const n = [...filter, ...orderBy].filter((t) => t.type !== "attribute").length;
  if (n > MAX_SEARCH_KEY_TERMS) {
    throw new CairnError("INVALID_PARAMETER_VALUE", `A search may combine at most ${MAX_SEARCH_KEY_TERMS} metric, param, tag and dataset terms (filter and order_by together); this one has ${n}`);
  }
}

function page<K extends string, T>(key: K, rows: T[], limit: number, offset: number): { [P in K]: T[] } & { nextPageToken?: string } {
  const out = { [key]: rows.slice(0, limit) } as { [P in K]: T[] } & { nextPageToken?: string };
  if (rows.length > limit) out.nextPageToken = encodePageToken(offset + limit);
  return out;
}
