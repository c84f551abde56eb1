import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import autocannon from "autocannon";
import { ApiClient } from "@cairn/sdk/core";
import { buildServer } from "../packages/server/src/server.js";
import { freePort, percentile, report, ROOT, startProcess, stopProcess, type Figure } from "./util.js";

const BATCH = 1000;
const SEARCH_RUNS = Number(process.env.BENCH_SEARCH_RUNS ?? 100_000);
const HISTORY_POINTS = Number(process.env.BENCH_HISTORY_POINTS ?? 1_000_000);
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 5);

function log(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

function batchRows(batchIndex: number): { key: string; value: number; timestamp: number; step: number }[] {
  const rows = [];
  const t = 1_700_000_000_000 + batchIndex;
  for (let i = 0; i < BATCH; i++) rows.push({ key: `m${i % 10}`, value: Math.sin(batchIndex * BATCH + i), timestamp: t, step: batchIndex * 100 + Math.floor(i / 10) });
  return rows;
}

/** Raw better-sqlite3: the same rows inserted with one prepared statement in one transaction. */
function rawSqliteRate(dir: string, batches: number): number {
  const db = new Database(path.join(dir, "raw.db"));
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.exec("CREATE TABLE metrics (run_id TEXT, key TEXT, value REAL, timestamp INTEGER, step INTEGER)");
  const ins = db.prepare("INSERT INTO metrics VALUES (?, ?, ?, ?, ?)");
  const all = Array.from({ length: batches }, (_, b) => batchRows(b)).flat();
  const t0 = performance.now();
  db.transaction(() => {
    for (const r of all) ins.run("run", r.key, r.value, r.timestamp, r.step);
  })();
  const s = (performance.now() - t0) / 1000;
  db.close();
  return all.length / s;
}

async function httpLogBatch(api: ApiClient, experimentId: string, clients: number, batchesPerClient: number): Promise<number> {
  const runs = await Promise.all(Array.from({ length: clients }, (_, i) => api.api.createRun({ body: { experimentId, runName: `batch-${clients}-${i}` } })));
  const bodies = Array.from({ length: batchesPerClient }, (_, b) => JSON.stringify({ metrics: batchRows(b) }));
  const t0 = performance.now();
  await Promise.all(
    runs.map(async ({ run }) => {
      const url = `${api.baseUrl}/api/v1/runs/${run.info.runId}/log`;
      for (const body of bodies) {
        const r = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body });
        if (!r.ok) throw new Error(`log-batch failed: ${r.status} ${await r.text()}`);
        await r.arrayBuffer();
      }
    }),
  );
  const s = (performance.now() - t0) / 1000;
  return (clients * batchesPerClient * BATCH) / s;
}

async function cannon(url: string, body: (i: number) => string): Promise<number> {
  let i = 0;
  const result = await autocannon({
    url,
    method: "POST",
    connections: 16,
    pipelining: 1,
    duration: DURATION_S,
    headers: { "content-type": "application/json" },
    requests: [{ setupRequest: (req: Record<string, unknown>) => ({ ...req, body: body(i++) }) }],
  });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`load test saw ${result.non2xx} non-2xx answers and ${result.errors} errors`);
  return result.requests.average;
}

async function timeIt(n: number, fn: () => Promise<void>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
  }
  return out.sort((a, b) => a - b);
}

/** Seeds the search and history data in-process through the tracking service. */
async function seed(dataDir: string): Promise<{ searchExperimentId: string; historyRunId: string; seedSeconds: Record<string, number> }> {
  const { tracking, closeStores } = await buildServer({ dataDir, logLevel: "silent" });
  const seedSeconds: Record<string, number> = {};
  try {
    const exp = await tracking.createExperiment({ name: "bench-search" });
    let t0 = performance.now();
    const optimizers = ["adam", "sgd", "rmsprop", "adagrad"];
    for (let i = 0; i < SEARCH_RUNS; i++) {
      const run = await tracking.createRun({ experimentId: exp.experimentId, runName: `run-${i}`, startTime: 1_700_000_000_000 + i });
      await tracking.logBatch(run.info.runId, {
        metrics: [
          { key: "accuracy", value: (i * 7919) % 10007 / 10007, timestamp: 1, step: 0 },
          { key: "loss", value: ((i * 104729) % 10009) / 10009, timestamp: 1, step: 0 },
        ],
        params: [
          { key: "optimizer", value: optimizers[i % 4]! },
          { key: "lr", value: String([0.1, 0.01, 0.001][i % 3]) },
        ],
        tags: [{ key: "team", value: i % 2 ? "a" : "b" }],
      });
      if (i % 20000 === 19999) log(`seeded ${i + 1} runs`);
    }
    seedSeconds.searchRuns = (performance.now() - t0) / 1000;

    const hexp = await tracking.createExperiment({ name: "bench-history" });
    const hrun = await tracking.createRun({ experimentId: hexp.experimentId, runName: "long-history" });
    t0 = performance.now();
    for (let b = 0; b < HISTORY_POINTS / BATCH; b++) {
      const metrics = [];
      for (let i = 0; i < BATCH; i++) {
        const step = b * BATCH + i;
        metrics.push({ key: "loss", value: 1 / (1 + step / 1000) + 0.01 * Math.sin(step), timestamp: 1_700_000_000_000 + step, step });
      }
      await tracking.logBatch(hrun.info.runId, { metrics });
    }
    seedSeconds.historyPoints = (performance.now() - t0) / 1000;
    log(`seeded ${HISTORY_POINTS} history points in ${seedSeconds.historyPoints.toFixed(1)} s`);
    return { searchExperimentId: exp.experimentId, historyRunId: hrun.info.runId, seedSeconds };
  } finally {
    await closeStores();
  }
}

export async function run({ json }: { json: boolean }): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-bench-"));
  const dataDir = path.join(tmp, "data");
  const figures: Figure[] = [];
  try {
    log("raw better-sqlite3 baseline");
    const raw = rawSqliteRate(tmp, 300);

    log(`seeding ${SEARCH_RUNS} runs and a ${HISTORY_POINTS}-point history`);
    const seeded = await seed(dataDir);

    if (!fs.existsSync(path.join(ROOT, "packages/server/dist/cli/main.js"))) throw new Error("build first: npm run build");
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const server = await startProcess(["packages/server/bin/cairn.js", "server", "--port", String(port), "--data-dir", dataDir, "--log-level", "warn"], url);
    const barePort = await freePort();
    const bareUrl = `http://127.0.0.1:${barePort}`;
    const bare = await startProcess(["--import", "tsx", "bench/bare-server.ts", String(barePort)], bareUrl);
    try {
      const api = new ApiClient({ url });
      const { experiment } = await api.api.createExperiment({ body: { name: `bench-${Date.now()}` } });

      log("log-batch over HTTP");
      await httpLogBatch(api, experiment.experimentId, 1, 20);
      const one = await httpLogBatch(api, experiment.experimentId, 1, 200);
      const four = await httpLogBatch(api, experiment.experimentId, 4, 75);
      const rawB = { name: "raw better-sqlite3, one transaction", value: raw, unit: "points/s" };
      figures.push({ name: "log-batch, 1000-point batches, 1 client", value: one, unit: "points/s", baseline: rawB, ratio: one / raw, target: ">= 40% of raw", pass: one / raw >= 0.4 });
      figures.push({ name: "log-batch, 1000-point batches, 4 clients", value: four, unit: "points/s", baseline: rawB, ratio: four / raw, target: ">= 40% of raw", pass: four / raw >= 0.4 });

      log("single log-metric requests");
      const { run: single } = await api.api.createRun({ body: { experimentId: experiment.experimentId, runName: "single" } });
      const logUrl = `${url}/api/v1/runs/${single.info.runId}/log`;
      const body = (i: number) => `{"metrics":[{"key":"m","value":${i % 1000},"timestamp":${1_700_000_000_000 + i},"step":${i}}]}`;
      await cannon(`${bareUrl}/bare`, body);
      const bareRate = await cannon(`${bareUrl}/bare`, body);
      const singleRate = await cannon(logUrl, body);
      figures.push({
        name: "single log-metric requests (audit on, the default)",
        value: singleRate,
        unit: "req/s",
        baseline: { name: "bare Fastify route, same body", value: bareRate, unit: "req/s" },
        ratio: singleRate / bareRate,
        target: ">= 40% of bare",
        pass: singleRate / bareRate >= 0.4,
      });
      // The same requests on a server with the audit log off (default is on: every request is recorded).
      const quietPort = await freePort();
      const quietUrl = `http://127.0.0.1:${quietPort}`;
      const quiet = await startProcess(["packages/server/bin/cairn.js", "server", "--port", String(quietPort), "--data-dir", path.join(tmp, "quiet"), "--log-level", "warn", "--no-audit"], quietUrl);
      try {
        const qapi = new ApiClient({ url: quietUrl });
        const { experiment: qexp } = await qapi.api.createExperiment({ body: { name: "quiet" } });
        const { run: qrun } = await qapi.api.createRun({ body: { experimentId: qexp.experimentId, runName: "single" } });
        const quietRate = await cannon(`${quietUrl}/api/v1/runs/${qrun.info.runId}/log`, body);
        figures.push({ name: "single log-metric requests, audit off (--no-audit)", value: quietRate, unit: "req/s", baseline: { name: "bare Fastify route, same body", value: bareRate, unit: "req/s" }, ratio: quietRate / bareRate, target: ">= 40% of bare", pass: quietRate / bareRate >= 0.4 });
      } finally {
        await stopProcess(quiet);
      }
      const mlflowUrl = `${url}/api/2.0/mlflow/runs/log-metric`;
      const mlflowRate = await cannon(mlflowUrl, (i) => `{"run_id":"${single.info.runId}","key":"m2","value":${i % 1000},"timestamp":${1_700_000_000_000 + i},"step":${i}}`);
      figures.push({ name: "single log-metric requests (MLflow route)", value: mlflowRate, unit: "req/s", baseline: { name: "bare Fastify route, same body", value: bareRate, unit: "req/s" }, ratio: mlflowRate / bareRate });

      log("runs/search");
      const searchBody = {
        experimentIds: [seeded.searchExperimentId],
        filter: "metrics.accuracy > 0.5 and params.optimizer = 'adam'",
        orderBy: ["metrics.accuracy DESC"],
        maxResults: 100,
      };
      const first = await api.api.searchRuns({ body: searchBody });
      if (first.runs.length !== 100) throw new Error(`search returned ${first.runs.length} runs`);
      await timeIt(5, async () => void (await api.api.searchRuns({ body: searchBody })));
      const lat = await timeIt(50, async () => void (await api.api.searchRuns({ body: searchBody })));
      figures.push({ name: `runs/search p50 (${SEARCH_RUNS} runs, metric+param filter, order by metric, 100 results)`, value: percentile(lat, 50), unit: "ms", target: "<= 50 ms", pass: percentile(lat, 50) <= 50 });
      figures.push({ name: "runs/search p95", value: percentile(lat, 95), unit: "ms" });

      log("metric history");
      const full = await timeIt(3, async () => {
        let token: string | undefined;
        let n = 0;
        do {
          const page = await api.api.getMetricHistory({ params: { id: seeded.historyRunId, key: "loss" }, query: { maxResults: 25000, ...(token ? { pageToken: token } : {}) } });
          n += page.metrics.length;
          token = page.nextPageToken;
        } while (token);
        if (n !== HISTORY_POINTS) throw new Error(`history returned ${n} points`);
      });
      figures.push({ name: `metric history, full fetch of ${HISTORY_POINTS} points (25k-point pages)`, value: percentile(full, 50), unit: "ms" });
      const ds = await timeIt(30, async () => {
        const s = await api.api.getDownsampledMetric({ params: { id: seeded.historyRunId, key: "loss" }, query: { buckets: 1000 } });
        if (s.totalPoints !== HISTORY_POINTS) throw new Error(`downsample saw ${s.totalPoints} points`);
      });
      figures.push({ name: "metric history, 1000-bucket downsampled fetch p50", value: percentile(ds, 50), unit: "ms", baseline: { name: "full fetch", value: percentile(full, 50), unit: "ms" }, target: "<= 50 ms", pass: percentile(ds, 50) <= 50 });
      const zoom = await timeIt(30, async () => {
        await api.api.getDownsampledMetric({ params: { id: seeded.historyRunId, key: "loss" }, query: { buckets: 1000, minStep: 123_457, maxStep: 456_789 } });
      });
      figures.push({ name: "metric history, zoomed range (333k steps) downsampled p50", value: percentile(zoom, 50), unit: "ms" });
    } finally {
      await stopProcess(server);
      await stopProcess(bare);
    }
    report("tracking", figures, { machine: `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`, seedSeconds: seeded.seedSeconds }, json);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
