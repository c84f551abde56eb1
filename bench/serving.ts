import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import autocannon from "autocannon";
import Fastify from "fastify";
import * as ort from "onnxruntime-node";
import { Cairn } from "../packages/sdk/src/index.js";
import { startServer } from "../packages/server/src/server.js";
import { ModelHost } from "../packages/server/src/modules/serving/model-host.js";
import { buildServeApp } from "../packages/server/src/modules/serving/serve-app.js";
import { buildOnnxModel, onnxSignature } from "../examples/credit-risk/src/onnx-export.js";
import type { LogisticModel } from "../examples/credit-risk/src/logistic-regression.js";
import type { PreprocessingSpec } from "../examples/credit-risk/src/features.js";
import { report, type Figure } from "./util.js";

// Shorter for a quick look: BENCH_SERVING_SECONDS=2 npm run bench -- serving
const SECONDS = Number(process.env.BENCH_SERVING_SECONDS ?? 5);
/** The credit-risk model's width: 8 numeric columns and 16 one-hot ones. */
const D = 24;

function log(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

/** The credit-risk example's ONNX logistic regression (standardization, MatMul, Sigmoid, threshold) with fixed weights. */
function modelBytes(): Uint8Array {
  const w = Array.from({ length: D }, (_, i) => Math.sin(i + 1) / 2);
  const spec = { featureNames: w.map((_, i) => `f${i}`), offset: w.map((_, i) => i / 10), scale: w.map(() => 2) } as unknown as PreprocessingSpec;
  return buildOnnxModel({ weights: w, bias: -0.3 } as unknown as LogisticModel, spec, 0.5);
}

const row = () => Array.from({ length: D }, (_, i) => (i % 5) + 0.5);

async function load(url: string, body: string, connections: number): Promise<{ rps: number; p50: number; p99: number; errors: number }> {
  const r = await autocannon({ url, method: "POST", headers: { "content-type": "application/json" }, body, connections, duration: SECONDS, pipelining: 1 });
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.non2xx };
}

/**
 * `npm run bench -- serving`: the model server (`cairn serve`'s app) on the credit-risk ONNX model,
 * against a minimal Fastify route calling the same onnxruntime session directly, in the same run.
 */
export async function run({ json }: { json: boolean }): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-bench-serving-"));
  const figures: Figure[] = [];
  const closers: (() => Promise<unknown>)[] = [];
  try {
    const server = await startServer({ port: 0, dataDir: path.join(tmp, "data"), logLevel: "silent", audit: false });
    closers.push(() => server.close());
    const sdk = new Cairn({ url: server.url, handleExit: false });
    const file = path.join(tmp, "model.onnx");
    fs.writeFileSync(file, modelBytes());
    const r = await sdk.startRun({ experiment: "bench-serving" });
    await sdk.models.register("credit-risk", { runId: r.id, model: { onnx: file }, signature: onnxSignature(D) });
    await r.end();

    // Baseline: the same session, called straight from one route of the same framework.
    const session = await ort.InferenceSession.create(file, { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: "all" });
    const bare = Fastify({ logger: false });
    bare.post("/infer", async (req) => {
      const input = (req.body as { inputs: { shape: number[]; data: number[] }[] }).inputs[0]!;
      const out = await session.run({ features: new ort.Tensor("float32", Float32Array.from(input.data), input.shape) });
      const p = out.probability!;
      return { outputs: [{ name: "probability", shape: p.dims, data: Array.from(p.data as Float32Array) }] };
    });
    await bare.listen({ port: 0, host: "127.0.0.1" });
    closers.push(() => bare.close());
    const bareUrl = `http://127.0.0.1:${(bare.server.address() as { port: number }).port}/infer`;

    const serveOn = async (batching: boolean) => {
      const host = new ModelHost({ cairn: sdk, cacheDir: path.join(tmp, `cache-${batching}`), batching: batching ? { maxBatchSize: 64, maxLatencyMs: 2 } : { maxBatchSize: 0, maxLatencyMs: 0 } });
      await host.load("models:/credit-risk/1");
      const app = buildServeApp({ host });
      await app.listen({ port: 0, host: "127.0.0.1" });
      closers.push(async () => (await app.close(), await host.close()));
      return `http://127.0.0.1:${(app.server.address() as { port: number }).port}/v2/models/credit-risk/infer`;
    };
    const plainUrl = await serveOn(false);
    const batchedUrl = await serveOn(true);
    const body = JSON.stringify({ inputs: [{ name: "features", datatype: "FP32", shape: [1, D], data: row() }] });

    for (const conns of [1, 64]) {
      log(`single-row infer, ${conns} connection${conns === 1 ? "" : "s"}, ${SECONDS} s each: baseline, cairn serve (batching off), cairn serve (batching on)`);
      const base = await load(bareUrl, body, conns);
      const off = await load(plainUrl, body, conns);
      const on = await load(batchedUrl, body, conns);
      for (const [label, x] of [
        ["batching off", off],
        ["batching on (64 rows, 2 ms)", on],
      ] as const) {
        if (x.errors > 0) throw new Error(`${label}: ${x.errors} failed requests`);
        figures.push({
          name: `single-row infer, concurrency ${conns}, ${label}: requests/s (p50 ${x.p50} ms, p99 ${x.p99} ms)`,
          value: x.rps,
          unit: "req/s",
          baseline: { name: `a bare Fastify route on the same session (p50 ${base.p50} ms, p99 ${base.p99} ms)`, value: base.rps, unit: "req/s" },
          ...(label === "batching off" && conns === 1 ? { target: ">= 80% of baseline", pass: x.rps >= 0.8 * base.rps } : {}),
        });
      }
      if (conns === 64) figures.push({ name: "micro-batching gain at concurrency 64 (on / off throughput)", value: on.rps / off.rps, unit: "x" });
    }
    await session.release();
    report("serving", figures, { machine: `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`, seconds: SECONDS }, json);
  } finally {
    for (const c of closers.reverse()) await c().catch(() => {});
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
