import { unlessMissing } from "@cairn/contract";
import type { TrackingService } from "../tracking/service.js";
import type { RegistryService } from "../registry/service.js";
import { projectFromTags, type ProjectLookups } from "./guard.js";

/** Entries of a project lookup are trusted this long (a project move shows up within it). */
const TTL_MS = 5_000;
const MAX_ENTRIES = 50_000;

class TtlCache<V> {
  readonly #m = new Map<string, { v: V; until: number }>();
  get(k: string, now: number): V | undefined {
    const e = this.#m.get(k);
    return e && e.until > now ? e.v : undefined;
  }
  set(k: string, v: V, ttl: number, now: number): void {
    if (this.#m.size >= MAX_ENTRIES) this.#m.clear();
    this.#m.set(k, { v, until: now + ttl });
  }
}

/**
 * Project lookups over the tracking and registry services: an experiment's or a model's project
 * or a dataset's is its `cairn.project` tag (else `default`); a run's is its experiment's; a promotion request's is its model's. A run's experiment
 * never changes, so it is cached for good; projects are cached for a few seconds. A deployment's is its model's.
 */
export function serviceProjectLookups(
  tracking: TrackingService,
  registry: RegistryService,
  datasets: { getDataset(name: string): Promise<{ tags: Record<string, string> }> },
  deployments?: { row(name: string): Promise<{ spec: { model: string } } | undefined> },
): ProjectLookups {
  const experiments = new TtlCache<string>();
  const runs = new TtlCache<string>();
  const models = new TtlCache<string>();
  /** The project of a tagged resource, through a short-lived cache. */
  const tagged = async (cache: TtlCache<string>, key: string, read: () => Promise<{ tags: Record<string, string> }>): Promise<string | undefined> => {
    const now = Date.now();
    const hit = cache.get(key, now);
    if (hit !== undefined) return hit;
    const found = await unlessMissing(read());
    if (!found) return undefined;
    const project = projectFromTags(found.tags);
    cache.set(key, project, TTL_MS, now);
    return project;
  };
  const experiment = (id: string) => tagged(experiments, id, () => tracking.getExperiment(id));
  const model = (name: string) => tagged(models, name, () => registry.getModelState(name));
  const datasetProjects = new TtlCache<string>();
  return {
    experiment,
    model,
    dataset: (name) => tagged(datasetProjects, name, () => datasets.getDataset(name)),
    async experimentByName(name) {
      const e = await unlessMissing(tracking.getExperimentByName(name));
      return e ? projectFromTags(e.tags) : undefined;
    },
    async run(id) {
      const now = Date.now();
      let exp = runs.get(id, now);
      if (exp === undefined) {
        const info = await unlessMissing(tracking.getRunInfo(id));
        if (!info) return undefined;
        exp = info.experimentId;
        runs.set(id, exp, Number.MAX_SAFE_INTEGER / 2, now);
      }
      return experiment(exp);
    },
    async deployment(name) {
      const d = await deployments?.row(name);
      return d ? model(d.spec.model) : undefined;
    },
    async promotion(id) {
      if (!/^\d{1,15}$/.test(id)) return undefined;
      const r = await unlessMissing(registry.promotions.getRequest(Number(id)));
      return r ? model(r.name) : undefined;
    },
  };
}
