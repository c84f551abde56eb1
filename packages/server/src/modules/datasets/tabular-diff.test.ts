import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { TabularDiff, type ColumnProfile, type FileProfile } from "@cairn/contract";
import { diffProfiles } from "./tabular-diff.js";
import { TabularEngine } from "./tabular.js";

const num = (name: string, over: Partial<ColumnProfile> = {}): ColumnProfile => ({
  name,
  type: "BIGINT",
  kind: "numeric",
  count: 10,
  missing: 0,
  distinct: 10,
  min: 1,
  max: 10,
  mean: 5.5,
  std: 3.03,
  ...over,
});
const cat = (name: string, over: Partial<ColumnProfile> = {}): ColumnProfile => ({
  name,
  type: "VARCHAR",
  kind: "categorical",
  count: 10,
  missing: 0,
  distinct: 3,
  min: "a",
  max: "c",
  topK: { values: [{ value: "a", count: 5 }], other: 5 },
  ...over,
});
const profile = (rows: number, columns: ColumnProfile[]): FileProfile => ({ format: "csv", rows, columns, engine: "duckdb v1.5.6" });

describe("diffProfiles", () => {
  it("reports nothing but the row counts for identical profiles", () => {
    const p = profile(10, [num("a"), cat("b")]);
    expect(diffProfiles("x.csv", p, p)).toEqual({
      path: "x.csv",
      schema: { added: [], removed: [], typeChanged: [] },
      rows: { from: 10, to: 10, delta: 0 },
      columns: [],
    });
  });

  it("lists added, removed and retyped columns, and only the statistics that moved", () => {
    const from = profile(10, [num("id"), num("score"), cat("gone"), cat("label")]);
    const to = profile(12, [
      num("id", { count: 12, distinct: 12, max: 12, mean: 6.5, std: 3.61 }),
      num("score", { type: "DOUBLE" }),
      cat("label", { missing: 2, count: 10, topK: { values: [{ value: "z", count: 9 }], other: 1 } }),
      cat("fresh"),
    ]);
    const d = TabularDiff.parse(diffProfiles("data/t.csv", from, to));
    expect(d.schema).toEqual({
      added: [{ name: "fresh", type: "VARCHAR" }],
      removed: [{ name: "gone", type: "VARCHAR" }],
      typeChanged: [{ name: "score", from: "BIGINT", to: "DOUBLE" }],
    });
    expect(d.rows).toEqual({ from: 10, to: 12, delta: 2 });
    // score only changed type and label only its top values: neither has a statistic shift.
    expect(d.columns).toEqual([
      {
        name: "id",
        shifts: { count: { from: 10, to: 12 }, distinct: { from: 10, to: 12 }, max: { from: 10, to: 12 }, mean: { from: 5.5, to: 6.5 }, std: { from: 3.03, to: 3.61 } },
      },
      { name: "label", shifts: { missing: { from: 0, to: 2 } } },
    ]);
  });

  it("treats an absent statistic as null, and a shrinking file as a negative delta", () => {
    const from = profile(5, [num("v", { kind: "numeric", mean: 2, std: undefined })]);
    const to = profile(1, [num("v", { mean: null, std: null, min: null, max: null, count: 0, missing: 1, distinct: 0 })]);
    const d = diffProfiles("v.parquet", from, to);
    expect(d.rows.delta).toBe(-4);
    expect(d.columns).toEqual([
      {
        name: "v",
        shifts: {
          count: { from: 10, to: 0 },
          missing: { from: 0, to: 1 },
          distinct: { from: 10, to: 0 },
          min: { from: 1, to: null },
          max: { from: 10, to: null },
          mean: { from: 2, to: null },
        },
      },
    ]);
  });

  it("diffs two real profiles of CSV versions", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-tdiff-"));
    const engine = new TabularEngine({ threads: 1 });
    try {
      fs.writeFileSync(path.join(dir, "v1"), "id,city,old\n1,Oslo,x\n2,Rome,y\n3,Oslo,z\n");
      fs.writeFileSync(path.join(dir, "v2"), "id,city,score\n1,Oslo,0.5\n2,Rome,0.7\n3,Oslo,0.1\n4,Lima,0.9\n");
      const [a, b] = await Promise.all([engine.profile(path.join(dir, "v1"), "csv", "c.csv"), engine.profile(path.join(dir, "v2"), "csv", "c.csv")]);
      const d = diffProfiles("c.csv", a, b);
      expect(d.schema).toEqual({ added: [{ name: "score", type: "DOUBLE" }], removed: [{ name: "old", type: "VARCHAR" }], typeChanged: [] });
      expect(d.rows).toEqual({ from: 3, to: 4, delta: 1 });
      expect(d.columns.find((c) => c.name === "id")!.shifts).toMatchObject({ count: { from: 3, to: 4 }, max: { from: 3, to: 4 }, mean: { from: 2, to: 2.5 } });
      expect(d.columns.find((c) => c.name === "city")!.shifts).toEqual({ count: { from: 3, to: 4 }, distinct: { from: 2, to: 3 }, min: { from: "Oslo", to: "Lima" } });
    } finally {
      await engine.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
