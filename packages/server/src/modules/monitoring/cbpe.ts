/**
 * Label-free performance estimation for binary classifiers, in the manner of NannyML's CBPE
 * (confidence-based performance estimation): with calibrated scores, each prediction contributes its
 * expected share of the confusion matrix, so accuracy, precision, recall and F1 can be estimated for
 * a window before its labels arrive, and shown beside the realized ones once they do.
 */

/** A monotone map from a raw score to a calibrated probability. */
export interface Calibrator {
  (score: number): number;
}

/**
 * Fits isotonic regression (pool adjacent violators) of labels on scores: the calibration CBPE
 * applies to a reference window with labels. Ties in score are pooled first. Scores outside the
 * fitted range map to the nearest end; between them, a block's value holds up to the next block's first score.
 * @throws RangeError when the lengths differ or there is no data
 */
export function fitIsotonic(scores: ArrayLike<number>, labels: ArrayLike<number>): Calibrator {
  if (scores.length !== labels.length) throw new RangeError(`scores (${scores.length}) and labels (${labels.length}) differ in length`);
  if (scores.length === 0) throw new RangeError("no data to calibrate on");
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  // Blocks: mean label, weight, and the score each block starts at.
  const xs: number[] = [];
  const ys: number[] = [];
  const ws: number[] = [];
  for (let k = 0; k < order.length; ) {
    const x = scores[order[k]!]!;
    let sum = 0;
    let n = 0;
    while (k < order.length && scores[order[k]!] === x) {
      sum += labels[order[k]!]!;
      n += 1;
      k += 1;
    }
    xs.push(x);
    ys.push(sum / n);
    ws.push(n);
    // Pool while the sequence decreases.
    while (ys.length > 1 && ys[ys.length - 2]! > ys[ys.length - 1]!) {
      const w = ws[ws.length - 2]! + ws[ws.length - 1]!;
      const y = (ys[ys.length - 2]! * ws[ws.length - 2]! + ys[ys.length - 1]! * ws[ws.length - 1]!) / w;
      ys.splice(-2, 2, y);
      ws.splice(-2, 2, w);
      xs.splice(-1, 1);
    }
  }
  return (score: number) => {
    if (score <= xs[0]!) return ys[0]!;
    if (score >= xs[xs.length - 1]!) return ys[ys.length - 1]!;
    let lo = 0;
    let hi = xs.length - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (xs[mid]! <= score) lo = mid;
      else hi = mid;
    }
    // Each block's value holds from its first score up to the next block's.
    return ys[lo]!;
  };
}

/** Estimated metrics of a window (null where undefined, e.g. no predicted positives for precision). */
export interface EstimatedPerformance {
  n: number;
  accuracy: number | null;
  precision: number | null;
  recall: number | null;
  f1: number | null;
  /** The expected ROC AUC (see {@link expectedRocAuc}). */
  rocAuc: number | null;
  /** The expected confusion matrix. */
  expected: { tp: number; fp: number; fn: number; tn: number };
}

/**
 * Estimates a window's performance from its scores alone: a prediction is positive when its score is
 * at least `threshold`; its calibrated probability p adds p to the expected true positives (1 − p to
 * false positives) when positive, p to false negatives (1 − p to true negatives) when negative.
 */
export function estimatePerformance(scores: ArrayLike<number>, opts: { threshold?: number; calibrate?: Calibrator } = {}): EstimatedPerformance {
  const threshold = opts.threshold ?? 0.5;
  const e = { tp: 0, fp: 0, fn: 0, tn: 0 };
  let n = 0;
  const kept = new Float64Array(scores.length);
  const probs = new Float64Array(scores.length);
  for (let i = 0; i < scores.length; i++) {
    const s = scores[i]!;
    if (!Number.isFinite(s)) continue;
    const p = Math.min(1, Math.max(0, opts.calibrate ? opts.calibrate(s) : s));
    kept[n] = s;
    probs[n] = p;
    n += 1;
    if (s >= threshold) {
      e.tp += p;
      e.fp += 1 - p;
    } else {
      e.fn += p;
      e.tn += 1 - p;
    }
  }
  const ratio = (a: number, b: number) => (b > 0 ? a / b : null);
  return {
    n,
    accuracy: ratio(e.tp + e.tn, n),
    precision: ratio(e.tp, e.tp + e.fp),
    recall: ratio(e.tp, e.tp + e.fn),
    f1: ratio(2 * e.tp, 2 * e.tp + e.fp + e.fn),
    rocAuc: expectedRocAuc(kept.subarray(0, n), probs.subarray(0, n)),
    expected: e,
  };
}

/**
 * The expected ROC AUC of scores whose calibrated probabilities are `p`, as NannyML's CBPE estimates
 * it: each prediction counts as p of a positive and 1 − p of a negative at its score, and the AUC is
 * the weighted Mann–Whitney statistic, Σ over pairs of p_i (1 − p_j) [s_i > s_j] (ties one half) over
 * (Σ p)(Σ (1 − p)). It ranks by the raw score, as the realized AUC does. Null when the expected
 * positives or negatives are zero.
 */
export function expectedRocAuc(scores: ArrayLike<number>, p: ArrayLike<number>): number | null {
  const n = scores.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  let pos = 0;
  let neg = 0;
  let sum = 0;
  // Ascending: `neg` holds the expected negatives scored strictly below the current tie group.
  for (let i = 0; i < n; ) {
    let gp = 0;
    let gn = 0;
    let j = i;
    while (j < n && scores[order[j]!] === scores[order[i]!]) {
      gp += p[order[j]!]!;
      gn += 1 - p[order[j]!]!;
      j++;
    }
    sum += gp * neg + 0.5 * gp * gn;
    neg += gn;
    pos += gp;
    i = j;
  }
  return pos > 0 && neg > 0 ? sum / (pos * neg) : null;
}
