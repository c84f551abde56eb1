import { describe, expect, it } from "vitest";
import { mulberry32 as rng } from "../../../test/seeded.js";
import { estimatePerformance, expectedRocAuc, fitIsotonic } from "./cbpe.js";
import { rocAuc } from "./metrics.js";


describe("estimatePerformance", () => {
  it("adds each prediction's expected share of the confusion matrix", () => {
    // Scores 0.9, 0.6 (positive), 0.2 (negative): TP 1.5, FP 0.5, FN 0.2, TN 0.8.
    const e = estimatePerformance([0.9, 0.6, 0.2]);
    expect(e.expected.tp).toBeCloseTo(1.5, 12);
    expect(e.expected.fp).toBeCloseTo(0.5, 12);
    expect(e.expected.fn).toBeCloseTo(0.2, 12);
    expect(e.expected.tn).toBeCloseTo(0.8, 12);
    expect(e.accuracy).toBeCloseTo(2.3 / 3, 12);
    expect(e.precision).toBeCloseTo(0.75, 12);
    expect(e.recall).toBeCloseTo(1.5 / 1.7, 12);
    expect(e.f1).toBeCloseTo(3 / 3.7, 12);
  });

  it("is null where a metric is undefined and counts only finite scores", () => {
    expect(estimatePerformance([])).toMatchObject({ n: 0, accuracy: null, precision: null, recall: null, f1: null });
    expect(estimatePerformance([0.1, Number.NaN]).n).toBe(1);
    expect(estimatePerformance([0.1]).precision).toBeNull();
  });

  it("matches the realized accuracy of calibrated scores within sampling error", () => {
    const r = rng(7);
    const scores: number[] = [];
    let correct = 0;
    const n = 50_000;
    for (let i = 0; i < n; i++) {
      const p = r();
      const y = r() < p ? 1 : 0;
      scores.push(p);
      if ((p >= 0.5 ? 1 : 0) === y) correct += 1;
    }
    // Standard error of an accuracy near 0.75 over 50,000 rows is about 0.002.
    expect(Math.abs(estimatePerformance(scores).accuracy! - correct / n)).toBeLessThan(0.01);
  });
});

describe("fitIsotonic", () => {
  it("pools adjacent violators into a non-decreasing step map", () => {
    const cal = fitIsotonic([0.1, 0.2, 0.3, 0.4], [0, 1, 0, 1]);
    expect([cal(0.1), cal(0.2), cal(0.3), cal(0.4)]).toEqual([0, 0.5, 0.5, 1]);
    expect(cal(-1)).toBe(0);
    expect(cal(2)).toBe(1);
    expect(cal(0.25)).toBe(0.5);
  });

  it("pools ties first and corrects overconfident scores", () => {
    const r = rng(11);
    const scores: number[] = [];
    const labels: number[] = [];
    // A model that says p but is right only with probability 0.5 + (p − 0.5) / 2.
    for (let i = 0; i < 20_000; i++) {
      const p = r();
      scores.push(p);
      labels.push(r() < 0.5 + (p - 0.5) / 2 ? 1 : 0);
    }
    const cal = fitIsotonic(scores, labels);
    expect(cal(0.9)).toBeGreaterThan(0.6);
    expect(cal(0.9)).toBeLessThan(0.8);
    expect(cal(0.1)).toBeGreaterThan(0.2);
    expect(cal(0.1)).toBeLessThan(0.4);
    expect(fitIsotonic([1, 1, 1], [1, 0, 0])(1)).toBeCloseTo(1 / 3, 12);
    expect(() => fitIsotonic([], [])).toThrow(RangeError);
  });
});

describe("expectedRocAuc", () => {
  it("weighs every pair by p_i (1 − p_j), ties one half", () => {
    // Calibrated p 0, 0.5, 0.5, 1 at scores 0.125, 0.5, 0.6875, 0.875: Σp = Σ(1 − p) = 2 and
    // the pairs add 0 + (0.5·1 + 0.5·0.5·0.5) + (0.5·1.5 + 0.125) + 1·2 = 3.5, so 3.5 / 4.
    expect(expectedRocAuc([0.125, 0.5, 0.6875, 0.875], [0, 0.5, 0.5, 1])).toBeCloseTo(0.875, 12);
    expect(expectedRocAuc([0.1, 0.2], [0, 0])).toBeNull();
    expect(estimatePerformance([0.125, 0.5, 0.6875, 0.875], { calibrate: fitIsotonic([0.25, 0.375, 0.625, 0.75], [0, 1, 0, 1]) }).rocAuc).toBeCloseTo(0.875, 12);
  });

  it("matches the realized AUC of calibrated scores within sampling error", () => {
    const r = rng(13);
    const n = 20_000;
    const scores = new Float64Array(n);
    const ys = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      scores[i] = r();
      ys[i] = r() < scores[i]! ? 1 : 0;
    }
    // Both near 5/6; the realized AUC's standard error at 20,000 rows is about 0.003.
    const est = expectedRocAuc(scores, scores)!;
    expect(Math.abs(est - 5 / 6)).toBeLessThan(0.005);
    expect(Math.abs(est - rocAuc(ys, scores)!)).toBeLessThan(0.015);
  });
});
