/**
 * The model page shows each version's package flavors and, for a failed registration, its message
 * (built web UI, headless Chromium, real server). Skips with a printed reason when Chromium is
 * missing, unless CAIRN_REQUIRE_SERVICES=1. Screenshot: /tmp/cairn-ui-model-packaging.png.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import { chromiumAvailable, ensureUiBuilt, launchChromium, SHOTS, WEB_DIST, openPage } from "./browser.js";
import { Cairn } from "@cairn/sdk";
import { startServer } from "../packages/server/src/server.js";

const hasChromium = chromiumAvailable("registry packaging UI e2e test");
const TINY_ONNX = path.resolve(import.meta.dirname, "../packages/server/test/fixtures/models/tiny.onnx");

describe.skipIf(!hasChromium)("model page: package flavors and failed registrations (e2e, headless Chromium)", () => {
  let server: { url: string; close(): Promise<void> };
  let dataDir: string;
  let tmp: string;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    ensureUiBuilt();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-ui-pkg-e2e-"));
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-ui-pkg-files-"));
    server = await startServer({ port: 0, dataDir, webDir: WEB_DIST, logLevel: "silent" });
    const cairn = new Cairn({ url: server.url, handleExit: false });
    const run = await cairn.startRun({ experiment: "ui-packaging", captureContext: false });
    await cairn.models.register("packaged", { runId: run.id, model: { onnx: TINY_ONNX } });
    fs.writeFileSync(path.join(tmp, "MLmodel"), "flavors:\n  cairn_js:\n    entry: index.mjs\n");
    await cairn.artifacts.upload(run.id, path.join(tmp, "MLmodel"), "broken");
    await cairn.models.createVersion({ name: "packaged", source: `runs:/${run.id}/broken` });
    await run.end();

    browser = await launchChromium();
    page = await openPage(browser, pageErrors);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("lists flavors under each version's status and shows why a registration failed", async () => {
    await page.goto(`${server.url}/#/models/packaged`);
    const rows = page.locator("[data-testid=version-row]");
    await expect.poll(() => rows.count()).toBe(2);
    const failed = page.locator("[data-testid=version-row][data-version='2']");
    const ok = page.locator("[data-testid=version-row][data-version='1']");
    expect(await ok.locator("[data-testid=version-flavors] .badge").allTextContents()).toEqual(["onnx", "python_function"]);
    expect(await ok.locator("[data-testid=version-status-message]").count()).toBe(0);
    expect(await failed.locator("[data-testid=version-flavors] .badge").allTextContents()).toEqual(["cairn_js"]);
    expect(await failed.textContent()).toContain("failed registration");
    expect(await failed.locator("[data-testid=version-status-message]").textContent()).toContain("model file 'index.mjs' is missing");
    await page.screenshot({ path: `${SHOTS}/cairn-ui-model-packaging.png` });
    expect(pageErrors).toEqual([]);
  });
});
