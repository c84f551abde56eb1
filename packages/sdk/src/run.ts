import { CairnError, Key, LIMITS, type Run as RunData, type RunInfo, type RunStatus } from "@cairn/contract";
import type { Artifacts, TransferOptions, UploadedArtifact } from "./artifacts.js";
import { BatchLogger, type BatchLimits, type QueuedKeyValue, type QueuedMetric } from "./batch-logger.js";
import { trackActiveRun, untrackActiveRun } from "./exit-hooks.js";
import { encodeMetricValue } from "./metric-value.js";
import type { Runs } from "./runs.js";

/** What `run.log()` takes. `step` and `timestamp` apply to every metric of the call. */
export interface LogInput {
  metrics?: Record<string, number>;
  params?: Record<string, string | number | boolean>;
  tags?: Record<string, string>;
  /** Step for the metrics (default 0). */
  step?: number;
  /** Milliseconds since the epoch for the metrics (default: now). */
  timestamp?: number;
}

/** Options the `Cairn` client passes to each run. */
export interface RunOptions {
  flushIntervalMs?: number;
  batchLimits?: Partial<BatchLimits>;
  /** Flush and end the run if the process exits first (default true). */
  handleExit?: boolean;
  /** How long the exit hooks wait for the server (default 10 s). */
  exitTimeoutMs?: number;
  /** Called for each batch the server refused (the next `flush()` also throws it). */
  onError?: (e: CairnError) => void;
  /** See `BatchLoggerOptions.maxQueuedItems`. */
  maxQueuedItems?: number;
  /** Params the run already has (an attached run), so a changed value throws at `log()`. */
  knownParams?: Record<string, string>;
}

function invalid(message: string): CairnError {
  return new CairnError("INVALID_PARAMETER_VALUE", message);
}

function checkInt(name: string, v: number | undefined): void {
  if (v !== undefined && !Number.isSafeInteger(v)) throw invalid(`${name} must be an integer, got ${v}`);
}

/**
 * An active run: logs metrics, params and tags in background batches and uploads artifacts.
 * Create one with `cairn.startRun()`. Always `await run.end()` (the SDK also ends it if the
 * process exits, is interrupted or crashes first).
 * @example
 * const run = await cairn.startRun({ experiment: "mnist", runName: "lr-0.01" });
 * run.log({ params: { lr: 0.01, epochs: 10 } });
 * for (let epoch = 0; epoch < 10; epoch++) run.log({ metrics: { loss: 1 / (epoch + 1) }, step: epoch });
 * await run.logArtifact("./model.onnx", "model");
 * await run.end();
 */
export class Run {
  /** The run id. */
  readonly id: string;
  readonly experimentId: string;
  /** The run as created (status RUNNING); use `refresh()` for its current state. */
  readonly info: RunInfo;
  readonly #runs: Runs;
  readonly #artifacts: Artifacts;
  readonly #logger: BatchLogger;
  readonly #params = new Map<string, string>();
  readonly #validKeys = new Set<string>();
  readonly #handleExit: boolean;
  #ended: Promise<void> | undefined;

  /** @internal Use `cairn.startRun()` or `cairn.attachRun()`. */
  constructor(info: RunInfo, deps: { runs: Runs; artifacts: Artifacts }, opts: RunOptions = {}) {
    this.id = info.runId;
    this.experimentId = info.experimentId;
    this.info = info;
    this.#runs = deps.runs;
    this.#artifacts = deps.artifacts;
    const loggerOpts: ConstructorParameters<typeof BatchLogger>[0] = {
      send: (batch) => this.#runs.sendBatch(this.id, batch),
    };
    if (opts.flushIntervalMs !== undefined) loggerOpts.flushIntervalMs = opts.flushIntervalMs;
    if (opts.batchLimits !== undefined) loggerOpts.limits = opts.batchLimits;
    if (opts.onError !== undefined) loggerOpts.onError = opts.onError;
    if (opts.maxQueuedItems !== undefined) loggerOpts.maxQueuedItems = opts.maxQueuedItems;
    this.#logger = new BatchLogger(loggerOpts);
    for (const [k, v] of Object.entries(opts.knownParams ?? {})) this.#params.set(k, v);
    this.#handleExit = opts.handleExit ?? true;
    if (this.#handleExit) trackActiveRun(this, opts.exitTimeoutMs === undefined ? {} : { timeoutMs: opts.exitTimeoutMs });
  }

  /** Whether `end()` has been called. */
  get ended(): boolean {
    return this.#ended !== undefined;
  }

  /** Logged items not yet acknowledged by the server. */
  get pendingCount(): number {
    return this.#logger.pendingCount;
  }

  /**
   * Queues metrics, params and tags; they are sent in the background, in order, in batches
   * (a call's items travel together when they fit in one request). Returns at once.
   * Keys and values are checked here, so one bad item cannot make the server refuse a whole batch.
   * @throws CairnError INVALID_PARAMETER_VALUE for a bad key or value, or a param logged again with a different value;
   *   INVALID_STATE after `end()`
   * @example run.log({ metrics: { loss: 0.12, acc: 0.97 }, step: 3 });
   */
  log(input: LogInput): void {
    this.#assertOpen();
    checkInt("step", input.step);
    checkInt("timestamp", input.timestamp);
    const step = input.step ?? 0;
    const timestamp = input.timestamp ?? Date.now();
    const metrics: QueuedMetric[] = [];
    const params: QueuedKeyValue[] = [];
    const tags: QueuedKeyValue[] = [];
    const newParams: [string, string][] = [];

    for (const [key, value] of Object.entries(input.metrics ?? {})) {
      this.#checkKey(key);
      if (typeof value !== "number") throw invalid(`Metric '${key}' must be a number, got ${typeof value}`);
      metrics.push({ key, value: encodeMetricValue(value), timestamp, step });
    }
    for (const [key, raw] of Object.entries(input.params ?? {})) {
      this.#checkKey(key);
      if (typeof raw !== "string" && typeof raw !== "number" && typeof raw !== "boolean") throw invalid(`Param '${key}' must be a string, number or boolean`);
      const value = String(raw);
      if (value.length > LIMITS.paramValueLength) throw invalid(`Param '${key}' is longer than ${LIMITS.paramValueLength} characters`);
      const prev = this.#params.get(key);
      if (prev !== undefined) {
        // Params are write-once; a changed value would make the server refuse the whole batch.
        if (prev !== value) throw invalid(`Param '${key}' was already logged with value '${prev}'; params cannot change (got '${value}')`);
        continue;
      }
      params.push({ key, value });
      newParams.push([key, value]);
    }
    for (const [key, value] of Object.entries(input.tags ?? {})) {
      this.#checkKey(key);
      if (typeof value !== "string") throw invalid(`Tag '${key}' must be a string`);
      if (value.length > LIMITS.runTagValueLength) throw invalid(`Tag '${key}' is longer than ${LIMITS.runTagValueLength} characters`);
      tags.push({ key, value });
    }
    for (const [k, v] of newParams) this.#params.set(k, v);
    this.#logger.enqueue({ metrics, params, tags });
  }

  /**
   * Queues one metric point (see `log`).
   * @example run.logMetric("loss", 0.25, { step: 10 });
   */
  logMetric(key: string, value: number, opts: { step?: number; timestamp?: number } = {}): void {
    const input: LogInput = { metrics: { [key]: value } };
    if (opts.step !== undefined) input.step = opts.step;
    if (opts.timestamp !== undefined) input.timestamp = opts.timestamp;
    this.log(input);
  }

  /** Queues several points of one metric, each with its own step (and optional timestamp), in order. */
  logMetrics(key: string, points: { value: number; step?: number; timestamp?: number }[]): void {
    this.#assertOpen();
    this.#checkKey(key);
    const now = Date.now();
    const metrics: QueuedMetric[] = points.map((p) => {
      if (typeof p.value !== "number") throw invalid(`Metric '${key}' must be a number, got ${typeof p.value}`);
      checkInt("step", p.step);
      checkInt("timestamp", p.timestamp);
      return { key, value: encodeMetricValue(p.value), timestamp: p.timestamp ?? now, step: p.step ?? 0 };
    });
    this.#logger.enqueue({ metrics });
  }

  /** Queues one param (see `log`). */
  logParam(key: string, value: string | number | boolean): void {
    this.log({ params: { [key]: value } });
  }

  /** Queues one tag (see `log`). */
  setTag(key: string, value: string): void {
    this.log({ tags: { [key]: value } });
  }

  /**
   * Resolves once everything logged so far is stored on the server.
   * Transient failures (network, 5xx, 429) are retried with backoff first; 4xx answers are not.
   * @throws CairnError the server's error for a refused batch (e.g. INVALID_PARAMETER_VALUE),
   *   or TEMPORARILY_UNAVAILABLE when retries ran out (that data stays queued and is retried later)
   */
  flush(): Promise<void> {
    return this.#logger.flush();
  }

  /**
   * Flushes, then sets the run's status and end time. Calling it again returns the same promise.
   * The run is ended even when the flush fails; the flush error is thrown afterwards.
   * @throws CairnError as `flush()`, or from the status update
   * @example await run.end("FAILED");
   */
  end(status: RunStatus = "FINISHED"): Promise<void> {
    this.#ended ??= this.#end(status).catch((e: unknown) => {
      // A failed end() can be called again (the run stays tracked until its status is set).
      this.#ended = undefined;
      throw e;
    });
    return this.#ended;
  }

  async #end(status: RunStatus): Promise<void> {
    let flushError: unknown;
    try {
      await this.#logger.flush();
    } catch (e) {
      flushError = e;
    }
    await this.#runs.update(this.id, { status, endTime: Date.now() });
    this.#logger.close();
    if (this.#handleExit) untrackActiveRun(this);
    if (flushError !== undefined) throw flushError;
  }

  /**
   * Uploads a local file or directory as artifacts of this run (see `Artifacts.upload`):
   * a file lands at `<artifactPath>/<name>`, a directory's contents under `artifactPath`.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST for a missing local path
   * @example await run.logArtifact("./checkpoints", "checkpoints", { onProgress: (d, t) => bar.update(d / t) });
   */
  logArtifact(localPath: string, artifactPath?: string, opts: TransferOptions = {}): Promise<UploadedArtifact[]> {
    return this.#artifacts.upload(this.id, localPath, artifactPath, opts);
  }

  /** Fetches the run's current state from the server (latest metrics, params, tags). */
  refresh(): Promise<RunData> {
    return this.#runs.get(this.id);
  }

  #assertOpen(): void {
    if (this.#ended) throw new CairnError("INVALID_STATE", `Run ${this.id} has ended; start a new run to log more`);
  }

  #checkKey(key: string): void {
    if (this.#validKeys.has(key)) return;
    const r = Key.safeParse(key);
    if (!r.success) throw invalid(`Invalid key '${key}': ${r.error.issues[0]?.message ?? "invalid"}`);
    this.#validKeys.add(key);
  }
}
