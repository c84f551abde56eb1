/**
 * Monitors and alerts over HTTP, on SQLite and on PostgreSQL: a monitor on a deployment stores
 * traffic and drift points per window, its rule fires once (webhook to an allow-listed host, and a
 * retraining pipeline run), stays firing without firing again, and shows in the alert history; the
 * schedule runs it by itself; bad rules and targets are refused with 4xx codes.
 */
import { createHash } from "node:crypto";
import { mulberry32 as rng } from "./seeded.js";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cairn } from "@cairn/sdk";
import type { ServerConfig } from "../src/platform/config.js";
import { pushPipeline } from "../src/modules/pipelines/remote.js";
import { estimatePerformance, fitIsotonic } from "../src/modules/monitoring/cbpe.js";
import { describePg, freshPgSchema } from "./pg.js";
import { http as call0, tempDir, testServer } from "./helpers.js";

type Server = Awaited<ReturnType<typeof testServer>> & { drop?: () => Promise<void> };
type Start = (config?: Partial<ServerConfig>) => Promise<Server>;


const SIGNATURE = { inputs: [{ name: "x", dtype: "float32", shape: [-1, 2] }], outputs: [{ name: "score", dtype: "float32", shape: [-1, 1] }] };

function monitorsApi(backend: string, start: Start): void {
  describe(`monitors API (${backend})`, () => {
    let s: Server;
    let tmp: { dir: string; cleanup(): void };
    let sdk: Cairn;
    let hooks: http.Server;
    let hookUrl = "";
    const received: unknown[] = [];
    /** The score the model gave each row sent (float32, as logged). */
    const scores: number[] = [];
    const call = (method: string, url: string, body?: unknown) => call0(s.url, method, url, body);
    const monitor = (extra: Record<string, unknown> = {}) => ({
      name: "drift-watch",
      windowSeconds: 3600,
      intervalSeconds: 3600,
      reference: { dataset: "ref-data@v1" },
      columnNames: { x: ["age", "score"] },
      rules: [
        { name: "data-drift", series: "drift.share", op: ">=", threshold: 0.5, actions: [{ type: "webhook", url: hookUrl }, { type: "pipeline", pipeline: "retrain", params: { reason: "drift" } }] },
        { name: "no-traffic", series: "traffic.primary.requests", op: "<", threshold: 1 },
      ],
      ...extra,
    });

    beforeAll(async () => {
      tmp = tempDir("cairn-monitors-");
      hooks = http.createServer((req, res) => {
        let body = "";
        req.on("data", (c) => (body += c));
        req.on("end", () => {
          received.push(JSON.parse(body));
          res.writeHead(204).end();
        });
      });
      await new Promise<void>((r) => hooks.listen(0, "127.0.0.1", r));
      hookUrl = `http://127.0.0.1:${(hooks.address() as AddressInfo).port}/alerts`;
      s = await start({ deploymentSyncMs: 200, deployJsModels: true, webhookAllowedHosts: ["127.0.0.1"], monitorTickMs: 200 });
      sdk = new Cairn({ url: s.url, handleExit: false });
      const dir = path.join(tmp.dir, "model");
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, "index.mjs"), `export function predict({ x }) {\n  const n = x.shape[0];\n  return { score: { datatype: "FP32", shape: [n, 1], data: Float32Array.from({ length: n }, (_, i) => x.data[i * 2] / 10) } };\n}\n`);
      const run = await sdk.startRun({ experiment: "monitors" });
      await sdk.models.register("scorer", { runId: run.id, model: { jsModule: dir }, signature: SIGNATURE as never });
      await run.end();
      expect((await call("POST", "/api/v1/deployments", { name: "scoring", model: "scorer", primary: { version: 1 } })).status).toBe(201);
      for (let i = 0; i < 200 && (await call("GET", "/api/v1/deployments/scoring")).body.state !== "ready"; i++) await sleep(50);
      // Reference: age ~ U(0, 10), score ~ U(0, 1). Traffic: age shifted by 4, score as before.
      const r = rng(5);
      const csv = "age,score\n" + Array.from({ length: 2000 }, () => `${Math.round(r() * 1000) / 100},${Math.round(r() * 1000) / 1000}`).join("\n") + "\n";
      const bytes = Buffer.from(csv);
      await sdk.datasets.create("ref-data");
      await sdk.datasets.uploadVersion("ref-data", { entries: [{ path: "ref.csv", size: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex") } as never], readFile: () => Readable.from(bytes) } as never);
      for (let i = 0; i < 20; i++) {
        const data = Array.from({ length: 50 }, () => [Math.round((4 + r() * 10) * 100) / 100, Math.round(r() * 1000) / 1000]).flat();
        for (let j = 0; j < data.length; j += 2) scores.push(Math.fround(Math.fround(data[j]!) / 10));
        expect((await call("POST", "/deployments/scoring/v2/models/scorer/infer", { inputs: [{ name: "x", datatype: "FP32", shape: [50, 2], data }] })).status).toBe(200);
      }
      for (let i = 0; i < 100 && (await call("GET", "/api/v1/models/scorer/inference-log?deployment=scoring&limit=100")).body.records.length < 20; i++) await sleep(100);
      const project = path.join(tmp.dir, "retrain");
      fs.mkdirSync(project);
      fs.writeFileSync(path.join(project, "cairn.yaml"), "name: retrain\nparams:\n  reason: none\nsteps:\n  train:\n    cmd: echo retrain\n    params: [reason]\n");
      await pushPipeline(sdk, project);
    });
    afterAll(async () => {
      await s?.stop();
      await s?.drop?.();
      tmp?.cleanup();
      await new Promise<void>((r) => hooks?.close(() => r()));
    });

    it("stores a window's points, fires its rule once with its actions, and keeps the alert history", async () => {
      const made = await call("POST", "/api/v1/deployments/scoring/monitors", monitor());
      expect(made.status).toBe(201);
      expect(made.body).toMatchObject({ deployment: "scoring", lastRunAt: null, alerts: [{ rule: "data-drift", status: "ok" }, { rule: "no-traffic", status: "ok" }] });

      const first = await call("POST", "/api/v1/deployments/scoring/monitors/drift-watch/run");
      expect(first.status).toBe(200);
      const pts = Object.fromEntries(first.body.points.map((p: any) => [p.series, p.value]));
      expect(pts["traffic.primary.requests"]).toBe(20);
      expect(pts["drift.share"]).toBe(0.5);
      expect(pts["drift.age"]).toBeGreaterThan(0.1);
      expect(pts["drift.score"]).toBeLessThan(0.1);
      // The prediction distribution of the window, per arm and output: mean and percentiles (linear interpolation, as quantile_cont).
      const sorted = [...scores].sort((a, b) => a - b);
      const quantile = (q: number) => {
        const h = (sorted.length - 1) * q;
        return sorted[Math.floor(h)]! + (h - Math.floor(h)) * (sorted[Math.ceil(h)]! - sorted[Math.floor(h)]!);
      };
      expect(pts["prediction.primary.score.mean"]).toBeCloseTo(scores.reduce((a, b) => a + b, 0) / scores.length, 9);
      for (const [k, q] of [["p10", 0.1], ["p50", 0.5], ["p90", 0.9]] as const) expect(pts[`prediction.primary.score.${k}`]).toBeCloseTo(quantile(q), 9);
      expect(first.body.events).toHaveLength(1);
      const fired = first.body.events[0];
      expect(fired).toMatchObject({ rule: "data-drift", kind: "fired", value: 0.5 });
      expect(fired.actions.map((a: any) => [a.type, a.ok])).toEqual([["webhook", true], ["pipeline", true]]);
      expect(received).toEqual([expect.objectContaining({ deployment: "scoring", monitor: "drift-watch", rule: "data-drift", kind: "fired", value: 0.5 })]);
      const runId = /started run (\S+)/.exec(fired.actions[1].detail)![1]!;
      const started = (await call("GET", `/api/v1/pipeline-runs/${runId}`)).body.run;
      expect(started).toMatchObject({ pipeline: "retrain" });

      // Still drifted: firing, no new event and no second webhook.
      const second = await call("POST", "/api/v1/deployments/scoring/monitors/drift-watch/run");
      expect(second.body.events).toEqual([]);
      expect(received).toHaveLength(1);
      const listed = (await call("GET", "/api/v1/deployments/scoring/monitors")).body.monitors;
      expect(listed[0].alerts).toEqual([expect.objectContaining({ rule: "data-drift", status: "firing", consecutive: 2 }), expect.objectContaining({ rule: "no-traffic", status: "ok" })]);
      expect(listed[0].lastRunAt).toBe(second.body.time);
      const series = (await call("GET", "/api/v1/deployments/scoring/monitors/drift-watch/series?series=drift.share")).body.points;
      expect(series.map((p: any) => p.value)).toEqual([0.5, 0.5]);
      // The newest point only, for a long-running monitor's latest window.
      const newest = (await call("GET", "/api/v1/deployments/scoring/monitors/drift-watch/series?series=drift.share&limit=1&latest=true")).body.points;
      expect(newest.map((p: any) => p.time)).toEqual([second.body.time]);
      const alerts = (await call("GET", "/api/v1/deployments/scoring/alerts")).body.events;
      expect(alerts).toHaveLength(1);
      expect(alerts[0]).toMatchObject({ rule: "data-drift", kind: "fired", actions: [{ type: "webhook", ok: true }, { type: "pipeline", ok: true }] });
    });

    it("runs on its schedule by itself", async () => {
      const made = await call("POST", "/api/v1/deployments/scoring/monitors", monitor({ name: "scheduled", intervalSeconds: 5, rules: [] }));
      expect(made.status).toBe(201);
      const ran = async () => (await call("GET", "/api/v1/deployments/scoring/monitors")).body.monitors.find((m: any) => m.spec.name === "scheduled");
      for (let i = 0; i < 80 && (await ran()).lastRunAt === null; i++) await sleep(100);
      const m = await ran();
      expect(m.lastRunAt).not.toBeNull();
      expect((await call("GET", "/api/v1/deployments/scoring/monitors/scheduled/series?series=traffic.primary.requests")).body.points[0].value).toBe(20);
      expect((await call("DELETE", "/api/v1/deployments/scoring/monitors/scheduled")).status).toBe(200);
    });

    it("refuses webhooks off the allow-list, duplicate rules and unknown names with 4xx codes", async () => {
      const bad = async (method: string, url: string, body: unknown, status: number, code: string) => {
        const r = await call(method, url, body);
        expect([r.status, r.body.error_code], JSON.stringify(r.body)).toEqual([status, code]);
        return r.body;
      };
      const off = await bad("POST", "/api/v1/deployments/scoring/monitors", monitor({ name: "leaky", rules: [{ name: "r", series: "drift.share", op: ">", threshold: 0, actions: [{ type: "webhook", url: "https://elsewhere.org/hook" }] }] }), 403, "PERMISSION_DENIED");
      expect(off.message).toMatch(/CAIRN_WEBHOOK_ALLOWED_HOSTS/);
      await bad("POST", "/api/v1/deployments/scoring/monitors", monitor({ name: "dup", rules: [{ name: "r", series: "a", op: ">", threshold: 0 }, { name: "r", series: "b", op: ">", threshold: 0 }] }), 400, "INVALID_PARAMETER_VALUE");
      await bad("POST", "/api/v1/deployments/scoring/monitors", monitor({ name: "Bad Name" }), 400, "INVALID_PARAMETER_VALUE");
      await bad("POST", "/api/v1/deployments/scoring/monitors", monitor({ name: "r2", rules: [{ name: "r", series: "a", op: "!=", threshold: 0 }] }), 400, "INVALID_PARAMETER_VALUE");
      await bad("POST", "/api/v1/deployments/nope/monitors", monitor(), 404, "RESOURCE_DOES_NOT_EXIST");
      await bad("POST", "/api/v1/deployments/scoring/monitors", monitor({ name: "ghost", rules: [{ name: "r", series: "a", op: ">", threshold: 0, actions: [{ type: "pipeline", pipeline: "no-such-pipeline" }] }] }), 404, "RESOURCE_DOES_NOT_EXIST");
      await bad("POST", "/api/v1/deployments/scoring/monitors/nope/run", undefined, 404, "RESOURCE_DOES_NOT_EXIST");
      await bad("GET", "/api/v1/deployments/scoring/monitors/nope/series", undefined, 404, "RESOURCE_DOES_NOT_EXIST");
      await bad("DELETE", "/api/v1/deployments/scoring/monitors/nope", undefined, 404, "RESOURCE_DOES_NOT_EXIST");
      // A monitor whose reference lacks a column records the failure at run time as a 400 for a manual run.
      await call("POST", "/api/v1/deployments/scoring/monitors", monitor({ name: "unnamed", columnNames: undefined, rules: [] }));
      await bad("POST", "/api/v1/deployments/scoring/monitors/unnamed/run", undefined, 400, "INVALID_PARAMETER_VALUE");
    });

    it("records label-free estimates per arm beside realized performance (estimated.<arm>.<metric>)", async () => {
      // Four one-row predictions, no labels: scores x[0] / 10 = 0.125, 0.5, 0.6875, 0.875, taken as calibrated.
      for (const x0 of [1.25, 5, 6.875, 8.75]) expect((await call("POST", "/deployments/scoring/v2/models/scorer/infer", { inputs: [{ name: "x", datatype: "FP32", shape: [1, 2], data: [x0, 0.5] }] })).status).toBe(200);
      for (let i = 0; i < 100 && (await call("GET", "/api/v1/models/scorer/inference-log?deployment=scoring&limit=100")).body.records.length < 24; i++) await sleep(100);
      expect((await call("POST", "/api/v1/deployments/scoring/monitors", { name: "perf-watch", windowSeconds: 3600, intervalSeconds: 3600, performance: { task: "classification", output: "score" }, rules: [{ name: "est-acc", series: "estimated.primary.accuracy", op: "<", threshold: 0.8 }] })).status).toBe(201);
      const ran = await call("POST", "/api/v1/deployments/scoring/monitors/perf-watch/run");
      expect(ran.status).toBe(200);
      const pts = Object.fromEntries(ran.body.points.map((p: any) => [p.series, p.value]));
      // The 50-row requests are not one prediction each: only the four count.
      expect(pts["estimated.primary.n"]).toBe(4);
      expect(pts["estimated.primary.accuracy"]).toBeCloseTo(2.9375 / 4, 12);
      expect(pts["estimated.primary.precision"]).toBeCloseTo(2.0625 / 3, 12);
      expect(pts["performance.primary.n"]).toBeUndefined();
      expect(ran.body.events).toEqual([expect.objectContaining({ rule: "est-acc", kind: "fired" })]);
      expect((await call("DELETE", "/api/v1/deployments/scoring/monitors/perf-watch")).status).toBe(200);
    });

    it("calibrates the estimates on the reference window's labels when the monitor has one, not on the window's own", async () => {
      const predict = async (id: string, x0: number) => expect((await call("POST", "/deployments/scoring/v2/models/scorer/infer", { id, inputs: [{ name: "x", datatype: "FP32", shape: [1, 2], data: [x0, 0.5] }] })).status).toBe(200);
      // The reference: scores 0.125, 0.3, 0.6875, 0.875 labelled 0, 0, 1, 1; then two more whose labels contradict them.
      const from = Date.now() - 1;
      const ref = [[1.25, 0], [3, 0], [6.875, 1], [8.75, 1]] as const;
      for (const [i, [x0]] of ref.entries()) await predict(`cal-${i}`, x0);
      await sleep(5);
      const to = Date.now();
      await sleep(5);
      await predict("cal-later-0", 1.25);
      await predict("cal-later-1", 8.75);
      const labels = [...ref.map(([, y], i) => ({ requestId: `cal-${i}`, label: y })), { requestId: "cal-later-0", label: 1 }, { requestId: "cal-later-1", label: 0 }];
      for (let i = 0; i < 100 && (await call("GET", "/api/v1/models/scorer/inference-log?deployment=scoring&limit=1000")).body.records.filter((r: any) => String(r.requestId).startsWith("cal-")).length < 6; i++) await sleep(100);
      expect((await call("POST", "/api/v1/deployments/scoring/feedback", { records: labels })).status).toBe(200);
      // What calibrating on the reference's four labels gives, over every one-row prediction logged so far.
      const logged = (await call("GET", "/api/v1/models/scorer/inference-log?deployment=scoring&limit=1000")).body.records as { outputs: { shape: number[]; data: number[] }[]; status: number; arm: string }[];
      const scores = logged.filter((r) => r.status === 200 && r.arm === "primary" && r.outputs[0]!.shape[0] === 1).map((r) => r.outputs[0]!.data[0]!);
      const expected = estimatePerformance(scores, { calibrate: fitIsotonic(ref.map(([x0]) => Math.fround(Math.fround(x0) / 10)), ref.map(([, y]) => y)) });
      const fromAllLabels = estimatePerformance(scores, { calibrate: fitIsotonic([...ref.map(([x0]) => Math.fround(Math.fround(x0) / 10)), 0.125, 0.875], [...ref.map(([, y]) => y), 1, 0]) });
      expect(expected.accuracy).not.toBeCloseTo(fromAllLabels.accuracy!, 3);
      const spec = { name: "calibrated", windowSeconds: 3600, intervalSeconds: 3600, reference: { window: { from, to } }, columns: [{ name: "x[0]" }], performance: { task: "classification", output: "score" }, rules: [] };
      expect((await call("POST", "/api/v1/deployments/scoring/monitors", spec)).status).toBe(201);
      const ran = await call("POST", "/api/v1/deployments/scoring/monitors/calibrated/run");
      expect(ran.status, JSON.stringify(ran.body)).toBe(200);
      const pts = Object.fromEntries(ran.body.points.map((p: any) => [p.series, p.value]));
      expect(pts["estimated.primary.n"]).toBe(scores.length);
      expect(pts["estimated.primary.accuracy"]).toBeCloseTo(expected.accuracy!, 12);
      expect(pts["estimated.primary.f1"]).toBeCloseTo(expected.f1!, 12);
      expect((await call("DELETE", "/api/v1/deployments/scoring/monitors/calibrated")).status).toBe(200);
    });
  });
}

monitorsApi("sqlite", (config = {}) => testServer(config));
await describePg("monitors API (postgres)", () => {
  monitorsApi("postgres", async (config = {}) => {
    const schema = await freshPgSchema();
    return { ...(await testServer({ ...config, backendStoreUri: schema.url })), drop: schema.drop };
  });
});
