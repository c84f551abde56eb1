import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CairnError, isCairnError } from "@cairn/contract";
import { Cairn } from "./cairn.js";
import { activeRunCount } from "./exit-hooks.js";
import { startFakeServer, type FakeServer } from "../test/fake-server.js";

let fake: FakeServer;
let cairn: Cairn;

beforeEach(async () => {
  fake = await startFakeServer();
  cairn = new Cairn({ url: fake.url, flushIntervalMs: 60_000, retry: { minDelayMs: 5, maxDelayMs: 20 }, handleExit: false });
});
afterEach(async () => {
  await fake.close();
});

describe("Cairn client against a recording server", () => {
  it("starts a run in an experiment created on demand", async () => {
    const run = await cairn.startRun({ experiment: "mnist", runName: "first", tags: { team: "x" }, captureContext: false });
    expect(run.id).toBe("r1");
    const create = fake.requests.find((r) => r.method === "POST" && r.path === "/api/v1/runs")!;
    expect(create.json).toMatchObject({ experimentId: "1", runName: "first", tags: { team: "x" } });
    expect(fake.requests.some((r) => r.method === "POST" && r.path === "/api/v1/experiments" && r.json.name === "mnist")).toBe(true);
    await run.end();
  });

  it("sends the bearer token", async () => {
    const c = new Cairn({ url: fake.url, token: "s3cret", handleExit: false });
    await c.experiments.getOrCreate("e");
    expect(fake.requests.at(-1)!.headers.authorization).toBe("Bearer s3cret");
  });

  it("batches 3000 metrics into limit-sized requests, in order, and encodes NaN and infinities", async () => {
    const run = await cairn.startRun({ captureContext: false });
    for (let i = 0; i < 3000; i++) run.logMetric("loss", i, { step: i });
    run.log({ metrics: { nan: NaN, inf: Infinity, ninf: -Infinity }, params: { lr: 0.01, deep: true }, step: 3000 });
    await run.flush();
    const logs = fake.logRequests();
    expect(logs.map((r) => r.json.metrics.length)).toEqual([1000, 1000, 1000, 3]);
    const steps = logs.flatMap((r) => r.json.metrics.filter((m: { key: string }) => m.key === "loss").map((m: { step: number }) => m.step));
    expect(steps).toEqual(Array.from({ length: 3000 }, (_, i) => i));
    const last = logs.at(-1)!.json;
    expect(last.metrics.map((m: { value: unknown }) => m.value)).toEqual(["NaN", "Infinity", "-Infinity"]);
    expect(last.params).toEqual([
      { key: "lr", value: "0.01" },
      { key: "deep", value: "true" },
    ]);
    await run.end();
  });

  it("rejects flush with a typed error when the server refuses a batch (no retry on 4xx)", async () => {
    fake.intercept = (r) => (r.path.endsWith("/log") ? { status: 400, body: { error_code: "INVALID_PARAMETER_VALUE", message: "Param 'lr' already logged" } } : undefined);
    const run = await cairn.startRun({ captureContext: false });
    run.log({ params: { lr: 1 } });
    const err = await run.flush().catch((e: unknown) => e);
    expect(isCairnError(err)).toBe(true);
    expect(err).toBeInstanceOf(CairnError);
    expect(err).toMatchObject({ code: "INVALID_PARAMETER_VALUE", status: 400, message: "Param 'lr' already logged" });
    expect(fake.logRequests()).toHaveLength(1);
    fake.intercept = undefined;
    await run.end();
  });

  it("retries a 503 and then succeeds", async () => {
    let failures = 2;
    fake.intercept = (r) => (r.path.endsWith("/log") && failures-- > 0 ? { status: 503, body: { error_code: "TEMPORARILY_UNAVAILABLE", message: "busy" } } : undefined);
    const run = await cairn.startRun({ captureContext: false });
    run.logMetric("acc", 0.5);
    await run.flush();
    const logs = fake.logRequests();
    expect(logs).toHaveLength(3);
    expect(logs.every((r) => JSON.stringify(r.json) === JSON.stringify(logs[0]!.json))).toBe(true);
    await run.end();
  });

  it("gives up after the retries and keeps the data for the next flush", async () => {
    let down = true;
    fake.intercept = (r) => (r.path.endsWith("/log") && down ? { status: 502, body: "<html>bad gateway</html>" } : undefined);
    const c = new Cairn({ url: fake.url, flushIntervalMs: 60_000, retry: { retries: 2, minDelayMs: 1, maxDelayMs: 2 }, handleExit: false });
    const run = await c.startRun({ captureContext: false });
    run.logMetric("acc", 1);
    await expect(run.flush()).rejects.toMatchObject({ name: "CairnError" });
    expect(fake.logRequests()).toHaveLength(3);
    down = false;
    await run.flush();
    expect(fake.logRequests()).toHaveLength(4);
    expect(run.pendingCount).toBe(0);
    await run.end();
  });

  it("end() flushes before it sets the status and end time", async () => {
    fake.intercept = (r) => (r.path.endsWith("/log") ? { status: 200, body: {}, delayMs: 50 } : undefined);
    const run = await cairn.startRun({ captureContext: false });
    run.log({ metrics: { a: 1 }, tags: { t: "v" } });
    await run.end("FAILED");
    const idx = (pred: (r: (typeof fake.requests)[number]) => boolean) => fake.requests.findIndex(pred);
    const logAt = idx((r) => r.path.endsWith("/log"));
    const patchAt = idx((r) => r.method === "PATCH");
    expect(logAt).toBeGreaterThan(-1);
    expect(patchAt).toBeGreaterThan(logAt);
    const patch = fake.requests[patchAt]!.json;
    expect(patch.status).toBe("FAILED");
    expect(typeof patch.endTime).toBe("number");
    expect(() => run.logMetric("a", 2)).toThrow(expect.objectContaining({ code: "INVALID_STATE" }));
    // Idempotent.
    await run.end();
    expect(fake.requests.filter((r) => r.method === "PATCH")).toHaveLength(1);
  });

  it("ends the run even when the final flush fails, then throws the flush error", async () => {
    fake.intercept = (r) => (r.path.endsWith("/log") ? { status: 400, body: { error_code: "INVALID_PARAMETER_VALUE", message: "nope" } } : undefined);
    const run = await cairn.startRun({ captureContext: false });
    run.logMetric("a", 1);
    await expect(run.end()).rejects.toMatchObject({ code: "INVALID_PARAMETER_VALUE" });
    expect(fake.requests.some((r) => r.method === "PATCH" && r.json.status === "FINISHED")).toBe(true);
  });

  it("checks keys and values when logging, before anything is queued", async () => {
    const run = await cairn.startRun({ captureContext: false });
    expect(() => run.log({ metrics: { ok: 1, "bad key!": 2 } })).toThrow(expect.objectContaining({ code: "INVALID_PARAMETER_VALUE" }));
    expect(() => run.log({ metrics: { x: "1" as unknown as number } })).toThrow(CairnError);
    expect(() => run.log({ metrics: { x: 1 }, step: 1.5 })).toThrow(/step/);
    run.logParam("lr", 0.1);
    run.logParam("lr", "0.1"); // same value: fine, not re-sent
    expect(() => run.logParam("lr", 0.2)).toThrow(/already logged/);
    expect(run.pendingCount).toBe(1);
    await run.end();
    expect(fake.logRequests().flatMap((r) => r.json.params)).toEqual([{ key: "lr", value: "0.1" }]);
  });

  it("tracks active runs for the exit hooks only while they are open", async () => {
    const c = new Cairn({ url: fake.url, handleExit: true, flushIntervalMs: 60_000 });
    const before = activeRunCount();
    const listeners = process.listenerCount("SIGTERM");
    const run = await c.startRun({ captureContext: false });
    expect(activeRunCount()).toBe(before + 1);
    expect(process.listenerCount("SIGTERM")).toBe(listeners + 1);
    await run.end();
    expect(activeRunCount()).toBe(before);
    expect(process.listenerCount("SIGTERM")).toBe(listeners);
  });

  it("searchAll follows page tokens", async () => {
    let page = 0;
    fake.intercept = (r) => {
      if (r.path !== "/api/v1/experiments/search") return undefined;
      page++;
      const experiments = [{ experimentId: String(page), name: `e${page}`, artifactLocation: "", lifecycleStage: "active", creationTime: 0, lastUpdateTime: 0, tags: {} }];
      return { status: 200, body: page < 3 ? { experiments, nextPageToken: `t${page}` } : { experiments } };
    };
    const names: string[] = [];
    for await (const e of cairn.experiments.searchAll({ maxResults: 1 })) names.push(e.name);
    expect(names).toEqual(["e1", "e2", "e3"]);
    const tokens = fake.requests.filter((r) => r.path === "/api/v1/experiments/search").map((r) => r.json.pageToken);
    expect(tokens).toEqual([undefined, "t1", "t2"]);
  });

  it("a server that cannot be reached gives TEMPORARILY_UNAVAILABLE", async () => {
    const c = new Cairn({ url: "http://127.0.0.1:9", retry: { retries: 0 }, handleExit: false });
    await expect(c.experiments.get("1")).rejects.toMatchObject({ code: "TEMPORARILY_UNAVAILABLE" });
  });

  it("reads url and token from the environment", () => {
    const prev = { url: process.env.CAIRN_URL, token: process.env.CAIRN_TOKEN };
    process.env.CAIRN_URL = "http://example.test:1234/";
    try {
      expect(new Cairn().url).toBe("http://example.test:1234");
      delete process.env.CAIRN_URL;
      expect(new Cairn().url).toBe("http://127.0.0.1:5005");
    } finally {
      if (prev.url === undefined) delete process.env.CAIRN_URL;
      else process.env.CAIRN_URL = prev.url;
    }
  });
});
