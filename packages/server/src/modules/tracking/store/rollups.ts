import type { DownsampledSeries, MetricBucket } from "@cairn/contract";

/**
 * Pure helpers for metric rollups and downsampling, shared by every backend.
 *
 * A rollup row summarises the points of one series whose step falls in one block
 * `[block * width, (block + 1) * width - 1]` at one level (width). Rows are mergeable:
 * count adds, min/max take the extreme (ignoring NaN), `last` keeps the later point.
 * In memory and in the database NaN is `null`.
 */

/**
 * Step widths of the rollup levels, smallest first. Each divides the next, so blocks nest.
 * A factor of 8 between levels bounds a query to about 8 rollup rows per output bucket, and
 * keeps the rows a batch writes few (for 100 steps of one key: about 6 rows).
 */
export const ROLLUP_WIDTHS = [64, 512, 4096, 32768] as const;

/**
 * A series keeps rollups once it holds more than this many points. Below it, downsampling reads the
 * raw points (cheap at this size) and writes skip rollup maintenance entirely. The batch that takes
 * a series over the threshold builds its rollups from all raw points in the same transaction.
 */
export const ROLLUP_THRESHOLD = 2048;

/**
 * Buckets narrower than the smallest rollup width are computed from raw points when the range holds
 * at most this many; beyond it, buckets are widened to the smallest rollup width instead (fewer
 * buckets than asked for, still exact).
 */
export const DOWNSAMPLE_RAW_LIMIT = 20_000;

/** A stored point: `value` null means NaN. */
export interface StoredPoint {
  step: number;
  timestamp: number;
  value: number | null;
}

/** One rollup row: the summary of a series' points in one block of one level (width). */
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

/** Merges rollup row `r` into `into` (same series, level and block). */
export function mergeRollupRow(into: RollupRow, r: RollupRow): void {
  mergeSummary(into, r.count, r.minValue, r.maxValue, r.minStep, r.lastStep, r.lastTimestamp, r.lastValue);
}

// Scalar arguments so that merging a single point allocates nothing (it runs once per logged point).
function mergeSummary(into: RollupRow, count: number, min: number | null, max: number | null, minStep: number, lastStep: number, lastTimestamp: number, lastValue: number | null): void {
  into.count += count;
  into.minValue = minOf(into.minValue, min);
  into.maxValue = maxOf(into.maxValue, max);
  if (minStep < into.minStep) into.minStep = minStep;
  if (isLater(lastStep, lastTimestamp, lastValue, into.lastStep, into.lastTimestamp, into.lastValue)) {
    into.lastStep = lastStep;
    into.lastTimestamp = lastTimestamp;
    into.lastValue = lastValue;
  }
}

/**
 * Aggregates points into rollup rows at every level, one row per (level, block), sorted by level
 * then block (so concurrent PostgreSQL writers lock rollup rows in the same order). The smallest level
 * is built from the points and each larger one from the level below.
 */
export function aggregateRollups(points: readonly StoredPoint[]): RollupRow[] {
  const out: RollupRow[] = [];
  let previous: RollupRow[] = [];
  for (let li = 0; li < ROLLUP_WIDTHS.length; li++) {
    const width = ROLLUP_WIDTHS[li]!;
    const byBlock = new Map<number, RollupRow>();
    const add = (block: number, r: RollupRow) => {
      const cur = byBlock.get(block);
      if (cur) mergeRollupRow(cur, r);
      else byBlock.set(block, { ...r, level: width, block });
    };
    if (li === 0) {
      for (const p of points) {
        const block = Math.floor(p.step / width);
        const r = byBlock.get(block);
        if (!r) {
          byBlock.set(block, { level: width, block, count: 1, minValue: p.value, maxValue: p.value, minStep: p.step, lastStep: p.step, lastTimestamp: p.timestamp, lastValue: p.value });
          continue;
        }
        mergeSummary(r, 1, p.value, p.value, p.step, p.step, p.timestamp, p.value);
      }
    } else {
      const factor = width / ROLLUP_WIDTHS[li - 1]!;
      for (const r of previous) add(Math.floor(r.block / factor), r);
    }
    previous = [...byBlock.values()].sort((x, y) => x.block - y.block);
    out.push(...previous);
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
      /** Buckets start at origin + i * bucketWidth; origin is a multiple of every rollup width in use. */
      origin: number;
      /** Whole rollup blocks to read, per level, inclusive block ranges. */
      blocks: { level: number; fromBlock: number; toBlock: number }[];
      /** Raw step ranges (inclusive) at the edges, narrower than the smallest level. */
      raw: { from: number; to: number }[];
    };

/** Whether `planDownsample` needs the number of points in the range to choose its plan. */
export function needsRangeCount(lo: number, hi: number, buckets: number, hasRollups: boolean): boolean {
  return hasRollups && Math.max(1, Math.ceil((hi - lo + 1) / buckets)) < ROLLUP_WIDTHS[0];
}

/**
 * Plans a downsample of the steps `[lo, hi]` into at most `buckets` buckets.
 *
 * Series without rollups read raw points, in buckets of the ideal width `ceil((hi - lo + 1) / buckets)`.
 * So do buckets narrower than the smallest rollup width when the range holds at most
 * DOWNSAMPLE_RAW_LIMIT points (`pointsInRange`, an upper bound, see `needsRangeCount`). Otherwise the
 * bucket width is a multiple of the largest rollup width W not above the ideal width (or W itself when
 * the ideal is narrower), and buckets start at a multiple of W at or below `lo`, so every rollup block
 * lies wholly inside one bucket and the answer is exact. The range is covered by whole blocks
 * (largest level in the middle, finer ones towards the edges) plus raw points for the last steps at each
 * edge, fewer than the smallest width.
 */
export function planDownsample(lo: number, hi: number, buckets: number, hasRollups: boolean, pointsInRange?: number): DownsamplePlan {
  const ideal = Math.max(1, Math.ceil((hi - lo + 1) / buckets));
  const smallest = ROLLUP_WIDTHS[0];
  if (!hasRollups || (ideal < smallest && (pointsInRange ?? 0) <= DOWNSAMPLE_RAW_LIMIT)) return { mode: "raw", lo, hi, bucketWidth: ideal, origin: lo };
  let levelIndex = 0;
  for (let i = 0; i < ROLLUP_WIDTHS.length; i++) if (ROLLUP_WIDTHS[i]! <= ideal) levelIndex = i;
  const width = ROLLUP_WIDTHS[levelIndex]!;
  const origin = Math.floor(lo / width) * width;
  let k = Math.ceil(ideal / width);
  while (Math.floor((hi - origin) / (k * width)) + 1 > buckets) k++;
  const blocks: { level: number; fromBlock: number; toBlock: number }[] = [];
  const raw: { from: number; to: number }[] = [];
  const cover = (a: number, b: number, li: number): void => {
    if (a > b) return;
    if (li < 0) {
      raw.push({ from: a, to: b });
      return;
    }
    const w = ROLLUP_WIDTHS[li]!;
    // "+ 0" turns -0 (Math.ceil of a small negative fraction) into 0.
    const first = Math.ceil(a / w) + 0;
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
  return { mode: "rollup", lo, hi, bucketWidth: k * width, origin, blocks, raw };
}

/**
 * Accumulates rollup rows and raw points into output buckets. Buckets are dense (at most
 * `buckets + 1` of them), so the state lives in typed arrays; NaN stands for "no value" in min/max
 * and for a NaN last value.
 */
export class BucketAccumulator {
  #width: number;
  #origin: number;
  #count: Float64Array;
  #min: Float64Array;
  #max: Float64Array;
  #minStep: Float64Array;
  #lastStep: Float64Array;
  #lastTs: Float64Array;
  #lastVal: Float64Array;
  total = 0;

  constructor(plan: DownsamplePlan) {
    this.#width = plan.bucketWidth;
    this.#origin = plan.origin;
    const n = Math.floor((plan.hi - plan.origin) / plan.bucketWidth) + 1;
    this.#count = new Float64Array(n);
    this.#min = new Float64Array(n).fill(NaN);
    this.#max = new Float64Array(n).fill(NaN);
    this.#minStep = new Float64Array(n);
    this.#lastStep = new Float64Array(n);
    this.#lastTs = new Float64Array(n);
    this.#lastVal = new Float64Array(n);
  }

  /** Merges one summary (a point is a summary of count 1) into bucket `i`; null values mean NaN. */
  #merge(i: number, count: number, min: number | null, max: number | null, minStep: number, lastStep: number, lastTs: number, lastVal: number | null): void {
    this.total += count;
    const lv = lastVal === null ? NaN : lastVal;
    if (this.#count[i] === 0) {
      this.#count[i] = count;
      this.#min[i] = min === null ? NaN : min;
      this.#max[i] = max === null ? NaN : max;
      this.#minStep[i] = minStep;
      this.#lastStep[i] = lastStep;
      this.#lastTs[i] = lastTs;
      this.#lastVal[i] = lv;
      return;
    }
    this.#count[i]! += count;
    if (min !== null && !(min >= this.#min[i]!)) this.#min[i] = min;
    if (max !== null && !(max <= this.#max[i]!)) this.#max[i] = max;
    if (minStep < this.#minStep[i]!) this.#minStep[i] = minStep;
    const cur = this.#lastVal[i]!;
    if (isLater(lastStep, lastTs, Number.isNaN(lv) ? null : lv, this.#lastStep[i]!, this.#lastTs[i]!, Number.isNaN(cur) ? null : cur)) {
      this.#lastStep[i] = lastStep;
      this.#lastTs[i] = lastTs;
      this.#lastVal[i] = lv;
    }
  }

  addPoint(step: number, timestamp: number, value: number | null): void {
    this.#merge(Math.floor((step - this.#origin) / this.#width), 1, value, value, step, step, timestamp, value);
  }

  /** Adds a rollup row of `level` (width); its block lies wholly inside one bucket by construction of the plan. */
  addRollupFields(level: number, block: number, count: number, min: number | null, max: number | null, minStep: number, lastStep: number, lastTs: number, lastVal: number | null): void {
    this.#merge(Math.floor((block * level - this.#origin) / this.#width), count, min, max, minStep, lastStep, lastTs, lastVal);
  }

  addRollup(r: RollupRow): void {
    this.addRollupFields(r.level, r.block, r.count, r.minValue, r.maxValue, r.minStep, r.lastStep, r.lastTimestamp, r.lastValue);
  }

  result(runId: string, key: string): DownsampledSeries {
    const buckets: MetricBucket[] = [];
    for (let i = 0; i < this.#count.length; i++) {
      if (this.#count[i] === 0) continue;
      buckets.push({
        stepStart: this.#minStep[i]!,
        stepEnd: this.#lastStep[i]!,
        count: this.#count[i]!,
        min: this.#min[i]!,
        max: this.#max[i]!,
        last: this.#lastVal[i]!,
        lastStep: this.#lastStep[i]!,
        lastTimestamp: this.#lastTs[i]!,
      });
    }
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
