import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { isCairnError, type PipelineSpec } from "@cairn/contract";
import type { CacheRow, NewLogLine, PipelineStore, RunRow, ScheduleRow, StepRow, WorkerRow } from "./pipeline-store.js";

async function code(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    if (isCairnError(e)) return e.code;
    throw e;
  }
}

const specOf = (name: string): PipelineSpec => ({
  name,
  params: { lr: 0.1, epochs: 3, tag: "x" },
  steps: [
    {
      name: "train",
      cmd: "python train.py --lr ${lr}",
      deps: [{ kind: "path", path: "train.py" }, { kind: "dataset", name: "credit", ref: "v2" }],
      outs: [{ path: "model.pkl" }, { path: "metrics.json", dataset: "credit-models" }],
      params: ["lr", "epochs"],
      env: { SEED: "1" },
      resources: { cpu: 0.5, memoryMb: 1536, gpu: 1 },
      retries: 2,
      retryDelayMs: 1000,
      timeoutMs: 60_000,
      cache: true,
    },
  ],
});

const key = (s: { runId: string; name: string }) => `${s.runId}/${s.name}`;
const byName = <T extends { name: string }>(xs: T[]) => [...xs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

type Open = () => Promise<{ store: PipelineStore; cleanup(): Promise<void> }>;

/**
 * The one behavioural suite every PipelineStore implementation must pass (SQLite, PostgreSQL).
 * Queue tests open a fresh store each, since a claim takes the oldest ready step of the whole store.
 * @example describePipelineStore("sqlite", () => storeOn(sqliteTestDb, createPipelineStore))
 */
export function describePipelineStore(name: string, makeStore: Open): void {
  describe(`PipelineStore (${name})`, () => {
    let store: PipelineStore;
    let cleanup: () => Promise<void>;
    const tag = randomBytes(3).toString("hex");
    let seq = 0;
    const uniq = (p: string) => `${p}-${tag}-${++seq}`;

    beforeAll(async () => {
      ({ store, cleanup } = await makeStore());
    });
    afterAll(async () => {
      await store?.close();
      await cleanup?.();
    });

    const run = (over: Partial<RunRow> = {}): RunRow => ({
      id: uniq("run"),
      pipeline: "pl",
      status: "queued",
      mode: "queued",
      params: { lr: 0.1 },
      trigger: { kind: "manual" },
      spec: specOf("pl"),
      createdAt: 1000,
      cancelRequested: false,
      ...over,
    });
    const step = (runId: string, stepName: string, idx: number, over: Partial<StepRow> = {}): StepRow => ({
      runId,
      name: stepName,
      idx,
      status: "waiting",
      after: [],
      attempts: 0,
      maxAttempts: 1,
      resources: { cpu: 1, memoryMb: 256, gpu: 0 },
      cache: false,
      claim: 0,
      ...over,
    });
    /** A run with these steps (in this order), inserted into `s`. */
    const insert = async (s: PipelineStore, steps: ((runId: string) => StepRow)[], over: Partial<RunRow> = {}) => {
      const r = run(over);
      const rows = steps.map((f) => f(r.id));
      await s.insertRun(r, rows);
      return { run: r, steps: rows };
    };

    describe("pipelines", () => {
      it("upserts (the second push replaces the first) and gets", async () => {
        const n = uniq("pipe");
        await store.upsertPipeline({ name: n, definition: { steps: { a: { cmd: "echo" } } }, source: { dataset: "src", version: "v1" }, pushedAt: 1_700_000_000_000, pushedBy: "ada" });
        expect(await store.getPipeline(n)).toStrictEqual({ name: n, definition: { steps: { a: { cmd: "echo" } } }, source: { dataset: "src", version: "v1" }, pushedAt: 1_700_000_000_000, pushedBy: "ada" });
        await store.upsertPipeline({ name: n, definition: { steps: { b: { cmd: "true" } } } });
        const got = await store.getPipeline(n);
        expect(got).toStrictEqual({ name: n, definition: { steps: { b: { cmd: "true" } } } });
        expect(Object.keys(got!).sort()).toEqual(["definition", "name"]);
        expect(await store.getPipeline(uniq("missing"))).toBeUndefined();
      });

      it("lists pipelines sorted by name, byte order", async () => {
        const names = [`${tag}-b`, `${tag}-B`, `${tag}-a`, `${tag}-a.2`, `${tag}-_z`];
        for (const n of names) await store.upsertPipeline({ name: n, definition: { n } });
        const listed = (await store.listPipelines()).filter((p) => p.name.startsWith(`${tag}-`));
        // "C" collation: upper case before "_" before lower case, like SQLite.
        expect(listed.map((p) => p.name)).toEqual([`${tag}-B`, `${tag}-_z`, `${tag}-a`, `${tag}-a.2`, `${tag}-b`]);
        expect(listed.find((p) => p.name === `${tag}-a`)?.definition).toEqual({ n: `${tag}-a` });
      });

      it("counts runs and finds the newest per pipeline", async () => {
        const p1 = uniq("stats");
        const p2 = uniq("stats");
        const quiet = uniq("stats");
        await store.upsertPipeline({ name: quiet, definition: {} });
        const old = run({ pipeline: p1, createdAt: 100, status: "succeeded" });
        const newest = run({ pipeline: p1, createdAt: 300, status: "failed" });
        const middle = run({ pipeline: p1, createdAt: 200, status: "succeeded" });
        const other = run({ pipeline: p2, createdAt: 50, status: "running" });
        for (const r of [old, newest, middle, other]) await store.insertRun(r, []);
        const stats = await store.runStats();
        expect(stats.get(p1)).toStrictEqual({ count: 3, last: { id: newest.id, status: "failed", createdAt: 300 } });
        expect(stats.get(p2)).toStrictEqual({ count: 1, last: { id: other.id, status: "running", createdAt: 50 } });
        expect(stats.has(quiet)).toBe(false);
        expect(typeof stats.get(p1)!.count).toBe("number");
      });
    });

    describe("runs", () => {
      it("round-trips every field of a run and its steps, leaving absent fields absent", async () => {
        const full = run({
          status: "running",
          mode: "local",
          params: { lr: 0.01, epochs: 10, name: "big", fast: true },
          trigger: { kind: "schedule", detail: "sched-1" },
          spec: specOf("full"),
          source: { dataset: "pl-src", version: "v7" },
          createdAt: 1_700_000_000_123,
          startedAt: 1_700_000_000_456,
          endedAt: 1_700_000_009_999,
          cancelRequested: true,
          error: "boom",
        });
        const rich = step(full.id, "train", 1, {
          status: "running",
          after: ["prep", "fetch"],
          attempts: 2,
          maxAttempts: 3,
          resources: { cpu: 0.5, memoryMb: 1536.5, gpu: 2 },
          cache: true,
          stepRunId: "child-run",
          workerId: "w-1",
          gpus: [0, 3],
          startedAt: 1_700_000_001_000,
          endedAt: 1_700_000_002_000,
          durationMs: 1000.25,
          error: "exit 1",
          logTail: "last\nlines",
          cacheKey: "ck-abc",
          cacheReason: "deps changed",
          outputs: { "model.pkl": "sha-1", "metrics.json": "sha-2" },
          outVersion: "v12",
          claim: 4,
          token: "tok-1",
          leaseUntil: 1_700_000_060_000,
          readyAt: 1_700_000_000_999,
        });
        const bare = step(full.id, "prep", 0);
        // Inserted out of order: getSteps orders by idx.
        await store.insertRun(full, [rich, bare]);
        expect(await store.getRun(full.id)).toStrictEqual(full);
        expect(await store.getSteps(full.id)).toStrictEqual([bare, rich]);
        expect(await store.getStep(full.id, "train")).toStrictEqual(rich);
        expect(Object.keys((await store.getStep(full.id, "prep"))!).sort()).toEqual(["after", "attempts", "cache", "claim", "idx", "maxAttempts", "name", "resources", "runId", "status"]);

        const minimal = run();
        await store.insertRun(minimal, []);
        const got = await store.getRun(minimal.id);
        expect(got).toStrictEqual(minimal);
        expect(Object.keys(got!).sort()).toEqual(["cancelRequested", "createdAt", "id", "mode", "params", "pipeline", "spec", "status", "trigger"]);
        expect(Object.keys(got!.trigger)).toEqual(["kind"]);
        expect(await store.getSteps(minimal.id)).toEqual([]);
        expect(await store.getRun(uniq("missing"))).toBeUndefined();
        expect(await store.getStep(full.id, "missing")).toBeUndefined();
      });

      it("refuses a duplicate run id, writing none of the second run's steps", async () => {
        const { run: first, steps } = await insert(store, [(id) => step(id, "a", 0)], { status: "running" });
        const again = { ...run({ id: first.id, pipeline: "other", status: "queued" }) };
        expect(await code(store.insertRun(again, [step(first.id, "b", 0), step(first.id, "c", 1)]))).toBe("RESOURCE_ALREADY_EXISTS");
        expect(await store.getRun(first.id)).toStrictEqual(first);
        expect(await store.getSteps(first.id)).toStrictEqual(steps);
        expect(await store.getStep(first.id, "b")).toBeUndefined();
      });

      it("writes a run and its steps atomically: a failing step leaves no run", async () => {
        const r = run();
        // Two steps with one name: the second insert breaks the steps' primary key.
        await expect(store.insertRun(r, [step(r.id, "a", 0), step(r.id, "a", 1)])).rejects.toThrow();
        expect(await store.getRun(r.id)).toBeUndefined();
        expect(await store.getSteps(r.id)).toEqual([]);
        // The id is free again.
        await store.insertRun(r, [step(r.id, "a", 0)]);
        expect((await store.getSteps(r.id)).map((s) => s.name)).toEqual(["a"]);
      });

      it("lists runs newest first, filtered by pipeline and status, up to the limit", async () => {
        const a = uniq("list");
        const b = uniq("list");
        const a1 = run({ pipeline: a, createdAt: 100, status: "succeeded" });
        const a3 = run({ pipeline: a, createdAt: 300, status: "failed" });
        const a2 = run({ pipeline: a, createdAt: 200, status: "succeeded" });
        const b4 = run({ pipeline: b, createdAt: 400, status: "succeeded" });
        for (const r of [a1, a3, a2, b4]) await store.insertRun(r, []);
        const ids = (rs: RunRow[]) => rs.map((r) => r.id);
        expect(ids(await store.listRuns({ pipeline: a, limit: 10 }))).toEqual([a3.id, a2.id, a1.id]);
        expect(ids(await store.listRuns({ pipeline: a, limit: 2 }))).toEqual([a3.id, a2.id]);
        expect(ids(await store.listRuns({ pipeline: a, status: "succeeded", limit: 10 }))).toEqual([a2.id, a1.id]);
        expect(ids(await store.listRuns({ pipeline: a, status: "cancelled", limit: 10 }))).toEqual([]);
        expect(await store.listRuns({ pipeline: b, limit: 10 })).toStrictEqual([b4]);
        const mine = new Set([a1.id, a2.id, a3.id, b4.id]);
        expect(ids(await store.listRuns({ limit: 100_000 })).filter((id) => mine.has(id))).toEqual([b4.id, a3.id, a2.id, a1.id]);
        expect(ids(await store.listRuns({ status: "succeeded", limit: 100_000 })).filter((id) => mine.has(id))).toEqual([b4.id, a2.id, a1.id]);
      });

      it("updates a run's fields and clears them with null", async () => {
        const r = run();
        await store.insertRun(r, []);
        const spec = specOf("changed");
        await store.updateRun(r.id, { status: "running", startedAt: 5000, cancelRequested: true, error: "oops", spec, params: { lr: 1 } });
        expect(await store.getRun(r.id)).toStrictEqual({ ...r, status: "running", startedAt: 5000, cancelRequested: true, error: "oops", spec, params: { lr: 1 } });
        await store.updateRun(r.id, { status: "failed", endedAt: 6000, startedAt: null, error: null, cancelRequested: false });
        const got = await store.getRun(r.id);
        expect(got).toStrictEqual({ ...r, status: "failed", endedAt: 6000, cancelRequested: false, spec, params: { lr: 1 } });
        expect("startedAt" in got! || "error" in got!).toBe(false);
        // An empty patch changes nothing.
        await store.updateRun(r.id, {});
        expect(await store.getRun(r.id)).toStrictEqual(got);
      });
    });

    describe("steps", () => {
      it("gets a run's steps in idx order", async () => {
        const { run: r } = await insert(store, [(id) => step(id, "c", 2), (id) => step(id, "a", 0), (id) => step(id, "z", 1, { after: ["a"] })]);
        expect((await store.getSteps(r.id)).map((s) => [s.idx, s.name])).toEqual([
          [0, "a"],
          [1, "z"],
          [2, "c"],
        ]);
      });

      it("updates a step only while it holds the expected status and token", async () => {
        const { run: r, steps } = await insert(store, [(id) => step(id, "a", 0, { status: "ready", readyAt: 10 })]);
        const a = steps[0]!;
        expect(await store.updateStep(r.id, "a", { status: "running", token: "t1", workerId: "w1", leaseUntil: 900 }, { status: ["ready"] })).toBe(true);
        let want: StepRow = { ...a, status: "running", token: "t1", workerId: "w1", leaseUntil: 900 };
        expect(await store.getStep(r.id, "a")).toStrictEqual(want);

        // No longer ready: nothing changes.
        expect(await store.updateStep(r.id, "a", { status: "failed", error: "late" }, { status: ["ready", "waiting"] })).toBe(false);
        // Wrong token: nothing changes.
        expect(await store.updateStep(r.id, "a", { status: "failed", error: "stolen" }, { status: ["running"], token: "t0" })).toBe(false);
        expect(await store.updateStep(r.id, "a", { error: "stolen" }, { token: "t0" })).toBe(false);
        // No acceptable status: nothing matches (on every backend).
        expect(await store.updateStep(r.id, "a", { error: "none" }, { status: [] })).toBe(false);
        expect(await store.getStep(r.id, "a")).toStrictEqual(want);

        expect(await store.updateStep(r.id, "a", { status: "succeeded", endedAt: 1000, durationMs: 12.5, gpus: [1], outputs: { "m.pkl": "sha" }, attempts: 1 }, { status: ["running"], token: "t1" })).toBe(true);
        want = { ...want, status: "succeeded", endedAt: 1000, durationMs: 12.5, gpus: [1], outputs: { "m.pkl": "sha" }, attempts: 1 };
        expect(await store.getStep(r.id, "a")).toStrictEqual(want);

        // Unconditional, clearing with null.
        expect(await store.updateStep(r.id, "a", { token: null, leaseUntil: null, workerId: null, gpus: null, outputs: null, readyAt: null })).toBe(true);
        const cleared = await store.getStep(r.id, "a");
        const { token: _t, leaseUntil: _l, workerId: _w, gpus: _g, outputs: _o, readyAt: _r, ...rest } = want;
        expect(cleared).toStrictEqual(rest);
        for (const k of ["token", "leaseUntil", "workerId", "gpus", "outputs", "readyAt"]) expect(k in cleared!).toBe(false);

        expect(await store.updateStep(r.id, "missing", { status: "failed" })).toBe(false);
        expect(await store.updateStep(uniq("run"), "a", { status: "failed" })).toBe(false);
      });

      it("updates every step of a run in the given states and counts them", async () => {
        const { run: r } = await insert(store, [
          (id) => step(id, "w1", 0),
          (id) => step(id, "w2", 1),
          (id) => step(id, "rd", 2, { status: "ready", readyAt: 1 }),
          (id) => step(id, "ok", 3, { status: "succeeded", endedAt: 7 }),
        ]);
        const { run: other } = await insert(store, [(id) => step(id, "w1", 0)]);
        expect(await store.updateStepsWhere(r.id, ["waiting", "ready"], { status: "cancelled", endedAt: 99 })).toBe(3);
        const steps = await store.getSteps(r.id);
        expect(steps.map((s) => [s.name, s.status, s.endedAt])).toEqual([
          ["w1", "cancelled", 99],
          ["w2", "cancelled", 99],
          ["rd", "cancelled", 99],
          ["ok", "succeeded", 7],
        ]);
        expect(await store.updateStepsWhere(r.id, ["waiting", "ready"], { status: "skipped" })).toBe(0);
        expect(await store.updateStepsWhere(r.id, [], { status: "skipped" })).toBe(0);
        expect(await store.updateStepsWhere(r.id, ["cancelled"], { readyAt: null, error: "cancelled by user" })).toBe(3);
        expect((await store.getSteps(r.id)).filter((s) => s.error === "cancelled by user" && !("readyAt" in s)).map((s) => s.name)).toEqual(["w1", "w2", "rd"]);
        // Another run's steps are untouched.
        expect((await store.getStep(other.id, "w1"))?.status).toBe("waiting");
      });
    });

    describe("queue", () => {
      // A claim takes the oldest ready step of the whole store: each test gets an empty one.
      let q: PipelineStore;
      let qCleanup: () => Promise<void>;
      beforeEach(async () => {
        ({ store: q, cleanup: qCleanup } = await makeStore());
      });
      afterEach(async () => {
        await q?.close();
        await qCleanup?.();
      });

      const big = { cpu: 64, memoryMb: 1_000_000, gpu: 0 };
      const lease = (workerId: string, token: string, leaseUntil = 10_000) => ({ workerId, token, leaseUntil });

      it("claims the oldest ready step, marking it running with the worker, token and lease", async () => {
        const { run: r1 } = await insert(q, [(id) => step(id, "late", 0, { status: "ready", readyAt: 300 }), (id) => step(id, "waits", 1, { readyAt: 50 })]);
        const { run: r2, steps } = await insert(q, [(id) => step(id, "early", 0, { status: "ready", readyAt: 100, attempts: 1, maxAttempts: 3, claim: 2 })]);
        await insert(q, [(id) => step(id, "unscheduled", 0, { status: "ready" })]);
        const got = await q.claimStep(big, 1000, lease("w1", "tok-a", 5000));
        expect(got).toStrictEqual({ ...steps[0]!, status: "running", workerId: "w1", token: "tok-a", leaseUntil: 5000, claim: 3 });
        expect(await q.getStep(r2.id, "early")).toStrictEqual(got);
        const next = await q.claimStep(big, 1000, lease("w2", "tok-b"));
        expect(next && key(next)).toBe(`${r1.id}/late`);
        expect(next).toMatchObject({ status: "running", workerId: "w2", token: "tok-b", claim: 1 });
        // Neither a waiting step nor a ready one without ready_at is claimable, and nothing is taken twice.
        expect(await q.claimStep(big, 1_000_000, lease("w3", "tok-c"))).toBeUndefined();
        expect((await q.getStep(r2.id, "early"))?.token).toBe("tok-a");
      });

      it("takes steps in ready_at order, then by run and idx", async () => {
        const { run: r } = await insert(q, [(id) => step(id, "s0", 0, { status: "ready", readyAt: 200 }), (id) => step(id, "s1", 1, { status: "ready", readyAt: 100 }), (id) => step(id, "s2", 2, { status: "ready", readyAt: 200 })], { id: `b-${uniq("run")}` });
        const { run: early } = await insert(q, [(id) => step(id, "x", 3, { status: "ready", readyAt: 200 })], { id: `a-${uniq("run")}` });
        const order: string[] = [];
        for (let i = 0; i < 5; i++) {
          const s = await q.claimStep(big, 1000, lease("w", `t${i}`));
          if (s) order.push(key(s));
        }
        expect(order).toEqual([`${r.id}/s1`, `${early.id}/x`, `${r.id}/s0`, `${r.id}/s2`]);
      });

      it("offers a step only to a worker with the cpu, memory and gpu it needs", async () => {
        const { run: r } = await insert(q, [
          (id) => step(id, "gpu", 0, { status: "ready", readyAt: 100, resources: { cpu: 1, memoryMb: 512, gpu: 1 } }),
          (id) => step(id, "heavy", 1, { status: "ready", readyAt: 200, resources: { cpu: 2.5, memoryMb: 1024, gpu: 0 } }),
        ]);
        // The gpu step is older but does not fit a worker without a gpu; nor does the heavy one fit a small worker.
        expect(await q.claimStep({ cpu: 2, memoryMb: 4096, gpu: 0 }, 1000, lease("w", "t1"))).toBeUndefined();
        expect(await q.claimStep({ cpu: 4, memoryMb: 1023, gpu: 0 }, 1000, lease("w", "t2"))).toBeUndefined();
        const heavy = await q.claimStep({ cpu: 2.5, memoryMb: 1024, gpu: 0 }, 1000, lease("w", "t3"));
        expect(heavy && key(heavy)).toBe(`${r.id}/heavy`);
        expect(await q.claimStep({ cpu: 64, memoryMb: 1_000_000, gpu: 0 }, 1000, lease("w", "t4"))).toBeUndefined();
        expect((await q.getStep(r.id, "gpu"))?.status).toBe("ready");
        const gpu = await q.claimStep({ cpu: 1, memoryMb: 512, gpu: 1 }, 1000, lease("g", "t5"));
        expect(gpu).toMatchObject({ runId: r.id, name: "gpu", status: "running", workerId: "g", token: "t5", claim: 1, resources: { cpu: 1, memoryMb: 512, gpu: 1 } });
      });

      it("waits out a step's ready_at, and reports the next one", async () => {
        const { run: r } = await insert(q, [
          (id) => step(id, "soon", 0, { status: "ready", readyAt: 5000 }),
          (id) => step(id, "later", 1, { status: "ready", readyAt: 7000 }),
          (id) => step(id, "blocked", 2, { status: "waiting", readyAt: 4000 }),
        ]);
        expect(await q.nextReadyAt(1000)).toBe(5000);
        expect(await q.claimStep(big, 4999, lease("w", "t1"))).toBeUndefined();
        const soon = await q.claimStep(big, 5000, lease("w", "t2"));
        expect(soon && key(soon)).toBe(`${r.id}/soon`);
        expect(await q.nextReadyAt(1000)).toBe(7000);
        expect(await q.nextReadyAt(6999)).toBe(7000);
        // Strictly after now: a step ready now is not "next".
        expect(await q.nextReadyAt(7000)).toBeUndefined();
        expect(await q.claimStep(big, 6000, lease("w", "t3"))).toBeUndefined();
        expect((await q.claimStep(big, 8000, lease("w", "t4")))?.name).toBe("later");
        expect(await q.nextReadyAt(0)).toBeUndefined();
        // A step put back for a retry is claimable again, its claim count going on.
        expect(await q.updateStep(r.id, "soon", { status: "ready", readyAt: 9000, token: null, workerId: null, leaseUntil: null }, { status: ["running"], token: "t2" })).toBe(true);
        expect(await q.nextReadyAt(8500)).toBe(9000);
        const again = await q.claimStep(big, 9000, lease("w2", "t5"));
        expect(again).toMatchObject({ name: "soon", claim: 2, token: "t5", workerId: "w2" });
      });

      it("gives 20 concurrent claims 20 different steps", async () => {
        const runs = [];
        for (let i = 0; i < 4; i++) runs.push(await insert(q, Array.from({ length: 5 }, (_, j) => (id: string) => step(id, `s${j}`, j, { status: "ready", readyAt: 100 + ((i * 7 + j) % 3) }))));
        const claims = await Promise.all(Array.from({ length: 20 }, (_, i) => q.claimStep(big, 1000, lease(`w${i}`, `tok-${i}`))));
        const got = claims.filter((c): c is StepRow => c !== undefined);
        expect(got).toHaveLength(20);
        expect(new Set(got.map(key)).size).toBe(20);
        expect(await q.claimStep(big, 1000, lease("late", "tok-late"))).toBeUndefined();
        // Each claim holds what the store says: its own token, claimed once.
        const stored = new Map<string, StepRow>();
        for (const { run: r } of runs) for (const s of await q.getSteps(r.id)) stored.set(key(s), s);
        expect(stored.size).toBe(20);
        for (const c of got) {
          const s = stored.get(key(c))!;
          expect(s).toMatchObject({ status: "running", token: c.token, workerId: c.workerId, claim: 1 });
          expect(c.token).toBe(`tok-${c.workerId!.slice(1)}`);
        }
        expect(new Set([...stored.values()].map((s) => s.token)).size).toBe(20);
      });

      it("renews only the leases of running steps whose token matches", async () => {
        const { run: r } = await insert(q, [
          (id) => step(id, "a", 0, { status: "running", token: "ta", workerId: "w", leaseUntil: 100 }),
          (id) => step(id, "b", 1, { status: "running", token: "tb", workerId: "w", leaseUntil: 100 }),
          (id) => step(id, "c", 2, { status: "succeeded", token: "tc", workerId: "w", leaseUntil: 100 }),
        ]);
        const renewed = await q.renewLeases(
          [
            { runId: r.id, name: "a", token: "ta" },
            { runId: r.id, name: "b", token: "stale" },
            { runId: r.id, name: "c", token: "tc" },
            { runId: r.id, name: "missing", token: "ta" },
          ],
          9000,
        );
        expect(renewed).toEqual(new Set([`${r.id}/a`]));
        expect((await q.getSteps(r.id)).map((s) => [s.name, s.leaseUntil])).toEqual([
          ["a", 9000],
          ["b", 100],
          ["c", 100],
        ]);
        expect(await q.renewLeases([], 9000)).toEqual(new Set());
      });

      it("finds running steps whose lease ended, and the running steps of a worker", async () => {
        const { run: r } = await insert(q, [
          (id) => step(id, "a", 0, { status: "running", token: "ta", workerId: "w1", leaseUntil: 100 }),
          (id) => step(id, "b", 1, { status: "running", token: "tb", workerId: "w2", leaseUntil: 200 }),
          (id) => step(id, "c", 2, { status: "running", token: "tc", workerId: "w1", leaseUntil: 300 }),
          (id) => step(id, "d", 3, { status: "succeeded", token: "td", workerId: "w1", leaseUntil: 50 }),
        ]);
        expect(byName(await q.expiredLeases(250)).map((s) => s.name)).toEqual(["a", "b"]);
        // A lease ending exactly now has not ended yet.
        expect((await q.expiredLeases(200)).map((s) => s.name)).toEqual(["a"]);
        expect(await q.expiredLeases(100)).toEqual([]);
        expect(byName(await q.expiredLeases(250))[0]).toStrictEqual(await q.getStep(r.id, "a"));

        expect(byName(await q.runningSteps("w1")).map((s) => s.name)).toEqual(["a", "c"]);
        expect((await q.runningSteps("w2")).map((s) => s.name)).toEqual(["b"]);
        expect(await q.runningSteps("nobody")).toEqual([]);
        expect(byName(await q.runningSteps()).map((s) => s.name)).toEqual(["a", "b", "c"]);
        await q.updateStep(r.id, "a", { status: "succeeded" }, { token: "ta" });
        expect((await q.runningSteps("w1")).map((s) => s.name)).toEqual(["c"]);
        expect((await q.expiredLeases(250)).map((s) => s.name)).toEqual(["b"]);
      });
    });

    describe("logs", () => {
      const lines = (n: number, stepName: string, stream: NewLogLine["stream"], prefix: string, attempt = 1): NewLogLine[] => Array.from({ length: n }, (_, i) => ({ step: stepName, attempt, stream, text: `${prefix} ${i}` }));

      it("appends more than 2000 lines at once and pages them by seq", async () => {
        const r1 = uniq("logrun");
        const r2 = uniq("logrun");
        await store.appendLogs(r1, lines(2500, "train", "stdout", "train"), 1111);
        await store.appendLogs(r2, lines(3, "train", "stdout", "other"), 2222);
        await store.appendLogs(r1, lines(5, "eval", "stderr", "eval", 2), 3333);
        await store.appendLogs(r1, [], 4444);

        const all = await store.readLogs(r1, { after: 0, limit: 10_000 });
        expect(all).toHaveLength(2505);
        for (let i = 1; i < all.length; i++) expect(all[i]!.seq).toBeGreaterThan(all[i - 1]!.seq);
        expect(all[0]).toStrictEqual({ seq: all[0]!.seq, step: "train", attempt: 1, stream: "stdout", text: "train 0", time: 1111 });
        expect(all[2499]).toMatchObject({ text: "train 2499", time: 1111 });
        expect(all[2500]).toStrictEqual({ seq: all[2500]!.seq, step: "eval", attempt: 2, stream: "stderr", text: "eval 0", time: 3333 });
        expect(all.map((e) => e.text)).toEqual([...lines(2500, "train", "stdout", "train"), ...lines(5, "eval", "stderr", "eval")].map((l) => l.text));
        expect(typeof all[0]!.seq).toBe("number");

        // Paging by `after` reads the same entries.
        const paged = [];
        let after = 0;
        for (;;) {
          const page = await store.readLogs(r1, { after, limit: 700 });
          if (page.length === 0) break;
          expect(page.length).toBeLessThanOrEqual(700);
          paged.push(...page);
          after = page[page.length - 1]!.seq;
        }
        expect(paged).toStrictEqual(all);
        expect(await store.readLogs(r1, { after: all[2504]!.seq, limit: 10 })).toEqual([]);
        expect((await store.readLogs(r1, { after: all[9]!.seq, limit: 2 })).map((e) => e.text)).toEqual(["train 10", "train 11"]);

        // Filtered by step.
        const evals = await store.readLogs(r1, { step: "eval", after: 0, limit: 100 });
        expect(evals).toStrictEqual(all.slice(2500));
        expect((await store.readLogs(r1, { step: "eval", after: evals[1]!.seq, limit: 2 })).map((e) => e.text)).toEqual(["eval 2", "eval 3"]);
        expect(await store.readLogs(r1, { step: "nope", after: 0, limit: 100 })).toEqual([]);

        // Runs are kept apart, though their lines interleave in seq.
        const other = await store.readLogs(r2, { after: 0, limit: 100 });
        expect(other.map((e) => e.text)).toEqual(["other 0", "other 1", "other 2"]);
        expect(other[0]!.seq).toBeGreaterThan(all[2499]!.seq);
        expect(other[2]!.seq).toBeLessThan(all[2500]!.seq);
        expect(await store.readLogs(uniq("logrun"), { after: 0, limit: 100 })).toEqual([]);
      });
    });

    describe("workers", () => {
      it("upserts, gets, lists and touches workers", async () => {
        const w1: WorkerRow = {
          id: uniq("worker"),
          name: "gpu-box",
          host: "10.0.0.7",
          resources: { cpu: 16, memoryMb: 64_000, gpus: [{ index: 0, name: "H100", memoryMb: 81_559, uuid: "GPU-1" }, { index: 1, name: "H100", memoryMb: 81_559 }] },
          leaseMs: 30_000,
          registeredAt: 5000,
          lastSeenAt: 5000,
        };
        const w2: WorkerRow = { id: uniq("worker"), name: "cpu-box", resources: { cpu: 4, memoryMb: 8000, gpus: [] }, leaseMs: 10_000, registeredAt: 4000, lastSeenAt: 4000 };
        await store.upsertWorker(w1);
        await store.upsertWorker(w2);
        expect(await store.getWorker(w1.id)).toStrictEqual(w1);
        const got2 = await store.getWorker(w2.id);
        expect(got2).toStrictEqual(w2);
        expect("host" in got2!).toBe(false);
        const mine = (ws: WorkerRow[]) => ws.filter((w) => w.id === w1.id || w.id === w2.id).map((w) => w.id);
        expect(mine(await store.listWorkers())).toEqual([w2.id, w1.id]);

        // Registering again replaces what the worker reports, but not when it first registered.
        const re: WorkerRow = { id: w1.id, name: "gpu-box-2", resources: { cpu: 8, memoryMb: 32_000, gpus: [] }, leaseMs: 15_000, registeredAt: 9000, lastSeenAt: 9000 };
        await store.upsertWorker(re);
        const got1 = await store.getWorker(w1.id);
        expect(got1).toStrictEqual({ ...re, registeredAt: 5000 });
        expect("host" in got1!).toBe(false);

        await store.touchWorker(w2.id, 12_345);
        expect(await store.getWorker(w2.id)).toStrictEqual({ ...w2, lastSeenAt: 12_345 });
        const ghost = uniq("worker");
        await store.touchWorker(ghost, 1);
        expect(await store.getWorker(ghost)).toBeUndefined();
      });
    });

    describe("cache", () => {
      it("keeps the first entry for a key", async () => {
        const first: CacheRow = { key: uniq("ck"), pipeline: "pl", step: "train", dataset: "pl-outputs", version: "v1", digests: { "model.pkl": "sha-a", "m.json": "sha-b" }, runId: "run-1", createdAt: 1_700_000_000_000 };
        expect(await store.getCache(first.key)).toBeUndefined();
        await store.putCache(first);
        expect(await store.getCache(first.key)).toStrictEqual(first);
        await store.putCache({ ...first, version: "v2", digests: {}, runId: "run-2", createdAt: 1_800_000_000_000 });
        expect(await store.getCache(first.key)).toStrictEqual(first);
        const second: CacheRow = { ...first, key: uniq("ck"), version: "v3" };
        await store.putCache(second);
        expect(await store.getCache(second.key)).toStrictEqual(second);
        expect(await store.getCache(first.key)).toStrictEqual(first);
      });
    });

    describe("schedules", () => {
      const schedule = (pipeline: string, over: Partial<ScheduleRow> = {}): ScheduleRow => ({ id: uniq("sched"), pipeline, timezone: "UTC", params: {}, enabled: true, createdAt: 1000, ...over });

      it("inserts, gets and lists schedules, by pipeline or all", async () => {
        const p = uniq("schedpipe");
        const p2 = uniq("schedpipe");
        await store.upsertPipeline({ name: p, definition: {} });
        await store.upsertPipeline({ name: p2, definition: {} });
        const full = schedule(p, { cron: "0 * * * *", timezone: "Europe/Paris", onDataset: "credit", params: { lr: 0.5, full: true, who: "cron" }, createdAt: 3000, nextRunAt: 1_700_003_600_000, lastRunAt: 1_700_000_000_000, lastRunId: "run-9", lastDatasetVersion: "v4" });
        const bare = schedule(p, { enabled: false, createdAt: 2000 });
        const elsewhere = schedule(p2, { cron: "*/5 * * * *" });
        for (const s of [full, bare, elsewhere]) await store.insertSchedule(s);
        expect(await store.getSchedule(full.id)).toStrictEqual(full);
        const got = await store.getSchedule(bare.id);
        expect(got).toStrictEqual(bare);
        expect(Object.keys(got!).sort()).toEqual(["createdAt", "enabled", "id", "params", "pipeline", "timezone"]);
        expect(await store.listSchedules(p)).toStrictEqual([bare, full]);
        expect(await store.listSchedules(p2)).toStrictEqual([elsewhere]);
        const all = await store.listSchedules();
        expect(all.filter((s) => [full.id, bare.id, elsewhere.id].includes(s.id))).toStrictEqual([elsewhere, bare, full]);
        expect(await store.getSchedule(uniq("sched"))).toBeUndefined();
        // A schedule belongs to a pipeline that exists.
        await expect(store.insertSchedule(schedule(uniq("no-pipeline")))).rejects.toThrow();
      });

      it("updates with compare-and-set on nextRunAt and lastDatasetVersion, and deletes", async () => {
        const p = uniq("schedpipe");
        await store.upsertPipeline({ name: p, definition: {} });
        const s = schedule(p, { cron: "0 0 * * *", nextRunAt: 1000 });
        await store.insertSchedule(s);

        expect(await store.updateSchedule(s.id, { enabled: false, params: { x: 1 }, cron: null, onDataset: "ds" })).toBe(true);
        let want: ScheduleRow = { id: s.id, pipeline: p, timezone: "UTC", params: { x: 1 }, enabled: false, createdAt: 1000, onDataset: "ds", nextRunAt: 1000 };
        expect(await store.getSchedule(s.id)).toStrictEqual(want);

        expect(await store.updateSchedule(s.id, { nextRunAt: 2000, lastRunAt: 1000, lastRunId: "r1" }, { nextRunAt: 1000 })).toBe(true);
        want = { ...want, nextRunAt: 2000, lastRunAt: 1000, lastRunId: "r1" };
        expect(await store.getSchedule(s.id)).toStrictEqual(want);
        // Already moved on: the stale expectation loses and changes nothing.
        expect(await store.updateSchedule(s.id, { nextRunAt: 3000, lastRunId: "r-stale" }, { nextRunAt: 1000 })).toBe(false);
        expect(await store.updateSchedule(s.id, { nextRunAt: 3000 }, { nextRunAt: null })).toBe(false);
        expect(await store.getSchedule(s.id)).toStrictEqual(want);

        // lastDatasetVersion: from none, then from a version.
        expect(await store.updateSchedule(s.id, { lastDatasetVersion: "v1" }, { lastDatasetVersion: "v0" })).toBe(false);
        expect(await store.updateSchedule(s.id, { lastDatasetVersion: "v1" }, { lastDatasetVersion: null })).toBe(true);
        expect(await store.updateSchedule(s.id, { lastDatasetVersion: "v9" }, { lastDatasetVersion: null })).toBe(false);
        expect(await store.updateSchedule(s.id, { lastDatasetVersion: "v2" }, { lastDatasetVersion: "v1", nextRunAt: 999 })).toBe(false);
        expect(await store.updateSchedule(s.id, { lastDatasetVersion: "v2" }, { lastDatasetVersion: "v1", nextRunAt: 2000 })).toBe(true);
        want = { ...want, lastDatasetVersion: "v2" };
        expect(await store.getSchedule(s.id)).toStrictEqual(want);

        // Cleared, then matched as null.
        expect(await store.updateSchedule(s.id, { nextRunAt: null, enabled: true })).toBe(true);
        expect(await store.updateSchedule(s.id, { nextRunAt: 5000 }, { nextRunAt: null })).toBe(true);
        want = { ...want, enabled: true, nextRunAt: 5000 };
        expect(await store.getSchedule(s.id)).toStrictEqual(want);

        expect(await store.updateSchedule(uniq("sched"), { enabled: false })).toBe(false);
        expect(await store.deleteSchedule(s.id)).toBe(true);
        expect(await store.getSchedule(s.id)).toBeUndefined();
        expect(await store.deleteSchedule(s.id)).toBe(false);
        expect(await store.listSchedules(p)).toEqual([]);
      });

      it("lets one of two concurrent compare-and-set updates win", async () => {
        const p = uniq("schedpipe");
        await store.upsertPipeline({ name: p, definition: {} });
        const s = schedule(p, { cron: "* * * * *", nextRunAt: 60_000 });
        await store.insertSchedule(s);
        const [a, b] = await Promise.all([
          store.updateSchedule(s.id, { nextRunAt: 120_000, lastRunAt: 60_000, lastRunId: "run-a" }, { nextRunAt: 60_000 }),
          store.updateSchedule(s.id, { nextRunAt: 120_001, lastRunAt: 60_001, lastRunId: "run-b" }, { nextRunAt: 60_000 }),
        ]);
        expect([a, b].filter(Boolean)).toHaveLength(1);
        const got = await store.getSchedule(s.id);
        expect(got).toStrictEqual(a ? { ...s, nextRunAt: 120_000, lastRunAt: 60_000, lastRunId: "run-a" } : { ...s, nextRunAt: 120_001, lastRunAt: 60_001, lastRunId: "run-b" });

        const [c, d] = await Promise.all([
          store.updateSchedule(s.id, { lastDatasetVersion: "v1" }, { lastDatasetVersion: null }),
          store.updateSchedule(s.id, { lastDatasetVersion: "v2" }, { lastDatasetVersion: null }),
        ]);
        expect([c, d].filter(Boolean)).toHaveLength(1);
        expect((await store.getSchedule(s.id))?.lastDatasetVersion).toBe(c ? "v1" : "v2");
      });
    });

    describe("tx", () => {
      it("commits what fn did and returns its result", async () => {
        const p = uniq("txpipe");
        const r = run({ pipeline: p });
        const out = await store.tx(async (s) => {
          await s.upsertPipeline({ name: p, definition: { v: 1 } });
          await s.insertRun(r, [step(r.id, "a", 0)]);
          expect((await s.getRun(r.id))?.id).toBe(r.id);
          return 42;
        });
        expect(out).toBe(42);
        expect((await store.getPipeline(p))?.definition).toEqual({ v: 1 });
        expect(await store.getRun(r.id)).toStrictEqual(r);
      });

      it("rolls back everything done inside when fn throws, nested transactions included", async () => {
        const p = uniq("txpipe");
        await store.upsertPipeline({ name: p, definition: { v: 1 } });
        const kept = run({ pipeline: p });
        await store.insertRun(kept, [step(kept.id, "a", 0, { status: "ready", readyAt: 1 })]);
        const r = run({ pipeline: p });
        const logRun = uniq("txlog");
        const ck = uniq("ck");
        const w = uniq("worker");
        const sched = uniq("sched");
        await expect(
          store.tx(async (s) => {
            await s.upsertPipeline({ name: p, definition: { v: 2 } });
            await s.insertRun(r, [step(r.id, "a", 0)]);
            await s.updateRun(kept.id, { status: "cancelled", cancelRequested: true });
            expect(await s.updateStep(kept.id, "a", { status: "cancelled" }, { status: ["ready"] })).toBe(true);
            await s.appendLogs(logRun, [{ step: "a", attempt: 1, stream: "stdout", text: "gone" }], 1);
            await s.putCache({ key: ck, pipeline: p, step: "a", dataset: "d", version: "v1", digests: {}, runId: r.id, createdAt: 1 });
            await s.upsertWorker({ id: w, name: "w", resources: { cpu: 1, memoryMb: 1, gpus: [] }, leaseMs: 1, registeredAt: 1, lastSeenAt: 1 });
            await s.tx(async (inner) => {
              await inner.insertSchedule({ id: sched, pipeline: p, timezone: "UTC", params: {}, enabled: true, createdAt: 1 });
            });
            // Visible inside the transaction.
            expect((await s.getPipeline(p))?.definition).toEqual({ v: 2 });
            expect(await s.getSchedule(sched)).toBeDefined();
            throw new Error("boom");
          }),
        ).rejects.toThrow("boom");
        expect((await store.getPipeline(p))?.definition).toEqual({ v: 1 });
        expect(await store.getRun(r.id)).toBeUndefined();
        expect(await store.getSteps(r.id)).toEqual([]);
        expect(await store.getRun(kept.id)).toStrictEqual(kept);
        expect((await store.getStep(kept.id, "a"))?.status).toBe("ready");
        expect(await store.readLogs(logRun, { after: 0, limit: 10 })).toEqual([]);
        expect(await store.getCache(ck)).toBeUndefined();
        expect(await store.getWorker(w)).toBeUndefined();
        expect(await store.getSchedule(sched)).toBeUndefined();
        // The store works on after the rollback.
        await store.insertRun(r, []);
        expect((await store.getRun(r.id))?.id).toBe(r.id);
      });
    });
  });
}
