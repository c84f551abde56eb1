import { isCairnError } from "@cairn/contract";
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

async function orUndefined<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (e) {
    if (isCairnError(e) && e.code === "RESOURCE_DOES_NOT_EXIST") return undefined;
    throw e;
  }
}

/**
 * Project lookups over the tracking and registry services: an experiment's or a model's project
 * is its `cairn.project` tag (else `default`); a run's is its experiment's; a promotion request's is its model's. A run's experiment
 * never changes, so it is cached for good; projects are cached for a few seconds.
 */
export function serviceProjectLookups(tracking: TrackingService, registry: RegistryService): ProjectLookups {
  const experiments = new TtlCache<string>();
  const runs = new TtlCache<string>();
  const models = new TtlCache<string>();
  const experiment = async (id: string): Promise<string | undefined> => {
    const now = Date.now();
    const hit = experiments.get(id, now);
    if (hit !== undefined) return hit;
    const e = await orUndefined(tracking.getExperiment(id));
    if (!e) return undefined;
    const project = projectFromTags(e.tags);
    experiments.set(id, project, TTL_MS, now);
    return project;
  };
  const model = async (name: string): Promise<string | undefined> => {
    const now = Date.now();
    const hit = models.get(name, now);
    if (hit !== undefined) return hit;
    const m = await orUndefined(registry.getRegisteredModel(name));
    if (!m) return undefined;
    const project = projectFromTags(m.tags);
    models.set(name, project, TTL_MS, now);
    return project;
  };
  return {
    experiment,
    model,
    async experimentByName(name) {
      const e = await orUndefined(tracking.getExperimentByName(name));
      return e ? projectFromTags(e.tags) : undefined;
    },
    async run(id) {
      const now = Date.now();
      let exp = runs.get(id, now);
      if (exp === undefined) {
        const info = await orUndefined(tracking.getRunInfo(id));
        if (!info) return undefined;
        exp = info.experimentId;
        runs.set(id, exp, Number.MAX_SAFE_INTEGER / 2, now);
      }
      return experiment(exp);
    },
    async promotion(id) {
      if (!/^\d{1,15}$/.test(id)) return undefined;
      const r = await orUndefined(registry.promotions.getRequest(Number(id)));
      return r ? model(r.name) : undefined;
    },
  };
}
