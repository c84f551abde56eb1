import {
  CairnError,
  apiRoutes,
  MONITORING_LIMITS,
  type FeedbackLabel,
  type FeedbackRecord,
  type PerformanceResponse,
  type PerformanceTask,
  type PostFeedbackResponse,
  type AlertEvent,
  type DriftReportResponse,
  type DriftRequest,
  type DriftFileFormat,
  type DriftTestName,
  type Monitor,
  type MonitorSpec,
} from "@cairn/contract";
import fs from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import type { ApiClient } from "./core.js";
import { withRetry, type RetryOptions } from "./retry.js";

/** Options for `monitoring.postFeedback`. */
export interface PostFeedbackOptions {
  /** Records per post, at most (and by default) `MONITORING_LIMITS.feedbackPerPost`. */
  batchSize?: number;
  /** Called after each post with the records posted so far and the total. */
  onProgress?: (done: number, total: number) => void;
  /** Stops before the next post (and cancels the one under way). */
  signal?: AbortSignal;
}

/** What `monitoring.performance` takes; every field is optional. */
export interface PerformanceOptions {
  /** Predictions at or after this time (ms since the epoch; default: `to` minus 24 hours). */
  from?: number;
  /** Predictions before this time (ms since the epoch; default: now on the server). */
  to?: number;
  /** Window length in seconds (default: the whole range as one window). */
  windowSeconds?: number;
  /** Default: classification for boolean and string labels, regression for numbers. */
  task?: PerformanceTask;
  /** The output tensor holding the prediction (default: the first). */
  output?: string;
  /** The positive class (default: `true` for boolean labels, `1` for numbers; required for string labels). */
  positive?: string | number | boolean;
  /** A probability at or above it predicts the positive class (default 0.5). */
  threshold?: number;
  /** The labelled predictions that calibrate the label-free estimates: from this time (ms; default `from`) … */
  referenceFrom?: number;
  /** … to this time (ms; default `to`). */
  referenceTo?: number;
}

/** A file for `monitoring.driftFiles`: a local path, or bytes (with a name for the report). */
export type DriftFile = string | { bytes: Uint8Array; name?: string; format?: DriftFileFormat };

/** What `monitoring.driftFiles` takes. */
export interface DriftFilesOptions {
  /** The reference: a dataset version (`{ dataset: "credit@v3" }`, optionally a `path` in it), or a file. */
  reference: { dataset: string; path?: string } | { file: DriftFile };
  /** The file to test (CSV with a header row, or Parquet; told apart by Parquet's `PAR1` magic unless `format` says). */
  current: DriftFile;
  /** Only these columns (default: every column of the current file). */
  columns?: string[];
  /** One test for every column (default: Evidently's automatic choice). */
  test?: DriftTestName;
  threshold?: number;
  /** The share of drifted columns at which the dataset counts as drifted (default 0.5). */
  driftShare?: number;
}

/** A drift file's size, name and a way to read it. */
function driftSource(f: DriftFile): { size: number; name: string; format?: DriftFileFormat; open(): AsyncIterable<Uint8Array> } {
  if (typeof f === "string") {
    let size: number;
    try {
      size = fs.statSync(f).size;
    } catch (e) {
      throw new CairnError("INVALID_PARAMETER_VALUE", `Cannot read '${f}': ${(e as Error).message}`, { cause: e });
    }
    const ext = path.extname(f).toLowerCase();
    return { size, name: path.basename(f), ...(ext === ".parquet" ? { format: "parquet" as const } : ext === ".csv" ? { format: "csv" as const } : {}), open: () => fs.createReadStream(f) };
  }
  return { size: f.bytes.length, name: f.name ?? "upload", ...(f.format ? { format: f.format } : {}), open: () => Readable.from([Buffer.from(f.bytes)]) };
}

/**
 * The error of a post after the first, said in terms of the caller's records: `records[i]` in the
 * server's message and details counts from the first record given, and the message says what the
 * earlier posts stored (they are not undone). The first post's error is the server's as is.
 */
function inContext(e: unknown, offset: number, total: number, stored: PostFeedbackResponse): unknown {
  if (!(e instanceof CairnError) || offset === 0) return e;
  const renumber = (s: string) => s.replace(/records(\[|\.)(\d+)/g, (_m, sep: string, i: string) => `records${sep}${offset + Number(i)}`);
  const opts: ConstructorParameters<typeof CairnError>[2] = { cause: e };
  if (e.details) opts.details = e.details.map((d) => ({ ...d, path: renumber(d.path) }));
  if (e.requestId !== undefined) opts.requestId = e.requestId;
  const note = ` (records ${offset} to ${total - 1} were not stored; the ${offset} before them were: accepted ${stored.accepted}, updated ${stored.updated}, unmatched ${stored.unmatched})`;
  return new CairnError(e.code, `${renumber(e.message)}${note}`, opts);
}

/**
 * Model monitoring: `cairn.monitoring`. Delayed ground truth for a deployment's predictions (labels
 * posted by request id, the `x-request-id` a prediction was answered with, see `Prediction.requestId`)
 * and the deployment's performance against them per version, arm and time window. Every method throws
 * `CairnError`: RESOURCE_DOES_NOT_EXIST for an unknown deployment, INVALID_PARAMETER_VALUE for bad
 * input, PERMISSION_DENIED / UNAUTHENTICATED with auth on (posting needs write on the model's project,
 * reading performance read), TEMPORARILY_UNAVAILABLE when the server cannot be reached.
 * @example
 * const { requestId } = await cairn.deployments.predict("fraud", request);
 * // … later, when the truth is known:
 * await cairn.monitoring.feedback("fraud", requestId!, true);
 * const perf = await cairn.monitoring.performance("fraud", { windowSeconds: 3600 });
 * for (const s of perf.series) console.log(s.version, s.arm, s.windows.map((w) => w.classification?.accuracy));
 */
export class Monitoring {
  readonly #client: ApiClient;
  readonly #retry: Partial<RetryOptions>;

  /** @internal Use `cairn.monitoring`. */
  constructor(client: ApiClient, opts: { retry?: Partial<RetryOptions> } = {}) {
    this.#client = client;
    this.#retry = opts.retry ?? {};
  }

  /**
   * Posts ground-truth labels for a deployment's logged predictions, joined by request id. Any number
   * of records: they go in posts of at most `MONITORING_LIMITS.feedbackPerPost` (or `batchSize`), one
   * after another, and the answers are summed. A label for a request that already has one replaces it
   * (`updated`); a request id no prediction of the deployment was logged under (yet) is stored anyway
   * and counted `unmatched` (it joins once the prediction is logged). A post that fails is retried when
   * the failure is transient (a retried post that had in fact been stored counts its labels as updated).
   * One type of label per deployment: numbers, booleans or strings.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST for an unknown deployment; INVALID_PARAMETER_VALUE for a
   * label of another type than the deployment's, a non-finite number, an empty or over-long request id
   * or string label (the message names `records[i]`, counted from the first record given; posts before
   * the failing one stay stored, and the message says what they did); PERMISSION_DENIED without write
   * on the deployment's model; TEMPORARILY_UNAVAILABLE when the server cannot be reached
   * @example
   * const r = await cairn.monitoring.postFeedback("fraud", [{ requestId: "r1", label: true }, { requestId: "r2", label: false, time: Date.parse("2026-01-02") }], { onProgress: (done, total) => console.log(done, total) });
   * // r: { accepted: 2, updated: 0, unmatched: 0 }
   */
  async postFeedback(deployment: string, records: readonly FeedbackRecord[], opts: PostFeedbackOptions = {}): Promise<PostFeedbackResponse> {
    const size = opts.batchSize ?? MONITORING_LIMITS.feedbackPerPost;
    if (!Number.isSafeInteger(size) || size < 1 || size > MONITORING_LIMITS.feedbackPerPost) {
      throw new CairnError("INVALID_PARAMETER_VALUE", `batchSize must be a whole number from 1 to ${MONITORING_LIMITS.feedbackPerPost}, got ${size}`);
    }
    if (records.length === 0) throw new CairnError("INVALID_PARAMETER_VALUE", "no feedback records to post");
    const total = records.length;
    const sum: PostFeedbackResponse = { accepted: 0, updated: 0, unmatched: 0 };
    for (let offset = 0; offset < total; offset += size) {
      opts.signal?.throwIfAborted();
      const chunk = records.slice(offset, offset + size);
      let r: PostFeedbackResponse;
      try {
        const input: Parameters<ApiClient["api"]["postFeedback"]>[0] = { params: { name: deployment }, body: { records: chunk } };
        if (opts.signal) input.signal = opts.signal;
        r = await withRetry(() => this.#client.api.postFeedback(input), this.#retry);
      } catch (e) {
        throw inContext(e, offset, total, sum);
      }
      sum.accepted += r.accepted;
      sum.updated += r.updated;
      sum.unmatched += r.unmatched;
      opts.onProgress?.(offset + chunk.length, total);
    }
    return sum;
  }

  /**
   * Posts one label for one prediction (see `postFeedback`).
   * @throws CairnError as `postFeedback`
   * @example
   * const { requestId } = await cairn.deployments.predict("fraud", request);
   * await cairn.monitoring.feedback("fraud", requestId!, "chargeback");
   */
  async feedback(deployment: string, requestId: string, label: FeedbackLabel, opts: { time?: number } = {}): Promise<PostFeedbackResponse> {
    const record: FeedbackRecord = { requestId, label };
    if (opts.time !== undefined) record.time = opts.time;
    return this.postFeedback(deployment, [record]);
  }

  /**
   * A deployment's performance against its labels: one series per model version and arm (the shadow's
   * included) with labelled predictions in the range, each a list of windows with their count `n` and
   * classification metrics (accuracy, precision, recall, F1, ROC AUC, log loss, calibration) or
   * regression metrics (MAE, RMSE, R²); a metric that is undefined (no rows, one class) is null.
   * Classification windows also carry `estimated`: label-free estimates (CBPE) of accuracy, precision,
   * recall, F1 and ROC AUC over every logged prediction of the window, labelled or not (so a version and
   * arm without labels yet has a series too), calibrated on the labelled predictions between
   * `referenceFrom` and `referenceTo` (default: the whole range; see `EstimatedMetrics`).
   * @throws CairnError RESOURCE_DOES_NOT_EXIST for an unknown deployment; INVALID_PARAMETER_VALUE for an
   * empty range or reference range, more than `MONITORING_LIMITS.windowsMax` windows, a task or positive class that does not
   * fit the labels; PERMISSION_DENIED without read on the deployment's model
   * @example
   * const p = await cairn.monitoring.performance("fraud", { from: Date.now() - 7 * 86_400_000, windowSeconds: 86_400, threshold: 0.7 });
   * for (const w of p.series[0]?.windows ?? []) console.log(w.classification?.accuracy, w.estimated?.accuracy);
   */
  async performance(deployment: string, query: PerformanceOptions = {}): Promise<PerformanceResponse> {
    const q: Record<string, string | number> = {};
    for (const [k, v] of Object.entries(query) as [keyof PerformanceOptions, PerformanceOptions[keyof PerformanceOptions]][]) {
      if (v === undefined) continue;
      q[k] = k === "positive" ? String(v) : (v as string | number);
    }
    return withRetry(() => this.#client.api.getPerformance({ params: { name: deployment }, query: q as never }), this.#retry);
  }

  /**
   * The drift of a deployment's logged inputs and outputs in a window (default: the last hour) against
   * a reference: an earlier window, or a dataset version's tabular file (`{ dataset: "credit@v3" }`,
   * with `columnNames` naming the columns of 2-D inputs). Read-only, so it is retried like a read.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST (deployment, dataset, version), INVALID_PARAMETER_VALUE (a column the reference lacks, a test that does not fit)
   * @example
   * const r = await cairn.monitoring.drift("fraud", { reference: { dataset: "credit@v3" }, columnNames: { features: cols } });
   */
  async drift(deployment: string, req: DriftRequest): Promise<DriftReportResponse> {
    return withRetry(() => this.#client.api.deploymentDrift({ params: { name: deployment }, body: req }), this.#retry);
  }

  /**
   * The drift of a file (CSV or Parquet) against a dataset version or a second file, per column with
   * Evidently's tests, SciPy-exact; no deployment needed. The files are streamed to the server (at most
   * its `CAIRN_DRIFT_UPLOAD_LIMIT` together), never read into memory here. An empty current file is
   * reported as no data (`dataset.noData`), never a NaN score.
   * @throws CairnError INVALID_PARAMETER_VALUE (a local file that cannot be read; an unreadable or empty
   * reference, a file that is not valid CSV or Parquet, a column the reference lacks),
   * RESOURCE_DOES_NOT_EXIST (dataset, version), PAYLOAD_TOO_LARGE (over the server's upload limit)
   * @example
   * const r = await cairn.monitoring.driftFiles({ reference: { dataset: "credit@v3" }, current: "today.parquet" });
   * console.log(r.dataset.datasetDrift, r.columns.filter((c) => c.drifted).map((c) => c.column));
   */
  async driftFiles(opts: DriftFilesOptions): Promise<DriftReportResponse> {
    const cur = driftSource(opts.current);
    const ref = "file" in opts.reference ? driftSource(opts.reference.file) : undefined;
    const q: Record<string, unknown> = { currentName: cur.name, currentFormat: cur.format };
    if (ref) Object.assign(q, { referenceBytes: ref.size, referenceName: ref.name, referenceFormat: ref.format });
    else if ("dataset" in opts.reference) Object.assign(q, { reference: opts.reference.dataset, referencePath: opts.reference.path });
    if (ref && ref.size === 0) throw new CairnError("INVALID_PARAMETER_VALUE", `The reference file (${ref.name}) is empty`);
    if (opts.columns) q.columns = opts.columns.join(",");
    Object.assign(q, { test: opts.test, threshold: opts.threshold, driftShare: opts.driftShare });
    const url = this.#client.url(apiRoutes.fileDrift, {}, q);
    const body = async function* () {
      if (ref) yield* ref.open();
      yield* cur.open();
    };
    const res = await this.#client.fetchRaw(url, { method: "POST", headers: { "content-type": "application/octet-stream" }, body: Readable.toWeb(Readable.from(body())) as unknown as RequestInit["body"], duplex: "half", signal: AbortSignal.timeout(30 * 60_000) });
    return (await res.json()) as DriftReportResponse;
  }

  /**
   * Creates or replaces a monitor on a deployment: drift, traffic and performance over sliding windows
   * on a schedule, with alert rules and their actions.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST (deployment), PERMISSION_DENIED (a webhook host off the server's allow-list), INVALID_PARAMETER_VALUE
   */
  async createMonitor(deployment: string, spec: MonitorSpec): Promise<Monitor> {
    return this.#client.api.createMonitor({ params: { name: deployment }, body: spec });
  }

  /** A deployment's monitors with their alert states. @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async monitors(deployment: string): Promise<Monitor[]> {
    return (await withRetry(() => this.#client.api.listMonitors({ params: { name: deployment } }), this.#retry)).monitors;
  }

  /** Runs a monitor's window now: its points and the alerts they fired. @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async runMonitor(deployment: string, monitor: string): Promise<{ time: number; points: { time: number; series: string; value: number | null }[]; events: AlertEvent[] }> {
    return this.#client.api.runMonitor({ params: { name: deployment, monitor } });
  }

  /** A deployment's alert events, newest first. @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async alerts(deployment: string, opts: { monitor?: string; limit?: number } = {}): Promise<AlertEvent[]> {
    return (await withRetry(() => this.#client.api.listAlertEvents({ params: { name: deployment }, query: opts }), this.#retry)).events;
  }

  /** Deletes a monitor with its series and alert history. @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async deleteMonitor(deployment: string, monitor: string): Promise<void> {
    await this.#client.api.deleteMonitor({ params: { name: deployment, monitor } });
  }
}
