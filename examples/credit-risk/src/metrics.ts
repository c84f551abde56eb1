/**
 * Classification metrics (confusion matrix, precision, recall, F1, ROC-AUC, log loss) and
 * stratified k-fold splits for cross-validation.
 */
import { Rng } from "./rng.js";

/** A binary confusion matrix at a threshold. */
export interface Confusion {
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}

/** The metrics of one evaluation. */
export interface ClassificationMetrics {
  n: number;
  positives: number;
  threshold: number;
  accuracy: number;
  precision: number;
  recall: number;
  f1: number;
  rocAuc: number;
  logLoss: number;
  /** `[[tn, fp], [fn, tp]]`: rows are the true class, columns the predicted class. */
  confusionMatrix: [[number, number], [number, number]];
}

/**
 * Counts the confusion matrix: a row is predicted positive when its score is ≥ the threshold.
 * @throws Error when the lengths differ
 */
export function confusion(labels: ArrayLike<number>, scores: ArrayLike<number>, threshold: number): Confusion {
  if (labels.length !== scores.length) throw new Error(`${labels.length} labels but ${scores.length} scores`);
  const c: Confusion = { tp: 0, fp: 0, tn: 0, fn: 0 };
  for (let i = 0; i < labels.length; i++) {
    const pred = (scores[i] ?? 0) >= threshold;
    if (labels[i] === 1) pred ? c.tp++ : c.fn++;
    else pred ? c.fp++ : c.tn++;
  }
  return c;
}

/**
 * ROC-AUC as the Mann-Whitney statistic: the probability that a random positive scores above a
 * random negative, ties counting one half (average ranks).
 * @throws Error when the lengths differ or one class is absent (the AUC is undefined)
 */
export function rocAuc(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  if (labels.length !== scores.length) throw new Error(`${labels.length} labels but ${scores.length} scores`);
  const order = Array.from({ length: labels.length }, (_, i) => i).sort((a, b) => (scores[a] ?? 0) - (scores[b] ?? 0));
  let pos = 0;
  let rankSum = 0;
  let i = 0;
  while (i < order.length) {
    let j = i;
    while (j + 1 < order.length && scores[order[j + 1] ?? 0] === scores[order[i] ?? 0]) j++;
    const avgRank = (i + j) / 2 + 1; // ranks are 1-based
    for (let k = i; k <= j; k++) {
      if (labels[order[k] ?? 0] === 1) {
        pos++;
        rankSum += avgRank;
      }
    }
    i = j + 1;
  }
  const neg = labels.length - pos;
  if (pos === 0 || neg === 0) throw new Error("ROC-AUC needs both classes");
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

/**
 * All metrics of scores against labels at a threshold. Precision (or recall) is 0 when nothing is
 * predicted (or present) positive.
 * @throws Error as `rocAuc` does
 */
export function evaluate(labels: ArrayLike<number>, scores: ArrayLike<number>, threshold = 0.5): ClassificationMetrics {
  const c = confusion(labels, scores, threshold);
  const precision = c.tp + c.fp > 0 ? c.tp / (c.tp + c.fp) : 0;
  const recall = c.tp + c.fn > 0 ? c.tp / (c.tp + c.fn) : 0;
  const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  const eps = 1e-15;
  let logLoss = 0;
  for (let i = 0; i < labels.length; i++) {
    const p = Math.min(1 - eps, Math.max(eps, scores[i] ?? 0));
    logLoss -= labels[i] === 1 ? Math.log(p) : Math.log(1 - p);
  }
  return {
    n: labels.length,
    positives: c.tp + c.fn,
    threshold,
    accuracy: (c.tp + c.tn) / labels.length,
    precision,
    recall,
    f1,
    rocAuc: rocAuc(labels, scores),
    logLoss: logLoss / labels.length,
    confusionMatrix: [
      [c.tn, c.fp],
      [c.fn, c.tp],
    ],
  };
}

/**
 * Stratified k-fold: each class's indices are shuffled with the seed and dealt round-robin into
 * `k` folds, so every fold has (within one row) the same class balance. Returns, per fold, the
 * validation indices (sorted); the folds partition `0..n-1`.
 * @throws Error when k < 2 or a class has fewer than k rows
 */
export function stratifiedKFold(labels: ArrayLike<number>, k: number, seed: number): number[][] {
  if (!Number.isInteger(k) || k < 2) throw new Error(`folds must be a whole number >= 2, got ${k}`);
  const rng = new Rng(seed);
  const folds: number[][] = Array.from({ length: k }, () => []);
  const classes = [...new Set(Array.from(labels))].sort((a, b) => a - b);
  let next = 0;
  for (const cls of classes) {
    const idx: number[] = [];
    for (let i = 0; i < labels.length; i++) if (labels[i] === cls) idx.push(i);
    if (idx.length < k) throw new Error(`class ${cls} has ${idx.length} rows, fewer than ${k} folds`);
    rng.shuffle(idx);
    // Continuing the round-robin across classes keeps fold sizes within one of each other.
    for (const i of idx) {
      folds[next % k]?.push(i);
      next++;
    }
  }
  return folds.map((f) => f.sort((a, b) => a - b));
}

/** The indices of `0..n-1` not in `fold` (the training part of a split), sorted. */
export function complement(n: number, fold: readonly number[]): number[] {
  const inFold = new Uint8Array(n);
  for (const i of fold) inFold[i] = 1;
  const out: number[] = [];
  for (let i = 0; i < n; i++) if (!inFold[i]) out.push(i);
  return out;
}

/** Mean and (sample) standard deviation of a list. */
export function meanStd(values: readonly number[]): { mean: number; std: number } {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.length > 1 ? values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1) : 0;
  return { mean, std: Math.sqrt(variance) };
}
