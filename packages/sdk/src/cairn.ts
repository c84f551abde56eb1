import { CairnError, isCairnError, type Experiment } from "@cairn/contract";
import { Artifacts } from "./artifacts.js";
import type { BatchLimits } from "./batch-logger.js";
import { captureRunContext, CONTEXT_TAGS, type CaptureContextOptions } from "./context.js";
import { ApiClient } from "./core.js";
import { Datasets } from "./datasets.js";
import { Deployments } from "./deployments.js";
import { Experiments } from "./experiments.js";
import { Models } from "./models.js";
import { Monitoring } from "./monitoring.js";
import type { RetryOptions } from "./retry.js";
import { Run } from "./run.js";
import { Runs } from "./runs.js";

/** The server URL used when neither the options nor `CAIRN_URL` give one. */
export const DEFAULT_URL = "http://127.0.0.1:5005";

/** Options for `new Cairn()`. */
export interface CairnOptions {
  /** Server URL (default: `CAIRN_URL`, else `http://127.0.0.1:5005`). */
  url?: string | undefined;
  /** Bearer token (default: `CAIRN_TOKEN`). */
  token?: string | undefined;
  /** A fetch implementation (default: the global one). */
  fetch?: typeof fetch;
  /** Per-request timeout in ms (default 60 s); for artifact transfers, the longest a transfer may stall. */
  timeoutMs?: number;
  /** Retries of transient failures (network, 5xx, 429). */
  retry?: Partial<RetryOptions>;
  /** How long logged data may wait before it is sent (default 1000 ms). */
  flushIntervalMs?: number;
  /** Per-request batch limits (default: the server's limits). */
  batchLimits?: Partial<BatchLimits>;
  /** Flush and end active runs when the process exits, is interrupted or crashes (default true). */
  handleExit?: boolean;
  /** How long those exit hooks wait for the server (default 10 s). */
  exitTimeoutMs?: number;
  /** Called for every batch the server refused (the next `flush()` also throws it). */
  onLogError?: (e: CairnError) => void;
  /** Most logged items held unacknowledged per run before `log()` throws RESOURCE_EXHAUSTED (default 1,000,000). */
  maxQueuedItems?: number;
}

/** Options for `cairn.startRun()`. */
export interface StartRunOptions {
  /**
   * The experiment: a name (created when missing) or an id, or `{ id }` / `{ name }` to be explicit.
   * Default: `CAIRN_EXPERIMENT_ID`, else `CAIRN_EXPERIMENT_NAME`, else "Default".
   */
  experiment?: string | { id: string } | { name: string };
  runName?: string;
  tags?: Record<string, string>;
  /** Record git, entry point, user, host, Node version and lockfile hash as tags (default true). */
  captureContext?: boolean | CaptureContextOptions;
  /** Start time in ms since the epoch (default: now). */
  startTime?: number;
}

/**
 * The Cairn client. Node-only (for the browser, use `ApiClient` from `@cairn/sdk/core`).
 * Every method throws `CairnError` with the server's code.
 * @example
 * import { Cairn } from "@cairn/sdk";
 * const cairn = new Cairn({ url: "http://127.0.0.1:5005" });
 * const run = await cairn.startRun({ experiment: "mnist" });
 * run.log({ params: { lr: 0.001 }, metrics: { loss: 0.3 }, step: 1 });
 * await run.end();
 */
export class Cairn {
  /** The low-level typed client (one method per route). */
  readonly client: ApiClient;
  readonly experiments: Experiments;
  readonly runs: Runs;
  readonly artifacts: Artifacts;
  /** The model registry: registered models, versions, aliases, `models:/` URIs, compare and download. */
  readonly models: Models;
  /** Datasets: versions of file trees, blob upload and cached download (`use`, `materialize`), lineage. */
  readonly datasets: Datasets;
  /** Managed deployments: a model's versions served by the Cairn server, with canary, shadow, history and rollback. */
  readonly deployments: Deployments;
  /** Model monitoring: delayed ground-truth labels for a deployment's predictions, and its performance over time. */
  readonly monitoring: Monitoring;
  readonly #opts: CairnOptions;
  /** Runs this client started or attached, newest last: `datasets.use()` records inputs on the newest one still open. */
  readonly #handles: Run[] = [];

  constructor(opts: CairnOptions = {}) {
    this.#opts = opts;
    const clientOpts: ConstructorParameters<typeof ApiClient>[0] = {
      url: opts.url || process.env.CAIRN_URL || DEFAULT_URL,
      token: opts.token ?? (process.env.CAIRN_TOKEN || undefined),
    };
    if (opts.fetch) clientOpts.fetch = opts.fetch;
    if (opts.timeoutMs !== undefined) clientOpts.timeoutMs = opts.timeoutMs;
    this.client = new ApiClient(clientOpts);
    const retry = opts.retry ?? {};
    this.experiments = new Experiments(this.client, retry);
    this.runs = new Runs(this.client, retry);
    this.artifacts = new Artifacts(this.client, opts.timeoutMs === undefined ? { retry } : { retry, idleTimeoutMs: opts.timeoutMs });
    this.models = new Models(this.client, { runs: this.runs, artifacts: this.artifacts }, opts.timeoutMs === undefined ? { retry } : { retry, idleTimeoutMs: opts.timeoutMs });
    const activeRun = () => this.#handles.findLast((r) => !r.ended)?.id;
    this.datasets = new Datasets(this.client, opts.timeoutMs === undefined ? { retry, activeRun } : { retry, idleTimeoutMs: opts.timeoutMs, activeRun });
    this.deployments = new Deployments(this.client, { retry });
    this.monitoring = new Monitoring(this.client, { retry });
  }

  /** The server URL this client talks to. */
  get url(): string {
    return this.client.baseUrl;
  }

  /**
   * Creates a run and returns a handle to log to it.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST for an unknown experiment id, INVALID_STATE for a deleted experiment
   * @example
   * const run = await cairn.startRun({ experiment: "churn", runName: "xgb-depth-6", tags: { team: "growth" } });
   */
  async startRun(opts: StartRunOptions = {}): Promise<Run> {
    const [experiment, context] = await Promise.all([
      this.#resolveExperiment(opts.experiment),
      opts.captureContext === false ? Promise.resolve({} as Record<string, string>) : captureRunContext(typeof opts.captureContext === "object" ? opts.captureContext : {}),
    ]);
    const body: { experimentId: string; runName?: string; userId?: string; startTime: number; tags: Record<string, string> } = {
      experimentId: experiment.experimentId,
      startTime: opts.startTime ?? Date.now(),
      tags: { ...context, ...opts.tags },
    };
    if (opts.runName !== undefined) body.runName = opts.runName;
    const user = context[CONTEXT_TAGS.user];
    if (user !== undefined) body.userId = user;
    const { run } = await this.client.api.createRun({ body });
    return this.#runHandle(run.info);
  }

  /**
   * A handle to an existing run, to log more to it (for example from a second process).
   * @throws CairnError RESOURCE_DOES_NOT_EXIST
   */
  async attachRun(runId: string): Promise<Run> {
    const run = await this.runs.get(runId);
    return this.#runHandle(run.info, run.data.params);
  }

  #runHandle(info: Run["info"], knownParams?: Record<string, string>): Run {
    const o = this.#opts;
    const runOpts: ConstructorParameters<typeof Run>[2] = {};
    if (knownParams) runOpts.knownParams = knownParams;
    if (o.flushIntervalMs !== undefined) runOpts.flushIntervalMs = o.flushIntervalMs;
    if (o.batchLimits !== undefined) runOpts.batchLimits = o.batchLimits;
    if (o.handleExit !== undefined) runOpts.handleExit = o.handleExit;
    if (o.exitTimeoutMs !== undefined) runOpts.exitTimeoutMs = o.exitTimeoutMs;
    if (o.onLogError !== undefined) runOpts.onError = o.onLogError;
    if (o.maxQueuedItems !== undefined) runOpts.maxQueuedItems = o.maxQueuedItems;
    const run = new Run(info, { runs: this.runs, artifacts: this.artifacts }, runOpts);
    // Ended handles are dropped so a long-lived client does not keep every run it ever made.
    this.#handles.splice(0, this.#handles.length, ...this.#handles.filter((r) => !r.ended), run);
    return run;
  }

  async #resolveExperiment(exp: StartRunOptions["experiment"]): Promise<Experiment> {
    if (exp === undefined) {
      const envId = process.env.CAIRN_EXPERIMENT_ID;
      if (envId) return this.experiments.get(envId);
      return this.experiments.getOrCreate(process.env.CAIRN_EXPERIMENT_NAME || "Default");
    }
    if (typeof exp === "object") {
      if ("id" in exp) return activeOrThrow(await this.experiments.get(exp.id));
      return this.experiments.getOrCreate(exp.name);
    }
    // A plain string: an existing name, else an existing id, else a new experiment of that name.
    try {
      return activeOrThrow(await this.experiments.getByName(exp));
    } catch (e) {
      if (!isCairnError(e) || e.code !== "RESOURCE_DOES_NOT_EXIST") throw e;
    }
    try {
      return activeOrThrow(await this.experiments.get(exp));
    } catch (e) {
      if (!isCairnError(e) || (e.status !== 404 && e.status !== 400)) throw e;
    }
    return this.experiments.getOrCreate(exp);
  }
}

function activeOrThrow(e: Experiment): Experiment {
  if (e.lifecycleStage === "deleted") {
    throw new CairnError("INVALID_STATE", `Experiment '${e.name}' (id ${e.experimentId}) is deleted; restore it first`);
  }
  return e;
}
