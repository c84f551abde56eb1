import { unlessMissing } from "@cairn/contract";
import type { TrackingService } from "../tracking/service.js";
import type { RegistryService } from "../registry/service.js";
import type { Target } from "../auth/guard.js";
import type { AuditSnapshots } from "./recorder.js";

/**
 * Compact views of models, experiments and runs for the audit log's before/after: what a reviewer
 * needs to see a change (aliases, description, tags, lifecycle, status), not whole entities.
 */
export function serviceSnapshots(tracking: TrackingService, registry: RegistryService): AuditSnapshots {
  return {
    async snapshot(t: Target): Promise<unknown> {
      switch (t.kind) {
        case "model": {
          return (await unlessMissing(registry.getModelState(t.name))) ?? null;
        }
        case "experiment": {
          const e = await unlessMissing(tracking.getExperiment(t.id));
          return e ? { name: e.name, lifecycleStage: e.lifecycleStage, tags: e.tags } : null;
        }
        case "run": {
          const r = await unlessMissing(tracking.getRunInfo(t.id));
          return r ? { runName: r.runName, status: r.status, lifecycleStage: r.lifecycleStage, endTime: r.endTime } : null;
        }
        default:
          return null;
      }
    },
  };
}
