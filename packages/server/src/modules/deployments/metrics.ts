import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { LATENCY_BUCKETS } from "../serving/metrics.js";
import type { ModelHost } from "../serving/model-host.js";
import type { DeploymentRuntime } from "./runtime.js";

type Labels = "deployment" | "version" | "arm";

/**
 * Prometheus metrics of the deployments this server runs (`GET /metrics`): requests by deployment,
 * version, arm and status; latency; and, read at scrape time, each arm's batcher (batches, rows,
 * queue depth), readiness, the inference log's logged, shed and pending records, and shadow copies dropped.
 */
export class DeploymentMetrics {
  readonly registry = new Registry();
  readonly #requests: Counter<Labels | "code">;
  readonly #latency: Histogram<Labels>;

  constructor(runtime: DeploymentRuntime) {
    const registers = [this.registry];
    this.#requests = new Counter({ name: "cairn_deployment_requests_total", help: "Inference requests answered, by deployment, version, arm and HTTP status", labelNames: ["deployment", "version", "arm", "code"], registers });
    this.#latency = new Histogram({ name: "cairn_deployment_request_duration_seconds", help: "Time from receiving an inference request to answering it", labelNames: ["deployment", "version", "arm"], buckets: LATENCY_BUCKETS, registers });
    const perArm = (name: string, help: string, read: (h: ModelHost) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ["deployment", "version", "arm"],
        registers,
        collect() {
          this.reset();
          for (const d of runtime.all()) for (const [arm, a] of d.arms) this.set({ deployment: d.name, version: a.host.current?.version ?? "", arm }, read(a.host));
        },
      });
    perArm("cairn_deployment_batch_queue_depth", "Requests waiting for a batch", (h) => h.batchStats()?.queueDepth ?? 0);
    perArm("cairn_deployment_batches", "Batches run by the arm's current version (a counter of its batcher)", (h) => h.batchStats()?.batches ?? 0);
    perArm("cairn_deployment_batch_rows", "Rows run in batches by the arm's current version (a counter of its batcher)", (h) => h.batchStats()?.rows ?? 0);
    perArm("cairn_deployment_ready", "1 when the arm serves its version, loaded and warmed", (h) => (h.current ? 1 : 0));
    for (const [name, help, key] of [
      ["cairn_deployment_log_records", "Predictions sent to the inference log (a counter of this process)", "logged"],
      ["cairn_deployment_log_shed", "Inference-log records dropped because the log could not keep up (a counter of this process)", "shed"],
      ["cairn_deployment_log_pending", "Inference-log records waiting to be sent", "pending"],
    ] as const) {
      new Gauge({
        name,
        help,
        labelNames: ["deployment"],
        registers,
        collect() {
          this.reset();
          for (const d of runtime.all()) this.set({ deployment: d.name }, d.log.stats()[key]);
        },
      });
    }
    new Gauge({
      name: "cairn_deployment_shadow_dropped",
      help: "Shadow copies dropped because the shadow was saturated (a counter of this process)",
      labelNames: ["deployment"],
      registers,
      collect() {
        this.reset();
        for (const d of runtime.all()) this.set({ deployment: d.name }, d.stats.shadowDropped);
      },
    });
  }

  /** Records one answered inference request. */
  observe(deployment: string, version: string, arm: string, code: number, seconds: number): void {
    this.#requests.inc({ deployment, version, arm, code: String(code) });
    this.#latency.observe({ deployment, version, arm }, seconds);
  }
}
