import { spawn } from "node:child_process";
import { mulberry32 as rng } from "../packages/server/test/seeded.js";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { sql } from "kysely";
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import type { InferenceRecord } from "../packages/contract/src/index.js";
import { driftReport, type DriftColumn, type DriftReport } from "../packages/server/src/modules/monitoring/drift-report.js";
import { FeedbackService } from "../packages/server/src/modules/monitoring/feedback.js";
import { createFeedbackStore } from "../packages/server/src/modules/monitoring/store/feedback-store.js";
import { createInferenceLogStore } from "../packages/server/src/modules/serving/store/inference-log-store.js";
import { openDatabase } from "../packages/server/src/platform/db/database.js";
import { report, ROOT, type Figure } from "./util.js";

// Smaller for a quick look: BENCH_MONITORING_ROWS=100000 npm run bench -- monitoring
/** Rows of the reference and of the current sample (drift), and logged predictions (feedback). */
const ROWS = Math.max(1000, Number(process.env.BENCH_MONITORING_ROWS ?? 1_000_000));
const NUMERIC = 20;
/** Categories of the 5 categorical columns. */
const CATEGORIES = [3, 8, 15, 30, 50];
/** Inference log appends per call (as the log buffer flushes), and labels per feedback post (the API's limit). */
const APPEND_BATCH = 5000;
const POST_BATCH = 10_000;
/** The logged predictions span a day, measured in windows of an hour. */
const SPAN_MS = 24 * 3600 * 1000;
const WINDOW_S = 3600;

function log(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}


/** Standard normal draws (Box–Muller) from a uniform generator. */
function normal(u: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
}

/** How numeric column i is drawn: its family, and its shift in the current sample (0 for most). */
function numericSpec(i: number): { family: string; shift: number; round: number | null } {
  const family = ["normal", "uniform", "lognormal", "mixture"][i % 4]!;
  // A third of the columns move, by 0.05 to 0.5 of a unit; the others are drawn alike in both samples.
  const shift = i % 3 === 0 ? [0.05, 0.2, 0.5][(i / 3) % 3]! : 0;
  // The last four are rounded to 2 decimals (many ties, as prices or measurements are).
  return { family, shift, round: i >= NUMERIC - 4 ? 100 : null };
}

function numericColumn(i: number, n: number, current: boolean): Float64Array {
  const { family, shift, round } = numericSpec(i);
  const u = rng(1000 * i + (current ? 7 : 3));
  const z = normal(u);
  const s = current ? shift : 0;
  const out = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    let x: number;
    if (family === "normal") x = 10 + 2 * z() + 2 * s;
    else if (family === "uniform") x = u() * 5 + 5 * s;
    else if (family === "lognormal") x = Math.exp(1 + 0.75 * z() + s);
    else x = u() < 0.3 + s / 2 ? -3 + z() : 4 + 1.5 * z();
    out[j] = round ? Math.round(x * round) / round : x;
  }
  return out;
}

/** Category codes 0..k−1 with Zipf-like frequencies; columns 1 and 3 move frequency between categories in the current sample. */
function categoricalColumn(c: number, n: number, current: boolean): Int32Array {
  const k = CATEGORIES[c]!;
  const w = Array.from({ length: k }, (_, i) => 1 / (i + 1) ** 0.8);
  if (current && (c === 1 || c === 3)) [w[0], w[k - 1]] = [w[0]! * 0.8, w[k - 1]! * 1.5];
  const total = w.reduce((a, b) => a + b, 0);
  const cdf: number[] = [];
  let acc = 0;
  for (const x of w) cdf.push((acc += x / total));
  const u = rng(500 + 10 * c + (current ? 1 : 0));
  const out = new Int32Array(n);
  for (let j = 0; j < n; j++) {
    const r = u();
    let lo = 0;
    while (lo < k - 1 && cdf[lo]! <= r) lo++;
    out[j] = lo;
  }
  return out;
}

const catName = (c: number) => `c${c}`;
const numName = (i: number) => `x${String(i).padStart(2, "0")}`;
const catValue = (code: number) => `v${String(code).padStart(2, "0")}`;

/** Samples RSS (and whatever `extra` reads) every 50 ms while `fn` runs; the event loop is free while DuckDB works. */
async function sampled<T>(fn: () => Promise<T>): Promise<{ value: T; seconds: number; peakRssMiB: number }> {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 50);
  const t0 = performance.now();
  try {
    const value = await fn();
    const seconds = (performance.now() - t0) / 1000;
    peak = Math.max(peak, process.memoryUsage.rss());
    return { value, seconds, peakRssMiB: peak / 2 ** 20 };
  } finally {
    clearInterval(timer);
  }
}

const mib = (bytes: number) => bytes / 2 ** 20;
const rssMiB = () => mib(process.memoryUsage.rss());

async function duckMemoryMiB(conn: DuckDBConnection): Promise<number | null> {
  try {
    const r = (await conn.runAndReadAll("SELECT SUM(memory_usage_bytes)::DOUBLE AS b FROM duckdb_memory()")).getRowObjectsJS()[0];
    return r ? mib(Number(r.b)) : null;
  } catch {
    return null;
  }
}

interface ScipyOut {
  auto: { seconds: number; columns: Record<string, { statistic: number; pValue?: number }> };
  forced: { seconds: number; columns: Record<string, { statistic: number; pValue?: number }> };
  peakRssMiB: number;
  versions: Record<string, string>;
}

/** Runs the SciPy baseline on the files in `dir`; undefined (with the reason) when python3 or SciPy is missing. */
async function scipyBaseline(dir: string): Promise<{ out?: ScipyOut; why?: string }> {
  return new Promise((resolve) => {
    const child = spawn("python3", [path.join(ROOT, "bench", "monitoring_scipy.py"), dir], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", (e) => resolve({ why: `python3 could not be started (${e.message})` }));
    child.on("exit", (code) => {
      if (code !== 0) return resolve({ why: /No module named/.test(stderr) ? `SciPy/NumPy missing: ${stderr.trim().split("\n").pop()}` : `python3 exited with ${code}: ${stderr.trim().slice(-500)}` });
      try {
        resolve({ out: JSON.parse(stdout) as ScipyOut });
      } catch {
        resolve({ why: `unreadable output from python3: ${stdout.slice(0, 200)}` });
      }
    });
  });
}

/** Largest relative difference of the statistics (and largest absolute difference of the p-values) between Cairn and SciPy. */
function agreement(r: DriftReport, py: ScipyOut["auto"]): { maxRelStat: number; maxAbsP: number; verdictsDiffer: number; worst: string } {
  let maxRelStat = 0;
  let maxAbsP = 0;
  let worst = "";
  let verdictsDiffer = 0;
  for (const c of r.columns) {
    if ("noData" in c) continue;
    const p = py.columns[c.column];
    if (!p) continue;
    const rel = Math.abs(c.statistic - p.statistic) / Math.max(Math.abs(p.statistic), 1e-300);
    if (rel > maxRelStat) (maxRelStat = rel), (worst = `${c.column} (${c.test}: ${c.statistic} vs ${p.statistic})`);
    if (c.pValue !== undefined && p.pValue !== undefined) maxAbsP = Math.max(maxAbsP, Math.abs(c.pValue - p.pValue));
    const pyDrifted = p.pValue !== undefined ? p.pValue < c.threshold : p.statistic >= c.threshold;
    if (pyDrifted !== c.drifted) verdictsDiffer++;
  }
  return { maxRelStat, maxAbsP, verdictsDiffer, worst };
}

/**
 * `npm run bench -- monitoring`: a drift report over ROWS reference and ROWS current rows (20 numeric
 * and 5 categorical columns, in DuckDB) against SciPy + NumPy on the same data, with Evidently's
 * automatic tests and with KS and chi-square forced; and the feedback path over ROWS logged predictions
 * in SQLite (labels posted through FeedbackService, performance per hour) against one SQL join.
 */
export async function run({ json }: { json: boolean }): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-bench-monitoring-"));
  const figures: Figure[] = [];
  const notes: string[] = [];
  const extra: Record<string, unknown> = {};
  const t0 = performance.now();
  // The machine may be shared: its load when the run started and ended says how quiet it was.
  const load0 = os.loadavg()[0]!;
  try {
    // ---------------------------------------------------------------- drift
    log(`generating ${ROWS.toLocaleString("en-US")} + ${ROWS.toLocaleString("en-US")} rows of ${NUMERIC} numeric and ${CATEGORIES.length} categorical columns`);
    const tGen = performance.now();
    const numeric = Array.from({ length: NUMERIC }, (_, i) => ({ name: numName(i), ref: numericColumn(i, ROWS, false), cur: numericColumn(i, ROWS, true) }));
    const categorical = CATEGORIES.map((k, c) => ({ name: catName(c), k, ref: categoricalColumn(c, ROWS, false), cur: categoricalColumn(c, ROWS, true) }));
    const genSeconds = (performance.now() - tGen) / 1000;

    // The same columns as raw little-endian files for the SciPy baseline.
    const pyDir = path.join(tmp, "scipy");
    fs.mkdirSync(pyDir);
    const bytes = (a: Float64Array | Int32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    for (const c of numeric) fs.writeFileSync(path.join(pyDir, `ref_${c.name}.f64`), bytes(c.ref)), fs.writeFileSync(path.join(pyDir, `cur_${c.name}.f64`), bytes(c.cur));
    for (const c of categorical) fs.writeFileSync(path.join(pyDir, `ref_${c.name}.i32`), bytes(c.ref)), fs.writeFileSync(path.join(pyDir, `cur_${c.name}.i32`), bytes(c.cur));
    fs.writeFileSync(path.join(pyDir, "spec.json"), JSON.stringify({ numeric: numeric.map((c) => c.name), categorical: categorical.map((c) => ({ name: c.name, k: c.k })) }));

    // DuckDB tables (categories as text, as they would be in a dataset or the log), loaded with an appender.
    const db = await DuckDBInstance.create(":memory:");
    const conn = await db.connect();
    const threads = String((await conn.runAndReadAll("SELECT current_setting('threads') AS t")).getRowObjectsJS()[0]?.t);
    const tLoad = performance.now();
    const ddl = [...numeric.map((c) => `"${c.name}" DOUBLE`), ...categorical.map((c) => `"${c.name}" VARCHAR`)].join(", ");
    for (const side of ["ref", "cur"] as const) {
      await conn.run(`CREATE TABLE ${side} (${ddl})`);
      const app = await conn.createAppender(side);
      const nums = numeric.map((c) => c[side]);
      const cats = categorical.map((c) => c[side]);
      const labels = Array.from({ length: 50 }, (_, i) => catValue(i));
      for (let j = 0; j < ROWS; j++) {
        for (const a of nums) app.appendDouble(a[j]!);
        for (const a of cats) app.appendVarchar(labels[a[j]!]!);
        app.endRow();
      }
      app.closeSync();
    }
    const loadSeconds = (performance.now() - tLoad) / 1000;
    log(`generated in ${genSeconds.toFixed(1)} s, loaded into DuckDB in ${loadSeconds.toFixed(1)} s (setup, not timed)`);

    const auto: DriftColumn[] = [...numeric.map((c) => ({ name: c.name, kind: "numeric" as const })), ...categorical.map((c) => ({ name: c.name, kind: "categorical" as const }))];
    const forced: DriftColumn[] = [...numeric.map((c) => ({ name: c.name, kind: "numeric" as const, test: "ks" as const })), ...categorical.map((c) => ({ name: c.name, kind: "categorical" as const, test: "chisquare" as const }))];
    // The typed arrays are no longer needed: dropped (and collected when run with --expose-gc; otherwise
    // whenever V8 gets to it, so RSS before the report may still hold some of them).
    for (const c of [...numeric, ...categorical]) (c as { ref: unknown }).ref = null, ((c as { cur: unknown }).cur = null);
    (globalThis as { gc?: () => void }).gc?.();
    await new Promise((r) => setTimeout(r, 200));

    const duck0 = await duckMemoryMiB(conn);
    const rss0 = rssMiB();
    log("drift report, Evidently's automatic tests");
    const a = await sampled(() => driftReport(conn, "ref", "cur", auto));
    const duckA = await duckMemoryMiB(conn);
    log(`  ${a.seconds.toFixed(2)} s; forced KS / chi-square`);
    const f = await sampled(() => driftReport(conn, "ref", "cur", forced));
    const duckF = await duckMemoryMiB(conn);
    // Where the time goes: the 5 categorical columns alone (the rest is the 20 numeric ones).
    const catA = await sampled(() => driftReport(conn, "ref", "cur", auto.filter((c) => c.kind === "categorical")));
    const catF = await sampled(() => driftReport(conn, "ref", "cur", forced.filter((c) => c.kind === "categorical")));
    log(`  ${f.seconds.toFixed(2)} s (categorical alone ${catA.seconds.toFixed(2)} / ${catF.seconds.toFixed(2)} s); SciPy baseline`);
    conn.closeSync();

    const py = await scipyBaseline(pyDir);
    fs.rmSync(pyDir, { recursive: true, force: true });
    const rows = `${ROWS.toLocaleString("en-US")} vs ${ROWS.toLocaleString("en-US")} rows, ${NUMERIC} num + ${CATEGORIES.length} cat`;
    const driftFigure = (label: string, secs: number, base: number | undefined, baseName: string): Figure => ({
      name: `driftReport, ${label} (${rows})`,
      value: secs,
      unit: "s",
      ...(base !== undefined ? { baseline: { name: baseName, value: base, unit: "s" }, ratio: secs / base, target: "≤ SciPy", pass: secs <= base } : {}),
    });
    figures.push(driftFigure("Wasserstein + Jensen–Shannon (automatic)", a.seconds, py.out?.auto.seconds, "SciPy wasserstein_distance + jensenshannon"));
    figures.push(driftFigure("KS + chi-square (forced)", f.seconds, py.out?.forced.seconds, "SciPy ks_2samp + chi2_contingency"));
    if (!py.out) notes.push(`SciPy baseline skipped: ${py.why}`);
    const drifted = (r: DriftReport) => r.columns.filter((c) => "drifted" in c && c.drifted).map((c) => c.column);
    extra.drift = {
      rows: ROWS,
      duckdbThreads: threads,
      setup: { generateSeconds: +genSeconds.toFixed(2), duckdbLoadSeconds: +loadSeconds.toFixed(2) },
      memory: {
        rssBeforeMiB: +rss0.toFixed(0),
        peakRssAutoMiB: +a.peakRssMiB.toFixed(0),
        peakRssForcedMiB: +f.peakRssMiB.toFixed(0),
        duckdbMemoryMiB: { before: duck0 && +duck0.toFixed(0), afterAuto: duckA && +duckA.toFixed(0), afterForced: duckF && +duckF.toFixed(0) },
        scipyPeakRssMiB: py.out ? +py.out.peakRssMiB.toFixed(0) : null,
      },
      driftedAuto: drifted(a.value),
      driftedForced: drifted(f.value),
      datasetDriftAuto: a.value.dataset.datasetDrift,
      categoricalOnlySeconds: { auto: +catA.seconds.toFixed(2), forced: +catF.seconds.toFixed(2) },
      ...(py.out ? { scipy: py.out.versions, agreeAuto: agreement(a.value, py.out.auto), agreeForced: agreement(f.value, py.out.forced) } : {}),
    };

    // ---------------------------------------------------------------- feedback
    const fdb = await openDatabase(`sqlite://${path.join(tmp, "feedback.db")}`);
    try {
      const logStore = await createInferenceLogStore(fdb);
      const store = await createFeedbackStore(fdb);
      const svc = new FeedbackService({ store, deployment: async (name) => (name === "d" ? { model: "m" } : undefined) });
      const T0 = 1_700_000_000_000;
      const step = SPAN_MS / ROWS;
      // Each prediction's probability and a label drawn with that probability (a calibrated model).
      const u = rng(42);
      const proba = new Float64Array(ROWS);
      const truth = new Uint8Array(ROWS);
      for (let i = 0; i < ROWS; i++) {
        proba[i] = Math.round(u() * 1e6) / 1e6;
        truth[i] = u() < proba[i]! ? 1 : 0;
      }
      log(`appending ${ROWS.toLocaleString("en-US")} predictions to the inference log (SQLite), ${APPEND_BATCH} per append`);
      const tApp = performance.now();
      for (let i = 0; i < ROWS; i += APPEND_BATCH) {
        const recs: InferenceRecord[] = [];
        for (let j = i; j < Math.min(ROWS, i + APPEND_BATCH); j++) {
          recs.push({ requestId: `r${j}`, version: "1", deployment: "d", arm: "primary", inputs: [{ name: "x", datatype: "FP32", shape: [1, 4], data: [j % 7, 1, 2, 3] }], outputs: [{ name: "p", datatype: "FP64", shape: [1], data: [proba[j]!] }], latencyMs: 1, status: 200, time: Math.floor(T0 + j * step) } as InferenceRecord);
        }
        await logStore.append("m", recs);
      }
      const appendSeconds = (performance.now() - tApp) / 1000;
      log(`  ${appendSeconds.toFixed(1)} s (setup); posting labels, ${POST_BATCH} per post`);

      let unmatched = 0;
      const post = await sampled(async () => {
        for (let i = 0; i < ROWS; i += POST_BATCH) {
          const records = [];
          for (let j = i; j < Math.min(ROWS, i + POST_BATCH); j++) records.push({ requestId: `r${j}`, label: truth[j] === 1 });
          unmatched += (await svc.post("d", { records })).unmatched;
        }
      });
      log(`  ${post.seconds.toFixed(1)} s; performance over ${SPAN_MS / 1000 / WINDOW_S} windows of ${WINDOW_S} s`);
      const perf = await sampled(() => svc.performance("d", { from: T0, to: T0 + SPAN_MS, windowSeconds: WINDOW_S, threshold: 0.5 }));
      log(`  ${perf.seconds.toFixed(1)} s; the same joined rows read through the store's pages alone`);

      // Where performance() spends its time: the joined rows read as it reads them (the store's
      // joinedPage, 1,000 rows a page per window, FeedbackService's PAGE), without the metrics.
      const PAGE = 1000;
      const paged = await sampled(async () => {
        let rows = 0;
        for (let w = 0; w < SPAN_MS / 1000 / WINDOW_S; w++) {
          let after: { time: number; seq: number } | undefined;
          for (;;) {
            const page = await store.joinedPage({ model: "m", deployment: "d", from: T0 + w * WINDOW_S * 1000, to: T0 + (w + 1) * WINDOW_S * 1000, version: "1", arm: "primary", ...(after ? { after } : {}), limit: PAGE });
            rows += page.length;
            if (page.length < PAGE) break;
            after = { time: page[page.length - 1]!.time, seq: page[page.length - 1]!.seq };
          }
        }
        return rows;
      });
      log(`  ${paged.seconds.toFixed(1)} s for ${paged.value} rows; SQL baseline`);

      // Baseline: the same join and per-window accuracy in one SQL statement on the same database.
      const join = await sampled(async () =>
        (
          await sql<{ b: number; n: number; correct: number }>`
          select (il.time - cast(${T0} as integer)) / cast(${WINDOW_S * 1000} as integer) as b, count(*) as n,
                 sum(case when (json_extract(il.outputs, '$[0].data[0]') >= 0.5) = (f.label = 'true') then 1 else 0 end) as correct
          from il_records il
          join monitoring_feedback f on f.deployment = il.deployment and f.request_id = il.request_id and f.model = il.model
          where il.model = 'm' and il.deployment = 'd' and il.time >= ${T0} and il.time < ${T0 + SPAN_MS} and il.status >= 200 and il.status < 300
          group by 1 order by 1`.execute(fdb.kysely)
        ).rows,
      );
      const windows = perf.value.series[0]?.windows ?? [];
      const n = windows.reduce((s, w) => s + w.n, 0);
      const nSql = join.value.reduce((s, r) => s + Number(r.n), 0);
      let maxAccDiff = 0;
      for (const r of join.value) {
        const w = windows[Number(r.b)];
        // NaN (a window missing on one side) counts as a disagreement.
        const d = Math.abs((w?.classification?.accuracy ?? NaN) - Number(r.correct) / Number(r.n));
        maxAccDiff = Number.isNaN(d) ? Infinity : Math.max(maxAccDiff, d);
      }
      const accuracy = windows.reduce((s, w) => s + (w.classification?.accuracy ?? 0) * w.n, 0) / n;
      const accSql = join.value.reduce((s, r) => s + Number(r.correct), 0) / nSql;
      const meanOf = (k: "rocAuc" | "logLoss" | "f1") => windows.reduce((s, w) => s + (w.classification?.[k] ?? 0) * w.n, 0) / n;
      figures.push({ name: `labels posted through FeedbackService (${ROWS.toLocaleString("en-US")}, ${POST_BATCH.toLocaleString("en-US")} a post)`, value: ROWS / post.seconds, unit: "labels/s" });
      figures.push({
        name: `performance(): ${windows.length} windows of 1 h, classification metrics (n=${n.toLocaleString("en-US")})`,
        value: perf.seconds,
        unit: "s",
        baseline: { name: "one SQL join + per-window accuracy", value: join.seconds, unit: "s" },
        ratio: perf.seconds / join.seconds,
      });
      figures.push({
        name: `  of which: joined rows read in pages of 1,000 (store.joinedPage), no metrics (${paged.value.toLocaleString("en-US")} rows)`,
        value: paged.seconds,
        unit: "s",
        baseline: { name: "one SQL join + per-window accuracy", value: join.seconds, unit: "s" },
        ratio: paged.seconds / join.seconds,
      });
      extra.feedback = {
        predictions: ROWS,
        setup: { appendSeconds: +appendSeconds.toFixed(1), appendRowsPerSecond: Math.round(ROWS / appendSeconds) },
        postSeconds: +post.seconds.toFixed(2),
        unmatched,
        n,
        nSql,
        windows: windows.length,
        truncatedWindows: windows.filter((w) => w.truncated).length,
        accuracy: +accuracy.toFixed(6),
        accuracySql: +accSql.toFixed(6),
        maxWindowAccuracyDiff: maxAccDiff,
        meanRocAuc: +meanOf("rocAuc").toFixed(4),
        meanLogLoss: +meanOf("logLoss").toFixed(4),
        meanF1: +meanOf("f1").toFixed(4),
        peakRssPostMiB: +post.peakRssMiB.toFixed(0),
        peakRssPerformanceMiB: +perf.peakRssMiB.toFixed(0),
        pagedReadSeconds: +paged.seconds.toFixed(2),
        dbMiB: +mib(fs.statSync(path.join(tmp, "feedback.db")).size).toFixed(0),
      };
      if (n !== nSql || n !== ROWS || !(maxAccDiff <= 1e-12)) notes.push(`feedback: performance() and the SQL baseline DISAGREE (n ${n} vs ${nSql} of ${ROWS}, max window accuracy difference ${maxAccDiff})`);
    } finally {
      await fdb.close();
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  extra.machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? "?"}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
  extra.loadAverage = { start: +load0.toFixed(2), end: +os.loadavg()[0]!.toFixed(2) };
  extra.totalSeconds = +((performance.now() - t0) / 1000).toFixed(0);
  if (notes.length > 0) extra.notes = notes;
  report("monitoring", figures, extra, json);
}
