import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Experiment, Run } from "@cairn/contract";
import { parseExperimentFilter, parseOrderBy, parseRunFilter } from "../search/filter-parser.js";
import type { MetricPoint, NewRun, SearchRunsQuery, TrackingStore } from "./tracking-store.js";
import { ROLLUP_THRESHOLD, downsampleBruteForce, planDownsample } from "./rollups.js";

/**
 * The one behavioural suite every TrackingStore implementation must pass (SQLite, PostgreSQL).
 * `makeStore` returns a store over a fresh, migrated database and a cleanup that drops it.
 * @example describeTrackingStore("sqlite", async () => ({ store, cleanup }))
 */
export function describeTrackingStore(name: string, makeStore: () => Promise<{ store: TrackingStore; cleanup(): Promise<void> }>): void {
  describe(`TrackingStore (${name})`, () => {
    let store: TrackingStore;
    let cleanup: () => Promise<void>;
    const tag = randomBytes(3).toString("hex");
    let seq = 0;
    const uniq = (prefix: string) => `${prefix}-${tag}-${++seq}`;

    beforeAll(async () => {
      ({ store, cleanup } = await makeStore());
    });
    afterAll(async () => {
      await store?.close();
      await cleanup?.();
    });

    const newExperiment = (overrides: { name?: string; tags?: Record<string, string>; creationTime?: number; artifactLocation?: string } = {}) =>
      store.createExperiment({ name: overrides.name ?? uniq("exp"), tags: overrides.tags ?? {}, creationTime: overrides.creationTime ?? 1_000, ...(overrides.artifactLocation ? { artifactLocation: overrides.artifactLocation } : {}) });

    const newRun = (experimentId: string, overrides: Partial<NewRun> = {}) => {
      const runId = overrides.runId ?? randomBytes(16).toString("hex");
      return store.createRun({
        runId,
        experimentId,
        runName: "",
        userId: "alice",
        status: "RUNNING",
        startTime: 1_000,
        artifactUri: `mlflow-artifacts:/${experimentId}/${runId}/artifacts`,
        tags: {},
        ...overrides,
      });
    };

    const points = (key: string, list: [step: number, timestamp: number, value: number][]): MetricPoint[] => list.map(([step, timestamp, value]) => ({ key, step, timestamp, value }));

    async function expectCode(p: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
      const err = await p.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, `expected ${code}`).toBeDefined();
      expect((err as { code?: string }).code).toBe(code);
      if (message) expect((err as Error).message).toMatch(message);
    }

    // ------------------------------------------------------------ experiments

    describe("experiments", () => {
      it("has the Default experiment 0 after migration", async () => {
        const e = await store.getExperiment("0");
        expect(e).toMatchObject({ experimentId: "0", name: "Default", artifactLocation: "mlflow-artifacts:/0", lifecycleStage: "active" });
        expect((await store.getExperimentByName("Default"))?.experimentId).toBe("0");
      });

      it("creates, reads and defaults the artifact location", async () => {
        const name = uniq("create");
        const e = await newExperiment({ name, tags: { team: "vision", note: "x" }, creationTime: 1234 });
        expect(e.experimentId).toMatch(/^[1-9]\d*$/);
        expect(e).toMatchObject({ name, artifactLocation: `mlflow-artifacts:/${e.experimentId}`, lifecycleStage: "active", creationTime: 1234, lastUpdateTime: 1234, tags: { team: "vision", note: "x" } });
        expect(await store.getExperiment(e.experimentId)).toEqual(e);
        expect(await store.getExperimentByName(name)).toEqual(e);
        const custom = await newExperiment({ artifactLocation: "s3://bucket/prefix" });
        expect(custom.artifactLocation).toBe("s3://bucket/prefix");
        expect(await store.getExperiment("999999")).toBeUndefined();
        expect(await store.getExperiment("not-a-number")).toBeUndefined();
        expect(await store.getExperimentByName(uniq("missing"))).toBeUndefined();
      });

      it("rejects duplicate names, including deleted experiments", async () => {
        const e = await newExperiment();
        await expectCode(newExperiment({ name: e.name }), "RESOURCE_ALREADY_EXISTS", /already exists/);
        await store.updateExperiment(e.experimentId, { lifecycleStage: "deleted", lastUpdateTime: 2000 });
        await expectCode(newExperiment({ name: e.name }), "RESOURCE_ALREADY_EXISTS");
      });

      it("renames, deletes and restores with their runs", async () => {
        const e = await newExperiment();
        const other = await newExperiment();
        const renamed = await store.updateExperiment(e.experimentId, { name: uniq("renamed"), lastUpdateTime: 1500 });
        expect(renamed.lastUpdateTime).toBe(1500);
        await expectCode(store.updateExperiment(e.experimentId, { name: other.name, lastUpdateTime: 1600 }), "RESOURCE_ALREADY_EXISTS");
        const keep = await newRun(e.experimentId);
        const early = await newRun(e.experimentId);
        await store.updateRun(early.info.runId, { lifecycleStage: "deleted", deletedTime: 1700 });
        const deleted = await store.updateExperiment(e.experimentId, { lifecycleStage: "deleted", lastUpdateTime: 1800 });
        expect(deleted.lifecycleStage).toBe("deleted");
        expect((await store.getRunInfo(keep.info.runId))?.lifecycleStage).toBe("deleted");
        await expectCode(store.updateExperiment(e.experimentId, { name: uniq("x"), lastUpdateTime: 1900 }), "INVALID_PARAMETER_VALUE", /active/);
        await expectCode(newRun(e.experimentId), "INVALID_PARAMETER_VALUE", /active/);
        // Deleting again, or "renaming" to the same name, changes nothing, so restore still finds the runs.
        await store.updateExperiment(e.experimentId, { lifecycleStage: "deleted", lastUpdateTime: 1950 });
        await store.updateExperiment(e.experimentId, { name: deleted.name, lastUpdateTime: 1960 });
        const restored = await store.updateExperiment(e.experimentId, { lifecycleStage: "active", lastUpdateTime: 2000 });
        expect(restored.lifecycleStage).toBe("active");
        expect((await store.getRunInfo(keep.info.runId))?.lifecycleStage).toBe("active");
        // A run deleted on its own before the experiment stays deleted.
        expect((await store.getRunInfo(early.info.runId))?.lifecycleStage).toBe("deleted");
        await expectCode(store.updateExperiment("999999", { lastUpdateTime: 1 }), "RESOURCE_DOES_NOT_EXIST");
        await expectCode(store.updateExperiment("0", { lifecycleStage: "deleted", lastUpdateTime: 1 }), "INVALID_PARAMETER_VALUE");
      });

      it("sets, overwrites and deletes tags", async () => {
        const e = await newExperiment({ tags: { a: "1" } });
        await store.setExperimentTag(e.experimentId, "a", "2");
        await store.setExperimentTag(e.experimentId, "b", "3");
        expect((await store.getExperiment(e.experimentId))?.tags).toEqual({ a: "2", b: "3" });
        await store.deleteExperimentTag(e.experimentId, "a");
        expect((await store.getExperiment(e.experimentId))?.tags).toEqual({ b: "3" });
        await expectCode(store.deleteExperimentTag(e.experimentId, "a"), "RESOURCE_DOES_NOT_EXIST");
        await expectCode(store.setExperimentTag("999999", "a", "1"), "RESOURCE_DOES_NOT_EXIST");
        await store.updateExperiment(e.experimentId, { lifecycleStage: "deleted", lastUpdateTime: 5 });
        await expectCode(store.setExperimentTag(e.experimentId, "c", "1"), "INVALID_PARAMETER_VALUE");
        await expectCode(store.deleteExperimentTag(e.experimentId, "b"), "INVALID_PARAMETER_VALUE");
      });

      it("restricts an experiment search to projects (the cairn.project tag, default without one)", async () => {
        const prefix = uniq("proj");
        const risk = await newExperiment({ name: `${prefix}-risk`, tags: { "cairn.project": "risk" } });
        const plain = await newExperiment({ name: `${prefix}-plain` });
        const search = (projects: string[] | undefined) =>
          store.searchExperiments({ projects, filter: parseExperimentFilter(`name LIKE '${prefix}-%'`), orderBy: parseOrderBy(["name"], "experiment"), viewType: "ACTIVE_ONLY", offset: 0, limit: 100 });
        expect((await search(["risk"])).map((e) => e.name)).toEqual([risk.name]);
        expect((await search(["default"])).map((e) => e.name)).toEqual([plain.name]);
        expect((await search(["default", "risk"])).map((e) => e.name)).toEqual([plain.name, risk.name]);
        expect(await search([])).toEqual([]);
        expect(await search(undefined)).toHaveLength(2);
      });

      it("searches with filters, order and paging", async () => {
        const prefix = uniq("search");
        const made: Experiment[] = [];
        for (let i = 0; i < 12; i++) {
          made.push(await newExperiment({ name: `${prefix}-${String(i).padStart(2, "0")}${i % 3 === 0 ? "-Big" : ""}`, creationTime: 10_000 + (i % 4) * 10, tags: i % 2 ? { team: "odd" } : { team: "even", x: "y" } }));
        }
        await store.updateExperiment(made[11]!.experimentId, { lifecycleStage: "deleted", lastUpdateTime: 20_000 });
        const search = (filter: string, orderBy: string[] = [], extra: { viewType?: "ACTIVE_ONLY" | "DELETED_ONLY" | "ALL"; offset?: number; limit?: number } = {}) =>
          store.searchExperiments({ filter: parseExperimentFilter(filter), orderBy: parseOrderBy(orderBy, "experiment"), viewType: extra.viewType ?? "ACTIVE_ONLY", offset: extra.offset ?? 0, limit: extra.limit ?? 100 });
        const names = (es: Experiment[]) => es.map((e) => e.name);
        const active = made.slice(0, 11);

        expect(names(await search(`name LIKE '${prefix}-%'`, ["name ASC"]))).toEqual(names(active));
        expect(names(await search(`name LIKE '${prefix}-%'`, ["name DESC"]))).toEqual(names(active).reverse());
        // LIKE is case-sensitive, ILIKE is not.
        expect(names(await search(`name LIKE '${prefix}-%big'`))).toEqual([]);
        expect(names(await search(`name ILIKE '${prefix.toUpperCase()}-%big'`, ["name"]))).toEqual(names(active.filter((_, i) => i % 3 === 0)));
        expect(names(await search(`name LIKE '${prefix}-%' and tags.team = 'odd'`, ["name"]))).toEqual(names(active.filter((_, i) => i % 2 === 1)));
        expect(names(await search(`name LIKE '${prefix}-%' and tags.x IS NULL`, ["name"]))).toEqual(names(active.filter((_, i) => i % 2 === 1)));
        expect(names(await search(`name LIKE '${prefix}-%' and creation_time >= 10020`, ["name"]))).toEqual(names(active.filter((_, i) => i % 4 >= 2)));
        expect(names(await search(`name = '${made[3]!.name}'`))).toEqual([made[3]!.name]);
        expect(names(await search(`experiment_id IN (${made[1]!.experimentId}, '${made[2]!.experimentId}')`, ["name"]))).toEqual([made[1]!.name, made[2]!.name]);
        expect(names(await search(`name LIKE '${prefix}-%'`, [], { viewType: "DELETED_ONLY" }))).toEqual([made[11]!.name]);
        expect(await search(`name LIKE '${prefix}-%'`, [], { viewType: "ALL" })).toHaveLength(12);

        // Default order: creation_time DESC, then experiment_id ASC.
        const expectedDefault = [...active].sort((a, b) => b.creationTime - a.creationTime || Number(a.experimentId) - Number(b.experimentId));
        expect(names(await search(`name LIKE '${prefix}-%'`))).toEqual(names(expectedDefault));
        // Multi-key order: creation_time ASC, then name DESC.
        const expectedMulti = [...active].sort((a, b) => a.creationTime - b.creationTime || (a.name < b.name ? 1 : -1));
        expect(names(await search(`name LIKE '${prefix}-%'`, ["creation_time", "name DESC"]))).toEqual(names(expectedMulti));

        // Paging returns up to limit + 1 rows; walking pages yields the full ordered list.
        const pageOne = await search(`name LIKE '${prefix}-%'`, ["name"], { limit: 5 });
        expect(pageOne).toHaveLength(6);
        const walked: string[] = [];
        for (let offset = 0; ; offset += 5) {
          const page = await search(`name LIKE '${prefix}-%'`, ["name"], { offset, limit: 5 });
          walked.push(...names(page.slice(0, 5)));
          if (page.length <= 5) break;
        }
        expect(walked).toEqual(names(active));
      });
    });

    // ------------------------------------------------------------ runs

    describe("runs", () => {
      let exp: Experiment;
      beforeAll(async () => {
        exp = await newExperiment();
      });

      it("creates runs with a given, tagged or generated name", async () => {
        const named = await newRun(exp.experimentId, { runName: "my-run", tags: { a: "b" }, startTime: 42 });
        expect(named.info).toMatchObject({ runName: "my-run", experimentId: exp.experimentId, userId: "alice", status: "RUNNING", startTime: 42, endTime: null, lifecycleStage: "active" });
        expect(named.data).toEqual({ metrics: [], params: {}, tags: { a: "b", "mlflow.runName": "my-run" } });
        expect(named.inputs).toEqual({ datasetInputs: [] });
        expect(await store.getRun(named.info.runId)).toEqual(named);

        const generated = await newRun(exp.experimentId);
        expect(generated.info.runName).toMatch(/^[a-z]+-[a-z]+-\d{1,3}$/);
        expect(generated.data.tags["mlflow.runName"]).toBe(generated.info.runName);

        const fromTag = await newRun(exp.experimentId, { tags: { "mlflow.runName": "from-tag" } });
        expect(fromTag.info.runName).toBe("from-tag");
        await expectCode(newRun(exp.experimentId, { runName: "a", tags: { "mlflow.runName": "b" } }), "INVALID_PARAMETER_VALUE");
      });

      it("rejects unknown experiments and duplicate run ids", async () => {
        await expectCode(newRun("999999"), "RESOURCE_DOES_NOT_EXIST");
        const r = await newRun(exp.experimentId);
        await expectCode(newRun(exp.experimentId, { runId: r.info.runId }), "RESOURCE_ALREADY_EXISTS");
        expect(await store.getRun(randomBytes(16).toString("hex"))).toBeUndefined();
        expect(await store.getRunInfo(randomBytes(16).toString("hex"))).toBeUndefined();
        await expectCode(store.updateRun(randomBytes(16).toString("hex"), { status: "FINISHED" }), "RESOURCE_DOES_NOT_EXIST");
        await expectCode(store.logBatch(randomBytes(16).toString("hex"), { metrics: [], params: [], tags: [] }), "RESOURCE_DOES_NOT_EXIST");
      });

      it("updates status, end time and name (the name tag follows)", async () => {
        const r = await newRun(exp.experimentId, { runName: "before" });
        const info = await store.updateRun(r.info.runId, { status: "FINISHED", endTime: 5000, runName: "after" });
        expect(info).toMatchObject({ status: "FINISHED", endTime: 5000, runName: "after" });
        expect((await store.getRun(r.info.runId))?.data.tags["mlflow.runName"]).toBe("after");
        // Setting the tag renames the run too.
        await store.logBatch(r.info.runId, { metrics: [], params: [], tags: [{ key: "mlflow.runName", value: "via-tag" }] });
        expect((await store.getRunInfo(r.info.runId))?.runName).toBe("via-tag");
      });

      it("deletes and restores; deleted runs refuse writes", async () => {
        const r = await newRun(exp.experimentId);
        const deleted = await store.updateRun(r.info.runId, { lifecycleStage: "deleted", deletedTime: 7000 });
        expect(deleted.lifecycleStage).toBe("deleted");
        const write = { metrics: points("m", [[0, 1, 1]]), params: [], tags: [] };
        await expectCode(store.logBatch(r.info.runId, write), "INVALID_PARAMETER_VALUE", /must be in the 'active' state/);
        await expectCode(store.updateRun(r.info.runId, { status: "FAILED" }), "INVALID_PARAMETER_VALUE", /active/);
        await expectCode(store.deleteRunTag(r.info.runId, "mlflow.runName"), "INVALID_PARAMETER_VALUE");
        await expectCode(store.logInputs(r.info.runId, []), "INVALID_PARAMETER_VALUE");
        expect((await store.getRun(r.info.runId))?.data.metrics).toEqual([]);
        await store.updateRun(r.info.runId, { lifecycleStage: "active" });
        await store.logBatch(r.info.runId, write);
        expect((await store.getRun(r.info.runId))?.data.metrics).toEqual([{ key: "m", step: 0, timestamp: 1, value: 1 }]);
      });

      it("upserts and deletes run tags", async () => {
        const r = await newRun(exp.experimentId);
        await store.logBatch(r.info.runId, { metrics: [], params: [], tags: [{ key: "t", value: "1" }, { key: "u", value: "x" }] });
        await store.logBatch(r.info.runId, { metrics: [], params: [], tags: [{ key: "t", value: "2" }] });
        expect((await store.getRun(r.info.runId))?.data.tags).toMatchObject({ t: "2", u: "x" });
        await store.deleteRunTag(r.info.runId, "t");
        expect((await store.getRun(r.info.runId))?.data.tags.t).toBeUndefined();
        await expectCode(store.deleteRunTag(r.info.runId, "t"), "RESOURCE_DOES_NOT_EXIST");
        await expectCode(store.deleteRunTag(randomBytes(16).toString("hex"), "t"), "RESOURCE_DOES_NOT_EXIST");
      });

      it("keeps params immutable", async () => {
        const r = await newRun(exp.experimentId);
        await store.logBatch(r.info.runId, { metrics: [], params: [{ key: "lr", value: "0.1" }], tags: [] });
        await store.logBatch(r.info.runId, { metrics: [], params: [{ key: "lr", value: "0.1" }], tags: [] });
        await expectCode(store.logBatch(r.info.runId, { metrics: [], params: [{ key: "lr", value: "0.2" }], tags: [] }), "INVALID_PARAMETER_VALUE", /lr.*0\.1.*0\.2/);
        await expectCode(
          store.logBatch(r.info.runId, { metrics: [], params: [{ key: "b", value: "1" }, { key: "b", value: "2" }], tags: [] }),
          "INVALID_PARAMETER_VALUE",
          /Duplicate parameter key 'b'/,
        );
        await store.logBatch(r.info.runId, { metrics: [], params: [{ key: "c", value: "1" }, { key: "c", value: "1" }], tags: [] });
        expect((await store.getRun(r.info.runId))?.data.params).toEqual({ lr: "0.1", c: "1" });
      });

      it("logs a batch atomically: a late param conflict leaves nothing behind", async () => {
        const r = await newRun(exp.experimentId);
        await store.logBatch(r.info.runId, { metrics: [], params: [{ key: "z", value: "old" }], tags: [] });
        const metrics = points("atomic", Array.from({ length: 3000 }, (_, i) => [i, i, i] as [number, number, number])).slice(0, 1000);
        await expectCode(
          store.logBatch(r.info.runId, { metrics, params: [{ key: "a", value: "1" }, { key: "z", value: "new" }], tags: [{ key: "t", value: "v" }] }),
          "INVALID_PARAMETER_VALUE",
        );
        const run = await store.getRun(r.info.runId);
        expect(run?.data.metrics).toEqual([]);
        expect(run?.data.params).toEqual({ z: "old" });
        expect(run?.data.tags.t).toBeUndefined();
        expect(await store.getMetricHistory(r.info.runId, "atomic", { offset: 0, limit: 10 })).toEqual([]);
        expect((await store.downsampleMetric(r.info.runId, "atomic", { buckets: 10 })).totalPoints).toBe(0);
      });

      it("keeps the latest metric by step, then timestamp, then value", async () => {
        const r = await newRun(exp.experimentId);
        const latest = async () => (await store.getRun(r.info.runId))!.data.metrics.find((m) => m.key === "m");
        await store.logBatch(r.info.runId, { metrics: points("m", [[5, 10, 1], [5, 20, 2], [3, 99, 9]]), params: [], tags: [] });
        expect(await latest()).toEqual({ key: "m", step: 5, timestamp: 20, value: 2 });
        await store.logBatch(r.info.runId, { metrics: points("m", [[4, 500, 7]]), params: [], tags: [] });
        expect((await latest())?.value).toBe(2);
        await store.logBatch(r.info.runId, { metrics: points("m", [[5, 20, 3]]), params: [], tags: [] });
        expect((await latest())?.value).toBe(3);
        await store.logBatch(r.info.runId, { metrics: points("m", [[5, 20, 0]]), params: [], tags: [] });
        expect((await latest())?.value).toBe(3);
        await store.logBatch(r.info.runId, { metrics: points("m", [[6, 0, -1]]), params: [], tags: [] });
        expect(await latest()).toEqual({ key: "m", step: 6, timestamp: 0, value: -1 });
      });

      it("round-trips NaN and ±Infinity", async () => {
        const r = await newRun(exp.experimentId);
        await store.logBatch(r.info.runId, {
          metrics: [...points("nan", [[0, 1, 1], [1, 2, NaN]]), ...points("inf", [[0, 1, Infinity]]), ...points("ninf", [[0, 1, -Infinity]])],
          params: [],
          tags: [],
        });
        const run = await store.getRun(r.info.runId);
        const byKey = Object.fromEntries(run!.data.metrics.map((m) => [m.key, m.value]));
        expect(byKey.nan).toBeNaN();
        expect(byKey.inf).toBe(Infinity);
        expect(byKey.ninf).toBe(-Infinity);
        const history = await store.getMetricHistory(r.info.runId, "nan", { offset: 0, limit: 10 });
        expect(history.map((m) => m.value)).toEqual([1, NaN]);
        const ds = await store.downsampleMetric(r.info.runId, "inf", { buckets: 1 });
        expect(ds.buckets[0]).toMatchObject({ min: Infinity, max: Infinity, last: Infinity });
        const dn = await store.downsampleMetric(r.info.runId, "nan", { buckets: 1 });
        expect(dn.buckets[0]).toMatchObject({ count: 2, min: 1, max: 1, lastStep: 1 });
        expect(dn.buckets[0]!.last).toBeNaN();
      });

      it("pages metric history by step, then timestamp", async () => {
        const r = await newRun(exp.experimentId);
        const pts: [number, number, number][] = [];
        for (let i = 0; i < 250; i++) pts.push([(i * 37) % 100, 1000 + ((i * 13) % 250), i]);
        await store.logBatch(r.info.runId, { metrics: points("h", pts.slice(0, 120)), params: [], tags: [] });
        await store.logBatch(r.info.runId, { metrics: points("h", pts.slice(120)), params: [], tags: [] });
        const expected = [...pts].sort((a, b) => a[0] - b[0] || a[1] - b[1]).map(([step, timestamp, value]) => ({ key: "h", step, timestamp, value }));
        const first = await store.getMetricHistory(r.info.runId, "h", { offset: 0, limit: 100 });
        expect(first).toHaveLength(101);
        const all = [];
        for (let offset = 0; ; offset += 100) {
          const page = await store.getMetricHistory(r.info.runId, "h", { offset, limit: 100 });
          all.push(...page.slice(0, 100));
          if (page.length <= 100) break;
        }
        expect(all).toEqual(expected);
        expect(await store.getMetricHistory(r.info.runId, "nope", { offset: 0, limit: 10 })).toEqual([]);
        await expectCode(store.getMetricHistory(randomBytes(16).toString("hex"), "h", { offset: 0, limit: 10 }), "RESOURCE_DOES_NOT_EXIST");
      });

      it("logs dataset inputs once and returns them", async () => {
        const r = await newRun(exp.experimentId);
        const train = { dataset: { name: "mnist", digest: "d1", sourceType: "s3", source: "s3://b/mnist", schema: '{"a":1}', profile: '{"rows":10}' }, tags: { "mlflow.data.context": "training" } };
        const evalSet = { dataset: { name: "mnist-eval", digest: "d2", sourceType: "local", source: "/tmp/x" }, tags: {} };
        await store.logInputs(r.info.runId, [train, evalSet]);
        await store.logInputs(r.info.runId, [train]);
        const run = await store.getRun(r.info.runId);
        expect(run?.inputs.datasetInputs).toEqual([train, evalSet]);
        const other = await newRun(exp.experimentId);
        await store.logInputs(other.info.runId, [evalSet]);
        expect((await store.getRun(other.info.runId))?.inputs.datasetInputs).toEqual([evalSet]);
        await expectCode(store.logInputs(randomBytes(16).toString("hex"), [train]), "RESOURCE_DOES_NOT_EXIST");
      });
    });

    // ------------------------------------------------------------ search

    describe("searchRuns", () => {
      let exp: Experiment;
      let other: Experiment;
      let runs: Run[];
      const lrs = ["0.1", "0.01", "0.001"];
      const acc = (i: number) => (i % 7 === 3 ? undefined : i % 11 === 5 ? NaN : ((i * 17) % 30) / 30);

      beforeAll(async () => {
        exp = await newExperiment();
        other = await newExperiment();
        runs = [];
        for (let i = 0; i < 36; i++) {
          const r = await newRun(i < 33 ? exp.experimentId : other.experimentId, {
            runName: `run-${String(i).padStart(2, "0")}${i % 4 === 0 ? "-Best" : ""}`,
            startTime: 100_000 + (i % 9) * 1000,
            status: i % 5 === 0 ? "FINISHED" : "RUNNING",
            userId: i % 2 ? "bob" : "alice",
            tags: i % 3 === 0 ? { group: `g${i % 2}` } : {},
          });
          const a = acc(i);
          await store.logBatch(r.info.runId, {
            metrics: [...(a === undefined ? [] : points("acc", [[0, 1, 0], [1, 2, a]])), ...points("loss", [[0, 1, 1 - i / 100]])],
            params: [{ key: "lr", value: lrs[i % 3]! }, ...(i % 2 ? [{ key: "opt", value: "adam" }] : [])],
            tags: [],
          });
          if (i % 6 === 0) await store.logInputs(r.info.runId, [{ dataset: { name: i % 12 === 0 ? "train-a" : "train-b", digest: `d${i}`, sourceType: "s3", source: "s3://x" }, tags: { "mlflow.data.context": i % 12 === 0 ? "training" : "eval" } }]);
          runs.push((await store.getRun(r.info.runId))!);
        }
        const deleted = runs[30]!;
        await store.updateRun(deleted.info.runId, { lifecycleStage: "deleted", deletedTime: 1 });
        runs[30] = (await store.getRun(deleted.info.runId))!;
      });

      const search = (filter: string, orderBy: string[] = [], extra: Partial<SearchRunsQuery> = {}) =>
        store.searchRuns({ experimentIds: [exp.experimentId], filter: parseRunFilter(filter), orderBy: parseOrderBy(orderBy, "run"), viewType: "ACTIVE_ONLY", offset: 0, limit: 1000, ...extra });
      const ids = (rs: Run[]) => rs.map((r) => r.info.runId);
      const metric = (r: Run, key: string) => r.data.metrics.find((m) => m.key === key)?.value;
      /** MLflow's default order: start_time DESC, run_id ASC. */
      const byDefault = (a: Run, b: Run) => b.info.startTime - a.info.startTime || (a.info.runId < b.info.runId ? -1 : 1);
      const activeInExp = () => runs.filter((r) => r.info.experimentId === exp.experimentId && r.info.lifecycleStage === "active");

      it("returns full runs in the default order", async () => {
        const got = await search("");
        expect(ids(got)).toEqual(ids(activeInExp().sort(byDefault)));
        const sample = got.find((r) => r.info.runId === runs[6]!.info.runId)!;
        expect(sample).toEqual(runs[6]);
        expect(sample.inputs.datasetInputs).toHaveLength(1);
      });

      it("filters on a metric and a param, ordered by a metric", async () => {
        const got = await search("metrics.acc > 0.3 and params.lr = '0.01'", ["metrics.acc DESC"]);
        const expected = activeInExp()
          .filter((r) => (metric(r, "acc") ?? -1) > 0.3 && r.data.params.lr === "0.01")
          .sort((a, b) => metric(b, "acc")! - metric(a, "acc")! || byDefault(a, b));
        expect(expected.length).toBeGreaterThan(2);
        expect(ids(got)).toEqual(ids(expected));
      });

      it("orders by several keys with missing and NaN values last", async () => {
        const rank = (v: number | undefined) => (v === undefined ? 2 : Number.isNaN(v) ? 1 : 0);
        for (const dir of ["ASC", "DESC"] as const) {
          const got = await search("", [`params.lr ${dir}`, `metrics.acc ${dir === "ASC" ? "DESC" : "ASC"}`]);
          const sign = dir === "ASC" ? 1 : -1;
          const expected = activeInExp().sort((a, b) => {
            const pa = a.data.params.lr!;
            const pb = b.data.params.lr!;
            if (pa !== pb) return (pa < pb ? -1 : 1) * sign;
            const ma = metric(a, "acc");
            const mb = metric(b, "acc");
            if (rank(ma) !== rank(mb)) return rank(ma) - rank(mb);
            if (rank(ma) === 0 && ma !== mb) return (ma! - mb!) * -sign;
            return byDefault(a, b);
          });
          expect(ids(got)).toEqual(ids(expected));
        }
        const byOpt = await search("", ["params.opt DESC", "attributes.run_name"]);
        const expectedOpt = activeInExp().sort((a, b) => {
          const oa = a.data.params.opt;
          const ob = b.data.params.opt;
          if ((oa === undefined) !== (ob === undefined)) return oa === undefined ? 1 : -1;
          return a.info.runName < b.info.runName ? -1 : 1;
        });
        expect(ids(byOpt)).toEqual(ids(expectedOpt));
      });

      it("pages through results with limit + 1 rows", async () => {
        const full = ids(await search("", ["metrics.loss ASC"]));
        const walked: string[] = [];
        for (let offset = 0; ; offset += 7) {
          const page = await search("", ["metrics.loss ASC"], { offset, limit: 7 });
          expect(page.length).toBeLessThanOrEqual(8);
          walked.push(...ids(page.slice(0, 7)));
          if (page.length <= 7) break;
        }
        expect(walked).toEqual(full);
        expect(full).toHaveLength(activeInExp().length);
      });

      it("pages identically to one full query, for every order shape", async () => {
        // Small pages make the SQLite store walk the order index; pages of one row also land
        // exactly on the boundary between runs with and without a value for the first order key.
        const shapes: [string, string[]][] = [
          ["", ["metrics.acc DESC", "params.lr"]],
          ["", ["metrics.acc ASC"]],
          ["params.lr != '0.1'", ["metrics.acc DESC"]],
          ["metrics.acc >= 0.2", ["metrics.acc ASC", "attributes.run_name DESC"]],
          ["params.opt = 'adam'", ["params.lr DESC", "metrics.loss"]],
          ["", ["tags.group DESC"]],
          ["metrics.loss > 0.8", []],
          ["", ["attributes.end_time", "start_time ASC"]],
        ];
        for (const [filter, orderBy] of shapes) {
          const full = ids(await search(filter, orderBy));
          for (const limit of [1, 4]) {
            const walked: string[] = [];
            for (let offset = 0; offset <= full.length; offset += limit) {
              const page = await search(filter, orderBy, { offset, limit });
              expect(ids(page), `${filter} ${orderBy.join(",")} @${offset}+${limit}`).toEqual(full.slice(offset, offset + limit + 1));
              walked.push(...ids(page.slice(0, limit)));
            }
            expect(walked).toEqual(full);
          }
        }
      });

      it("filters on attributes, tags, datasets and null checks", async () => {
        const check = async (filter: string, pred: (r: Run) => boolean) => {
          expect(ids(await search(filter)), filter).toEqual(ids(activeInExp().filter(pred).sort(byDefault)));
        };
        await check("attributes.run_name LIKE '%-Best'", (r) => r.info.runName.endsWith("-Best"));
        await check("attributes.run_name LIKE '%-best'", () => false);
        await check("attributes.run_name ILIKE '%-best'", (r) => r.info.runName.endsWith("-Best"));
        await check("tags.mlflow.runName = 'run-07'", (r) => r.info.runName === "run-07");
        await check("attributes.status IN ('FINISHED')", (r) => r.info.status === "FINISHED");
        await check("status != 'FINISHED'", (r) => r.info.status !== "FINISHED");
        await check("attributes.user_id = 'bob' and attributes.start_time >= 105000", (r) => r.info.userId === "bob" && r.info.startTime >= 105_000);
        await check("attributes.created < 102000", (r) => r.info.startTime < 102_000);
        await check(`attributes.run_id IN ('${runs[1]!.info.runId}', '${runs[2]!.info.runId}')`, (r) => r === runs[1] || r === runs[2]);
        await check(`attributes.run_id NOT IN ('${runs[1]!.info.runId}')`, (r) => r !== runs[1]);
        await check("tags.group = 'g0'", (r) => r.data.tags.group === "g0");
        await check("tags.group IS NULL", (r) => r.data.tags.group === undefined);
        await check("tags.group IS NOT NULL", (r) => r.data.tags.group !== undefined);
        await check("params.opt IS NULL", (r) => r.data.params.opt === undefined);
        await check("params.lr IN ('0.1', '0.001')", (r) => r.data.params.lr === "0.1" || r.data.params.lr === "0.001");
        await check("params.lr NOT IN ('0.1')", (r) => r.data.params.lr !== "0.1");
        await check("params.lr != '0.1'", (r) => r.data.params.lr !== "0.1");
        await check("params.lr LIKE '0.0%'", (r) => r.data.params.lr!.startsWith("0.0"));
        await check("metrics.acc = 0", (r) => metric(r, "acc") === 0);
        await check("metrics.acc != 0", (r) => { const v = metric(r, "acc"); return v !== undefined && !Number.isNaN(v) && v !== 0; });
        await check("metrics.acc <= 0.5 and metrics.acc >= 0.2", (r) => { const v = metric(r, "acc"); return v !== undefined && v <= 0.5 && v >= 0.2; });
        await check("datasets.name = 'train-a'", (r) => r.inputs.datasetInputs.some((d) => d.dataset.name === "train-a"));
        await check("datasets.context = 'eval'", (r) => r.inputs.datasetInputs.some((d) => d.tags["mlflow.data.context"] === "eval"));
        await check("datasets.digest LIKE 'd1%'", (r) => r.inputs.datasetInputs.some((d) => d.dataset.digest.startsWith("d1")));
      });

      it("honours view type and several experiments", async () => {
        const deleted = await search("", [], { viewType: "DELETED_ONLY" });
        expect(ids(deleted)).toEqual([runs[30]!.info.runId]);
        expect(await search("", [], { viewType: "ALL" })).toHaveLength(33);
        const both = await search("", [], { experimentIds: [exp.experimentId, other.experimentId] });
        expect(both).toHaveLength(35);
        expect(await search("", [], { experimentIds: ["999999"] })).toEqual([]);
        expect(await search("attributes.lifecycle_stage = 'deleted'", [], { viewType: "ALL" })).toHaveLength(1);
      });
    });

    // ------------------------------------------------------------ downsampling

    describe("downsampleMetric", () => {
      let runId: string;
      const series = new Map<string, { step: number; timestamp: number; value: number }[]>();

      /** A deterministic pseudo-random generator, so failures reproduce. */
      function rng(seed: number): () => number {
        let s = seed >>> 0;
        return () => {
          s = (s * 1664525 + 1013904223) >>> 0;
          return s / 2 ** 32;
        };
      }

      beforeAll(async () => {
        const exp = await newExperiment();
        runId = (await newRun(exp.experimentId)).info.runId;
        const make = (key: string, n: number, lo: number, hi: number, seed: number) => {
          const rand = rng(seed);
          const pts: { step: number; timestamp: number; value: number }[] = [];
          for (let i = 0; i < n; i++) {
            // Out of order, duplicate and negative steps; repeated timestamps; NaN and infinities.
            const step = i % 10 === 0 && pts.length ? pts[Math.floor(rand() * pts.length)]!.step : lo + Math.floor(rand() * (hi - lo + 1));
            const r = rand();
            const value = r < 0.03 ? NaN : r < 0.04 ? Infinity : r < 0.05 ? -Infinity : Math.round((rand() * 200 - 100) * 1000) / 1000;
            pts.push({ step, timestamp: 1_000 + Math.floor(rand() * 50), value });
          }
          series.set(key, pts);
          return pts;
        };
        const big = make("big", 6000, -3000, 200_000, 1);
        const dense = make("dense", 5000, 0, 999, 2);
        const small = make("small", 300, -50, 5000, 3);
        for (const pts of [big, dense, small]) {
          for (let i = 0; i < pts.length; i += 1000) {
            const key = pts === big ? "big" : pts === dense ? "dense" : "small";
            await store.logBatch(runId, { metrics: pts.slice(i, i + 1000).map((p) => ({ key, ...p })), params: [], tags: [] });
          }
        }
      });

      it("matches a brute-force reference", async () => {
        const cases: { key: string; buckets: number; minStep?: number; maxStep?: number }[] = [
          { key: "big", buckets: 1 },
          { key: "big", buckets: 7 },
          { key: "big", buckets: 50 },
          { key: "big", buckets: 300 },
          { key: "big", buckets: 1000 },
          { key: "big", buckets: 40, minStep: -2999, maxStep: 150_001 },
          { key: "big", buckets: 13, minStep: 4097, maxStep: 70_000 },
          { key: "big", buckets: 5, minStep: 100, maxStep: 100 },
          { key: "big", buckets: 3, minStep: 300_000 },
          { key: "dense", buckets: 10 },
          { key: "dense", buckets: 60, minStep: 17, maxStep: 990 },
          { key: "dense", buckets: 2000 },
          { key: "small", buckets: 20 },
          { key: "small", buckets: 20, minStep: 0, maxStep: 1000 },
        ];
        for (const c of cases) {
          const pts = series.get(c.key)!;
          const got = await store.downsampleMetric(runId, c.key, { buckets: c.buckets, ...(c.minStep !== undefined ? { minStep: c.minStep } : {}), ...(c.maxStep !== undefined ? { maxStep: c.maxStep } : {}) });
          const lo = c.minStep ?? Math.min(...pts.map((p) => p.step));
          const hi = c.maxStep ?? Math.max(...pts.map((p) => p.step));
          const plan = lo <= hi ? planDownsample(lo, hi, c.buckets, pts.length > ROLLUP_THRESHOLD) : undefined;
          const expected = downsampleBruteForce(runId, c.key, pts, { buckets: c.buckets, minStep: lo, maxStep: hi }, plan);
          expect(got, JSON.stringify(c)).toEqual(expected);
          expect(got.buckets.length, JSON.stringify(c)).toBeLessThanOrEqual(c.buckets);
          expect(got.totalPoints).toBe(pts.filter((p) => p.step >= lo && p.step <= hi).length);
        }
      });

      it("answers for unknown keys and runs", async () => {
        expect(await store.downsampleMetric(runId, "missing", { buckets: 10 })).toEqual({ runId, key: "missing", totalPoints: 0, buckets: [] });
        await expectCode(store.downsampleMetric(randomBytes(16).toString("hex"), "big", { buckets: 10 }), "RESOURCE_DOES_NOT_EXIST");
      });
    });

    // ------------------------------------------------------------ concurrency

    describe("concurrency", () => {
      it("keeps exact counts with 8 concurrent writers", async () => {
        const exp = await newExperiment();
        const run = await newRun(exp.experimentId);
        const writers = 8;
        const batches = 12;
        const perBatch = 40;
        await Promise.all(
          Array.from({ length: writers }, async (_, w) => {
            for (let b = 0; b < batches; b++) {
              const metrics: MetricPoint[] = [];
              for (let i = 0; i < perBatch; i++) {
                const step = (w * batches + b) * perBatch + i;
                metrics.push({ key: "shared", step, timestamp: step, value: step }, { key: `own-${w}`, step, timestamp: step, value: -step });
              }
              await store.logBatch(run.info.runId, { metrics, params: [{ key: `p${w}`, value: String(w) }, { key: "same", value: "x" }], tags: [{ key: "last", value: String(w) }] });
            }
          }),
        );
        const total = writers * batches * perBatch;
        const all = await store.getMetricHistory(run.info.runId, "shared", { offset: 0, limit: total + 10 });
        expect(all).toHaveLength(total);
        expect(new Set(all.map((m) => m.step)).size).toBe(total);
        const ds = await store.downsampleMetric(run.info.runId, "shared", { buckets: 30 });
        expect(ds.totalPoints).toBe(total);
        const plan = planDownsample(0, total - 1, 30, total > ROLLUP_THRESHOLD);
        expect(ds).toEqual(downsampleBruteForce(run.info.runId, "shared", all, { buckets: 30 }, plan));
        const got = await store.getRun(run.info.runId);
        expect(got?.data.metrics.find((m) => m.key === "shared")).toEqual({ key: "shared", step: total - 1, timestamp: total - 1, value: total - 1 });
        expect(Object.keys(got!.data.params)).toHaveLength(writers + 1);
      });

      it("applies a batch with a client batch id once, however often it is retried", async () => {
        const exp = await newExperiment();
        const run = await newRun(exp.experimentId);
        const batch = { metrics: Array.from({ length: 3000 }, (_, i) => ({ key: "m", step: i, timestamp: 1, value: i })), params: [], tags: [], batchId: "b-1" };
        await store.logBatch(run.info.runId, batch);
        await store.logBatch(run.info.runId, batch);
        await Promise.all([store.logBatch(run.info.runId, batch), store.logBatch(run.info.runId, { ...batch, batchId: "b-2" })]);
        const all = await store.getMetricHistory(run.info.runId, "m", { offset: 0, limit: 10_000 });
        expect(all).toHaveLength(6000);
        const ds = await store.downsampleMetric(run.info.runId, "m", { buckets: 5 });
        expect(ds.totalPoints).toBe(6000);
        expect(ds.buckets.reduce((a, b) => a + b.count, 0)).toBe(6000);
        // The same id on another run is a different batch.
        const other = await newRun(exp.experimentId);
        await store.logBatch(other.info.runId, batch);
        expect(await store.getMetricHistory(other.info.runId, "m", { offset: 0, limit: 10_000 })).toHaveLength(3000);
      });

      it("keeps each of many simultaneous batches atomic on its own", async () => {
        const exp = await newExperiment();
        const run = await newRun(exp.experimentId);
        await store.logBatch(run.info.runId, { metrics: [], params: [{ key: "fixed", value: "1" }], tags: [] });
        // Started in one tick, so a store that commits them as a group must still fail only the bad ones.
        const results = await Promise.allSettled(
          Array.from({ length: 30 }, (_, i) => {
            const points: MetricPoint[] = Array.from({ length: 100 }, (_, j) => ({ key: "g", step: i * 100 + j, timestamp: 1, value: j }));
            const params = i % 3 === 0 ? [{ key: "fixed", value: "2" }] : [{ key: `ok${i}`, value: "1" }];
            return store.logBatch(i % 7 === 6 ? "no-such-run" : run.info.runId, { metrics: points, params, tags: [{ key: `t${i}`, value: "v" }] });
          }),
        );
        const ok = results.map((r, i) => (r.status === "fulfilled" ? i : -1)).filter((i) => i >= 0);
        expect(ok).toEqual(Array.from({ length: 30 }, (_, i) => i).filter((i) => i % 3 !== 0 && i % 7 !== 6));
        for (const [i, r] of results.entries()) {
          if (r.status === "rejected") expect((r.reason as { code?: string }).code).toBe(i % 7 === 6 ? "RESOURCE_DOES_NOT_EXIST" : "INVALID_PARAMETER_VALUE");
        }
        const all = await store.getMetricHistory(run.info.runId, "g", { offset: 0, limit: 10_000 });
        expect(all).toHaveLength(ok.length * 100);
        expect(new Set(all.map((m) => Math.floor(m.step / 100)))).toEqual(new Set(ok));
        const got = await store.getRun(run.info.runId);
        expect(Object.keys(got!.data.tags).filter((k) => k.startsWith("t")).sort()).toEqual(ok.map((i) => `t${i}`).sort());
        const ds = await store.downsampleMetric(run.info.runId, "g", { buckets: 10 });
        expect(ds.totalPoints).toBe(ok.length * 100);
        const plan = planDownsample(Math.min(...all.map((m) => m.step)), Math.max(...all.map((m) => m.step)), 10, all.length > ROLLUP_THRESHOLD);
        expect(ds).toEqual(downsampleBruteForce(run.info.runId, "g", all, { buckets: 10 }, plan));
      });

      it("interleaves batches with multi-statement writes without mixing them", async () => {
        const exp = await newExperiment();
        const run = await newRun(exp.experimentId);
        let conflicts = 0;
        // Independent loops, so each write starts while the others are between statements.
        const loop = (fn: (i: number) => Promise<unknown>) =>
          (async () => {
            for (let i = 0; i < 40; i++) await fn(i);
          })();
        await Promise.all([
          loop((i) => store.logBatch(run.info.runId, { metrics: [{ key: "x", step: i, timestamp: i, value: i }], params: [], tags: [] })),
          loop((i) => store.setExperimentTag(exp.experimentId, `t${i % 5}`, String(i))),
          loop((i) => store.updateRun(run.info.runId, { status: i % 2 ? "RUNNING" : "FINISHED" })),
          loop(() => newRun(exp.experimentId)),
          // A failing batch must roll back alone, not take the neighbouring writes with it.
          loop((i) => store.logBatch(run.info.runId, { metrics: [{ key: "x", step: 1000 + i, timestamp: 0, value: 0 }], params: [{ key: "p", value: String(i) }], tags: [] }).catch(() => conflicts++)),
        ]);
        expect(conflicts).toBe(39);
        const history = await store.getMetricHistory(run.info.runId, "x", { offset: 0, limit: 1000 });
        expect(history).toHaveLength(41);
        const created = await store.searchRuns({ experimentIds: [exp.experimentId], filter: [], orderBy: [], viewType: "ALL", offset: 0, limit: 100 });
        expect(created).toHaveLength(41);
      });
    });
  });
}
