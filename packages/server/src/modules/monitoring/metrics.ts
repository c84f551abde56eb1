/**
 * Performance metrics over labelled predictions: pure functions of plain arrays, exact (no sampling or
 * sketches), and null wherever a metric is undefined (no rows, a single class, zero variance), never NaN.
 * Binary metrics take `y` as 1 (the positive class) or 0.
 */

/** Probabilities are clipped to [EPS, 1 − EPS] for the log loss, as scikit-learn does. */
export const LOG_LOSS_EPS = 1e-15;

export interface Confusion {
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}

/** Counts of a binary prediction against the truth (1: positive). */
export function confusion(y: ArrayLike<number>, predicted: ArrayLike<number>): Confusion {
  const c = { tp: 0, fp: 0, tn: 0, fn: 0 };
  for (let i = 0; i < y.length; i++) {
    if (predicted[i] === 1) y[i] === 1 ? c.tp++ : c.fp++;
    else y[i] === 1 ? c.fn++ : c.tn++;
  }
  return c;
}

const ratio = (a: number, b: number): number | null => (b === 0 ? null : a / b);

/** The share of predictions equal to the truth (any comparable values: classes, not only 0/1). */
export function accuracy(y: ArrayLike<unknown>, predicted: ArrayLike<unknown>): number | null {
  let hit = 0;
  for (let i = 0; i < y.length; i++) if (y[i] === predicted[i]) hit++;
  return ratio(hit, y.length);
}

/** tp / (tp + fp); null when nothing was predicted positive. */
export const precision = (c: Confusion): number | null => ratio(c.tp, c.tp + c.fp);
/** tp / (tp + fn); null when nothing is positive. */
export const recall = (c: Confusion): number | null => ratio(c.tp, c.tp + c.fn);
/** 2tp / (2tp + fp + fn) (the harmonic mean of precision and recall, 0 when either is 0); null when there are neither positives nor positive predictions. */
export const f1 = (c: Confusion): number | null => ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn);

/**
 * The area under the ROC curve as the Mann–Whitney statistic: the probability that a random positive
 * scores above a random negative, ties counting one half (average ranks). Null with a single class.
 */
export function rocAuc(y: ArrayLike<number>, scores: ArrayLike<number>): number | null {
  const n = y.length;
  let pos = 0;
  for (let i = 0; i < n; i++) if (y[i] === 1) pos++;
  const neg = n - pos;
  if (pos === 0 || neg === 0) return null;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  // Sum of the positives' ranks (1-based), a tie group sharing its average rank.
  let rankSum = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    let posInGroup = 0;
    while (j < n && scores[order[j]!] === scores[order[i]!]) {
      if (y[order[j]!] === 1) posInGroup++;
      j++;
    }
    rankSum += posInGroup * ((i + 1 + j) / 2);
    i = j;
  }
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

/** Mean binary cross-entropy (natural log) of probabilities `p` of the positive class, clipped to [1e-15, 1 − 1e-15]. */
export function logLoss(y: ArrayLike<number>, p: ArrayLike<number>): number | null {
  if (y.length === 0) return null;
  let sum = 0;
  for (let i = 0; i < y.length; i++) {
    const q = Math.min(Math.max(p[i]!, LOG_LOSS_EPS), 1 - LOG_LOSS_EPS);
    sum -= y[i] === 1 ? Math.log(q) : Math.log(1 - q);
  }
  return sum / y.length;
}

export interface CalibrationBin {
  lower: number;
  upper: number;
  count: number;
  meanPredicted: number | null;
  observedRate: number | null;
}

/**
 * Reliability of probabilities: `bins` equal-width bins over [0, 1] (the last one closed, values
 * outside [0, 1] in the end bins), each with its mean predicted probability and observed positive rate.
 * Null when there are no rows.
 */
export function calibration(y: ArrayLike<number>, p: ArrayLike<number>, bins = 10): CalibrationBin[] | null {
  if (y.length === 0) return null;
  const count = new Array<number>(bins).fill(0);
  const sumP = new Array<number>(bins).fill(0);
  const sumY = new Array<number>(bins).fill(0);
  for (let i = 0; i < y.length; i++) {
    const b = Math.min(bins - 1, Math.max(0, Math.floor(p[i]! * bins)));
    count[b]!++;
    sumP[b]! += p[i]!;
    sumY[b]! += y[i] === 1 ? 1 : 0;
  }
  return count.map((c, b) => ({ lower: b / bins, upper: (b + 1) / bins, count: c, meanPredicted: ratio(sumP[b]!, c), observedRate: ratio(sumY[b]!, c) }));
}

/** Mean absolute error. */
export function mae(y: ArrayLike<number>, predicted: ArrayLike<number>): number | null {
  let sum = 0;
  for (let i = 0; i < y.length; i++) sum += Math.abs(y[i]! - predicted[i]!);
  return ratio(sum, y.length);
}

/** Root mean squared error. */
export function rmse(y: ArrayLike<number>, predicted: ArrayLike<number>): number | null {
  let sum = 0;
  for (let i = 0; i < y.length; i++) sum += (y[i]! - predicted[i]!) ** 2;
  const m = ratio(sum, y.length);
  return m === null ? null : Math.sqrt(m);
}

/**
 * Coefficient of determination 1 − SS_res / SS_tot. Null with fewer than two rows or constant truth
 * (where scikit-learn answers 1.0 for a perfect fit and 0.0 otherwise).
 */
export function r2(y: ArrayLike<number>, predicted: ArrayLike<number>): number | null {
  const n = y.length;
  if (n < 2) return null;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += y[i]!;
  mean /= n;
  let ssTot = 0;
  let ssRes = 0;
  for (let i = 0; i < n; i++) {
    ssTot += (y[i]! - mean) ** 2;
    ssRes += (y[i]! - predicted[i]!) ** 2;
  }
  return ssTot === 0 ? null : 1 - ssRes / ssTot;
}

/** What a classification window's rows are: the truth and prediction per row, and probabilities where the output had them. */
export interface ClassificationRows {
  /** The actual class and the predicted class, comparable (for accuracy). */
  actual: ArrayLike<unknown>;
  predictedClass: ArrayLike<unknown>;
  /** 1 where the actual / predicted class is the positive one. */
  y: ArrayLike<number>;
  predicted: ArrayLike<number>;
  /** The rows that had a probability: their truth (0/1) and probability of the positive class. */
  scored: { y: ArrayLike<number>; p: ArrayLike<number> };
}

export interface ClassificationMetrics {
  accuracy: number | null;
  precision: number | null;
  recall: number | null;
  f1: number | null;
  rocAuc: number | null;
  logLoss: number | null;
  calibration: CalibrationBin[] | null;
}

/** Every classification metric of a window (all null when it is empty). */
export function classificationMetrics(r: ClassificationRows, bins = 10): ClassificationMetrics {
  const c = confusion(r.y, r.predicted);
  return {
    accuracy: accuracy(r.actual, r.predictedClass),
    precision: precision(c),
    recall: recall(c),
    f1: f1(c),
    rocAuc: rocAuc(r.scored.y, r.scored.p),
    logLoss: logLoss(r.scored.y, r.scored.p),
    calibration: calibration(r.scored.y, r.scored.p, bins),
  };
}

export interface RegressionMetrics {
  mae: number | null;
  rmse: number | null;
  r2: number | null;
}

/** Every regression metric of a window (all null when it is empty). */
export function regressionMetrics(y: ArrayLike<number>, predicted: ArrayLike<number>): RegressionMetrics {
  return { mae: mae(y, predicted), rmse: rmse(y, predicted), r2: r2(y, predicted) };
}
