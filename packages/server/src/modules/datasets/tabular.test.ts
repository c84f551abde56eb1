import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DuckDBInstance } from "@duckdb/node-api";
import { ColumnProfile, FileProfile, PROFILE_HISTOGRAM_BINS, PROFILE_QUANTILES, PROFILE_TOP_K, type Expectation, type ExpectationResult } from "@cairn/contract";
import { EXACT_PROFILE_ROWS, TabularEngine, formatOf, matchesGlob } from "./tabular.js";

interface Row {
  id: number;
  x: number | null;
  cat: string | null;
  flag: boolean | null;
  d: string;
  k: number;
}

const N = 503;
const CATS = ["alpha", "beta", "gamma", "delta", "eps"];

/** Known rows: `x` a float with every 10th missing, `cat` skewed with ties and nulls, `k` constant. */
function makeRows(): Row[] {
  let seed = 7;
  const rand = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  const rows: Row[] = [];
  for (let i = 0; i < N; i++) {
    const u = rand();
    rows.push({
      id: i + 1,
      x: i % 10 === 3 ? null : Number((u * 200 - 50).toFixed(3)),
      cat: i % 17 === 0 ? null : CATS[Math.min(CATS.length - 1, Math.floor(rand() * rand() * CATS.length * 1.3))]!,
      flag: i % 11 === 0 ? null : i % 3 === 0,
      d: `2024-0${1 + (i % 9)}-${String(1 + (i % 28)).padStart(2, "0")}`,
      k: 7,
    });
  }
  return rows;
}

function toCsv(rows: Row[]): string {
  const cell = (v: unknown) => (v === null ? "" : String(v));
  return "id,x,cat,flag,d,k\n" + rows.map((r) => [r.id, r.x, r.cat, r.flag, r.d, r.k].map(cell).join(",")).join("\n") + "\n";
}

// Independent reference statistics, computed in plain JS over the generated rows.
const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
const sampleStd = (xs: number[]) => {
  const m = mean(xs);
  return Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1));
};
/** Linear interpolation between order statistics, as quantile_cont defines it. */
const quantileCont = (sorted: number[], q: number) => {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  return lo + 1 < sorted.length ? sorted[lo]! + (h - lo) * (sorted[lo + 1]! - sorted[lo]!) : sorted[lo]!;
};
const histCounts = (xs: number[], lo: number, hi: number) => {
  const counts = new Array<number>(PROFILE_HISTOGRAM_BINS).fill(0);
  for (const x of xs) counts[Math.min(PROFILE_HISTOGRAM_BINS - 1, Math.floor(((x - lo) / (hi - lo)) * PROFILE_HISTOGRAM_BINS))]!++;
  return counts;
};
const topK = (vals: string[]) => {
  const m = new Map<string, number>();
  for (const v of vals) m.set(v, (m.get(v) ?? 0) + 1);
  return [...m].map(([value, count]) => ({ value, count })).sort((a, b) => b.count - a.count || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
};

const col = (p: FileProfile, name: string) => p.columns.find((c) => c.name === name)!;

async function expectInvalid(p: Promise<unknown>, label: string, pattern: RegExp): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toMatchObject({ name: "CairnError", code: "INVALID_PARAMETER_VALUE" });
  const msg = (err as Error).message;
  expect(msg).toContain(label);
  expect(msg).toMatch(pattern);
  expect(msg).not.toMatch(/SELECT|read_csv|read_parquet|read_json|CREATE/);
}

describe("tabular engine: profiles, validation, globs", () => {
  let dir: string;
  let engine: TabularEngine;
  let rows: Row[];
  const blob = (name: string) => path.join(dir, name);

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-tabular-"));
    engine = new TabularEngine({ threads: 2 });
    rows = makeRows();
    fs.writeFileSync(blob("csv"), toCsv(rows));
    fs.writeFileSync(blob("jsonl"), rows.map((r) => JSON.stringify({ ...r, tags: [r.id % 3] })).join("\n") + "\n");
    // Parquet written by DuckDB from the same CSV, into a path with no extension (like a blob).
    const db = await DuckDBInstance.create(":memory:");
    const conn = await db.connect();
    await conn.run(`COPY (SELECT * FROM read_csv('${blob("csv")}', header=true)) TO '${blob("parquet")}' (FORMAT parquet)`);
    await conn.run(`COPY (SELECT * FROM (VALUES (1.0::DOUBLE), ('inf'::DOUBLE), ('nan'::DOUBLE), (3.0::DOUBLE), (NULL)) t(v)) TO '${blob("nonfinite")}' (FORMAT parquet)`);
    conn.closeSync();
    db.closeSync();
  });
  afterAll(async () => {
    await engine.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("profiles a CSV: counts, extremes, moments, quantiles and histograms match plain JS", async () => {
    const p = FileProfile.parse(await engine.profile(blob("csv"), "csv", "data/train.csv"));
    expect(p).toMatchObject({ format: "csv", rows: N });
    expect(p.engine).toMatch(/^duckdb v1\.5/);
    expect(p.columns.map((c) => [c.name, c.type, c.kind])).toEqual([
      ["id", "BIGINT", "numeric"],
      ["x", "DOUBLE", "numeric"],
      ["cat", "VARCHAR", "categorical"],
      ["flag", "BOOLEAN", "boolean"],
      ["d", "DATE", "temporal"],
      ["k", "BIGINT", "numeric"],
    ]);

    const xs = rows.map((r) => r.x).filter((v): v is number => v !== null);
    const x = col(p, "x");
    const lo = Math.min(...xs);
    const hi = Math.max(...xs);
    expect(x).toMatchObject({ count: xs.length, missing: N - xs.length, distinct: new Set(xs).size, min: lo, max: hi });
    expect(x.mean).toBeCloseTo(mean(xs), 9);
    expect(x.std).toBeCloseTo(sampleStd(xs), 9);
    const sorted = [...xs].sort((a, b) => a - b);
    expect(x.quantiles!.map((q) => q.q)).toEqual([...PROFILE_QUANTILES]);
    x.quantiles!.forEach((q) => expect(q.value).toBeCloseTo(quantileCont(sorted, q.q), 9));
    expect(x.histogram!.edges).toHaveLength(PROFILE_HISTOGRAM_BINS + 1);
    expect(x.histogram!.edges[0]).toBe(lo);
    expect(x.histogram!.edges[PROFILE_HISTOGRAM_BINS]).toBe(hi);
    expect(x.histogram!.counts).toEqual(histCounts(xs, lo, hi));
    expect(x.histogram!.counts.reduce((s, c) => s + c, 0)).toBe(x.count);
    expect(x.topK).toBeUndefined();

    const id = col(p, "id");
    expect(id).toMatchObject({ count: N, missing: 0, distinct: N, min: 1, max: N, mean: (N + 1) / 2 });
    expect(id.std).toBeCloseTo(sampleStd(rows.map((r) => r.id)), 9);
    expect(typeof id.min).toBe("number");

    expect(col(p, "k")).toMatchObject({ min: 7, max: 7, mean: 7, std: 0, histogram: { edges: [7, 7], counts: [N] } });

    const cats = rows.map((r) => r.cat).filter((v): v is string => v !== null);
    const c = col(p, "cat");
    const expectedTop = topK(cats);
    expect(c).toMatchObject({ count: cats.length, missing: N - cats.length, distinct: new Set(cats).size, min: [...cats].sort()[0], max: [...cats].sort().at(-1) });
    expect(c.topK).toEqual({ values: expectedTop.slice(0, PROFILE_TOP_K), other: 0 });
    expect(c.mean).toBeUndefined();
    expect(c.histogram).toBeUndefined();

    const flags = rows.map((r) => r.flag).filter((v): v is boolean => v !== null);
    expect(col(p, "flag").topK).toEqual({ values: topK(flags.map(String)), other: 0 });

    const ds = rows.map((r) => r.d).sort();
    expect(col(p, "d")).toMatchObject({ count: N, min: ds[0], max: ds.at(-1), distinct: new Set(ds).size });
  });

  it("keeps the PROFILE_TOP_K most frequent values, ties broken by value, and counts the rest as other", async () => {
    // v0..v24 appear 25 - i times, plus w0..w4 tied with v20..v24 at 5 times each.
    const vals: string[] = [];
    for (let i = 0; i < 25; i++) for (let j = 0; j < 25 - i; j++) vals.push(`v${String(i).padStart(2, "0")}`);
    for (let i = 0; i < 5; i++) for (let j = 0; j < 5; j++) vals.push(`w${i}`);
    fs.writeFileSync(blob("topk"), "s\n" + vals.join("\n") + "\n");
    const p = await engine.profile(blob("topk"), "csv", "topk.csv");
    const expected = topK(vals).slice(0, PROFILE_TOP_K);
    expect(col(p, "s").topK!.values).toEqual(expected);
    expect(expected.at(-1)).toEqual({ value: "v19", count: 6 });
    expect(col(p, "s").topK!.other).toBe(vals.length - expected.reduce((s, v) => s + v.count, 0));
  });

  it("reads Parquet and JSON lines from paths without an extension, with the same statistics", async () => {
    const [csv, pq, jl] = await Promise.all([
      engine.profile(blob("csv"), "csv", "a.csv"),
      engine.profile(blob("parquet"), "parquet", "a.parquet"),
      engine.profile(blob("jsonl"), "jsonl", "a.jsonl"),
    ]);
    expect(pq).toEqual({ ...csv, format: "parquet" });
    expect(col(jl, "x")).toEqual(col(csv, "x"));
    expect(col(jl, "cat")).toEqual(col(csv, "cat"));
    expect(col(jl, "tags")).toMatchObject({ kind: "other", count: N, missing: 0, distinct: 3 });
    expect(jl.rows).toBe(N);
  });

  it("runs concurrent profiles without interference", async () => {
    const one = await engine.profile(blob("csv"), "csv", "a.csv");
    const many = await Promise.all(Array.from({ length: 6 }, () => engine.profile(blob("csv"), "csv", "a.csv")));
    for (const p of many) expect(p).toEqual(one);
  });

  it("above EXACT_PROFILE_ROWS keeps counts, extremes and moments exact and approximates distinct and quantiles", async () => {
    const n = EXACT_PROFILE_ROWS + 20_000;
    const lines = ["v,s"];
    for (let i = 0; i < n; i++) lines.push(`${i % 50_000},s${i % 1000}`);
    fs.writeFileSync(blob("big"), lines.join("\n") + "\n");
    const p = await engine.profile(blob("big"), "csv", "big.csv");
    const vs = Array.from({ length: n }, (_, i) => i % 50_000);
    const v = col(p, "v");
    expect(v).toMatchObject({ count: n, missing: 0, min: 0, max: 49_999 });
    expect(v.mean).toBeCloseTo(mean(vs), 6);
    expect(v.std).toBeCloseTo(sampleStd(vs), 6);
    // DuckDB's HyperLogLog is coarse (about 10% low here); this checks it is the estimate, not garbage.
    expect(Math.abs(v.distinct - 50_000) / 50_000).toBeLessThan(0.25);
    const sorted = [...vs].sort((a, b) => a - b);
    for (const q of v.quantiles!) expect(Math.abs(q.value - quantileCont(sorted, q.q))).toBeLessThan(500);
    expect(v.histogram!.counts.reduce((s, c) => s + c, 0)).toBe(n);
    expect(col(p, "s").topK!.values).toHaveLength(PROFILE_TOP_K);
    expect(col(p, "s").topK!.other).toBe(n - PROFILE_TOP_K * (n / 1000));
  });

  it("skips NaN and ±Infinity in numeric statistics but counts them as present", async () => {
    const p = await engine.profile(blob("nonfinite"), "parquet", "nf.parquet");
    expect(col(p, "v")).toMatchObject({ count: 4, missing: 1, min: 1, max: 3, mean: 2 });
    expect(col(p, "v").histogram!.counts.reduce((s, c) => s + c, 0)).toBe(2);
    const [r] = await engine.validate(blob("nonfinite"), "parquet", "nf.parquet", p, [{ type: "range", column: "v", min: 0 }]);
    expect(r).toMatchObject({ passed: false, observed: "2 non-finite values" });
  });

  it("widens a column whose type changes after the sniffer's sample instead of failing", async () => {
    const lines = ["a,b"];
    for (let i = 0; i < 25_000; i++) lines.push(`${i},x`);
    lines.push("not-a-number,y");
    fs.writeFileSync(blob("late"), lines.join("\n") + "\n");
    const p = await engine.profile(blob("late"), "csv", "late.csv");
    expect(col(p, "a")).toMatchObject({ type: "VARCHAR", count: 25_001 });
  });

  it("rejects ragged CSV rows (short, long, early or late) with INVALID_PARAMETER_VALUE naming the file", async () => {
    fs.writeFileSync(blob("short"), "a,b,c\n1,2,3\n4,5\n6,7,8\n");
    fs.writeFileSync(blob("long"), "a,b,c\n1,2,3\n4,5,6,7\n6,7,8\n");
    fs.writeFileSync(blob("longlast"), "a,b,c\n1,2,3\n4,5,6\n7,8,9,10\n");
    const late = ["a,b,c"];
    for (let i = 0; i < 25_000; i++) late.push(`${i},2,3`);
    late.push("4,5");
    fs.writeFileSync(blob("shortlate"), late.join("\n") + "\n");
    await expectInvalid(engine.profile(blob("short"), "csv", "raw/short.csv"), "raw/short.csv", /number of fields/);
    await expectInvalid(engine.profile(blob("long"), "csv", "raw/long.csv"), "raw/long.csv", /number of fields/);
    await expectInvalid(engine.profile(blob("longlast"), "csv", "raw/longlast.csv"), "raw/longlast.csv", /number of fields/);
    await expectInvalid(engine.profile(blob("shortlate"), "csv", "raw/late.csv"), "raw/late.csv", /line 25002 has 2 fields but the header has 3/);
  });

  it("rejects a non-Parquet file, malformed JSON lines and an empty file", async () => {
    fs.writeFileSync(blob("notpq"), "id,x\n1,2\n");
    fs.writeFileSync(blob("badjson"), '{"a": 1}\n{"a": 2\n');
    fs.writeFileSync(blob("empty"), "");
    await expectInvalid(engine.profile(blob("notpq"), "parquet", "m/model.parquet"), "m/model.parquet", /not a valid Parquet file/);
    await expectInvalid(engine.profile(blob("badjson"), "jsonl", "e/events.jsonl"), "e/events.jsonl", /malformed JSON \(line \d\)/);
    for (const format of ["csv", "parquet", "jsonl"] as const) await expectInvalid(engine.profile(blob("empty"), format, "z/empty"), "z/empty", /empty/);
  });

  it("profiles a header-only CSV as zero rows", async () => {
    fs.writeFileSync(blob("header"), "a,b\n");
    const p = await engine.profile(blob("header"), "csv", "h.csv");
    expect(p.rows).toBe(0);
    expect(p.columns.map((c) => [c.name, c.count, c.missing])).toEqual([
      ["a", 0, 0],
      ["b", 0, 0],
    ]);
  });

  describe("validate", () => {
    let profile: FileProfile;
    const label = "data/train.csv";
    const run = async (e: Expectation[], lbl = label): Promise<ExpectationResult[]> => engine.validate(blob("csv"), "csv", lbl, profile, e);
    const one = async (e: Expectation) => (await run([e]))[0]!;

    beforeAll(async () => {
      profile = await engine.profile(blob("csv"), "csv", label);
    });

    it("column_exists and column_type", async () => {
      expect(await one({ type: "column_exists", column: "x" })).toMatchObject({ passed: true, file: label });
      expect(await one({ type: "column_exists", column: "nope" })).toMatchObject({ passed: false, observed: "column missing" });
      expect(await one({ type: "column_type", column: "id", dtype: "integer" })).toMatchObject({ passed: true, observed: "type BIGINT" });
      expect(await one({ type: "column_type", column: "id", dtype: "numeric" })).toMatchObject({ passed: true });
      expect(await one({ type: "column_type", column: "x", dtype: "integer" })).toMatchObject({ passed: false, observed: "type DOUBLE" });
      expect(await one({ type: "column_type", column: "x", dtype: "float" })).toMatchObject({ passed: true });
      expect(await one({ type: "column_type", column: "cat", dtype: "string" })).toMatchObject({ passed: true });
      expect(await one({ type: "column_type", column: "flag", dtype: "boolean" })).toMatchObject({ passed: true });
      expect(await one({ type: "column_type", column: "d", dtype: "date" })).toMatchObject({ passed: true });
      expect(await one({ type: "column_type", column: "d", dtype: "timestamp" })).toMatchObject({ passed: false, observed: "type DATE" });
    });

    it("not_null, range and row_count from the profile", async () => {
      const xNulls = rows.filter((r) => r.x === null).length;
      expect(await one({ type: "not_null", column: "id" })).toMatchObject({ passed: true, observed: "0 nulls" });
      expect(await one({ type: "not_null", column: "x" })).toMatchObject({ passed: false, observed: `${xNulls} nulls` });
      const xs = rows.map((r) => r.x).filter((v): v is number => v !== null);
      const lo = Math.min(...xs);
      const hi = Math.max(...xs);
      expect(await one({ type: "range", column: "x", min: -50, max: 150 })).toMatchObject({ passed: true, observed: `min ${lo}, max ${hi}` });
      expect(await one({ type: "range", column: "x", max: 100 })).toMatchObject({ passed: false, observed: `max ${hi} > 100` });
      expect(await one({ type: "range", column: "id", min: 2 })).toMatchObject({ passed: false, observed: "min 1 < 2" });
      expect(await one({ type: "range", column: "cat", min: 0 })).toMatchObject({ passed: false, observed: "type VARCHAR is not numeric" });
      expect(await one({ type: "range", column: "gone", min: 0 })).toMatchObject({ passed: false, observed: "column missing" });
      expect(await one({ type: "row_count", min: N, max: N })).toMatchObject({ passed: true, observed: `${N} rows` });
      expect(await one({ type: "row_count", min: N + 1 })).toMatchObject({ passed: false, observed: `${N} rows < ${N + 1}` });
      expect(await one({ type: "row_count", max: 10 })).toMatchObject({ passed: false, observed: `${N} rows > 10` });
    });

    it("allowed_values counts the non-null values outside the set and shows a few", async () => {
      expect(await one({ type: "allowed_values", column: "cat", values: CATS })).toMatchObject({ passed: true, observed: "0 values outside the set" });
      const outside = rows.filter((r) => r.cat !== null && r.cat !== "alpha" && r.cat !== "beta");
      const r = await one({ type: "allowed_values", column: "cat", values: ["alpha", "beta"] });
      expect(r.passed).toBe(false);
      expect(r.observed).toMatch(new RegExp(`^${outside.length} values outside the set, e\\.g\\. "\\w+" ×\\d+`));
      // Numbers compare numerically: 7 matches the BIGINT 7 and "7.0" too.
      expect(await one({ type: "allowed_values", column: "k", values: [7] })).toMatchObject({ passed: true });
      expect(await one({ type: "allowed_values", column: "k", values: ["7.0"] })).toMatchObject({ passed: true });
      expect(await one({ type: "allowed_values", column: "k", values: [1, 2] })).toMatchObject({ passed: false, observed: `${N} values outside the set, e.g. "7" ×${N}` });
      expect(await one({ type: "allowed_values", column: "flag", values: [true, false] })).toMatchObject({ passed: true });
      const trues = rows.filter((r) => r.flag === true).length;
      expect(await one({ type: "allowed_values", column: "flag", values: [false] })).toMatchObject({ passed: false, observed: `${trues} values outside the set, e.g. "true" ×${trues}` });
      expect(await one({ type: "allowed_values", column: "nope", values: ["a"] })).toMatchObject({ passed: false, observed: "column missing" });
    });

    it("unique counts duplicate rows exactly over one or several columns", async () => {
      expect(await one({ type: "unique", columns: ["id"] })).toMatchObject({ passed: true, observed: "no duplicates" });
      expect(await one({ type: "unique", columns: ["id", "cat"] })).toMatchObject({ passed: true });
      const keys = new Set(rows.map((r) => `${r.cat}|${r.flag}`));
      const r = await one({ type: "unique", columns: ["cat", "flag"] });
      expect(r.passed).toBe(false);
      expect(r.observed).toMatch(new RegExp(`^${N - keys.size} duplicate rows, e\\.g\\. \\(".+", ".+"\\) ×\\d+$`));
      expect(await one({ type: "unique", columns: ["id", "gone"] })).toMatchObject({ passed: false, observed: "column missing" });
    });

    it("runs only the expectations whose file glob matches, in order", async () => {
      const es: Expectation[] = [
        { type: "row_count", min: 1 },
        { type: "row_count", min: 1, file: "data/*.csv" },
        { type: "row_count", min: 1, file: "other/**" },
        { type: "unique", columns: ["id"], file: "**/train.csv" },
        { type: "not_null", column: "id", file: "data/t?ain.csv" },
      ];
      const res = await run(es);
      expect(res.map((r) => r.expectation)).toEqual([es[0], es[1], es[3], es[4]]);
      expect(res.every((r) => r.passed && r.file === label)).toBe(true);
      expect(await run(es, "other/deep/x.csv")).toHaveLength(2);
      expect(await run([])).toEqual([]);
    });
  });

  it("formatOf picks the format from the extension, case-insensitively", () => {
    expect(formatOf("a/b.csv")).toBe("csv");
    expect(formatOf("A.CSV")).toBe("csv");
    expect(formatOf("x.parquet")).toBe("parquet");
    expect(formatOf("x.PQ")).toBe("parquet");
    expect(formatOf("x.jsonl")).toBe("jsonl");
    expect(formatOf("x.ndjson")).toBe("jsonl");
    expect(formatOf("x.json")).toBeUndefined();
    expect(formatOf("csv")).toBeUndefined();
    expect(formatOf("x.csv.gz")).toBeUndefined();
  });

  it("matchesGlob: a `**/` leaves only after a slash, and no glob backtracks", () => {
    expect(matchesGlob("ax.csv", "**/x.csv")).toBe(false);
    expect(matchesGlob("a/bx.csv", "**/x.csv")).toBe(false);
    expect(matchesGlob("a/b/x.csv", "**/x.csv")).toBe(true);
    expect(matchesGlob("x.csv", "**/x.csv")).toBe(true);
    expect(matchesGlob("a/b/c.csv", "a/**/c.csv")).toBe(true);
    expect(matchesGlob("a/c.csv", "a/**/c.csv")).toBe(true);
    expect(matchesGlob("a/bc.csv", "a/**/c.csv")).toBe(false);
    // Patterns that take exponential time in a backtracking regex engine (a hang fails on the test timeout).
    expect(matchesGlob(`${"a".repeat(4000)}.csv`, `${"*a".repeat(200)}*b.csv`)).toBe(false);
    expect(matchesGlob(`${"a/".repeat(1000)}x`, `${"**/a/".repeat(100)}**/b`)).toBe(false);
  });

  it("matchesGlob: * within a segment, ** across segments, ? one character", () => {
    expect(matchesGlob("a.csv", "*.csv")).toBe(true);
    expect(matchesGlob("d/a.csv", "*.csv")).toBe(false);
    expect(matchesGlob("d/a.csv", "**/*.csv")).toBe(true);
    expect(matchesGlob("a.csv", "**/*.csv")).toBe(true);
    expect(matchesGlob("d/e/f/a.csv", "d/**/a.csv")).toBe(true);
    expect(matchesGlob("d/a.csv", "d/**/a.csv")).toBe(true);
    expect(matchesGlob("d/e/a.csv", "d/**")).toBe(true);
    expect(matchesGlob("x/d/a.csv", "d/**")).toBe(false);
    expect(matchesGlob("data/a1.csv", "data/a?.csv")).toBe(true);
    expect(matchesGlob("data/a12.csv", "data/a?.csv")).toBe(false);
    expect(matchesGlob("data/a/.csv", "data/a?.csv")).toBe(false);
    expect(matchesGlob("a+b(1).csv", "a+b(1).csv")).toBe(true);
    expect(matchesGlob("aXcsv", "a.csv")).toBe(false);
  });

  it("produces values the contract schema accepts", async () => {
    const p = await engine.profile(blob("jsonl"), "jsonl", "a.jsonl");
    for (const c of p.columns) expect(() => ColumnProfile.parse(c)).not.toThrow();
  });
});
