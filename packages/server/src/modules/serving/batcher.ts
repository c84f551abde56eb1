/**
 * Adaptive micro-batching in front of one model session. Concurrent requests whose inputs have the
 * same names, datatypes, data kinds and trailing dimensions are concatenated along dim 0, run once,
 * and the outputs are split back along dim 0 by each request's row count.
 *
 * When a batch is dispatched (per compatible group of requests, one batch running at a time unless
 * `concurrency` says otherwise):
 * - always when a slot is free and the group's queued rows reach `maxBatchSize`;
 * - always when a slot is free and the group's oldest request has waited `maxLatencyMs`;
 * - adaptive (the default): also whenever a slot is free and no batch is running at all, so a lone
 *   request on an idle model runs at once and batching only happens to requests that queued up
 *   while the model was busy — batching never adds latency to a lone request.
 * A batch takes the group's requests oldest first while their rows fit in `maxBatchSize`; a single
 * request larger than `maxBatchSize` runs alone and is never split.
 */
import { CairnError } from "@cairn/contract";
import { elementCount, type Tensor, type TensorData } from "./tensor.js";

/** What the batcher reports after each batch (successful or not) through `onBatch`. */
export interface BatchInfo {
  /** Rows in the batch (sum of the requests' first dimensions). */
  size: number;
  /** Requests coalesced into the batch. */
  requests: number;
  /** How long the oldest request in the batch waited in the queue, in ms. */
  waitedMs: number;
  /** How long `run` took, in ms. */
  runMs: number;
  /** Whether `run` (and splitting its outputs) succeeded. */
  ok: boolean;
}

/** Options of a {@link MicroBatcher}. */
export interface MicroBatcherOptions {
  /** Runs the model on one (possibly concatenated) set of inputs. */
  run: (inputs: Tensor[]) => Promise<Tensor[]>;
  /** Rows above which requests are not coalesced further; an integer ≥ 1. */
  maxBatchSize: number;
  /** The longest a queued request waits for its batch to fill while a slot is free; ≥ 0. */
  maxLatencyMs: number;
  /** Dispatch without waiting whenever the model is idle (default true). */
  adaptive?: boolean;
  /** The most requests that may wait in the queue (not counting running batches); unlimited when absent. */
  maxQueue?: number;
  /** Batches that may run at the same time (default 1: the model session is the bottleneck). */
  concurrency?: number;
  /** Called after every batch; an exception it throws is ignored. */
  onBatch?: (info: BatchInfo) => void;
}

/** Counters for /metrics. Sums and bucket counts only grow; `queueDepth`/`queuedRows`/`running` are gauges. */
export interface BatcherStats {
  /** Batches whose `run` was called. */
  batches: number;
  /** Batches that rejected (run threw, or its outputs could not be split). */
  failedBatches: number;
  /** Requests that went into a batch. */
  requests: number;
  /** Rows that went into batches: the sum of batch sizes. */
  rows: number;
  /** Requests rejected because the queue was full. */
  rejectedQueueFull: number;
  /** Requests removed from the queue by their abort signal. */
  aborted: number;
  /** Requests waiting now. */
  queueDepth: number;
  /** Rows waiting now. */
  queuedRows: number;
  /** Batches running now. */
  running: number;
  /** Sum over batches of the oldest request's wait, in ms. */
  waitedMsSum: number;
  /** Sum over batches of the time `run` took, in ms. */
  runMsSum: number;
  /**
   * Cumulative batch-size histogram, Prometheus style: `count` batches had size ≤ `le`. Bounds are
   * the powers of two below `maxBatchSize`, `maxBatchSize` itself and `Infinity` (a single request
   * larger than `maxBatchSize`).
   */
  batchSizeBuckets: { le: number; count: number }[];
}

interface Pending {
  seq: number;
  inputs: Tensor[];
  rows: number;
  enqueuedAt: number;
  group: Group;
  resolve: (outputs: Tensor[]) => void;
  reject: (err: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

interface Group {
  key: string;
  /** Oldest first. */
  entries: Pending[];
  rows: number;
  /** The oldest entry has waited `maxLatencyMs`. */
  due: boolean;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** Can never be joined by another request, so there is nothing to wait for. */
  solo: boolean;
}

/** The typed-array operations the batcher needs, common to every non-string `TensorData`. */
interface NumericData {
  readonly length: number;
  readonly [index: number]: unknown;
  set(source: ArrayLike<unknown>, offset?: number): void;
  slice(start?: number, end?: number): NumericData;
}

/**
 * Coalesces concurrent inference requests into batches for one model session.
 *
 * Outputs of a batch are split per request when their first dimension equals the batch's total rows;
 * every other output (a scalar, or a first dimension that is not the batch's) is not batched and each
 * request gets the whole tensor (the same data, to be treated as read-only). A batch of one request
 * hands `run`'s outputs back unchanged.
 *
 * Requests whose inputs cannot be batched — no inputs, an input without a first dimension, inputs
 * disagreeing on their first dimension, or repeated input names — are still accepted and run alone.
 */
export class MicroBatcher {
  private readonly runFn: (inputs: Tensor[]) => Promise<Tensor[]>;
  private readonly maxBatchSize: number;
  private readonly maxLatencyMs: number;
  private readonly adaptive: boolean;
  private readonly maxQueue: number;
  private readonly concurrency: number;
  private readonly onBatch: ((info: BatchInfo) => void) | undefined;

  private readonly groups = new Map<string, Group>();
  private readonly inFlight = new Set<Promise<void>>();
  private seq = 0;
  private queued = 0;
  private queuedRows = 0;
  private pumpScheduled = false;
  private closed = false;

  private readonly counters = { batches: 0, failedBatches: 0, requests: 0, rows: 0, rejectedQueueFull: 0, aborted: 0, waitedMsSum: 0, runMsSum: 0 };
  private readonly bucketBounds: number[];
  private readonly bucketCounts: number[];

  /** @throws CairnError INVALID_PARAMETER_VALUE for a non-integer or out-of-range size, latency, queue or concurrency. */
  constructor(opts: MicroBatcherOptions) {
    const positiveInt = (name: string, v: number): number => {
      if (!Number.isInteger(v) || v < 1) throw new CairnError("INVALID_PARAMETER_VALUE", `MicroBatcher ${name} must be an integer ≥ 1, got ${v}`);
      return v;
    };
    this.runFn = opts.run;
    this.maxBatchSize = positiveInt("maxBatchSize", opts.maxBatchSize);
    if (!Number.isFinite(opts.maxLatencyMs) || opts.maxLatencyMs < 0) {
      throw new CairnError("INVALID_PARAMETER_VALUE", `MicroBatcher maxLatencyMs must be a finite number ≥ 0, got ${opts.maxLatencyMs}`);
    }
    this.maxLatencyMs = opts.maxLatencyMs;
    this.adaptive = opts.adaptive ?? true;
    if (opts.maxQueue !== undefined && (!Number.isInteger(opts.maxQueue) || opts.maxQueue < 0)) {
      throw new CairnError("INVALID_PARAMETER_VALUE", `MicroBatcher maxQueue must be an integer ≥ 0, got ${opts.maxQueue}`);
    }
    this.maxQueue = opts.maxQueue ?? Infinity;
    this.concurrency = positiveInt("concurrency", opts.concurrency ?? 1);
    this.onBatch = opts.onBatch;

    const bounds: number[] = [];
    for (let b = 1; b < this.maxBatchSize; b *= 2) bounds.push(b);
    bounds.push(this.maxBatchSize, Infinity);
    this.bucketBounds = bounds;
    this.bucketCounts = bounds.map(() => 0);
  }

  /**
   * Queues one request and resolves with its own outputs once its batch has run.
   * Once its batch has started, the request runs to completion whatever its signal does.
   * @throws CairnError INVALID_PARAMETER_VALUE when a tensor's data length does not match its shape
   * @throws CairnError RESOURCE_EXHAUSTED when `maxQueue` requests are already waiting
   * @throws CairnError TEMPORARILY_UNAVAILABLE when the batcher is closed (or closes while it waits)
   * @throws DOMException AbortError when `signal` aborts before the request's batch starts
   * @throws whatever `run` throws for the request's batch
   */
  submit(inputs: Tensor[], signal?: AbortSignal): Promise<Tensor[]> {
    if (this.closed) return Promise.reject(closedError());
    if (signal?.aborted) return Promise.reject(abortError());
    for (const t of inputs) {
      if (t.data.length !== elementCount(t.shape)) {
        return Promise.reject(
          new CairnError("INVALID_PARAMETER_VALUE", `Input '${t.name}' has ${t.data.length} elements but shape [${t.shape.join(", ")}] needs ${elementCount(t.shape)}`),
        );
      }
    }
    if (this.queued >= this.maxQueue) {
      this.counters.rejectedQueueFull++;
      return Promise.reject(new CairnError("RESOURCE_EXHAUSTED", `Inference queue is full (${this.maxQueue} requests waiting)`));
    }

    const seq = this.seq++;
    const batchable = batchKey(inputs);
    const key = batchable?.key ?? `solo:${seq}`;
    const rows = batchable?.rows ?? (inputs[0]?.shape[0] ?? 0);

    return new Promise<Tensor[]>((resolve, reject) => {
      let group = this.groups.get(key);
      if (!group) {
        group = { key, entries: [], rows: 0, due: false, timer: undefined, solo: batchable === undefined };
        this.groups.set(key, group);
      }
      const entry: Pending = { seq, inputs, rows, enqueuedAt: performance.now(), group, resolve, reject, signal, onAbort: undefined };
      if (signal) {
        entry.onAbort = () => this.abortEntry(entry);
        signal.addEventListener("abort", entry.onAbort, { once: true });
      }
      group.entries.push(entry);
      group.rows += rows;
      this.queued++;
      this.queuedRows += rows;
      if (group.entries.length === 1) this.armTimer(group);
      this.schedulePump();
    });
  }

  /** A snapshot of the counters, for /metrics. */
  stats(): BatcherStats {
    let cumulative = 0;
    const batchSizeBuckets = this.bucketBounds.map((le, i) => {
      cumulative += this.bucketCounts[i] ?? 0;
      return { le, count: cumulative };
    });
    return { ...this.counters, queueDepth: this.queued, queuedRows: this.queuedRows, running: this.inFlight.size, batchSizeBuckets };
  }

  /**
   * Stops accepting requests, rejects every queued one with CairnError TEMPORARILY_UNAVAILABLE and
   * resolves once the running batches have settled. Safe to call more than once.
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const group of [...this.groups.values()]) {
      for (const entry of [...group.entries]) {
        this.removeEntry(entry);
        entry.reject(closedError());
      }
    }
    await Promise.allSettled([...this.inFlight]);
  }

  private armTimer(group: Group): void {
    const head = group.entries[0];
    if (!head || group.solo) return;
    const remaining = this.maxLatencyMs - (performance.now() - head.enqueuedAt);
    if (remaining <= 0) {
      group.due = true;
      return;
    }
    // The timer, not a clock comparison, marks the group due, so fake timers drive it faithfully;
    // rounded up because timers truncate fractional delays and would fire early.
    group.timer = setTimeout(() => {
      group.timer = undefined;
      group.due = true;
      this.schedulePump();
    }, Math.ceil(remaining));
  }

  private clearTimer(group: Group): void {
    if (group.timer !== undefined) clearTimeout(group.timer);
    group.timer = undefined;
    group.due = false;
  }

  private abortEntry(entry: Pending): void {
    if (!entry.group.entries.includes(entry)) return;
    this.removeEntry(entry);
    this.counters.aborted++;
    entry.reject(abortError());
  }

  /** Takes an entry out of the queue (abort or close) and keeps its group's state right. */
  private removeEntry(entry: Pending): void {
    const group = entry.group;
    const i = group.entries.indexOf(entry);
    if (i < 0) return;
    group.entries.splice(i, 1);
    group.rows -= entry.rows;
    this.queued--;
    this.queuedRows -= entry.rows;
    this.detachSignal(entry);
    if (group.entries.length === 0) {
      this.clearTimer(group);
      this.groups.delete(group.key);
    } else if (i === 0) {
      this.clearTimer(group);
      this.armTimer(group);
    }
  }

  private detachSignal(entry: Pending): void {
    if (entry.signal && entry.onAbort) entry.signal.removeEventListener("abort", entry.onAbort);
    entry.onAbort = undefined;
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    // A microtask costs no latency yet lets requests submitted in the same tick share a batch.
    queueMicrotask(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight.size < this.concurrency) {
      const group = this.nextGroup();
      if (!group) return;
      this.dispatch(this.take(group));
    }
  }

  /** The eligible group whose oldest request came first, if any. */
  private nextGroup(): Group | undefined {
    const idle = this.adaptive && this.inFlight.size === 0;
    let best: Group | undefined;
    for (const group of this.groups.values()) {
      const head = group.entries[0];
      if (!head) continue;
      const eligible = idle || group.solo || group.due || group.rows >= this.maxBatchSize;
      if (eligible && (!best || head.seq < (best.entries[0]?.seq ?? Infinity))) best = group;
    }
    return best;
  }

  /** Removes the oldest requests of a group that fit in one batch (at least one). */
  private take(group: Group): Pending[] {
    let rows = 0;
    let n = 0;
    for (const entry of group.entries) {
      if (n > 0 && rows + entry.rows > this.maxBatchSize) break;
      rows += entry.rows;
      n++;
    }
    const batch = group.entries.splice(0, n);
    group.rows -= rows;
    this.queued -= n;
    this.queuedRows -= rows;
    for (const entry of batch) this.detachSignal(entry);
    this.clearTimer(group);
    if (group.entries.length === 0) this.groups.delete(group.key);
    else this.armTimer(group);
    return batch;
  }

  private dispatch(batch: Pending[]): void {
    const done = this.execute(batch).finally(() => {
      this.inFlight.delete(done);
      this.schedulePump();
    });
    this.inFlight.add(done);
  }

  private async execute(batch: Pending[]): Promise<void> {
    const start = performance.now();
    // Requests within a group queue oldest first, so the first one waited longest.
    const waitedMs = start - batch[0]!.enqueuedAt;
    const size = batch.reduce((n, e) => n + e.rows, 0);
    this.counters.batches++;
    this.counters.requests += batch.length;
    this.counters.rows += size;
    this.counters.waitedMsSum += waitedMs;
    const bucket = this.bucketBounds.findIndex((le) => size <= le);
    this.bucketCounts[bucket]! += 1;

    let runMs = 0;
    let ok = false;
    try {
      const only = batch.length === 1 ? batch[0] : undefined;
      const outputs = await this.runFn(only ? only.inputs : concatInputs(batch));
      runMs = performance.now() - start;
      if (!Array.isArray(outputs)) throw new CairnError("INTERNAL_ERROR", "Model run did not return a list of output tensors");
      const perRequest = only ? [outputs] : splitOutputs(outputs, batch.map((e) => e.rows), size);
      ok = true;
      batch.forEach((entry, i) => entry.resolve(perRequest[i]!));
    } catch (err) {
      if (runMs === 0) runMs = performance.now() - start;
      this.counters.failedBatches++;
      for (const entry of batch) entry.reject(err);
    } finally {
      this.counters.runMsSum += runMs;
      if (this.onBatch) {
        try {
          this.onBatch({ size, requests: batch.length, waitedMs, runMs, ok });
        } catch {
          // A broken metrics hook must not fail requests that already have their answers.
        }
      }
    }
  }
}

/**
 * The grouping key (input names, datatypes, data kinds and trailing dims, independent of input order)
 * and the row count of a request, or undefined when the request cannot be batched with others.
 */
function batchKey(inputs: Tensor[]): { key: string; rows: number } | undefined {
  const first = inputs[0];
  if (!first || first.shape.length === 0) return undefined;
  const rows = first.shape[0]!;
  const parts: [string, string, string, number[]][] = [];
  const names = new Set<string>();
  for (const t of inputs) {
    if (t.shape.length === 0 || t.shape[0] !== rows || names.has(t.name)) return undefined;
    names.add(t.name);
    parts.push([t.name, t.datatype, dataKind(t.data), t.shape.slice(1)]);
  }
  parts.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return { key: JSON.stringify(parts), rows };
}

function dataKind(data: TensorData): string {
  return Array.isArray(data) ? "string" : data.constructor.name;
}

/** Concatenates the requests' inputs along dim 0, per input name, in the first request's input order. */
function concatInputs(batch: Pending[]): Tensor[] {
  const byName = batch.map((e) => new Map(e.inputs.map((t) => [t.name, t])));
  const total = batch.reduce((n, e) => n + e.rows, 0);
  return batch[0]!.inputs.map((proto) => {
    const parts = byName.map((m) => m.get(proto.name)!.data);
    return { name: proto.name, datatype: proto.datatype, shape: [total, ...proto.shape.slice(1)], data: concatData(parts) };
  });
}

function concatData(parts: TensorData[]): TensorData {
  const first = parts[0]!;
  if (Array.isArray(first)) return ([] as string[]).concat(...(parts as string[][]));
  const length = parts.reduce((n, p) => n + p.length, 0);
  const Ctor = first.constructor as new (length: number) => NumericData;
  const out = new Ctor(length);
  let offset = 0;
  for (const part of parts as NumericData[]) {
    out.set(part, offset);
    offset += part.length;
  }
  return out as unknown as TensorData;
}

/**
 * Splits a batch's outputs per request. Outputs whose first dim is the batch's total rows are sliced
 * along dim 0 (copies, so each response owns a compact buffer a codec can send as is and no response
 * pins the whole batch's memory); other outputs go whole to every request.
 */
function splitOutputs(outputs: Tensor[], rowsPerRequest: number[], total: number): Tensor[][] {
  const perRequest: Tensor[][] = rowsPerRequest.map(() => []);
  for (const out of outputs) {
    if (out.shape.length === 0 || out.shape[0] !== total) {
      for (const list of perRequest) list.push({ ...out, shape: [...out.shape] });
      continue;
    }
    if (out.data.length !== elementCount(out.shape)) {
      throw new CairnError("INTERNAL_ERROR", `Model output '${out.name}' has ${out.data.length} elements but shape [${out.shape.join(", ")}] needs ${elementCount(out.shape)}`);
    }
    const trailing = out.shape.slice(1);
    const rowElements = elementCount(trailing);
    const data = out.data as NumericData | string[];
    let row = 0;
    rowsPerRequest.forEach((rows, i) => {
      const slice = data.slice(row * rowElements, (row + rows) * rowElements) as TensorData;
      perRequest[i]!.push({ name: out.name, datatype: out.datatype, shape: [rows, ...trailing], data: slice });
      row += rows;
    });
  }
  return perRequest;
}

function abortError(): DOMException {
  return new DOMException("The request was aborted before its batch started", "AbortError");
}

function closedError(): CairnError {
  return new CairnError("TEMPORARILY_UNAVAILABLE", "The model's batcher is closed");
}
