import { describe, expect, it } from "vitest";
import { accuracy, calibration, classificationMetrics, confusion, f1, logLoss, mae, precision, r2, recall, regressionMetrics, rmse, rocAuc } from "./metrics.js";

// Expected values computed with numpy/scipy (scipy.stats.rankdata for the Mann–Whitney AUC, np.clip(p, 1e-15, 1 - 1e-15) for the log loss).
const y = [1, 0, 1, 1, 0, 0, 1, 0, 1, 0];
const p = [0.9, 0.1, 0.8, 0.4, 0.4, 0.35, 0.4, 0.05, 1.0, 0.0];
const predicted = p.map((v) => (v >= 0.5 ? 1 : 0));

describe("classification metrics", () => {
  it("match numpy on a window with tied scores and probabilities of exactly 0 and 1", () => {
    const c = confusion(y, predicted);
    expect(c).toEqual({ tp: 3, fp: 0, tn: 5, fn: 2 });
    expect(accuracy(y, predicted)).toBe(0.8);
    expect(precision(c)).toBe(1);
    expect(recall(c)).toBe(0.6);
    expect(f1(c)).toBe(0.75);
    // Three rows tie at 0.4 (two positives, one negative): ties count one half.
    expect(rocAuc(y, p)).toBeCloseTo(0.96, 14);
    expect(logLoss(y, p)).toBeCloseTo(0.325934788062417, 14);
  });

  it("bins probabilities into 10 equal-width bins (1.0 in the last)", () => {
    const bins = calibration(y, p)!;
    expect(bins).toHaveLength(10);
    expect(bins.map((b) => b.count)).toEqual([2, 1, 0, 1, 3, 0, 0, 0, 1, 2]);
    expect(bins[0]).toEqual({ lower: 0, upper: 0.1, count: 2, meanPredicted: 0.025, observedRate: 0 });
    expect(bins[2]).toEqual({ lower: 0.2, upper: 0.3, count: 0, meanPredicted: null, observedRate: null });
    expect(bins[4]!.meanPredicted).toBeCloseTo(0.4000000000000001, 14);
    expect(bins[4]!.observedRate).toBeCloseTo(2 / 3, 14);
    expect(bins[9]).toMatchObject({ count: 2, meanPredicted: 0.95, observedRate: 1 });
    expect(calibration([], [])).toBeNull();
  });

  it("ROC-AUC is the Mann–Whitney statistic: perfect, inverted, all tied, and undefined with one class", () => {
    expect(rocAuc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4])).toBe(1);
    expect(rocAuc([1, 1, 0, 0], [0.1, 0.2, 0.3, 0.4])).toBe(0);
    expect(rocAuc([1, 0, 1, 0], [0.5, 0.5, 0.5, 0.5])).toBe(0.5);
    // By hand: positives {0.8, 0.3}, negatives {0.3, 0.1}: pairs (0.8>0.3)=1, (0.8>0.1)=1, (0.3=0.3)=½, (0.3>0.1)=1 → 3.5/4.
    expect(rocAuc([1, 1, 0, 0], [0.8, 0.3, 0.3, 0.1])).toBe(0.875);
    expect(rocAuc([1, 1], [0.2, 0.9])).toBeNull();
    expect(rocAuc([], [])).toBeNull();
  });

  it("log loss clips probabilities to [1e-15, 1 − 1e-15]", () => {
    expect(logLoss([1], [0])).toBeCloseTo(-Math.log(1e-15), 10);
    expect(logLoss([0], [1])).toBeCloseTo(-Math.log(1 - (1 - 1e-15)), 6);
    expect(logLoss([1, 0], [1, 0])).toBeCloseTo(-Math.log(1 - 1e-15), 20);
    expect(logLoss([], [])).toBeNull();
  });

  it("is null where undefined, never NaN", () => {
    const none = classificationMetrics({ actual: [], predictedClass: [], y: [], predicted: [], scored: { y: [], p: [] } });
    expect(none).toEqual({ accuracy: null, precision: null, recall: null, f1: null, rocAuc: null, logLoss: null, calibration: null });
    // No positive predictions: precision undefined; no positives at all: recall undefined, and F1 too.
    const c = confusion([0, 0], [0, 0]);
    expect([precision(c), recall(c), f1(c)]).toEqual([null, null, null]);
    // Positives all missed: precision undefined, recall and F1 zero.
    const missed = confusion([1, 1, 0], [0, 0, 0]);
    expect([precision(missed), recall(missed), f1(missed)]).toEqual([null, 0, 0]);
  });

  it("accuracy compares classes of any kind (a label output of a multi-class model)", () => {
    expect(accuracy(["cat", "dog", "bird", "dog"], ["cat", "dog", "dog", "bird"])).toBe(0.5);
    const m = classificationMetrics({ actual: ["cat", "dog", "bird"], predictedClass: ["cat", "cat", "bird"], y: [1, 0, 0], predicted: [1, 1, 0], scored: { y: [], p: [] } });
    expect(m).toMatchObject({ precision: 0.5, recall: 1, rocAuc: null, logLoss: null, calibration: null });
    expect(m.accuracy).toBeCloseTo(2 / 3, 15);
    expect(m.f1).toBeCloseTo(2 / 3, 15);
  });
});

describe("regression metrics", () => {
  const yt = [3.0, -0.5, 2.0, 7.0, 4.25];
  const yp = [2.5, 0.0, 2.0, 8.0, 4.0];
  it("match numpy", () => {
    expect(mae(yt, yp)).toBeCloseTo(0.45, 15);
    expect(rmse(yt, yp)).toBeCloseTo(0.5590169943749475, 15);
    expect(r2(yt, yp)).toBeCloseTo(0.9491042345276873, 14);
    expect(regressionMetrics([1, 2], [1, 2])).toEqual({ mae: 0, rmse: 0, r2: 1 });
  });
  it("is null where undefined: no rows, one row, constant truth", () => {
    expect(regressionMetrics([], [])).toEqual({ mae: null, rmse: null, r2: null });
    expect(regressionMetrics([2], [3])).toEqual({ mae: 1, rmse: 1, r2: null });
    expect(r2([5, 5, 5], [5, 5, 4])).toBeNull();
  });
});
