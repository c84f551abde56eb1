import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeGate, isCairnError, type GateInput } from "@cairn/contract";
import { openDatabase, type Database } from "../../platform/db/database.js";
import { openBlobStore } from "../../platform/blob/open-blob-store.js";
import type { BlobStore } from "../../platform/blob/blob-store.js";
import { createTrackingStore } from "../tracking/store/sql-tracking-store.js";
import { TrackingService } from "../tracking/service.js";
import { createRegistryStore } from "./store/sql-registry-store.js";
import { RegistryService } from "./service.js";
import { parseGate } from "./promotion-cli.js";

describe("PromotionService gates", () => {
  let dir: string;
  let db: Database;
  let blobs: BlobStore;
  let tracking: TrackingService;
  let registry: RegistryService;
  let model = 0;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "cairn-promotion-svc-"));
    db = await openDatabase("sqlite::memory:");
    blobs = await openBlobStore(join(dir, "artifacts"));
    tracking = new TrackingService(await createTrackingStore(db), blobs);
    registry = new RegistryService(await createRegistryStore(db), tracking);
  });
  afterAll(async () => {
    await blobs.close();
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const codeOf = async (p: Promise<unknown>) => {
    try {
      await p;
      return "ok";
    } catch (e) {
      if (isCairnError(e)) return e.code;
      throw e;
    }
  };

  /** A model with one version per metrics map (each from its own run), and `gates` as its policy on `production`. */
  async function setup(versions: Record<string, number>[], gates: GateInput[]): Promise<string> {
    const name = `m${++model}`;
    await registry.createRegisteredModel({ name });
    for (const metrics of versions) {
      const run = await tracking.createRun({ experimentId: "0" });
      await tracking.logBatch(run.info.runId, { metrics: Object.entries(metrics).map(([key, value]) => ({ key, value, step: 0, timestamp: 1 })), params: [], tags: [] });
      await registry.createModelVersion(name, { source: `runs:/${run.info.runId}/model`, runId: run.info.runId });
    }
    await registry.promotions.setPolicy(name, { protectedAliases: ["production"], gates: gates.map((g) => (g.kind === "champion_regression" ? { higherIsBetter: true, ...g } : g)) as never });
    return name;
  }

  const promote = async (name: string, version: number) => {
    const r = await registry.promotions.createRequest(name, { alias: "production", version, reason: "test" }, { actor: "ada" });
    return registry.promotions.approve(r.id, {}, { actor: "bob" });
  };

  it("compares lower-is-better metrics against the champion, with tolerance for float noise", async () => {
    const name = await setup([{ loss: 0.3 }, { loss: 0.31 }, { loss: 0.32 }], [{ kind: "champion_regression", metric: "loss", maxRegression: 0.01, higherIsBetter: false }]);
    await promote(name, 1);
    // 0.31 - 0.3 is 0.010000000000000009: within 0.01.
    expect((await promote(name, 2)).gateResults[0]).toMatchObject({ passed: true });
    const r = await registry.promotions.createRequest(name, { alias: "production", version: 3, reason: "x" }, { actor: "ada" });
    expect(r.gateResults[0]!.passed).toBe(true);
    const v4 = await registry.promotions.createRequest(name, { alias: "production", version: 1, reason: "back" }, { actor: "ada" });
    expect(v4.gateResults[0]).toMatchObject({ passed: true, message: expect.stringContaining("not worse") });
  });

  it("fails a metric gate on a missing metric and a champion gate when the champion lacks the metric", async () => {
    const name = await setup([{ auc: 0.9 }, { acc: 0.95 }, { acc: 0.99 }], [{ kind: "metric", metric: "acc", op: ">", value: 0.9 }, { kind: "champion_regression", metric: "acc", maxRegression: 0 }]);
    const first = await registry.promotions.createRequest(name, { alias: "production", version: 1, reason: "x" }, { actor: "ada" });
    expect(first.gateResults.map((g) => [g.passed, g.message])).toEqual([
      [false, expect.stringMatching(/logged no metric 'acc'/)],
      [true, expect.stringMatching(/no champion to compare with/)],
    ]);
    expect(await codeOf(registry.promotions.approve(first.id, {}, { actor: "bob" }))).toBe("INVALID_STATE");
    await registry.promotions.reject(first.id, "no acc", { actor: "bob" });
    // v2 passes (0.95 > 0.9; no champion yet), then v3 is not worse than v2.
    await promote(name, 2);
    expect((await promote(name, 3)).status).toBe("approved");
    expect((await registry.getModelVersionByAlias(name, "production")).version).toBe("3");
  });

  it("fails a champion gate when the champion lacks the metric: the comparison cannot be shown", async () => {
    const name = await setup([{ auc: 0.9 }, { acc: 0.95 }], []);
    // Unprotect, set the champion directly, protect again.
    await registry.promotions.setPolicy(name, { protectedAliases: [], gates: [] });
    await registry.setAlias(name, "production", 1);
    await registry.promotions.setPolicy(name, { protectedAliases: ["production"], gates: [{ kind: "champion_regression", metric: "acc", maxRegression: 0, higherIsBetter: true }] });
    const r = await registry.promotions.createRequest(name, { alias: "production", version: 2, reason: "x" }, { actor: "ada" });
    expect(r.gateResults[0]).toMatchObject({ passed: false, message: expect.stringMatching(/^cannot compare with the champion \(version 1\): version 1's run '\w+' logged no metric 'acc'$/) });
  });

  it("rechecks gates at approval against the policy of that moment", async () => {
    const name = await setup([{ auc: 0.8 }], []);
    const r = await registry.promotions.createRequest(name, { alias: "production", version: 1, reason: "x" }, { actor: "ada" });
    expect(r.gateResults).toEqual([]);
    await registry.promotions.setPolicy(name, { protectedAliases: ["production"], gates: [{ kind: "metric", metric: "auc", op: ">=", value: 0.9 }] });
    expect(await codeOf(registry.promotions.approve(r.id, {}, { actor: "bob" }))).toBe("INVALID_STATE");
    await registry.promotions.setPolicy(name, { protectedAliases: ["production"], gates: [{ kind: "metric", metric: "auc", op: "<", value: 0.9 }] });
    const ok = await registry.promotions.approve(r.id, {}, { actor: "bob" });
    expect(ok.gateResults).toEqual([{ gate: { kind: "metric", metric: "auc", op: "<", value: 0.9 }, passed: true, message: "auc = 0.8, < 0.9" }]);
  });

  it("refuses self-approval also for anonymous, and restricts the list to no project when given none", async () => {
    const name = await setup([{ auc: 1 }], []);
    const r = await registry.promotions.createRequest(name, { alias: "production", version: 1, reason: "x" });
    expect(r.requester).toBe("");
    expect(await codeOf(registry.promotions.approve(r.id))).toBe("PERMISSION_DENIED");
    expect((await registry.promotions.listRequests({ name })).promotionRequests).toHaveLength(1);
  });
});

describe("gates on the command line", () => {
  it("parses and describes the three kinds", () => {
    expect(parseGate("metrics.accuracy>=0.9")).toEqual({ kind: "metric", metric: "accuracy", op: ">=", value: 0.9 });
    expect(parseGate("metrics.val/loss < 0.2")).toEqual({ kind: "metric", metric: "val/loss", op: "<", value: 0.2 });
    expect(parseGate("champion:accuracy:0.01")).toEqual({ kind: "champion_regression", metric: "accuracy", maxRegression: 0.01, higherIsBetter: true });
    expect(parseGate("champion:loss:0.05:lower")).toEqual({ kind: "champion_regression", metric: "loss", maxRegression: 0.05, higherIsBetter: false });
    expect(parseGate("signature")).toEqual({ kind: "signature_compatible" });
    for (const bad of ["accuracy>=0.9", "metrics.accuracy>=x", "champion:acc:-1", "champion:acc", "sig"]) expect(() => parseGate(bad), bad).toThrow();
    expect(describeGate(parseGate("champion:loss:0.05:lower"))).toBe("metrics.loss not worse than the champion by more than 0.05 (lower is better)");
  });
});
