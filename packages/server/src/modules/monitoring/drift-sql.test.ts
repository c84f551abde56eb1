import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import { mulberry32 as rng } from "../../../test/seeded.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { binnedCounts, categoricalSufficient, equalWidthEdges, numericOrdered, numericSufficient, numericSummaries } from "./drift-sql.js";
import { ks2Samp, ksPValue, sorted, wassersteinDistance } from "./drift-stats.js";


/** The reference definitions, straight from sorted arrays (as SciPy computes them). */
function ksAndW1(a: number[], b: number[]): { ks: number; w1: number } {
  const all = [...new Set([...a, ...b])].sort((x, y) => x - y);
  const sa = [...a].sort((x, y) => x - y);
  const sb = [...b].sort((x, y) => x - y);
  let i = 0;
  let j = 0;
  let ks = 0;
  let w1 = 0;
  for (let k = 0; k < all.length; k++) {
    while (i < sa.length && sa[i]! <= all[k]!) i++;
    while (j < sb.length && sb[j]! <= all[k]!) j++;
    const gap = Math.abs(i / sa.length - j / sb.length);
    ks = Math.max(ks, gap);
    if (k + 1 < all.length) w1 += gap * (all[k + 1]! - all[k]!);
  }
  return { ks, w1 };
}

describe("drift sufficient statistics in DuckDB", () => {
  let db: DuckDBInstance;
  let conn: DuckDBConnection;
  const r = rng(3);
  const ref = Array.from({ length: 3000 }, () => Math.round(r() * 1000) / 10);
  const cur = Array.from({ length: 2000 }, () => Math.round((r() * 1000 + 150) / 10) / 1);
  beforeAll(async () => {
    db = await DuckDBInstance.create(":memory:");
    conn = await db.connect();
    await conn.run("CREATE TABLE ref (x DOUBLE, cat VARCHAR)");
    await conn.run("CREATE TABLE cur (x DOUBLE, cat VARCHAR)");
    const insert = async (t: string, xs: number[], cats: string[]) => {
      for (let i = 0; i < xs.length; i += 500) {
        const rows = xs.slice(i, i + 500).map((x, k) => `(${x}, ${cats[(i + k) % cats.length] === "" ? "NULL" : `'${cats[(i + k) % cats.length]}'`})`);
        await conn.run(`INSERT INTO ${t} VALUES ${rows.join(",")}`);
      }
    };
    await insert("ref", ref, ["a", "b", "b", "c"]);
    await insert("cur", cur, ["a", "c", "c", "", "d"]);
    await conn.run("INSERT INTO ref VALUES (NULL, NULL), ('NaN', 'a'), ('Infinity', 'a')");
    // A column of 7 values (runs of ties longer than a 2,048-row chunk once sorted), NULL where x is not finite.
    for (const t of ["ref", "cur"]) {
      await conn.run(`ALTER TABLE ${t} ADD COLUMN k INTEGER`);
      await conn.run(`UPDATE ${t} SET k = CASE WHEN isfinite(x) THEN (rowid % 7) ${t === "cur" ? "+ (rowid % 2)" : ""} END`);
    }
  });
  afterAll(() => {
    conn?.closeSync();
  });

  it("computes KS and W1 exactly as their definitions on sorted samples (NULL, NaN and ±Infinity left out)", async () => {
    const s = await numericSufficient(conn, "ref", "cur", "x");
    const want = ksAndW1(ref, cur);
    expect(s.nRef).toBe(3000);
    expect(s.nCur).toBe(2000);
    expect(s.nUnique).toBe(new Set([...ref, ...cur]).size);
    expect(Math.abs(s.ks - want.ks)).toBeLessThanOrEqual(1e-12 * want.ks);
    expect(Math.abs(s.wasserstein - want.w1)).toBeLessThanOrEqual(1e-9 * want.w1);
    const mean = ref.reduce((a, b) => a + b, 0) / ref.length;
    const sd = Math.sqrt(ref.reduce((a, b) => a + (b - mean) ** 2, 0) / ref.length);
    expect(s.refStd).toBeCloseTo(sd, 9);
    expect([s.min, s.max]).toEqual([Math.min(...ref, ...cur), Math.max(...ref, ...cur)]);
  });

  it("gives the same KS test and W1 as the in-memory statistics (so the samples need not come into memory)", async () => {
    const s = await numericSufficient(conn, "ref", "cur", "x");
    const inMemory = ks2Samp(sorted(ref), sorted(cur));
    const fromSql = ksPValue(s.ks, s.nRef, s.nCur);
    expect(fromSql.statistic).toBe(inMemory.statistic);
    expect(Math.abs(fromSql.pValue - inMemory.pValue)).toBeLessThanOrEqual(1e-12 * inMemory.pValue + 1e-300);
    const w = wassersteinDistance(sorted(ref), sorted(cur));
    expect(Math.abs(s.wasserstein - w)).toBeLessThanOrEqual(1e-9 * w);
  });

  it("summarizes many columns in one scan a side: counts, range, whether values repeat (NULL, NaN and ±Infinity left out)", async () => {
    const s = await numericSummaries(conn, "ref", "cur", ["x", "x", "k"]);
    expect([...s.keys()]).toEqual(["x", "k"]);
    expect(s.get("x")).toEqual({ nRef: 3000, nCur: 2000, min: Math.min(...ref, ...cur), max: Math.max(...ref, ...cur), repeats: false });
    expect(s.get("k")).toMatchObject({ nRef: 3000, nCur: 2000, min: 0, max: 7, repeats: true });
    const empty = await numericSummaries(conn, "ref", "(SELECT * FROM cur WHERE false)", ["x"]);
    expect(empty.get("x")).toMatchObject({ nRef: 3000, nCur: 0 });
  });

  it("gives the same ordered pass sorting rows or grouping by value, with ties across chunks, bins by numpy's rule, counts per value and the reference's std", async () => {
    for (const column of ["x", "k"]) {
      const s = (await numericSummaries(conn, "ref", "cur", [column])).get(column)!;
      const edges = equalWidthEdges(s.min!, s.max!, 7);
      const opts = { nRef: s.nRef, nCur: s.nCur, edges: [edges, [10, 20, 50]], maxValues: 10_000 };
      const rows = await numericOrdered(conn, "ref", "cur", column, { ...opts, grouped: false });
      const grouped = await numericOrdered(conn, "ref", "cur", column, { ...opts, grouped: true });
      expect(rows.nUnique).toBe(grouped.nUnique);
      expect(rows.ks).toBe(grouped.ks);
      expect(Math.abs(rows.wasserstein - grouped.wasserstein)).toBeLessThanOrEqual(1e-12 * grouped.wasserstein);
      expect(rows.bins).toEqual(grouped.bins);
      expect(rows.values).toEqual(grouped.values);
      expect(rows.bins[0]).toEqual(await binnedCounts(conn, "ref", "cur", column, edges));
      expect(rows.bins[1]).toEqual(await binnedCounts(conn, "ref", "cur", column, [10, 20, 50]));
      const c = await categoricalSufficient(conn, "ref", "cur", column, true);
      const byValue = new Map(c.values.map((v, i) => [Number(v), [c.ref[i], c.cur[i]]]));
      expect(rows.values!.values.map((v, i) => [v, rows.values!.ref[i], rows.values!.cur[i]])).toEqual([...byValue.keys()].sort((a, b) => a - b).map((v) => [v, ...byValue.get(v)!]));
      const xs = column === "x" ? ref : ref.map((_, i) => i % 7);
      const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
      expect(rows.refStd).toBeCloseTo(Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length), 12);
    }
    // More distinct values than asked to keep: none kept.
    expect((await numericOrdered(conn, "ref", "cur", "x", { nRef: 3000, nCur: 2000, grouped: false, maxValues: 10 })).values).toBeUndefined();
    await expect(numericOrdered(conn, "ref", "cur", "x", { nRef: 3000, nCur: 2000, grouped: false, edges: [[1]] })).rejects.toThrow(RangeError);
    // Counts that do not match the relations (they changed in between) are an error, not a wrong statistic.
    await expect(numericOrdered(conn, "ref", "cur", "x", { nRef: 2999, nCur: 2000, grouped: false })).rejects.toThrow(/changed/);
  });

  it("answers an empty side with zero counts, not NaN", async () => {
    const s = await numericSufficient(conn, "ref", "(SELECT * FROM cur WHERE false)", "x");
    expect([s.nCur, s.ks, s.wasserstein]).toEqual([0, 0, 0]);
  });

  it("counts categories in both samples, NULLs left out", async () => {
    const c = await categoricalSufficient(conn, "ref", "cur", "cat");
    const count = (xs: string[], n: number, v: string) => Array.from({ length: n }, (_, i) => xs[i % xs.length]).filter((x) => x === v).length;
    for (const v of ["a", "b", "c", "d"]) {
      const i = c.values.indexOf(v);
      expect([c.ref[i], c.cur[i]]).toEqual([count(["a", "b", "b", "c"], 3000, v) + (v === "a" ? 2 : 0), count(["a", "c", "c", "", "d"], 2000, v)]);
    }
    expect(c.values).not.toContain("");
  });

  it("bins like numpy.histogram: half-open bins, the last closed, outside values dropped", async () => {
    const edges = [0, 25, 50, 75, 100];
    const b = await binnedCounts(conn, "ref", "cur", "x", edges);
    const bin = (xs: number[]) => {
      const out = [0, 0, 0, 0];
      for (const x of xs) if (x >= 0 && x <= 100) out[Math.min(3, Math.floor(x / 25))]! += 1;
      return out;
    };
    expect(b.ref).toEqual(bin(ref));
    expect(b.cur).toEqual(bin(cur));
    await expect(binnedCounts(conn, "ref", "cur", "x", [1])).rejects.toThrow(RangeError);
  });
});
