import type { DuckDBConnection } from "@duckdb/node-api";

/** A DuckDB identifier, quoted. */
export const sqlIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;

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

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/**
 * The exact sufficient statistics of a numeric column for KS and Wasserstein, from two relations
 * (`ref` and `cur`: table names or parenthesized queries). One pass groups both samples by distinct
 * value; a window sum gives both empirical CDFs at every distinct value, so the KS statistic is their
 * largest gap and W1 the sum of gap × distance to the next value, exactly as SciPy defines them.
 * DuckDB streams and spills, so memory does not grow with the rows, only the distinct values it sorts.
 */
export async function numericSufficient(conn: DuckDBConnection, ref: string, cur: string, column: string): Promise<NumericSufficient> {
  const c = sqlIdent(column);
  const finite = (rel: string, r: 0 | 1) => `SELECT CAST(${c} AS DOUBLE) AS x, ${r} AS r, ${1 - r} AS c FROM ${rel} WHERE ${c} IS NOT NULL AND isfinite(CAST(${c} AS DOUBLE))`;
  const sql = `
    WITH v AS (${finite(ref, 1)} UNION ALL ${finite(cur, 0)}),
    g AS (SELECT x, SUM(r)::DOUBLE AS r, SUM(c)::DOUBLE AS c FROM v GROUP BY x),
    n AS (SELECT SUM(r) AS nr, SUM(c) AS nc, COUNT(*) AS nu, MIN(x) AS lo, MAX(x) AS hi FROM g),
    cdf AS (
      SELECT x, SUM(r) OVER w / n.nr AS fr, SUM(c) OVER w / n.nc AS fc, LEAD(x) OVER (ORDER BY x) AS nx
      FROM g, n WINDOW w AS (ORDER BY x ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
    ),
    s AS (SELECT MAX(ABS(fr - fc)) AS ks, SUM(CASE WHEN nx IS NULL THEN 0 ELSE (nx - x) * ABS(fr - fc) END) AS w1 FROM cdf),
    sd AS (SELECT stddev_pop(x) AS sd FROM v WHERE r = 1)
    SELECT n.nr, n.nc, n.nu, n.lo, n.hi, s.ks, s.w1, sd.sd FROM n, s, sd`;
  const row = (await conn.runAndReadAll(sql)).getRowObjectsJS()[0]!;
  const nRef = num(row.nr) ?? 0;
  const nCur = num(row.nc) ?? 0;
  return {
    nRef,
    nCur,
    nUnique: num(row.nu) ?? 0,
    ks: nRef > 0 && nCur > 0 ? (num(row.ks) ?? 0) : 0,
    wasserstein: nRef > 0 && nCur > 0 ? (num(row.w1) ?? 0) : 0,
    refStd: num(row.sd),
    min: num(row.lo),
    max: num(row.hi),
  };
}

/**
 * Counts per distinct value (as text) of a column in both relations, most frequent first. With
 * `numeric`, values are compared as numbers (an integer column and a DOUBLE one share `1`), and
 * NaN and ±Infinity are left out as the numeric tests leave them out.
 */
export async function categoricalSufficient(conn: DuckDBConnection, ref: string, cur: string, column: string, numeric = false): Promise<CategoricalSufficient> {
  const c = sqlIdent(column);
  const value = numeric ? `CAST(CAST(${c} AS DOUBLE) AS VARCHAR)` : `CAST(${c} AS VARCHAR)`;
  const keep = numeric ? `${c} IS NOT NULL AND isfinite(CAST(${c} AS DOUBLE))` : `${c} IS NOT NULL`;
  const sql = `
    WITH v AS (SELECT ${value} AS v, 1 AS r, 0 AS c FROM ${ref} WHERE ${keep}
               UNION ALL SELECT ${value}, 0, 1 FROM ${cur} WHERE ${keep})
    SELECT v, SUM(r)::BIGINT AS r, SUM(c)::BIGINT AS c FROM v GROUP BY v ORDER BY SUM(r) + SUM(c) DESC, v`;
  const rows = (await conn.runAndReadAll(sql)).getRowObjectsJS();
  return { values: rows.map((r) => String(r.v)), ref: rows.map((r) => Number(r.r)), cur: rows.map((r) => Number(r.c)) };
}

/**
 * Counts of both samples in the bins `edges` defines (numpy.histogram's rule: half-open bins
 * [e_i, e_i+1), the last one closed; values outside are not counted), for PSI on numeric columns,
 * computed in DuckDB without loading the values: a value's bin is the number of edges at or below it.
 */
export async function binnedCounts(conn: DuckDBConnection, ref: string, cur: string, column: string, edges: readonly number[]): Promise<{ ref: number[]; cur: number[] }> {
  if (edges.length < 2 || edges.some((e) => !Number.isFinite(e))) throw new RangeError("binnedCounts needs at least two finite edges");
  const c = sqlIdent(column);
  const k = edges.length - 1;
  // Edges as exact decimal text of the doubles (shortest round-trip), so DuckDB compares the same numbers.
  const list = `[${edges.map((e) => `${e}::DOUBLE`).join(", ")}]`;
  const side = (rel: string) => `
    SELECT LEAST(len(list_filter(${list}, e -> e <= x)), ${k}) AS b, COUNT(*)::BIGINT AS n
    FROM (SELECT CAST(${c} AS DOUBLE) AS x FROM ${rel} WHERE ${c} IS NOT NULL AND isfinite(CAST(${c} AS DOUBLE)))
    WHERE x >= ${edges[0]}::DOUBLE AND x <= ${edges[k]}::DOUBLE
    GROUP BY b`;
  const read = async (rel: string) => {
    const out = new Array<number>(k).fill(0);
    for (const r of (await conn.runAndReadAll(side(rel))).getRowObjectsJS()) out[Number(r.b) - 1] = Number(r.n);
    return out;
  };
  return { ref: await read(ref), cur: await read(cur) };
}
