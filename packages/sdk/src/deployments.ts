import {
  CairnError,
  type CreateDeploymentRequest,
  type Deployment,
  type DeploymentHistoryEntry,
  type DeploymentStats,
  type UpdateDeploymentRequest,
} from "@cairn/contract";
import type { ApiClient } from "./core.js";
import { withRetry, type RetryOptions } from "./retry.js";

/** One tensor of an Open Inference Protocol v2 request or response. */
export interface InferTensor {
  name: string;
  datatype: string;
  shape: number[];
  /** Flat (row-major) or nested rows. */
  data: unknown[];
  parameters?: Record<string, unknown>;
}

/** An Open Inference Protocol v2 request body (`POST …/v2/models/{m}/infer`). */
export interface InferRequest {
  /** Echoed back and used as the request id (`x-request-id`). */
  id?: string;
  inputs: InferTensor[];
  outputs?: { name: string; parameters?: Record<string, unknown> }[];
  parameters?: Record<string, unknown>;
}

/** An Open Inference Protocol v2 response body. */
export interface InferResponse {
  model_name: string;
  model_version?: string;
  id?: string;
  outputs: InferTensor[];
  parameters?: Record<string, unknown>;
}

/** What `deployments.predict` and `deployments.invoke` return: the body and who answered. */
export interface Prediction<T> {
  /** The response body as the data plane sent it. */
  response: T;
  /** The request id (`x-request-id`): delayed labels join the inference log on it. */
  requestId: string | undefined;
  /** The arm that answered (`x-cairn-arm`): primary or canary (a shadow never answers). */
  arm: "primary" | "canary" | undefined;
  /** The model version that answered (`x-cairn-model-version`). */
  version: string | undefined;
}

/** Options for `deployments.predict` and `deployments.invoke`. */
export interface PredictOptions {
  /** Extra request headers, e.g. the deployment's sticky header (`{ "x-user-id": "u42" }`). */
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** Options for `deployments.waitUntilReady`. */
export interface WaitOptions {
  /** Give up after this long (default 120 s). */
  timeoutMs?: number;
  /** Between two polls (default 250 ms). */
  intervalMs?: number;
}

/** One page of a deployment's history, newest first. */
export interface DeploymentHistoryPage {
  history: DeploymentHistoryEntry[];
  /** Pass as `before` for the next (older) page; absent on the last page. */
  next?: number | undefined;
}

/** What `deployments.update` takes: fields given replace the current ones (`canary: null` removes the canary). */
export type DeploymentChange = UpdateDeploymentRequest;

/** What `deployments.create` takes. */
export type DeploymentCreateSpec = CreateDeploymentRequest;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The arms that failed to load with nothing serving in their place. */
function deadArms(d: Deployment): Deployment["arms"] {
  return d.arms.filter((a) => a.state === "failed" && a.servingVersion === null);
}

/**
 * Managed deployments: `cairn.deployments`. A deployment serves a registered model's version (a
 * fixed one or an alias it follows) on the Cairn server itself, with an optional canary taking a
 * share of the traffic, a shadow getting a copy of every request, and a history of every change
 * that can be rolled back. Predictions go to the data plane at `/deployments/{name}/…`. Every method
 * throws `CairnError` (RESOURCE_DOES_NOT_EXIST, RESOURCE_ALREADY_EXISTS, INVALID_PARAMETER_VALUE,
 * INVALID_STATE, PERMISSION_DENIED, …).
 * @example
 * await cairn.deployments.create({ name: "fraud", model: "fraud", primary: { alias: "champion" } });
 * await cairn.deployments.waitUntilReady("fraud");
 * const { response, arm, version } = await cairn.deployments.predict("fraud", { inputs: [{ name: "features", datatype: "FP32", shape: [1, 3], data: [1, 2, 3] }] });
 * await cairn.deployments.update("fraud", { canary: { version: 4, percent: 10 }, message: "try v4" });
 * await cairn.deployments.promoteCanary("fraud");
 */
export class Deployments {
  readonly #client: ApiClient;
  readonly #retry: Partial<RetryOptions>;

  /** @internal Use `cairn.deployments`. */
  constructor(client: ApiClient, opts: { retry?: Partial<RetryOptions> } = {}) {
    this.#client = client;
    this.#retry = opts.retry ?? {};
  }

  // ---------- control plane ----------

  /**
   * Creates a deployment; its models load in the background (see `waitUntilReady`).
   * @throws CairnError RESOURCE_ALREADY_EXISTS when the name is taken, RESOURCE_DOES_NOT_EXIST for an unknown model, version or alias, INVALID_PARAMETER_VALUE for a bad spec
   * @example await cairn.deployments.create({ name: "fraud", model: "fraud", primary: { version: 3 }, canary: { alias: "challenger", percent: 10 } });
   */
  async create(spec: DeploymentCreateSpec): Promise<Deployment> {
    return this.#client.api.createDeployment({ body: spec });
  }

  /** Gets a deployment: its spec, revision, state and each arm's state on the server. @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async get(name: string): Promise<Deployment> {
    return withRetry(() => this.#client.api.getDeployment({ params: { name } }), this.#retry);
  }

  /** Lists deployments, of one model with `model`. @throws CairnError INVALID_PARAMETER_VALUE for a bad model name */
  async list(opts: { model?: string } = {}): Promise<Deployment[]> {
    const query: { model?: string } = {};
    if (opts.model !== undefined) query.model = opts.model;
    return (await withRetry(() => this.#client.api.listDeployments({ query }), this.#retry)).deployments;
  }

  /**
   * Changes a deployment (a new revision in its history); fields given replace the current ones,
   * `canary: null` and `shadow: null` remove those arms.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST (deployment, version or alias), INVALID_PARAMETER_VALUE for a bad change
   * @example await cairn.deployments.update("fraud", { canary: { version: 4, percent: 50 }, message: "try v4 on half" });
   */
  async update(name: string, change: DeploymentChange): Promise<Deployment> {
    return this.#client.api.updateDeployment({ params: { name }, body: change });
  }

  /** Deletes a deployment: it stops serving; its history and inference log are kept. @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async delete(name: string): Promise<void> {
    await this.#client.api.deleteDeployment({ params: { name } });
  }

  /**
   * Makes the canary's version the primary and removes the canary.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST, INVALID_STATE when the deployment has no canary
   */
  async promoteCanary(name: string, opts: { message?: string } = {}): Promise<Deployment> {
    const body: { message?: string } = {};
    if (opts.message !== undefined) body.message = opts.message;
    return this.#client.api.promoteCanary({ params: { name }, body });
  }

  /**
   * Returns to the previous revision's state (or `toRevision`'s), recorded as a new revision.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST (deployment or revision), INVALID_STATE when there is nothing to roll back to
   * @example await cairn.deployments.rollback("fraud", { message: "v4 is slower" });
   */
  async rollback(name: string, opts: { toRevision?: number; message?: string } = {}): Promise<Deployment> {
    const body: { toRevision?: number; message?: string } = {};
    if (opts.toRevision !== undefined) body.toRevision = opts.toRevision;
    if (opts.message !== undefined) body.message = opts.message;
    return this.#client.api.rollbackDeployment({ params: { name }, body });
  }

  /**
   * One page of a deployment's changes, newest first: who, when, what, and the state before and after.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST, INVALID_PARAMETER_VALUE for a bad limit
   * @example const { history } = await cairn.deployments.history("fraud", { limit: 20 });
   */
  async history(name: string, opts: { limit?: number; before?: number } = {}): Promise<DeploymentHistoryPage> {
    const query: { limit?: number; before?: number } = {};
    if (opts.limit !== undefined) query.limit = opts.limit;
    if (opts.before !== undefined) query.before = opts.before;
    return withRetry(() => this.#client.api.getDeploymentHistory({ params: { name }, query }), this.#retry);
  }

  /**
   * Live traffic of a deployment on the server over the last `windowSeconds` (default 300): per-arm
   * requests, errors and latency, a per-second series, recent predictions.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST, INVALID_PARAMETER_VALUE for a window outside 10–3600 s
   */
  async stats(name: string, opts: { windowSeconds?: number } = {}): Promise<DeploymentStats> {
    const query: { windowSeconds?: number } = {};
    if (opts.windowSeconds !== undefined) query.windowSeconds = opts.windowSeconds;
    return withRetry(() => this.#client.api.getDeploymentStats({ params: { name }, query }), this.#retry);
  }

  /**
   * Polls a deployment until its state is `ready` (every arm loaded and warmed) and returns it.
   * @throws CairnError INVALID_STATE with the deployment's error when an arm failed to load and nothing serves in its place,
   * TEMPORARILY_UNAVAILABLE when it is not ready within `timeoutMs`, RESOURCE_DOES_NOT_EXIST
   * @example await cairn.deployments.waitUntilReady("fraud", { timeoutMs: 60_000 });
   */
  async waitUntilReady(name: string, opts: WaitOptions = {}): Promise<Deployment> {
    const timeoutMs = opts.timeoutMs ?? 120_000;
    const intervalMs = opts.intervalMs ?? 250;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const d = await this.get(name);
      if (d.state === "ready") return d;
      const dead = deadArms(d);
      if (d.state === "failed" || dead.length > 0) {
        const why = d.error ?? dead.find((a) => a.error)?.error ?? "an arm failed to load";
        throw new CairnError("INVALID_STATE", `Deployment '${name}' failed to load (${(dead.length ? dead : d.arms.filter((a) => a.state === "failed")).map((a) => `${a.arm} version ${a.version}`).join(", ") || d.state}): ${why}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        const arms = d.arms.map((a) => `${a.arm} ${a.state}`).join(", ");
        throw new CairnError("TEMPORARILY_UNAVAILABLE", `Deployment '${name}' is not ready after ${Math.round(timeoutMs / 1000)} s (state ${d.state}${arms ? `: ${arms}` : ""})`);
      }
      await sleep(Math.min(intervalMs, left));
    }
  }

  // ---------- data plane ----------

  /**
   * Sends an Open Inference Protocol v2 request to a deployment
   * (`POST /deployments/{name}/v2/models/{name}/infer`) and returns the response with the request
   * id, the arm and the model version that answered (from the `x-request-id`, `x-cairn-arm` and
   * `x-cairn-model-version` headers).
   * @throws CairnError RESOURCE_DOES_NOT_EXIST for an unknown deployment, INVALID_PARAMETER_VALUE for inputs that do not match the signature,
   * TEMPORARILY_UNAVAILABLE while nothing is loaded yet or the server cannot be reached
   * @example
   * const { response, arm } = await cairn.deployments.predict("fraud", { inputs: [{ name: "features", datatype: "FP32", shape: [1, 3], data: [1, 2, 3] }] }, { headers: { "x-user-id": "u42" } });
   */
  async predict(name: string, body: InferRequest, opts: PredictOptions = {}): Promise<Prediction<InferResponse>> {
    const seg = encodeURIComponent(name);
    return this.#post(`${this.#client.baseUrl}/deployments/${seg}/v2/models/${seg}/infer`, body, opts);
  }

  /**
   * Sends an MLflow scoring request (`dataframe_split`, `dataframe_records`, `instances` or `inputs`)
   * to a deployment (`POST /deployments/{name}/invocations`); the response is MLflow's `{ predictions }`.
   * @throws CairnError as `predict`
   * @example const { response } = await cairn.deployments.invoke("fraud", { instances: [[1, 2, 3]] });
   */
  async invoke(name: string, body: unknown, opts: PredictOptions = {}): Promise<Prediction<{ predictions: unknown }>> {
    return this.#post(`${this.#client.baseUrl}/deployments/${encodeURIComponent(name)}/invocations`, body, opts);
  }

  async #post<T>(url: string, body: unknown, opts: PredictOptions): Promise<Prediction<T>> {
    const init: RequestInit = { method: "POST", body: JSON.stringify(body), headers: { ...opts.headers, "content-type": "application/json" } };
    if (opts.signal) init.signal = opts.signal;
    const res = await this.#client.fetchRaw(url, init);
    const response = (await res.json()) as T;
    const arm = res.headers.get("x-cairn-arm");
    return {
      response,
      requestId: res.headers.get("x-request-id") ?? undefined,
      arm: arm === "primary" || arm === "canary" ? arm : undefined,
      version: res.headers.get("x-cairn-model-version") ?? undefined,
    };
  }
}
