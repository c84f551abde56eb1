/**
 * Production traffic for the demo: borrowers drawn from the generator, scored one request each by a
 * Cairn deployment at a steady rate, with each borrower's true outcome posted as feedback a few
 * seconds later (labels arrive late, as they do in lending).
 */
import type { Cairn, FeedbackRecord } from "@cairn/sdk";
import { encodeRow, type PreprocessingSpec, type RawRow } from "../features.js";
import { generateCreditData, type CreditRow } from "../generate-data.js";
import { CATEGORICAL_COLUMNS, LABEL_COLUMN, NUMERIC_COLUMNS, RAW_HEADER } from "../schema.js";

/**
 * The model's input encoding as every training run produces it when all categories occur in its
 * data: the numeric columns, then the sorted categories of each categorical column. Only names and
 * order matter here: the model standardizes inside its graph.
 */
export function inputEncoding(): Pick<PreprocessingSpec, "numeric" | "categorical" | "featureNames"> {
  const numeric = NUMERIC_COLUMNS.map((c) => ({ name: c.name, mean: 0, std: 1 }));
  const categorical = CATEGORICAL_COLUMNS.map((c) => ({ name: c.name, categories: [...c.values].sort() }));
  return { numeric, categorical, featureNames: [...numeric.map((c) => c.name), ...categorical.flatMap((c) => c.categories.map((v) => `${c.name}=${v}`))] };
}

/** What one phase of traffic did. */
export interface PhaseResult {
  /** Requests answered. */
  sent: number;
  /** Requests that failed (network or non-2xx), with the first error. */
  failed: number;
  firstError?: string;
  /** Answers per arm and per version (`primary`/`canary`; `v1`, `v2`, …). */
  byArm: Record<string, number>;
  byVersion: Record<string, number>;
  from: number;
  to: number;
}

/** Options of `TrafficGenerator.run`. */
export interface PhaseOptions {
  /** Which world the borrowers come from (the generator's drift, 0–1). */
  drift: number;
  /** Requests per second to aim at. */
  rate: number;
  /** Stop after this long … */
  seconds?: number;
  /** … or when this says so (checked between requests). */
  until?: () => boolean;
  /** Called about every 250 ms with the requests so far. */
  onProgress?: (sent: number) => void;
}

const DEFAULT_RATES = { 0: 0.15, 1: 0.2 } as const;

/**
 * Sends scoring requests to a deployment and posts their labels `labelDelayMs` later. One instance
 * per deployment; phases run one after another. Request ids are `<prefix>-<n>`, so labels join the
 * logged predictions by id.
 */
export class TrafficGenerator {
  readonly #encoding = inputEncoding();
  readonly #pending: { due: number; record: FeedbackRecord }[] = [];
  #seq = 0;
  #seed: number;
  #flusher: NodeJS.Timeout | undefined;
  #posting: Promise<void> = Promise.resolve();
  /** Labels posted, and those the server could not match to a prediction. */
  readonly labels = { posted: 0, unmatched: 0, failed: 0 };

  constructor(
    private readonly o: {
      cairn: Cairn;
      deployment: string;
      labelDelayMs: number;
      seed: number;
      /** Requests in flight at once. */
      concurrency?: number;
      prefix?: string;
      /** Ends every phase early (checked between requests). */
      signal?: AbortSignal;
    },
  ) {
    this.#seed = o.seed;
  }

  /** The encoded feature names, in input order (for naming the drift columns). */
  get featureNames(): string[] {
    return this.#encoding.featureNames;
  }

  /**
   * Sends one phase of traffic and returns what happened. Borrowers come from a fresh seed per
   * phase; the default rate of the drifted world is 20% (15% before).
   */
  async run(opts: PhaseOptions): Promise<PhaseResult> {
    this.#startFlusher();
    const from = Date.now();
    const endAt = opts.seconds !== undefined ? from + opts.seconds * 1000 : Infinity;
    const batch = () => generateCreditData({ rows: 2000, seed: this.#seed++, drift: opts.drift, defaultRate: opts.drift >= 1 ? DEFAULT_RATES[1] : DEFAULT_RATES[0] + (DEFAULT_RATES[1] - DEFAULT_RATES[0]) * opts.drift });
    let rows: CreditRow[] = batch();
    let next = 0;
    const result: PhaseResult = { sent: 0, failed: 0, byArm: {}, byVersion: {}, from, to: from };
    const intervalMs = 1000 / opts.rate;
    let slot = from;
    let lastProgress = 0;
    const take = (): CreditRow => {
      if (next >= rows.length) {
        rows = batch();
        next = 0;
      }
      return rows[next++]!;
    };
    const worker = async () => {
      for (;;) {
        const now = Date.now();
        if (now >= endAt || opts.until?.() || this.o.signal?.aborted) return;
        // Paced by a shared schedule, so the rate holds whatever the concurrency.
        const at = (slot += intervalMs);
        if (at > now) await sleep(at - now);
        const row = take();
        const id = `${this.o.prefix ?? "req"}-${++this.#seq}`;
        const x = Array.from(encodeRow(this.#encoding as PreprocessingSpec, rawOf(row)));
        try {
          const p = await this.o.cairn.deployments.predict(this.o.deployment, { inputs: [{ name: "features", datatype: "FP32", shape: [1, x.length], data: x }] }, { headers: { "x-request-id": id } });
          result.sent++;
          if (p.arm) result.byArm[p.arm] = (result.byArm[p.arm] ?? 0) + 1;
          if (p.version) result.byVersion[`v${p.version}`] = (result.byVersion[`v${p.version}`] ?? 0) + 1;
          this.#pending.push({ due: Date.now() + this.o.labelDelayMs, record: { requestId: id, label: row[LABEL_COLUMN] } });
        } catch (e) {
          result.failed++;
          result.firstError ??= e instanceof Error ? e.message : String(e);
        }
        if (opts.onProgress && Date.now() - lastProgress > 250) {
          lastProgress = Date.now();
          opts.onProgress(result.sent);
        }
      }
    };
    await Promise.all(Array.from({ length: this.o.concurrency ?? 4 }, worker));
    result.to = Date.now();
    opts.onProgress?.(result.sent);
    return result;
  }

  /** Posts every label still waiting, without waiting for its delay, and stops the poster. */
  async drain(): Promise<void> {
    if (this.#flusher) clearInterval(this.#flusher);
    this.#flusher = undefined;
    await this.#posting;
    await this.#post(Infinity);
  }

  /** Waits until every label due by now has been posted. */
  async settle(): Promise<void> {
    await this.#posting;
    await this.#post(Date.now());
  }

  #startFlusher(): void {
    if (this.#flusher) return;
    this.#flusher = setInterval(() => {
      this.#posting = this.#posting.then(() => this.#post(Date.now()));
    }, 500);
    this.#flusher.unref();
  }

  async #post(dueBy: number): Promise<void> {
    let n = 0;
    while (n < this.#pending.length && this.#pending[n]!.due <= dueBy) n++;
    if (n === 0) return;
    const due = this.#pending.splice(0, n);
    for (let i = 0; i < due.length; i += 1000) {
      const records = due.slice(i, i + 1000).map((d) => d.record);
      try {
        const r = await this.o.cairn.monitoring.postFeedback(this.o.deployment, records);
        this.labels.posted += records.length;
        this.labels.unmatched += r.unmatched;
      } catch {
        this.labels.failed += records.length;
      }
    }
  }
}

function rawOf(row: CreditRow): RawRow {
  return Object.fromEntries(RAW_HEADER.map((h) => [h, String(row[h as keyof CreditRow])]));
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
