/**
 * Delayed ground truth over HTTP, on SQLite and on PostgreSQL: labels posted by request id to a
 * deployment, joined to its logged predictions (primary and shadow), corrected, refused when of the
 * wrong type; performance per version, arm and window for classification (probability and label
 * outputs) and regression; empty windows; and auth (write to post, read to query, in the model's project).
 * The models are JS modules, so every logged prediction and so every metric is known exactly.
 */
import fs from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cairn } from "@cairn/sdk";
import type { ServerConfig } from "../src/platform/config.js";
import { describePg, freshPgSchema } from "./pg.js";
import { http, tempDir, testServer, authAdmin, waitFor } from "./helpers.js";
import { pgTestDb, sqliteTestDb, type TestDb } from "./db.js";
import { mulberry32 as rng } from "./seeded.js";
import { createInferenceLogStore } from "../src/modules/serving/store/inference-log-store.js";
import { createFeedbackStore } from "../src/modules/monitoring/store/feedback-store.js";
import { FeedbackService } from "../src/modules/monitoring/feedback.js";

type Server = Awaited<ReturnType<typeof testServer>> & { drop?: () => Promise<void> };
type Start = (config?: Partial<ServerConfig>) => Promise<Server>;
type Headers = Record<string, string>;

const SIGNATURE = {
  inputs: [{ name: "x", dtype: "float32", shape: [-1, 1] }],
  outputs: [
    { name: "proba", dtype: "float32", shape: [-1, 2] },
    { name: "label", dtype: "int32", shape: [-1] },
  ],
};

/** A classifier: P(positive) = x (or 1 − x when `inverted`), as [P(neg), P(pos)], and the class at 0.5 as `label`. */
function jsModel(dir: string, inverted: boolean): string {
  fs.mkdirSync(dir, { recursive: true });
  const p = inverted ? "1 - v" : "v";
  fs.writeFileSync(
    path.join(dir, "index.mjs"),
    `export async function predict(inputs) {
  const x = Array.from(inputs.x.data, (v) => ${p});
  return {
    proba: { datatype: "FP32", shape: [x.length, 2], data: Float32Array.from(x.flatMap((q) => [1 - q, q])) },
    label: { datatype: "INT32", shape: [x.length], data: Int32Array.from(x, (q) => (q >= 0.5 ? 1 : 0)) },
  };
}
`,
  );
  return dir;
}

// Inputs (exact in float32) and their true classes; expected metrics computed with numpy/scipy.
const XS = [0.875, 0.125, 0.75, 0.375, 0.625, 0.5, 0.25, 1.0, 0.0, 0.5];
const YS = [true, false, true, true, false, true, false, true, false, false];

function feedbackApi(backend: string, start: Start): void {
  describe(`feedback API (${backend})`, () => {
    let s: Server;
    let tmp: { dir: string; cleanup(): void };
    let t0: number;
    const call = (method: string, url: string, body?: unknown, headers: Headers = {}) => http(s.url, method, url, body, headers);
    const deploy = async (body: unknown) => {
      const r = await call("POST", "/api/v1/deployments", body);
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      const name = (body as { name: string }).name;
      await waitFor(`${name} ready`, async () => (await call("GET", `/api/v1/deployments/${name}`)).body, (d: any) => d.state === "ready");
    };
    const infer = (name: string, id: string, x: number) => call("POST", `/deployments/${name}/v2/models/scorer/infer`, { id, inputs: [{ name: "x", datatype: "FP32", shape: [1, 1], data: [x] }] });
    const logged = (name: string, n: number) => waitFor(`${n} logged predictions of ${name}`, async () => (await call("GET", `/api/v1/models/scorer/inference-log?deployment=${name}`)).body.records as unknown[], (r) => r.length >= n);
    const perf = async (name: string, query: string) => {
      const r = await call("GET", `/api/v1/deployments/${name}/performance?from=${t0}&to=${Date.now() + 1000}&${query}`);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      return r.body;
    };

    beforeAll(async () => {
      tmp = tempDir("cairn-feedback-");
      s = await start({ deploymentSyncMs: 200, deployJsModels: true });
      const sdk = new Cairn({ url: s.url, handleExit: false });
      const run = await sdk.startRun({ experiment: "feedback" });
      for (const [i, inverted] of [false, true].entries()) {
        await sdk.models.register("scorer", { runId: run.id, artifactPath: `model-${i + 1}`, model: { jsModule: jsModel(path.join(tmp.dir, `m${i + 1}`), inverted) }, signature: SIGNATURE as never });
      }
      await run.end();
      t0 = Date.now() - 1;
      // Version 1 answers; version 2 (the inverse) shadows it: both are logged under each request id.
      await deploy({ name: "fraud", model: "scorer", primary: { version: 1 }, shadow: { version: 2 } });
      for (const [i, x] of XS.entries()) expect((await infer("fraud", `r${i}`, x)).status).toBe(200);
      await logged("fraud", 2 * XS.length);
    });
    afterAll(async () => {
      await s?.stop();
      await s?.drop?.();
      tmp?.cleanup();
    });

    it("stores labels by request id, counts the unmatched, and replaces a label posted again", async () => {
      // r0's first label is wrong; a label for a request not logged (yet) is stored and reported.
      const first = await call("POST", "/api/v1/deployments/fraud/feedback", { records: [...YS.map((label, i) => ({ requestId: `r${i}`, label: i === 0 ? !label : label })), { requestId: "late", label: true, time: 5 }] });
      expect([first.status, first.body]).toEqual([200, { accepted: 11, updated: 0, unmatched: 1 }]);
      const fix = await call("POST", "/api/v1/deployments/fraud/feedback", { records: [{ requestId: "r0", label: true }] });
      expect(fix.body).toEqual({ accepted: 0, updated: 1, unmatched: 0 });
      // The same request twice in a post: the last label counts once.
      expect((await call("POST", "/api/v1/deployments/fraud/feedback", { records: [{ requestId: "late", label: false }, { requestId: "late", label: true }] })).body).toEqual({ accepted: 0, updated: 1, unmatched: 1 });
    });

    it("refuses labels of the wrong type, non-finite numbers, bad sizes and unknown deployments", async () => {
      const bad = async (url: string, body: unknown, status: number, code: string) => {
        const r = await call("POST", url, body);
        expect([r.status, r.body.error_code ?? r.body.code], JSON.stringify(r.body)).toEqual([status, code]);
        return String(r.body.message ?? r.body.error);
      };
      const url = "/api/v1/deployments/fraud/feedback";
      expect(await bad(url, { records: [{ requestId: "r1", label: false }, { requestId: "r2", label: 1 }] }, 400, "INVALID_PARAMETER_VALUE")).toMatch(/records\[1\].*'r2'.*number.*boolean/);
      expect(await bad(url, { records: [{ requestId: "r1", label: "yes" }] }, 400, "INVALID_PARAMETER_VALUE")).toMatch(/records\[0\]/);
      // A Python client's bare NaN token (the body parser makes it the string "NaN"): refused, naming the record.
      expect(await bad(url, '{"records":[{"requestId":"r1","label":true},{"requestId":"r2","label":NaN}]}', 400, "INVALID_PARAMETER_VALUE")).toMatch(/records\[1\].*'r2'.*finite/);
      expect(await bad(url, '{"records":[{"requestId":"r1","label":-Infinity}]}', 400, "INVALID_PARAMETER_VALUE")).toMatch(/records\[0\].*finite/);
      await bad(url, { records: [] }, 400, "INVALID_PARAMETER_VALUE");
      await bad(url, { records: Array.from({ length: 10_001 }, (_, i) => ({ requestId: `x${i}`, label: true })) }, 400, "INVALID_PARAMETER_VALUE");
      await bad(url, { records: [{ requestId: "", label: true }] }, 400, "INVALID_PARAMETER_VALUE");
      await bad("/api/v1/deployments/nope/feedback", { records: [{ requestId: "r1", label: true }] }, 404, "RESOURCE_DOES_NOT_EXIST");
      expect((await call("GET", "/api/v1/deployments/nope/performance")).status).toBe(404);
      // Nothing of the refused posts was written: r1 still has its label (false), so the metrics below hold.
    });

    it("reports classification metrics per version and arm from the probability output, shadow included", async () => {
      const body = await perf("fraud", "");
      expect(body).toMatchObject({ deployment: "fraud", model: "scorer", task: "classification", labelType: "boolean", positive: "true", threshold: 0.5 });
      expect(body.series.map((x: any) => [x.version, x.arm, x.windows.length])).toEqual([["1", "primary", 1], ["2", "shadow", 1]]);
      const [primary, shadow] = body.series.map((x: any) => x.windows[0]);
      expect(primary).toMatchObject({ n: 10, skipped: 0, truncated: false });
      const c = primary.classification;
      expect(c.accuracy).toBeCloseTo(0.7, 14);
      expect(c.precision).toBeCloseTo(0.6666666666666666, 14);
      expect(c.recall).toBeCloseTo(0.8, 14);
      expect(c.f1).toBeCloseTo(0.7272727272727273, 14);
      expect(c.rocAuc).toBeCloseTo(0.86, 14);
      expect(c.logLoss).toBeCloseTo(0.4190379797295952, 12);
      expect(c.calibration.map((b: any) => b.count)).toEqual([1, 1, 1, 1, 0, 2, 1, 1, 1, 1]);
      expect(c.calibration[4]).toEqual({ lower: 0.4, upper: 0.5, count: 0, meanPredicted: null, observedRate: null });
      expect(c.calibration[5]).toMatchObject({ count: 2, meanPredicted: 0.5, observedRate: 0.5 });
      // Beside them, the label-free estimate over the same 10 predictions, calibrated on their labels.
      expect(primary.estimated).toMatchObject({ n: 10, truncated: false, calibrated: true });
      expect(body.series[0].estimationReference).toEqual({ from: body.from, to: body.to, n: 10 });
      // The shadow answers the inverse: its figures against the same labels.
      expect(shadow.n).toBe(10);
      expect(shadow.classification.rocAuc).toBeCloseTo(0.14, 14);
      expect(shadow.classification.accuracy).toBeCloseTo(0.3, 14);
      expect(shadow.classification.logLoss).toBeCloseTo(7.833612581246237, 12);
      // Another threshold and positive class.
      const strict = (await perf("fraud", "threshold=0.9")).series[0].windows[0].classification;
      expect([strict.precision, strict.recall]).toEqual([1, 0.2]);
      const negative = (await perf("fraud", "positive=false")).series[0].windows[0].classification;
      expect(negative.rocAuc).toBeCloseTo(0.14, 14);
    });

    it("reads a label output by name (no scores), and splits into windows: empty ones have n = 0 and null metrics", async () => {
      const byLabel = (await perf("fraud", "output=label")).series[0].windows[0];
      expect(byLabel.n).toBe(10);
      expect(byLabel.classification).toMatchObject({ rocAuc: null, logLoss: null, calibration: null });
      expect(byLabel.classification.accuracy).toBeCloseTo(0.7, 14);
      expect(byLabel.classification.recall).toBeCloseTo(0.8, 14);
      // An unknown output name: every prediction is skipped.
      expect((await perf("fraud", "output=nope")).series[0].windows[0]).toMatchObject({ n: 0, skipped: 10, classification: { accuracy: null, rocAuc: null, calibration: null } });

      const from = t0 - 3_600_000;
      const r = await call("GET", `/api/v1/deployments/fraud/performance?from=${from}&to=${Date.now() + 1000}&windowSeconds=600`);
      expect(r.status).toBe(200);
      const windows = r.body.series[0].windows;
      expect(windows.length).toBeGreaterThanOrEqual(7);
      expect(windows[0]).toEqual({
        start: from,
        end: from + 600_000,
        n: 0,
        skipped: 0,
        truncated: false,
        classification: { accuracy: null, precision: null, recall: null, f1: null, rocAuc: null, logLoss: null, calibration: null },
        estimated: { n: 0, truncated: false, calibrated: true, accuracy: null, precision: null, recall: null, f1: null, rocAuc: null },
      });
      expect(windows.reduce((sum: number, w: any) => sum + w.n, 0)).toBe(10);
      expect(JSON.stringify(r.body)).not.toMatch(/NaN/);

      const bad = async (q: string) => (await call("GET", `/api/v1/deployments/fraud/performance?${q}`)).status;
      expect(await bad("task=regression")).toBe(400);
      expect(await bad("positive=maybe")).toBe(400);
      expect(await bad("from=10&to=5")).toBe(400);
      expect(await bad("from=0&to=100000000&windowSeconds=1")).toBe(400);
      expect(await bad("threshold=2")).toBe(400);
    });

    it("reports regression metrics for number labels", async () => {
      await deploy({ name: "price", model: "scorer", primary: { version: 1 } });
      // The label output (1, 0, 1, 0) against number labels.
      for (const [i, x] of [0.875, 0.125, 0.75, 0.25].entries()) expect((await infer("price", `p${i}`, x)).status).toBe(200);
      await logged("price", 4);
      expect((await call("POST", "/api/v1/deployments/price/feedback", { records: [1.5, 0, 0.5, -1].map((label, i) => ({ requestId: `p${i}`, label })) })).body).toEqual({ accepted: 4, updated: 0, unmatched: 0 });
      // The request ids of another deployment do not join.
      expect((await call("POST", "/api/v1/deployments/price/feedback", { records: [{ requestId: "r1", label: 2 }] })).body).toEqual({ accepted: 1, updated: 0, unmatched: 1 });
      const body = await perf("price", "output=label");
      expect([body.task, body.labelType, body.positive]).toEqual(["regression", "number", null]);
      const w = body.series[0].windows[0];
      expect([w.n, w.skipped]).toEqual([4, 0]);
      expect(w.regression.mae).toBeCloseTo(0.5, 14);
      expect(w.regression.rmse).toBeCloseTo(0.6123724356957945, 14);
      expect(w.regression.r2).toBeCloseTo(0.5384615384615384, 14);
      // The default output has two values a row: not a regression prediction.
      expect((await perf("price", "")).series[0].windows[0]).toMatchObject({ n: 0, skipped: 4, regression: { mae: null, rmse: null, r2: null } });
      // Number labels as classes: positive 1 by default.
      const cls = (await perf("price", "task=classification&output=label&positive=0")).series[0].windows[0];
      expect([cls.n, cls.classification.accuracy]).toEqual([4, 0.25]);
    });

    it("estimates performance without labels (CBPE): exact on a hand-computed case, raw scores before any label, calibrated on a reference window after", async () => {
      await deploy({ name: "cbpe", model: "scorer", primary: { version: 1 } });
      const refStart = Date.now() - 1;
      // Reference: four predictions, labelled below. Current: four more, never labelled. All exact in float32.
      const ref = [0.25, 0.375, 0.625, 0.75];
      const cur = [0.125, 0.5, 0.6875, 0.875];
      for (const [i, x] of ref.entries()) expect((await infer("cbpe", `c${i}`, x)).status).toBe(200);
      await logged("cbpe", 4);
      await sleep(5);
      const split = Date.now();
      await sleep(5);
      for (const [i, x] of cur.entries()) expect((await infer("cbpe", `d${i}`, x)).status).toBe(200);
      await logged("cbpe", 8);
      const current = async (extra = "") => {
        const r = await call("GET", `/api/v1/deployments/cbpe/performance?from=${split}&to=${Date.now() + 1000}${extra}`);
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        return r.body;
      };
      // No labels at all: the scores are taken as calibrated. Expected TP = 0.5 + 0.6875 + 0.875, FP = 0.5 + 0.3125 + 0.125, FN = 0.125, TN = 0.875.
      const raw = await current();
      expect([raw.labelType, raw.series.map((x: any) => [x.version, x.arm])]).toEqual([null, [["1", "primary"]]]);
      const w0 = raw.series[0].windows[0];
      expect([w0.n, w0.classification.accuracy]).toEqual([0, null]);
      expect(w0.estimated).toMatchObject({ n: 4, calibrated: false });
      expect(w0.estimated.accuracy).toBeCloseTo(2.9375 / 4, 14);
      expect(w0.estimated.precision).toBeCloseTo(2.0625 / 3, 14);
      expect(w0.estimated.recall).toBeCloseTo(2.0625 / 2.1875, 14);
      expect(w0.estimated.f1).toBeCloseTo(4.125 / (4.125 + 0.9375 + 0.125), 14);
      expect(raw.series[0].estimationReference.n).toBe(0);

      // Labels for the reference only (0, 1, 0, 1): isotonic calibration maps 0.25 → 0, [0.375, 0.75) → 0.5, 0.75 and above → 1, so the
      // current scores calibrate to 0, 0.5, 0.5, 1: expected TP 2, FP 1, FN 0, TN 1, and the expected AUC is 3.5 / 4.
      expect((await call("POST", "/api/v1/deployments/cbpe/feedback", { records: [false, true, false, true].map((label, i) => ({ requestId: `c${i}`, label })) })).status).toBe(200);
      const body = await current(`&referenceFrom=${refStart}&referenceTo=${split}`);
      expect(body.series[0].estimationReference).toEqual({ from: refStart, to: split, n: 4 });
      const e = body.series[0].windows[0].estimated;
      expect(e).toMatchObject({ n: 4, truncated: false, calibrated: true, recall: 1 });
      expect(e.accuracy).toBeCloseTo(0.75, 14);
      expect(e.precision).toBeCloseTo(2 / 3, 14);
      expect(e.f1).toBeCloseTo(0.8, 14);
      expect(e.rocAuc).toBeCloseTo(0.875, 14);
      // The realized metrics wait for labels of the current window.
      expect(body.series[0].windows[0].n).toBe(0);
      // Without a reference range, the query's own range is the reference: here it has no labels.
      expect((await current()).series[0].windows[0].estimated.calibrated).toBe(false);
      expect((await call("GET", `/api/v1/deployments/cbpe/performance?referenceFrom=10&referenceTo=5`)).status).toBe(400);
      expect(JSON.stringify(body)).not.toMatch(/NaN/);
    });

    it("with auth on: posting needs write on the deployment's model project, querying read", async () => {
      const a = await start({ auth: true, authFailureLimit: 0, deploymentSyncMs: 200, deployJsModels: true });
      try {
        const { admin, ac, tokenOf } = authAdmin(a);
        for (const p of ["risk", "other"]) expect((await ac("POST", "/api/v1/projects", { name: p })).status).toBe(201);
        const adminSdk = new Cairn({ url: a.url, token: a.bootstrapToken!, handleExit: false });
        await adminSdk.models.create("scorer", { tags: { "cairn.project": "risk" } });
        const run = await adminSdk.startRun({ experiment: "feedback-auth", tags: { "cairn.project": "risk" } });
        await adminSdk.models.register("scorer", { runId: run.id, model: { jsModule: jsModel(path.join(tmp.dir, "auth-m1"), false) }, signature: SIGNATURE as never });
        await run.end();
        expect((await ac("POST", "/api/v1/deployments", { name: "risk-dep", model: "scorer", primary: { version: 1 } })).status).toBe(201);
        const viewer = await tokenOf("vera", { risk: "viewer" });
        const editor = await tokenOf("ed", { risk: "editor" });
        const outsider = await tokenOf("olga", { other: "editor" });
        const post = (h: Headers) => ac("POST", "/api/v1/deployments/risk-dep/feedback", { records: [{ requestId: "q1", label: true }] }, h);
        const get = (h: Headers) => ac("GET", "/api/v1/deployments/risk-dep/performance", undefined, h);
        expect((await post({})).status).toBe(401);
        expect((await post(viewer)).status).toBe(403);
        expect((await post(outsider)).status).toBe(404);
        expect((await post(editor)).body).toEqual({ accepted: 1, updated: 0, unmatched: 1 });
        expect((await get(viewer)).status).toBe(200);
        expect((await get(outsider)).status).toBe(404);
        expect((await get({})).status).toBe(401);
      } finally {
        await a.stop();
        await a.drop?.();
      }
    });
  });
}

describe("feedback service: the per-window cap", () => {
  it("reads at most rowsPerWindow joined predictions of a window, in pages, and says truncated", async () => {
    const t = await sqliteTestDb();
    try {
      const log = await createInferenceLogStore(t.db);
      const store = await createFeedbackStore(t.db);
      const svc = new FeedbackService({ store, deployment: async (name) => (name === "d" ? { model: "m" } : undefined), rowsPerWindow: 2500, now: () => 100_000 });
      // 3,000 predictions in the first window (p = 0 or 1, alternately, equal to the label), 10 in the second.
      const n = 3010;
      await log.append("m", Array.from({ length: n }, (_, i) => ({ requestId: `q${i}`, version: "1", deployment: "d", arm: "primary" as const, inputs: [], outputs: [{ name: "p", datatype: "FP64", shape: [1], data: [i % 2] }], latencyMs: 1, status: 200, time: i < 3000 ? 1000 + i : 60_000 + i })));
      expect(await svc.post("d", { records: Array.from({ length: n }, (_, i) => ({ requestId: `q${i}`, label: i % 2 === 1 })) })).toEqual({ accepted: n, updated: 0, unmatched: 0 });
      const r = await svc.performance("d", { from: 0, to: 100_000, windowSeconds: 50, threshold: 0.5 });
      expect(r.series).toHaveLength(1);
      const [w1, w2] = r.series[0]!.windows;
      expect(w1).toMatchObject({ start: 0, end: 50_000, n: 2500, skipped: 0, truncated: true, classification: { accuracy: 1, rocAuc: 1 } });
      expect(w2).toMatchObject({ start: 50_000, end: 100_000, n: 10, truncated: false });
    } finally {
      await t.cleanup();
    }
  });
});

/**
 * A calibrated model on a large synthetic log: p ~ U(0, 1) and the label true with probability p.
 * 10,000 labelled predictions in the first window calibrate the estimates of the second window's 10,000.
 * Estimated and realized accuracy there differ by the sampling error of the realized one and the
 * calibration error: Var(realized − expected) = Σ a(1 − a) / n² with a = max(p, 1 − p), E[a(1 − a)] = 1/6,
 * so its standard error is √(1/6 / 10,000) ≈ 0.0041; a tolerance of 0.02 is about 5 standard errors
 * (and the seeded data makes the check deterministic). The AUC (near 5/6) has a standard error of about 0.004 too.
 */
function estimationOn(backend: string, open: () => Promise<TestDb>): void {
  it(`estimates a calibrated model's metrics close to the realized ones (${backend})`, async () => {
    const t = await open();
    try {
      const log = await createInferenceLogStore(t.db);
      const store = await createFeedbackStore(t.db);
      const svc = new FeedbackService({ store, deployment: async (name) => (name === "d" ? { model: "m" } : undefined), now: () => 100_000 });
      const r = rng(21);
      const n = 20_000;
      const rows = Array.from({ length: n }, (_, i) => {
        const p = r();
        return { p, y: r() < p, time: i < n / 2 ? 1000 + i : 60_000 + (i - n / 2) };
      });
      for (let i = 0; i < n; i += 5000) {
        await log.append("m", rows.slice(i, i + 5000).map((x, k) => ({ requestId: `q${i + k}`, version: "1", deployment: "d", arm: "primary" as const, inputs: [], outputs: [{ name: "p", datatype: "FP64", shape: [1], data: [x.p] }], latencyMs: 1, status: 200, time: x.time })));
      }
      for (let i = 0; i < n; i += 10_000) await svc.post("d", { records: rows.slice(i, i + 10_000).map((x, k) => ({ requestId: `q${i + k}`, label: x.y })) });
      const res = await svc.performance("d", { from: 0, to: 100_000, windowSeconds: 50, threshold: 0.5, referenceFrom: 0, referenceTo: 50_000 });
      expect(res.series[0]!.estimationReference).toEqual({ from: 0, to: 50_000, n: n / 2 });
      const w = res.series[0]!.windows[1]!;
      expect([w.n, w.estimated!.n, w.estimated!.calibrated]).toEqual([n / 2, n / 2, true]);
      const real = w.classification!;
      const est = w.estimated!;
      expect(Math.abs(est.accuracy! - real.accuracy!)).toBeLessThan(0.02);
      expect(Math.abs(est.f1! - real.f1!)).toBeLessThan(0.03);
      expect(Math.abs(est.rocAuc! - real.rocAuc!)).toBeLessThan(0.02);
    } finally {
      await t.cleanup();
    }
  }, 120_000);
}

describe("feedback service: label-free estimates on a large window", () => {
  estimationOn("sqlite", sqliteTestDb);
});
await describePg("feedback service: label-free estimates on a large window (postgres)", () => {
  estimationOn("postgres", pgTestDb);
});

feedbackApi("sqlite", (config = {}) => testServer(config));
await describePg("feedback API (postgres)", () => {
  feedbackApi("postgres", async (config = {}) => {
    const schema = await freshPgSchema();
    return { ...(await testServer({ ...config, backendStoreUri: schema.url })), drop: schema.drop };
  });
});
