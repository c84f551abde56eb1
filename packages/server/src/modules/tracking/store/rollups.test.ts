import { describe, expect, it } from "vitest";
import { BucketAccumulator, DOWNSAMPLE_RAW_LIMIT, ROLLUP_WIDTHS, aggregateRollups, downsampleBruteForce, isLater, planDownsample } from "./rollups.js";
import type { DownsamplePlan, RollupRow, StoredPoint } from "./rollups.js";

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function randomPoints(n: number, lo: number, hi: number, seed: number): { step: number; timestamp: number; value: number }[] {
  const rand = rng(seed);
  const out: { step: number; timestamp: number; value: number }[] = [];
  for (let i = 0; i < n; i++) {
    const step = i % 7 === 0 && out.length ? out[Math.floor(rand() * out.length)]!.step : lo + Math.floor(rand() * (hi - lo + 1));
    const r = rand();
    out.push({ step, timestamp: Math.floor(rand() * 20), value: r < 0.05 ? NaN : r < 0.07 ? -Infinity : Math.round(rand() * 1000) / 10 });
  }
  return out;
}

const stored = (pts: { step: number; timestamp: number; value: number }[]): StoredPoint[] => pts.map((p) => ({ ...p, value: Number.isNaN(p.value) ? null : p.value }));

/** Runs a plan against in-memory rollups and raw points, the way the stores do against tables. */
function execute(plan: DownsamplePlan, pts: StoredPoint[], rollups: RollupRow[]) {
  const acc = new BucketAccumulator(plan);
  const raw = (from: number, to: number) => pts.filter((p) => p.step >= from && p.step <= to).forEach((p) => acc.addPoint(p.step, p.timestamp, p.value));
  if (plan.mode === "raw") raw(plan.lo, plan.hi);
  else {
    for (const b of plan.blocks) rollups.filter((r) => r.level === b.level && r.block >= b.fromBlock && r.block <= b.toBlock).forEach((r) => acc.addRollup(r));
    for (const r of plan.raw) raw(r.from, r.to);
  }
  return acc.result("run", "m");
}

describe("aggregateRollups", () => {
  it("is mergeable: chunks merged row by row equal one pass over all points", () => {
    const pts = stored(randomPoints(3000, -500, 40_000, 7));
    const whole = aggregateRollups(pts);
    const merged = new Map<string, RollupRow>();
    for (let i = 0; i < pts.length; i += 317) {
      for (const r of aggregateRollups(pts.slice(i, i + 317))) {
        const key = `${r.level}:${r.block}`;
        const cur = merged.get(key);
        if (!cur) {
          merged.set(key, { ...r });
          continue;
        }
        cur.count += r.count;
        if (r.minValue !== null && (cur.minValue === null || r.minValue < cur.minValue)) cur.minValue = r.minValue;
        if (r.maxValue !== null && (cur.maxValue === null || r.maxValue > cur.maxValue)) cur.maxValue = r.maxValue;
        cur.minStep = Math.min(cur.minStep, r.minStep);
        if (isLater(r.lastStep, r.lastTimestamp, r.lastValue, cur.lastStep, cur.lastTimestamp, cur.lastValue)) Object.assign(cur, { lastStep: r.lastStep, lastTimestamp: r.lastTimestamp, lastValue: r.lastValue });
      }
    }
    const sorted = [...merged.values()].sort((a, b) => a.level - b.level || a.block - b.block);
    expect(sorted).toEqual(whole);
    for (const w of ROLLUP_WIDTHS) expect(whole.filter((r) => r.level === w).reduce((a, r) => a + r.count, 0)).toBe(pts.length);
  });
});

describe("planDownsample", () => {
  const pts = randomPoints(4000, -3000, 300_000, 11);
  const sp = stored(pts);
  const rollups = aggregateRollups(sp);
  const cases: [number, number, number, number | undefined][] = [
    [-3000, 300_000, 1, undefined],
    [-3000, 300_000, 7, undefined],
    [-3000, 300_000, 1000, undefined],
    [-2999, 123_457, 37, undefined],
    [4097, 70_000, 13, undefined],
    [1, 60_000, 1000, 10],
    [1, 60_000, 1000, DOWNSAMPLE_RAW_LIMIT + 1],
    [-3000, 300_000, 10_000, DOWNSAMPLE_RAW_LIMIT + 1],
    [5, 5, 3, undefined],
  ];

  it("covers the range exactly, keeps blocks inside buckets and matches brute force", () => {
    for (const [lo, hi, buckets, inRange] of cases) {
      const plan = planDownsample(lo, hi, buckets, true, inRange);
      const label = JSON.stringify({ lo, hi, buckets, inRange, mode: plan.mode });
      if (plan.mode === "rollup") {
        // Blocks and raw ranges tile [lo, hi] with no gap and no overlap.
        const pieces = [...plan.blocks.map((b) => [b.fromBlock * b.level, (b.toBlock + 1) * b.level - 1] as const), ...plan.raw.map((r) => [r.from, r.to] as const)].sort((a, b) => a[0] - b[0]);
        expect(pieces[0]![0], label).toBe(lo);
        expect(pieces.at(-1)![1], label).toBe(hi);
        for (let i = 1; i < pieces.length; i++) expect(pieces[i]![0], label).toBe(pieces[i - 1]![1] + 1);
        for (const b of plan.blocks) {
          expect(plan.bucketWidth % b.level, label).toBe(0);
          expect((b.fromBlock * b.level - plan.origin) % b.level, label).toBe(0);
        }
        for (const r of plan.raw) expect(r.to - r.from + 1, label).toBeLessThan(ROLLUP_WIDTHS[0] * 2);
      }
      expect(Math.floor((hi - plan.origin) / plan.bucketWidth) + 1, label).toBeLessThanOrEqual(buckets);
      const got = execute(plan, sp, rollups);
      expect(got, label).toEqual(downsampleBruteForce("run", "m", pts, { buckets, minStep: lo, maxStep: hi }, plan));
    }
  });

  it("reads raw points for narrow buckets unless the range holds too many, then widens them", () => {
    expect(planDownsample(0, 9999, 1000, true, 10_000).mode).toBe("raw");
    const wide = planDownsample(0, 9999, 1000, true, DOWNSAMPLE_RAW_LIMIT + 1);
    expect(wide).toMatchObject({ mode: "rollup", bucketWidth: ROLLUP_WIDTHS[0] });
    expect(planDownsample(0, 9_999_999, 1000, false).mode).toBe("raw");
    expect(planDownsample(0, 9_999_999, 1000, true)).toMatchObject({ mode: "rollup", bucketWidth: 3 * 4096 });
  });
});
