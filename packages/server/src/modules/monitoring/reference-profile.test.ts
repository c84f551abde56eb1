import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { DuckDBConnection } from "@duckdb/node-api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mulberry32 as rng } from "../../../test/seeded.js";
import { TabularEngine, type TabularFormat } from "../datasets/tabular.js";
import { driftReport, type DriftColumn } from "./drift-report.js";
import { binnedCounts, categoricalSufficient, numericOrdered, numericSummaries } from "./drift-sql.js";
import { ReferenceProfiles, type ReferenceProfile } from "./reference-profile.js";

/**
 * Reference rows: x continuous with ties, NULLs, NaN, ±Infinity and both zeros; u of ~12,000 distinct
 * values; k an integer of few values with NULLs; c text with NULLs; b two values.
 */
function referenceCsv(n: number, seed: number): string {
  const r = rng(seed);
  const lines = ["x,u,k,c,b"];
  for (let i = 0; i < n; i++) {
    const special = ["nan", "inf", "-inf", "-0.0", "0.0", "", "-7.25"][i % 97] ?? String(Math.round(r() * 2000) / 100);
    lines.push([special, (r() * 1000).toFixed(5), i % 13 === 0 ? "" : String(Math.floor(r() * 5)), i % 17 === 0 ? "" : ["red", "green", "blue", "o'neil"][Math.floor(r() ** 2 * 4)], r() < 0.3 ? "yes" : "no"].join(","));
  }
  return lines.join("\n") + "\n";
}

describe("stored reference profiles (exact drift from a profile)", () => {
  let tmp: string;
  let engine: TabularEngine;
  const csvFile = () => path.join(tmp, "ref.csv");
  const parquetFile = () => path.join(tmp, "ref.parquet");

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-profile-test-"));
    engine = new TabularEngine({ threads: 2 });
    fs.writeFileSync(csvFile(), referenceCsv(20_000, 1));
    await engine.withConnection(async (conn) => {
      // The same rows as Parquet, with more types: FLOAT, DECIMAL, HUGEINT, BOOLEAN, DATE.
      await conn.run(`COPY (SELECT *, CAST(u AS FLOAT) AS f, CAST(u AS DECIMAL(18,3)) AS d, CAST(k AS HUGEINT) * 10000000000000000000 + 1 AS h, b = 'yes' AS t, DATE '2024-01-01' + CAST(k AS INTEGER) AS day FROM read_csv('${csvFile()}')) TO '${parquetFile()}' (FORMAT parquet)`);
    });
  });
  afterAll(async () => {
    await engine?.close?.();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** The current sample, a shifted draw of the same columns. */
  const loadCurrent = async (conn: DuckDBConnection, format: TabularFormat) => {
    const file = path.join(tmp, `cur.${format}`);
    fs.writeFileSync(path.join(tmp, "cur.csv"), referenceCsv(7_000, 2).replaceAll("red", "purple"));
    if (format === "parquet") await conn.run(`COPY (SELECT *, CAST(u AS FLOAT) + 1 AS f, CAST(u AS DECIMAL(18,3)) AS d, CAST(k AS HUGEINT) * 10000000000000000000 AS h, b = 'no' AS t, DATE '2024-01-02' + CAST(k AS INTEGER) AS day FROM read_csv('${path.join(tmp, "cur.csv")}')) TO '${file}' (FORMAT parquet)`);
    await conn.run(`CREATE OR REPLACE TEMP TABLE cur AS SELECT * FROM read_${format === "csv" ? "csv" : "parquet"}('${file}')`);
  };

  const columnSets = (format: TabularFormat): DriftColumn[][] => {
    const base: DriftColumn[] = [
      { name: "x", kind: "numeric" },
      { name: "u", kind: "numeric" },
      { name: "k", kind: "numeric" },
      { name: "c", kind: "categorical" },
      { name: "b", kind: "categorical" },
    ];
    const forced: DriftColumn[] = [
      { name: "x", kind: "numeric", test: "ks" },
      { name: "x", kind: "numeric", test: "wasserstein" },
      { name: "x", kind: "numeric", test: "psi" },
      { name: "u", kind: "numeric", test: "jensenshannon" },
      // More than 10,000 values: a forced chi-square counts again in SQL.
      { name: "u", kind: "numeric", test: "chisquare" },
      { name: "k", kind: "numeric", test: "chisquare" },
      // Numbers compared as categories (a deployment's categorical input against a numeric column).
      { name: "x", kind: "categorical" },
      { name: "k", kind: "categorical" },
      { name: "b", kind: "categorical", test: "z" },
      { name: "c", kind: "categorical", test: "psi" },
    ];
    const more: DriftColumn[] =
      format === "parquet"
        ? [
            { name: "f", kind: "numeric" },
            { name: "f", kind: "categorical" },
            { name: "d", kind: "numeric", test: "wasserstein" },
            { name: "h", kind: "numeric", test: "ks" },
            { name: "h", kind: "categorical" },
            { name: "t", kind: "categorical" },
            { name: "t", kind: "numeric", test: "z" },
            { name: "day", kind: "categorical" },
          ]
        : [];
    return [base, forced, more].filter((s) => s.length > 0);
  };

  for (const format of ["csv", "parquet"] as const) {
    it(`gives the same drift report as the raw ${format} file, bit for bit`, async () => {
      const file = format === "csv" ? csvFile() : parquetFile();
      const profiles = new ReferenceProfiles(path.join(tmp, `profiles-${format}`));
      await engine.withConnection(async (conn) => {
        await loadCurrent(conn, format);
        await engine.withRelation(conn, file, format, `ref.${format}`, async (rel) => {
          const p = await profiles.open(conn, `v-${format}\n`, (write) => write(rel, `ds@v1/ref.${format}`));
          expect(p.built).toBe(true);
          expect([p.columns, p.types, p.rows, p.label]).toEqual([rel.columns, rel.types, Number((await conn.runAndReadAll(`SELECT count(*) AS n FROM ${rel.name}`)).getRowObjectsJS()[0]!.n), `ds@v1/ref.${format}`]);
          // The profile is smaller than the file: one row per distinct value of each column.
          const profileRows = Number((await conn.runAndReadAll(`SELECT count(*) AS n FROM read_parquet('${p.file}')`)).getRowObjectsJS()[0]!.n);
          expect(profileRows).toBeLessThan(p.rows * rel.columns.length);
          for (const cols of columnSets(format)) {
            const raw = await driftReport(conn, rel.name, "cur", cols);
            const fromProfile = await driftReport(conn, p.sample, "cur", cols);
            expect(fromProfile).toEqual(raw);
            expect(raw.columns.every((c) => !("noData" in c))).toBe(true);
          }
          // Both read plans (grouped and sorted), bin counts and counts per value: the same as from the rows.
          const names = format === "csv" ? ["x", "u", "k"] : ["x", "u", "k", "f", "d", "h"];
          const sr = await numericSummaries(conn, rel.name, "cur", names);
          const sp = await numericSummaries(conn, p.sample, "cur", names);
          for (const name of names) {
            const { repeats: _a, ...a } = sr.get(name)!;
            const { repeats: _b, ...b } = sp.get(name)!;
            expect(b).toEqual(a);
            const edges = [[a.min!, (a.min! + a.max!) / 2, a.max!]];
            for (const grouped of [false, true]) {
              const opts = { nRef: a.nRef, nCur: a.nCur, grouped, edges, maxValues: 50 };
              expect(await numericOrdered(conn, p.sample, "cur", name, opts)).toEqual(await numericOrdered(conn, rel.name, "cur", name, opts));
            }
            expect(await binnedCounts(conn, p.sample, "cur", name, edges[0]!)).toEqual(await binnedCounts(conn, rel.name, "cur", name, edges[0]!));
            expect(await categoricalSufficient(conn, p.sample, "cur", name, true)).toEqual(await categoricalSufficient(conn, rel.name, "cur", name, true));
          }
          // −0.0 and 0.0 stay apart as text, as in the file.
          expect((await categoricalSufficient(conn, p.sample, "cur", "x")).values).toEqual(expect.arrayContaining(["-0.0", "0.0", "nan", "inf", "-inf"]));
        });
      });
    });
  }

  it("is built once, reused afterwards, and rebuilt when it cannot be read", async () => {
    const profiles = new ReferenceProfiles(path.join(tmp, "profiles-reuse"));
    let sourced = 0;
    const cols: DriftColumn[] = [
      { name: "x", kind: "numeric" },
      { name: "c", kind: "categorical" },
    ];
    await engine.withConnection(async (conn) => {
      await loadCurrent(conn, "csv");
      const open = (c = conn) =>
        profiles.open(c, "version-1\nref.csv", (write) => {
          sourced++;
          return engine.withRelation(conn, csvFile(), "csv", "ref.csv", (rel) => write(rel, "ds@v1/ref.csv"));
        });
      const raw = await engine.withRelation(conn, csvFile(), "csv", "ref.csv", (rel) => driftReport(conn, rel.name, "cur", cols));
      const report = (p: ReferenceProfile) => driftReport(conn, p.sample, "cur", cols);
      // Concurrent first uses share one build.
      const [first, second] = await Promise.all([open(), engine.withConnection((c) => open(c))]);
      expect([first.built, second.built, sourced]).toEqual([true, true, 1]);
      const stat = fs.statSync(first.file);
      const again = await open();
      expect([again.built, sourced, again.file]).toEqual([false, 1, first.file]);
      expect(fs.statSync(first.file).mtimeMs).toBe(stat.mtimeMs);
      expect(await report(again)).toEqual(raw);
      // No temporary files are left behind.
      expect(fs.readdirSync(path.dirname(first.file))).toEqual([path.basename(first.file)]);
      // Garbage, a truncated file, and a file of another key are each rebuilt.
      for (const spoil of [() => fs.writeFileSync(first.file, "not parquet"), () => fs.truncateSync(first.file, Math.floor(stat.size / 2))]) {
        spoil();
        const rebuilt = await open();
        expect(rebuilt.built).toBe(true);
        expect(await report(rebuilt)).toEqual(raw);
      }
      const built = sourced;
      const other = new ReferenceProfiles(path.join(tmp, "profiles-reuse"));
      fs.copyFileSync(first.file, other.fileOf("version-2\nref.csv"));
      const moved = await other.open(conn, "version-2\nref.csv", (write) => {
        sourced++;
        return engine.withRelation(conn, csvFile(), "csv", "ref.csv", (rel) => write(rel, "ds@v2/ref.csv"));
      });
      expect([moved.built, sourced, moved.label]).toEqual([true, built + 1, "ds@v2/ref.csv"]);
      // A source that fails leaves no profile.
      await expect(other.open(conn, "version-3\nref.csv", async () => Promise.reject(new Error("no such file")))).rejects.toThrow("no such file");
      expect(fs.existsSync(other.fileOf("version-3\nref.csv"))).toBe(false);
    });
  });
});
