/**
 * Drives the model-registry pages of the built web UI in headless Chromium against a real server:
 * models list (alias badges, filter, filter error) → model page (versions, alias history, model card,
 * signatures, retirement) → version compare (params, metrics, signature compatibility).
 * Skips with a printed reason when Chromium is missing, unless CAIRN_REQUIRE_SERVICES=1.
 * Screenshots land in /tmp/cairn-ui-models*.png.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import { chromiumAvailable, ensureUiBuilt, launchChromium, SHOTS, WEB_DIST, openPage } from "./browser.js";
import { ApiClient } from "@cairn/sdk/core";
import type { ModelSignature } from "@cairn/contract";
import { startServer } from "../packages/server/src/server.js";

const hasChromium = chromiumAvailable("registry UI e2e test");

describe.skipIf(!hasChromium)("registry web UI (e2e, headless Chromium)", () => {
  let server: { url: string; close(): Promise<void> };
  let dataDir: string;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  const MODEL = "fraud-detector";
  const runIds: string[] = [];

  beforeAll(async () => {
    ensureUiBuilt();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-ui-registry-e2e-"));
    server = await startServer({ port: 0, dataDir, webDir: WEB_DIST, logLevel: "silent" });
    const { api } = new ApiClient({ url: server.url });

    const experimentId = (await api.createExperiment({ body: { name: `registry-ui-${Date.now()}` } })).experiment.experimentId;
    const t0 = Date.now() - 600_000;
    for (const [i, lr] of ["0.01", "0.001"].entries()) {
      const run = await api.createRun({ body: { experimentId, runName: `train-${i + 1}`, startTime: t0 + i * 1000, tags: { "mlflow.user": "tester" } } });
      const id = run.run.info.runId;
      runIds.push(id);
      await api.logBatch({
        params: { id },
        body: {
          params: [
            { key: "lr", value: lr },
            { key: "batch_size", value: "64" },
            { key: "optimizer", value: "adam" },
          ],
          metrics: [
            { key: "auc", value: 0.9 + i * 0.03, step: 0, timestamp: t0 },
            { key: "loss", value: 0.3 - i * 0.1, step: 0, timestamp: t0 },
          ],
        },
      });
      await api.updateRun({ params: { id }, body: { status: "FINISHED", endTime: t0 + 60_000 } });
    }

    await api.createRegisteredModel({ body: { name: MODEL, description: "Flags fraudulent card transactions.", tags: { team: "risk", owner: "ada" } } });
    await api.createRegisteredModel({ body: { name: "churn-model", description: "Another model, filtered out below." } });
    // v1 → v2 removes the `merchant` input (breaking) and adds a `label` output (not breaking).
    const signatures: ModelSignature[] = [
      {
        inputs: [
          { name: "amount", dtype: "float32", shape: [-1] },
          { name: "merchant", dtype: "string", shape: [-1] },
          { name: "features", dtype: "float32", shape: [-1, 28] },
        ],
        outputs: [{ name: "score", dtype: "float32", shape: [-1] }],
      },
      {
        inputs: [
          { name: "amount", dtype: "float32", shape: [-1] },
          { name: "features", dtype: "float32", shape: [-1, 28] },
        ],
        outputs: [
          { name: "score", dtype: "float32", shape: [-1] },
          { name: "label", dtype: "int64", shape: [-1] },
        ],
      },
    ];
    for (const [i, id] of runIds.entries()) {
      await api.createModelVersion({
        params: { name: MODEL },
        body: { source: `runs:/${id}/model`, runId: id, description: `from ${id.slice(0, 6)}`, signature: signatures[i]! },
      });
    }
    await api.retireModelVersion({ params: { name: MODEL, version: 1 }, body: { state: "deprecated", reason: "superseded by v2 (drops the merchant input)" } });
    await api.setModelCard({
      params: { name: MODEL },
      body: {
        version: 2,
        intendedUse: "Scoring card transactions for fraud review queues.",
        outOfScopeUse: "Automated account closure without human review.",
        limitations: "Trained on EU transactions only.",
        trainingDatasets: [{ name: "transactions-eu", version: "2024-06", uri: "s3://data/transactions-eu" }],
        evaluation: "Held-out month, stratified by merchant category.",
        ethicalConsiderations: "False positives delay legitimate payments.",
        riskClass: "high",
        owners: ["ada", "risk-team"],
        contact: "risk@example.com",
      },
    });
    await api.setAlias({ params: { name: MODEL, alias: "champion" }, body: { version: 1 } });
    await api.setAlias({ params: { name: MODEL, alias: "champion" }, body: { version: 2 } });
    await api.setAlias({ params: { name: MODEL, alias: "challenger" }, body: { version: 1 } });

    browser = await launchChromium();
    page = await openPage(browser, pageErrors);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("lists models with alias badges and filters with the registry grammar", async () => {
    await page.goto(`${server.url}/#/models`);
    const row = page.locator("[data-testid=model-row]", { hasText: MODEL });
    await row.waitFor();
    expect(await page.locator("[data-testid=nav-models]").getAttribute("class")).toContain("active");
    expect(await page.locator("[data-testid=model-row]").count()).toBe(2);
    const badges = await row.locator("[data-testid=alias-badge]").allTextContents();
    expect(badges).toEqual(["challenger → v1", "champion → v2"]);
    expect(await row.textContent()).toContain("v2");
    expect(await row.textContent()).toContain("Flags fraudulent card transactions.");
    await page.screenshot({ path: `${SHOTS}/cairn-ui-models.png` });

    await page.fill("[data-testid=models-filter]", "name LIKE 'fraud%'");
    await page.press("[data-testid=models-filter]", "Enter");
    await expect.poll(() => page.locator("[data-testid=model-row]").count()).toBe(1);
    expect(await page.locator("[data-testid=model-row]").first().getAttribute("data-model")).toBe(MODEL);
    expect(new URLSearchParams(page.url().split("?")[1] ?? "").get("filter")).toBe("name LIKE 'fraud%'");

    // A bad filter shows the server's message inline.
    await page.fill("[data-testid=models-filter]", "run_id = 'x'");
    await page.press("[data-testid=models-filter]", "Enter");
    const err = page.locator("[data-testid=filter-error]");
    await err.waitFor();
    expect(await err.textContent()).toContain("INVALID_PARAMETER_VALUE");
    expect(await err.textContent()).toContain("unknown field");
    await page.screenshot({ path: `${SHOTS}/cairn-ui-models-filter-error.png` });

    await page.fill("[data-testid=models-filter]", "tags.team = 'risk'");
    await page.press("[data-testid=models-filter]", "Enter");
    await expect.poll(() => page.locator("[data-testid=model-row]").count()).toBe(1);
    await page.locator("[data-testid=model-row]").first().locator("td").nth(3).click();
    await page.locator("[data-testid=model-page]").waitFor();
    expect(page.url()).toContain(`#/models/${MODEL}`);
  });

  it("shows a model's versions and its aliases' history", async () => {
    await page.goto(`${server.url}/#/models/${MODEL}`);
    await page.locator("[data-testid=model-page]").waitFor();
    const header = page.locator("[data-testid=model-header]");
    expect(await header.textContent()).toContain("Flags fraudulent card transactions.");
    expect(await page.locator("[data-testid=model-tags]").textContent()).toContain("risk");
    expect(await page.locator("[data-testid=nav-models]").getAttribute("class")).toContain("active");

    const rows = page.locator("[data-testid=version-row]");
    await expect.poll(() => rows.count()).toBe(2);
    expect(await rows.first().getAttribute("data-version")).toBe("2");
    expect(await rows.first().locator("[data-testid=alias-badge]").allTextContents()).toEqual(["champion"]);
    expect(await rows.nth(1).locator("[data-testid=alias-badge]").allTextContents()).toEqual(["challenger"]);
    expect(await rows.nth(1).locator("[data-testid=version-run-link]").getAttribute("href")).toBe(`#/runs/${runIds[0]}`);

    const champion = page.locator("[data-testid=alias-history][data-alias=champion]");
    const entries = champion.locator("[data-testid=alias-history-entry]");
    await expect.poll(() => entries.count()).toBe(2);
    // newest first: v1 → v2, then the creation → v1
    expect((await entries.nth(0).textContent())?.replace(/\s+/g, " ")).toMatch(/v1\s*→\s*v2/);
    expect((await entries.nth(1).textContent())?.replace(/\s+/g, " ")).toMatch(/created\s*→\s*v1/);
    expect(await page.locator("[data-testid=alias-history][data-alias=challenger] [data-testid=alias-history-entry]").count()).toBe(1);

    // Model card: risk class, owners, and the described version's (v2) run metrics.
    const card = page.locator("[data-testid=model-card]");
    await card.locator("[data-testid=risk-class]").waitFor();
    expect(await card.locator("[data-testid=risk-class]").textContent()).toContain("high");
    expect(await card.locator("[data-testid=card-intended-use]").textContent()).toContain("fraud review queues");
    expect(await card.locator("[data-testid=card-owners]").textContent()).toBe("ada, risk-team");
    expect(await card.locator("[data-testid=card-training-datasets]").textContent()).toContain("transactions-eu");
    expect(await card.locator("[data-testid=card-metric][data-metric=auc]").textContent()).toContain("0.93");
    expect(await card.locator("[data-testid=model-card-empty]").count()).toBe(0);

    // Retirement: v1 is deprecated, its reason in the tooltip; v2 is live.
    const badge = rows.nth(1).locator("[data-testid=retirement-badge]");
    expect(await badge.textContent()).toBe("deprecated");
    expect(await badge.getAttribute("title")).toContain("superseded by v2");
    expect(await rows.first().locator("[data-testid=retirement-badge]").count()).toBe(0);

    // Signature expander: v1's inputs with -1 shown as ?.
    expect(await rows.nth(1).locator("[data-testid=signature-toggle]").textContent()).toContain("3 in · 1 out");
    await rows.nth(1).locator("[data-testid=signature-toggle]").click();
    const sig = page.locator("[data-testid=signature-row][data-version='1']");
    await sig.waitFor();
    const features = sig.locator("[data-testid=signature-inputs] [data-testid=tensor-row][data-name=features]");
    expect((await features.textContent())?.replace(/\s+/g, " ")).toContain("float32[?, 28]");
    expect(await sig.locator("[data-testid=signature-outputs] [data-testid=tensor-row]").count()).toBe(1);
    await page.screenshot({ path: `${SHOTS}/cairn-ui-models-model.png`, fullPage: true });

    // The run link opens the source run's page.
    await rows.nth(1).locator("[data-testid=version-run-link]").click();
    await page.locator("[data-testid=run-page]").waitFor();
    expect(page.url()).toContain(`#/runs/${runIds[0]}`);
    // …which links back to the model it was registered as.
    await expect.poll(() => page.locator("[data-testid=registered-as]").textContent()).toBe(`${MODEL} v1`);
  });

  it("compares two selected versions: params diff and latest metrics", async () => {
    await page.goto(`${server.url}/#/models/${MODEL}`);
    const rows = page.locator("[data-testid=version-row]");
    await expect.poll(() => rows.count()).toBe(2);
    const compare = page.locator("[data-testid=compare-versions-button]");
    expect(await compare.isDisabled()).toBe(true);
    for (const box of await rows.locator("input[type=checkbox]").all()) await box.check();
    await compare.click();
    const view = page.locator("[data-testid=model-compare-view]");
    await view.waitFor();
    expect(page.url()).toContain(`#/models/${MODEL}/compare?versions=1,2`);

    const lrRow = view.locator("[data-testid=param-row]", { hasText: "lr" }).first();
    await lrRow.waitFor();
    expect(await lrRow.getAttribute("data-diff")).toBe("true");
    expect(await lrRow.evaluate((tr) => getComputedStyle(tr.querySelector("td:nth-child(2)")!).backgroundColor)).not.toBe("rgba(0, 0, 0, 0)");
    const same = view.locator("[data-testid=param-row]", { hasText: "optimizer" }).first();
    expect(await same.getAttribute("data-diff")).toBe("false");
    expect(await view.locator("[data-testid=param-row]").count()).toBe(3);
    const metrics = await view.locator("[data-testid=metrics-compare-table]").textContent();
    expect(metrics).toContain("auc");
    expect(metrics).toContain("0.93");

    // Signature compatibility v1 → v2: not compatible, the removed input is a breaking finding.
    const compat = view.locator("[data-testid=compatibility-panel] [data-testid=compatibility-pair]");
    await compat.waitFor();
    expect(await compat.getAttribute("data-from")).toBe("1");
    expect(await compat.getAttribute("data-to")).toBe("2");
    expect(await compat.locator("[data-testid=compatibility-verdict]").textContent()).toBe("no");
    const removed = compat.locator("[data-testid=compatibility-finding][data-kind=input_removed]");
    expect(await removed.getAttribute("data-breaking")).toBe("true");
    expect(await removed.textContent()).toContain("inputs.merchant");
    expect(await removed.locator("[data-testid=breaking-badge]").evaluate((el) => getComputedStyle(el).color)).toBe("rgb(164, 32, 47)");
    expect(await compat.locator("[data-testid=compatibility-finding][data-kind=output_added]").getAttribute("data-breaking")).toBe("false");
    await page.screenshot({ path: `${SHOTS}/cairn-ui-models-compare.png`, fullPage: true });

    await view.locator("[data-testid=only-diff]").check();
    expect(await view.locator("[data-testid=param-row]").count()).toBe(1);
    expect(pageErrors).toEqual([]);
  });

  it("shows 'No model card yet' for a model without a card", async () => {
    await page.goto(`${server.url}/#/models/churn-model`);
    const card = page.locator("[data-testid=model-card]");
    await card.locator("[data-testid=model-card-empty]").waitFor();
    expect(await card.textContent()).toContain("No model card yet");
    expect(await page.locator("[data-testid=error-banner]").count()).toBe(0);
    await page.screenshot({ path: `${SHOTS}/cairn-ui-models-no-card.png`, fullPage: true });
    expect(pageErrors).toEqual([]);
  });
});
