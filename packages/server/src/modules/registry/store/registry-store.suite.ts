import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isCairnError } from "@cairn/contract";
import { parseRegistryFilter, parseRegistryOrderBy } from "../search.js";
import type { RegistryStore } from "./registry-store.js";

/**
 * The one behavioural suite every RegistryStore implementation must pass (SQLite, PostgreSQL).
 * `makeStore` returns a store over a fresh, migrated database and a cleanup that drops it.
 * @example describeRegistryStore("sqlite", async () => ({ store, cleanup }))
 */
export function describeRegistryStore(name: string, makeStore: () => Promise<{ store: RegistryStore; cleanup(): Promise<void> }>): void {
  describe(`RegistryStore (${name})`, () => {
    let store: RegistryStore;
    let cleanup: () => Promise<void>;
    const tag = randomBytes(3).toString("hex");
    let seq = 0;
    const uniq = (prefix: string) => `${prefix}-${tag}-${++seq}`;
    const by = (time: number) => ({ actor: "ada", time });

    beforeAll(async () => {
      ({ store, cleanup } = await makeStore());
    });
    afterAll(async () => {
      await store?.close();
      await cleanup?.();
    });

    const newModel = (n = uniq("model"), tags: Record<string, string> = {}, time = 1_000) => store.createRegisteredModel({ name: n, description: "", tags, userId: "ada", time });
    const newVersion = (n: string, overrides: { source?: string; runId?: string; tags?: Record<string, string>; time?: number } = {}) =>
      store.createModelVersion({ name: n, source: overrides.source ?? "mlflow-artifacts:/0/r/artifacts/model", runId: overrides.runId ?? "", runLink: "", description: "", tags: overrides.tags ?? {}, userId: "ada", time: overrides.time ?? 2_000 });
    const code = async (p: Promise<unknown>) => {
      try {
        await p;
      } catch (e) {
        if (isCairnError(e)) return e.code;
        throw e;
      }
      return "ok";
    };
    const query = (kind: "model" | "version", filter?: string, orderBy?: string[], offset = 0, limit = 100) => ({ filter: parseRegistryFilter(filter, kind), orderBy: parseRegistryOrderBy(orderBy, kind), offset, limit });
    const searchModels = (...a: [string?, string[]?, number?, number?]) => store.searchRegisteredModels(query("model", ...a));
    const searchVersions = (...a: [string?, string[]?, number?, number?]) => store.searchModelVersions(query("version", ...a));

    it("creates and gets a model with tags; a duplicate name is RESOURCE_ALREADY_EXISTS", async () => {
      const n = uniq("m");
      const m = await newModel(n, { team: "risk" });
      expect(m).toEqual({ name: n, creationTimestamp: 1_000, lastUpdatedTimestamp: 1_000, userId: "ada", description: "", latestVersions: [], tags: { team: "risk" }, aliases: [] });
      expect(await code(newModel(n))).toBe("RESOURCE_ALREADY_EXISTS");
      expect(await store.getRegisteredModel(uniq("missing"))).toBeUndefined();
    });

    it("numbers versions 1, 2, 3 per model and never reuses a deleted number", async () => {
      const a = (await newModel()).name;
      const b = (await newModel()).name;
      expect((await newVersion(a)).version).toBe("1");
      expect((await newVersion(a)).version).toBe("2");
      expect((await newVersion(b)).version).toBe("1");
      await store.deleteModelVersion(a, 2, by(3_000));
      const v3 = await newVersion(a, { tags: { k: "v" } });
      expect(v3).toMatchObject({ name: a, version: "3", currentStage: "None", status: "READY", tags: { k: "v" }, aliases: [] });
      expect(await code(newVersion(uniq("missing")))).toBe("RESOURCE_DOES_NOT_EXIST");
    });

    it("gives 8 concurrent creates versions 1..8 exactly", async () => {
      const n = (await newModel()).name;
      const vs = await Promise.all(Array.from({ length: 8 }, () => newVersion(n)));
      expect(vs.map((v) => Number(v.version)).sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    });

    it("renames a model with its versions, tags, aliases and alias history", async () => {
      const n = (await newModel(undefined, { t: "1" })).name;
      await newVersion(n, { tags: { vt: "x" } });
      await store.setAlias(n, "champion", 1, by(3_000));
      const to = uniq("renamed");
      const taken = (await newModel()).name;
      expect(await code(store.updateRegisteredModel(n, { newName: taken, time: 4_000 }))).toBe("RESOURCE_ALREADY_EXISTS");
      const m = await store.updateRegisteredModel(n, { newName: to, time: 4_000 });
      expect(m).toMatchObject({ name: to, tags: { t: "1" }, aliases: [{ alias: "champion", version: "1" }], lastUpdatedTimestamp: 4_000 });
      expect(await store.getRegisteredModel(n)).toBeUndefined();
      expect(await store.getModelVersion(to, 1)).toMatchObject({ name: to, tags: { vt: "x" }, aliases: ["champion"] });
      expect(await store.getModelVersion(n, 1)).toBeUndefined();
      expect(await store.getAliasHistory(to, "champion")).toHaveLength(1);
      expect(await code(store.updateRegisteredModel(uniq("missing"), { description: "x", time: 1 }))).toBe("RESOURCE_DOES_NOT_EXIST");
    });

    it("deletes a model with its versions, aliases and tags; a new model of that name starts at version 1", async () => {
      const n = (await newModel(undefined, { t: "1" })).name;
      await newVersion(n, { tags: { vt: "x" } });
      await store.setAlias(n, "prod", 1, by(3_000));
      await store.deleteRegisteredModel(n);
      expect(await store.getRegisteredModel(n)).toBeUndefined();
      expect(await searchVersions(`name = '${n}'`)).toEqual([]);
      expect(await code(store.deleteRegisteredModel(n))).toBe("RESOURCE_DOES_NOT_EXIST");
      await newModel(n);
      expect(await store.getRegisteredModel(n)).toMatchObject({ tags: {}, aliases: [] });
      expect(await code(store.getAliasHistory(n, "prod"))).toBe("ok");
      expect(await store.getAliasHistory(n, "prod")).toEqual([]);
      expect((await newVersion(n)).version).toBe("1");
    });

    it("refuses an alias on a missing version and changes nothing", async () => {
      const n = (await newModel()).name;
      await newVersion(n);
      await store.setAlias(n, "champion", 1, by(3_000));
      expect(await code(store.setAlias(n, "champion", 7, by(4_000)))).toBe("RESOURCE_DOES_NOT_EXIST");
      expect(await code(store.setAlias(uniq("missing"), "champion", 1, by(4_000)))).toBe("RESOURCE_DOES_NOT_EXIST");
      expect((await store.getRegisteredModel(n))!.aliases).toEqual([{ alias: "champion", version: "1" }]);
      expect(await store.getAliasHistory(n, "champion")).toHaveLength(1);
    });

    it("records alias reassignment and deletion, newest first; setting the same version is no change", async () => {
      const n = (await newModel()).name;
      await newVersion(n);
      await newVersion(n);
      await store.setAlias(n, "champion", 1, by(3_000));
      await store.setAlias(n, "champion", 1, by(3_500));
      await store.setAlias(n, "champion", 2, { actor: "bob", time: 4_000 });
      await store.deleteAlias(n, "champion", by(5_000));
      await store.deleteAlias(n, "champion", by(6_000));
      expect(await store.getAliasHistory(n, "champion")).toEqual([
        { alias: "champion", fromVersion: "2", toVersion: null, actor: "ada", time: 5_000 },
        { alias: "champion", fromVersion: "1", toVersion: "2", actor: "bob", time: 4_000 },
        { alias: "champion", fromVersion: null, toVersion: "1", actor: "ada", time: 3_000 },
      ]);
      expect((await store.getRegisteredModel(n))!.aliases).toEqual([]);
    });

    it("deleting a version removes its aliases, recorded in the history", async () => {
      const n = (await newModel()).name;
      await newVersion(n);
      await newVersion(n);
      await store.setAlias(n, "a", 1, by(3_000));
      await store.setAlias(n, "b", 1, by(3_000));
      await store.setAlias(n, "c", 2, by(3_000));
      await store.deleteModelVersion(n, 1, by(4_000));
      expect((await store.getRegisteredModel(n))!.aliases).toEqual([{ alias: "c", version: "2" }]);
      expect((await store.getAliasHistory(n, "a"))[0]).toEqual({ alias: "a", fromVersion: "1", toVersion: null, actor: "ada", time: 4_000 });
      expect((await store.getAliasHistory(n, "b"))[0]).toMatchObject({ fromVersion: "1", toVersion: null });
      expect(await code(store.deleteModelVersion(n, 1, by(5_000)))).toBe("RESOURCE_DOES_NOT_EXIST");
    });

    it("sets and deletes model and version tags; updates description and stage", async () => {
      const n = (await newModel()).name;
      await newVersion(n);
      await newVersion(n);
      await store.setTag({ name: n }, "k", "v1", 3_000);
      await store.setTag({ name: n }, "k", "v2", 3_000);
      await store.setTag({ name: n, version: 1 }, "vk", "x", 3_000);
      expect((await store.getRegisteredModel(n))!.tags).toEqual({ k: "v2" });
      expect((await store.getModelVersion(n, 1))!.tags).toEqual({ vk: "x" });
      await store.deleteTag({ name: n }, "k");
      await store.deleteTag({ name: n, version: 1 }, "vk");
      expect((await store.getRegisteredModel(n))!.tags).toEqual({});
      expect((await store.getModelVersion(n, 1))!.tags).toEqual({});
      expect(await code(store.setTag({ name: n, version: 9 }, "k", "v", 1))).toBe("RESOURCE_DOES_NOT_EXIST");

      await store.updateModelVersion(n, 1, { stage: "Production", time: 4_000 });
      await store.updateModelVersion(n, 2, { stage: "Production", archiveExistingVersions: true, description: "best", time: 5_000 });
      expect(await store.getModelVersion(n, 1)).toMatchObject({ currentStage: "Archived", lastUpdatedTimestamp: 5_000 });
      expect(await store.getModelVersion(n, 2)).toMatchObject({ currentStage: "Production", description: "best" });
      expect((await store.getRegisteredModel(n))!.latestVersions.map((v) => [v.version, v.currentStage])).toEqual([
        ["1", "Archived"],
        ["2", "Production"],
      ]);
    });

    it("stores a signature at creation and replaces or clears it later", async () => {
      const n = (await newModel()).name;
      const sig = { inputs: [{ name: "x", dtype: "float32" as const, shape: [-1, 3] }], outputs: [{ name: "y", dtype: "int64" as const, shape: [-1], optional: false }] };
      const v1 = await store.createModelVersion({ name: n, source: "mlflow-artifacts:/0/r/artifacts/model", runId: "", runLink: "", description: "", tags: {}, userId: "ada", time: 2_000, signature: sig });
      expect(v1.signature).toEqual(sig);
      expect((await newVersion(n)).signature).toBeNull();
      const sig2 = { inputs: [{ name: "x", dtype: "float64" as const, shape: [-1, -1], optional: true }], outputs: [] };
      expect(await store.setSignature(n, 2, sig2, 3_000)).toMatchObject({ signature: sig2, lastUpdatedTimestamp: 3_000 });
      expect((await store.getModelVersion(n, 2))!.signature).toEqual(sig2);
      expect((await store.setSignature(n, 1, null, 4_000)).signature).toBeNull();
      expect(await code(store.setSignature(n, 9, sig, 5_000))).toBe("RESOURCE_DOES_NOT_EXIST");
      expect(await code(store.setSignature(uniq("missing"), 1, sig, 5_000))).toBe("RESOURCE_DOES_NOT_EXIST");
    });

    it("stores one card per model, replaced whole, moved on rename and removed with the model", async () => {
      const n = (await newModel()).name;
      expect(await store.getCard(n)).toBeUndefined();
      const card = { intendedUse: "fraud | scoring", trainingDatasets: [{ name: "tx", version: "3" }], riskClass: "high" as const, owners: ["ada", "bob"] };
      expect(await store.setCard(n, card, 3_000)).toEqual({ name: n, card, lastUpdatedTimestamp: 3_000 });
      expect(await store.getCard(n)).toEqual({ name: n, card, lastUpdatedTimestamp: 3_000 });
      await store.setCard(n, { limitations: "none known" }, 4_000);
      expect(await store.getCard(n)).toEqual({ name: n, card: { limitations: "none known" }, lastUpdatedTimestamp: 4_000 });
      const to = uniq("carded");
      await store.updateRegisteredModel(n, { newName: to, time: 5_000 });
      expect((await store.getCard(to))!.card).toEqual({ limitations: "none known" });
      await store.deleteRegisteredModel(to);
      await newModel(to);
      expect(await store.getCard(to)).toBeUndefined();
      expect(await code(store.getCard(uniq("missing")))).toBe("RESOURCE_DOES_NOT_EXIST");
      expect(await code(store.setCard(uniq("missing"), {}, 1))).toBe("RESOURCE_DOES_NOT_EXIST");
    });

    it("retires and unretires versions; an archived version keeps its aliases but takes no new one", async () => {
      const n = (await newModel()).name;
      await newVersion(n);
      await newVersion(n);
      await store.setAlias(n, "champion", 1, by(3_000));
      const dep = await store.setRetirement(n, 2, { state: "deprecated", reason: "superseded", time: 4_000 }, 4_000);
      expect(dep.retirement).toEqual({ state: "deprecated", reason: "superseded", time: 4_000 });
      await store.setAlias(n, "old", 2, by(4_500));
      const arch = await store.setRetirement(n, 1, { state: "archived", reason: "drift", time: 5_000 }, 5_000);
      expect(arch).toMatchObject({ retirement: { state: "archived", reason: "drift", time: 5_000 }, aliases: ["champion"] });
      expect(await code(store.setAlias(n, "challenger", 1, by(6_000)))).toBe("INVALID_PARAMETER_VALUE");
      expect(await code(store.setAlias(n, "old", 1, by(6_000)))).toBe("INVALID_PARAMETER_VALUE");
      expect((await store.getRegisteredModel(n))!.aliases).toEqual([
        { alias: "champion", version: "1" },
        { alias: "old", version: "2" },
      ]);
      expect(await store.getAliasHistory(n, "challenger")).toEqual([]);
      expect(await store.getAliasHistory(n, "old")).toHaveLength(1);
      expect((await store.setRetirement(n, 1, null, 7_000)).retirement).toBeNull();
      await store.setAlias(n, "challenger", 1, by(8_000));
      expect((await store.getModelVersion(n, 1))!.aliases).toEqual(["challenger", "champion"]);
      expect(await code(store.setRetirement(n, 9, null, 1))).toBe("RESOURCE_DOES_NOT_EXIST");
    });

    it("searches models by name, LIKE, ILIKE and tags, with order and paging", async () => {
      const p = uniq("Srch");
      await newModel(`${p}-b`, { team: "risk" }, 1_000);
      await newModel(`${p}-a`, { team: "ads" }, 3_000);
      await newModel(`${p}-c`, { team: "risk" }, 2_000);
      const names = (ms: { name: string }[]) => ms.map((m) => m.name.slice(p.length));
      expect(names(await searchModels(`name LIKE '${p}%'`))).toEqual(["-a", "-b", "-c"]);
      expect(names(await searchModels(`name = '${p}-b'`))).toEqual(["-b"]);
      expect(names(await searchModels(`name LIKE '${p.toLowerCase()}%'`))).toEqual([]);
      expect(names(await searchModels(`name ILIKE '${p.toLowerCase()}%'`))).toEqual(["-a", "-b", "-c"]);
      expect(names(await searchModels(`name LIKE '${p}%' AND tags.team = 'risk'`))).toEqual(["-b", "-c"]);
      expect(names(await searchModels(`name LIKE '${p}%'`, ["last_updated_timestamp DESC"]))).toEqual(["-a", "-c", "-b"]);
      expect(names(await searchModels(`name LIKE '${p}%'`, ["name DESC"], 1, 1))).toEqual(["-b"]);
    });

    it("searches versions by name, run_id, source_path and tags, newest version first by default", async () => {
      const n = (await newModel()).name;
      await newVersion(n, { runId: "run-a", source: "mlflow-artifacts:/1/run-a/artifacts/model" });
      await newVersion(n, { runId: "run-b", source: "mlflow-artifacts:/1/run-b/artifacts/model", tags: { env: "prod" } });
      await newVersion(n, { runId: "run-a", source: "mlflow-artifacts:/1/run-a/artifacts/other" });
      const vs = (ms: { version: string }[]) => ms.map((m) => m.version);
      expect(vs(await searchVersions(`name = '${n}'`))).toEqual(["3", "2", "1"]);
      expect(vs(await searchVersions(`name = '${n}' and run_id = 'run-a'`))).toEqual(["3", "1"]);
      expect(vs(await searchVersions(`name = '${n}' and source_path LIKE '%/model'`))).toEqual(["2", "1"]);
      expect(vs(await searchVersions(`name = '${n}' and tags.env = 'prod'`))).toEqual(["2"]);
      expect(vs(await searchVersions(`name = '${n}'`, ["version_number ASC"]))).toEqual(["1", "2", "3"]);
      expect(vs(await searchVersions(`name = '${n}' and version_number > 1`, ["version_number ASC"], 1, 5))).toEqual(["3"]);
    });
  });
}
