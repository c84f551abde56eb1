import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import { mulberry32 as rng } from "../../../test/seeded.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { binnedCounts, categoricalSufficient, numericSufficient } from "./drift-sql.js";
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
