import { describe, expect, it } from "vitest";
import { formatCsv, parseCsv } from "./csv.js";
import { datasetFromCsv, datasetCells, encodeRows, featureHeader, fitPreprocessing, rowsOf, stratifiedHoldout } from "./features.js";
import { generateCreditData, toCells } from "./generate-data.js";
import { fitLogisticRegression, predictProba } from "./logistic-regression.js";
import { rocAuc } from "./metrics.js";
import { buildOnnxModel, compareOutputs, runOnnx } from "./onnx-export.js";
import { CATEGORICAL_COLUMNS, NUMERIC_COLUMNS, RAW_HEADER } from "./schema.js";
import { validateCreditTable } from "./validate-data.js";

const bounds = { minPositiveRate: 0.02, maxPositiveRate: 0.5 };
const table = () => parseCsv(formatCsv(RAW_HEADER, toCells(generateCreditData({ rows: 3000, seed: 5 }))));

describe("generateCreditData", () => {
  it("is reproducible from the seed and hits the requested default rate", () => {
    const a = generateCreditData({ rows: 5000, seed: 1, defaultRate: 0.12 });
    expect(generateCreditData({ rows: 5000, seed: 1, defaultRate: 0.12 })).toEqual(a);
    expect(generateCreditData({ rows: 5000, seed: 2, defaultRate: 0.12 })).not.toEqual(a);
    const rate = a.reduce((s, r) => s + r.default, 0) / a.length;
    expect(Math.abs(rate - 0.12)).toBeLessThan(0.02);
  });

  it("refuses a bad row count or rate", () => {
    expect(() => generateCreditData({ rows: 0, seed: 1 })).toThrow(/rows/);
    expect(() => generateCreditData({ rows: 10, seed: 1, defaultRate: 1 })).toThrow(/default rate/);
  });
});

describe("generateCreditData with drift", () => {
  const mean = (rows: { [k: string]: unknown }[], k: string) => rows.reduce((s, r) => s + Number(r[k]), 0) / rows.length;
  const share = (rows: { [k: string]: unknown }[], k: string, v: unknown) => rows.filter((r) => r[k] === v).length / rows.length;

  it("drift 0 is the undrifted data exactly; drift outside [0, 1] is refused", () => {
    expect(generateCreditData({ rows: 2000, seed: 3, drift: 0 })).toEqual(generateCreditData({ rows: 2000, seed: 3 }));
    expect(() => generateCreditData({ rows: 10, seed: 1, drift: 1.5 })).toThrow(/drift/);
    expect(() => generateCreditData({ rows: 10, seed: 1, drift: -0.1 })).toThrow(/drift/);
  });

  it("shifts the borrowers (covariate shift) and what makes them default (concept shift)", () => {
    const before = generateCreditData({ rows: 20_000, seed: 8 });
    const after = generateCreditData({ rows: 20_000, seed: 9, drift: 1, defaultRate: 0.2 });
    expect(mean(before, "age") - mean(after, "age")).toBeGreaterThan(5);
    expect(mean(after, "income") / mean(before, "income")).toBeLessThan(0.85);
    expect(mean(before, "credit_score") - mean(after, "credit_score")).toBeGreaterThan(25);
    expect(share(after, "term", 60) - share(before, "term", 60)).toBeGreaterThan(0.1);
    expect(share(after, "purpose", "small_business")).toBeGreaterThan(2 * share(before, "purpose", "small_business"));
    // A model fitted before the shift ranks the shifted borrowers much worse than one fitted after it.
    const auc = (train: typeof before, test: typeof before) => {
      const rows = (d: typeof before) => rowsOf(parseCsv(formatCsv(RAW_HEADER, toCells(d))));
      const spec = fitPreprocessing(rows(train));
      const model = fitLogisticRegression(encodeRows(spec, rows(train), true), { l2: 0.001, maxIter: 50, classWeight: "balanced" });
      const t = encodeRows(spec, rows(test), true);
      return rocAuc(t.y, predictProba(model, t));
    };
    const test = generateCreditData({ rows: 5000, seed: 10, drift: 1, defaultRate: 0.2 });
    const old = auc(before, test);
    const fresh = auc(after, test);
    expect(old).toBeLessThan(0.72);
    expect(fresh - old).toBeGreaterThan(0.08);
  });
});

describe("parseCsv", () => {
  it("round-trips quoted cells", () => {
    const text = formatCsv(["a", "b"], [["x,y", 'say "hi"'], ["line\nbreak", 1.5]]);
    expect(parseCsv(text)).toEqual({ header: ["a", "b"], rows: [["x,y", 'say "hi"'], ["line\nbreak", "1.5"]] });
  });

  it("refuses ragged rows", () => {
    expect(() => parseCsv("a,b\n1\n")).toThrow(/row 1 has 1 cells/);
  });
});

describe("validateCreditTable", () => {
  it("accepts generated data and summarises it", () => {
    const report = validateCreditTable(table(), bounds);
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.rows).toBe(3000);
    expect(report.positiveRate).toBeGreaterThan(0.1);
  });

  it("lists every kind of problem", () => {
    const t = table();
    const col = (name: string) => t.header.indexOf(name);
    t.rows[0]![col("income")] = "";
    t.rows[1]![col("credit_score")] = "900";
    t.rows[2]![col("age")] = "forty";
    t.rows[3]![col("purpose")] = "yacht";
    t.rows[4]![col("default")] = "2";
    t.rows[5]![col("num_late_payments")] = "1.5";
    const report = validateCreditTable(t, bounds);
    expect(report.ok).toBe(false);
    const text = report.problems.join("\n");
    expect(text).toMatch(/line 2: required column income is empty/);
    expect(text).toMatch(/line 3: credit_score = 900 is outside \[300, 850\]/);
    expect(text).toMatch(/line 4: age = "forty" is not a number/);
    expect(text).toMatch(/line 5: purpose = "yacht" is not one of/);
    expect(text).toMatch(/line 6: default must be 0 or 1, got "2"/);
    expect(text).toMatch(/line 7: num_late_payments = 1.5 is not a whole number/);
  });

  it("fails on missing columns and on an implausible class balance", () => {
    const t = table();
    expect(validateCreditTable({ header: t.header.filter((h) => h !== "region"), rows: [] }, bounds).problems).toEqual(["missing columns: region"]);
    const imbalanced = validateCreditTable(t, { minPositiveRate: 0.3, maxPositiveRate: 0.5 });
    expect(imbalanced.ok).toBe(false);
    expect(imbalanced.problems.join()).toMatch(/class balance: .*% of rows are defaults, outside the accepted \[30%, 50%\]/);
  });
});

describe("features", () => {
  const rows = rowsOf(table());
  const labels = rows.map((r) => (r.default === "1" ? 1 : 0));

  it("splits train and holdout stratified and disjoint", () => {
    const { train, holdout } = stratifiedHoldout(labels, 0.25, 3);
    expect(train.length + holdout.length).toBe(rows.length);
    expect(new Set([...train, ...holdout]).size).toBe(rows.length);
    const rate = (idx: number[]) => idx.filter((i) => labels[i] === 1).length / idx.length;
    expect(Math.abs(rate(train) - rate(holdout))).toBeLessThan(0.005);
  });

  it("standardizes numerics with training statistics and one-hot encodes categoricals", () => {
    const spec = fitPreprocessing(rows);
    const oneHots = CATEGORICAL_COLUMNS.reduce((a, c) => a + c.values.length, 0);
    expect(spec.featureNames).toHaveLength(NUMERIC_COLUMNS.length + oneHots);
    const ds = encodeRows(spec, rows, true);
    for (let j = 0; j < NUMERIC_COLUMNS.length; j++) {
      let mean = 0;
      let sq = 0;
      for (let i = 0; i < ds.n; i++) mean += ds.x[i * ds.d + j] ?? 0;
      mean /= ds.n;
      for (let i = 0; i < ds.n; i++) sq += ((ds.x[i * ds.d + j] ?? 0) - mean) ** 2;
      expect(mean).toBeCloseTo(0, 9);
      expect(Math.sqrt(sq / ds.n)).toBeCloseTo(1, 9);
    }
    // Each categorical column contributes exactly one 1 per row.
    for (let i = 0; i < ds.n; i++) {
      let ones = 0;
      for (let j = NUMERIC_COLUMNS.length; j < ds.d; j++) ones += ds.x[i * ds.d + j] ?? 0;
      expect(ones).toBe(CATEGORICAL_COLUMNS.length);
    }
    // Written and read back, the features are identical.
    const back = datasetFromCsv(spec, parseCsv(formatCsv(featureHeader(spec), datasetCells(ds))));
    expect(back.x).toEqual(ds.x);
    expect(back.y).toEqual(ds.y);
  });
});

describe("ONNX export", () => {
  it("reproduces the TypeScript model's probabilities with onnxruntime, and the check catches a different model", async () => {
    const rows = rowsOf(table());
    const spec = fitPreprocessing(rows);
    const model = fitLogisticRegression(encodeRows(spec, rows, true), { l2: 0.001, classWeight: "balanced" });
    const standardized = encodeRows(spec, rows, true);
    const raw = encodeRows(spec, rows, false);
    const expected = predictProba(model, standardized);
    const out = await runOnnx(buildOnnxModel(model, spec, 0.5), raw.x, raw.n, raw.d);
    const ok = compareOutputs(expected, out, 0.5, 1e-5);
    expect(ok.passed).toBe(true);
    expect(ok.maxAbsDiff).toBeLessThan(1e-5);
    expect(Array.from(out.label).filter((l) => l === 1n).length).toBe(Array.from(expected).filter((p) => p >= 0.5).length);

    const shifted = await runOnnx(buildOnnxModel({ ...model, bias: model.bias + 0.01 }, spec, 0.5), raw.x, raw.n, raw.d);
    expect(compareOutputs(expected, shifted, 0.5, 1e-5).passed).toBe(false);
  });
});
