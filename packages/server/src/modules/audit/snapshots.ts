import { isCairnError } from "@cairn/contract";
import type { TrackingService } from "../tracking/service.js";
import type { RegistryService } from "../registry/service.js";
import type { Target } from "../auth/guard.js";
import type { AuditSnapshots } from "./recorder.js";

async function orNull<T>(p: Promise<T>): Promise<T | null> {
  try {
    return await p;
  } catch (e) {
    if (isCairnError(e) && e.code === "RESOURCE_DOES_NOT_EXIST") return null;
    throw e;
  }
}

/**
 * Compact views of models, experiments and runs for the audit log's before/after: what a reviewer
 * needs to see a change (aliases, description, tags, lifecycle, status), not whole entities.
 */
export function serviceSnapshots(tracking: TrackingService, registry: RegistryService): AuditSnapshots {
  return {
    async snapshot(t: Target): Promise<unknown> {
      switch (t.kind) {
        case "model": {
          const m = await orNull(registry.getRegisteredModel(t.name));
          return m && { name: m.name, description: m.description, tags: m.tags, aliases: Object.fromEntries(m.aliases.map((a) => [a.alias, a.version])), latestVersions: m.latestVersions.map((v) => ({ version: v.version, stage: v.currentStage })) };
        }
        case "experiment": {
          const e = await orNull(tracking.getExperiment(t.id));
          return e && { name: e.name, lifecycleStage: e.lifecycleStage, tags: e.tags };
        }
        case "run": {
          const r = await orNull(tracking.getRunInfo(t.id));
          return r && { runName: r.runName, status: r.status, lifecycleStage: r.lifecycleStage, endTime: r.endTime };
        }
        default:
          return null;
      }
    },
  };
}
