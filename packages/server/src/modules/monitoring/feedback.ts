import { CairnError, MONITORING_LIMITS, type PerformanceResponse, type PerformanceTask, type PerformanceWindow, type PostFeedbackResponse } from "@cairn/contract";
import type { z } from "zod";
import type * as C from "@cairn/contract";
import { classificationMetrics, regressionMetrics } from "./metrics.js";
import { estimatePerformance, fitIsotonic, type Calibrator } from "./cbpe.js";
import type { FeedbackRow, FeedbackStore, JoinScope, LabelType } from "./store/feedback-store.js";

/** What feedback reads of a deployment: its model (labels join the model's inference log). */
export type DeploymentLookup = (name: string) => Promise<{ model: string } | undefined>;

type Label = number | boolean | string;
const ARM_ORDER: Record<string, number> = { primary: 0, canary: 1, shadow: 2 };
/** Joined rows read per query. */
const PAGE = 1000;

/** Python's json writes non-finite floats as bare tokens, which the body parser turns into these strings: refused as labels. */
const NON_FINITE_TOKENS = new Set<unknown>(["NaN", "Infinity", "-Infinity"]);
const typeOf = (label: Label): LabelType => (typeof label === "number" ? "number" : typeof label === "boolean" ? "boolean" : "string");
const notFound = (name: string) => new CairnError("RESOURCE_DOES_NOT_EXIST", `Deployment '${name}' not found`);
const invalid = (msg: string) => new CairnError("INVALID_PARAMETER_VALUE", msg);

/**
 * Delayed ground truth and performance over time. Labels are posted by request id (the id a
 * deployment answered with) and joined in SQL to the deployment's logged predictions; metrics are
 * computed here over the joined rows, read in pages per version, arm and window, at most
 * `rowsPerWindow` of them per window (beyond it the window says `truncated`).
 *
 * - A deployment's labels have one type (number, boolean or string), fixed by its first label. Numbers
 *   must be finite; the strings "NaN", "Infinity" and "-Infinity" (what a Python client's bare tokens
 *   become) are refused as non-finite numbers, not taken as classes.
 * - A second label for a request replaces the first (a correction; the row's `updated_at` records it).
 * - Labels whose prediction is not logged yet are stored (the log may not have flushed) and counted as
 *   `unmatched`; they join once it is. Windows go by the prediction's time, not the label's.
 * - Labels outlive their deployment: a deployment deleted and created again under its name keeps them
 *   (and its label type); they join only predictions of the same model.
 * - Classification windows also carry label-free estimates (CBPE, `cbpe.ts`) over all their logged
 *   predictions, labelled or not, calibrated per version and arm on the labelled predictions of a
 *   reference range (see `EstimatedMetrics` in the contract); those read in pages too, scores only, at
 *   most `rowsPerWindow` a window.
 */
export class FeedbackService {
  readonly #store: FeedbackStore;
  readonly #deployment: DeploymentLookup;
  readonly #now: () => number;
  readonly #rowsPerWindow: number;

  constructor(o: { store: FeedbackStore; deployment: DeploymentLookup; now?: () => number; rowsPerWindow?: number }) {
    this.#store = o.store;
    this.#deployment = o.deployment;
    this.#now = o.now ?? Date.now;
    this.#rowsPerWindow = o.rowsPerWindow ?? MONITORING_LIMITS.rowsPerWindow;
  }

  /**
   * Stores labels for a deployment's predictions (all or none).
   * @throws CairnError RESOURCE_DOES_NOT_EXIST (no such deployment), INVALID_PARAMETER_VALUE (a label not a finite number, or not of the deployment's label type: the first such record is named)
   */
  async post(name: string, body: z.output<typeof C.PostFeedbackRequest>): Promise<PostFeedbackResponse> {
    const dep = await this.#deployment(name);
    if (!dep) throw notFound(name);
    const records = body.records;
    records.forEach((r, i) => {
      if ((typeof r.label === "number" && !Number.isFinite(r.label)) || NON_FINITE_TOKENS.has(r.label as string)) throw invalid(`records[${i}] (request '${r.requestId}'): label must be a finite number`);
    });
    const established = await this.#store.labelType(name);
    const type = established ?? typeOf(records[0]!.label);
    checkTypes(name, records, type, established !== undefined);
    const now = this.#now();
    // A request id given twice keeps its last label.
    const byId = new Map<string, FeedbackRow>();
    for (const r of records) {
      byId.delete(r.requestId);
      byId.set(r.requestId, { requestId: r.requestId, label: r.label, time: r.time ?? now });
    }
    const rows = [...byId.values()];
    const result = await this.#store.upsert(name, dep.model, type, rows, now);
    if ("mismatch" in result) {
      // Another post fixed the label type first: name the first record of the wrong type (all of them are).
      checkTypes(name, records, result.mismatch, true);
      throw invalid(`Labels of deployment '${name}' must be ${result.mismatch}s`);
    }
    const logged = await this.#store.loggedRequestIds(dep.model, name, rows.map((r) => r.requestId));
    return { accepted: result.accepted, updated: result.updated, unmatched: rows.length - logged.size };
  }

  /**
   * A deployment's performance per version, arm and window: realized metrics from the labelled
   * predictions and, for classification, label-free estimates (CBPE) from all of them, calibrated on
   * the labelled predictions of [`referenceFrom`, `referenceTo`) (default: the query's range).
   * @throws CairnError RESOURCE_DOES_NOT_EXIST, INVALID_PARAMETER_VALUE (an empty range or reference range, too many windows, a task or positive class that does not fit the labels)
   */
  async performance(name: string, q: z.output<typeof C.PerformanceQuery>): Promise<PerformanceResponse> {
    const dep = await this.#deployment(name);
    if (!dep) throw notFound(name);
    const to = q.to ?? this.#now();
    const from = q.from ?? Math.max(0, to - MONITORING_LIMITS.defaultRangeMs);
    if (from >= to) throw invalid(`'from' (${from}) must be before 'to' (${to})`);
    const windowSeconds = q.windowSeconds ?? Math.ceil((to - from) / 1000);
    const windowMs = windowSeconds * 1000;
    const windows = Math.ceil((to - from) / windowMs);
    if (windows > MONITORING_LIMITS.windowsMax) throw invalid(`${windows} windows of ${windowSeconds} s between 'from' and 'to': at most ${MONITORING_LIMITS.windowsMax}; widen windowSeconds or narrow the range`);

    const labelType = (await this.#store.labelType(name)) ?? null;
    const task: PerformanceTask = q.task ?? (labelType === "number" ? "regression" : "classification");
    if (task === "regression" && labelType !== null && labelType !== "number") throw invalid(`Regression needs number labels; deployment '${name}' has ${labelType} labels`);
    const positive = task === "classification" ? positiveClass(name, labelType, q.positive) : null;

    const scope: JoinScope = { model: dep.model, deployment: name, from, to };
    const refFrom = q.referenceFrom ?? from;
    const refTo = q.referenceTo ?? to;
    if (task === "classification" && refFrom >= refTo) throw invalid(`'referenceFrom' (${refFrom}) must be before 'referenceTo' (${refTo})`);
    type Group = { version: string; arm: string; labelled: Map<number, number>; logged: Map<number, number> };
    const groupsByKey = new Map<string, Group>();
    const groupOf = (version: string, arm: string): Group => {
      const key = `${arm}\u0000${version}`;
      let g = groupsByKey.get(key);
      if (!g) groupsByKey.set(key, (g = { version, arm, labelled: new Map(), logged: new Map() }));
      return g;
    };
    for (const c of await this.#store.joinedCounts({ ...scope, windowMs })) groupOf(c.version, c.arm).labelled.set(c.bucket, c.count);
    // Estimates need every logged prediction, labelled or not: a version and arm without labels gets a series too.
    if (task === "classification") for (const c of await this.#store.loggedCounts({ ...scope, windowMs })) groupOf(c.version, c.arm).logged.set(c.bucket, c.count);
    const groups = [...groupsByKey.values()].sort((a, b) => compareVersions(a.version, b.version) || (ARM_ORDER[a.arm] ?? 9) - (ARM_ORDER[b.arm] ?? 9));
    const read = { output: q.output, positive, threshold: q.threshold };

    const series: PerformanceResponse["series"] = [];
    for (const g of groups) {
      const out: PerformanceWindow[] = [];
      const calibration = task === "classification" ? await this.#calibration({ ...scope, from: refFrom, to: refTo, version: g.version, arm: g.arm }, read) : undefined;
      for (let i = 0; i < windows; i++) {
        const start = from + i * windowMs;
        const end = Math.min(start + windowMs, to);
        const count = g.labelled.get(i) ?? 0;
        const rows = count === 0 ? [] : await this.#windowRows({ ...scope, from: start, to: end, version: g.version, arm: g.arm });
        const w: PerformanceWindow = { start, end, ...(task === "classification" ? classify(rows, read) : regress(rows, read.output)), truncated: count > this.#rowsPerWindow };
        if (calibration) {
          const logged = g.logged.get(i) ?? 0;
          const scores = logged === 0 ? new Float64Array(0) : await this.#windowScores({ ...scope, from: start, to: end, version: g.version, arm: g.arm }, read.output);
          const e = estimatePerformance(scores, { threshold: q.threshold, ...(calibration.calibrate ? { calibrate: calibration.calibrate } : {}) });
          w.estimated = { n: e.n, truncated: logged > this.#rowsPerWindow, calibrated: calibration.calibrate !== undefined, accuracy: e.accuracy, precision: e.precision, recall: e.recall, f1: e.f1, rocAuc: e.rocAuc };
        }
        out.push(w);
      }
      series.push({ version: g.version, arm: g.arm as PerformanceResponse["series"][number]["arm"], ...(calibration ? { estimationReference: { from: refFrom, to: refTo, n: calibration.n } } : {}), windows: out });
    }
    return { deployment: name, model: dep.model, task, labelType, positive, threshold: q.threshold, from, to, windowSeconds, series };
  }

  /**
   * The isotonic calibration of one version and arm's scores, fitted on its labelled predictions with a
   * probability output in the reference range (the oldest `rowsPerWindow`); none without any.
   */
  async #calibration(s: JoinScope & { version: string; arm: string }, o: { output: string | undefined; positive: string | null }): Promise<{ n: number; calibrate?: Calibrator }> {
    const rows = await this.#windowRows(s);
    const scores: number[] = [];
    const ys: number[] = [];
    for (const r of rows) {
      const p = scoreOf(r.outputs, o.output);
      if (p === undefined) continue;
      scores.push(p);
      ys.push(labelKey(r.label, typeOf(r.label)) === o.positive ? 1 : 0);
    }
    return scores.length === 0 ? { n: 0 } : { n: scores.length, calibrate: fitIsotonic(scores, ys) };
  }

  /** The probability scores of one version and arm's logged predictions in a window, labelled or not, at most `rowsPerWindow` (only the numbers are kept). */
  async #windowScores(s: JoinScope & { version: string; arm: string }, output: string | undefined): Promise<Float64Array> {
    const scores: number[] = [];
    let read = 0;
    let after: { time: number; seq: number } | undefined;
    while (read < this.#rowsPerWindow) {
      const page = await this.#store.loggedPage({ ...s, ...(after ? { after } : {}), limit: Math.min(PAGE, this.#rowsPerWindow - read) });
      read += page.length;
      for (const r of page) {
        const p = scoreOf(r.outputs, output);
        if (p !== undefined) scores.push(p);
      }
      if (page.length === 0 || page.length < PAGE) break;
      const last = page[page.length - 1]!;
      after = { time: last.time, seq: last.seq };
    }
    return Float64Array.from(scores);
  }

  /** The joined rows of one version, arm and window, at most `rowsPerWindow`. */
  async #windowRows(s: JoinScope & { version: string; arm: string }): Promise<{ outputs: string; label: Label }[]> {
    const rows: { outputs: string; label: Label }[] = [];
    let after: { time: number; seq: number } | undefined;
    while (rows.length < this.#rowsPerWindow) {
      const page = await this.#store.joinedPage({ ...s, ...(after ? { after } : {}), limit: Math.min(PAGE, this.#rowsPerWindow - rows.length) });
      for (const r of page) rows.push({ outputs: r.outputs, label: r.label });
      if (page.length === 0 || page.length < PAGE) break;
      const last = page[page.length - 1]!;
      after = { time: last.time, seq: last.seq };
    }
    return rows;
  }
}

/** Throws naming the first record whose label is not of `type`. */
function checkTypes(name: string, records: readonly { requestId: string; label: Label }[], type: LabelType, established: boolean): void {
  const i = records.findIndex((r) => typeOf(r.label) !== type);
  if (i < 0) return;
  const r = records[i]!;
  const why = established ? `deployment '${name}' has ${type} labels` : `records[0]'s is a ${type} (a deployment's labels have one type)`;
  throw invalid(`records[${i}] (request '${r.requestId}'): label is a ${typeOf(r.label)}, but ${why}`);
}

/** The positive class as a label key (see {@link labelKey}). */
function positiveClass(name: string, labelType: LabelType | null, given: string | undefined): string | null {
  if (labelType === "boolean" || (labelType === null && given === undefined)) {
    if (given === undefined) return labelType === null ? null : "true";
    const k = labelKey(given, "boolean");
    if (k === undefined) throw invalid(`'positive' must be true or false: deployment '${name}' has boolean labels`);
    return k;
  }
  if (labelType === "number") {
    if (given === undefined) return "1";
    const k = labelKey(given, "number");
    if (k === undefined) throw invalid(`'positive' must be a number: deployment '${name}' has number labels`);
    return k;
  }
  if (given === undefined) throw invalid(`Give 'positive' (the positive class): deployment '${name}' has string labels`);
  return given;
}

/** A class as a comparable key in the deployment's label type, or undefined when it is not one. */
function labelKey(v: unknown, type: LabelType | null): string | undefined {
  if (type === "boolean") {
    if (v === true || v === 1 || v === "true" || v === "1") return "true";
    if (v === false || v === 0 || v === "false" || v === "0") return "false";
    return undefined;
  }
  if (type === "number") {
    const n = typeof v === "number" ? v : typeof v === "boolean" ? Number(v) : typeof v === "string" && v.trim() !== "" ? Number(v) : NaN;
    return Number.isFinite(n) ? String(n) : undefined;
  }
  return typeof v === "string" || typeof v === "number" || typeof v === "boolean" ? String(v) : undefined;
}

interface LoggedTensor {
  name?: unknown;
  datatype?: unknown;
  shape?: unknown;
  data?: unknown;
}

/**
 * The one-row prediction of a logged answer: the named output (or the first), its datatype and its
 * values. Undefined when it is missing or holds several rows (one label is one request's truth).
 */
function predictionOf(outputsJson: string, output: string | undefined): { datatype: string; values: unknown[] } | undefined {
  let outputs: unknown;
  try {
    outputs = JSON.parse(outputsJson);
  } catch {
    return undefined;
  }
  if (!Array.isArray(outputs) || outputs.length === 0) return undefined;
  const t = (output === undefined ? outputs[0] : outputs.find((o: LoggedTensor) => o?.name === output)) as LoggedTensor | undefined;
  if (!t || typeof t.datatype !== "string" || !Array.isArray(t.data)) return undefined;
  const shape = Array.isArray(t.shape) ? t.shape : [];
  if (shape.length > 0 && shape[0] !== 1) return undefined;
  const values = (t.data as unknown[]).flat(32);
  return values.length === 0 ? undefined : { datatype: t.datatype, values };
}

/** A logged answer's probability of the positive class (see {@link classify}), or undefined when it has none in [0, 1]. */
function scoreOf(outputsJson: string, output: string | undefined): number | undefined {
  const pred = predictionOf(outputsJson, output);
  if (!pred || !pred.datatype.startsWith("FP")) return undefined;
  const p = pred.values.length === 1 ? toNumber(pred.values[0]) : pred.values.length === 2 ? toNumber(pred.values[1]) : NaN;
  return p >= 0 && p <= 1 ? p : undefined;
}

const toNumber = (v: unknown): number => (typeof v === "number" ? v : typeof v === "string" && v.trim() !== "" ? Number(v) : NaN);

type Counted = Pick<PerformanceWindow, "n" | "skipped">;

/**
 * Classification over a window's rows. A floating-point output is the probability of the positive
 * class (one value, or two: the second column); values outside [0, 1] are skipped. Any other datatype
 * is the predicted class itself (accuracy, precision, recall and F1 only, no scores).
 */
function classify(rows: readonly { outputs: string; label: Label }[], o: { output: string | undefined; positive: string | null; threshold: number }): Counted & { classification: PerformanceWindow["classification"] } {
  const actual: unknown[] = [];
  const predictedClass: unknown[] = [];
  const y: number[] = [];
  const predicted: number[] = [];
  const scored = { y: [] as number[], p: [] as number[] };
  let skipped = 0;
  for (const r of rows) {
    const pred = predictionOf(r.outputs, o.output);
    const type = typeOf(r.label);
    const truth = labelKey(r.label, type)!;
    const yi = truth === o.positive ? 1 : 0;
    if (pred && pred.datatype.startsWith("FP")) {
      const p = pred.values.length === 1 ? toNumber(pred.values[0]) : pred.values.length === 2 ? toNumber(pred.values[1]) : NaN;
      if (!(p >= 0 && p <= 1)) {
        skipped++;
        continue;
      }
      const yhat = p >= o.threshold ? 1 : 0;
      actual.push(yi);
      predictedClass.push(yhat);
      y.push(yi);
      predicted.push(yhat);
      scored.y.push(yi);
      scored.p.push(p);
    } else {
      const k = pred && pred.values.length === 1 ? labelKey(pred.values[0], type) : undefined;
      if (k === undefined) {
        skipped++;
        continue;
      }
      actual.push(truth);
      predictedClass.push(k);
      y.push(yi);
      predicted.push(k === o.positive ? 1 : 0);
    }
  }
  return { n: y.length, skipped, classification: classificationMetrics({ actual, predictedClass, y, predicted, scored }, MONITORING_LIMITS.calibrationBins) };
}

/** Regression over a window's rows: the output's one value against the number label. */
function regress(rows: readonly { outputs: string; label: Label }[], output: string | undefined): Counted & { regression: PerformanceWindow["regression"] } {
  const y: number[] = [];
  const predicted: number[] = [];
  let skipped = 0;
  for (const r of rows) {
    const pred = predictionOf(r.outputs, output);
    const v = pred && pred.values.length === 1 && pred.datatype !== "BOOL" ? toNumber(pred.values[0]) : NaN;
    if (typeof r.label !== "number" || !Number.isFinite(v)) {
      skipped++;
      continue;
    }
    y.push(r.label);
    predicted.push(v);
  }
  return { n: y.length, skipped, regression: regressionMetrics(y, predicted) };
}

/** Versions in numeric order (they are registry version numbers), other strings after, by text. */
function compareVersions(a: string, b: string): number {
  const x = Number(a);
  const y = Number(b);
  if (Number.isFinite(x) && Number.isFinite(y)) return x - y;
  return a < b ? -1 : a > b ? 1 : 0;
}
