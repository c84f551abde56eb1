/**
 * Drives the deployments pages of the built web UI in headless Chromium against a real server:
 * an ONNX model (two versions, built as examples/credit-risk builds it) is deployed through the
 * API; the list shows it; the deployment page shows its arms; the "try it" form (generated from
 * the signature) gets an answer and a 4xx; traffic sent from outside shows up in the live counts,
 * charts and recent predictions; a canary added through the API shows in the traffic split; the
 * Roll back button (with its confirmation) returns to the previous revision, the history gains a
 * rollback entry and the canary disappears; a version that cannot load shows its error.
 * Skips with a printed reason when Chromium is missing, unless CAIRN_REQUIRE_SERVICES=1.
 * Screenshots land in /tmp/cairn-ui-deployments*.png.
 */
import fs from "node:fs";
import { logisticOnnxFile } from "./models.js";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import { ApiClient } from "@cairn/sdk/core";
import { Cairn } from "@cairn/sdk";
import type { Deployment } from "@cairn/contract";
import { onnxSignature } from "../examples/credit-risk/src/onnx-export.js";
import { chromiumAvailable, ensureUiBuilt, launchChromium, openPage, SHOTS, WEB_DIST } from "./browser.js";
import { startServer } from "../packages/server/src/server.js";

const hasChromium = chromiumAvailable("deployments UI e2e test");

const D = 3;
const MODEL = "ui-scorer";
const DEP = "ui-scorer-prod";
const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

describe.skipIf(!hasChromium)("deployments web UI (e2e, headless Chromium)", () => {
  let server: { url: string; close(): Promise<void> };
  let tmp: string;
  let browser: Browser;
  let page: Page;
  let api: ApiClient["api"];
  const pageErrors: string[] = [];

  const onnxFile = (weights: number[], bias: number, name: string) => logisticOnnxFile(tmp, weights, bias, name);

  /** Polls the deployment until `ok` holds (or throws with its last state). */
  async function waitFor(ok: (d: Deployment) => boolean, what: string): Promise<Deployment> {
    let last: Deployment | undefined;
    for (let i = 0; i < 300; i++) {
      last = await api.getDeployment({ params: { name: DEP } });
      if (ok(last)) return last;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`deployment ${DEP} never became ${what}: ${JSON.stringify(last)}`);
  }

  async function infer(row: number[]) {
    const res = await fetch(`${server.url}/deployments/${DEP}/v2/models/${MODEL}/infer`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ inputs: [{ name: "features", datatype: "FP32", shape: [1, D], data: row }] }),
    });
    if (!res.ok) throw new Error(`infer: ${res.status} ${await res.text()}`);
    return { arm: res.headers.get("x-cairn-arm"), version: res.headers.get("x-cairn-model-version"), body: (await res.json()) as Record<string, unknown> };
  }

  beforeAll(async () => {
    ensureUiBuilt();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-ui-deployments-e2e-"));
    // The broken JS-module version must get as far as loading (and fail there), so JS modules are allowed here.
    server = await startServer({ port: 0, dataDir: path.join(tmp, "data"), webDir: WEB_DIST, logLevel: "silent", deployJsModels: true });
    api = new ApiClient({ url: server.url }).api;
    const sdk = new Cairn({ url: server.url, handleExit: false });
    // One run per version: a version's source is its run's logged package.
    const register = async (model: { onnx: string } | { jsModule: string }) => {
      const run = await sdk.startRun({ experiment: "deployments-ui" });
      await sdk.models.register(MODEL, { runId: run.id, model, signature: onnxSignature(D) });
      await run.end();
    };
    await register({ onnx: onnxFile([1, -2, 0.5], 0.1, "v1.onnx") });
    await register({ onnx: onnxFile([2, 1, -1], -0.3, "v2.onnx") });
    // v3: a JS-module package whose module exports no predict(): it registers (the server never runs
    // it then) but cannot load when deployed.
    const broken = path.join(tmp, "broken");
    fs.mkdirSync(broken);
    fs.writeFileSync(path.join(broken, "index.mjs"), "export const notAModel = 1;\n");
    await register({ jsModule: broken });

    await api.createDeployment({ body: { name: DEP, model: MODEL, primary: { version: "1" }, description: "credit scorer for the UI test" } });
    await waitFor((d) => d.state === "ready", "ready");

    browser = await launchChromium();
    page = await openPage(browser, pageErrors);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("lists the deployment with its model, primary version, state and revision", async () => {
    await page.goto(`${server.url}/#/deployments`);
    const row = page.locator(`[data-testid=deployment-row][data-deployment=${DEP}]`);
    await row.waitFor();
    expect(await page.locator("[data-testid=nav-deployments]").getAttribute("class")).toContain("active");
    expect(await row.locator("[data-testid=deployment-model]").textContent()).toBe(MODEL);
    expect(await row.locator("[data-testid=deployment-primary]").textContent()).toBe("v1");
    expect(await row.locator("[data-testid=deployment-canary]").textContent()).toBe("—");
    expect(await row.locator("[data-testid=deployment-state]").getAttribute("data-state")).toBe("ready");
    expect(await row.locator("[data-testid=deployment-revision]").textContent()).toBe("1");

    // Filtered by another model: the empty state names it.
    await page.goto(`${server.url}/#/deployments?model=other-model`);
    await page.locator("[data-testid=deployments-empty]").waitFor();
    expect(await page.locator("[data-testid=deployments-empty]").textContent()).toContain("other-model");
    await page.goto(`${server.url}/#/deployments?model=${MODEL}`);
    await row.waitFor();
    await page.screenshot({ path: `${SHOTS}/cairn-ui-deployments.png`, fullPage: true });
    await row.locator("td").nth(5).click();
    await page.locator("[data-testid=deployment-page]").waitFor();
    expect(page.url()).toContain(`#/deployments/${DEP}`);
    expect(pageErrors).toEqual([]);
  });

  it("shows the header and the primary arm", async () => {
    await page.goto(`${server.url}/#/deployments/${DEP}`);
    await page.locator("[data-testid=deployment-page]").waitFor();
    expect(await page.locator("[data-testid=deployment-header] [data-testid=deployment-state]").getAttribute("data-state")).toBe("ready");
    expect(await page.locator("[data-testid=deployment-model-link]").getAttribute("href")).toBe(`#/models/${MODEL}`);
    expect(await page.locator("[data-testid=deployment-header] [data-testid=deployment-revision]").textContent()).toBe("1");
    const arms = page.locator("[data-testid=arm-card]");
    expect(await arms.count()).toBe(1);
    const primary = page.locator("[data-testid=arm-card][data-arm=primary]");
    expect(await primary.getAttribute("data-state")).toBe("ready");
    expect(await primary.locator("[data-testid=arm-version]").textContent()).toBe("v1");
    expect(await primary.locator("[data-testid=arm-traffic]").textContent()).toBe("100%");
    expect(await page.locator("[data-testid=traffic-seg][data-arm=primary]").getAttribute("data-percent")).toBe("100");
    expect(await page.locator("[data-testid=traffic-seg][data-arm=canary]").count()).toBe(0);
    expect(await page.locator("[data-testid=promote-canary]").count()).toBe(0);
    expect(await page.locator("[data-testid=rollback]").isDisabled()).toBe(true);
    await expect.poll(() => page.locator("[data-testid=history-entry]").count(), { timeout: 10_000 }).toBe(1);
    expect(await page.locator("[data-testid=history-entry]").first().getAttribute("data-action")).toBe("create");
    expect(pageErrors).toEqual([]);
  });

  it("sends a prediction from the try-it form and shows the outputs, request id, arm and version", async () => {
    const form = page.locator("[data-testid=try-form]");
    await form.waitFor();
    const input = page.locator("[data-testid=try-input][data-input=features]");
    expect(await input.locator("[data-testid=try-input-datatype]").textContent()).toBe("FP32");
    expect(await input.locator("[data-testid=try-input-shape]").textContent()).toBe("[?, 3]");
    const fields = input.locator("[data-testid=try-field]");
    expect(await fields.count()).toBe(D);
    expect(await fields.first().inputValue()).toBe("0");
    await fields.nth(0).fill("1");
    await fields.nth(1).fill("0");
    await fields.nth(2).fill("2");
    await page.locator("[data-testid=try-send]").click();
    const result = page.locator("[data-testid=try-result]");
    await result.waitFor();
    expect(await page.locator("[data-testid=try-arm]").getAttribute("data-arm")).toBe("primary");
    expect(await page.locator("[data-testid=try-version]").textContent()).toBe("v1");
    expect((await page.locator("[data-testid=try-request-id]").textContent())?.length).toBeGreaterThan(0);
    expect(await page.locator("[data-testid=try-latency]").textContent()).toMatch(/ms$/);
    const prob = JSON.parse((await page.locator("[data-testid=try-output][data-output=probability] [data-testid=try-output-data]").textContent()) ?? "null") as number[];
    expect(prob[0]).toBeCloseTo(sigmoid(1 * 1 + 0 * -2 + 2 * 0.5 + 0.1), 5);
    expect(await page.locator("[data-testid=try-output][data-output=label] [data-testid=try-output-data]").textContent()).toBe("[1]");

    // A value FP32 cannot hold: a 400 with the server's code and message.
    await fields.nth(0).fill("1e39");
    await page.locator("[data-testid=try-send]").click();
    const err = page.locator("[data-testid=try-error]");
    await err.waitFor();
    expect(await err.getAttribute("data-status")).toBe("400");
    expect(await page.locator("[data-testid=try-error-code]").textContent()).toBe("INVALID_PARAMETER_VALUE");
    expect(await page.locator("[data-testid=try-error-message]").textContent()).toContain("features");
    expect(pageErrors).toEqual([]);
  });

  it("updates the live counts, charts and recent predictions as traffic arrives", async () => {
    const requests = page.locator("[data-testid=arm-stats-row][data-arm=primary] [data-testid=arm-requests]");
    await expect.poll(async () => Number((await requests.textContent()) ?? "0"), { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
    const before = Number((await requests.textContent()) ?? "0");
    for (let i = 0; i < 20; i++) await infer([i / 10, 1, 0]);
    await expect.poll(async () => Number((await requests.textContent()) ?? "0"), { timeout: 10_000 }).toBeGreaterThanOrEqual(before + 20);
    const rate = page.locator("[data-testid=dep-chart][data-chart=rate]");
    await expect.poll(async () => Number(await rate.getAttribute("data-total")), { timeout: 10_000 }).toBeGreaterThanOrEqual(before + 20);
    expect(await rate.getAttribute("data-series")).toBe("primary");
    expect(await rate.locator("canvas").count()).toBeGreaterThan(0);
    expect(await page.locator("[data-testid=dep-chart][data-chart=latency]").getAttribute("data-series")).toBe("primary mean,primary p99");
    expect(await page.locator("[data-testid=arm-stats-row][data-arm=primary] [data-testid=arm-p99]").textContent()).toMatch(/ms$/);
    expect(await page.locator("[data-testid=shadow-dropped]").textContent()).toBe("0");

    const rows = page.locator("[data-testid=recent-row]");
    await expect.poll(() => rows.count(), { timeout: 10_000 }).toBeGreaterThanOrEqual(10);
    expect(await rows.first().getAttribute("data-arm")).toBe("primary");
    await rows.first().click();
    const detail = page.locator("[data-testid=recent-detail]");
    await detail.waitFor();
    expect(await detail.locator("[data-testid=recent-inputs]").textContent()).toContain("features");
    expect(await detail.locator("[data-testid=recent-outputs]").textContent()).toContain("probability");
    await page.screenshot({ path: `${SHOTS}/cairn-ui-deployment.png`, fullPage: true });
    expect(pageErrors).toEqual([]);
  });

  it("shows a canary added through the API in the arms and the traffic split", async () => {
    await api.updateDeployment({ params: { name: DEP }, body: { canary: { version: "2", percent: 25 }, message: "try v2 on a quarter" } });
    await waitFor((d) => d.state === "ready" && d.arms.some((a) => a.arm === "canary" && a.state === "ready"), "ready with a canary");
    const canary = page.locator("[data-testid=arm-card][data-arm=canary]");
    await canary.waitFor({ timeout: 10_000 });
    expect(await canary.locator("[data-testid=arm-version]").textContent()).toBe("v2");
    expect(await canary.locator("[data-testid=arm-traffic]").textContent()).toBe("25%");
    expect(await page.locator("[data-testid=traffic-seg][data-arm=canary]").getAttribute("data-percent")).toBe("25");
    expect(await page.locator("[data-testid=traffic-seg][data-arm=primary]").getAttribute("data-percent")).toBe("75");
    expect(await page.locator("[data-testid=arm-card][data-arm=primary] [data-testid=arm-traffic]").textContent()).toBe("75%");
    await page.locator("[data-testid=promote-canary]").waitFor();
    await expect.poll(() => page.locator("[data-testid=history-entry]").count(), { timeout: 10_000 }).toBe(2);
    const newest = page.locator("[data-testid=history-entry]").first();
    expect(await newest.getAttribute("data-action")).toBe("update");
    expect(await newest.locator("[data-testid=history-message]").textContent()).toBe("try v2 on a quarter");
    expect(await newest.locator("[data-testid=history-changes] [data-arm=canary]").textContent()).toContain("v2 (25%)");

    // Traffic now reaches both arms (25% to the canary: 60 requests all on one side is ~1e-7 likely).
    const arms = new Set<string | null>();
    for (let i = 0; i < 60; i++) arms.add((await infer([0, 0, i])).arm);
    expect(arms).toEqual(new Set(["primary", "canary"]));
    await expect.poll(async () => Number((await page.locator("[data-testid=arm-stats-row][data-arm=canary] [data-testid=arm-requests]").textContent()) ?? "0"), { timeout: 10_000 }).toBeGreaterThan(0);
    await expect.poll(async () => (await page.locator("[data-testid=dep-chart][data-chart=rate]").getAttribute("data-series")) ?? "", { timeout: 10_000 }).toContain("canary");
    await page.screenshot({ path: `${SHOTS}/cairn-ui-deployment-canary.png`, fullPage: true });
    expect(pageErrors).toEqual([]);
  });

  it("rolls back through the button and its confirmation: a rollback entry, the canary gone", async () => {
    await page.locator("[data-testid=rollback]").click();
    const dialog = page.locator("[data-testid=rollback-dialog]");
    await dialog.waitFor();
    const summary = (await page.locator("[data-testid=rollback-summary]").textContent()) ?? "";
    expect(summary).toContain("revision 1");
    expect(await page.locator("[data-testid=rollback-versions]").textContent()).toBe("primary v1");
    // Cancel first: nothing happens.
    await page.locator("[data-testid=rollback-cancel]").click();
    await dialog.waitFor({ state: "detached" });
    expect((await api.getDeployment({ params: { name: DEP } })).revision).toBe(2);

    await page.locator("[data-testid=rollback]").click();
    await dialog.waitFor();
    await page.locator("[data-testid=rollback-message]").fill("v2 looks off");
    await page.locator("[data-testid=rollback-confirm]").click();
    await dialog.waitFor({ state: "detached" });
    await expect.poll(() => page.locator("[data-testid=deployment-header] [data-testid=deployment-revision]").textContent(), { timeout: 10_000 }).toBe("3");
    await expect.poll(() => page.locator("[data-testid=arm-card][data-arm=canary]").count(), { timeout: 10_000 }).toBe(0);
    expect(await page.locator("[data-testid=traffic-seg][data-arm=primary]").getAttribute("data-percent")).toBe("100");
    expect(await page.locator("[data-testid=promote-canary]").count()).toBe(0);
    await expect.poll(() => page.locator("[data-testid=history-entry]").count(), { timeout: 10_000 }).toBe(3);
    const newest = page.locator("[data-testid=history-entry]").first();
    expect(await newest.getAttribute("data-action")).toBe("rollback");
    expect(await newest.getAttribute("data-revision")).toBe("3");
    expect(await newest.locator("[data-testid=history-message]").textContent()).toContain("v2 looks off");
    const d = await api.getDeployment({ params: { name: DEP } });
    expect([d.revision, d.spec.canary, d.spec.primary]).toEqual([3, null, { version: "1" }]);
    await page.screenshot({ path: `${SHOTS}/cairn-ui-deployment-rollback.png`, fullPage: true });
    expect(pageErrors).toEqual([]);
  });

  it("shows a version that cannot load as a failed arm with its error", async () => {
    await api.updateDeployment({ params: { name: DEP }, body: { shadow: { version: "3" } } });
    await waitFor((d) => d.arms.some((a) => a.arm === "shadow" && a.state === "failed"), "failed on the shadow");
    const shadow = page.locator("[data-testid=arm-card][data-arm=shadow]");
    await expect.poll(() => shadow.getAttribute("data-state"), { timeout: 10_000 }).toBe("failed");
    expect(await shadow.locator("[data-testid=arm-traffic]").textContent()).toBe("copy");
    expect(await shadow.locator("[data-testid=arm-error]").textContent()).toMatch(/predict/);
    expect(await page.locator("[data-testid=traffic-seg][data-arm=shadow]").getAttribute("data-percent")).toBe("copy");
    // The primary still answers.
    expect((await infer([1, 1, 1])).arm).toBe("primary");
    await page.screenshot({ path: `${SHOTS}/cairn-ui-deployment-failed.png`, fullPage: true });
    expect(pageErrors).toEqual([]);
  });

  it("promotes a canary through the button and its confirmation", async () => {
    await api.updateDeployment({ params: { name: DEP }, body: { canary: { version: "2", percent: 10 }, shadow: null } });
    await waitFor((d) => d.state === "ready" && d.arms.some((a) => a.arm === "canary" && a.state === "ready"), "ready with a canary again");
    const promote = page.locator("[data-testid=promote-canary]");
    await promote.waitFor({ timeout: 10_000 });
    await promote.click();
    const dialog = page.locator("[data-testid=promote-dialog]");
    await dialog.waitFor();
    expect(await page.locator("[data-testid=promote-summary]").textContent()).toContain("v2");
    await page.locator("[data-testid=promote-confirm]").click();
    await dialog.waitFor({ state: "detached" });
    await expect.poll(() => page.locator("[data-testid=arm-card][data-arm=canary]").count(), { timeout: 10_000 }).toBe(0);
    await expect.poll(() => page.locator("[data-testid=arm-card][data-arm=primary]").getAttribute("data-version"), { timeout: 10_000 }).toBe("2");
    await expect.poll(() => page.locator("[data-testid=history-entry]").first().getAttribute("data-action"), { timeout: 10_000 }).toBe("promote-canary");
    expect(await page.locator("[data-testid=history-entry]").first().locator("[data-testid=history-changes] [data-arm=primary]").textContent()).toContain("v1 → v2");
    const d = await api.getDeployment({ params: { name: DEP } });
    expect([d.spec.canary, d.spec.primary]).toEqual([null, { version: "2" }]);
    expect(pageErrors).toEqual([]);
  });
});
