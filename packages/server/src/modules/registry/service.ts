import { CairnError, isCairnError, REGISTRY_LIMITS, type AliasHistoryEntry, type CardEvaluationResults, type CompatibilityResponse, type ModelCard, type ModelCardResponse, type ModelSignature, type ModelStage, type ModelVersion, type RegisteredModel } from "@cairn/contract";
import type * as C from "@cairn/contract";
import type { z } from "zod";
import { safeBlobPrefix } from "../../platform/blob/safe-key.js";
import { decodePageToken, encodePageToken } from "../tracking/search/filter-parser.js";
import { PROXY_SCHEME, proxiedKey, type SearchScope, type TrackingService } from "../tracking/service.js";
import { renderCardMarkdown } from "./card.js";
import { inspectModelPackage } from "./packaging.js";
import { PromotionService } from "./promotion.js";
import { parseRegistryFilter, parseRegistryOrderBy } from "./search.js";
import { diffSignatures } from "./signature.js";
import type { ModelState, RegistryStore } from "./store/registry-store.js";

type Out<S extends z.ZodType> = z.output<S>;

/** Who makes a change (recorded as `userId` and in the alias history); empty until requests carry an identity. */
export interface Actor {
  actor?: string;
}

/** What `resolveModelUri` answers: the version a `models:/` URI names and where its files are. */
export interface ResolvedModelUri {
  modelVersion: ModelVersion;
  artifactUri: string;
}

const invalid = (msg: string) => new CairnError("INVALID_PARAMETER_VALUE", msg);

/**
 * The model registry: registered models, their numbered versions, tags, aliases (with an
 * append-only history) and legacy stages; the one implementation behind the native `/api/v1/models`
 * routes and MLflow's registry REST API. Throws `CairnError`:
 * - RESOURCE_DOES_NOT_EXIST for an unknown model, version, alias or run;
 * - RESOURCE_ALREADY_EXISTS for a duplicate model name (create or rename);
 * - INVALID_PARAMETER_VALUE for bad filters, order clauses, page tokens, model URIs and version
 *   sources outside the server's artifact store.
 */
export class RegistryService {
  readonly #store: RegistryStore;
  readonly #tracking: TrackingService;
  /** Protected aliases, validation gates and promotion requests. */
  readonly promotions: PromotionService;

  constructor(store: RegistryStore, tracking: TrackingService) {
    this.#store = store;
    this.#tracking = tracking;
    this.promotions = new PromotionService(store.promotions, this, tracking);
  }

  // ---------- registered models ----------

  /** @throws CairnError RESOURCE_ALREADY_EXISTS */
  async createRegisteredModel(req: Out<typeof C.CreateRegisteredModelRequest>, by: Actor = {}): Promise<RegisteredModel> {
    return this.#store.createRegisteredModel({ name: req.name, description: req.description ?? "", tags: req.tags ?? {}, userId: by.actor ?? "", time: Date.now() });
  }

  /** @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async getRegisteredModel(name: string): Promise<RegisteredModel> {
    const m = await this.#store.getRegisteredModel(name);
    if (!m) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Registered model '${name}' not found`);
    return m;
  }

  /** A model's description, tags and aliases (one cheap read, for the audit log). @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async getModelState(name: string): Promise<ModelState> {
    const m = await this.#store.getModelState(name);
    if (!m) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Registered model '${name}' not found`);
    return m;
  }

  /** Renames a model; versions, tags, aliases and alias history move with it. @throws CairnError RESOURCE_DOES_NOT_EXIST, RESOURCE_ALREADY_EXISTS */
  async renameRegisteredModel(name: string, newName: string): Promise<RegisteredModel> {
    return this.#store.updateRegisteredModel(name, { newName, time: Date.now() });
  }

  /** @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async updateRegisteredModel(name: string, description: string): Promise<RegisteredModel> {
    return this.#store.updateRegisteredModel(name, { description, time: Date.now() });
  }

  /** Deletes a model with its versions, tags, aliases and alias history. @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async deleteRegisteredModel(name: string): Promise<void> {
    await this.#store.deleteRegisteredModel(name);
  }

  /**
   * Searches models: `name = / != / LIKE / ILIKE '…'` and `tags.<key> …` joined by AND; order by
   * `name`, `last_updated_timestamp`, `creation_timestamp` (default `name ASC`).
   * @throws CairnError INVALID_PARAMETER_VALUE for a bad filter, order clause or page token
   */
  async searchRegisteredModels(req: Out<typeof C.SearchRegisteredModelsRequest>, scope: SearchScope = {}): Promise<{ registeredModels: RegisteredModel[]; nextPageToken?: string }> {
    const filter = parseRegistryFilter(req.filter, "model");
    const orderBy = parseRegistryOrderBy(req.orderBy, "model");
    const offset = decodePageToken(req.pageToken);
    const limit = req.maxResults ?? REGISTRY_LIMITS.searchModelsDefault;
    const rows = await this.#store.searchRegisteredModels({ projects: scope.projects, filter, orderBy, offset, limit: limit + 1 });
    return page("registeredModels", rows, limit, offset);
  }

  /** @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async setRegisteredModelTag(name: string, key: string, value: string): Promise<void> {
    await this.#store.setTag({ name }, key, value, Date.now());
  }

  /** @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async deleteRegisteredModelTag(name: string, key: string): Promise<void> {
    await this.#store.deleteTag({ name }, key);
  }

  /**
   * The highest version in each stage (in `stages` only, when given; stage names are case-insensitive).
   * @throws CairnError RESOURCE_DOES_NOT_EXIST
   */
  async getLatestVersions(name: string, stages?: ModelStage[]): Promise<ModelVersion[]> {
    const m = await this.getRegisteredModel(name);
    return stages?.length ? m.latestVersions.filter((v) => stages.includes(v.currentStage)) : m.latestVersions;
  }

  // ---------- aliases ----------

  /**
   * Points `alias` at an existing version; the change is recorded. A protected alias moves only
   * through an approved promotion request (`promotions`).
   * @throws CairnError RESOURCE_DOES_NOT_EXIST, PERMISSION_DENIED (protected alias)
   */
  async setAlias(name: string, alias: string, version: number, by: Actor = {}): Promise<void> {
    await this.#store.setAlias(name, alias, version, { actor: by.actor ?? "", time: Date.now() });
  }

  /** Deletes an alias (a no-op when the model has no such alias); the change is recorded. @throws CairnError RESOURCE_DOES_NOT_EXIST for an unknown model, PERMISSION_DENIED for a protected alias */
  async deleteAlias(name: string, alias: string, by: Actor = {}): Promise<void> {
    await this.#store.deleteAlias(name, alias, { actor: by.actor ?? "", time: Date.now() });
  }

  /** The version an alias points to. @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async getModelVersionByAlias(name: string, alias: string): Promise<ModelVersion> {
    const m = await this.getRegisteredModel(name);
    const a = m.aliases.find((x) => x.alias === alias);
    if (!a) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Registered model '${name}' has no alias '${alias}'`);
    return this.getModelVersion(name, Number(a.version));
  }

  /**
   * An alias's changes, newest first. With `at` (ms since the epoch), also the version the alias
   * pointed to at that instant (null when it pointed nowhere).
   * @throws CairnError RESOURCE_DOES_NOT_EXIST for an unknown model
   */
  async getAliasHistory(name: string, alias: string, at?: number): Promise<{ history: AliasHistoryEntry[]; versionAt?: string | null }> {
    const history = await this.#store.getAliasHistory(name, alias);
    if (at === undefined) return { history };
    // Newest first: the first change at or before `at` is the one in force then.
    const inForce = history.find((h) => h.time <= at);
    return { history, versionAt: inForce?.toVersion ?? null };
  }

  // ---------- versions ----------

  /**
   * Registers a new version, numbered one above the model's highest ever. The source must be inside
   * the server's artifact store: an `mlflow-artifacts:` URI, or `runs:/<run_id>/<path>` of a run whose
   * artifacts the server stores. A given `runId` must name an existing run. When the source holds an
   * `MLmodel` package, its flavors are stored, its signature is used unless `signature` is given, and
   * a package that fails validation gives a FAILED_REGISTRATION version with the reason in
   * `statusMessage` (see `inspectModelPackage`); otherwise, and for sources without one, READY.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST (model, run), INVALID_PARAMETER_VALUE (source)
   * @example await registry.createModelVersion("fraud", { source: `runs:/${runId}/model` })
   */
  async createModelVersion(name: string, req: Out<typeof C.CreateModelVersionRequest>, by: Actor = {}): Promise<ModelVersion> {
    await this.getRegisteredModel(name);
    const runId = req.runId || undefined;
    if (runId !== undefined) await this.#tracking.getRunInfo(runId);
    const pkg = await inspectModelPackage(this.#tracking.blobs, proxiedKey(await this.#resolveSource(req.source, runId)));
    return this.#store.createModelVersion({
      name,
      source: req.source,
      runId: runId ?? "",
      runLink: req.runLink ?? "",
      description: req.description ?? "",
      tags: req.tags ?? {},
      userId: by.actor ?? "",
      time: Date.now(),
      signature: req.signature ?? pkg.signature,
      status: pkg.status,
      statusMessage: pkg.statusMessage,
      flavors: pkg.flavors,
    });
  }

  /** @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async getModelVersion(name: string, version: number): Promise<ModelVersion> {
    const v = await this.#store.getModelVersion(name, version);
    if (!v) {
      await this.getRegisteredModel(name);
      throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Model version '${name}' version ${version} not found`);
    }
    return v;
  }

  /** @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async updateModelVersion(name: string, version: number, description: string): Promise<ModelVersion> {
    return this.#store.updateModelVersion(name, version, { description, time: Date.now() });
  }

  /**
   * Moves a version to a legacy stage; with `archiveExistingVersions` (Staging or Production only),
   * the other versions in that stage move to Archived in the same transaction.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST
   */
  async transitionModelVersionStage(name: string, version: number, req: Out<typeof C.TransitionStageRequest>): Promise<ModelVersion> {
    return this.#store.updateModelVersion(name, version, { stage: req.stage, archiveExistingVersions: req.archiveExistingVersions ?? false, time: Date.now() });
  }

  /** Deletes a version; its aliases go too (recorded in the alias history). @throws CairnError RESOURCE_DOES_NOT_EXIST, PERMISSION_DENIED when a protected alias points at it */
  async deleteModelVersion(name: string, version: number, by: Actor = {}): Promise<void> {
    await this.#store.deleteModelVersion(name, version, { actor: by.actor ?? "", time: Date.now() });
  }

  /**
   * Searches versions: `name`, `run_id`, `source_path` (`= != LIKE ILIKE`), `version_number`
   * (`= != < <= > >=`) and `tags.<key>` joined by AND; order by `name`, `version_number`,
   * `last_updated_timestamp`, `creation_timestamp` (default `name ASC, version_number DESC`).
   * @throws CairnError INVALID_PARAMETER_VALUE for a bad filter, order clause or page token
   */
  async searchModelVersions(req: Out<typeof C.SearchModelVersionsRequest>, scope: SearchScope = {}): Promise<{ modelVersions: ModelVersion[]; nextPageToken?: string }> {
    const filter = parseRegistryFilter(req.filter, "version");
    const orderBy = parseRegistryOrderBy(req.orderBy, "version");
    const offset = decodePageToken(req.pageToken);
    const limit = req.maxResults ?? REGISTRY_LIMITS.searchVersionsDefault;
    const rows = await this.#store.searchModelVersions({ projects: scope.projects, filter, orderBy, offset, limit: limit + 1 });
    return page("modelVersions", rows, limit, offset);
  }

  /** @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async setModelVersionTag(name: string, version: number, key: string, value: string): Promise<void> {
    await this.#store.setTag({ name, version }, key, value, Date.now());
  }

  /** @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async deleteModelVersionTag(name: string, version: number, key: string): Promise<void> {
    await this.#store.deleteTag({ name, version }, key);
  }

  /**
   * Where a version's files are read from: its source, with `runs:/` resolved to the run's
   * artifact location. @throws CairnError RESOURCE_DOES_NOT_EXIST, INVALID_PARAMETER_VALUE
   */
  async getDownloadUri(name: string, version: number): Promise<string> {
    const v = await this.getModelVersion(name, version);
    return this.#resolveSource(v.source, v.runId || undefined);
  }

  /**
   * Resolves `models:/<name>/<version>`, `models:/<name>@<alias>`, `models:/<name>/<stage>` and
   * `models:/<name>/latest` to the version it names and that version's download URI.
   * @throws CairnError INVALID_PARAMETER_VALUE for a malformed URI, RESOURCE_DOES_NOT_EXIST
   * @example await registry.resolveModelUri("models:/fraud@champion")
   */
  async resolveModelUri(uri: string): Promise<ResolvedModelUri> {
    const m = /^models:\/(?!\/)(.+?)(?:@([^/@]+)|\/([^/@]+))$/.exec(uri);
    if (!m) throw invalid(`Invalid model URI '${uri}': expected models:/<name>/<version>, models:/<name>/<stage>, models:/<name>/latest or models:/<name>@<alias>`);
    const name = m[1]!;
    let modelVersion: ModelVersion;
    if (m[2] !== undefined) modelVersion = await this.getModelVersionByAlias(name, m[2]);
    else if (/^\d+$/.test(m[3]!)) modelVersion = await this.getModelVersion(name, Number(m[3]));
    else {
      const ref = m[3]!.toLowerCase();
      const latest = await this.getLatestVersions(name);
      const stage = ["none", "staging", "production", "archived"].includes(ref) ? ref : ref === "latest" ? undefined : null;
      if (stage === null) throw invalid(`Invalid model URI '${uri}': '${m[3]}' is not a version number, a stage or 'latest'`);
      const candidates = stage === undefined ? latest : latest.filter((v) => v.currentStage.toLowerCase() === stage);
      const best = candidates.reduce<ModelVersion | undefined>((b, v) => (b && Number(b.version) > Number(v.version) ? b : v), undefined);
      if (!best) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Registered model '${name}' has no ${stage === undefined ? "versions" : `version in stage '${m[3]}'`}`);
      modelVersion = best;
    }
    return { modelVersion, artifactUri: await this.getDownloadUri(modelVersion.name, Number(modelVersion.version)) };
  }

  // ---------- governance ----------

  /** Sets (null: clears) a version's signature (already validated by the contract). @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async setSignature(name: string, version: number, signature: ModelSignature | null): Promise<ModelVersion> {
    return this.#store.setSignature(name, version, signature, Date.now());
  }

  /**
   * Compares two versions' signatures (`from` the older); see `diffSignatures` for the rules.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST for an unknown model or version
   * @example const { compatible, findings } = await registry.compatibility("fraud", 1, 2);
   */
  async compatibility(name: string, from: number, to: number): Promise<CompatibilityResponse> {
    const a = await this.getModelVersion(name, from);
    const b = await this.getModelVersion(name, to);
    return { name, from: a.version, to: b.version, ...diffSignatures(a.signature, b.signature) };
  }

  /**
   * Marks a version deprecated or archived, with a reason (retiring again replaces both). Its aliases
   * stay; an archived version takes no new alias. @throws CairnError RESOURCE_DOES_NOT_EXIST
   */
  async retireModelVersion(name: string, version: number, req: Out<typeof C.RetireRequest>): Promise<ModelVersion> {
    const time = Date.now();
    return this.#store.setRetirement(name, version, { state: req.state, reason: req.reason, time }, time);
  }

  /** Clears a version's retirement (a no-op for a live version). @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async unretireModelVersion(name: string, version: number): Promise<ModelVersion> {
    const v = await this.getModelVersion(name, version);
    if (!v.retirement) return v;
    return this.#store.setRetirement(name, version, null, Date.now());
  }

  /** Replaces a model's card; answers it as `getCard` does. @throws CairnError RESOURCE_DOES_NOT_EXIST (model, or the card's version) */
  async setCard(name: string, card: ModelCard): Promise<ModelCardResponse> {
    if (card.version !== undefined) await this.getModelVersion(name, card.version);
    await this.#store.setCard(name, card, Date.now());
    return this.getCard(name);
  }

  /**
   * A model's card. With `version` (else the card's own `version`), `evaluationResults` holds that
   * version's source-run latest metrics (its run id, else the run of a `runs:/` source; empty when
   * it has no run or the run is gone).
   * @throws CairnError RESOURCE_DOES_NOT_EXIST for an unknown model or version, or a model without a card
   */
  async getCard(name: string, version?: number): Promise<ModelCardResponse> {
    const stored = await this.#store.getCard(name);
    if (!stored) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Registered model '${name}' has no model card`);
    const v = version ?? stored.card.version;
    const evaluationResults = v === undefined ? null : await this.#evaluationResults(name, v);
    return { name: stored.name, card: stored.card, lastUpdatedTimestamp: stored.lastUpdatedTimestamp, evaluationResults };
  }

  /** A model's card as Markdown (see `getCard`). @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async getCardMarkdown(name: string, version?: number): Promise<string> {
    const c = await this.getCard(name, version);
    return renderCardMarkdown(c.name, c.card, c.evaluationResults);
  }

  async #evaluationResults(name: string, version: number): Promise<CardEvaluationResults> {
    const v = await this.getModelVersion(name, version);
    const metrics: Record<string, number> = {};
    // The source run: the version's run id, else the run of a `runs:/` source.
    const runId = v.runId || (/^runs:\/([^/]+)/.exec(v.source)?.[1] ?? "");
    if (runId) {
      try {
        for (const m of (await this.#tracking.getRun(runId)).data.metrics) metrics[m.key] = m.value;
      } catch (e) {
        if (!isCairnError(e) || e.code !== "RESOURCE_DOES_NOT_EXIST") throw e;
      }
    }
    return { version: v.version, runId, metrics };
  }

  /** The artifact URI a source names, checked to lie inside the server's artifact store. */
  async #resolveSource(source: string, runId: string | undefined): Promise<string> {
    // MLflow 3's log_model registers `models:/m-<id>` (a logged model); Cairn has no logged-models API.
    if (/^models:\/m-[^/@]+$/.test(source)) throw invalid(`The source '${source}' is an MLflow 3 logged model, which Cairn does not store; log the model into a run's artifacts and register 'runs:/<run_id>/<path>' instead`);
    if (source.startsWith("models:")) throw invalid(`A model version's source cannot be a models:/ URI ('${source}'); register the artifacts it points to instead`);
    if (source.startsWith(PROXY_SCHEME)) {
      proxiedKey(source);
      return source;
    }
    const runs = /^runs:\/([^/]+)(?:\/(.*))?$/.exec(source);
    if (runs) {
      const sourceRun = runs[1]!;
      if (runId !== undefined && runId !== sourceRun) throw invalid(`The source '${source}' belongs to run '${sourceRun}', not to run_id '${runId}'`);
      const info = await this.#tracking.getRunInfo(sourceRun);
      const path = (runs[2] ?? "").replace(/^\/+|\/+$/g, "");
      const rel = path ? safeBlobPrefix(path) : "";
      const root = info.artifactUri.replace(/\/+$/, "");
      if (!root.startsWith(PROXY_SCHEME)) throw invalid(`Run '${sourceRun}' stores its artifacts outside this server ('${info.artifactUri}'); a model version's source must be in the server's artifact store`);
      return rel ? `${root}/${rel}` : root;
    }
    throw invalid(`A model version's source must be in the server's artifact store: an '${PROXY_SCHEME}' URI or 'runs:/<run_id>/<path>', not '${source}'`);
  }
}

function page<K extends string, T>(key: K, rows: T[], limit: number, offset: number): { [P in K]: T[] } & { nextPageToken?: string } {
  const out = { [key]: rows.slice(0, limit) } as { [P in K]: T[] } & { nextPageToken?: string };
  if (rows.length > limit) out.nextPageToken = encodePageToken(offset + limit);
  return out;
}
