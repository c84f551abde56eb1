import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import autocannon from "autocannon";
import Fastify from "fastify";
import * as ort from "onnxruntime-node";
import { Cairn } from "../packages/sdk/src/index.js";
import type { CreateDeploymentRequest, Deployment } from "../packages/contract/src/index.js";
import { startServer } from "../packages/server/src/server.js";
import { ModelHost } from "../packages/server/src/modules/serving/model-host.js";
import { buildServeApp } from "../packages/server/src/modules/serving/serve-app.js";
import { InferenceLogBuffer } from "../packages/server/src/modules/serving/log-buffer.js";
import { buildOnnxModel, onnxSignature } from "../examples/credit-risk/src/onnx-export.js";
import type { LogisticModel } from "../examples/credit-risk/src/logistic-regression.js";
import type { PreprocessingSpec } from "../examples/credit-risk/src/features.js";
import { buildMlpOnnx, MLP_INPUT, MLP_OUTPUT, mlpForward, mlpRow, mlpSignature, mlpWeights } from "./mlp-model.js";
import { freePort, percentile, report, ROOT, startProcess, stopProcess, type Figure } from "./util.js";

// Shorter for a quick look: BENCH_SERVING_SECONDS=3 npm run bench -- serving
/** Seconds of load per variant of each figure, split over ROUNDS interleaved rounds. */
const SECONDS = Number(process.env.BENCH_SERVING_SECONDS ?? 8);
const ROUNDS = Math.max(1, Number(process.env.BENCH_SERVING_ROUNDS ?? 4));
/** The batching model: 64 inputs → 3 Relu layers of 1,024 units (weights 64×1,024, 1,024×1,024, 1,024×1,024) → 1 score. */
const MLP = { inputs: 64, width: 1024, layers: 3 } as const;
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

interface Load {
  rps: number;
  /** 2xx answers. */
  ok: number;
  /** CPU time of this process (the servers in it and the load generator) per answer, µs. */
  cpuUs: number;
  p50: number;
  p99: number;
  errors: number;
}

/** One load of `seconds`; latencies are timed per response (autocannon's own histogram rounds to whole milliseconds). */
async function load(url: string, body: string, connections: number, seconds: number): Promise<Load> {
  const latencies: number[] = [];
  const inst = autocannon({ url, method: "POST", headers: { "content-type": "application/json" }, body, connections, duration: seconds, pipelining: 1 });
  inst.on("response", (_client: unknown, status: number, _bytes: number, ms: number) => {
    if (status >= 200 && status < 300) latencies.push(ms);
  });
  const cpu0 = process.cpuUsage();
  const r = await inst;
  const cpu = process.cpuUsage(cpu0);
  latencies.sort((a, b) => a - b);
  return { rps: r.requests.average, ok: r["2xx"], cpuUs: (cpu.user + cpu.system) / Math.max(1, r.requests.total), p50: percentile(latencies, 50), p99: percentile(latencies, 99), errors: r.errors + r.non2xx };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * Loads each URL for SECONDS in all, in ROUNDS interleaved rounds (the order rotating each round),
 * so that what else the machine does at the time falls on every variant alike. Requests/s is the
 * mean over the rounds; p50 and p99 are the median round's.
 */
async function compare(urls: string[], body: string, connections: number): Promise<Load[]> {
  const per = urls.map(() => [] as Load[]);
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < urls.length; k++) {
      const i = (k + round) % urls.length;
      per[i]!.push(await load(urls[i]!, body, connections, SECONDS / ROUNDS));
    }
  }
  return per.map((rs) => ({
    rps: rs.reduce((a, r) => a + r.rps, 0) / rs.length,
    ok: rs.reduce((a, r) => a + r.ok, 0),
    cpuUs: rs.reduce((a, r) => a + r.cpuUs * r.ok, 0) / Math.max(1, rs.reduce((a, r) => a + r.ok, 0)),
    p50: median(rs.map((r) => r.p50)),
    p99: median(rs.map((r) => r.p99)),
    errors: rs.reduce((a, r) => a + r.errors, 0),
  }));
}

function checked(label: string, x: Load): Load {
  if (x.errors > 0) throw new Error(`${label}: ${x.errors} failed requests`);
  return x;
}

const ms = (v: number) => (v >= 10 ? v.toFixed(0) : v.toFixed(2));
const lat = (x: Load) => `p50 ${ms(x.p50)} ms, p99 ${ms(x.p99)} ms`;

const BATCHING_ON = { maxBatchSize: 64, maxLatencyMs: 2 };
const BATCHING_OFF = { maxBatchSize: 0, maxLatencyMs: 0 };

/** `cairn serve`'s app on a registry model, with or without batching and an inference log; returns the infer URL. */
async function serveApp(...args: Parameters<typeof serveHost>): Promise<string> {
  return (await serveHost(...args)).url;
}

/** {@link serveApp}, also returning the model host (for its batching counters). */
async function serveHost(
  sdk: Cairn,
  cacheDir: string,
  closers: (() => Promise<unknown>)[],
  uri: string,
  batching: { maxBatchSize: number; maxLatencyMs: number },
  log?: InferenceLogBuffer,
): Promise<{ url: string; host: ModelHost }> {
  const host = new ModelHost({ cairn: sdk, cacheDir, batching });
  const m = await host.load(uri);
  const app = buildServeApp({ host, ...(log ? { log } : {}) });
  await app.listen({ port: 0, host: "127.0.0.1" });
  closers.push(async () => (await app.close(), await log?.close(), await host.close()));
  return { url: `http://127.0.0.1:${(app.server.address() as { port: number }).port}/v2/models/${m.name}/infer`, host };
}

/**
 * `npm run bench -- serving`: the model server (`cairn serve`'s app) on the credit-risk ONNX model,
 * against a minimal Fastify route calling the same onnxruntime session directly, in the same run;
 * micro-batching on a model where it helps; the inference log's overhead; canary and shadow
 * overhead of managed deployments.
 */
export async function run({ json }: { json: boolean }): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-bench-serving-"));
  const figures: Figure[] = [];
  const notes: string[] = [];
  const closers: (() => Promise<unknown>)[] = [];
  const t0 = performance.now();
  // The machine may be shared: its load when the run started and ended says how quiet it was.
  const load0 = os.loadavg()[0]!;
  try {
    const server = await startServer({ port: 0, dataDir: path.join(tmp, "data"), logLevel: "silent", audit: false });
    closers.push(() => server.close());
    const sdk = new Cairn({ url: server.url, handleExit: false });
    const file = path.join(tmp, "model.onnx");
    fs.writeFileSync(file, modelBytes());
    const r = await sdk.startRun({ experiment: "bench-serving" });
    await sdk.models.register("credit-risk", { runId: r.id, model: { onnx: file }, signature: onnxSignature(D) });
    await r.end();
    const cache = (label: string) => path.join(tmp, `cache-${label}`);

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

    const plainUrl = await serveApp(sdk, cache("plain"), closers, "models:/credit-risk/1", BATCHING_OFF);
    const batchedUrl = await serveApp(sdk, cache("batched"), closers, "models:/credit-risk/1", BATCHING_ON);
    const body = JSON.stringify({ inputs: [{ name: "features", datatype: "FP32", shape: [1, D], data: row() }] });

    for (const conns of [1, 64]) {
      log(`single-row infer, ${conns} connection${conns === 1 ? "" : "s"}, ${SECONDS} s each in ${ROUNDS} rounds: baseline, cairn serve (batching off), cairn serve (batching on)`);
      const [base, off, on] = (await compare([bareUrl, plainUrl, batchedUrl], body, conns)) as [Load, Load, Load];
      for (const [label, x] of [
        ["batching off", off],
        ["batching on (64 rows, 2 ms)", on],
      ] as const) {
        checked(label, x);
        figures.push({
          name: `single-row infer, concurrency ${conns}, ${label}: requests/s (${lat(x)}; CPU per request ${x.cpuUs.toFixed(0)} µs)`,
          value: x.rps,
          unit: "req/s",
          baseline: { name: `a bare Fastify route on the same session (${lat(base)}; ${base.cpuUs.toFixed(0)} µs)`, value: base.rps, unit: "req/s" },
          ratio: x.rps / base.rps,
          ...(label === "batching off" && conns === 1 ? { target: ">= 80% of baseline", pass: x.rps >= 0.8 * base.rps } : {}),
        });
      }
      if (conns === 64) figures.push({ name: "micro-batching gain at concurrency 64, credit-risk (on / off throughput)", value: on.rps / off.rps, unit: "x" });
    }
    await session.release();

    figures.push(...(await batchingModel(sdk, tmp, cache, closers)));
    figures.push(...(await inferenceLog(tmp, file, closers)));
    figures.push(...(await deployments(sdk, file, notes)));

    report("serving", figures, { machine: `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`, seconds: SECONDS, rounds: ROUNDS, wallSeconds: Math.round((performance.now() - t0) / 1000), loadAverage: `${load0.toFixed(2)} at the start, ${os.loadavg()[0]!.toFixed(2)} at the end (1 min)`, ...(notes.length ? { notes } : {}) }, json);
  } finally {
    for (const c of closers.reverse()) await c().catch(() => {});
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * Micro-batching on a model where a row is much cheaper in a batch than alone (see mlp-model.ts):
 * `cairn serve`'s app with batching off and on, 64 connections sending one row each. The model's
 * output is checked first against a float64 JavaScript forward pass, directly and through the server.
 */
async function batchingModel(sdk: Cairn, tmp: string, cache: (label: string) => string, closers: (() => Promise<unknown>)[]): Promise<Figure[]> {
  const m = mlpWeights(MLP.inputs, MLP.width, MLP.layers);
  const file = path.join(tmp, "mlp.onnx");
  fs.writeFileSync(file, buildMlpOnnx(m));
  const r = await sdk.startRun({ experiment: "bench-serving" });
  await sdk.models.register("bench-mlp", { runId: r.id, model: { onnx: file }, signature: mlpSignature(MLP.inputs) });
  await r.end();

  // The model is right: onnxruntime on a batch of 8 rows and the server on one row agree with the reference.
  const rows = Array.from({ length: 8 }, (_, i) => mlpRow(MLP.inputs, i));
  const expected = rows.map((x) => mlpForward(m, x));
  const session = await ort.InferenceSession.create(file, { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: "all" });
  const direct = (await session.run({ [MLP_INPUT]: new ort.Tensor("float32", Float32Array.from(rows.flat()), [rows.length, MLP.inputs]) }))[MLP_OUTPUT]!.data as Float32Array;
  // One row alone and in a batch of 64, to know what batching saves inside the model.
  const timeRun = async (n: number, iters: number) => {
    const t = new ort.Tensor("float32", Float32Array.from(Array.from({ length: n }, (_, i) => mlpRow(MLP.inputs, i)).flat()), [n, MLP.inputs]);
    for (let i = 0; i < 10; i++) await session.run({ [MLP_INPUT]: t });
    const start = performance.now();
    for (let i = 0; i < iters; i++) await session.run({ [MLP_INPUT]: t });
    return (performance.now() - start) / iters;
  };
  const run1 = await timeRun(1, 300);
  const run64 = await timeRun(64, 40);
  await session.release();

  const offUrl = await serveApp(sdk, cache("mlp-off"), closers, "models:/bench-mlp/1", BATCHING_OFF);
  const { url: onUrl, host: onHost } = await serveHost(sdk, cache("mlp-on"), closers, "models:/bench-mlp/1", BATCHING_ON);
  const res = await fetch(onUrl, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ inputs: [{ name: MLP_INPUT, datatype: "FP32", shape: [1, MLP.inputs], data: rows[3] }] }) });
  const served = ((await res.json()) as { outputs: { name: string; data: number[] }[] }).outputs.find((o) => o.name === MLP_OUTPUT)!.data[0]!;
  const maxDiff = Math.max(...expected.map((e, i) => Math.abs(e - direct[i]!)), Math.abs(expected[3]! - served));
  const scale = Math.max(...expected.map(Math.abs));
  if (!(maxDiff <= 1e-4 * Math.max(1, scale))) throw new Error(`the batching model's outputs differ from the reference by ${maxDiff} (scale ${scale})`);
  log(`batching model: ${MLP.inputs} inputs, ${MLP.layers} × ${MLP.width} Relu units; outputs match the JS reference (max |diff| ${maxDiff.toExponential(1)} on values up to ${scale.toFixed(2)}); onnxruntime: 1 row ${run1.toFixed(2)} ms, 64 rows ${run64.toFixed(2)} ms`);

  const body = JSON.stringify({ inputs: [{ name: MLP_INPUT, datatype: "FP32", shape: [1, MLP.inputs], data: rows[0] }] });
  log(`batching model, single-row infer, 64 connections, ${SECONDS} s each in ${ROUNDS} rounds: cairn serve batching off, batching on`);
  const b0 = onHost.batchStats()!;
  const [off, on] = (await compare([offUrl, onUrl], body, 64)) as [Load, Load];
  const b1 = onHost.batchStats()!;
  const rowsPerBatch = (b1.rows - b0.rows) / Math.max(1, b1.batches - b0.batches);
  const runMsPerBatch = (b1.runMsSum - b0.runMsSum) / Math.max(1, b1.batches - b0.batches);
  checked("batching model, batching off", off);
  checked("batching model, batching on", on);
  const gain = on.rps / off.rps;
  return [
    { name: `batching model (${MLP.inputs}→${MLP.layers}×${MLP.width}→1 MLP): onnxruntime run, 1 row`, value: run1, unit: "ms", baseline: { name: "64 rows in one run", value: run64, unit: "ms" } },
    {
      name: `batching model, concurrency 64, batching on (64 rows, 2 ms): requests/s (${lat(on)})`,
      value: on.rps,
      unit: "req/s",
      baseline: { name: `the same app, batching off (${lat(off)})`, value: off.rps, unit: "req/s" },
    },
    { name: `batching model, batching on: rows per batch, mean (a batch's run took ${runMsPerBatch.toFixed(2)} ms on average)`, value: rowsPerBatch, unit: "rows" },
    { name: "micro-batching gain at concurrency 64, batching model (on / off throughput)", value: gain, unit: "x", target: ">= 2x", pass: gain >= 2 },
  ];
}

/**
 * The inference log's overhead: `cairn serve`'s app (batching on, as `cairn serve` defaults) with an
 * InferenceLogBuffer sending to a Cairn server's inference-log API, wired as `cairn serve` wires it,
 * against the same app without a log. The Cairn server receiving the log runs in its own process
 * (as it would beside `cairn serve`), on SQLite, from source.
 */
async function inferenceLog(tmp: string, modelFile: string, closers: (() => Promise<unknown>)[]): Promise<Figure[]> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const cli = path.join(ROOT, "packages", "server", "src", "cli", "main.ts");
  log("inference log: starting a Cairn server process for the log (from source)");
  const child = await startProcess(["--conditions=@cairn/source", "--import", "tsx", cli, "server", "--port", String(port), "--data-dir", path.join(tmp, "log-server"), "--log-level", "error", "--no-audit"], url);
  closers.push(() => stopProcess(child));
  const sdk = new Cairn({ url, handleExit: false });
  const r = await sdk.startRun({ experiment: "bench-serving" });
  await sdk.models.register("credit-risk", { runId: r.id, model: { onnx: modelFile }, signature: onnxSignature(D) });
  await r.end();

  let sinkErrors = 0;
  let lastSinkError = "";
  const buffer = new InferenceLogBuffer({
    sink: async (records) => {
      try {
        await sdk.client.api.appendInferenceLog({ params: { name: "credit-risk" }, body: { records } });
      } catch (e) {
        sinkErrors += 1;
        lastSinkError = (e as Error).message;
        throw e;
      }
    },
  });
  // The same buffer with a sink that only serializes the batch as the client would, and sends nothing:
  // what building and encoding the records costs the model server, without the HTTP send.
  const localOnly = new InferenceLogBuffer({ sink: async (records) => void JSON.stringify({ records }) });
  const noLogUrl = await serveApp(sdk, path.join(tmp, "cache-nolog"), closers, "models:/credit-risk/1", BATCHING_ON);
  const logUrl = await serveApp(sdk, path.join(tmp, "cache-log"), closers, "models:/credit-risk/1", BATCHING_ON, buffer);
  const localUrl = await serveApp(sdk, path.join(tmp, "cache-log-local"), closers, "models:/credit-risk/1", BATCHING_ON, localOnly);
  const body = JSON.stringify({ inputs: [{ name: "features", datatype: "FP32", shape: [1, D], data: row() }] });

  const figures: Figure[] = [];
  let loggedTotal = 0;
  for (const conns of [1, 64]) {
    log(`inference log, single-row infer, ${conns} connection${conns === 1 ? "" : "s"}, ${SECONDS} s each in ${ROUNDS} rounds: log off, log on, log on without sending`);
    const before = buffer.stats();
    const [off, on, local] = (await compare([noLogUrl, logUrl, localUrl], body, conns)) as [Load, Load, Load];
    checked("log off", off);
    checked("log on", on);
    checked("log on, not sent", local);
    // Let the buffer drain before counting what it did with this figure's records.
    for (let i = 0; i < 100 && buffer.stats().pending > 0; i++) await buffer.flush();
    const after = buffer.stats();
    const logged = after.logged - before.logged;
    const shed = after.shed - before.shed;
    loggedTotal += logged;
    if (logged + shed + after.pending < on.ok) throw new Error(`inference log: ${on.ok} requests answered but only ${logged} logged, ${shed} shed, ${after.pending} pending`);
    const baseline = { name: `the same app, log off (${lat(off)})`, value: off.rps, unit: "req/s" };
    figures.push(
      { name: `inference log on, concurrency ${conns}: requests/s (${lat(on)})`, value: on.rps, unit: "req/s", baseline, ratio: on.rps / off.rps, target: "<= 10% overhead", pass: on.rps >= 0.9 * off.rps },
      { name: `inference log on, concurrency ${conns}: p99`, value: on.p99, unit: "ms", baseline: { name: "the same app, log off", value: off.p99, unit: "ms" }, ratio: on.p99 / off.p99, target: "<= 10% overhead", pass: on.p99 <= 1.1 * off.p99 },
      { name: `inference log on but not sent (records built, batches serialized), concurrency ${conns}: requests/s (${lat(local)})`, value: local.rps, unit: "req/s", baseline, ratio: local.rps / off.rps },
      {
        name: `inference log on, concurrency ${conns}: CPU of the serving process per request (not sent: ${local.cpuUs.toFixed(0)} µs; includes the load generator)`,
        value: on.cpuUs,
        unit: "µs",
        baseline: { name: "log off", value: off.cpuUs, unit: "µs" },
        ratio: on.cpuUs / off.cpuUs,
      },
      // The load generator counts answers within its timed windows; requests in flight when a window closes are logged too.
      { name: `inference log, concurrency ${conns}: records logged (${on.ok} answers counted + those in flight at ${ROUNDS} stops; shed ${shed}, pending ${after.pending}, failed sends ${after.failedSends - before.failedSends})`, value: logged, unit: "records" },
    );
  }
  await localOnly.close();
  if (sinkErrors > 0) log(`inference log: ${sinkErrors} failed sends, the last: ${lastSinkError}`);
  // The records are in the server's log, not only counted as sent.
  let stored = 0;
  let after: string | undefined;
  do {
    const page = await sdk.client.api.queryInferenceLog({ params: { name: "credit-risk" }, query: { limit: 10_000, deployment: "serve:credit-risk", ...(after ? { after } : {}) } });
    stored += page.records.length;
    after = page.next;
  } while (after);
  log(`inference log: the server holds ${stored} records; the buffer sent ${loggedTotal}`);
  if (stored !== loggedTotal) throw new Error(`inference log: the server holds ${stored} records but the buffer sent ${loggedTotal}`);
  return figures;
}

/**
 * Canary and shadow overhead: the credit-risk model deployed on the main server (in this process) as
 * primary only, primary + canary at 10%, and primary + shadow, the canary and the shadow being
 * another version of the same model (so the figures are what routing and mirroring cost, not a
 * slower model), each measured at concurrency 16 on the deployment's infer endpoint. The inference
 * log is off in those three (logSample 0) so that it does not blur them; a fourth deployment, primary
 * only with every request logged, gives the log's cost on the main server. Skipped with a note when
 * the server has no deployment routes yet.
 */
async function deployments(sdk: Cairn, modelFile: string, notes: string[]): Promise<Figure[]> {
  const api = sdk.client.api;
  const r = await sdk.startRun({ experiment: "bench-serving" });
  await sdk.models.register("credit-risk", { runId: r.id, model: { onnx: modelFile }, signature: onnxSignature(D) });
  await r.end();
  const common = { model: "credit-risk", primary: { version: "1" }, batching: { maxBatchSize: 32, maxLatencyMs: 2 }, logSample: 0 };
  const variants: { name: string; label: string; spec: Omit<CreateDeploymentRequest, "name"> }[] = [
    { name: "bench-primary", label: "primary only", spec: { ...common, canary: null, shadow: null } },
    { name: "bench-canary", label: "primary + canary at 10%", spec: { ...common, canary: { version: "2", percent: 10 }, shadow: null } },
    { name: "bench-shadow", label: "primary + shadow", spec: { ...common, canary: null, shadow: { version: "2" } } },
    { name: "bench-logged", label: "primary only, every request logged", spec: { ...common, canary: null, shadow: null, logSample: 1 } },
  ];
  try {
    for (const v of variants) await api.createDeployment({ body: { name: v.name, ...v.spec } });
  } catch (e) {
    const err = e as { code?: string; status?: number; message: string };
    if (err.code === "ENDPOINT_NOT_FOUND" || err.status === 404) {
      const note = `canary and shadow overhead: skipped, this server has no deployment routes yet (${err.message})`;
      log(note);
      notes.push(note);
      return [];
    }
    throw e;
  }
  try {
    const deadline = Date.now() + 60_000;
    for (const v of variants) {
      for (;;) {
        const d: Deployment = await api.getDeployment({ params: { name: v.name } });
        if (d.state === "ready") break;
        if (d.state === "failed" || Date.now() > deadline) throw new Error(`deployment ${v.name}: ${d.state}${d.error ? `: ${d.error}` : ""}`);
        await new Promise((res) => setTimeout(res, 100));
      }
    }
    const body = JSON.stringify({ inputs: [{ name: "features", datatype: "FP32", shape: [1, D], data: row() }] });
    const urlOf = (name: string) => `${sdk.client.baseUrl}/deployments/${name}/v2/models/credit-risk/infer`;
    log(`deployments, single-row infer, 16 connections, ${SECONDS} s each in ${ROUNDS} rounds: ${variants.map((v) => v.label).join(", ")}`);
    const started = Date.now();
    const results = await compare(variants.map((v) => urlOf(v.name)), body, 16);
    variants.forEach((v, i) => checked(v.label, results[i]!));
    const [base, canary, shadow, logged] = results as [Load, Load, Load, Load];

    // What the server says each arm served: the canary's share and the shadow's copies.
    const windowSeconds = Math.min(3600, Math.max(10, Math.ceil((Date.now() - started) / 1000) + 5));
    const stats = async (name: string) => api.getDeploymentStats({ params: { name }, query: { windowSeconds } });
    const armRequests = (st: Awaited<ReturnType<typeof stats>>, arm: string) => st.arms.filter((a) => a.arm === arm).reduce((n, a) => n + a.requests, 0);
    const cs = await stats("bench-canary");
    const ss = await stats("bench-shadow");
    const canaryShare = (100 * armRequests(cs, "canary")) / (armRequests(cs, "canary") + armRequests(cs, "primary"));

    const figures: Figure[] = [{ name: `deployment, primary only, concurrency 16: requests/s (${lat(base)})`, value: base.rps, unit: "req/s" }];
    for (const [label, x] of [
      ["primary + canary at 10%", canary],
      ["primary + shadow", shadow],
      ["primary only, every request logged (in-process inference log)", logged],
    ] as const) {
      figures.push(
        { name: `deployment, ${label}, concurrency 16: p99`, value: x.p99, unit: "ms", baseline: { name: `primary only`, value: base.p99, unit: "ms" }, ratio: x.p99 / base.p99 },
        { name: `deployment, ${label}, concurrency 16: requests/s (p50 ${ms(x.p50)} ms)`, value: x.rps, unit: "req/s", baseline: { name: `primary only (p50 ${ms(base.p50)} ms)`, value: base.rps, unit: "req/s" }, ratio: x.rps / base.rps },
      );
    }
    figures.push(
      { name: `deployment with canary at 10%: the canary's share of requests (server's stats)`, value: canaryShare, unit: "%" },
      { name: `deployment with shadow: copies the shadow ran of the primary's ${armRequests(ss, "primary")} requests (dropped ${ss.shadowDropped})`, value: armRequests(ss, "shadow"), unit: "copies" },
    );
    return figures;
  } finally {
    for (const v of variants) await api.deleteDeployment({ params: { name: v.name } }).catch(() => {});
  }
}
