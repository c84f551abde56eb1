import { describe, expect, it } from "vitest";
import type { Dataset } from "./features.js";
import { choleskySolve, fitLogisticRegression, predictProba } from "./logistic-regression.js";
import { Rng } from "./rng.js";

/** n rows of d standard-normal features with labels drawn from sigmoid(bias + x·beta). */
function logisticData(n: number, beta: number[], bias: number, seed: number): Dataset {
  const rng = new Rng(seed);
  const d = beta.length;
  const x = new Float64Array(n * d);
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    let z = bias;
    for (let j = 0; j < d; j++) {
      const v = rng.normal();
      x[i * d + j] = v;
      z += v * (beta[j] ?? 0);
    }
    y[i] = rng.uniform() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
  }
  return { ids: Array.from({ length: n }, (_, i) => i), x, y, n, d };
}

/** The objective the trainer minimises, computed independently (unweighted). */
function objective(ds: Dataset, w: number[], b: number, l2: number): number {
  let loss = 0;
  for (let i = 0; i < ds.n; i++) {
    let z = b;
    for (let j = 0; j < ds.d; j++) z += (ds.x[i * ds.d + j] ?? 0) * (w[j] ?? 0);
    const p = 1 / (1 + Math.exp(-z));
    loss -= ds.y[i] === 1 ? Math.log(p) : Math.log(1 - p);
  }
  return loss / ds.n + 0.5 * l2 * w.reduce((a, v) => a + v * v, 0);
}

describe("choleskySolve", () => {
  it("solves a symmetric positive definite system", () => {
    // A = [[4, 2, 0.4], [2, 5, 1], [0.4, 1, 3]], x = [1, -2, 0.5] → b = A x
    const a = Float64Array.from([4, 2, 0.4, 2, 5, 1, 0.4, 1, 3]);
    const b = Float64Array.from([4 - 4 + 0.2, 2 - 10 + 0.5, 0.4 - 2 + 1.5]);
    const x = choleskySolve(a, b, 3);
    expect(x[0]).toBeCloseTo(1, 12);
    expect(x[1]).toBeCloseTo(-2, 12);
    expect(x[2]).toBeCloseTo(0.5, 12);
  });

  it("refuses a matrix that is not positive definite", () => {
    expect(() => choleskySolve(Float64Array.from([1, 2, 2, 1]), Float64Array.from([1, 1]), 2)).toThrow(/positive definite/);
  });
});

describe("fitLogisticRegression", () => {
  const beta = [1.5, -2, 0.5, 0];
  const bias = -0.7;
  const data = logisticData(40_000, beta, bias, 11);

  it("recovers known coefficients without a penalty", () => {
    const model = fitLogisticRegression(data, { l2: 0 });
    expect(model.converged).toBe(true);
    expect(model.iterations).toBeLessThan(15);
    // With 40k rows the maximum-likelihood estimate is within a few standard errors (~0.02) of the truth.
    model.weights.forEach((w, j) => expect(Math.abs(w - (beta[j] ?? 0))).toBeLessThan(0.08));
    expect(Math.abs(model.bias - bias)).toBeLessThan(0.08);
  });

  it("reaches the minimum of the penalized objective", () => {
    const l2 = 0.05;
    const model = fitLogisticRegression(data, { l2 });
    expect(model.gradientNorm).toBeLessThan(1e-8);
    const best = objective(data, model.weights, model.bias, l2);
    expect(best).toBeCloseTo(model.lossHistory[model.lossHistory.length - 1] ?? NaN, 10);
    // Moving any parameter either way only increases the objective.
    for (let j = 0; j <= model.weights.length; j++) {
      for (const step of [-1e-3, 1e-3]) {
        const w = [...model.weights];
        let b = model.bias;
        if (j < w.length) w[j] = (w[j] ?? 0) + step;
        else b += step;
        expect(objective(data, w, b, l2)).toBeGreaterThan(best);
      }
    }
  });

  it("shrinks the weights as the penalty grows, and the loss never increases across steps", () => {
    const norm = (w: number[]) => Math.hypot(...w);
    const small = fitLogisticRegression(data, { l2: 0.001 });
    const large = fitLogisticRegression(data, { l2: 1 });
    expect(norm(large.weights)).toBeLessThan(norm(small.weights));
    for (let i = 1; i < small.lossHistory.length; i++) expect(small.lossHistory[i]).toBeLessThanOrEqual(small.lossHistory[i - 1] ?? Infinity);
  });

  it("with balanced class weights, raises the predicted probability of the rare class", () => {
    const rare = logisticData(20_000, [1, -1], -3, 5);
    const plain = fitLogisticRegression(rare, { l2: 0.001 });
    const balanced = fitLogisticRegression(rare, { l2: 0.001, classWeight: "balanced" });
    const mean = (p: Float64Array) => p.reduce((a, v) => a + v, 0) / p.length;
    expect(mean(predictProba(balanced, rare))).toBeGreaterThan(mean(predictProba(plain, rare)) + 0.2);
  });

  it("refuses invalid input", () => {
    expect(() => fitLogisticRegression({ ...data, n: 0, ids: [], x: new Float64Array(0), y: new Uint8Array(0) }, { l2: 0 })).toThrow(/zero rows/);
    expect(() => fitLogisticRegression(data, { l2: -1 })).toThrow(/l2/);
    const oneClass = { ...data, y: new Uint8Array(data.n) };
    expect(() => fitLogisticRegression(oneClass, { l2: 0.1, classWeight: "balanced" })).toThrow(/both classes/);
    expect(() => predictProba(fitLogisticRegression(data, { l2: 0.1, maxIter: 2 }), { x: new Float64Array(2), n: 1, d: 2 })).toThrow(/weights/);
  });
});
