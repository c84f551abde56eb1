/**
 * Drives the data-versioning pages of the built web UI in headless Chromium against a real server:
 * datasets list (filter) → dataset page (versions timeline, version selector, file tree with an
 * external file and download links, profiles with a histogram and top-k values, a failed
 * validation) → version diff (schema change, row delta, column shifts) → lineage graph
 * (dataset → run → model, nodes navigate). Test data goes in through the HTTP API: the dataset,
 * its blobs (PUT /api/v1/datasets/<name>/blobs/<sha256>), its expectations and its versions.
 * Skips with a printed reason when Chromium is missing, unless CAIRN_REQUIRE_SERVICES=1.
 * Screenshots land in /tmp/cairn-ui-datasets*.png.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import { chromiumAvailable, ensureUiBuilt, launchChromium, SHOTS, WEB_DIST, openPage } from "./browser.js";
import { ApiClient } from "@cairn/sdk/core";
import type { ManifestEntryInput } from "@cairn/contract";
import { startServer } from "../packages/server/src/server.js";

const hasChromium = chromiumAvailable("datasets UI e2e test");

/** A CSV of `rows` rows; v2 drops `age`, adds `income` and has one out-of-range amount. */
function csv(rows: number, v2: boolean): string {
  const segments = ["retail", "retail", "retail", "sme", "sme", "corporate"];
  const head = v2 ? "id,amount,segment,income" : "id,amount,age,segment";
  const lines = [head];
  for (let i = 0; i < rows; i++) {
    const amount = v2 && i === 0 ? 5000 : 10 + ((i * 37) % 900);
    const seg = segments[i % segments.length]!;
    lines.push(v2 ? `${i + 1},${amount},${seg},${30000 + i * 1000}` : `${i + 1},${amount},${20 + (i % 50)},${seg}`);
  }
  return `${lines.join("\n")}\n`;
}

describe.skipIf(!hasChromium)("datasets web UI (e2e, headless Chromium)", () => {
  let server: { url: string; close(): Promise<void> };
  let dataDir: string;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  const DATASET = "credit-applications";
  const MODEL = "credit-scorer";
  let runId = "";

  /** Uploads bytes for the test dataset and returns their manifest entry. */
  async function blob(p: string, text: string): Promise<ManifestEntryInput> {
    const bytes = Buffer.from(text);
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    const res = await fetch(`${server.url}/api/v1/datasets/${DATASET}/blobs/${sha256}`, { method: "PUT", headers: { "content-type": "application/octet-stream" }, body: bytes });
    if (!res.ok) throw new Error(`blob upload ${p}: ${res.status} ${await res.text()}`);
    return { path: p, size: bytes.length, mode: 0o644, sha256 };
  }

  beforeAll(async () => {
    ensureUiBuilt();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-ui-datasets-e2e-"));
    server = await startServer({ port: 0, dataDir, webDir: WEB_DIST, logLevel: "silent" });
    const { api } = new ApiClient({ url: server.url });

    await api.createDataset({ body: { name: DATASET, description: "Loan applications with outcomes.", tags: { team: "risk" } } });
    await api.createDataset({ body: { name: "weather-daily", description: "Filtered out below." } });
    await api.setExpectations({
      params: { name: DATASET },
      body: {
        expectations: [
          { type: "range", column: "amount", min: 0, max: 1000 },
          { type: "column_exists", column: "age" },
          { type: "not_null", column: "id" },
        ],
      },
    });
    const external: ManifestEntryInput = { path: "raw/archive.bin", size: 123_456, mode: 0o644, uri: "s3://bucket/credit/archive.bin", etag: "abc123" };
    await api.createVersion({
      params: { name: DATASET },
      body: {
        message: "initial import",
        tags: ["baseline"],
        files: [await blob("data/train.csv", csv(20, false)), await blob("docs/README.md", "# Credit applications\n"), external],
      },
    });
    await api.createVersion({
      params: { name: DATASET },
      body: {
        message: "add income, drop age",
        files: [await blob("data/train.csv", csv(30, true)), await blob("data/notes.txt", "income from bureau feed\n"), external],
      },
    });

    const experimentId = (await api.createExperiment({ body: { name: `datasets-ui-${Date.now()}` } })).experiment.experimentId;
    const run = await api.createRun({ body: { experimentId, runName: "train-scorer", startTime: Date.now() - 60_000 } });
    runId = run.run.info.runId;
    await api.linkRunDataset({ params: { id: runId }, body: { dataset: DATASET, version: "v2", direction: "input", context: "training" } });
    await api.updateRun({ params: { id: runId }, body: { status: "FINISHED", endTime: Date.now() } });
    await api.createRegisteredModel({ body: { name: MODEL } });
    await api.createModelVersion({ params: { name: MODEL }, body: { source: `runs:/${runId}/model`, runId } });

    browser = await launchChromium();
    page = await openPage(browser, pageErrors);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("lists datasets with their latest version and filters by name", async () => {
    await page.goto(`${server.url}/#/datasets`);
    const row = page.locator(`[data-testid=dataset-row][data-dataset=${DATASET}]`);
    await row.waitFor();
    expect(await page.locator("[data-testid=nav-datasets]").getAttribute("class")).toContain("active");
    expect(await page.locator("[data-testid=dataset-row]").count()).toBe(2);
    expect(await row.locator("[data-testid=dataset-latest]").textContent()).toBe("v2");
    expect(await row.locator("[data-testid=dataset-version-count]").textContent()).toBe("2");
    expect(await row.textContent()).toContain("Loan applications with outcomes.");
    await page.screenshot({ path: `${SHOTS}/cairn-ui-datasets.png` });

    await page.fill("[data-testid=datasets-filter]", "CREDIT");
    await page.press("[data-testid=datasets-filter]", "Enter");
    await expect.poll(() => page.locator("[data-testid=dataset-row]").count()).toBe(1);
    expect(new URLSearchParams(page.url().split("?")[1] ?? "").get("q")).toBe("CREDIT");

    await page.fill("[data-testid=datasets-filter]", "no-such-dataset");
    await page.press("[data-testid=datasets-filter]", "Enter");
    await page.locator("[data-testid=datasets-empty]").waitFor();

    await page.goto(`${server.url}/#/datasets?q=credit`);
    await page.locator(`[data-testid=dataset-row][data-dataset=${DATASET}] td`).nth(1).click();
    await page.locator("[data-testid=dataset-page]").waitFor();
    expect(page.url()).toContain(`#/datasets/${DATASET}`);
  });

  it("shows versions, the file tree, profiles and a failed validation", async () => {
    await page.goto(`${server.url}/#/datasets/${DATASET}`);
    await page.locator("[data-testid=dataset-page]").waitFor();
    expect(await page.locator("[data-testid=dataset-header]").textContent()).toContain("Loan applications with outcomes.");
    expect(await page.locator("[data-testid=dataset-expectations]").textContent()).toBe("3");

    // Timeline: newest first, with validation badges and tags.
    const items = page.locator("[data-testid=dataset-version]");
    await expect.poll(() => items.count()).toBe(2);
    expect(await items.nth(0).getAttribute("data-version")).toBe("2");
    expect(await items.nth(0).getAttribute("data-validation")).toBe("failed");
    expect(await items.nth(0).getAttribute("aria-current")).toBe("true");
    expect(await items.nth(0).textContent()).toContain("add income, drop age");
    expect(await items.nth(1).getAttribute("data-validation")).toBe("passed");
    expect(await items.nth(1).locator("[data-testid=version-tag]").allTextContents()).toEqual(["baseline"]);

    // The latest version is selected: files as a tree, external file marked, stored ones downloadable.
    const detail = page.locator("[data-testid=version-detail]");
    expect(await detail.getAttribute("data-version")).toBe("2");
    const tree = page.locator("[data-testid=file-tree]");
    const train = tree.locator('[data-testid=tree-file][data-path="data/train.csv"]');
    await train.waitFor();
    expect(await tree.locator("[data-testid=tree-dir]").evaluateAll((els) => els.map((e) => e.getAttribute("data-path")))).toEqual(["data", "raw"]);
    const ext = tree.locator('[data-testid=tree-file][data-path="raw/archive.bin"]');
    expect(await ext.getAttribute("data-external")).toBe("true");
    expect(await ext.locator("[data-testid=external-badge]").count()).toBe(1);
    expect(await ext.locator("[data-testid=file-download]").count()).toBe(0);
    const dl = await train.locator("[data-testid=file-download]").getAttribute("href");
    expect(dl).toContain(`/api/v1/datasets/${DATASET}/versions/v2/files/data/train.csv`);
    const body = await (await fetch(dl!)).text();
    expect(body.split("\n")[0]).toBe("id,amount,segment,income");
    // Directories collapse.
    await tree.locator('[data-testid=tree-dir][data-path="data"]').click();
    expect(await train.count()).toBe(0);
    await tree.locator('[data-testid=tree-dir][data-path="data"]').click();
    await train.waitFor();

    // Validation: the out-of-range amount and the missing column fail; not_null passes.
    const report = page.locator("[data-testid=validation-report]");
    expect(await report.getAttribute("data-status")).toBe("failed");
    const failed = report.locator("[data-testid=validation-result][data-passed=false]");
    expect(await failed.count()).toBe(2);
    const range = report.locator("[data-testid=validation-result][data-type=range]");
    expect(await range.getAttribute("data-passed")).toBe("false");
    expect(await range.textContent()).toContain("data/train.csv");
    expect(await range.locator("[data-testid=validation-observed]").textContent()).toMatch(/5,?000/);
    expect(await report.locator("[data-testid=validation-result][data-type=not_null]").getAttribute("data-passed")).toBe("true");

    // Profile: a histogram for the numeric column, top-k bars for the categorical one.
    const profile = page.locator('[data-testid=profile][data-path="data/train.csv"]');
    await profile.waitFor();
    expect(await profile.locator("[data-testid=profile-summary]").textContent()).toContain("30 rows");
    const amountRow = profile.locator("[data-testid=profile-column][data-column=amount]");
    expect(await amountRow.getAttribute("data-kind")).toBe("numeric");
    expect(await amountRow.textContent()).toContain("5,000");
    const hist = profile.locator("[data-testid=histogram][data-column=amount]");
    await hist.locator("canvas").first().waitFor();
    expect(await hist.getAttribute("aria-label")).toMatch(/Histogram of amount: \d+ bins, 30 values/);
    await hist.scrollIntoViewIfNeeded();
    const box = await hist.locator(".u-over").boundingBox();
    expect(box?.width).toBeGreaterThan(100);
    await page.mouse.move(box!.x + box!.width * 0.02, box!.y + box!.height / 2);
    await expect.poll(() => hist.locator("[data-testid=histogram-readout]").textContent()).toMatch(/^\[35, [\d.,]+\): 12$/);
    const topk = profile.locator("[data-testid=topk][data-column=segment]");
    expect(await topk.locator("[data-testid=topk-value]").evaluateAll((els) => els.map((e) => e.getAttribute("data-value")))).toEqual(["retail", "sme", "corporate"]);
    await page.screenshot({ path: `${SHOTS}/cairn-ui-dataset.png`, fullPage: true });

    // The version selector switches to v1, which passed validation and had `age`.
    await page.selectOption("[data-testid=version-select]", "1");
    await expect.poll(() => detail.getAttribute("data-version")).toBe("1");
    expect(new URLSearchParams(page.url().split("?")[1] ?? "").get("version")).toBe("1");
    expect(await items.nth(1).getAttribute("aria-current")).toBe("true");
    await expect.poll(() => report.getAttribute("data-status")).toBe("passed");
    await page.locator('[data-testid=tree-file][data-path="docs/README.md"]').waitFor();
    await profile.locator("[data-testid=profile-column][data-column=age]").waitFor();
    expect(await page.locator("[data-testid=error-banner]").count()).toBe(0);
    expect(pageErrors).toEqual([]);
  });

  it("compares two versions: files, schema change, row delta and column shifts", async () => {
    await page.goto(`${server.url}/#/datasets/${DATASET}?version=2`);
    await page.locator("[data-testid=compare-select]").waitFor();
    // The page may first render the previous URL's version (a hash change, not a reload) before it settles.
    await expect.poll(() => page.locator("[data-testid=compare-select]").inputValue()).toBe("1");
    await page.locator("[data-testid=compare-link]").click();
    await page.locator("[data-testid=dataset-diff-page]").waitFor();
    expect(page.url()).toContain(`#/datasets/${DATASET}/diff?from=v1&to=v2`);

    await page.locator("[data-testid=diff-summary]").waitFor();
    expect(await page.locator("[data-testid=diff-added-count]").textContent()).toContain("+1");
    expect(await page.locator("[data-testid=diff-removed-count]").textContent()).toContain("1");
    expect(await page.locator("[data-testid=diff-modified-count]").textContent()).toContain("1");
    expect(await page.locator('[data-testid=diff-file][data-change=added]').getAttribute("data-path")).toBe("data/notes.txt");
    expect(await page.locator('[data-testid=diff-file][data-change=removed]').getAttribute("data-path")).toBe("docs/README.md");
    expect(await page.locator('[data-testid=diff-file][data-change=modified]').getAttribute("data-path")).toBe("data/train.csv");

    const t = page.locator('[data-testid=tabular-diff][data-path="data/train.csv"]');
    expect(await t.locator("[data-testid=row-delta]").getAttribute("data-delta")).toBe("10");
    expect((await t.locator("[data-testid=row-delta]").textContent())?.replace(/\s+/g, " ")).toContain("20 → 30 +10");
    expect(await t.locator("[data-testid=schema-change][data-change=added]").getAttribute("data-column")).toBe("income");
    expect(await t.locator("[data-testid=schema-change][data-change=removed]").getAttribute("data-column")).toBe("age");
    const maxShift = t.locator("[data-testid=column-shift][data-column=amount] [data-testid=stat-shift][data-stat=max]");
    expect(await maxShift.textContent()).toContain("5,000");
    expect(await maxShift.getAttribute("class")).toContain("ds-shift-big");
    await page.screenshot({ path: `${SHOTS}/cairn-ui-dataset-diff.png`, fullPage: true });

    // Swapping reverses the delta.
    await page.getByRole("button", { name: /Swap/ }).click();
    await expect.poll(() => t.locator("[data-testid=row-delta]").getAttribute("data-delta")).toBe("-10");
    expect(pageErrors).toEqual([]);
  });

  it("draws the lineage dataset → run → model and navigates from its nodes", async () => {
    await page.goto(`${server.url}/#/datasets/${DATASET}?version=2`);
    await page.locator("[data-testid=dataset-lineage-link]").click();
    await page.locator("[data-testid=lineage-graph]").waitFor();
    expect(decodeURIComponent(page.url())).toContain(`#/lineage?node=dataset:${DATASET}@v2`);

    const node = (id: string) => page.locator(`[data-testid=lineage-node][data-node-id="${id}"]`);
    const ds = node(`dataset:${DATASET}@v2`);
    const run = node(`run:${runId}`);
    const model = node(`model:${MODEL}/1`);
    await model.waitFor();
    expect(await ds.getAttribute("data-root")).toBe("true");
    expect(await page.locator("[data-testid=lineage-edge]").evaluateAll((els) => els.map((e) => `${e.getAttribute("data-kind")}:${e.getAttribute("data-from")}>${e.getAttribute("data-to")}`).sort())).toEqual(
      [`input:dataset:${DATASET}@v2>run:${runId}`, `model:run:${runId}>model:${MODEL}/1`].sort(),
    );
    // Layered columns, left to right: dataset, run, model.
    const x = async (l: typeof ds) => (await l.boundingBox())!.x;
    expect(await x(ds)).toBeLessThan(await x(run));
    expect(await x(run)).toBeLessThan(await x(model));
    expect(await run.textContent()).toContain("train-scorer");
    await page.screenshot({ path: `${SHOTS}/cairn-ui-lineage.png`, fullPage: true });

    // Direction: upstream of the dataset version has nothing recorded.
    await page.selectOption("[data-testid=lineage-direction]", "upstream");
    await page.locator("[data-testid=lineage-alone]").waitFor();
    expect(await page.locator("[data-testid=lineage-node]").count()).toBe(1);
    await page.selectOption("[data-testid=lineage-direction]", "both");
    await model.waitFor();

    // Nodes open their pages.
    await run.click();
    await page.locator("[data-testid=run-page]").waitFor();
    expect(page.url()).toContain(`#/runs/${runId}`);
    await page.locator("[data-testid=run-lineage-link]").click();
    await node(`model:${MODEL}/1`).click();
    await page.locator("[data-testid=model-page]").waitFor();
    expect(page.url()).toContain(`#/models/${MODEL}`);
    await page.locator("[data-testid=version-lineage-link]").click();
    await node(`dataset:${DATASET}@v2`).click();
    await page.locator("[data-testid=dataset-page]").waitFor();
    expect(page.url()).toContain(`#/datasets/${DATASET}?version=2`);
    await expect.poll(() => page.locator("[data-testid=version-detail]").getAttribute("data-version")).toBe("2");
    expect(pageErrors).toEqual([]);
  });

  it("limits the lineage walk by depth from a model version", async () => {
    await page.goto(`${server.url}/#/lineage?node=${encodeURIComponent(`model:${MODEL}/1`)}&direction=upstream&depth=1`);
    await page.locator("[data-testid=lineage-graph]").waitFor();
    await expect.poll(() => page.locator("[data-testid=lineage-node]").count()).toBe(2);
    expect(await page.locator("[data-testid=lineage-direction]").inputValue()).toBe("upstream");
    await page.fill("[data-testid=lineage-depth]", "2");
    await expect.poll(() => page.locator("[data-testid=lineage-node]").count()).toBe(3);
    expect(new URLSearchParams(page.url().split("?")[1] ?? "").get("depth")).toBe("2");
    expect(pageErrors).toEqual([]);
  });

  it("shows empty states, and the server's error for an unknown dataset", async () => {
    await page.goto(`${server.url}/#/datasets/weather-daily`);
    await page.locator("[data-testid=no-versions]").waitFor();
    await page.goto(`${server.url}/#/datasets/no-such-dataset`);
    const banner = page.locator("[data-testid=error-banner]");
    await banner.waitFor();
    expect(await banner.textContent()).toContain("RESOURCE_DOES_NOT_EXIST");
    await page.goto(`${server.url}/#/lineage`);
    await page.locator("[data-testid=lineage-empty]").waitFor();
    await page.fill("[data-testid=lineage-node-input]", "dataset:no-such-dataset@v1");
    await page.press("[data-testid=lineage-node-input]", "Enter");
    await page.locator("[data-testid=error-banner]").waitFor();
    expect(pageErrors).toEqual([]);
  });
});
