import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { ModelHost } from "./model-host.js";
import type { InferenceLogBuffer } from "./log-buffer.js";

/** Latency buckets in seconds: sub-millisecond model calls up to slow, queued requests. */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * Prometheus metrics of a model server (`GET /metrics`, text format): requests by endpoint, model,
 * version and status code, their latency, and the batcher's batches, rows, batch sizes and queue.
 */
export class ServeMetrics {
  readonly registry = new Registry();
  readonly #requests: Counter<"endpoint" | "model" | "version" | "code">;
  readonly #latency: Histogram<"endpoint" | "model" | "version">;

  constructor(host: ModelHost, log?: InferenceLogBuffer) {
    const registers = [this.registry];
    this.#requests = new Counter({ name: "cairn_serve_requests_total", help: "Requests answered, by endpoint, model, version and HTTP status", labelNames: ["endpoint", "model", "version", "code"], registers });
    this.#latency = new Histogram({ name: "cairn_serve_request_duration_seconds", help: "Time from receiving a request to answering it", labelNames: ["endpoint", "model", "version"], buckets: LATENCY_BUCKETS, registers });
    const labels = () => ({ model: host.current?.name ?? "", version: host.current?.version ?? "" });
    // Batcher counters are read when scraped: the batcher keeps them, so none are counted twice.
    new Gauge({
      name: "cairn_serve_batch_queue_depth",
      help: "Requests waiting for a batch",
      labelNames: ["model", "version"],
      registers,
      collect() {
        this.set(labels(), host.batchStats()?.queueDepth ?? 0);
      },
    });
    new Gauge({
      name: "cairn_serve_batches",
      help: "Batches run by the current version (a counter of that version's batcher)",
      labelNames: ["model", "version"],
      registers,
      collect() {
        this.set(labels(), host.batchStats()?.batches ?? 0);
      },
    });
    new Gauge({
      name: "cairn_serve_batch_rows",
      help: "Rows run in batches by the current version (a counter of that version's batcher)",
      labelNames: ["model", "version"],
      registers,
      collect() {
        this.set(labels(), host.batchStats()?.rows ?? 0);
      },
    });
    for (const [name, help, key] of [
      ["cairn_serve_log_records", "Predictions sent to the inference log (a counter of this process)", "logged"],
      ["cairn_serve_log_shed", "Inference-log records dropped because the log could not keep up (a counter of this process)", "shed"],
      ["cairn_serve_log_pending", "Inference-log records waiting to be sent", "pending"],
    ] as const) {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(log?.stats()[key] ?? 0);
        },
      });
    }
    new Gauge({
      name: "cairn_serve_model_ready",
      help: "1 when a warmed-up version is serving",
      labelNames: ["model", "version"],
      registers,
      collect() {
        this.reset();
        this.set(labels(), host.current ? 1 : 0);
      },
    });
  }

  /** Records one answered request. */
  observe(endpoint: string, model: string, version: string, code: number, seconds: number): void {
    this.#requests.inc({ endpoint, model, version, code: String(code) });
    this.#latency.observe({ endpoint, model, version }, seconds);
  }
}
