import { describe, expect, it } from "vitest";
import { complement, confusion, evaluate, meanStd, rocAuc, stratifiedKFold } from "./metrics.js";

describe("rocAuc", () => {
  it("matches a hand-computed case", () => {
    // Pairs (pos, neg): (0.35, 0.1) ✓, (0.35, 0.4) ✗, (0.8, 0.1) ✓, (0.8, 0.4) ✓ → 3/4
    expect(rocAuc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])).toBe(0.75);
  });

  it("counts ties as one half", () => {
    // Pairs: (0.5, 0.5) ½, (0.5, 0.2) 1, (0.9, 0.5) 1, (0.9, 0.2) 1 → 3.5/4
    expect(rocAuc([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9])).toBe(0.875);
    expect(rocAuc([0, 1, 0, 1], [0.3, 0.3, 0.3, 0.3])).toBe(0.5);
  });

  it("is 1 for a perfect ranking and 0 for a reversed one, and needs both classes", () => {
    expect(rocAuc([0, 0, 1], [0.1, 0.2, 0.9])).toBe(1);
    expect(rocAuc([1, 1, 0], [0.1, 0.2, 0.9])).toBe(0);
    expect(() => rocAuc([1, 1], [0.1, 0.2])).toThrow(/both classes/);
  });
});

describe("evaluate", () => {
  it("computes the confusion matrix, precision, recall and F1 at the threshold", () => {
    const labels = [1, 1, 1, 0, 0, 0, 0, 1];
    const scores = [0.9, 0.6, 0.2, 0.7, 0.1, 0.5, 0.3, 0.5];
    // Predicted positive (≥ 0.5): rows 0, 1, 3, 5, 7 → tp 3 (0, 1, 7), fp 2 (3, 5), fn 1 (2), tn 2 (4, 6)
    expect(confusion(labels, scores, 0.5)).toEqual({ tp: 3, fp: 2, tn: 2, fn: 1 });
    const m = evaluate(labels, scores, 0.5);
    expect(m.confusionMatrix).toEqual([
      [2, 2],
      [1, 3],
    ]);
    expect(m.precision).toBeCloseTo(3 / 5, 12);
    expect(m.recall).toBeCloseTo(3 / 4, 12);
    expect(m.f1).toBeCloseTo((2 * 0.6 * 0.75) / 1.35, 12);
    expect(m.accuracy).toBe(5 / 8);
    expect(m.positives).toBe(4);
  });

  it("reports 0 precision, recall and F1 when nothing is predicted positive", () => {
    const m = evaluate([0, 1], [0.1, 0.2], 0.5);
    expect([m.precision, m.recall, m.f1]).toEqual([0, 0, 0]);
    expect(m.rocAuc).toBe(1);
  });
});

describe("stratifiedKFold", () => {
  const labels = Array.from({ length: 1003 }, (_, i) => (i % 7 === 0 ? 1 : 0));

  it("partitions the rows into k folds of near-equal size and class balance", () => {
    const folds = stratifiedKFold(labels, 5, 3);
    expect(folds).toHaveLength(5);
    const all = folds.flat().sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: labels.length }, (_, i) => i));
    const sizes = folds.map((f) => f.length);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    const positives = folds.map((f) => f.filter((i) => labels[i] === 1).length);
    expect(Math.max(...positives) - Math.min(...positives)).toBeLessThanOrEqual(1);
  });

  it("is reproducible from the seed and differs across seeds", () => {
    expect(stratifiedKFold(labels, 4, 9)).toEqual(stratifiedKFold(labels, 4, 9));
    expect(stratifiedKFold(labels, 4, 9)).not.toEqual(stratifiedKFold(labels, 4, 10));
  });

  it("refuses fewer than 2 folds or a class smaller than k", () => {
    expect(() => stratifiedKFold(labels, 1, 1)).toThrow(/folds/);
    expect(() => stratifiedKFold([0, 0, 0, 1], 2, 1)).toThrow(/class 1 has 1 rows/);
  });

  it("complement gives the training rows of a fold", () => {
    expect(complement(6, [1, 4])).toEqual([0, 2, 3, 5]);
  });
});

describe("meanStd", () => {
  it("uses the sample standard deviation", () => {
    const s = meanStd([2, 4, 4, 4, 5, 5, 7, 9]);
    expect(s.mean).toBe(5);
    expect(s.std).toBeCloseTo(Math.sqrt(32 / 7), 12);
  });
});
