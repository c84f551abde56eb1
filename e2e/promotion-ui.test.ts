/**
 * Drives the promotion pages of the built web UI in headless Chromium against a real server: the
 * model page's policy (protected aliases, gates, open requests) → the request list with its status
 * filter → one request's gate results, comments, a refused self-approval, an approval by a second
 * user (the alias moves, its history links the request), a blocked approval showing the failing
 * gates, and a rejection with a comment.
 *
 * Two identities without depending on how the auth module maps tokens to users: the server gets a
 * test-only hook that takes the principal's name from an `x-test-user` header, and each user has a
 * browser context that sends it. Skips with a printed reason when Chromium is missing, unless
 * CAIRN_REQUIRE_SERVICES=1. Screenshots land in /tmp/cairn-ui-promotion*.png.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { ApiClient } from "@cairn/sdk/core";
import { chromiumAvailable, ensureUiBuilt, launchChromium, SHOTS, WEB_DIST } from "./browser.js";
import { buildServer } from "../packages/server/src/server.js";
import { ANONYMOUS } from "../packages/server/src/platform/auth/principal.js";

const hasChromium = chromiumAvailable("promotion UI e2e test");

describe.skipIf(!hasChromium)("promotion web UI (e2e, headless Chromium)", () => {
  const MODEL = "ui-promo";
  let url: string;
  let close: () => Promise<void>;
  let dataDir: string;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  let ada: Page;
  let bob: Page;
  const pageErrors: string[] = [];
  let good: number;
  let bad: number;

  const apiAs = (user: string) =>
    new ApiClient({
      url,
      fetch: (input, init) => {
        const headers = new Headers(init?.headers);
        headers.set("x-test-user", user);
        return fetch(input, { ...init, headers });
      },
    }).api;

  async function pageAs(user: string): Promise<Page> {
    const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 }, extraHTTPHeaders: { "x-test-user": user } });
    contexts.push(ctx);
    const page = await ctx.newPage();
    page.setDefaultTimeout(15_000);
    page.on("pageerror", (e) => pageErrors.push(e.message));
    return page;
  }

  beforeAll(async () => {
    ensureUiBuilt();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-ui-promotion-e2e-"));
    const built = await buildServer({ port: 0, dataDir, webDir: WEB_DIST, logLevel: "silent" });
    built.app.addHook("onRequest", async (req) => {
      const user = req.headers["x-test-user"];
      req.principal = typeof user === "string" ? { userId: user, name: user, admin: false } : ANONYMOUS;
    });
    await built.app.listen({ host: "127.0.0.1", port: 0 });
    const addr = built.app.server.address();
    url = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
    close = async () => {
      await built.app.close();
      await built.closeStores();
    };

    const api = apiAs("ada");
    const experimentId = (await api.createExperiment({ body: { name: "promotion-ui" } })).experiment.experimentId;
    await api.createRegisteredModel({ body: { name: MODEL, description: "Promotion demo" } });
    const sig = { inputs: [{ name: "x", dtype: "float32" as const, shape: [-1, 4] }], outputs: [{ name: "y", dtype: "float32" as const, shape: [-1] }] };
    for (const auc of [0.93, 0.8]) {
      const id = (await api.createRun({ body: { experimentId } })).run.info.runId;
      await api.logBatch({ params: { id }, body: { metrics: [{ key: "auc", value: auc, step: 0, timestamp: 1 }] } });
      await api.createModelVersion({ params: { name: MODEL }, body: { source: `runs:/${id}/model`, runId: id, signature: sig } });
    }
    await api.setPromotionPolicy({
      params: { name: MODEL },
      body: { protectedAliases: ["production"], gates: [{ kind: "metric", metric: "auc", op: ">=", value: 0.9 }, { kind: "signature_compatible" }] },
    });
    good = (await api.createPromotionRequest({ params: { name: MODEL }, body: { alias: "production", version: 1, reason: "Best AUC on the March holdout" } })).promotionRequest.id;
    bad = (await api.createPromotionRequest({ params: { name: MODEL }, body: { alias: "production", version: 2, reason: "Smaller and faster" } })).promotionRequest.id;

    browser = await launchChromium();
    ada = await pageAs("ada");
    bob = await pageAs("bob");
  });

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await close?.();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("shows protected aliases and gates on the model page and links to its open requests", async () => {
    await bob.goto(`${url}/#/models/${MODEL}`);
    const section = bob.locator("[data-testid=promotion-policy]");
    await section.locator("[data-testid=protected-alias]").first().waitFor();
    expect(await section.locator("[data-testid=protected-alias]").allTextContents()).toEqual(["production"]);
    expect(await section.locator("[data-testid=policy-gate]").allTextContents()).toEqual(["metrics.auc >= 0.9", "signature compatible with the champion"]);
    const link = section.locator("[data-testid=model-promotions-link]");
    expect(await link.textContent()).toContain("2 open requests");
    await bob.screenshot({ path: `${SHOTS}/cairn-ui-promotion-model.png`, fullPage: true });

    await link.click();
    await bob.locator("[data-testid=promotions-page]").waitFor();
    const rows = bob.locator("[data-testid=promotion-row]");
    await expect.poll(() => rows.count()).toBe(2);
    expect(await rows.first().getAttribute("data-id")).toBe(String(bad));
    expect(await rows.first().locator("[data-testid=gates-badge]").textContent()).toBe("1 of 2 failed");
    expect(await rows.nth(1).locator("[data-testid=gates-badge]").textContent()).toBe("2 passed");
    expect(await bob.locator("[data-testid=promotions-model-filter]").textContent()).toContain(MODEL);
    expect(await bob.locator("[data-testid=nav-promotions]").getAttribute("class")).toContain("active");

    await bob.locator("[data-testid=status-filter] [data-status=approved]").click();
    await bob.locator("[data-testid=promotions-table] .empty").waitFor();
    expect(bob.url()).toContain("status=approved");
    await bob.locator("[data-testid=status-filter] [data-status=open]").click();
    await expect.poll(() => rows.count()).toBe(2);
    await bob.screenshot({ path: `${SHOTS}/cairn-ui-promotion-list.png` });
  });

  it("refuses self-approval, then approves as another user: the alias moves and its history links the request", async () => {
    await ada.goto(`${url}/#/promotions/${good}`);
    const page = ada.locator("[data-testid=promotion-page]");
    await page.waitFor();
    expect(await page.getAttribute("data-status")).toBe("open");
    expect(await ada.locator("[data-testid=promotion-requester]").textContent()).toBe("ada");
    expect(await ada.locator("[data-testid=promotion-reason]").textContent()).toBe("Best AUC on the March holdout");
    const gates = ada.locator("[data-testid=gate-result]");
    expect(await gates.count()).toBe(2);
    expect(await gates.first().getAttribute("data-passed")).toBe("true");
    expect(await gates.first().locator("[data-testid=gate-message]").textContent()).toBe("auc = 0.93, >= 0.9");

    await ada.click("[data-testid=approve-button]");
    const banner = ada.locator("[data-testid=error-banner]");
    await banner.waitFor();
    expect(await banner.textContent()).toContain("PERMISSION_DENIED");
    expect(await banner.textContent()).toContain("cannot approve your own promotion request");
    expect(await page.getAttribute("data-status")).toBe("open");
    await ada.screenshot({ path: `${SHOTS}/cairn-ui-promotion-self-approval.png`, fullPage: true });

    await bob.goto(`${url}/#/promotions/${good}`);
    await bob.locator("[data-testid=promotion-page]").waitFor();
    await bob.fill("[data-testid=promotion-comment-input]", "Checked the eval report");
    await bob.click("[data-testid=comment-button]");
    await bob.locator("[data-testid=promotion-comment]").waitFor();
    expect(await bob.locator("[data-testid=promotion-comment]").textContent()).toContain("bob");
    expect(await bob.locator("[data-testid=promotion-comment]").textContent()).toContain("Checked the eval report");
    await bob.click("[data-testid=approve-button]");
    await bob.locator("[data-testid=promotion-page][data-status=approved]").waitFor();
    expect(await bob.locator("[data-testid=promotion-decided-by]").textContent()).toContain("bob");
    expect(await bob.locator("[data-testid=approve-button]").count()).toBe(0);
    await bob.screenshot({ path: `${SHOTS}/cairn-ui-promotion-approved.png`, fullPage: true });

    await bob.goto(`${url}/#/models/${MODEL}`);
    const history = bob.locator("[data-testid=alias-history][data-alias=production]");
    await history.locator("[data-testid=alias-history-request]").waitFor();
    expect(await history.locator("[data-testid=alias-history-request]").getAttribute("href")).toBe(`#/promotions/${good}`);
    expect(await bob.locator("[data-testid=model-header] [data-testid=alias-badge]").allTextContents()).toEqual(["production → v1"]);
  });

  it("shows failing gates, blocks their approval with the reason, and rejects with a comment", async () => {
    await bob.goto(`${url}/#/promotions/${bad}`);
    await bob.locator("[data-testid=promotion-page]").waitFor();
    // `fromVersion` is the champion when the request was made; the gates are checked against the current one (v1) on approval.
    expect((await bob.locator("[data-testid=promotion-version]").textContent())?.replace(/\s+/g, " ")).toContain("none → v2");
    const failed = bob.locator("[data-testid=gate-result][data-passed=false]");
    expect(await failed.count()).toBe(1);
    expect(await failed.locator("[data-testid=gate-message]").textContent()).toBe("auc = 0.8, not >= 0.9");

    await bob.click("[data-testid=approve-button]");
    const banner = bob.locator("[data-testid=error-banner]");
    await banner.waitFor();
    expect(await banner.textContent()).toContain("INVALID_STATE");
    expect(await banner.textContent()).toContain("1 gate failed: metrics.auc >= 0.9: auc = 0.8, not >= 0.9");

    expect(await bob.locator("[data-testid=reject-button]").isDisabled()).toBe(true);
    await bob.fill("[data-testid=promotion-comment-input]", "AUC below the bar");
    await bob.click("[data-testid=reject-button]");
    await bob.locator("[data-testid=promotion-page][data-status=rejected]").waitFor();
    expect(await bob.locator("[data-testid=promotion-decision-comment]").textContent()).toContain("AUC below the bar");
    expect(await bob.locator("[data-testid=error-banner]").count()).toBe(0);
    await bob.screenshot({ path: `${SHOTS}/cairn-ui-promotion-rejected.png`, fullPage: true });

    await bob.goto(`${url}/#/promotions?status=all&model=${MODEL}`);
    const rows = bob.locator("[data-testid=promotion-row]");
    await expect.poll(() => rows.count()).toBe(2);
    expect(await rows.locator("[data-testid=promotion-status]").allTextContents()).toEqual(["rejected", "approved"]);
    expect(pageErrors).toEqual([]);
  });
});
