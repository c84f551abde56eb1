import type { InferenceRecord } from "@cairn/contract";

export interface LogBufferOptions {
  /** Sends a batch to the inference log; a rejection keeps the batch for the next try. */
  sink: (records: InferenceRecord[]) => Promise<void>;
  /** Records held at most; beyond it new records are shed (counted), never the request. Default 20,000. */
  capacity?: number;
  /** Records per send. Default 2,000. */
  batchSize?: number;
  /** How often the buffer is sent. Default 250 ms. */
  flushMs?: number;
  /** The share of requests logged, 0–1. Default 1 (all). */
  sample?: number;
  random?: () => number;
}

/** What the buffer did, for /metrics. */
export interface LogBufferStats {
  /** Records sent to the log. */
  logged: number;
  /** Records dropped because the buffer was full. */
  shed: number;
  /** Requests not logged by sampling. */
  sampledOut: number;
  /** Records waiting to be sent. */
  pending: number;
  /** Sends that failed (their records were kept and sent again). */
  failedSends: number;
}

/**
 * The model server's inference log writer: `log()` only appends to memory, so the request path never
 * waits on the database; a timer sends batches in the background. When the log cannot keep up (or
 * is unreachable) and the buffer is full, new records are shed and counted. A failed send keeps its
 * records for the next try.
 */
export class InferenceLogBuffer {
  readonly #o: Required<Omit<LogBufferOptions, "random">> & { random: () => number };
  /** Records, or functions that build them: tensors are encoded when a batch is sent, off the request's path. */
  readonly #queue: (InferenceRecord | (() => InferenceRecord))[] = [];
  readonly #stats: LogBufferStats = { logged: 0, shed: 0, sampledOut: 0, pending: 0, failedSends: 0 };
  #timer: NodeJS.Timeout;
  #sending: Promise<void> | undefined;

  constructor(opts: LogBufferOptions) {
    this.#o = { capacity: 20_000, batchSize: 2000, flushMs: 250, sample: 1, random: Math.random, ...opts };
    this.#timer = setInterval(() => void this.flush(), this.#o.flushMs);
    this.#timer.unref();
  }

  /** Changes the share of requests logged (0–1). */
  setSample(sample: number): void {
    this.#o.sample = sample;
  }

  /**
   * Queues a record (or counts it as sampled out or shed). Never throws, never waits. Given a
   * function, builds the record only when its batch is sent (encoding tensors would cost the request time).
   */
  log(record: InferenceRecord | (() => InferenceRecord)): void {
    if (this.#o.sample < 1 && (this.#o.sample <= 0 || this.#o.random() >= this.#o.sample)) {
      this.#stats.sampledOut += 1;
      return;
    }
    if (this.#queue.length >= this.#o.capacity) {
      this.#stats.shed += 1;
      return;
    }
    this.#queue.push(record);
  }

  /** Sends what is queued (one send at a time); resolves when this round is done. */
  flush(): Promise<void> {
    // `finally` runs after the assignment even when nothing is queued, so a finished round never sticks.
    this.#sending ??= this.#send().finally(() => {
      this.#sending = undefined;
    });
    return this.#sending;
  }

  async #send(): Promise<void> {
    // Only what was queued when the round began: under steady traffic the queue never empties, and
    // chasing it would send a small batch per request instead of one batch per flush interval.
    let due = this.#queue.length;
    while (due > 0) {
      const n = Math.min(this.#o.batchSize, due);
      let batch: InferenceRecord[];
      try {
        batch = this.#queue.slice(0, n).map((r) => (typeof r === "function" ? r() : r));
      } catch {
        // A record that cannot be built is dropped (counted as shed), never retried forever.
        this.#queue.splice(0, n);
        this.#stats.shed += n;
        due -= n;
        continue;
      }
      try {
        await this.#o.sink(batch);
      } catch (e) {
        this.#stats.failedSends += 1;
        // A batch the log refuses (a 4xx) would be refused again: drop it (counted as shed) rather than block the log.
        const status = (e as { status?: unknown } | null)?.status;
        if (typeof status === "number" && status >= 400 && status < 500 && status !== 429) {
          this.#queue.splice(0, n);
          this.#stats.shed += n;
          due -= n;
          continue;
        }
        return;
      }
      this.#queue.splice(0, n);
      this.#stats.logged += n;
      due -= n;
    }
  }

  stats(): LogBufferStats {
    return { ...this.#stats, pending: this.#queue.length };
  }

  /** Stops the timer and sends what is left (one try). */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
  }
}
