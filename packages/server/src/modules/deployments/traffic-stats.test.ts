import { describe, expect, it } from "vitest";
import { TrafficStats } from "./traffic-stats.js";

describe("TrafficStats", () => {
  const T0 = 1_700_000_000_000;

  it("counts requests and errors per arm and second, with percentiles within 20%", () => {
    const s = new TrafficStats();
    for (let i = 1; i <= 100; i++) s.record("primary", "1", i, i % 10 !== 0, T0 + 10);
    for (let i = 0; i < 10; i++) s.record("canary", "2", 50, true, T0 + 1500);
    const snap = s.snapshot(60, T0 + 2000);
    const primary = snap.arms.find((a) => a.arm === "primary")!;
    expect(primary).toMatchObject({ version: "1", requests: 100, errors: 10 });
    expect(primary.p50Ms).toBeGreaterThanOrEqual(50);
    expect(primary.p50Ms).toBeLessThanOrEqual(60);
    expect(primary.p99Ms).toBeGreaterThanOrEqual(99);
    expect(primary.p99Ms).toBeLessThanOrEqual(120);
    expect(snap.series).toEqual([
      expect.objectContaining({ t: T0, arm: "primary", requests: 100, errors: 10, meanMs: 50.5 }),
      expect.objectContaining({ t: T0 + 1000, arm: "canary", requests: 10, errors: 0, meanMs: 50 }),
    ]);
  });

  it("keeps only the window asked for, forgets seconds older than an hour, and keeps the last predictions newest first", () => {
    const s = new TrafficStats();
    s.record("primary", "1", 1, true, T0);
    s.record("primary", "1", 1, true, T0 + 120_000);
    expect(s.snapshot(60, T0 + 120_000).arms[0]!.requests).toBe(1);
    expect(s.snapshot(300, T0 + 120_000).arms[0]!.requests).toBe(2);
    s.record("primary", "1", 1, true, T0 + 3_700_000);
    expect(s.snapshot(3600, T0 + 3_700_000).arms[0]!.requests).toBe(2);
    for (let i = 0; i < 60; i++) s.remember({ requestId: `r${i}`, time: i, arm: "primary", version: "1", status: 200, latencyMs: 1, payload: () => ({ inputs: i, outputs: null }) });
    const recent = s.snapshot(60, T0).recent;
    expect(recent).toHaveLength(50);
    expect(recent[0]).toMatchObject({ requestId: "r59", inputs: 59, outputs: null });
    expect(recent.at(-1)!.requestId).toBe("r10");
  });
});
