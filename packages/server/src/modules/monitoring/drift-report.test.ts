import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import { mulberry32 as rng } from "../../../test/seeded.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { driftReport } from "./drift-report.js";
import { columnDrift } from "./drift-stats.js";


/** Rows of (x continuous, k few values, c category, b binary) for the reference and current samples. */
function sample(n: number, shift: number, seed: number) {
  const r = rng(seed);
  return Array.from({ length: n }, () => ({ x: Math.round((r() * 10 + shift) * 1000) / 1000, k: Math.floor(r() * 4 + shift / 3), c: ["red", "green", "blue"][Math.floor(r() ** (1 + shift) * 3)]!, b: r() < 0.3 + shift / 10 ? "yes" : "no" }));
}

describe("driftReport (DuckDB statistics, SciPy-exact tests)", () => {
  let db: DuckDBInstance;
  let conn: DuckDBConnection;
  const small = { ref: sample(800, 0, 1), cur: sample(600, 1, 2) };
  const large = { ref: sample(5000, 0, 3), cur: sample(4000, 0.2, 4) };
  const load = async (table: string, rows: ReturnType<typeof sample>) => {
    await conn.run(`CREATE TABLE ${table} (x DOUBLE, k INTEGER, c VARCHAR, b VARCHAR)`);
    for (let i = 0; i < rows.length; i += 1000) await conn.run(`INSERT INTO ${table} VALUES ${rows.slice(i, i + 1000).map((r) => `(${r.x}, ${r.k}, '${r.c}', '${r.b}')`).join(",")}`);
  };
  beforeAll(async () => {
    db = await DuckDBInstance.create(":memory:");
    conn = await db.connect();
    await load("small_ref", small.ref);
    await load("small_cur", small.cur);
    await load("large_ref", large.ref);
    await load("large_cur", large.cur);
  });
  afterAll(() => conn?.closeSync());

  const numeric = (rows: ReturnType<typeof sample>, key: "x" | "k") => Float64Array.from(rows.map((r) => r[key]));
  const counts = (ref: ReturnType<typeof sample>, cur: ReturnType<typeof sample>, key: "c" | "b") => {
    const values = [...new Set([...ref, ...cur].map((r) => r[key]))].sort();
    return { kind: "categorical" as const, referenceCounts: Float64Array.from(values.map((v) => ref.filter((r) => r[key] === v).length)), currentCounts: Float64Array.from(values.map((v) => cur.filter((r) => r[key] === v).length)) };
  };
  const same = (got: { statistic: number; pValue?: number; drifted: boolean; test: string }, want: { statistic: number; pValue?: number; drifted: boolean; test: string }) => {
    expect(got.test).toBe(want.test);
    expect(Math.abs(got.statistic - want.statistic)).toBeLessThanOrEqual(1e-9 * Math.abs(want.statistic) + 1e-15);
    if (want.pValue !== undefined) expect(Math.abs(got.pValue! - want.pValue)).toBeLessThanOrEqual(1e-9 * want.pValue + 1e-300);
    expect(got.drifted).toBe(want.drifted);
  };
  const cols = [
    { name: "x", kind: "numeric" as const },
    { name: "k", kind: "numeric" as const },
    { name: "c", kind: "categorical" as const },
    { name: "b", kind: "categorical" as const },
  ];

  it("picks Evidently's tests on a small reference and matches the in-memory statistics (KS, chi-square, Z)", async () => {
    const rep = await driftReport(conn, "small_ref", "small_cur", cols);
    const [x, k, c, b] = rep.columns as any[];
    same(x, columnDrift({ kind: "numeric", reference: numeric(small.ref, "x"), current: numeric(small.cur, "x") }));
    same(k, columnDrift({ kind: "numeric", reference: numeric(small.ref, "k"), current: numeric(small.cur, "k") }));
    same(c, columnDrift(counts(small.ref, small.cur, "c")));
    same(b, columnDrift(counts(small.ref, small.cur, "b")));
    expect([x.test, k.test, c.test, b.test]).toEqual(["ks", "chisquare", "chisquare", "z"]);
    expect(x).toMatchObject({ nRef: 800, nCur: 600, drifted: true });
    // Charts: every value in one of 30 shared bins; categories with their counts.
    const total = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    expect([x.histogram.edges.length, total(x.histogram.ref), total(x.histogram.cur)]).toEqual([31, 800, 600]);
    expect(c.histogram.labels.slice().sort()).toEqual(["blue", "green", "red"]);
    expect([total(c.histogram.ref), total(c.histogram.cur)]).toEqual([800, 600]);
    expect(rep.dataset).toMatchObject({ totalColumns: 4, noData: false });
  });

  it("uses normed Wasserstein and Jensen-Shannon on a large reference, and honours per-column tests and thresholds", async () => {
    const rep = await driftReport(conn, "large_ref", "large_cur", [...cols, { name: "x", kind: "numeric", test: "psi", threshold: 0.2 }, { name: "x", kind: "numeric", test: "jensenshannon" }]);
    const [x, k, c, b, xPsi, xJs] = rep.columns as any[];
    same(x, columnDrift({ kind: "numeric", reference: numeric(large.ref, "x"), current: numeric(large.cur, "x") }));
    same(k, columnDrift({ kind: "numeric", reference: numeric(large.ref, "k"), current: numeric(large.cur, "k") }));
    same(c, columnDrift(counts(large.ref, large.cur, "c")));
    same(b, columnDrift(counts(large.ref, large.cur, "b")));
    same(xPsi, columnDrift({ kind: "numeric", reference: numeric(large.ref, "x"), current: numeric(large.cur, "x") }, { test: "psi", threshold: 0.2 }));
    same(xJs, columnDrift({ kind: "numeric", reference: numeric(large.ref, "x"), current: numeric(large.cur, "x") }, { test: "jensenshannon" }));
    expect([x.test, k.test, c.test, b.test, xPsi.threshold]).toEqual(["wasserstein", "jensenshannon", "jensenshannon", "jensenshannon", 0.2]);
  });

  it("reports an empty current window as no data (not NaN drift), and refuses a reference without a column's values", async () => {
    const rep = await driftReport(conn, "small_ref", "(SELECT * FROM small_cur WHERE false)", cols);
    expect(rep.columns.every((c) => "noData" in c)).toBe(true);
    expect(rep.dataset).toMatchObject({ noData: true, datasetDrift: false, share: 0 });
    await expect(driftReport(conn, "(SELECT * FROM small_ref WHERE false)", "small_cur", cols)).rejects.toMatchObject({ code: "INVALID_PARAMETER_VALUE" });
    await expect(driftReport(conn, "small_ref", "small_cur", [{ name: "c", kind: "categorical", test: "ks" }])).rejects.toMatchObject({ code: "INVALID_PARAMETER_VALUE" });
    await expect(driftReport(conn, "small_ref", "small_cur", [{ name: "k", kind: "numeric", test: "z" }])).rejects.toMatchObject({ code: "INVALID_PARAMETER_VALUE" });
  });
});
