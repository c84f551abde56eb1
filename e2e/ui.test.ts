/**
 * Drives the built web UI in headless Chromium against a real server:
 * experiments list → runs table → run page (chart, params, artifacts) → compare view.
 * Skips with a printed reason when Chromium is missing, unless CAIRN_REQUIRE_SERVICES=1.
 * Screenshots land in /tmp/cairn-ui-*.png.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import { chromiumAvailable, ensureUiBuilt, launchChromium, SHOTS, WEB_DIST, openPage } from "./browser.js";
import { apiRoutes } from "@cairn/contract";
import { ApiClient } from "@cairn/sdk/core";
import { startServer } from "../packages/server/src/server.js";

const hasChromium = chromiumAvailable("web UI e2e test");

/** A tiny valid 24×24 PNG (a blue square), built without dependencies. */
function bluePng(): Buffer {
  const crc = (buf: Buffer) => {
    let c = ~0;
    for (const b of buf) {
      c ^= b;
      for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
    }
    return ~c >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const w = 24;
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(w, 4);
  ihdr[8] = 8;
  ihdr[9] = 2; // truecolor RGB
  const raw = Buffer.alloc((w * 3 + 1) * w);
  for (let y = 0; y < w; y++) for (let x = 0; x < w; x++) raw.set([47, 109, 181], y * (w * 3 + 1) + 1 + x * 3);
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk("IHDR", ihdr), chunk("IDAT", zlib.deflateSync(raw)), chunk("IEND", Buffer.alloc(0))]);
}

describe.skipIf(!hasChromium)("web UI (e2e, headless Chromium)", () => {
  let server: { url: string; close(): Promise<void> };
  let dataDir: string;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  const expName = `ui-e2e-${Date.now()}`;
  let experimentId: string;
  const runIds: string[] = [];

  beforeAll(async () => {
    ensureUiBuilt();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-ui-e2e-"));
    server = await startServer({ port: 0, dataDir, webDir: WEB_DIST, logLevel: "silent" });
    const client = new ApiClient({ url: server.url });
    const { api } = client;

    experimentId = (await api.createExperiment({ body: { name: expName, tags: { team: "e2e" } } })).experiment.experimentId;
    const t0 = Date.now() - 600_000;
    for (const [i, lr] of ["0.01", "0.001"].entries()) {
      const run = await api.createRun({
        body: {
          experimentId,
          runName: `e2e-run-${i + 1}`,
          startTime: t0 + i * 1000,
          tags: { "mlflow.source.git.commit": "0123456789abcdef0123456789abcdef01234567", "mlflow.source.git.branch": "main", "mlflow.source.name": "train.py", "mlflow.user": "tester", team: "e2e" },
        },
      });
      const id = run.run.info.runId;
      runIds.push(id);
      const metrics = [];
      for (let s = 0; s < 500; s++) {
        metrics.push({ key: "loss", value: Math.exp(-s / (80 + i * 40)) + 0.05 * Math.sin(s / 3), step: s, timestamp: t0 + s * 100 });
        metrics.push({ key: "acc", value: 1 - Math.exp(-s / (60 + i * 30)), step: s, timestamp: t0 + s * 100 });
      }
      await api.logBatch({ params: { id }, body: { metrics } });
      await api.logBatch({ params: { id }, body: { params: [{ key: "lr", value: lr }, { key: "batch_size", value: "64" }, { key: "optimizer", value: "adam" }] } });
      await api.updateRun({ params: { id }, body: { status: "FINISHED", endTime: t0 + 60_000 + i * 5000 } });
      const put = (p: string, body: Buffer | string) =>
        client.fetchRaw(client.url(apiRoutes.uploadArtifact, { id, "*": p }), { method: "PUT", body, headers: { "content-type": "application/octet-stream" } });
      await put("config.json", JSON.stringify({ lr, layers: [64, 32], activation: "relu" }));
      await put("model/MLmodel", "artifact_path: model\nflavors:\n  python_function: {}\n");
      await put("plots/square.png", bluePng());
    }

    browser = await launchChromium();
    page = await openPage(browser, pageErrors);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("lists experiments and opens the runs table", async () => {
    await page.goto(`${server.url}/`);
    const row = page.locator("[data-testid=experiment-row]", { hasText: expName });
    await row.waitFor();
    await page.screenshot({ path: `${SHOTS}/cairn-ui-experiments.png` });
    // The experiment filter takes MLflow's grammar; the Default experiment drops out.
    await page.fill("[data-testid=experiments-filter]", "name LIKE 'ui-e2e%'");
    await page.press("[data-testid=experiments-filter]", "Enter");
    await expect.poll(() => page.locator("[data-testid=experiment-row]").count()).toBe(1);

    await row.locator("a").click();
    await page.locator("[data-testid=run-row]").nth(1).waitFor();
    expect(page.url()).toContain(`#/experiments/${experimentId}`);
    expect(await page.locator("[data-testid=run-row]").count()).toBe(2);
    await expect.poll(() => page.locator("[data-testid=runs-count]").textContent()).toContain("2 runs loaded");
    // metric and param columns appear, and the newest run comes first (default order start_time DESC)
    await page.locator("[data-testid='col-m:loss']").waitFor();
    await page.locator("[data-testid='col-p:lr']").waitFor();
    expect(await page.locator("[data-testid=run-row]").first().textContent()).toContain("e2e-run-2");
    await page.screenshot({ path: `${SHOTS}/cairn-ui-runs.png` });
  });

  it("sorts server-side by a column and filters with the MLflow grammar", async () => {
    await page.locator("[data-testid='col-p:lr']").click();
    await expect.poll(() => new URLSearchParams(page.url().split("?")[1] ?? "").get("order")).toBe("params.`lr` DESC");
    await expect.poll(() => page.locator("[data-testid=run-row]").first().textContent()).toContain("e2e-run-1");

    await page.fill("[data-testid=runs-filter]", "params.lr = '0.001'");
    await page.press("[data-testid=runs-filter]", "Enter");
    await expect.poll(() => page.locator("[data-testid=run-row]").count()).toBe(1);
    expect(await page.locator("[data-testid=run-row]").first().textContent()).toContain("e2e-run-2");

    await page.fill("[data-testid=runs-filter]", "metrics.loss >>> oops");
    await page.press("[data-testid=runs-filter]", "Enter");
    const err = page.locator("[data-testid=filter-error]");
    await err.waitFor();
    expect(await err.textContent()).toMatch(/INVALID_PARAMETER_VALUE|BAD_REQUEST/);
    await page.screenshot({ path: `${SHOTS}/cairn-ui-runs-filter-error.png` });
  });

  it("shows a run with a rendered metric chart, params and artifacts", async () => {
    await page.goto(`${server.url}/#/runs/${runIds[0]}`);
    await page.locator("[data-testid=run-page]").waitFor();
    const params = page.locator("[data-testid=params-table]");
    await params.waitFor();
    expect(await params.textContent()).toContain("lr");
    expect(await params.textContent()).toContain("0.01");
    expect(await page.locator("[data-testid=run-header]").textContent()).toContain("0123456789");

    const chart = page.locator("[data-testid=metric-chart][data-metric=loss]");
    await chart.scrollIntoViewIfNeeded();
    await chart.locator("canvas").waitFor();
    await expect.poll(() => chart.getAttribute("data-loading")).toBe("false");
    const drawn = await chart.locator("canvas").evaluate((c: HTMLCanvasElement) => {
      const ctx = c.getContext("2d")!;
      const { data } = ctx.getImageData(0, 0, c.width, c.height);
      let painted = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i]! > 0) painted++;
      return { width: c.width, height: c.height, painted };
    });
    expect(drawn.width).toBeGreaterThan(100);
    expect(drawn.height).toBeGreaterThan(50);
    expect(drawn.painted).toBeGreaterThan(500);
    expect(await chart.textContent()).toContain("500 pts");

    // Drag-to-zoom asks the server for the zoomed step range.
    const box = (await chart.locator(".u-over").boundingBox())!;
    const zoomed = page.waitForRequest((r) => r.url().includes("/metrics/loss/downsampled") && r.url().includes("minStep="));
    await page.mouse.move(box.x + box.width * 0.2, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.4, box.y + box.height / 2, { steps: 5 });
    await page.mouse.up();
    await zoomed;
    await expect.poll(() => chart.textContent()).toContain("reset zoom");

    const browserEl = page.locator("[data-testid=artifact-browser]");
    await browserEl.scrollIntoViewIfNeeded();
    await browserEl.locator("[data-testid=artifact-entry][data-path='config.json']").click();
    await expect.poll(() => page.locator("[data-testid=artifact-preview]").textContent()).toContain('"activation": "relu"');
    await browserEl.locator("[data-testid=artifact-entry][data-path='plots']").click();
    await browserEl.locator("[data-testid=artifact-entry][data-path='plots/square.png']").click();
    await expect.poll(() => page.locator(".preview-img").evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBe(24);
    await page.screenshot({ path: `${SHOTS}/cairn-ui-run.png`, fullPage: true });
  });

  it("compares two selected runs", async () => {
    await page.goto(`${server.url}/#/experiments/${experimentId}`);
    await page.locator("[data-testid=run-row]").nth(1).waitFor();
    for (const box of await page.locator("[data-testid=run-row] input[type=checkbox]").all()) await box.check();
    await page.locator("[data-testid=compare-button]").click();
    const view = page.locator("[data-testid=compare-view]");
    await view.waitFor();
    for (const id of runIds) expect(page.url()).toContain(id);

    const chart = view.locator("[data-testid=metric-chart][data-metric=loss]");
    await chart.locator("canvas").waitFor();
    await expect.poll(() => chart.getAttribute("data-loading")).toBe("false");
    const size = await chart.locator("canvas").evaluate((c: HTMLCanvasElement) => c.width * c.height);
    expect(size).toBeGreaterThan(0);
    expect(await chart.locator(".u-legend").textContent()).toContain("e2e-run-2");

    const lrRow = view.locator("[data-testid=param-row]", { hasText: "lr" }).first();
    expect(await lrRow.getAttribute("data-diff")).toBe("true");
    await view.locator("[data-testid=only-diff]").check();
    expect(await view.locator("[data-testid=param-row]").count()).toBe(1);
    await page.screenshot({ path: `${SHOTS}/cairn-ui-compare.png`, fullPage: true });
    expect(pageErrors).toEqual([]);
  });
});
