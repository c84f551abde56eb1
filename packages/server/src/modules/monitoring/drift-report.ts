import type { DuckDBConnection } from "@duckdb/node-api";
import { CairnError } from "@cairn/contract";
import { categoricalSufficient, equalWidthEdges, numericOrdered, numericSummaries, type DriftSample, type NumericSummary } from "./drift-sql.js";
import { chooseTest, columnDrift, datasetDrift, ksPValue, sturgesEdgesOf, testDefaults, type DatasetDriftResult, type DriftTestName } from "./drift-stats.js";

/** A column to test, and optionally its own test and threshold. */
export interface DriftColumn {
  name: string;
  kind: "numeric" | "categorical";
  test?: DriftTestName;
  threshold?: number;
}

/** Both distributions of a column for charts: counts in shared bins (numeric: `edges`) or per value (the most frequent, the rest as `(other)`). */
export interface ColumnHistogram {
  edges?: number[];
  labels?: string[];
  ref: number[];
  cur: number[];
}

/** One column's result: the test, its statistic (and p-value), the threshold and the verdict; or no data in the current window. */
export type ColumnReport =
  | { column: string; kind: "numeric" | "categorical"; test: DriftTestName; statistic: number; pValue?: number; threshold: number; drifted: boolean; nRef: number; nCur: number; histogram: ColumnHistogram }
  | { column: string; kind: "numeric" | "categorical"; noData: true; nRef: number; nCur: 0 };

/** Bins of a numeric column's chart, and values of a categorical one's before the rest is `(other)`. */
const CHART_BINS = 30;
const CHART_VALUES = 20;

function topValues(values: string[], ref: number[], cur: number[]): ColumnHistogram {
  // `values` come most frequent first (categoricalSufficient's order).
  if (values.length <= CHART_VALUES) return { labels: values, ref, cur };
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  return { labels: [...values.slice(0, CHART_VALUES - 1), "(other)"], ref: [...ref.slice(0, CHART_VALUES - 1), sum(ref.slice(CHART_VALUES - 1))], cur: [...cur.slice(0, CHART_VALUES - 1), sum(cur.slice(CHART_VALUES - 1))] };
}

export interface DriftReport {
  columns: ColumnReport[];
  /** Share of drifted columns among those with data; `noData` when the current window is empty. */
  dataset: DatasetDriftResult & { noData: boolean };
}

/** Above this many distinct values a numeric column's PSI and Jensen–Shannon use Sturges bins, not one bin per value. */
const BIN_ABOVE_UNIQUE = 20;

/** Counts per distinct value of a numeric column are kept from its ordered pass up to this many values (beyond, a forced chi-square or Z-test groups again). */
const KEEP_VALUES = 10_000;

/**
 * Drift between two DuckDB relations (tables, views, or parenthesized queries over Parquet, CSV or
 * the inference log), column by column with Evidently's default test or the column's own, and the
 * dataset verdict by share of drifted columns. Everything the tests need is computed in DuckDB and
 * streamed: one scan of each relation for all numeric columns' counts and ranges, then per numeric
 * column one ordered pass (both CDFs for KS and Wasserstein, the distinct values, the reference's
 * standard deviation, the chart's and PSI's bin counts, counts per value when few), and per
 * categorical column a count per value. Only those statistics and one chunk of rows at a time reach
 * JS, so memory does not grow with the rows. KS p-values, chi-square, Z, Jensen–Shannon and PSI are
 * then computed exactly as SciPy does (`drift-stats.ts`). The reference may be weighted (a stored
 * reference profile, `DriftSample`): the report is the same as from the rows it counts.
 * @throws CairnError INVALID_PARAMETER_VALUE when the reference has no values in a column, a
 * categorical column is given KS or Wasserstein, or the Z-test a column of more than two values
 */
export async function driftReport(conn: DuckDBConnection, ref: DriftSample, cur: string, columns: readonly DriftColumn[], opts: { driftShare?: number } = {}): Promise<DriftReport> {
  const summaries = await numericSummaries(conn, ref, cur, columns.filter((c) => c.kind === "numeric").map((c) => c.name));
  const out: ColumnReport[] = [];
  for (const col of columns) out.push(col.kind === "numeric" ? await numericColumn(conn, ref, cur, col, summaries.get(col.name)!) : await categoricalColumn(conn, ref, cur, col));
  const withData = out.filter((c): c is Extract<ColumnReport, { drifted: boolean }> => !("noData" in c));
  return { columns: out, dataset: { ...datasetDrift(withData, opts.driftShare ?? 0.5), noData: withData.length === 0 } };
}

async function numericColumn(conn: DuckDBConnection, ref: DriftSample, cur: string, col: DriftColumn, s: NumericSummary): Promise<ColumnReport> {
  if (s.nRef === 0) throw new CairnError("INVALID_PARAMETER_VALUE", `The reference has no values in column '${col.name}'`);
  if (s.nCur === 0) return { column: col.name, kind: "numeric", noData: true, nRef: s.nRef, nCur: 0 };
  const lo = s.min!;
  const hi = s.max! > lo ? s.max! : lo + 1;
  const edges = equalWidthEdges(lo, hi, CHART_BINS);
  // Sturges bins are only ever needed for a PSI or Jensen–Shannon asked for (automatic choice takes them only at ≤ 5 values).
  const sturges = col.test === "psi" || col.test === "jensenshannon" ? [...sturgesEdgesOf(s.min!, s.max!, s.nRef + s.nCur)] : undefined;
  const o = await numericOrdered(conn, ref, cur, col.name, {
    nRef: s.nRef,
    nCur: s.nCur,
    grouped: s.repeats,
    edges: sturges ? [edges, sturges] : [edges],
    maxValues: KEEP_VALUES,
  });
  const choice = col.test ? testDefaults(col.test) : chooseTest("numeric", s.nRef, o.nUnique);
  const threshold = col.threshold ?? choice.threshold;
  const base = { column: col.name, kind: "numeric" as const, test: choice.test, threshold, nRef: s.nRef, nCur: s.nCur, histogram: { edges, ref: o.bins[0]!.ref, cur: o.bins[0]!.cur } };
  if (choice.test === "ks") {
    const r = ksPValue(o.ks, s.nRef, s.nCur);
    return { ...base, statistic: r.statistic, pValue: r.pValue, drifted: r.pValue < threshold };
  }
  if (choice.test === "wasserstein") {
    const statistic = o.wasserstein / Math.max(o.refStd ?? 0, 0.001);
    return { ...base, statistic, drifted: statistic >= threshold };
  }
  // Count-based tests: one bin per value (ascending, as the Z-test's target category is the first), or Sturges bins over both samples for PSI and JS on many values.
  let counts: { ref: number[]; cur: number[] };
  if (sturges && o.nUnique > BIN_ABOVE_UNIQUE) counts = o.bins[1]!;
  else if (o.values) counts = o.values;
  else {
    // A chi-square or Z-test forced on a column of many values: counted again per value.
    const c = await categoricalSufficient(conn, ref, cur, col.name, true);
    const order = c.values.map((v, i) => [Number(v), i] as const).sort((a, b) => a[0] - b[0]);
    counts = { ref: order.map(([, i]) => c.ref[i]!), cur: order.map(([, i]) => c.cur[i]!) };
  }
  if (choice.test === "z" && counts.ref.length > 2) throw new CairnError("INVALID_PARAMETER_VALUE", `Column '${col.name}' has ${counts.ref.length} values: the Z-test compares two`);
  const r = columnDrift({ kind: "categorical", referenceCounts: Float64Array.from(counts.ref), currentCounts: Float64Array.from(counts.cur) }, { test: choice.test, threshold });
  return { ...base, statistic: r.statistic, ...(r.pValue !== undefined ? { pValue: r.pValue } : {}), drifted: r.drifted };
}

async function categoricalColumn(conn: DuckDBConnection, ref: DriftSample, cur: string, col: DriftColumn): Promise<ColumnReport> {
  const c = await categoricalSufficient(conn, ref, cur, col.name);
  const nRef = c.ref.reduce((a, b) => a + b, 0);
  const nCur = c.cur.reduce((a, b) => a + b, 0);
  if (nRef === 0) throw new CairnError("INVALID_PARAMETER_VALUE", `The reference has no values in column '${col.name}'`);
  if (nCur === 0) return { column: col.name, kind: "categorical", noData: true, nRef, nCur: 0 };
  if (col.test === "ks" || col.test === "wasserstein") throw new CairnError("INVALID_PARAMETER_VALUE", `Column '${col.name}' is categorical: the ${col.test} test needs numbers`);
  const order = c.values.map((v, i) => [v, i] as const).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const choice = col.test ? testDefaults(col.test) : chooseTest("categorical", nRef, c.values.length);
  const threshold = col.threshold ?? choice.threshold;
  if (choice.test === "z" && c.values.length > 2) throw new CairnError("INVALID_PARAMETER_VALUE", `Column '${col.name}' has ${c.values.length} categories: the Z-test compares two`);
  const r = columnDrift({ kind: "categorical", referenceCounts: Float64Array.from(order.map(([, i]) => c.ref[i]!)), currentCounts: Float64Array.from(order.map(([, i]) => c.cur[i]!)) }, { test: choice.test, threshold });
  return { column: col.name, kind: "categorical", test: r.test, statistic: r.statistic, ...(r.pValue !== undefined ? { pValue: r.pValue } : {}), threshold, drifted: r.drifted, nRef, nCur, histogram: topValues(c.values, c.ref, c.cur) };
}
