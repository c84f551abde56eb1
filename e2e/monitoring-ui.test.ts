/**
 * Drives the monitoring page of the built web UI in headless Chromium against a real server: a JS
 * model deployed through the API gets traffic whose `age` column is shifted against a dataset
 * reference; a monitor with a drift rule (firing a retraining pipeline) runs twice through the API.
 * The page shows the monitor with its rule firing, the drift chart with a legend naming the columns,
 * the latest window's table marking `age` drifted, its reference and current distributions overlaid
 * on a click, realized performance per arm from posted labels with the label-free estimates (CBPE) dashed beside it, the alert history's fired event with working links to the pipeline run and the model,
 * and "Run now" adding a window to the series.
 * Skips with a printed reason when Chromium is missing, unless CAIRN_REQUIRE_SERVICES=1.
 * Screenshots land in /tmp/cairn-ui-monitoring*.png.
 */
import { createHash } from "node:crypto";
import { mulberry32 as rng } from "../packages/server/test/seeded.js";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import { ApiClient } from "@cairn/sdk/core";
import { Cairn } from "@cairn/sdk";
import { chromiumAvailable, ensureUiBuilt, launchChromium, openPage, SHOTS, WEB_DIST } from "./browser.js";
import { startServer } from "../packages/server/src/server.js";
import { pushPipeline } from "../packages/server/src/modules/pipelines/remote.js";

const hasChromium = chromiumAvailable("monitoring UI e2e test");

const MODEL = "mon-scorer";
const DEP = "mon-scoring";
const MONITOR = "drift-watch";
const SIGNATURE = { inputs: [{ name: "x", dtype: "float32", shape: [-1, 2] }], outputs: [{ name: "score", dtype: "float32", shape: [-1, 1] }] };


describe.skipIf(!hasChromium)("monitoring web UI (e2e, headless Chromium)", () => {
  let server: { url: string; close(): Promise<void> };
  let tmp: string;
  let browser: Browser;
  let page: Page;
  let api: ApiClient["api"];
  let runId = "";
  const pageErrors: string[] = [];

  beforeAll(async () => {
    ensureUiBuilt();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-ui-monitoring-e2e-"));
    server = await startServer({ port: 0, dataDir: path.join(tmp, "data"), webDir: WEB_DIST, logLevel: "silent", deployJsModels: true, webhookAllowedHosts: ["127.0.0.1"] });
    api = new ApiClient({ url: server.url }).api;
    const sdk = new Cairn({ url: server.url, handleExit: false });

    // A JS model: score = x[0] / 10.
    const dir = path.join(tmp, "model");
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, "index.mjs"), `export function predict({ x }) {\n  const n = x.shape[0];\n  return { score: { datatype: "FP32", shape: [n, 1], data: Float32Array.from({ length: n }, (_, i) => x.data[i * 2] / 10) } };\n}\n`);
    const run = await sdk.startRun({ experiment: "monitoring-ui" });
    await sdk.models.register(MODEL, { runId: run.id, model: { jsModule: dir }, signature: SIGNATURE as never });
    await run.end();
    await api.createDeployment({ body: { name: DEP, model: MODEL, primary: { version: "1" } } });
    await sdk.deployments.waitUntilReady(DEP, { timeoutMs: 60_000 });

    // Reference: age ~ U(0, 10), score ~ U(0, 1). Traffic: age shifted by 4, score as before.
    const r = rng(5);
    const csv = "age,score\n" + Array.from({ length: 2000 }, () => `${Math.round(r() * 1000) / 100},${Math.round(r() * 1000) / 1000}`).join("\n") + "\n";
    const bytes = Buffer.from(csv);
    await sdk.datasets.create("mon-ref");
    await sdk.datasets.uploadVersion("mon-ref", { entries: [{ path: "ref.csv", size: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex") } as never], readFile: () => Readable.from(bytes) } as never);
    for (let i = 0; i < 20; i++) {
      const data = Array.from({ length: 50 }, () => [Math.round((4 + r() * 10) * 100) / 100, Math.round(r() * 1000) / 1000]).flat();
      const res = await fetch(`${server.url}/deployments/${DEP}/v2/models/${MODEL}/infer`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ inputs: [{ name: "x", datatype: "FP32", shape: [50, 2], data }] }) });
      expect(res.status).toBe(200);
    }
    // 30 single-row predictions with known request ids and unshifted ages, labelled (age > 5, every
    // 5th label flipped) for the performance series.
    const labels: { requestId: string; label: boolean }[] = [];
    for (let i = 0; i < 30; i++) {
      const age = Math.round(r() * 1000) / 100;
      const res = await fetch(`${server.url}/deployments/${DEP}/v2/models/${MODEL}/infer`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ id: `p${i}`, inputs: [{ name: "x", datatype: "FP32", shape: [1, 2], data: [age, 0.5] }] }) });
      expect(res.status).toBe(200);
      labels.push({ requestId: res.headers.get("x-request-id") ?? `p${i}`, label: i % 5 === 0 ? age <= 5 : age > 5 });
    }
    await api.postFeedback({ params: { name: DEP }, body: { records: labels } });
    for (let i = 0; i < 100; i++) {
      const log = (await (await fetch(`${server.url}/api/v1/models/${MODEL}/inference-log?deployment=${DEP}&limit=100`)).json()) as { records: unknown[] };
      if (log.records.length >= 50) break;
      await new Promise((res) => setTimeout(res, 100));
    }

    // The retraining pipeline the alert starts.
    const project = path.join(tmp, "retrain");
    fs.mkdirSync(project);
    fs.writeFileSync(path.join(project, "cairn.yaml"), "name: retrain\nparams:\n  reason: none\nsteps:\n  train:\n    cmd: echo retrain\n    params: [reason]\n");
    await pushPipeline(sdk, project);

    await api.createMonitor({
      params: { name: DEP },
      body: {
        name: MONITOR,
        windowSeconds: 3600,
        intervalSeconds: 3600,
        reference: { dataset: "mon-ref@v1" },
        columnNames: { x: ["age", "score"] },
        performance: { task: "classification", output: "score" },
        rules: [
          { name: "data-drift", series: "drift.share", op: ">=", threshold: 0.5, actions: [{ type: "pipeline", pipeline: "retrain", params: { reason: "drift" } }] },
          { name: "no-traffic", series: "traffic.primary.requests", op: "<", threshold: 1 },
        ],
      },
    });
    const first = await api.runMonitor({ params: { name: DEP, monitor: MONITOR } });
    expect(first.events.map((e) => [e.rule, e.kind])).toEqual([["data-drift", "fired"]]);
    runId = /started run (\S+)/.exec(first.events[0]!.actions[0]!.detail)?.[1] ?? "";
    expect(runId).not.toBe("");
    // A second window a moment later: still firing, no new event.
    await new Promise((res) => setTimeout(res, 20));
    const second = await api.runMonitor({ params: { name: DEP, monitor: MONITOR } });
    expect(second.events).toEqual([]);

    browser = await launchChromium();
    page = await openPage(browser, pageErrors);
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("links the deployment page to its monitoring page", async () => {
    await page.goto(`${server.url}/#/deployments/${DEP}`);
    const link = page.locator("[data-testid=deployment-monitoring-link]");
    await link.waitFor();
    await link.click();
    await page.locator("[data-testid=monitoring-page]").waitFor();
    expect(page.url()).toContain(`#/deployments/${DEP}/monitoring`);
    expect(await page.locator("[data-testid=nav-deployments]").getAttribute("class")).toContain("active");
    expect(pageErrors).toEqual([]);
  });

  it("lists the monitor with its rule firing", async () => {
    const row = page.locator(`[data-testid=mon-monitor-row][data-monitor=${MONITOR}]`);
    await row.waitFor();
    expect(await row.locator("[data-testid=mon-rule-badge][data-rule=data-drift]").getAttribute("data-status")).toBe("firing");
    expect(await row.locator("[data-testid=mon-rule-badge][data-rule=no-traffic]").getAttribute("data-status")).toBe("ok");
    expect(await row.locator("[data-testid=mon-last-run]").textContent()).not.toBe("never");
    expect(await page.locator("[data-testid=mon-model-link]").getAttribute("href")).toBe(`#/models/${MODEL}`);
    expect(pageErrors).toEqual([]);
  });

  it("charts drift per column with a legend naming the columns, and traffic per arm", async () => {
    const drift = page.locator("[data-testid=mon-chart][data-chart=drift]");
    await drift.waitFor();
    expect(await drift.getAttribute("data-points")).toBe("2");
    const series = ((await drift.getAttribute("data-series")) ?? "").split(",");
    expect(series).toEqual(expect.arrayContaining(["age", "score", "share drifted"]));
    await drift.locator("canvas").first().waitFor();
    const legend = (await drift.locator(".u-legend").textContent()) ?? "";
    expect(legend).toContain("age");
    expect(legend).toContain("score");
    const traffic = page.locator("[data-testid=mon-chart][data-chart=traffic]");
    expect(await traffic.getAttribute("data-series")).toBe("primary");
    expect(await traffic.locator("canvas").count()).toBeGreaterThan(0);
    // The prediction distribution per arm: the mean, and dashed the 10th and 90th percentiles.
    const predictions = page.locator("[data-testid=mon-chart][data-chart=prediction-score]");
    expect(await predictions.getAttribute("data-series")).toBe("primary,primary p10,primary p90");
    expect(await predictions.getAttribute("data-dashed")).toBe("primary p10,primary p90");
    expect(await predictions.getAttribute("data-points")).toBe("2");
    // Performance per metric, one line per arm from the labels, and beside it (dashed) the arm's label-free estimate.
    const accuracy = page.locator("[data-testid=mon-chart][data-chart=performance-accuracy]");
    expect(await accuracy.getAttribute("data-series")).toBe("primary,primary (estimated)");
    expect(await accuracy.getAttribute("data-dashed")).toBe("primary (estimated)");
    expect(await accuracy.locator("canvas").count()).toBeGreaterThan(0);
    expect((await accuracy.locator(".u-legend").textContent()) ?? "").toContain("primary (estimated)");
    const perf = await api.getMonitorSeries({ params: { name: DEP, monitor: MONITOR }, query: { series: "performance.primary.n" } });
    expect(perf.points.map((p) => p.value)).toEqual([30, 30]);
    // The estimate covers every one-row prediction of the window (the 30), calibrated on their labels.
    const est = await api.getMonitorSeries({ params: { name: DEP, monitor: MONITOR }, query: { series: "estimated.primary.n" } });
    expect(est.points.map((p) => p.value)).toEqual([30, 30]);
    const estAcc = await api.getMonitorSeries({ params: { name: DEP, monitor: MONITOR }, query: { series: "estimated.primary.accuracy" } });
    expect(estAcc.points[0]!.value).toBeGreaterThan(0);
    expect(estAcc.points[0]!.value).toBeLessThanOrEqual(1);
    expect(await page.locator("[data-testid=mon-chart][data-chart=performance-rocAuc]").getAttribute("data-dashed")).toBe("primary (estimated)");
    expect(await page.locator("[data-testid=mon-chart][data-chart=performance-f1]").count()).toBe(1);
    // Every chart either plots its values or says it has none (never a blank plot).
    for (const chart of await page.locator("[data-testid=mon-chart]").all()) {
      const values = Number(await chart.getAttribute("data-values"));
      expect(values > 0 ? await chart.locator("canvas").count() : await chart.locator("[data-testid=mon-chart-empty]").count()).toBeGreaterThan(0);
    }
    await page.screenshot({ path: `${SHOTS}/cairn-ui-monitoring.png`, fullPage: true });
    expect(pageErrors).toEqual([]);
  });

  it("marks the shifted column drifted in the latest window and overlays its distributions on a click", async () => {
    const age = page.locator("[data-testid=mon-drift-row][data-column=age]");
    await age.waitFor();
    expect(await age.getAttribute("data-drifted")).toBe("true");
    expect(await page.locator("[data-testid=mon-drift-row][data-column=score]").getAttribute("data-drifted")).toBe("false");
    expect(Number(await age.locator("[data-testid=mon-drift-statistic]").textContent())).toBeGreaterThan(0.1);
    await age.locator("[data-testid=mon-drift-column]").click();
    const hist = page.locator("[data-testid=mon-drill] [data-testid=mon-drift-histogram][data-column=age]");
    await hist.waitFor();
    expect(Number(await hist.getAttribute("data-bins"))).toBeGreaterThan(1);
    expect(await hist.locator("rect[data-side=ref]").count()).toBeGreaterThan(1);
    expect(await hist.locator("rect[data-side=cur]").count()).toBeGreaterThan(1);
    expect(await page.locator("[data-testid=mon-drill-facts]").textContent()).toContain("1,030 current values");
    // The verdict now comes from the window's report: still drifted.
    expect(await age.getAttribute("data-drifted")).toBe("true");
    await page.screenshot({ path: `${SHOTS}/cairn-ui-monitoring-drift.png`, fullPage: true });
    expect(pageErrors).toEqual([]);
  });

  it("shows the fired alert with its retraining run, and the link opens the pipeline run page", async () => {
    const fired = page.locator("[data-testid=mon-alert-row][data-kind=fired][data-rule=data-drift]");
    await fired.waitFor();
    expect(await page.locator("[data-testid=mon-alert-row]").count()).toBe(1);
    const action = fired.locator("[data-testid=mon-alert-action][data-type=pipeline]");
    expect(await action.getAttribute("data-ok")).toBe("true");
    expect(await action.textContent()).toContain(`started run ${runId}`);
    expect(await fired.locator("[data-testid=mon-alert-model-link]").getAttribute("href")).toBe(`#/models/${MODEL}`);
    const link = fired.locator("[data-testid=mon-alert-run-link]");
    expect(await link.getAttribute("href")).toBe(`#/pipelines/runs/${runId}`);
    await link.click();
    await page.locator("[data-testid=pipeline-run-page]").waitFor();
    expect(page.url()).toContain(`#/pipelines/runs/${runId}`);
    expect(pageErrors).toEqual([]);
  });

  it("runs a monitor now from its button: the series gets a window longer", async () => {
    await page.goto(`${server.url}/#/deployments/${DEP}/monitoring`);
    const drift = page.locator("[data-testid=mon-chart][data-chart=drift]");
    await drift.waitFor();
    expect(await drift.getAttribute("data-points")).toBe("2");
    await page.locator(`[data-testid=mon-monitor-row][data-monitor=${MONITOR}] [data-testid=mon-run-now]`).click();
    await expect.poll(() => drift.getAttribute("data-points"), { timeout: 15_000 }).toBe("3");
    expect(await page.locator("[data-testid=mon-window-select] option").count()).toBe(3);
    // Still firing: no new alert event.
    expect(await page.locator(`[data-testid=mon-monitor-row][data-monitor=${MONITOR}] [data-testid=mon-rule-badge][data-rule=data-drift]`).getAttribute("data-status")).toBe("firing");
    expect(await page.locator("[data-testid=mon-alert-row]").count()).toBe(1);
    const points = await api.getMonitorSeries({ params: { name: DEP, monitor: MONITOR }, query: { series: "drift.share" } });
    expect(points.points).toHaveLength(3);
    await page.screenshot({ path: `${SHOTS}/cairn-ui-monitoring-run.png`, fullPage: true });
    expect(pageErrors).toEqual([]);
  });
});
