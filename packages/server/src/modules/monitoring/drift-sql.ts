import type { DuckDBConnection, DuckDBVector } from "@duckdb/node-api";

/** A DuckDB identifier, quoted. */
export const sqlIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;

/**
 * A sample: a relation (a table or view name, or a parenthesized query) whose rows count once each,
 * or a weighted one, whose every row counts `weight` times (an SQL expression over its columns giving
 * a positive integer): a stored reference profile (`reference-profile.ts`), one row per distinct value
 * of a column with its count. Each column's statistics come from the rows where it is not NULL, so
 * one weighted relation can hold the distinct values of many columns, each row naming one.
 */
export type DriftSample = string | { relation: string; weight: string };

const relationOf = (s: DriftSample) => (typeof s === "string" ? s : s.relation);
const weightOf = (s: DriftSample) => (typeof s === "string" ? undefined : s.weight);

/** What the numeric drift tests need of one column, computed exactly in DuckDB from both samples. */
export interface NumericSufficient {
  /** Finite values in each sample (NULL, NaN and ±Infinity are left out). */
  nRef: number;
  nCur: number;
  /** Distinct finite values over both samples. */
  nUnique: number;
  /** sup |F_ref − F_cur|: the two-sample Kolmogorov–Smirnov statistic. */
  ks: number;
  /** ∫ |F_ref − F_cur| dx: the first Wasserstein distance. */
  wasserstein: number;
  /** Population standard deviation of the reference (Evidently norms the Wasserstein distance by it). */
  refStd: number | null;
  min: number | null;
  max: number | null;
}

/** Counts per value of one categorical column in each sample (NULLs left out). */
export interface CategoricalSufficient {
  values: string[];
  ref: number[];
  cur: number[];
}

/**
 * A double as a SQL literal that DuckDB reads back bit for bit: the shortest round-trip text, quoted,
 * since an unquoted one is read as a DECIMAL first and its conversion to DOUBLE can be an ulp off.
 */
const dbl = (v: number) => `'${v}'::DOUBLE`;

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/** A column cast to DOUBLE, and the condition that keeps its finite values (NULL, NaN and ±Infinity left out). */
const finiteOf = (column: string) => {
  const x = `CAST(${sqlIdent(column)} AS DOUBLE)`;
  return { x, keep: `${sqlIdent(column)} IS NOT NULL AND isfinite(${x})` };
};

/** What one scan of each sample gives of a numeric column, before any ordering. */
export interface NumericSummary {
  /** Finite values in each sample. */
  nRef: number;
  nCur: number;
  /** Smallest and largest finite value over both samples (null when neither has one). */
  min: number | null;
  max: number | null;
  /**
   * Whether the reference's first `SAMPLE_ROWS` finite values repeat (at most a quarter of them
   * distinct): then `numericOrdered` groups by value rather than sorting every row. It only picks how
   * the column is read, never enters a statistic. For a weighted reference: whether all of its
   * distinct values are at most a quarter of its values.
   */
  repeats: boolean;
}

/** Rows of the reference looked at to guess whether a column's values repeat. */
const SAMPLE_ROWS = 8192;

/**
 * Counts, minimum and maximum of many numeric columns at once: one scan of each relation for all the
 * columns (DuckDB parallelizes the scan) instead of one query per column, and whether their values
 * repeat, from the reference's first rows. Columns named twice are scanned once. A weighted reference
 * (`DriftSample`) counts each row's weight: the same numbers as from its rows repeated.
 */
export async function numericSummaries(conn: DuckDBConnection, ref: DriftSample, cur: string, columns: readonly string[]): Promise<Map<string, NumericSummary>> {
  const names = [...new Set(columns)];
  const out = new Map<string, NumericSummary>();
  if (names.length === 0) return out;
  // Non-finite values become NULL in a subquery, which aggregates skip: far faster than a FILTER per aggregate.
  const inner = (rel: string, limit = "") => `SELECT ${names.map((name, i) => `CASE WHEN isfinite(CAST(${sqlIdent(name)} AS DOUBLE)) THEN CAST(${sqlIdent(name)} AS DOUBLE) END AS v${i}`).join(", ")} FROM ${rel}${limit}`;
  const read = async (sql: string) => (await conn.runAndReadAll(sql)).getRowObjectsJS()[0]!;
  const side = (rel: string) => read(`SELECT ${names.map((_, i) => `COUNT(v${i}) AS n${i}, MIN(v${i}) AS lo${i}, MAX(v${i}) AS hi${i}`).join(", ")} FROM (${inner(rel)})`);
  const w = weightOf(ref);
  // A weighted reference counts SUM(weight) where a row has a value; its rows are already distinct values, so their count is the distinct count.
  const weighted = (rel: string, weight: string) =>
    read(`SELECT ${names.map((_, i) => `COALESCE(SUM(CASE WHEN v${i} IS NOT NULL THEN w END), 0)::BIGINT AS n${i}, MIN(v${i}) AS lo${i}, MAX(v${i}) AS hi${i}, COUNT(v${i}) AS u${i}`).join(", ")} FROM (SELECT ${names.map((name, i) => `CASE WHEN isfinite(CAST(${sqlIdent(name)} AS DOUBLE)) THEN CAST(${sqlIdent(name)} AS DOUBLE) END AS v${i}`).join(", ")}, ${weight} AS w FROM ${rel})`);
  const r = w === undefined ? await side(relationOf(ref)) : await weighted(relationOf(ref), w);
  const c = await side(cur);
  // The first rows, not a random sample: reading them costs nothing, and a wrong guess costs only time.
  const sample = w === undefined ? await read(`SELECT ${names.map((_, i) => `COUNT(v${i}) AS n${i}, COUNT(DISTINCT v${i}) AS u${i}`).join(", ")} FROM (${inner(relationOf(ref), ` LIMIT ${SAMPLE_ROWS}`)})`) : r;
  const pick = (a: number | null, b: number | null, f: (p: number, q: number) => number) => (a === null ? b : b === null ? a : f(a, b));
  names.forEach((name, i) => {
    out.set(name, {
      nRef: num(r[`n${i}`]) ?? 0,
      nCur: num(c[`n${i}`]) ?? 0,
      min: pick(num(r[`lo${i}`]), num(c[`lo${i}`]), Math.min),
      max: pick(num(r[`hi${i}`]), num(c[`hi${i}`]), Math.max),
      repeats: (num(sample[`u${i}`]) ?? 0) <= 0.25 * (num(sample[`n${i}`]) ?? 0),
    });
  });
  return out;
}

/** Counts of both samples in the bins of one set of edges. */
export interface BinCounts {
  ref: number[];
  cur: number[];
}

/** What one ordered pass over a numeric column's two samples gives. */
export interface NumericOrdered {
  nRef: number;
  nCur: number;
  /** Distinct finite values over both samples. */
  nUnique: number;
  /** sup |F_ref − F_cur| (0 when a sample is empty). */
  ks: number;
  /** ∫ |F_ref − F_cur| dx (0 when a sample is empty). */
  wasserstein: number;
  /** Counts in the bins of each set of edges asked for, by numpy.histogram's rule. */
  bins: BinCounts[];
  /** Population standard deviation of the reference (null when it is empty). */
  refStd: number | null;
  /** Counts per distinct value, ascending by value; absent when there are more than `maxValues` distinct values. */
  values?: { values: number[]; ref: number[]; cur: number[] };
}

/** Options of `numericOrdered`. */
export interface NumericOrderedOptions {
  /** Finite values in each sample, as `numericSummaries` counted them (the CDFs divide by these). */
  nRef: number;
  nCur: number;
  /**
   * Read the samples grouped by distinct value (a hash aggregate, then a sort of the groups) instead
   * of sorting every row: much faster when values repeat; the results are the same either way.
   */
  grouped: boolean;
  /** Sets of bin edges (each at least two finite edges, ascending) to count both samples in. */
  edges?: readonly (readonly number[])[];
  /** Keep counts per distinct value up to this many distinct values (default 0: none). */
  maxValues?: number;
}

/** Both empirical CDFs, bin counts and counts per value, fed distinct value by distinct value in ascending order. */
class OrderedAccumulator {
  private readonly both: boolean;
  private readonly bins: BinCounts[];
  /** Per set of edges: how many edges are at or below the current value. */
  private readonly below: number[];
  private values: NumericOrdered["values"] | undefined;
  private nUnique = 0;
  private cumRef = 0;
  private cumCur = 0;
  private ks = 0;
  // W1 summed with Neumaier's compensation, so that the order of 2M terms does not matter.
  private w1 = 0;
  private w1c = 0;
  // The reference's mean and sum of squared deviations (Welford's update, a distinct value's copies at once).
  private mean = 0;
  private m2 = 0;
  // The distinct value being accumulated (its ties may span chunks) and its counts in each sample.
  private pending = false;
  private px = 0;
  private pr = 0;
  private pc = 0;

  constructor(
    private readonly nRef: number,
    private readonly nCur: number,
    private readonly edgeSets: readonly Float64Array[],
    private readonly maxValues: number,
  ) {
    this.both = nRef > 0 && nCur > 0;
    this.bins = edgeSets.map((e) => ({ ref: new Array<number>(e.length - 1).fill(0), cur: new Array<number>(e.length - 1).fill(0) }));
    this.below = edgeSets.map(() => 0);
    this.values = maxValues > 0 ? { values: [], ref: [], cur: [] } : undefined;
  }

  /** `a` reference and `b` current values equal to `v`, which is at least every value added before. */
  add(v: number, a: number, b: number): void {
    if (this.pending && v === this.px) {
      this.pr += a;
      this.pc += b;
      return;
    }
    if (this.pending) this.flush(v);
    this.pending = true;
    this.px = v;
    this.pr = a;
    this.pc = b;
  }

  private flush(next: number | undefined): void {
    const px = this.px;
    if (this.pr > 0) {
      const n = this.cumRef + this.pr;
      const delta = px - this.mean;
      this.mean += (delta * this.pr) / n;
      this.m2 += delta * (px - this.mean) * this.pr;
    }
    this.cumRef += this.pr;
    this.cumCur += this.pc;
    this.nUnique++;
    if (this.both) {
      const gap = Math.abs(this.cumRef / this.nRef - this.cumCur / this.nCur);
      if (gap > this.ks) this.ks = gap;
      if (next !== undefined) {
        const term = (next - px) * gap;
        const t = this.w1 + term;
        this.w1c += Math.abs(this.w1) >= Math.abs(term) ? this.w1 - t + term : term - t + this.w1;
        this.w1 = t;
      }
    }
    for (let s = 0; s < this.edgeSets.length; s++) {
      const e = this.edgeSets[s]!;
      const k = e.length - 1;
      let j = this.below[s]!;
      while (j < e.length && e[j]! <= px) j++;
      this.below[s] = j;
      // numpy.histogram: [e_i, e_i+1) and the last bin closed; values outside the edges not counted.
      if (px >= e[0]! && px <= e[k]!) {
        const bin = Math.min(j, k) - 1;
        this.bins[s]!.ref[bin]! += this.pr;
        this.bins[s]!.cur[bin]! += this.pc;
      }
    }
    if (this.values) {
      if (this.nUnique > this.maxValues) this.values = undefined;
      else this.values.values.push(px), this.values.ref.push(this.pr), this.values.cur.push(this.pc);
    }
  }

  finish(column: string): NumericOrdered {
    if (this.pending) this.flush(undefined);
    this.pending = false;
    if (this.cumRef !== this.nRef || this.cumCur !== this.nCur) throw new Error(`Column '${column}' has ${this.cumRef} + ${this.cumCur} values in order but ${this.nRef} + ${this.nCur} counted: the relations changed in between`);
    const { nRef, nCur, nUnique, both } = this;
    return { nRef, nCur, nUnique, ks: both ? this.ks : 0, wasserstein: both ? this.w1 + this.w1c : 0, refStd: nRef > 0 ? Math.sqrt(this.m2 / nRef) : null, bins: this.bins, ...(this.values ? { values: this.values } : {}) };
  }
}

/**
 * Streams a query's rows chunk by chunk (2,048 rows) into `chunk`, with each chunk's column vectors;
 * the next chunk is already being fetched (on a worker thread) while `chunk` runs on this one.
 */
async function eachChunk(conn: DuckDBConnection, sql: string, chunk: (cols: DuckDBVector[], n: number) => void): Promise<void> {
  const result = await conn.stream(sql);
  let next = result.fetchChunk();
  try {
    for (;;) {
      const c = await next;
      if (!c || c.rowCount === 0) break;
      next = result.fetchChunk();
      chunk(Array.from({ length: c.columnCount }, (_, k) => c.getColumnVector(k)), c.rowCount);
    }
  } catch (e) {
    // The fetch already under way must settle before the caller runs another query on the connection.
    await next.catch(() => undefined);
    throw e;
  }
}

/**
 * One ordered pass over a numeric column's finite values in both relations: DuckDB orders the union
 * of both samples (each row flagged with its sample, or, `grouped`, one row per distinct value with
 * both counts) and streams it chunk by chunk (2,048 rows) into a single merge loop, which takes both
 * empirical CDFs at every distinct value (the KS statistic is their largest gap, W1 the sum of gap ×
 * distance to the next value, as SciPy defines them), counts the distinct values, counts both samples
 * in the bins of `edges` and, while there are few, per distinct value. Memory holds two chunks and the
 * counts, never a sample; DuckDB's sort spills to disk beyond its memory limit. A weighted reference
 * enters the union with its weights as counts: the merge loop sees the same distinct values with the
 * same counts in the same order as from the rows repeated, so every result is the same bit for bit.
 * @throws RangeError when a set of edges has fewer than two edges or a non-finite one
 * @throws Error when the relations gave other counts than `nRef` / `nCur` (they changed in between)
 */
export async function numericOrdered(conn: DuckDBConnection, ref: DriftSample, cur: string, column: string, opts: NumericOrderedOptions): Promise<NumericOrdered> {
  const edgeSets = (opts.edges ?? []).map((e) => {
    if (e.length < 2 || e.some((v) => !Number.isFinite(v))) throw new RangeError("numericOrdered needs at least two finite edges per set");
    return Float64Array.from(e);
  });
  const acc = new OrderedAccumulator(opts.nRef, opts.nCur, edgeSets, opts.maxValues ?? 0);
  const { x, keep } = finiteOf(column);
  const w = weightOf(ref);
  if (w !== undefined) {
    // Weighted: each row carries both counts, (weight, 0) for the reference and (0, 1) for the current sample.
    const union = `SELECT ${x} AS x, (${w})::DOUBLE AS r, 0::DOUBLE AS c FROM ${relationOf(ref)} WHERE ${keep} UNION ALL SELECT ${x}, 0::DOUBLE, 1::DOUBLE FROM ${cur} WHERE ${keep}`;
    const sql = opts.grouped ? `SELECT x, SUM(r)::DOUBLE AS r, SUM(c)::DOUBLE AS c FROM (${union}) GROUP BY x ORDER BY x` : `SELECT x, r, c FROM (${union}) ORDER BY x`;
    await eachChunk(conn, sql, ([xs, rs, cs], n) => {
      for (let i = 0; i < n; i++) acc.add(xs!.getItem(i) as number, rs!.getItem(i) as number, cs!.getItem(i) as number);
    });
    return acc.finish(column);
  }
  const union = `SELECT ${x} AS x, 1::UTINYINT AS r FROM ${relationOf(ref)} WHERE ${keep} UNION ALL SELECT ${x}, 0::UTINYINT FROM ${cur} WHERE ${keep}`;
  if (opts.grouped) {
    await eachChunk(conn, `SELECT x, SUM(r)::DOUBLE AS r, (COUNT(*) - SUM(r))::DOUBLE AS c FROM (${union}) GROUP BY x ORDER BY x`, ([xs, rs, cs], n) => {
      for (let i = 0; i < n; i++) acc.add(xs!.getItem(i) as number, rs!.getItem(i) as number, cs!.getItem(i) as number);
    });
  } else {
    await eachChunk(conn, `SELECT x, r FROM (${union}) ORDER BY x`, ([xs, rs], n) => {
      for (let i = 0; i < n; i++) {
        const a = rs!.getItem(i) as number;
        acc.add(xs!.getItem(i) as number, a, 1 - a);
      }
    });
  }
  return acc.finish(column);
}

/** `k` equal-width bins from `lo` to `hi`: their `k + 1` edges, the last exactly `hi`. */
export function equalWidthEdges(lo: number, hi: number, k: number): number[] {
  return Array.from({ length: k + 1 }, (_, i) => (i === k ? hi : lo + ((hi - lo) * i) / k));
}

/**
 * The exact sufficient statistics of a numeric column for KS and Wasserstein, from two relations
 * (`ref` and `cur`: table names or parenthesized queries): `numericSummaries` for the counts and range,
 * then one `numericOrdered` pass for both CDFs and the reference's standard deviation. Nothing but
 * one chunk at a time comes into memory.
 * @throws Error when the relations change between the two queries
 */
export async function numericSufficient(conn: DuckDBConnection, ref: DriftSample, cur: string, column: string): Promise<NumericSufficient> {
  const s = (await numericSummaries(conn, ref, cur, [column])).get(column)!;
  const o = await numericOrdered(conn, ref, cur, column, { nRef: s.nRef, nCur: s.nCur, grouped: s.repeats });
  return { nRef: s.nRef, nCur: s.nCur, nUnique: o.nUnique, ks: o.ks, wasserstein: o.wasserstein, refStd: o.refStd, min: s.min, max: s.max };
}

/**
 * Counts per distinct value (as text) of a column in both relations, most frequent first. With
 * `numeric`, values are compared as numbers (an integer column and a DOUBLE one share `1`), and
 * NaN and ±Infinity are left out as the numeric tests leave them out. A weighted reference counts
 * each row's weight.
 */
export async function categoricalSufficient(conn: DuckDBConnection, ref: DriftSample, cur: string, column: string, numeric = false): Promise<CategoricalSufficient> {
  const c = sqlIdent(column);
  const value = numeric ? `CAST(CAST(${c} AS DOUBLE) AS VARCHAR)` : `CAST(${c} AS VARCHAR)`;
  const keep = numeric ? `${c} IS NOT NULL AND isfinite(CAST(${c} AS DOUBLE))` : `${c} IS NOT NULL`;
  const sql = `
    WITH v AS (SELECT ${value} AS v, ${weightOf(ref) ?? "1"} AS r, 0 AS c FROM ${relationOf(ref)} WHERE ${keep}
               UNION ALL SELECT ${value}, 0, 1 FROM ${cur} WHERE ${keep})
    SELECT v, SUM(r)::BIGINT AS r, SUM(c)::BIGINT AS c FROM v GROUP BY v ORDER BY SUM(r) + SUM(c) DESC, v`;
  const rows = (await conn.runAndReadAll(sql)).getRowObjectsJS();
  return { values: rows.map((r) => String(r.v)), ref: rows.map((r) => Number(r.r)), cur: rows.map((r) => Number(r.c)) };
}

/**
 * Counts of both samples in the bins `edges` defines (numpy.histogram's rule: half-open bins
 * [e_i, e_i+1), the last one closed; values outside are not counted), for PSI on numeric columns,
 * computed in DuckDB without loading the values: a value's bin is the number of edges at or below it.
 * A weighted reference counts each row's weight.
 */
export async function binnedCounts(conn: DuckDBConnection, ref: DriftSample, cur: string, column: string, edges: readonly number[]): Promise<{ ref: number[]; cur: number[] }> {
  if (edges.length < 2 || edges.some((e) => !Number.isFinite(e))) throw new RangeError("binnedCounts needs at least two finite edges");
  const c = sqlIdent(column);
  const k = edges.length - 1;
  // Edges as exact decimal text of the doubles (shortest round-trip), so DuckDB compares the same numbers.
  const list = `[${edges.map(dbl).join(", ")}]`;
  const side = (s: DriftSample) => `
    SELECT LEAST(len(list_filter(${list}, e -> e <= x)), ${k}) AS b, ${weightOf(s) === undefined ? "COUNT(*)" : "SUM(w)"}::BIGINT AS n
    FROM (SELECT CAST(${c} AS DOUBLE) AS x${weightOf(s) === undefined ? "" : `, ${weightOf(s)} AS w`} FROM ${relationOf(s)} WHERE ${c} IS NOT NULL AND isfinite(CAST(${c} AS DOUBLE)))
    WHERE x >= ${dbl(edges[0]!)} AND x <= ${dbl(edges[k]!)}
    GROUP BY b`;
  const read = async (s: DriftSample) => {
    const out = new Array<number>(k).fill(0);
    for (const r of (await conn.runAndReadAll(side(s))).getRowObjectsJS()) out[Number(r.b) - 1] = Number(r.n);
    return out;
  };
  return { ref: await read(ref), cur: await read(cur) };
}
