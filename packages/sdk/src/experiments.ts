import { CairnError, isCairnError, unlessMissing, type Experiment, type SearchExperimentsRequest, type ViewType } from "@cairn/contract";
import type { ApiClient } from "./core.js";
import { withRetry, type RetryOptions } from "./retry.js";

/** Options for `experiments.create` and `getOrCreate`. */
export interface CreateExperimentOptions {
  /** Where the experiment's artifacts go (default: the server's artifact root). */
  artifactLocation?: string;
  tags?: Record<string, string>;
}

/** Options for `experiments.search`. */
export interface SearchExperimentsOptions {
  /** MLflow's filter grammar, e.g. `name LIKE 'bert-%'` or `tags.team = 'nlp'`. */
  filter?: string;
  /** e.g. `["name ASC", "creation_time DESC"]`. */
  orderBy?: string[];
  /** Page size (server default 1000). */
  maxResults?: number;
  pageToken?: string;
  /** ACTIVE_ONLY (default), DELETED_ONLY or ALL. */
  viewType?: ViewType;
}

/** One page of experiments. */
export interface ExperimentsPage {
  experiments: Experiment[];
  nextPageToken?: string | undefined;
}

/**
 * Experiments: `cairn.experiments`. Every method throws `CairnError`
 * (RESOURCE_DOES_NOT_EXIST, RESOURCE_ALREADY_EXISTS, INVALID_PARAMETER_VALUE, …).
 * @example
 * const exp = await cairn.experiments.getOrCreate("churn-model");
 * for await (const e of cairn.experiments.searchAll({ filter: "name LIKE 'churn%'" })) console.log(e.name);
 */
export class Experiments {
  readonly #client: ApiClient;
  readonly #retry: Partial<RetryOptions>;

  constructor(client: ApiClient, retry: Partial<RetryOptions> = {}) {
    this.#client = client;
    this.#retry = retry;
  }

  /**
   * Creates an experiment and returns it.
   * @throws CairnError RESOURCE_ALREADY_EXISTS when the name is taken, INVALID_PARAMETER_VALUE for a bad name or tag
   */
  async create(name: string, opts: CreateExperimentOptions = {}): Promise<Experiment> {
    const body: { name: string; artifactLocation?: string; tags?: Record<string, string> } = { name };
    if (opts.artifactLocation !== undefined) body.artifactLocation = opts.artifactLocation;
    if (opts.tags !== undefined) body.tags = opts.tags;
    return (await this.#client.api.createExperiment({ body })).experiment;
  }

  /** Gets an experiment by id. @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async get(id: string): Promise<Experiment> {
    return (await withRetry(() => this.#client.api.getExperiment({ params: { id } }), this.#retry)).experiment;
  }

  /** Gets an experiment by name (deleted ones included). @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async getByName(name: string): Promise<Experiment> {
    return (await withRetry(() => this.#client.api.getExperimentByName({ params: { name } }), this.#retry)).experiment;
  }

  /**
   * Returns the active experiment with this name, creating it when there is none.
   * @throws CairnError INVALID_STATE when the experiment exists but is deleted (restore it first)
   * @example const exp = await cairn.experiments.getOrCreate("baseline");
   */
  async getOrCreate(name: string, opts: CreateExperimentOptions = {}): Promise<Experiment> {
    const found = await this.#findByName(name);
    if (found) return assertActive(found);
    try {
      return await this.create(name, opts);
    } catch (e) {
      // Another process created it between our lookup and our create.
      if (isCairnError(e) && e.code === "RESOURCE_ALREADY_EXISTS") return assertActive(await this.getByName(name));
      throw e;
    }
  }

  /** One page of experiments. */
  async search(opts: SearchExperimentsOptions = {}): Promise<ExperimentsPage> {
    const body: SearchExperimentsRequest = {};
    if (opts.filter !== undefined) body.filter = opts.filter;
    if (opts.orderBy !== undefined) body.orderBy = opts.orderBy;
    if (opts.maxResults !== undefined) body.maxResults = opts.maxResults;
    if (opts.pageToken !== undefined) body.pageToken = opts.pageToken;
    if (opts.viewType !== undefined) body.viewType = opts.viewType;
    return withRetry(() => this.#client.api.searchExperiments({ body }), this.#retry);
  }

  /**
   * Every matching experiment, fetching pages as it goes. `limit` stops after that many.
   * @example for await (const e of cairn.experiments.searchAll({ viewType: "ALL" })) console.log(e.experimentId);
   */
  async *searchAll(opts: Omit<SearchExperimentsOptions, "pageToken"> & { limit?: number } = {}): AsyncGenerator<Experiment, void, undefined> {
    const { limit = Infinity, ...rest } = opts;
    let pageToken: string | undefined;
    let n = 0;
    do {
      const page = await this.search(pageToken === undefined ? rest : { ...rest, pageToken });
      for (const e of page.experiments) {
        if (n++ >= limit) return;
        yield e;
      }
      pageToken = page.nextPageToken || undefined;
    } while (pageToken !== undefined && n < limit);
  }

  /** Renames an experiment. @throws CairnError RESOURCE_DOES_NOT_EXIST, RESOURCE_ALREADY_EXISTS */
  async update(id: string, patch: { name: string }): Promise<Experiment> {
    return (await withRetry(() => this.#client.api.updateExperiment({ params: { id }, body: patch }), this.#retry)).experiment;
  }

  /** Soft-deletes an experiment and its runs (restorable). @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async delete(id: string): Promise<Experiment> {
    return (await withRetry(() => this.#client.api.deleteExperiment({ params: { id } }), this.#retry)).experiment;
  }

  /** Restores a deleted experiment. @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async restore(id: string): Promise<Experiment> {
    return (await withRetry(() => this.#client.api.restoreExperiment({ params: { id } }), this.#retry)).experiment;
  }

  /** Sets (or overwrites) an experiment tag. @throws CairnError RESOURCE_DOES_NOT_EXIST, INVALID_PARAMETER_VALUE */
  async setTag(id: string, key: string, value: string): Promise<Experiment> {
    return (await withRetry(() => this.#client.api.setExperimentTag({ params: { id }, body: { key, value } }), this.#retry)).experiment;
  }

  /** Deletes an experiment tag. @throws CairnError RESOURCE_DOES_NOT_EXIST (experiment or tag) */
  async deleteTag(id: string, key: string): Promise<Experiment> {
    return (await withRetry(() => this.#client.api.deleteExperimentTag({ params: { id }, query: { key } }), this.#retry)).experiment;
  }

  /**
   * Resolves an experiment given either its id or its name (the id wins when both match).
   * @throws CairnError RESOURCE_DOES_NOT_EXIST when neither matches
   */
  async resolve(idOrName: string): Promise<Experiment> {
    try {
      return await this.get(idOrName);
    } catch (e) {
      if (!isCairnError(e) || (e.status !== 404 && e.status !== 400)) throw e;
    }
    const byName = await this.#findByName(idOrName);
    if (byName) return byName;
    throw new CairnError("RESOURCE_DOES_NOT_EXIST", `No experiment with id or name '${idOrName}'`);
  }

  async #findByName(name: string): Promise<Experiment | undefined> {
    return unlessMissing(this.getByName(name));
  }
}

function assertActive(e: Experiment): Experiment {
  if (e.lifecycleStage === "deleted") {
    throw new CairnError("INVALID_STATE", `Experiment '${e.name}' (id ${e.experimentId}) is deleted; restore it or choose another name`);
  }
  return e;
}
