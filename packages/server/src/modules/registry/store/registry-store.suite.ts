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

    it("reads a model's state (description, tags, aliases) in one query", async () => {
      const n = await newModel(undefined, { team: "risk", "a b": "x" });
      expect(await store.getModelState(n.name)).toEqual({ description: "", tags: { team: "risk", "a b": "x" }, aliases: {} });
      await newVersion(n.name);
      await newVersion(n.name);
      await store.setAlias(n.name, "champion", 2, by(3_000));
      await store.setAlias(n.name, "staging", 1, by(3_001));
      expect((await store.getModelState(n.name))!.aliases).toEqual({ champion: "2", staging: "1" });
      expect(await store.getModelState("missing-model")).toBeUndefined();
    });

    it("restricts model and version searches to projects (the cairn.project tag, default without one)", async () => {
      const a = await newModel(uniq("proj"), { "cairn.project": "risk" });
      const b = await newModel(uniq("proj"));
      await newVersion(a.name);
      await newVersion(b.name);
      const names = async (projects: string[] | undefined) =>
        (await store.searchRegisteredModels({ projects, filter: [{ field: "name", op: "LIKE", value: `proj-${tag}-%` }], orderBy: [], offset: 0, limit: 10 })).map((m) => m.name).sort();
      expect(await names(["risk"])).toEqual([a.name]);
      expect(await names(["default"])).toEqual([b.name]);
      expect(await names(["risk", "default"])).toEqual([a.name, b.name].sort());
      expect(await names([])).toEqual([]);
      const versions = await store.searchModelVersions({ projects: ["risk"], filter: [{ field: "name", op: "=", value: a.name }], orderBy: [], offset: 0, limit: 10 });
      expect(versions.map((v) => v.name)).toEqual([a.name]);
      expect(await store.searchModelVersions({ projects: ["default"], filter: [{ field: "name", op: "=", value: a.name }], orderBy: [], offset: 0, limit: 10 })).toEqual([]);
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
        { alias: "champion", fromVersion: "2", toVersion: null, actor: "ada", time: 5_000, requestId: null },
        { alias: "champion", fromVersion: "1", toVersion: "2", actor: "bob", time: 4_000, requestId: null },
        { alias: "champion", fromVersion: null, toVersion: "1", actor: "ada", time: 3_000, requestId: null },
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
      expect((await store.getAliasHistory(n, "a"))[0]).toEqual({ alias: "a", fromVersion: "1", toVersion: null, actor: "ada", time: 4_000, requestId: null });
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

    it("stores a version's flavors and registration status, and reads them back in search and on the model", async () => {
      const n = (await newModel()).name;
      const flavors = [{ name: "onnx", details: { data: "model.onnx", providers: ["CPUExecutionProvider"] } }, { name: "python_function", details: { loader_module: "mlflow.onnx", env: { conda: "conda.yaml" } } }];
      const base = { name: n, source: "mlflow-artifacts:/0/r/artifacts/model", runId: "", runLink: "", description: "", tags: {}, userId: "ada", time: 2_000 };
      expect(await store.createModelVersion({ ...base, flavors })).toMatchObject({ status: "READY", statusMessage: "", flavors });
      const failed = await store.createModelVersion({ ...base, flavors: flavors.slice(0, 1), status: "FAILED_REGISTRATION", statusMessage: "Invalid model package: flavor 'onnx': model file 'model.onnx' is missing" });
      expect(failed).toMatchObject({ version: "2", status: "FAILED_REGISTRATION", statusMessage: expect.stringContaining("is missing"), flavors: flavors.slice(0, 1) });
      expect((await newVersion(n)).flavors).toEqual([]);
      const found = await store.searchModelVersions({ filter: parseRegistryFilter(`name = '${n}'`, "version"), orderBy: parseRegistryOrderBy(["version_number ASC"], "version"), offset: 0, limit: 10 });
      expect(found.map((v) => [v.status, v.flavors.map((f) => f.name)])).toEqual([["READY", ["onnx", "python_function"]], ["FAILED_REGISTRATION", ["onnx"]], ["READY", []]]);
      expect((await store.getRegisteredModel(n))!.latestVersions[0]!.flavors).toEqual([]);
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

    it("retires and unretires versions; an archived version keeps its aliases and still takes unprotected ones", async () => {
      const n = (await newModel()).name;
      await newVersion(n);
      await newVersion(n);
      await store.setAlias(n, "champion", 1, by(3_000));
      const dep = await store.setRetirement(n, 2, { state: "deprecated", reason: "superseded", time: 4_000 }, 4_000);
      expect(dep.retirement).toEqual({ state: "deprecated", reason: "superseded", time: 4_000 });
      await store.setAlias(n, "old", 2, by(4_500));
      const arch = await store.setRetirement(n, 1, { state: "archived", reason: "drift", time: 5_000 }, 5_000);
      expect(arch).toMatchObject({ retirement: { state: "archived", reason: "drift", time: 5_000 }, aliases: ["champion"] });
      // Only protected aliases are closed to an archived version (see the promotion cases).
      await store.setAlias(n, "challenger", 1, by(6_000));
      expect((await store.getRegisteredModel(n))!.aliases).toEqual([
        { alias: "challenger", version: "1" },
        { alias: "champion", version: "1" },
        { alias: "old", version: "2" },
      ]);
      expect((await store.setRetirement(n, 1, null, 7_000)).retirement).toBeNull();
      expect(await code(store.setRetirement(n, 9, null, 1))).toBe("RESOURCE_DOES_NOT_EXIST");
    });

    // ---------- promotion ----------

    const P = () => store.promotions;
    const gatePass = [{ gate: { kind: "metric" as const, metric: "auc", op: ">=" as const, value: 0.9 }, passed: true, message: "auc = 0.95, >= 0.9" }];
    const request = (name: string, alias: string, version: number, expectedFrom: number | null, requester = "ada", time = 5_000) =>
      P().createRequest({ name, alias, version, reason: "better auc", requester, time, gateResults: gatePass, expectedFrom });
    const protect = (name: string, ...aliases: string[]) => P().setPolicy(name, { protectedAliases: aliases, gates: [] }, 2_500);

    it("stores one policy per model, replaced whole, moved on rename and removed with the model", async () => {
      const n = (await newModel()).name;
      expect(await P().getPolicy(n)).toBeUndefined();
      const policy = { protectedAliases: ["production"], gates: [{ kind: "champion_regression" as const, metric: "auc", maxRegression: 0.01, higherIsBetter: true }, { kind: "signature_compatible" as const }] };
      expect(await P().setPolicy(n, policy, 3_000)).toEqual({ policy, lastUpdatedTimestamp: 3_000 });
      expect(await P().getPolicy(n)).toEqual({ policy, lastUpdatedTimestamp: 3_000 });
      await P().setPolicy(n, { protectedAliases: ["prod"], gates: [] }, 4_000);
      const to = uniq("policied");
      await store.updateRegisteredModel(n, { newName: to, time: 5_000 });
      expect(await P().getPolicy(to)).toEqual({ policy: { protectedAliases: ["prod"], gates: [] }, lastUpdatedTimestamp: 4_000 });
      await store.deleteRegisteredModel(to);
      await newModel(to);
      expect(await P().getPolicy(to)).toBeUndefined();
      expect(await code(P().getPolicy(uniq("missing")))).toBe("RESOURCE_DOES_NOT_EXIST");
      expect(await code(P().setPolicy(uniq("missing"), policy, 1))).toBe("RESOURCE_DOES_NOT_EXIST");
    });

    it("refuses direct changes of a protected alias (set, delete, deleting its version) and changes nothing", async () => {
      const n = (await newModel()).name;
      await newVersion(n);
      await newVersion(n);
      await store.setAlias(n, "production", 1, by(3_000));
      await protect(n, "production", "gold");
      expect(await code(store.setAlias(n, "production", 2, by(4_000)))).toBe("PERMISSION_DENIED");
      expect(await code(store.setAlias(n, "gold", 2, by(4_000)))).toBe("PERMISSION_DENIED");
      expect(await code(store.deleteAlias(n, "production", by(4_000)))).toBe("PERMISSION_DENIED");
      expect(await code(store.deleteModelVersion(n, 1, by(4_000)))).toBe("PERMISSION_DENIED");
      expect((await store.getRegisteredModel(n))!.aliases).toEqual([{ alias: "production", version: "1" }]);
      expect(await store.getAliasHistory(n, "production")).toHaveLength(1);
      expect(await store.getModelVersion(n, 1)).toBeDefined();
      // Unprotected aliases are unaffected.
      await store.setAlias(n, "staging", 2, by(4_000));
      await store.deleteModelVersion(n, 2, by(4_500));
      expect((await store.getRegisteredModel(n))!.aliases).toEqual([{ alias: "production", version: "1" }]);
    });

    it("creates, comments on and approves a request: the alias moves and its history names the request", async () => {
      const n = (await newModel()).name;
      await newVersion(n);
      await newVersion(n);
      await newVersion(n);
      await store.setAlias(n, "production", 1, by(3_000));
      await protect(n, "production");
      const r = await request(n, "production", 2, 1);
      expect(r).toEqual({
        id: r.id,
        name: n,
        alias: "production",
        version: "2",
        fromVersion: "1",
        reason: "better auc",
        requester: "ada",
        status: "open",
        gateResults: gatePass,
        gatesPassed: true,
        comments: [],
        decidedBy: null,
        decidedAt: null,
        decisionComment: null,
        createdAt: 5_000,
      });
      expect(await code(request(n, "production", 2, 1))).toBe("RESOURCE_ALREADY_EXISTS");
      expect(await code(request(n, "production", 1, 1))).toBe("INVALID_STATE");
      expect(await code(request(n, "production", 3, null))).toBe("ABORTED");
      expect(await code(request(n, "production", 9, 1))).toBe("RESOURCE_DOES_NOT_EXIST");
      expect(await code(request(uniq("missing"), "production", 1, null))).toBe("RESOURCE_DOES_NOT_EXIST");
      await store.setRetirement(n, 3, { state: "archived", reason: "old", time: 4_000 }, 4_000);
      expect(await code(request(n, "production", 3, 1))).toBe("INVALID_PARAMETER_VALUE");
      expect((await P().listRequests({ name: n, offset: 0, limit: 10 })).map((x) => x.id)).toEqual([r.id]);

      const commented = await P().addComment(r.id, { author: "bob", text: "looks good", time: 6_000 });
      expect(commented.comments).toEqual([{ author: "bob", text: "looks good", time: 6_000 }]);
      expect(await code(P().approve(r.id, { actor: "bob", time: 7_000, comment: "ship it", gateResults: gatePass, expectedFrom: 2 }))).toBe("ABORTED");
      expect((await P().getRequest(r.id))!.status).toBe("open");
      const approved = await P().approve(r.id, { actor: "bob", time: 7_000, comment: "ship it", gateResults: [], expectedFrom: 1 });
      expect(approved).toMatchObject({ status: "approved", decidedBy: "bob", decidedAt: 7_000, decisionComment: "ship it", gateResults: [], gatesPassed: true, comments: [{ text: "looks good" }] });
      expect((await store.getRegisteredModel(n))!.aliases).toEqual([{ alias: "production", version: "2" }]);
      expect((await store.getAliasHistory(n, "production"))[0]).toEqual({ alias: "production", fromVersion: "1", toVersion: "2", actor: "bob", time: 7_000, requestId: r.id });
      expect(await code(P().approve(r.id, { actor: "bob", time: 8_000, comment: null, gateResults: [], expectedFrom: 2 }))).toBe("INVALID_STATE");
      expect(await code(P().closeRequest(r.id, { status: "rejected", actor: "bob", time: 8_000, comment: "no" }))).toBe("INVALID_STATE");
      expect(await store.getAliasHistory(n, "production")).toHaveLength(2);
      expect(await P().getRequest(987_654_321)).toBeUndefined();
      expect(await code(P().addComment(987_654_321, { author: "a", text: "x", time: 1 }))).toBe("RESOURCE_DOES_NOT_EXIST");
    });

    it("rejects and cancels open requests; a deleted or archived version cannot be approved and nothing changes", async () => {
      const n = (await newModel()).name;
      await newVersion(n);
      await newVersion(n);
      await newVersion(n);
      const a = await request(n, "production", 1, null);
      const b = await request(n, "production", 2, null);
      const c = await request(n, "production", 3, null);
      expect(await P().closeRequest(a.id, { status: "rejected", actor: "bob", time: 6_000, comment: "auc too low" })).toMatchObject({ status: "rejected", decidedBy: "bob", decisionComment: "auc too low" });
      expect(await P().closeRequest(b.id, { status: "cancelled", actor: "ada", time: 6_000, comment: null })).toMatchObject({ status: "cancelled", decidedBy: "ada", decisionComment: null });
      // A closed request frees its slot: the same promotion can be requested again.
      const again = await request(n, "production", 1, null);
      expect(again.id).toBeGreaterThan(c.id);
      await store.setRetirement(n, 3, { state: "archived", reason: "drift", time: 7_000 }, 7_000);
      expect(await code(P().approve(c.id, { actor: "bob", time: 8_000, comment: null, gateResults: [], expectedFrom: null }))).toBe("INVALID_STATE");
      await store.deleteModelVersion(n, 1, by(8_000));
      expect(await code(P().approve(again.id, { actor: "bob", time: 8_000, comment: null, gateResults: [], expectedFrom: null }))).toBe("RESOURCE_DOES_NOT_EXIST");
      expect((await store.getRegisteredModel(n))!.aliases).toEqual([]);
      expect(await store.getAliasHistory(n, "production")).toEqual([]);
      expect((await P().getRequest(c.id))!.status).toBe("open");
      const open = await P().listRequests({ name: n, status: "open", offset: 0, limit: 10 });
      expect(open.map((x) => x.id)).toEqual([again.id, c.id]);
      expect((await P().listRequests({ name: n, offset: 1, limit: 2 })).map((x) => x.id)).toEqual([c.id, b.id]);
      expect(await P().listRequests({ name: n, alias: "other", offset: 0, limit: 10 })).toEqual([]);
    });

    it("decides a request once when approvers race, and records one history row", async () => {
      const n = (await newModel()).name;
      await newVersion(n);
      const r = await request(n, "production", 1, null);
      const outcomes = await Promise.all(["bob", "cy", "dee", "eve"].map((actor) => code(P().approve(r.id, { actor, time: 7_000, comment: null, gateResults: [], expectedFrom: null }))));
      expect(outcomes.sort()).toEqual(["INVALID_STATE", "INVALID_STATE", "INVALID_STATE", "ok"]);
      expect(await store.getAliasHistory(n, "production")).toHaveLength(1);
      expect((await P().getRequest(r.id))!.status).toBe("approved");
    });

    it("moves requests with a renamed model and deletes them, with their comments, with the model", async () => {
      const n = (await newModel()).name;
      await newVersion(n);
      const r = await request(n, "production", 1, null);
      await P().addComment(r.id, { author: "bob", text: "hm", time: 6_000 });
      const to = uniq("moved");
      await store.updateRegisteredModel(n, { newName: to, time: 7_000 });
      expect(await P().getRequest(r.id)).toMatchObject({ name: to, comments: [{ text: "hm" }] });
      await store.deleteRegisteredModel(to);
      expect(await P().getRequest(r.id)).toBeUndefined();
      expect(await P().listRequests({ name: to, offset: 0, limit: 10 })).toEqual([]);
      await newModel(to);
      await newVersion(to);
      // Ids are global and never reused.
      expect((await request(to, "production", 1, null)).id).toBeGreaterThan(r.id);
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
