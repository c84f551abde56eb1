import { describe, expect, it } from "vitest";
import { CairnError, LIMITS } from "@cairn/contract";
import { BatchLogger, type LogBatchBody, type QueuedMetric } from "./batch-logger.js";

const metrics = (n: number, from = 0, key = "m"): QueuedMetric[] => Array.from({ length: n }, (_, i) => ({ key, value: from + i, timestamp: 1, step: from + i }));
const kvs = (n: number, prefix: string, value = "v") => Array.from({ length: n }, (_, i) => ({ key: `${prefix}${i}`, value }));

function recorder(opts: { delayMs?: number; fail?: (b: LogBatchBody, n: number) => unknown } = {}) {
  const batches: LogBatchBody[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const send = async (b: LogBatchBody) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    try {
      if (opts.delayMs) await new Promise((r) => setTimeout(r, opts.delayMs));
      const err = opts.fail?.(b, batches.length);
      if (err) throw err;
      batches.push(b);
    } finally {
      inFlight--;
    }
  };
  return { batches, send, maxInFlight: () => maxInFlight };
}

function withinLimits(b: LogBatchBody): boolean {
  const total = b.metrics.length + b.params.length + b.tags.length;
  return b.metrics.length <= LIMITS.batchMetrics && b.params.length <= LIMITS.batchParams && b.tags.length <= LIMITS.batchTags && total <= LIMITS.batchTotal && JSON.stringify(b).length < 1_000_000;
}

describe("BatchLogger", () => {
  it("splits a large call by the metric limit and keeps order", async () => {
    const rec = recorder();
    const bl = new BatchLogger({ send: rec.send, flushIntervalMs: 10_000 });
    bl.enqueue({ metrics: metrics(2500) });
    await bl.flush();
    expect(rec.batches.map((b) => b.metrics.length)).toEqual([1000, 1000, 500]);
    expect(rec.batches.flatMap((b) => b.metrics.map((m) => m.step))).toEqual(Array.from({ length: 2500 }, (_, i) => i));
    expect(bl.pendingCount).toBe(0);
  });

  it("respects the param, tag and total limits together", async () => {
    const rec = recorder();
    const bl = new BatchLogger({ send: rec.send, flushIntervalMs: 10_000 });
    bl.enqueue({ metrics: metrics(950), params: kvs(250, "p"), tags: kvs(130, "t") });
    await bl.flush();
    for (const b of rec.batches) expect(withinLimits(b)).toBe(true);
    expect(rec.batches.flatMap((b) => b.metrics.map((m) => m.step))).toEqual(Array.from({ length: 950 }, (_, i) => i));
    expect(rec.batches.flatMap((b) => b.params.map((p) => p.key))).toEqual(kvs(250, "p").map((p) => p.key));
    expect(rec.batches.flatMap((b) => b.tags.map((p) => p.key))).toEqual(kvs(130, "t").map((p) => p.key));
  });

  it("keeps each call in one request when it fits, and packs small calls together", async () => {
    const rec = recorder();
    const bl = new BatchLogger({ send: rec.send, flushIntervalMs: 10_000 });
    bl.enqueue({ metrics: metrics(600, 0) });
    bl.enqueue({ metrics: metrics(600, 600) });
    for (let i = 0; i < 5; i++) bl.enqueue({ metrics: metrics(10, 1200 + i * 10) });
    await bl.flush();
    expect(rec.batches.map((b) => b.metrics.length)).toEqual([600, 650]);
    expect(rec.batches.flatMap((b) => b.metrics.map((m) => m.step))).toEqual(Array.from({ length: 1250 }, (_, i) => i));
  });

  it("splits by body size when values are long", async () => {
    const rec = recorder();
    const bl = new BatchLogger({ send: rec.send, flushIntervalMs: 10_000 });
    bl.enqueue({ tags: kvs(100, "t", "x".repeat(8000)), params: kvs(100, "p", "é".repeat(3000)) });
    await bl.flush();
    expect(rec.batches.length).toBeGreaterThan(1);
    for (const b of rec.batches) expect(Buffer.byteLength(JSON.stringify(b))).toBeLessThan(1_000_000);
    expect(rec.batches.reduce((n, b) => n + b.tags.length + b.params.length, 0)).toBe(200);
  });

  it("sends one request at a time, in order, while logging continues", async () => {
    const rec = recorder({ delayMs: 5 });
    const bl = new BatchLogger({ send: rec.send, flushIntervalMs: 10_000 });
    for (let i = 0; i < 50; i++) bl.enqueue({ metrics: metrics(100, i * 100) });
    await bl.flush();
    expect(rec.maxInFlight()).toBe(1);
    expect(rec.batches.flatMap((b) => b.metrics.map((m) => m.step))).toEqual(Array.from({ length: 5000 }, (_, i) => i));
  });

  it("sends a full batch at once and a partial one after the interval", async () => {
    const rec = recorder();
    const bl = new BatchLogger({ send: rec.send, flushIntervalMs: 150 });
    bl.enqueue({ metrics: metrics(1000) });
    await new Promise((r) => setTimeout(r, 30));
    expect(rec.batches.length).toBe(1);
    bl.enqueue({ metrics: metrics(3, 1000) });
    await new Promise((r) => setTimeout(r, 30));
    expect(rec.batches.length).toBe(1);
    await new Promise((r) => setTimeout(r, 250));
    expect(rec.batches.length).toBe(2);
    expect(rec.batches[1]!.metrics.length).toBe(3);
  });

  it("rejects flush with the server's error for a refused batch, and keeps sending the rest", async () => {
    const refused = new CairnError("INVALID_PARAMETER_VALUE", "bad param");
    const rec = recorder({ fail: (b) => (b.params.some((p) => p.key === "bad") ? refused : undefined) });
    const errors: CairnError[] = [];
    const bl = new BatchLogger({ send: rec.send, flushIntervalMs: 10_000, onError: (e) => errors.push(e) });
    bl.enqueue({ params: [{ key: "bad", value: "1" }] });
    bl.enqueue({ metrics: metrics(1000, 0) });
    bl.enqueue({ metrics: metrics(5, 1000) });
    await expect(bl.flush()).rejects.toMatchObject({ name: "CairnError", code: "INVALID_PARAMETER_VALUE", status: 400 });
    expect(errors).toHaveLength(1);
    expect(rec.batches.flatMap((b) => b.metrics).length).toBe(1005);
    // Reported once.
    await expect(bl.flush()).resolves.toBeUndefined();
  });

  it("keeps data queued after transient failures and sends it on the next flush", async () => {
    let down = true;
    const rec = recorder({ fail: () => (down ? new CairnError("TEMPORARILY_UNAVAILABLE", "down") : undefined) });
    const bl = new BatchLogger({ send: rec.send, flushIntervalMs: 10_000 });
    bl.enqueue({ metrics: metrics(10) });
    await expect(bl.flush()).rejects.toMatchObject({ code: "TEMPORARILY_UNAVAILABLE" });
    expect(bl.pendingCount).toBe(10);
    down = false;
    await bl.flush();
    expect(bl.pendingCount).toBe(0);
    expect(rec.batches[0]!.metrics.length).toBe(10);
    bl.close();
  });

  it("flush with nothing queued resolves at once", async () => {
    const bl = new BatchLogger({ send: async () => undefined });
    await expect(bl.flush()).resolves.toBeUndefined();
  });

  it("refuses to grow past maxQueuedItems while the server does not answer", async () => {
    const logger = new BatchLogger({ send: () => new Promise<void>(() => {}), maxQueuedItems: 5, flushIntervalMs: 60_000 });
    logger.enqueue({ metrics: [{ key: "a", value: 1, step: 0, timestamp: 1 }, { key: "a", value: 2, step: 1, timestamp: 1 }] });
    logger.enqueue({ metrics: [{ key: "a", value: 3, step: 2, timestamp: 1 }, { key: "a", value: 4, step: 3, timestamp: 1 }, { key: "a", value: 5, step: 4, timestamp: 1 }] });
    expect(() => logger.enqueue({ metrics: [{ key: "a", value: 6, step: 5, timestamp: 1 }] })).toThrow(expect.objectContaining({ code: "RESOURCE_EXHAUSTED" }));
    expect(logger.pendingCount).toBe(5);
    logger.close();
  });
});
