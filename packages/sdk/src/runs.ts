import type { LogBatchRequest, Metric, Run as RunData, RunInfo, RunStatus, ViewType } from "@cairn/contract";
import type { ApiClient } from "./core.js";
import { decodeMetrics, decodeRun, encodeMetricValue, type WireMetricValue } from "./metric-value.js";
import { withRetry, type RetryOptions } from "./retry.js";

/** Options for `runs.search`. */
export interface SearchRunsOptions {
  /** The experiments to search (at least one). */
  experimentIds: string[];
  /** MLflow's filter grammar, e.g. `metrics.acc > 0.9 and params.lr = '0.01'`. */
  filter?: string;
  /** e.g. `["metrics.acc DESC", "attributes.start_time ASC"]`. */
  orderBy?: string[];
  /** Page size (server default 1000). */
  maxResults?: number;
  pageToken?: string;
  /** ACTIVE_ONLY (default), DELETED_ONLY or ALL. */
  viewType?: ViewType;
}

/** One page of runs. */
export interface RunsPage {
  runs: RunData[];
  nextPageToken?: string | undefined;
}

/** What `runs.update` can change. */
export interface RunPatch {
  status?: RunStatus;
  endTime?: number;
  runName?: string;
}

/** A batch for `runs.logBatch`: metric values may be NaN or ±Infinity. */
export interface RunBatch {
  metrics?: { key: string; value: number; timestamp?: number; step?: number }[];
  params?: { key: string; value: string }[];
  tags?: { key: string; value: string }[];
}

/**
 * Runs: `cairn.runs`. To create a run and log to it, use `cairn.startRun()`.
 * Every method throws `CairnError` (RESOURCE_DOES_NOT_EXIST, INVALID_PARAMETER_VALUE, …).
 * @example
 * const run = await cairn.runs.get(runId);
 * for await (const r of cairn.runs.searchAll({ experimentIds: [exp.experimentId], filter: "metrics.acc > 0.9" })) console.log(r.info.runId);
 */
export class Runs {
  readonly #client: ApiClient;
  readonly #retry: Partial<RetryOptions>;

  constructor(client: ApiClient, retry: Partial<RetryOptions> = {}) {
    this.#client = client;
    this.#retry = retry;
  }

  /** Gets a run with its latest metrics, params, tags and inputs. @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async get(id: string): Promise<RunData> {
    return decodeRun((await withRetry(() => this.#client.api.getRun({ params: { id } }), this.#retry)).run);
  }

  /** One page of runs. @throws CairnError INVALID_PARAMETER_VALUE for a bad filter or order */
  async search(opts: SearchRunsOptions): Promise<RunsPage> {
    const body: SearchRunsOptions = { experimentIds: opts.experimentIds };
    if (opts.filter !== undefined) body.filter = opts.filter;
    if (opts.orderBy !== undefined) body.orderBy = opts.orderBy;
    if (opts.maxResults !== undefined) body.maxResults = opts.maxResults;
    if (opts.pageToken !== undefined) body.pageToken = opts.pageToken;
    if (opts.viewType !== undefined) body.viewType = opts.viewType;
    const page = await withRetry(() => this.#client.api.searchRuns({ body }), this.#retry);
    page.runs.forEach(decodeRun);
    return page;
  }

  /**
   * Every matching run, fetching pages as it goes. `limit` stops after that many.
   * @example for await (const r of cairn.runs.searchAll({ experimentIds: ["1"], limit: 50 })) console.log(r.info.runName);
   */
  async *searchAll(opts: Omit<SearchRunsOptions, "pageToken"> & { limit?: number }): AsyncGenerator<RunData, void, undefined> {
    const { limit = Infinity, ...rest } = opts;
    let pageToken: string | undefined;
    let n = 0;
    do {
      const page = await this.search(pageToken === undefined ? rest : { ...rest, pageToken });
      for (const r of page.runs) {
        if (n++ >= limit) return;
        yield r;
      }
      pageToken = page.nextPageToken || undefined;
    } while (pageToken !== undefined && n < limit);
  }

  /** Updates a run's status, end time or name. @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async update(id: string, patch: RunPatch): Promise<RunInfo> {
    return (await withRetry(() => this.#client.api.updateRun({ params: { id }, body: patch }), this.#retry)).run.info;
  }

  /** Soft-deletes a run (restorable). @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async delete(id: string): Promise<void> {
    await withRetry(() => this.#client.api.deleteRun({ params: { id } }), this.#retry);
  }

  /** Restores a deleted run. @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async restore(id: string): Promise<void> {
    await withRetry(() => this.#client.api.restoreRun({ params: { id } }), this.#retry);
  }

  /** Sets a run tag right away (unbatched). @throws CairnError RESOURCE_DOES_NOT_EXIST, INVALID_PARAMETER_VALUE */
  async setTag(id: string, key: string, value: string): Promise<void> {
    await withRetry(() => this.#client.api.setRunTag({ params: { id }, body: { key, value } }), this.#retry);
  }

  /** Deletes a run tag. @throws CairnError RESOURCE_DOES_NOT_EXIST (run or tag) */
  async deleteTag(id: string, key: string): Promise<void> {
    await withRetry(() => this.#client.api.deleteRunTag({ params: { id }, query: { key } }), this.#retry);
  }

  /**
   * Logs one batch right away, atomically (it must fit the server's per-request limits;
   * `Run.log` batches and splits for you).
   * @throws CairnError INVALID_PARAMETER_VALUE for a bad key or value, over-limit batch or changed param
   */
  async logBatch(id: string, batch: RunBatch): Promise<void> {
    await this.sendBatch(id, {
      metrics: (batch.metrics ?? []).map((m) => ({ ...m, value: encodeMetricValue(m.value) })),
      params: batch.params ?? [],
      tags: batch.tags ?? [],
    });
  }

  /** @internal Sends a batch whose metric values are already wire-encoded. */
  async sendBatch(id: string, body: { batchId?: string; metrics: { key: string; value: WireMetricValue; timestamp?: number; step?: number }[]; params: { key: string; value: string }[]; tags: { key: string; value: string }[] }): Promise<void> {
    // The contract's input type drops "-Infinity" (zod treats it as a numeric key), though the schema accepts it.
    const wire = body as LogBatchRequest;
    await withRetry(() => this.#client.api.logBatch({ params: { id }, body: wire }), this.#retry);
  }

  /**
   * The full history of one metric, ordered by step then timestamp (all pages).
   * @throws CairnError RESOURCE_DOES_NOT_EXIST for an unknown run
   * @example const points = await cairn.runs.getMetricHistory(runId, "loss");
   */
  async getMetricHistory(id: string, key: string, opts: { pageSize?: number } = {}): Promise<Metric[]> {
    const out: Metric[] = [];
    let pageToken: string | undefined;
    do {
      const query: { maxResults?: number; pageToken?: string } = {};
      if (opts.pageSize !== undefined) query.maxResults = opts.pageSize;
      if (pageToken !== undefined) query.pageToken = pageToken;
      const page = await withRetry(() => this.#client.api.getMetricHistory({ params: { id, key }, query }), this.#retry);
      for (const m of decodeMetrics(page.metrics)) out.push(m);
      pageToken = page.nextPageToken || undefined;
    } while (pageToken !== undefined);
    return out;
  }
}
