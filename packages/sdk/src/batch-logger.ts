import { CairnError, LIMITS, isCairnError } from "@cairn/contract";
import { isRetryable } from "./retry.js";
import type { WireMetricValue } from "./metric-value.js";

/** One metric point as queued and sent. */
export interface QueuedMetric {
  key: string;
  value: WireMetricValue;
  timestamp: number;
  step: number;
}

/** One param or tag as queued and sent. */
export interface QueuedKeyValue {
  key: string;
  value: string;
}

/** The body of one log-batch request. */
export interface LogBatchBody {
  /** Idempotency key: the server applies a batch with the same id once, so resending after a lost answer is safe. */
  batchId?: string;
  metrics: QueuedMetric[];
  params: QueuedKeyValue[];
  tags: QueuedKeyValue[];
}

/** Per-request limits. The counts are the server's (`LIMITS.batch*`); `bytes` keeps a body under the 1 MB request limit. */
export interface BatchLimits {
  metrics: number;
  params: number;
  tags: number;
  total: number;
  bytes: number;
}

export const DEFAULT_BATCH_LIMITS: BatchLimits = {
  metrics: LIMITS.batchMetrics,
  params: LIMITS.batchParams,
  tags: LIMITS.batchTags,
  total: LIMITS.batchTotal,
  bytes: 900_000,
};

export interface BatchLoggerOptions {
  /** Sends one batch (with its own retries). A retryable error that still escapes stalls the queue; any other error refuses the batch. */
  send: (batch: LogBatchBody) => Promise<void>;
  /** How long a partial batch may wait before it is sent (default 1000 ms). */
  flushIntervalMs?: number;
  limits?: Partial<BatchLimits>;
  /** Called for each batch the server refused (the error is also thrown by the next `flush()`). */
  onError?: (e: CairnError) => void;
  /**
   * Most items held while the server is slow or unreachable (default 1,000,000, a few hundred MB).
   * Beyond it `log()` throws RESOURCE_EXHAUSTED instead of growing without bound.
   */
  maxQueuedItems?: number;
}

/** The items of one `log()` call. They travel in one request whenever they fit in one. */
interface Group {
  seq: number;
  metrics: QueuedMetric[];
  params: QueuedKeyValue[];
  tags: QueuedKeyValue[];
  /** How many of each list have been sent already. */
  mi: number;
  pi: number;
  ti: number;
  /** Serialized size of the unsent items. */
  bytes: number;
}

interface Waiter {
  target: number;
  resolve: () => void;
  reject: (e: CairnError) => void;
}

// The JSON punctuation of an empty body plus a batchId (a UUID).
const BODY_OVERHEAD = 112;
const EMPTY: never[] = [];

function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** Bytes an item adds to a JSON body, its separating comma included. */
const itemBytes = (item: QueuedMetric | QueuedKeyValue) => utf8Length(JSON.stringify(item)) + 1;

function toCairnError(e: unknown): CairnError {
  return isCairnError(e) ? e : new CairnError("INTERNAL_ERROR", e instanceof Error ? e.message : String(e), { cause: e });
}

/**
 * An ordered queue of metrics, params and tags for one run, sent in the background in
 * batches that respect the server's per-request limits. One request is in flight at a time,
 * so batches arrive in the order they were logged.
 *
 * A batch is sent as soon as a full one is queued, otherwise after `flushIntervalMs`,
 * or when `flush()` is called.
 */
export class BatchLogger {
  readonly #send: BatchLoggerOptions["send"];
  #inflight: { batch: LogBatchBody; commit: () => void } | undefined;
  readonly #maxQueued: number;
  readonly #interval: number;
  readonly #limits: BatchLimits;
  readonly #onError: BatchLoggerOptions["onError"];

  #queue: Group[] = [];
  #head = 0;
  #lastSeq = 0;
  #doneSeq = 0;
  #flushTarget = 0;
  #pending = { metrics: 0, params: 0, tags: 0, bytes: 0 };
  #busy = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #waiters: Waiter[] = [];
  #unreported: CairnError[] = [];
  #closed = false;

  constructor(opts: BatchLoggerOptions) {
    this.#send = opts.send;
    this.#interval = opts.flushIntervalMs ?? 1000;
    this.#limits = { ...DEFAULT_BATCH_LIMITS, ...opts.limits };
    this.#onError = opts.onError;
    this.#maxQueued = opts.maxQueuedItems ?? 1_000_000;
  }

  /** Items queued and not yet acknowledged or refused. */
  get pendingCount(): number {
    return this.#pending.metrics + this.#pending.params + this.#pending.tags;
  }

  /** Queues the items of one `log()` call (already validated). */
  enqueue(items: { metrics?: QueuedMetric[]; params?: QueuedKeyValue[]; tags?: QueuedKeyValue[] }): void {
    // Shared empty lists keep a one-metric call small (a busy loop may queue millions).
    const metrics = items.metrics?.length ? items.metrics : EMPTY;
    const params = items.params?.length ? items.params : EMPTY;
    const tags = items.tags?.length ? items.tags : EMPTY;
    const n = metrics.length + params.length + tags.length;
    if (n === 0) return;
    if (this.pendingCount + n > this.#maxQueued) {
      throw new CairnError(
        "RESOURCE_EXHAUSTED",
        `The log queue holds ${this.pendingCount} items not yet acknowledged by the server (limit ${this.#maxQueued}); is the server reachable? Call flush() to wait for it.`,
      );
    }
    let bytes = 0;
    for (const m of metrics) bytes += itemBytes(m);
    for (const p of params) bytes += itemBytes(p);
    for (const t of tags) bytes += itemBytes(t);
    this.#queue.push({ seq: ++this.#lastSeq, metrics, params, tags, mi: 0, pi: 0, ti: 0, bytes });
    this.#pending.metrics += metrics.length;
    this.#pending.params += params.length;
    this.#pending.tags += tags.length;
    this.#pending.bytes += bytes;
    if (this.#isFull()) this.#kick();
    else this.#arm();
  }

  /**
   * Resolves once everything queued before the call has been acknowledged by the server.
   * @throws CairnError the first error of a batch the server refused since the last flush,
   *   or the transient error that stopped sending after all retries (the data stays queued)
   */
  flush(): Promise<void> {
    const target = this.#lastSeq;
    if (target <= this.#doneSeq) {
      const err = this.#takeUnreported();
      return err ? Promise.reject(err) : Promise.resolve();
    }
    this.#flushTarget = Math.max(this.#flushTarget, target);
    const p = new Promise<void>((resolve, reject) => this.#waiters.push({ target, resolve, reject }));
    this.#kick();
    return p;
  }

  /** Stops the background timer; queued data is kept (call `flush()` first). */
  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #isFull(): boolean {
    const p = this.#pending;
    const L = this.#limits;
    return p.metrics >= L.metrics || p.params >= L.params || p.tags >= L.tags || this.pendingCount >= L.total || p.bytes + BODY_OVERHEAD >= L.bytes;
  }

  #due(): boolean {
    const head = this.#queue[this.#head];
    return head !== undefined && (this.#isFull() || head.seq <= this.#flushTarget);
  }

  #arm(): void {
    if (this.#timer || this.#busy || this.#closed || this.#head >= this.#queue.length) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#flushTarget = Math.max(this.#flushTarget, this.#lastSeq);
      this.#kick();
    }, this.#interval);
    // A pending timer must not keep the process alive; the exit hooks flush on the way out.
    (this.#timer as { unref?: () => void }).unref?.();
  }

  #kick(): void {
    if (this.#busy) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#busy = true;
    void this.#loop();
  }

  async #loop(): Promise<void> {
    try {
      while (this.#inflight || this.#due()) {
        // A stalled batch is resent as it was, with the same batch id: the server may have applied it.
        const { batch, commit } = (this.#inflight ??= this.#take());
        try {
          await this.#send(batch);
        } catch (e) {
          const err = toCairnError(e);
          if (isRetryable(err)) {
            // Retries are exhausted: keep the batch queued (never drop data silently) and
            // tell the waiters; the timer, the next flush() or end() tries again.
            this.#stall(err);
            return;
          }
          this.#unreported.push(err);
          try {
            this.#onError?.(err);
          } catch {
            // A throwing callback must not wedge the queue.
          }
        }
        this.#inflight = undefined;
        commit();
        this.#settle();
      }
    } finally {
      this.#busy = false;
      this.#arm();
    }
  }

  /** Packs the next batch without consuming it; `commit()` consumes it once the server answered. */
  #take(): { batch: LogBatchBody; commit: () => void } {
    const L = this.#limits;
    const batch: LogBatchBody = { batchId: globalThis.crypto.randomUUID(), metrics: [], params: [], tags: [] };
    let bytes = BODY_OVERHEAD;
    let gi = this.#head;
    let partial: { mi: number; pi: number; ti: number } | undefined;
    const count = () => batch.metrics.length + batch.params.length + batch.tags.length;

    for (; gi < this.#queue.length; gi++) {
      const g = this.#queue[gi]!;
      const rm = g.metrics.length - g.mi;
      const rp = g.params.length - g.pi;
      const rt = g.tags.length - g.ti;
      const fits = (m: number, p: number, t: number, b: number) =>
        batch.metrics.length + m <= L.metrics && batch.params.length + p <= L.params && batch.tags.length + t <= L.tags && count() + m + p + t <= L.total && bytes + b <= L.bytes;
      if (fits(rm, rp, rt, g.bytes)) {
        for (let i = g.ti; i < g.tags.length; i++) batch.tags.push(g.tags[i]!);
        for (let i = g.pi; i < g.params.length; i++) batch.params.push(g.params[i]!);
        for (let i = g.mi; i < g.metrics.length; i++) batch.metrics.push(g.metrics[i]!);
        bytes += g.bytes;
        continue;
      }
      // Keep a log() call whole when it fits in a request of its own; split only an oversized one.
      const fitsAlone = rm <= L.metrics && rp <= L.params && rt <= L.tags && rm + rp + rt <= L.total && g.bytes + BODY_OVERHEAD <= L.bytes;
      if (fitsAlone && count() > 0) break;
      let { mi, pi, ti } = g;
      for (; ti < g.tags.length; ti++) {
        const b = itemBytes(g.tags[ti]!);
        if (!fits(0, 0, 1, b)) break;
        batch.tags.push(g.tags[ti]!);
        bytes += b;
      }
      for (; pi < g.params.length; pi++) {
        const b = itemBytes(g.params[pi]!);
        if (!fits(0, 1, 0, b)) break;
        batch.params.push(g.params[pi]!);
        bytes += b;
      }
      for (; mi < g.metrics.length; mi++) {
        const b = itemBytes(g.metrics[mi]!);
        if (!fits(1, 0, 0, b)) break;
        batch.metrics.push(g.metrics[mi]!);
        bytes += b;
      }
      if (count() === 0) {
        // A single item larger than a request: send it alone and let the server judge it.
        if (ti < g.tags.length) batch.tags.push(g.tags[ti++]!);
        else if (pi < g.params.length) batch.params.push(g.params[pi++]!);
        else batch.metrics.push(g.metrics[mi++]!);
      }
      if (mi === g.metrics.length && pi === g.params.length && ti === g.tags.length) gi++;
      else partial = { mi, pi, ti };
      break;
    }

    const endGroup = gi;
    const commit = () => {
      for (let i = this.#head; i < endGroup; i++) {
        const g = this.#queue[i]!;
        this.#consume(g, g.metrics.length, g.params.length, g.tags.length);
      }
      this.#head = endGroup;
      if (partial) this.#consume(this.#queue[endGroup]!, partial.mi, partial.pi, partial.ti);
      const head = this.#queue[this.#head];
      this.#doneSeq = head ? head.seq - 1 : this.#lastSeq;
      if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
        this.#queue = this.#queue.slice(this.#head);
        this.#head = 0;
      }
    };
    return { batch, commit };
  }

  /** Marks a group as sent up to the given offsets and updates the pending counters. */
  #consume(g: Group, mi: number, pi: number, ti: number): void {
    let b = 0;
    if (mi === g.metrics.length && pi === g.params.length && ti === g.tags.length) b = g.bytes;
    else {
      for (let i = g.mi; i < mi; i++) b += itemBytes(g.metrics[i]!);
      for (let i = g.pi; i < pi; i++) b += itemBytes(g.params[i]!);
      for (let i = g.ti; i < ti; i++) b += itemBytes(g.tags[i]!);
    }
    this.#pending.metrics -= mi - g.mi;
    this.#pending.params -= pi - g.pi;
    this.#pending.tags -= ti - g.ti;
    this.#pending.bytes -= b;
    g.bytes -= b;
    g.mi = mi;
    g.pi = pi;
    g.ti = ti;
  }

  #takeUnreported(): CairnError | undefined {
    const err = this.#unreported[0];
    this.#unreported = [];
    return err;
  }

  #settle(): void {
    const ready = this.#waiters.filter((w) => w.target <= this.#doneSeq);
    if (ready.length === 0) return;
    this.#waiters = this.#waiters.filter((w) => w.target > this.#doneSeq);
    const err = this.#takeUnreported();
    for (const w of ready) {
      if (err) w.reject(err);
      else w.resolve();
    }
  }

  #stall(err: CairnError): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    if (waiters.length === 0) return;
    const reported = this.#takeUnreported() ?? err;
    for (const w of waiters) w.reject(reported);
  }
}
