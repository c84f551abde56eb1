import pino from "pino";
import { describe, expect, it } from "vitest";
import { MonitorSpec } from "@cairn/contract";
import { MonitorService } from "./monitors.js";
import type { MonitorStore } from "./store/monitor-store.js";
import { WebhookAllowList } from "./webhook.js";

/** A service whose collaborators are not reached by `create`'s checks (a call to them fails the test). */
function service(projects: Record<string, string>) {
  const unused = () => {
    throw new Error("not expected in this test");
  };
  return new MonitorService({
    store: { put: unused, get: unused } as unknown as MonitorStore,
    drift: { deploymentDrift: unused },
    performance: unused,
    log: { summary: unused },
    deployment: async (name) => (name === "fraud" ? { model: "m" } : undefined),
    startPipeline: unused,
    webhooks: new WebhookAllowList([]),
    projects: { deployment: async () => projects.deployment, pipeline: async (name) => projects[`pipeline:${name}`] },
    logger: pino({ level: "silent" }),
  });
}

describe("MonitorService.create", () => {
  const spec = (pipeline: string) => MonitorSpec.parse({ name: "m", rules: [{ name: "r", series: "drift.share", op: ">", threshold: 0.5, actions: [{ type: "pipeline", pipeline }] }] });

  it("refuses an alert that would start another project's pipeline (it runs as the monitor, not its author)", async () => {
    await expect(service({ deployment: "risk", "pipeline:retrain": "marketing" }).create("fraud", spec("retrain"), "bob")).rejects.toMatchObject({ code: "PERMISSION_DENIED" });
  });
  it("refuses a pipeline that does not exist, and webhooks off the allow-list", async () => {
    await expect(service({ deployment: "risk" }).create("fraud", spec("nope"), "bob")).rejects.toMatchObject({ code: "RESOURCE_DOES_NOT_EXIST" });
    const hook = MonitorSpec.parse({ name: "m", rules: [{ name: "r", series: "x", op: ">", threshold: 0, actions: [{ type: "webhook", url: "https://example.org/h" }] }] });
    await expect(service({ deployment: "risk" }).create("fraud", hook, "bob")).rejects.toMatchObject({ code: "PERMISSION_DENIED" });
    await expect(service({}).create("nope", MonitorSpec.parse({ name: "m" }), "bob")).rejects.toMatchObject({ code: "RESOURCE_DOES_NOT_EXIST" });
  });
});
