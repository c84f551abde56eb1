/**
 * `cairn demo`: the whole model lifecycle on the embedded default (SQLite and a local folder), for
 * real, in a couple of minutes: version the data → train on a worker → register → promote through
 * the gate and an approval → deploy → production traffic with late labels → the world shifts →
 * monitoring detects drift and the performance drop and fires alerts → the alert retrains on fresh
 * data → the challenger is evaluated against the champion in shadow → promoted through the gate →
 * rolled out as a canary, then to 100%.
 *
 * Nothing is simulated inside Cairn: a real server with auth on (three users: a data scientist who
 * requests, a lead who approves, and a bot whose token the training steps use), a real pipeline
 * worker running the steps as processes, ONNX models served by onnxruntime, monitors on their
 * schedule, and a webhook receiver on loopback for the drift alert.
 */
import { createServer, type Server } from "node:http";
import { Readable } from "node:stream";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Cairn, type PerformanceResponse } from "@cairn/sdk";
import { PipelineWorker, pushPipeline, startServer, type RunningServer } from "@cairn/server";
import { formatCsv } from "../csv.js";
import { generateCreditData, toCells } from "../generate-data.js";
import { RAW_HEADER } from "../schema.js";
import { TrafficGenerator, type PhaseResult } from "./traffic.js";

type AlertEvent = Awaited<ReturnType<Cairn["monitoring"]["alerts"]>>[number];

const EXAMPLE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const MODEL = "credit-risk";
const DEPLOYMENT = "credit-risk";
const DATASET = "credit-raw";
const PIPELINE = "credit-risk-train";
const MONITOR = "production";
const ALIAS = "champion";

/** Options of `runDemo`. */
export interface DemoOptions {
  /** The server's data directory (SQLite database and artifacts); must be new or empty. */
  dataDir: string;
  /** Port to listen on (0: any free port). */
  port: number;
  /** Rows of each training dataset version (default 20,000). */
  rows?: number;
  /** Requests per second of production traffic (default 120). */
  rate?: number;
  /** Seconds of baseline traffic before the monitor is created (default 15). */
  baselineSeconds?: number;
  /** Lines of output (default: stdout). */
  print?: (line: string) => void;
  /** A live progress line (default: rewritten in place on a terminal, else nothing). */
  status?: (line: string) => void;
  /** Aborting stops the demo at the next wait: running steps are cancelled and the server closed. */
  signal?: AbortSignal;
}

/** What the demo did, stage by stage, for its summary and its test. */
export interface DemoResult {
  url: string;
  dataDir: string;
  tokens: { admin: string; maya: string; sam: string };
  seconds: number;
  stages: { stage: string; seconds: number }[];
  dataset: { name: string; versions: number[] };
  trainingRuns: { initial: string; retraining: string };
  versions: { champion: string; challenger: string };
  promotions: number[];
  alerts: { drift?: AlertEvent; performance?: AlertEvent };
  webhookCalls: number;
  evaluation: { champion: ArmMetrics; challenger: ArmMetrics };
  canarySplit: Record<string, number>;
  finalVersions: Record<string, number>;
}

/** Realized metrics of one version over the shadow evaluation. */
export interface ArmMetrics {
  version: string;
  n: number;
  rocAuc: number | null;
  accuracy: number | null;
  f1: number | null;
  logLoss: number | null;
}

/**
 * Runs the lifecycle and returns what it did with the server still running (the caller closes it).
 * @throws Error when a stage does not reach its outcome in time (say, the alert never fires); the
 *   server and worker are stopped first
 */
export async function runDemo(opts: DemoOptions): Promise<{ result: DemoResult; server: RunningServer; close(): Promise<void> }> {
  const print = opts.print ?? ((l: string) => process.stdout.write(`${l}\n`));
  const status = opts.status ?? (process.stdout.isTTY ? (l: string) => process.stdout.write(`\r\x1b[2K${l}`) : () => undefined);
  const endStatus = () => (process.stdout.isTTY && !opts.status ? process.stdout.write("\r\x1b[2K") : undefined);
  const rows = opts.rows ?? 20_000;
  const rate = opts.rate ?? 120;
  const started = Date.now();
  const stages: DemoResult["stages"] = [];
  let stageStart = started;
  let stageNo = 0;
  const stage = (title: string) => {
    stageNo++;
    stageStart = Date.now();
    print("");
    print(`[${stageNo}/10] ${title}  (${elapsed(started)})`);
    stages.push({ stage: title, seconds: 0 });
  };
  const done = (line: string) => {
    endStatus();
    const s = stages[stages.length - 1]!;
    s.seconds = (Date.now() - stageStart) / 1000;
    print(`      ${line}`);
  };
  const info = (line: string) => {
    endStatus();
    print(`      ${line}`);
  };

  // A loopback receiver for the drift alert's webhook: alerts may only call allow-listed hosts.
  let webhookCalls = 0;
  const hook: Server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      webhookCalls++;
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => hook.listen(0, "127.0.0.1", r));
  const hookPort = (hook.address() as { port: number }).port;

  print(`Cairn demo: the whole model lifecycle on the embedded default (SQLite + ${opts.dataDir})`);
  const closeHook = () => new Promise<void>((r) => hook.close(() => r()));
  const server = await startServer({
    port: opts.port,
    dataDir: opts.dataDir,
    auth: true,
    logLevel: "warn",
    monitorTickMs: 1000,
    deploymentSyncMs: 500,
    webhookAllowedHosts: [`127.0.0.1:${hookPort}`],
  }).catch(async (e: unknown) => {
    await closeHook();
    throw e;
  });
  const ac = new AbortController();
  opts.signal?.addEventListener("abort", () => ac.abort(), { once: true });
  let worker: Promise<void> | undefined;
  const workDir = join(EXAMPLE_ROOT, ".cairn", `demo-worker-${process.pid}`);
  const close = async () => {
    ac.abort();
    await worker?.catch(() => undefined);
    rmSync(workDir, { recursive: true, force: true });
    await closeHook();
    await server.close();
  };
  try {
    const url = server.url;
    const admin = new Cairn({ url, token: server.bootstrapToken!, handleExit: false });
    const tokenFor = async (user: string, role: "editor" | "approver") => {
      await admin.client.api.createUser({ body: { name: user } });
      await admin.client.api.setMember({ params: { project: "default", name: user }, body: { role } });
      return (await admin.client.api.createToken({ body: { user, name: "demo" } })).token;
    };
    const tokens = { admin: server.bootstrapToken!, maya: await tokenFor("maya", "editor"), sam: await tokenFor("sam", "approver") };
    const botToken = await tokenFor("training-bot", "editor");
    const maya = new Cairn({ url, token: tokens.maya, handleExit: false });
    const sam = new Cairn({ url, token: tokens.sam, handleExit: false });
    print(`      server ${url} with auth on: maya (data scientist, editor), sam (ML lead, approver), training-bot (the steps' token)`);

    // ---------------------------------------------------------------- 1. data
    stage("Version the training data");
    const v1 = await addDatasetVersion(maya, { rows, seed: 42, drift: 0, defaultRate: 0.15, message: "loan book 2026-H1 with outcomes" }, opts.dataDir);
    done(`${DATASET}@v${v1.number}: ${rows.toLocaleString("en-US")} borrowers with outcomes, digest ${v1.digest.slice(0, 12)}…, checked against the dataset's expectations`);

    // ---------------------------------------------------------------- 2. training pipeline
    stage("Run the training pipeline on a worker");
    await pushPipeline(maya, join(EXAMPLE_ROOT, "train.yaml"));
    info(`pushed ${PIPELINE} (train.yaml); a worker claims its steps from the server's queue`);
    const pw = new PipelineWorker({ cairn: admin, stepToken: botToken, workDir, signal: ac.signal, name: "demo-worker", log: () => undefined, claimWaitMs: 2000 });
    worker = pw.run();
    const first = (await maya.client.api.startPipelineRun({ params: { name: PIPELINE }, body: { trigger: { kind: "manual" } } })).run;
    const firstRun = await waitForRun(maya, first.id, status, ac.signal);
    if (firstRun.status !== "succeeded") throw new Error(`the training run ${first.id} ended ${firstRun.status}: ${firstRun.error ?? ""}`);
    const champion = await latestVersion(maya);
    const m1 = await metricsOf(maya, champion.runId);
    done(`run ${first.id} succeeded in ${secs(firstRun.endedAt! - firstRun.startedAt!)} (${firstRun.steps.map((s) => s.name).join(" → ")}); holdout ROC-AUC ${fmt(m1.holdout_roc_auc)}, CV ROC-AUC ${fmt(m1.cv_roc_auc_mean)}`);

    // ---------------------------------------------------------------- 3. register and promote
    stage("Register the model and promote it through the gate");
    await admin.models.promotions.setPolicy(MODEL, {
      protectedAliases: [ALIAS],
      gates: [{ kind: "metric", metric: "holdout_roc_auc", op: ">=", value: 0.75 }, { kind: "signature_compatible" }],
    });
    info(`registered ${MODEL} v${champion.version} (ONNX, signature ${signatureOf(champion)}); policy: '${ALIAS}' is protected, gates holdout_roc_auc >= 0.75 and a compatible signature`);
    const p1 = await maya.models.promotions.request(MODEL, { alias: ALIAS, version: champion.version, reason: `first model: holdout ROC-AUC ${fmt(m1.holdout_roc_auc)}` });
    const a1 = await sam.models.promotions.approve(p1.id, { comment: "gates pass; ship it" });
    done(`promotion #${p1.id} requested by maya, gates ${p1.gatesPassed ? "passed" : "FAILED"}, approved by sam → ${MODEL}@${ALIAS} = v${a1.version}`);

    // ---------------------------------------------------------------- 4. deploy
    stage("Deploy it");
    await maya.deployments.create({ name: DEPLOYMENT, model: MODEL, primary: { alias: ALIAS }, autoRollout: { canaryPercent: 30 }, description: "credit-default risk, following the champion" });
    const ready = await maya.deployments.waitUntilReady(DEPLOYMENT, { timeoutMs: 60_000 });
    done(`deployment ${DEPLOYMENT} ready (follows @${ALIAS}, v${ready.arms.find((a) => a.arm === "primary")?.version}; a new champion starts as a 30% canary); Open Inference Protocol at ${url}/deployments/${DEPLOYMENT}/v2`);

    // ---------------------------------------------------------------- 5. traffic
    stage("Serve production traffic; labels arrive 3 s late");
    const traffic = new TrafficGenerator({ cairn: maya, deployment: DEPLOYMENT, labelDelayMs: 3000, seed: 1000, prefix: "loan", signal: ac.signal });
    const baseline = await traffic.run({ drift: 0, rate, seconds: opts.baselineSeconds ?? 15, onProgress: (n) => status(`      baseline traffic: ${n} requests`) });
    assertTraffic(baseline, "baseline", ac.signal);
    await traffic.settle();
    await maya.monitoring.createMonitor(DEPLOYMENT, {
      name: MONITOR,
      windowSeconds: 10,
      intervalSeconds: 5,
      reference: { window: { from: baseline.from, to: baseline.to } },
      columnNames: { features: traffic.featureNames },
      performance: { task: "classification", output: "probability", positive: 1, threshold: 0.5 },
      rules: [
        { name: "data-drift", series: "drift.share", op: ">=", threshold: 0.25, forWindows: 2, cooldownSeconds: 3600, actions: [{ type: "webhook", url: `http://127.0.0.1:${hookPort}/cairn-alerts` }] },
        { name: "auc-drop", series: "performance.primary.rocAuc", op: "<", threshold: 0.75, forWindows: 2, cooldownSeconds: 3600, actions: [{ type: "pipeline", pipeline: PIPELINE }] },
      ],
    });
    done(`${baseline.sent} requests in ${secs(baseline.to - baseline.from)} (${rateOf(baseline)}/s), ${traffic.labels.posted} labels so far; monitor '${MONITOR}': 10 s windows every 5 s against this baseline, alerts on drift share >= 0.25 (webhook) and primary ROC-AUC < 0.75 (retrain)`);

    // ---------------------------------------------------------------- 6. the world shifts
    stage("The world shifts: younger, poorer borrowers, and risk works differently");
    const v2 = await addDatasetVersion(maya, { rows, seed: 4242, drift: 1, defaultRate: 0.2, message: "loan book 2026-H2 with outcomes (after the shift)" }, opts.dataDir);
    info(`fresh labelled data lands as ${DATASET}@v${v2.number} (what retraining will use)`);
    const alerts: DemoResult["alerts"] = {};
    const pollAlerts = async () => {
      for (const e of await maya.monitoring.alerts(DEPLOYMENT, { limit: 50 })) {
        // An event is recorded first and its actions once they have run: both rules here have actions, so wait for them.
        if (e.kind !== "fired" || e.actions.length === 0) continue;
        if (e.rule === "data-drift") alerts.drift ??= e;
        if (e.rule === "auc-drop") alerts.performance ??= e;
      }
    };
    const shiftStart = Date.now();
    let polling = Promise.resolve();
    let lastPoll = 0;
    const shifted = await traffic.run({
      drift: 1,
      rate,
      until: () => (alerts.performance !== undefined && alerts.drift !== undefined) || Date.now() - shiftStart > 120_000,
      onProgress: (n) => {
        status(`      shifted traffic: ${n} requests; waiting for the monitor's alerts (${Object.keys(alerts).join(", ") || "none yet"})`);
        if (Date.now() - lastPoll > 1000) {
          lastPoll = Date.now();
          polling = polling.then(pollAlerts).catch(() => undefined);
        }
      },
    });
    await polling;
    assertTraffic(shifted, "shifted", ac.signal);
    done(`${shifted.sent} shifted requests in ${secs(shifted.to - shifted.from)}`);

    // ---------------------------------------------------------------- 7. detect and alert
    stage("Detect the drift and the performance drop; fire the alerts");
    if (!alerts.drift || !alerts.performance) throw new Error(`the monitor did not fire both alerts within 120 s (fired: ${Object.keys(alerts).join(", ") || "none"})`);
    const report = await maya.monitoring.drift(DEPLOYMENT, { reference: { window: { from: baseline.from, to: baseline.to } }, current: { from: shiftStart, to: alerts.drift.time }, columnNames: { features: traffic.featureNames } });
    // How far past its threshold each column is: p-value tests drift below theirs, distances above.
    const severity = (c: (typeof report.columns)[number]) => (c.pValue !== undefined ? (c.threshold ?? 0.05) / Math.max(c.pValue, 1e-300) : (c.statistic ?? 0) / (c.threshold || 1));
    const top = report.columns.filter((c) => c.drifted).sort((a, b) => severity(b) - severity(a)).slice(0, 6);
    info(`'data-drift' fired at +${secs(alerts.drift.time - shiftStart)} (${alerts.drift.actions.map((a) => a.detail).join("; ")}): ${report.dataset.driftedColumns} of ${report.dataset.totalColumns} columns drifted, e.g.`);
    for (const c of top) info(`  ${c.column.padEnd(28)} ${(c.test ?? "").padEnd(10)} ${c.pValue !== undefined ? `p = ${c.pValue.toExponential(1)}` : `score ${fmt(c.statistic)}`}`);
    const before = await maya.monitoring.performance(DEPLOYMENT, { from: baseline.from, to: baseline.to, task: "classification", output: "probability", positive: "1" });
    const series = await maya.client.api.getMonitorSeries({ params: { name: DEPLOYMENT, monitor: MONITOR }, query: { series: "performance.primary.rocAuc" } });
    const aucAtAlert = series.points.filter((p) => p.time <= alerts.performance!.time && p.value !== null).at(-1)?.value ?? null;
    info(`'auc-drop' fired at +${secs(alerts.performance.time - shiftStart)}: primary ROC-AUC ${fmt(before.series.find((x) => x.arm === "primary")?.windows[0]?.classification?.rocAuc)} on the baseline → ${fmt(aucAtAlert)} in the last window (labels joined by request id)`);
    const retrainAction = alerts.performance.actions.find((a) => a.type === "pipeline");
    const retrainId = /started run (\S+)/.exec(retrainAction?.detail ?? "")?.[1];
    if (!retrainAction?.ok || !retrainId) throw new Error(`the alert did not start the retraining pipeline: ${retrainAction?.detail ?? "no pipeline action"}`);
    done(`the alert started retraining: run ${retrainId} of ${PIPELINE}`);

    // ---------------------------------------------------------------- 8. retrain
    stage("Retrain on the fresh data (started by the alert)");
    let retrainDone = false;
    const during = traffic.run({ drift: 1, rate: rate / 3, until: () => retrainDone });
    const retrained = await waitForRun(maya, retrainId, status, ac.signal).finally(() => (retrainDone = true));
    await during;
    if (ac.signal.aborted) throw new Error("interrupted during retraining");
    if (retrained.status !== "succeeded") throw new Error(`the retraining run ${retrainId} ended ${retrained.status}: ${retrained.error ?? ""}`);
    const challenger = await latestVersion(maya);
    if (challenger.version === champion.version) throw new Error("the retraining run registered no new version");
    const m2 = await metricsOf(maya, challenger.runId);
    done(`run ${retrainId} succeeded in ${secs(retrained.endedAt! - retrained.startedAt!)} on ${DATASET}@v${v2.number} (${retrained.steps.filter((s) => s.status === "cached").length} of ${retrained.steps.length} steps from the cache: the data changed); registered v${challenger.version}, holdout ROC-AUC ${fmt(m2.holdout_roc_auc)}`);

    // ---------------------------------------------------------------- 9. evaluate and promote
    stage("Evaluate the challenger against the champion in shadow; promote through the gate");
    await maya.deployments.update(DEPLOYMENT, { shadow: { version: challenger.version }, message: `shadow-evaluate v${challenger.version}` });
    await maya.deployments.waitUntilReady(DEPLOYMENT, { timeoutMs: 60_000 });
    const shadowPhase = await traffic.run({ drift: 1, rate, seconds: 12, onProgress: (n) => status(`      shadow evaluation: ${n} requests answered by v${champion.version}, copied to v${challenger.version}`) });
    assertTraffic(shadowPhase, "shadow evaluation", ac.signal);
    await traffic.drain();
    const perf = await maya.monitoring.performance(DEPLOYMENT, { from: shadowPhase.from, to: shadowPhase.to + 1, task: "classification", output: "probability", positive: "1" });
    const evaluation = { champion: armMetrics(perf, champion.version, "primary"), challenger: armMetrics(perf, challenger.version, "shadow") };
    info(`on the same ${evaluation.champion.n} labelled requests:  champion v${champion.version}  ROC-AUC ${fmt(evaluation.champion.rocAuc)}  accuracy ${fmt(evaluation.champion.accuracy)}  F1 ${fmt(evaluation.champion.f1)}  log loss ${fmt(evaluation.champion.logLoss)}`);
    info(`${" ".repeat(String(evaluation.champion.n).length + 31)}challenger v${challenger.version}  ROC-AUC ${fmt(evaluation.challenger.rocAuc)}  accuracy ${fmt(evaluation.challenger.accuracy)}  F1 ${fmt(evaluation.challenger.f1)}  log loss ${fmt(evaluation.challenger.logLoss)}`);
    await maya.deployments.update(DEPLOYMENT, { shadow: null, message: "shadow evaluation done" });
    const evalRun = await maya.attachRun(challenger.runId);
    evalRun.log({ metrics: { shadow_roc_auc: evaluation.challenger.rocAuc ?? NaN, shadow_champion_roc_auc: evaluation.champion.rocAuc ?? NaN, shadow_n: evaluation.challenger.n } });
    await evalRun.flush();
    const better = (evaluation.challenger.rocAuc ?? 0) > (evaluation.champion.rocAuc ?? 0);
    const p2 = await maya.models.promotions.request(MODEL, {
      alias: ALIAS,
      version: challenger.version,
      reason: `retrained after alert 'auc-drop'; in shadow on ${evaluation.challenger.n} labelled requests ROC-AUC ${fmt(evaluation.challenger.rocAuc)} vs champion v${champion.version} ${fmt(evaluation.champion.rocAuc)}`,
    });
    if (!better || !p2.gatesPassed) {
      await sam.models.promotions.reject(p2.id, better ? "gates failed" : "the challenger does not beat the champion in shadow");
      throw new Error(`the challenger v${challenger.version} was not promoted: ${better ? p2.gateResults.filter((g) => !g.passed).map((g) => g.message).join("; ") : "it does not beat the champion in shadow"}`);
    }
    const a2 = await sam.models.promotions.approve(p2.id, { comment: "better on live traffic; gates pass" });
    done(`promotion #${p2.id}: gates ${p2.gateResults.map((g) => `${g.passed ? "✓" : "✗"} ${g.message}`).join(", ")}; approved by sam → @${ALIAS} = v${a2.version}`);

    // ---------------------------------------------------------------- 10. roll out
    stage("Roll the deployment forward: canary, then 100%");
    const canaryUp = await waitFor(async () => {
      const d = await maya.deployments.get(DEPLOYMENT);
      return d.spec.canary && d.arms.find((a) => a.arm === "canary")?.version === challenger.version && d.state === "ready" ? d : undefined;
    }, 30_000, "the deployment to start the new champion as a canary", ac.signal);
    info(`the alias moved, so the deployment started v${challenger.version} as a ${canaryUp.spec.canary!.percent}% canary beside v${champion.version}`);
    const canaryPhase = await traffic.run({ drift: 1, rate, seconds: 6, onProgress: (n) => status(`      canary traffic: ${n} requests`) });
    assertTraffic(canaryPhase, "canary", ac.signal);
    info(`canary split over ${canaryPhase.sent} requests: ${Object.entries(canaryPhase.byArm).map(([k, v]) => `${k} ${((100 * v) / canaryPhase.sent).toFixed(1)}%`).join(", ")}`);
    await maya.deployments.promoteCanary(DEPLOYMENT, { message: "canary healthy" });
    await maya.deployments.waitUntilReady(DEPLOYMENT, { timeoutMs: 60_000 });
    const after = await traffic.run({ drift: 1, rate, seconds: 2 });
    assertTraffic(after, "after the rollout", ac.signal);
    await traffic.drain();
    done(`promoted: v${challenger.version} takes 100% (${Object.entries(after.byVersion).map(([k, v]) => `${k}: ${v}`).join(", ")} of the last ${after.sent} requests)`);

    const seconds = (Date.now() - started) / 1000;
    print("");
    print(`Done in ${seconds.toFixed(0)} s. Everything above is in the server, with lineage from ${DATASET}@v${v2.number} to deployment ${DEPLOYMENT}:`);
    const links: [string, string][] = [
      ["monitoring (drift, performance per arm, alerts)", `${url}/#/deployments/${DEPLOYMENT}/monitoring`],
      ["deployment (arms, traffic, history)", `${url}/#/deployments/${DEPLOYMENT}`],
      ["model versions, promotions and the gate", `${url}/#/models/${MODEL}`],
      ["pipeline runs (the alert's retraining)", `${url}/#/pipelines/runs/${retrainId}`],
      ["dataset versions and their diff", `${url}/#/datasets/${DATASET}`],
      ["lineage", `${url}/#/lineage?node=${encodeURIComponent(`deployment:${DEPLOYMENT}`)}`],
    ];
    for (const [what, link] of links) print(`  ${what.padEnd(50)} ${link}`);
    print(`  sign in to the UI with sam's token (approver): ${tokens.sam}`);
    return {
      server,
      close,
      result: {
        url,
        dataDir: opts.dataDir,
        tokens,
        seconds,
        stages,
        dataset: { name: DATASET, versions: [v1.number, v2.number] },
        trainingRuns: { initial: first.id, retraining: retrainId },
        versions: { champion: champion.version, challenger: challenger.version },
        promotions: [p1.id, p2.id],
        alerts,
        webhookCalls,
        evaluation,
        canarySplit: canaryPhase.byArm,
        finalVersions: after.byVersion,
      },
    };
  } catch (e) {
    endStatus();
    await close().catch(() => undefined);
    throw e;
  }
}

/** Generates one version of the raw table and uploads it as a new version of the dataset. */
async function addDatasetVersion(cairn: Cairn, d: { rows: number; seed: number; drift: number; defaultRate: number; message: string }, scratch: string) {
  const { created } = await cairn.datasets.getOrCreate(DATASET, { description: "Credit applications with their default outcome (synthetic, examples/credit-risk)" });
  if (created) {
    await cairn.datasets.setExpectations(DATASET, [
      { type: "not_null", column: "income" },
      { type: "range", column: "credit_score", min: 300, max: 850 },
      { type: "allowed_values", column: "default", values: [0, 1] },
      { type: "unique", columns: ["id"] },
    ]);
  }
  const csv = formatCsv(RAW_HEADER, toCells(generateCreditData({ rows: d.rows, seed: d.seed, drift: d.drift, defaultRate: d.defaultRate })));
  const file = join(scratch, "demo-upload", "raw.csv");
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, csv);
  const bytes = readFileSync(file);
  const up = await cairn.datasets.uploadVersion(DATASET, {
    entries: [{ path: "raw.csv", size: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex") }],
    readFile: () => Readable.from([bytes]),
    message: d.message,
    strict: true,
  });
  rmSync(dirname(file), { recursive: true, force: true });
  return up.version;
}

/** Polls a pipeline run until it ends (at most 10 minutes), showing its steps on the status line. */
async function waitForRun(cairn: Cairn, id: string, status: (l: string) => void, signal: AbortSignal) {
  return waitFor(async () => {
    const { run } = await cairn.client.api.getPipelineRun({ params: { id } });
    if (["succeeded", "failed", "cancelled"].includes(run.status)) return run;
    status(`      ${run.pipeline}: ${run.steps.map((s) => `${s.name} ${s.status}`).join(", ")}`);
    return undefined;
  }, 600_000, `pipeline run ${id} to end`, signal);
}

async function latestVersion(cairn: Cairn) {
  const page = await cairn.models.searchVersions({ filter: `name = '${MODEL}'`, orderBy: ["version_number DESC"], maxResults: 1 });
  const v = page.modelVersions[0];
  if (!v) throw new Error(`no version of ${MODEL} was registered`);
  return v;
}

async function metricsOf(cairn: Cairn, runId: string): Promise<Record<string, number>> {
  const run = await cairn.runs.get(runId);
  return Object.fromEntries(run.data.metrics.map((m) => [m.key, m.value]));
}

function armMetrics(perf: PerformanceResponse, version: string, arm: "primary" | "shadow"): ArmMetrics {
  const s = perf.series.find((x) => x.version === version && x.arm === arm);
  const w = s?.windows[0];
  const c = w?.classification;
  if (!w || !c) throw new Error(`no labelled ${arm} predictions of v${version} in the shadow evaluation`);
  return { version, n: w.n, rocAuc: c.rocAuc, accuracy: c.accuracy, f1: c.f1, logLoss: c.logLoss };
}

function signatureOf(v: { signature: { inputs: { name: string; shape?: (number | null)[] | null }[] } | null }): string {
  return v.signature ? v.signature.inputs.map((i) => `${i.name}[${(i.shape ?? []).map((d) => (d === null || d < 0 ? "N" : d)).join(",")}]`).join(", ") : "none";
}

function assertTraffic(p: PhaseResult, what: string, signal: AbortSignal): void {
  if (signal.aborted) throw new Error(`interrupted during the ${what} traffic`);
  if (p.sent === 0 || p.failed > p.sent * 0.01) throw new Error(`${what} traffic failed: ${p.failed} of ${p.sent + p.failed} requests (${p.firstError ?? "none answered"})`);
}

async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs: number, what: string, signal: AbortSignal): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (signal.aborted) throw new Error(`interrupted while waiting for ${what}`);
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(250);
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const elapsed = (since: number) => `${((Date.now() - since) / 1000).toFixed(0)} s`;
const fmt = (v: number | null | undefined) => (v === null || v === undefined || !Number.isFinite(v) ? "-" : v.toFixed(3));
const rateOf = (p: PhaseResult) => Math.round(p.sent / ((p.to - p.from) / 1000));
