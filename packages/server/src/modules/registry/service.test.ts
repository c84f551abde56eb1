import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isCairnError } from "@cairn/contract";
import { openDatabase, type Database } from "../../platform/db/database.js";
import { openBlobStore } from "../../platform/blob/open-blob-store.js";
import type { BlobStore } from "../../platform/blob/blob-store.js";
import { createTrackingStore } from "../tracking/store/sql-tracking-store.js";
import { TrackingService } from "../tracking/service.js";
import { createRegistryStore } from "./store/sql-registry-store.js";
import { RegistryService } from "./service.js";

describe("RegistryService", () => {
  let dir: string;
  let db: Database;
  let blobs: BlobStore;
  let tracking: TrackingService;
  let registry: RegistryService;
  let runId: string;
  let root: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "cairn-registry-svc-"));
    db = await openDatabase("sqlite::memory:");
    blobs = await openBlobStore(join(dir, "artifacts"));
    tracking = new TrackingService(await createTrackingStore(db), blobs);
    registry = new RegistryService(await createRegistryStore(db), tracking);
    const run = await tracking.createRun({ experimentId: "0" });
    runId = run.info.runId;
    root = run.info.artifactUri;
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
      return isCairnError(e) ? e.code : String(e);
    }
  };

  it("resolves models:/ URIs by version, alias, stage and latest", async () => {
    await registry.createRegisteredModel({ name: "m" });
    await registry.createModelVersion("m", { source: `runs:/${runId}/model`, runId });
    await registry.createModelVersion("m", { source: `${root}/model2` });
    await registry.setAlias("m", "champion", 1);
    await registry.transitionModelVersionStage("m", 2, { stage: "Production" });

    expect(await registry.resolveModelUri("models:/m/1")).toMatchObject({ modelVersion: { version: "1" }, artifactUri: `${root}/model` });
    expect(await registry.resolveModelUri("models:/m@champion")).toMatchObject({ modelVersion: { version: "1" } });
    expect(await registry.resolveModelUri("models:/m/production")).toMatchObject({ modelVersion: { version: "2" }, artifactUri: `${root}/model2` });
    expect(await registry.resolveModelUri("models:/m/latest")).toMatchObject({ modelVersion: { version: "2" } });
    expect(await codeOf(registry.resolveModelUri("models:/m/Staging"))).toBe("RESOURCE_DOES_NOT_EXIST");
    expect(await codeOf(registry.resolveModelUri("models:/m@nope"))).toBe("RESOURCE_DOES_NOT_EXIST");
    expect(await codeOf(registry.resolveModelUri("models:/m/9"))).toBe("RESOURCE_DOES_NOT_EXIST");
    expect(await codeOf(registry.resolveModelUri("models:/m/champ1on!"))).toBe("INVALID_PARAMETER_VALUE");
    expect(await codeOf(registry.resolveModelUri("runs:/x/y"))).toBe("INVALID_PARAMETER_VALUE");
  });

  it("accepts only sources inside the server's artifact store", async () => {
    await registry.createRegisteredModel({ name: "src" });
    const other = (await tracking.createRun({ experimentId: "0" })).info.runId;
    expect(await codeOf(registry.createModelVersion("src", { source: `runs:/${runId}/model`, runId: other }))).toBe("INVALID_PARAMETER_VALUE");
    expect(await codeOf(registry.createModelVersion("src", { source: "models:/m/1" }))).toBe("INVALID_PARAMETER_VALUE");
    expect(await codeOf(registry.createModelVersion("src", { source: "/tmp/model" }))).toBe("INVALID_PARAMETER_VALUE");
    expect(await codeOf(registry.createModelVersion("src", { source: `runs:/${runId}/../../x` }))).toBe("INVALID_PARAMETER_VALUE");
    const exp = await tracking.createExperiment({ name: "elsewhere", artifactLocation: "s3://bucket/prefix" });
    const outside = (await tracking.createRun({ experimentId: exp.experimentId })).info.runId;
    expect(await codeOf(registry.createModelVersion("src", { source: `runs:/${outside}/model` }))).toBe("INVALID_PARAMETER_VALUE");
    // Nothing was created by the refused calls: the next version is still 1.
    expect((await registry.createModelVersion("src", { source: `runs:/${runId}` })).version).toBe("1");
  });
});
