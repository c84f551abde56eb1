import { mkdir, mkdtemp, readdir, rename, rm, stat } from "node:fs/promises";
import { basename, join, resolve, sep } from "node:path";
import {
  CairnError,
  isCairnError,
  type AliasHistoryEntry,
  type CompatibilityResponse,
  type ModelCardInput,
  type ModelCardResponse,
  type ModelSignature,
  type ModelVersion,
  type RetirementState,
  type RegisteredModel,
  type Run as RunData,
  type SearchModelVersionsRequest,
  type SearchRegisteredModelsRequest,
  apiRoutes,
} from "@cairn/contract";
import { downloadToFile, eachLimit, joinArtifactPath, localError, type Artifacts, type TransferOptions } from "./artifacts.js";
import type { ApiClient } from "./core.js";
import { Promotions } from "./promotions.js";
import { withRetry, type RetryOptions } from "./retry.js";
import type { Runs } from "./runs.js";
import { logModelPackage, type LoggedModel, type LogModelOptions, type ModelSource } from "./packaging.js";

/** Options for `models.create`. */
export interface CreateModelOptions {
  description?: string;
  tags?: Record<string, string>;
}

/** Options for `models.search` and `models.searchVersions`. */
export interface SearchModelsOptions {
  /** The registry filter grammar, e.g. `name LIKE 'fraud-%'`, `tags.team = 'risk'` (versions: also `run_id`, `version_number > 2`). */
  filter?: string;
  /** e.g. `["name ASC"]`, `["version_number DESC"]`. */
  orderBy?: string[];
  /** Page size (server default 100 for models, 10,000 for versions). */
  maxResults?: number;
  pageToken?: string;
}

/** One page of registered models. */
export interface ModelsPage {
  registeredModels: RegisteredModel[];
  nextPageToken?: string | undefined;
}

/** One page of model versions. */
export interface ModelVersionsPage {
  modelVersions: ModelVersion[];
  nextPageToken?: string | undefined;
}

/** What `models.createVersion` takes. */
export interface CreateModelVersionOptions {
  /** The model's name (it must exist; see `models.create`). */
  name: string;
  /**
   * Where the version's files are: `runs:/<run_id>/<path>` or an `mlflow-artifacts:` URI in the
   * server's artifact store.
   */
  source: string;
  /** The run that produced it (default: the run of a `runs:/` source). */
  runId?: string;
  description?: string;
  tags?: Record<string, string>;
  /** The version's input/output signature (see `models.setSignature`). */
  signature?: ModelSignature;
}

/** An alias's history: changes newest first and, with `at`, the version it pointed to then. */
export interface AliasHistory {
  history: AliasHistoryEntry[];
  /** Only with `at`: the version the alias pointed to at that instant (null: none). */
  versionAt?: string | null | undefined;
}

/** One version in `models.compare`: the version with its source run's params and latest metrics. */
export interface ComparedVersion {
  version: ModelVersion;
  /** The source run (null when the version has no run id). */
  run: RunData | null;
  params: Record<string, string>;
  /** Latest value of each metric of the source run. */
  metrics: Record<string, number>;
}

/** A parsed `models:/` URI. */
export type ModelUri = { name: string; version: number } | { name: string; alias: string } | { name: string; stage: string } | { name: string; latest: true };

/** What `models.download` returns. */
export interface DownloadedModel {
  /** The version that was downloaded. */
  version: ModelVersion;
  /** The artifact URI its files were read from. */
  artifactUri: string;
  /** The local directory (for a directory version) or file (for a single-file version). */
  path: string;
}

const STAGES = ["none", "staging", "production", "archived"];

/**
 * Parses `models:/<name>/<version>`, `models:/<name>@<alias>`, `models:/<name>/latest` and
 * `models:/<name>/<stage>` without asking the server.
 * @throws CairnError INVALID_PARAMETER_VALUE for anything else
 * @example parseModelUri("models:/fraud@champion") // { name: "fraud", alias: "champion" }
 */
export function parseModelUri(uri: string): ModelUri {
  const m = /^models:\/(?!\/)(.+?)(?:@([^/@]+)|\/([^/@]+))$/.exec(uri);
  if (!m) throw new CairnError("INVALID_PARAMETER_VALUE", `Invalid model URI '${uri}': expected models:/<name>/<version>, models:/<name>@<alias>, models:/<name>/latest or models:/<name>/<stage>`);
  const name = m[1]!;
  if (m[2] !== undefined) return { name, alias: m[2] };
  const ref = m[3]!;
  if (/^\d+$/.test(ref) && Number(ref) >= 1 && Number.isSafeInteger(Number(ref))) return { name, version: Number(ref) };
  if (ref.toLowerCase() === "latest") return { name, latest: true };
  if (STAGES.includes(ref.toLowerCase())) return { name, stage: ref };
  throw new CairnError("INVALID_PARAMETER_VALUE", `Invalid model URI '${uri}': '${ref}' is not a version number, a stage or 'latest'`);
}

const PROXY_SCHEME = "mlflow-artifacts:";
const PROXY_LIST = "/api/2.0/mlflow-artifacts/artifacts";

/** The store path of an `mlflow-artifacts:` URI (`mlflow-artifacts://host/1/r/artifacts/m` → `1/r/artifacts/m`). */
function proxiedPath(uri: string): string {
  if (!uri.startsWith(PROXY_SCHEME)) {
    throw new CairnError("INVALID_PARAMETER_VALUE", `Artifacts at '${uri}' are not in the server's artifact store; only '${PROXY_SCHEME}' locations can be downloaded`);
  }
  let rest = uri.slice(PROXY_SCHEME.length);
  if (rest.startsWith("//")) rest = rest.slice(2).replace(/^[^/]*/, "");
  return joinArtifactPath(rest);
}

/** The local path for a relative path, refusing anything that would land outside `root`. */
function target(root: string, rel: string): string {
  const p = resolve(root, ...joinArtifactPath(rel).split("/").filter(Boolean));
  if (p !== root && !p.startsWith(root + sep)) {
    throw new CairnError("INVALID_PARAMETER_VALUE", `Artifact path '${rel}' would be written outside '${root}'`);
  }
  return p;
}

/**
 * The model registry: `cairn.models`. Registered models, their numbered versions, tags, aliases
 * (with their history), `models:/` URIs, comparison and download. Every method throws `CairnError`
 * (RESOURCE_DOES_NOT_EXIST, RESOURCE_ALREADY_EXISTS, INVALID_PARAMETER_VALUE, …).
 * @example
 * await cairn.models.create("fraud");
 * const v = await cairn.models.createVersion({ name: "fraud", source: `runs:/${runId}/model` });
 * await cairn.models.setAlias("fraud", "champion", v.version);
 * await cairn.models.download("models:/fraud@champion", "./fraud-model");
 */
export class Models {
  readonly #client: ApiClient;
  readonly #retry: Partial<RetryOptions>;
  readonly #runs: Runs;
  readonly #artifacts: Artifacts;
  readonly #idleMs: number;
  /** Protected aliases, validation gates and promotion requests. */
  readonly promotions: Promotions;

  constructor(client: ApiClient, deps: { runs: Runs; artifacts: Artifacts }, opts: { retry?: Partial<RetryOptions>; idleTimeoutMs?: number } = {}) {
    this.#client = client;
    this.#runs = deps.runs;
    this.#artifacts = deps.artifacts;
    this.#retry = opts.retry ?? {};
    this.#idleMs = opts.idleTimeoutMs ?? 60_000;
    this.promotions = new Promotions(client, this.#retry);
  }

  // ---------- registered models ----------

  /**
   * Creates a registered model.
   * @throws CairnError RESOURCE_ALREADY_EXISTS when the name is taken, INVALID_PARAMETER_VALUE for a bad name or tag
   * @example const model = await cairn.models.create("fraud", { description: "card fraud", tags: { team: "risk" } });
   */
  async create(name: string, opts: CreateModelOptions = {}): Promise<RegisteredModel> {
    const body: { name: string; description?: string; tags?: Record<string, string> } = { name };
    if (opts.description !== undefined) body.description = opts.description;
    if (opts.tags !== undefined) body.tags = opts.tags;
    return (await this.#client.api.createRegisteredModel({ body })).registeredModel;
  }

  /** Gets a registered model with its latest versions, tags and aliases. @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async get(name: string): Promise<RegisteredModel> {
    return (await withRetry(() => this.#client.api.getRegisteredModel({ params: { name } }), this.#retry)).registeredModel;
  }

  /** Renames a model (versions, tags, aliases and alias history follow). @throws CairnError RESOURCE_DOES_NOT_EXIST, RESOURCE_ALREADY_EXISTS */
  async rename(name: string, newName: string): Promise<RegisteredModel> {
    return (await this.#client.api.renameRegisteredModel({ params: { name }, body: { newName } })).registeredModel;
  }

  /** Sets a model's description. @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async update(name: string, patch: { description: string }): Promise<RegisteredModel> {
    return (await withRetry(() => this.#client.api.updateRegisteredModel({ params: { name }, body: { description: patch.description } }), this.#retry)).registeredModel;
  }

  /** Deletes a model with all its versions, tags, aliases and alias history (not restorable). @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async delete(name: string): Promise<void> {
    await this.#client.api.deleteRegisteredModel({ params: { name } });
  }

  /**
   * One page of registered models.
   * @throws CairnError INVALID_PARAMETER_VALUE for a bad filter, order or page token
   */
  async search(opts: SearchModelsOptions = {}): Promise<ModelsPage> {
    const body: SearchRegisteredModelsRequest = {};
    if (opts.filter !== undefined) body.filter = opts.filter;
    if (opts.orderBy !== undefined) body.orderBy = opts.orderBy;
    if (opts.maxResults !== undefined) body.maxResults = opts.maxResults;
    if (opts.pageToken !== undefined) body.pageToken = opts.pageToken;
    return withRetry(() => this.#client.api.searchRegisteredModels({ body }), this.#retry);
  }

  /**
   * Every matching registered model, fetching pages as it goes. `limit` stops after that many.
   * @example for await (const m of cairn.models.searchAll({ filter: "tags.team = 'risk'" })) console.log(m.name);
   */
  async *searchAll(opts: Omit<SearchModelsOptions, "pageToken"> & { limit?: number } = {}): AsyncGenerator<RegisteredModel, void, undefined> {
    const { limit = Infinity, ...rest } = opts;
    let pageToken: string | undefined;
    let n = 0;
    do {
      const page = await this.search(pageToken === undefined ? rest : { ...rest, pageToken });
      for (const m of page.registeredModels) {
        if (n++ >= limit) return;
        yield m;
      }
      pageToken = page.nextPageToken || undefined;
    } while (pageToken !== undefined && n < limit);
  }

  /** Sets (or overwrites) a model tag. @throws CairnError RESOURCE_DOES_NOT_EXIST, INVALID_PARAMETER_VALUE */
  async setTag(name: string, key: string, value: string): Promise<void> {
    await withRetry(() => this.#client.api.setRegisteredModelTag({ params: { name }, body: { key, value } }), this.#retry);
  }

  /** Deletes a model tag. @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async deleteTag(name: string, key: string): Promise<void> {
    await withRetry(() => this.#client.api.deleteRegisteredModelTag({ params: { name }, query: { key } }), this.#retry);
  }

  // ---------- aliases ----------

  /**
   * Points an alias at a version (moving it if it named another); the change is recorded in the alias history.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST (model or version), INVALID_PARAMETER_VALUE for a reserved alias (`latest`, `v3`, `3`)
   * @example await cairn.models.setAlias("fraud", "champion", 3);
   */
  async setAlias(name: string, alias: string, version: number | string): Promise<void> {
    const v = toVersion(version);
    await withRetry(() => this.#client.api.setAlias({ params: { name, alias }, body: { version: v } }), this.#retry);
  }

  /** Deletes an alias (recorded in the alias history). @throws CairnError RESOURCE_DOES_NOT_EXIST for an unknown model */
  async deleteAlias(name: string, alias: string): Promise<void> {
    await withRetry(() => this.#client.api.deleteAlias({ params: { name, alias } }), this.#retry);
  }

  /**
   * The version an alias points to.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST (model or alias)
   * @example const champion = await cairn.models.getByAlias("fraud", "champion");
   */
  async getByAlias(name: string, alias: string): Promise<ModelVersion> {
    return (await withRetry(() => this.#client.api.getAlias({ params: { name, alias } }), this.#retry)).modelVersion;
  }

  /**
   * An alias's changes, newest first (`fromVersion` null: created; `toVersion` null: deleted). With `at`
   * (ms since the epoch, or a Date), also the version it pointed to at that instant.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST for an unknown model
   * @example
   * const { history } = await cairn.models.aliasHistory("fraud", "champion");
   * const { versionAt } = await cairn.models.aliasHistory("fraud", "champion", { at: Date.parse("2026-01-01") });
   */
  async aliasHistory(name: string, alias: string, opts: { at?: number | Date } = {}): Promise<AliasHistory> {
    const query = opts.at === undefined ? {} : { at: opts.at instanceof Date ? opts.at.getTime() : opts.at };
    return withRetry(() => this.#client.api.getAliasHistory({ params: { name, alias }, query }), this.#retry);
  }

  // ---------- versions ----------

  /**
   * Registers a new version of an existing model (numbered one above its highest ever). A `runs:/`
   * source records its run as the version's `runId` unless `runId` is given.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST (model or run), INVALID_PARAMETER_VALUE (source outside the server's artifact store)
   * @example
   * const v = await cairn.models.createVersion({ name: "fraud", source: `runs:/${run.id}/model`, tags: { framework: "xgboost" } });
   * console.log(v.version); // "1"
   */
  async createVersion(opts: CreateModelVersionOptions): Promise<ModelVersion> {
    const body: { source: string; runId?: string; description?: string; tags?: Record<string, string>; signature?: ModelSignature } = { source: opts.source };
    const runId = opts.runId ?? /^runs:\/([^/]+)/.exec(opts.source)?.[1];
    if (runId !== undefined) body.runId = runId;
    if (opts.description !== undefined) body.description = opts.description;
    if (opts.tags !== undefined) body.tags = opts.tags;
    if (opts.signature !== undefined) body.signature = opts.signature;
    return (await this.#client.api.createModelVersion({ params: { name: opts.name }, body })).modelVersion;
  }

  /**
   * Packages a model into a run's artifacts: its files under `artifactPath` (default `model`) and an
   * MLflow-compatible `MLmodel` naming its flavor (`onnx` for `{onnx: file}`, `cairn_js` for
   * `{jsModule: dir, entry?}`) and signature. Returns the `runs:/` source to register.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST (run or local path), INVALID_PARAMETER_VALUE, INVALID_STATE (run not active)
   * @example const { source } = await cairn.models.logModel(run.id, { onnx: "./model.onnx" });
   */
  async logModel(runId: string, model: ModelSource, opts: LogModelOptions = {}): Promise<LoggedModel> {
    return logModelPackage(this.#artifacts, runId, model, opts);
  }

  /**
   * Logs a model into a run (as `logModel` does) and registers it as a new version of `name`,
   * creating the model when it does not exist. The server reads the package: the version is READY
   * with its flavors (and a signature: the given one, else the ONNX model's), or FAILED_REGISTRATION
   * with the reason in `statusMessage` when the package does not validate.
   * @throws CairnError as `logModel` and `createVersion` do
   * @example const v = await cairn.models.register("fraud", { runId: run.id, model: { onnx: "./model.onnx" } });
   */
  async register(name: string, opts: LogModelOptions & { runId: string; model: ModelSource; description?: string; tags?: Record<string, string> }): Promise<ModelVersion> {
    const logged = await this.logModel(opts.runId, opts.model, opts);
    try {
      await this.create(name);
    } catch (e) {
      if (!isCairnError(e) || e.code !== "RESOURCE_ALREADY_EXISTS") throw e;
    }
    const req: CreateModelVersionOptions = { name, source: logged.source, runId: opts.runId };
    if (opts.description !== undefined) req.description = opts.description;
    if (opts.tags !== undefined) req.tags = opts.tags;
    return this.createVersion(req);
  }

  /** Gets a model version. @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async getVersion(name: string, version: number | string): Promise<ModelVersion> {
    const v = toVersion(version);
    return (await withRetry(() => this.#client.api.getModelVersion({ params: { name, version: v } }), this.#retry)).modelVersion;
  }

  /** Sets a version's description. @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async updateVersion(name: string, version: number | string, patch: { description: string }): Promise<ModelVersion> {
    const v = toVersion(version);
    return (await withRetry(() => this.#client.api.updateModelVersion({ params: { name, version: v }, body: { description: patch.description } }), this.#retry)).modelVersion;
  }

  /** Deletes a version (its aliases go too; its number is never reused). @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async deleteVersion(name: string, version: number | string): Promise<void> {
    const v = toVersion(version);
    await this.#client.api.deleteModelVersion({ params: { name, version: v } });
  }

  /**
   * One page of model versions (across models; filter with `name = '…'` for one model).
   * @throws CairnError INVALID_PARAMETER_VALUE for a bad filter, order or page token
   */
  async searchVersions(opts: SearchModelsOptions = {}): Promise<ModelVersionsPage> {
    const body: SearchModelVersionsRequest = {};
    if (opts.filter !== undefined) body.filter = opts.filter;
    if (opts.orderBy !== undefined) body.orderBy = opts.orderBy;
    if (opts.maxResults !== undefined) body.maxResults = opts.maxResults;
    if (opts.pageToken !== undefined) body.pageToken = opts.pageToken;
    return withRetry(() => this.#client.api.searchModelVersions({ body }), this.#retry);
  }

  /**
   * Every matching model version, fetching pages as it goes. `limit` stops after that many.
   * @example for await (const v of cairn.models.searchVersionsAll({ filter: "name = 'fraud'", orderBy: ["version_number DESC"] })) console.log(v.version);
   */
  async *searchVersionsAll(opts: Omit<SearchModelsOptions, "pageToken"> & { limit?: number } = {}): AsyncGenerator<ModelVersion, void, undefined> {
    const { limit = Infinity, ...rest } = opts;
    let pageToken: string | undefined;
    let n = 0;
    do {
      const page = await this.searchVersions(pageToken === undefined ? rest : { ...rest, pageToken });
      for (const v of page.modelVersions) {
        if (n++ >= limit) return;
        yield v;
      }
      pageToken = page.nextPageToken || undefined;
    } while (pageToken !== undefined && n < limit);
  }

  /** Sets (or overwrites) a version tag. @throws CairnError RESOURCE_DOES_NOT_EXIST, INVALID_PARAMETER_VALUE */
  async setVersionTag(name: string, version: number | string, key: string, value: string): Promise<void> {
    const v = toVersion(version);
    await withRetry(() => this.#client.api.setModelVersionTag({ params: { name, version: v }, body: { key, value } }), this.#retry);
  }

  /** Deletes a version tag. @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async deleteVersionTag(name: string, version: number | string, key: string): Promise<void> {
    const v = toVersion(version);
    await withRetry(() => this.#client.api.deleteModelVersionTag({ params: { name, version: v }, query: { key } }), this.#retry);
  }

  /**
   * The `mlflow-artifacts:` URI a version's files are read from (a `runs:/` source resolved to its run's artifacts).
   * @throws CairnError RESOURCE_DOES_NOT_EXIST
   */
  async getDownloadUri(name: string, version: number | string): Promise<string> {
    const v = toVersion(version);
    return (await withRetry(() => this.#client.api.getModelVersionDownloadUri({ params: { name, version: v } }), this.#retry)).artifactUri;
  }

  // ---------- governance: signatures, compatibility, cards, retirement ----------

  /**
   * Sets (null: clears) a version's input/output signature. Tensor names must be unique within
   * inputs and within outputs; `-1` in a shape is a dynamic dimension.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST, INVALID_PARAMETER_VALUE for a malformed signature (nothing changes)
   * @example await cairn.models.setSignature("fraud", 3, { inputs: [{ name: "x", dtype: "float32", shape: [-1, 4] }], outputs: [{ name: "p", dtype: "float32", shape: [-1] }] });
   */
  async setSignature(name: string, version: number | string, signature: ModelSignature | null): Promise<ModelVersion> {
    const v = toVersion(version);
    return (await withRetry(() => this.#client.api.setModelVersionSignature({ params: { name, version: v }, body: { signature } }), this.#retry)).modelVersion;
  }

  /**
   * Whether version `to` can replace version `from` for callers of `from`'s signature, with every
   * finding (removed, renamed or added inputs, dtype and shape changes), each marked breaking or not.
   * `compatible` is false when either version has no signature.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST
   * @example const { compatible, findings } = await cairn.models.compatibility("fraud", 2, 3);
   */
  async compatibility(name: string, from: number | string, to: number | string): Promise<CompatibilityResponse> {
    const query = { from: toVersion(from), to: toVersion(to) };
    return withRetry(() => this.#client.api.getCompatibility({ params: { name }, query }), this.#retry);
  }

  /**
   * A model's card; with `version` (else the card's own `version`), `evaluationResults` holds that
   * version's source-run latest metrics.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST (model, version, or no card set)
   */
  async getCard(name: string, opts: { version?: number | string } = {}): Promise<ModelCardResponse> {
    const query = opts.version === undefined ? {} : { version: toVersion(opts.version) };
    return withRetry(() => this.#client.api.getModelCard({ params: { name }, query }), this.#retry);
  }

  /**
   * Sets (replaces) a model's card.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST, INVALID_PARAMETER_VALUE for a field over its limit
   * @example await cairn.models.setCard("fraud", { intendedUse: "Score card payments", riskClass: "high", owners: ["ada"] });
   */
  async setCard(name: string, card: ModelCardInput): Promise<ModelCardResponse> {
    return withRetry(() => this.#client.api.setModelCard({ params: { name }, body: card }), this.#retry);
  }

  /** A model's card rendered as Markdown (see `getCard`). @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async getCardMarkdown(name: string, opts: { version?: number | string } = {}): Promise<string> {
    const query = opts.version === undefined ? undefined : { version: toVersion(opts.version) };
    const url = this.#client.url(apiRoutes.getModelCardMarkdown, { name }, query);
    return withRetry(async () => (await this.#client.fetchRaw(url, { headers: { accept: "text/markdown" } })).text(), this.#retry);
  }

  /**
   * Retires a version: `deprecated` (still usable) or `archived` (takes no new alias; aliases it has stay).
   * @throws CairnError RESOURCE_DOES_NOT_EXIST, INVALID_PARAMETER_VALUE
   * @example await cairn.models.retire("fraud", 1, { state: "archived", reason: "feature drift" });
   */
  async retire(name: string, version: number | string, opts: { state: RetirementState; reason: string }): Promise<ModelVersion> {
    const v = toVersion(version);
    return (await withRetry(() => this.#client.api.retireModelVersion({ params: { name, version: v }, body: { state: opts.state, reason: opts.reason } }), this.#retry)).modelVersion;
  }

  /** Clears a version's retirement. @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async unretire(name: string, version: number | string): Promise<ModelVersion> {
    const v = toVersion(version);
    return (await withRetry(() => this.#client.api.unretireModelVersion({ params: { name, version: v } }), this.#retry)).modelVersion;
  }

  // ---------- URIs, comparison, download ----------

  /**
   * The version a `models:/` URI names: `models:/<name>/<version>`, `models:/<name>@<alias>`,
   * `models:/<name>/latest` (the highest version) or `models:/<name>/<stage>`.
   * @throws CairnError INVALID_PARAMETER_VALUE for a malformed URI, RESOURCE_DOES_NOT_EXIST
   * @example const v = await cairn.models.resolve("models:/fraud@champion");
   */
  async resolve(uri: string): Promise<ModelVersion> {
    const ref = parseModelUri(uri);
    if ("version" in ref) return this.getVersion(ref.name, ref.version);
    if ("alias" in ref) return this.getByAlias(ref.name, ref.alias);
    const model = await this.get(ref.name);
    const stage = "stage" in ref ? ref.stage.toLowerCase() : undefined;
    const candidates = stage === undefined ? model.latestVersions : model.latestVersions.filter((v) => v.currentStage.toLowerCase() === stage);
    const best = candidates.reduce<ModelVersion | undefined>((b, v) => (b && Number(b.version) > Number(v.version) ? b : v), undefined);
    if (!best) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Registered model '${ref.name}' has no ${stage === undefined ? "versions" : `version in stage '${(ref as { stage: string }).stage}'`}`);
    return best;
  }

  /**
   * Versions of one model side by side: each with its source run's params and latest metrics
   * (empty for a version without a run id). Versions come back in the order asked.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST for an unknown model or version (a deleted source run reads as `run: null`)
   * @example
   * const [a, b] = await cairn.models.compare("fraud", [1, 2]);
   * console.log(a.params.lr, b.params.lr, a.metrics.auc, b.metrics.auc);
   */
  async compare(name: string, versions: (number | string)[]): Promise<ComparedVersion[]> {
    const list = await Promise.all(versions.map((v) => this.getVersion(name, v)));
    const runIds = [...new Set(list.map((v) => v.runId).filter(Boolean))];
    const runs = new Map<string, RunData | null>();
    await Promise.all(
      runIds.map(async (id) => {
        try {
          runs.set(id, await this.#runs.get(id));
        } catch (e) {
          if (isCairnError(e) && e.code === "RESOURCE_DOES_NOT_EXIST") runs.set(id, null);
          else throw e;
        }
      }),
    );
    return list.map((version) => {
      const run = (version.runId && runs.get(version.runId)) || null;
      const metrics: Record<string, number> = {};
      for (const m of run?.data.metrics ?? []) metrics[m.key] = m.value;
      return { version, run, params: { ...(run?.data.params ?? {}) }, metrics };
    });
  }

  /**
   * Downloads a model version's files into `destDir`: `models:/fraud@champion` whose source is a
   * run's `model` directory writes `destDir/MLmodel`, `destDir/model.pkl`, …; a single-file version
   * writes `destDir/<file name>`. Files stream to temporary files renamed into place. Accepts any
   * `models:/` URI that `resolve` does.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST (model, version, alias or files), INVALID_PARAMETER_VALUE
   * @example
   * const { path, version } = await cairn.models.download("models:/fraud@champion", "./fraud", { onProgress: (d, t) => console.log(d, t) });
   */
  async download(modelUri: string, destDir: string, opts: TransferOptions = {}): Promise<DownloadedModel> {
    const version = await this.resolve(modelUri);
    const artifactUri = await this.getDownloadUri(version.name, version.version);
    const root = resolve(destDir);
    const underRun = await this.#runArtifactPath(artifactUri, version.runId);
    const path = underRun ? await this.#downloadFromRun(underRun.runId, underRun.path, root, opts) : await this.#downloadProxied(proxiedPath(artifactUri), root, opts);
    return { version, artifactUri, path };
  }

  /** When `uri` lies under a run's artifact root: that run and the path within its artifacts. */
  async #runArtifactPath(uri: string, versionRunId: string): Promise<{ runId: string; path: string } | undefined> {
    if (!uri.startsWith(PROXY_SCHEME)) return undefined;
    const key = proxiedPath(uri);
    const fromUri = /^[^/]+\/([^/]+)\/artifacts(?:\/|$)/.exec(key)?.[1];
    for (const runId of new Set([versionRunId, fromUri].filter((x): x is string => !!x))) {
      let rootUri: string;
      try {
        rootUri = (await this.#runs.get(runId)).info.artifactUri;
      } catch (e) {
        if (isCairnError(e) && (e.code === "RESOURCE_DOES_NOT_EXIST" || e.status === 404)) continue;
        throw e;
      }
      if (!rootUri.startsWith(PROXY_SCHEME)) continue;
      const runKey = proxiedPath(rootUri);
      if (key === runKey) return { runId, path: "" };
      if (key.startsWith(`${runKey}/`)) return { runId, path: key.slice(runKey.length + 1) };
    }
    return undefined;
  }

  /** Downloads a run artifact path so that its contents (or the file) land directly in `root`. */
  async #downloadFromRun(runId: string, path: string, root: string, opts: TransferOptions): Promise<string> {
    if (path === "") {
      await this.#artifacts.download(runId, "", root, opts);
      return root;
    }
    // `artifacts.download` keeps the artifact path; stage it beside the target, then move it into place.
    await mkdir(root, { recursive: true }).catch((e: unknown) => {
      throw localError(e, root);
    });
    const stage = await mkdtemp(join(root, ".cairn-download-"));
    try {
      const got = await this.#artifacts.download(runId, path, stage, opts);
      const st = await stat(got);
      if (!st.isDirectory()) {
        const dest = join(root, basename(got));
        await rename(got, dest).catch((e: unknown) => {
          throw localError(e, dest);
        });
        return dest;
      }
      await moveInto(got, root);
      return root;
    } finally {
      await rm(stage, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  /** Downloads an `mlflow-artifacts:` location through the server's proxied artifact routes. */
  async #downloadProxied(key: string, root: string, opts: TransferOptions): Promise<string> {
    const files = await this.#listProxied(key, "");
    if (files.length === 0) {
      // A file, or nothing (the GET says which).
      const local = target(root, basename(key));
      let done = 0;
      const size = await downloadToFile(this.#client, this.#proxiedUrl(key), key, local, (n, total) => {
        done += n;
        opts.onProgress?.(done, total ?? done);
      }, { retry: this.#retry, idleTimeoutMs: this.#idleMs });
      opts.onProgress?.(size, size);
      return local;
    }
    await mkdir(root, { recursive: true }).catch((e: unknown) => {
      throw localError(e, root);
    });
    const fileEntries = files.filter((f) => !f.isDir);
    for (const d of files.filter((f) => f.isDir)) await mkdir(target(root, d.rel), { recursive: true });
    const total = fileEntries.reduce((n, f) => n + (f.size ?? 0), 0);
    let done = 0;
    opts.onProgress?.(0, total);
    await eachLimit(fileEntries, opts.concurrency ?? 4, async (f) => {
      const local = target(root, f.rel);
      await downloadToFile(this.#client, this.#proxiedUrl(`${key}/${f.rel}`), f.rel, local, (n) => {
        done += n;
        opts.onProgress?.(done, Math.max(total, done));
      }, { retry: this.#retry, idleTimeoutMs: this.#idleMs });
    });
    return root;
  }

  /** Every file (and empty directory) under `key/rel`, with paths relative to `key`. */
  async #listProxied(key: string, rel: string): Promise<{ rel: string; isDir: boolean; size: number | undefined }[]> {
    const dir = rel ? `${key}/${rel}` : key;
    const url = `${this.#client.baseUrl}${PROXY_LIST}?${new URLSearchParams({ path: dir }).toString()}`;
    const body = await withRetry(async () => (await (await this.#client.fetchRaw(url)).json()) as { files?: { path: string; is_dir?: boolean; file_size?: number | string }[] }, this.#retry);
    const out: { rel: string; isDir: boolean; size: number | undefined }[] = [];
    for (const f of body.files ?? []) {
      let p = joinArtifactPath(f.path);
      // Entries may be named relative to the listed directory or to the store root.
      if (p.startsWith(`${dir}/`)) p = p.slice(dir.length + 1);
      if (p === "" || p === dir) continue;
      const childRel = joinArtifactPath(rel, p);
      if (f.is_dir) {
        const below = await this.#listProxied(key, childRel);
        if (below.length === 0) out.push({ rel: childRel, isDir: true, size: undefined });
        else out.push(...below);
      } else {
        out.push({ rel: childRel, isDir: false, size: f.file_size === undefined ? undefined : Number(f.file_size) });
      }
    }
    return out;
  }

  #proxiedUrl(key: string): string {
    return `${this.#client.baseUrl}${PROXY_LIST}/${joinArtifactPath(key).split("/").map(encodeURIComponent).join("/")}`;
  }
}

/** A version number from a number or a decimal string. @throws CairnError INVALID_PARAMETER_VALUE */
function toVersion(v: number | string): number {
  const n = typeof v === "number" ? v : /^\s*\d+\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new CairnError("INVALID_PARAMETER_VALUE", `Model version must be a positive integer, got '${v}'`);
  return n;
}

/** Moves the contents of directory `src` into `dest` (merging directories, replacing files). */
async function moveInto(src: string, dest: string): Promise<void> {
  await mkdir(dest, { recursive: true }).catch((e: unknown) => {
    throw localError(e, dest);
  });
  for (const ent of await readdir(src, { withFileTypes: true })) {
    const from = join(src, ent.name);
    const to = join(dest, ent.name);
    if (ent.isDirectory()) {
      const existing = await stat(to).catch(() => undefined);
      if (existing?.isDirectory()) {
        await moveInto(from, to);
        continue;
      }
      if (existing) await rm(to, { recursive: true, force: true });
    }
    await rename(from, to).catch((e: unknown) => {
      throw localError(e, to);
    });
  }
}
