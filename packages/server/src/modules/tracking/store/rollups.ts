import type { DownsampledSeries, MetricBucket } from "@cairn/contract";

/**
 * Pure helpers for metric rollups and downsampling, shared by every backend.
 *
 * A rollup row summarises the points of one series whose step falls in one block
 * `[block * width, (block + 1) * width - 1]` at one level (width). Rows are mergeable:
 * count adds, min/max take the extreme (ignoring NaN), `last` keeps the later point.
 * In memory and in the database NaN is `null`.
 */

/** Step widths of the rollup levels, smallest first. Each divides the next, so blocks nest. */
export const ROLLUP_WIDTHS = [16, 256, 4096, 65536] as const;

/**
 * A series keeps rollups once it holds more than this many points. Below it, downsampling reads the
 * raw points (cheap at this size) and writes skip rollup maintenance entirely. The batch that takes
 * a series over the threshold builds its rollups from all raw points in the same transaction.
 */
export const ROLLUP_THRESHOLD = 2048;

/** A stored point: `value` null means NaN. */
export interface StoredPoint {
  step: number;
  timestamp: number;
  value: number | null;
}

export interface RollupRow {
  level: number;
  block: number;
  count: number;
  minValue: number | null;
  maxValue: number | null;
  minStep: number;
  lastStep: number;
  lastTimestamp: number;
  lastValue: number | null;
}

/** NaN (null) counts as the highest value, so the order of points is total. */
function compareValues(a: number | null, b: number | null): number {
  if (a === null) return b === null ? 0 : 1;
  if (b === null) return -1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Whether point A comes after point B in the "latest" order: higher step, then later timestamp,
 * then higher value (NaN highest). MLflow's rule for the latest metric value.
 */
export function isLater(aStep: number, aTs: number, aVal: number | null, bStep: number, bTs: number, bVal: number | null): boolean {
  if (aStep !== bStep) return aStep > bStep;
  if (aTs !== bTs) return aTs > bTs;
  return compareValues(aVal, bVal) > 0;
}

/** The latest point of a non-empty list. */
export function latestPoint<P extends StoredPoint>(points: readonly P[]): P {
  let best = points[0]!;
  for (let i = 1; i < points.length; i++) {
    const p = points[i]!;
    if (isLater(p.step, p.timestamp, p.value, best.step, best.timestamp, best.value)) best = p;
  }
  return best;
}

function minOf(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return b < a ? b : a;
}

function maxOf(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return b > a ? b : a;
}

/** Aggregates points into rollup rows at every level, one row per (level, block). */
export function aggregateRollups(points: readonly StoredPoint[]): RollupRow[] {
  const out: RollupRow[] = [];
  for (const width of ROLLUP_WIDTHS) {
    const byBlock = new Map<number, RollupRow>();
    for (const p of points) {
      const block = Math.floor(p.step / width);
      const r = byBlock.get(block);
      if (!r) {
        byBlock.set(block, {
          level: width,
          block,
          count: 1,
          minValue: p.value,
          maxValue: p.value,
          minStep: p.step,
          lastStep: p.step,
          lastTimestamp: p.timestamp,
          lastValue: p.value,
        });
        continue;
      }
      r.count++;
      r.minValue = minOf(r.minValue, p.value);
      r.maxValue = maxOf(r.maxValue, p.value);
      if (p.step < r.minStep) r.minStep = p.step;
      if (isLater(p.step, p.timestamp, p.value, r.lastStep, r.lastTimestamp, r.lastValue)) {
        r.lastStep = p.step;
        r.lastTimestamp = p.timestamp;
        r.lastValue = p.value;
      }
    }
    // Sorted so concurrent PostgreSQL writers lock rollup rows in the same order.
    out.push(...[...byBlock.values()].sort((a, b) => a.block - b.block));
  }
  return out;
}

// ---------------------------------------------------------------- downsampling

/** What to read for one downsample query. */
export type DownsamplePlan =
  | { mode: "raw"; lo: number; hi: number; bucketWidth: number; origin: number }
  | {
      mode: "rollup";
      lo: number;
      hi: number;
      bucketWidth: number;
      origin: 0;
      /** Whole rollup blocks to read, per level, inclusive block ranges. */
      blocks: { level: number; fromBlock: number; toBlock: number }[];
      /** Raw step ranges (inclusive) at the edges, narrower than the smallest level. */
      raw: { from: number; to: number }[];
    };

/**
 * Plans a downsample of the steps `[lo, hi]` into at most `buckets` buckets.
 *
 * Small series (no rollups) and narrow buckets read raw points. Otherwise the bucket width is a
 * multiple of the largest rollup width not above the ideal width, aligned to it, so every rollup
 * block lies wholly inside one bucket and the answer is exact. The range is covered by whole blocks
 * (largest level in the middle, finer levels towards the edges) plus raw points for the last
 * fewer-than-16 steps at each edge.
 */
export function planDownsample(lo: number, hi: number, buckets: number, hasRollups: boolean): DownsamplePlan {
  const ideal = Math.max(1, Math.ceil((hi - lo + 1) / buckets));
  const smallest = ROLLUP_WIDTHS[0];
  if (!hasRollups || ideal < smallest) return { mode: "raw", lo, hi, bucketWidth: ideal, origin: lo };
  let levelIndex = 0;
  for (let i = 0; i < ROLLUP_WIDTHS.length; i++) if (ROLLUP_WIDTHS[i]! <= ideal) levelIndex = i;
  const width = ROLLUP_WIDTHS[levelIndex]!;
  let k = Math.ceil(ideal / width);
  while (Math.floor(hi / (k * width)) - Math.floor(lo / (k * width)) + 1 > buckets) k++;
  const blocks: { level: number; fromBlock: number; toBlock: number }[] = [];
  const raw: { from: number; to: number }[] = [];
  const cover = (a: number, b: number, li: number): void => {
    if (a > b) return;
    if (li < 0) {
      raw.push({ from: a, to: b });
      return;
    }
    const w = ROLLUP_WIDTHS[li]!;
    const first = Math.ceil(a / w);
    const last = Math.floor((b + 1) / w) - 1;
    if (first > last) {
      cover(a, b, li - 1);
      return;
    }
    cover(a, first * w - 1, li - 1);
    blocks.push({ level: w, fromBlock: first, toBlock: last });
    cover((last + 1) * w, b, li - 1);
  };
  cover(lo, hi, levelIndex);
  return { mode: "rollup", lo, hi, bucketWidth: k * width, origin: 0, blocks, raw };
}

/** Accumulates rollup rows and raw points into output buckets. */
export class BucketAccumulator {
  #width: number;
  #origin: number;
  #buckets = new Map<number, RollupRow>();
  total = 0;

  constructor(plan: DownsamplePlan) {
    this.#width = plan.bucketWidth;
    this.#origin = plan.origin;
  }

  #merge(index: number, r: RollupRow): void {
    this.total += r.count;
    const b = this.#buckets.get(index);
    if (!b) {
      this.#buckets.set(index, { ...r });
      return;
    }
    b.count += r.count;
    b.minValue = minOf(b.minValue, r.minValue);
    b.maxValue = maxOf(b.maxValue, r.maxValue);
    if (r.minStep < b.minStep) b.minStep = r.minStep;
    if (isLater(r.lastStep, r.lastTimestamp, r.lastValue, b.lastStep, b.lastTimestamp, b.lastValue)) {
      b.lastStep = r.lastStep;
      b.lastTimestamp = r.lastTimestamp;
      b.lastValue = r.lastValue;
    }
  }

  addPoint(step: number, timestamp: number, value: number | null): void {
    const index = Math.floor((step - this.#origin) / this.#width);
    this.#merge(index, { level: 0, block: 0, count: 1, minValue: value, maxValue: value, minStep: step, lastStep: step, lastTimestamp: timestamp, lastValue: value });
  }

  /** Adds a rollup row; its block lies wholly inside one bucket by construction of the plan. */
  addRollup(r: RollupRow): void {
    this.#merge(Math.floor((r.block * r.level - this.#origin) / this.#width), r);
  }

  result(runId: string, key: string): DownsampledSeries {
    const buckets: MetricBucket[] = [...this.#buckets.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([, b]) => ({
        stepStart: b.minStep,
        stepEnd: b.lastStep,
        count: b.count,
        min: b.minValue ?? NaN,
        max: b.maxValue ?? NaN,
        last: b.lastValue ?? NaN,
        lastStep: b.lastStep,
        lastTimestamp: b.lastTimestamp,
      }));
    return { runId, key, totalPoints: this.total, buckets };
  }
}

/**
 * Brute-force downsampling of raw points, the reference the rollup path must match
 * (used by tests, and equal to the raw path).
 */
export function downsampleBruteForce(runId: string, key: string, points: readonly { step: number; timestamp: number; value: number }[], opts: { buckets: number; minStep?: number; maxStep?: number }, plan?: DownsamplePlan): DownsampledSeries {
  if (points.length === 0) return { runId, key, totalPoints: 0, buckets: [] };
  let lo = opts.minStep ?? Infinity;
  let hi = opts.maxStep ?? -Infinity;
  if (opts.minStep === undefined) for (const p of points) lo = Math.min(lo, p.step);
  if (opts.maxStep === undefined) for (const p of points) hi = Math.max(hi, p.step);
  if (lo > hi) return { runId, key, totalPoints: 0, buckets: [] };
  const acc = new BucketAccumulator(plan ?? planDownsample(lo, hi, opts.buckets, false));
  for (const p of points) if (p.step >= lo && p.step <= hi) acc.addPoint(p.step, p.timestamp, Number.isNaN(p.value) ? null : p.value);
  return acc.result(runId, key);
}
