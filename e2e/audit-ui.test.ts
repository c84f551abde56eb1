/**
 * Drives the audit-log page of the built web UI in headless Chromium against a real server with
 * auth on (a static admin token): the sign-in prompt without a cookie, the session in the nav,
 * records newest first, filtering by resource prefix, a setAlias record's before/after, the export
 * link, "Verify chain" before and after the SQLite database is tampered with directly, and the
 * Audit log nav entry shown to admins only (a non-admin opening the page gets the server's refusal).
 * Skips with a printed reason when Chromium is missing, unless CAIRN_REQUIRE_SERVICES=1.
 * Screenshots land in /tmp/cairn-ui-audit*.png.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { chromiumAvailable, ensureUiBuilt, launchChromium, SHOTS, WEB_DIST } from "./browser.js";
import { ApiClient } from "@cairn/sdk/core";
import type { AuditRecord } from "@cairn/contract";
import { startServer } from "../packages/server/src/server.js";

const hasChromium = chromiumAvailable("audit UI e2e test");
const TOKEN = "audit-ui-e2e-admin-token";

describe.skipIf(!hasChromium)("audit log web UI (e2e, headless Chromium, auth on)", () => {
  let server: { url: string; close(): Promise<void> };
  let dataDir: string;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const pageErrors: string[] = [];
  let experimentId = "";
  let runId = "";
  let total = 0;
  let records: AuditRecord[] = [];

  const rowSeqs = async (p: Page) => (await p.locator("[data-testid=audit-row]").evaluateAll((rows) => rows.map((r) => Number(r.getAttribute("data-seq")))));
  const rowResources = async (p: Page) => (await p.locator("[data-testid=audit-row]").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-resource") ?? "")));

  beforeAll(async () => {
    ensureUiBuilt();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-ui-audit-e2e-"));
    server = await startServer({ port: 0, dataDir, webDir: WEB_DIST, logLevel: "silent", authTokens: [TOKEN] });
    const { api } = new ApiClient({ url: server.url, token: TOKEN });

    experimentId = (await api.createExperiment({ body: { name: `audit-ui-${Date.now()}` } })).experiment.experimentId;
    await api.createExperiment({ body: { name: `audit-ui-other-${Date.now()}` } });
    await api.createRegisteredModel({ body: { name: "churn", description: "Predicts churn." } });
    await api.createRegisteredModel({ body: { name: "fraud", description: "Flags fraud." } });
    runId = (await api.createRun({ body: { experimentId, runName: "train" } })).run.info.runId;
    await api.updateRun({ params: { id: runId }, body: { status: "FINISHED", endTime: Date.now() } });
    await api.createModelVersion({ params: { name: "churn" }, body: { source: `runs:/${runId}/model`, runId } });
    await api.createModelVersion({ params: { name: "churn" }, body: { source: `runs:/${runId}/model`, runId } });
    await api.setAlias({ params: { name: "churn", alias: "production" }, body: { version: 1 } });
    await api.setAlias({ params: { name: "churn", alias: "production" }, body: { version: 2 } });
    // A failed change is recorded too (404: no version 9).
    await expect(api.setAlias({ params: { name: "fraud", alias: "production" }, body: { version: 9 } })).rejects.toThrow();
    records = (await api.listAudit({ query: { limit: 1000 } })).records;
    total = records.length;

    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    await context.addCookies([{ name: "cairn_token", value: TOKEN, url: server.url }]);
    page = await context.newPage();
    page.setDefaultTimeout(15_000);
    page.on("pageerror", (e) => pageErrors.push(e.message));
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("shows the sign-in prompt without a cookie, and signing in there loads the log", async () => {
    const anon = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const p = await anon.newPage();
    const errors: string[] = [];
    p.on("pageerror", (e) => errors.push(e.message));
    await p.goto(`${server.url}/#/audit`);
    const banner = p.locator("[data-testid=error-banner]");
    await banner.waitFor();
    expect(await banner.textContent()).toContain("UNAUTHENTICATED");
    await p.locator("[data-testid=token-input]").waitFor();
    await expect.poll(async () => (await p.locator("[data-testid=session-info]").textContent()) ?? "").toContain("not signed in");
    await p.screenshot({ path: `${SHOTS}/cairn-ui-audit-signin.png` });

    await p.fill("[data-testid=token-input]", TOKEN);
    await p.press("[data-testid=token-input]", "Enter");
    await p.locator("[data-testid=audit-row]").first().waitFor();
    expect(await p.locator("[data-testid=error-banner]").count()).toBe(0);
    expect(await p.locator("[data-testid=session-user]").textContent()).toBe("admin");

    // Sign out clears the cookie: the prompt is back.
    await p.click("[data-testid=sign-out]");
    await p.locator("[data-testid=token-input]").waitFor();
    expect((await anon.cookies()).some((c) => c.name === "cairn_token")).toBe(false);
    expect(errors).toEqual([]);
    await anon.close();
  });

  it("notes 'auth off' in the nav on a server without auth, where the anonymous admin reads the log", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-ui-audit-e2e-open-"));
    const open = await startServer({ port: 0, dataDir: dir, webDir: WEB_DIST, logLevel: "silent" });
    try {
      await new ApiClient({ url: open.url }).api.createExperiment({ body: { name: "open-audit" } });
      const p = await context.newPage();
      const errors: string[] = [];
      p.on("pageerror", (e) => errors.push(e.message));
      await p.goto(`${open.url}/#/audit`);
      await p.locator("[data-testid=auth-off]").waitFor();
      expect(await p.locator("[data-testid=sign-out]").count()).toBe(0);
      const row = p.locator("[data-testid=audit-row]");
      await row.first().waitFor();
      expect(await row.count()).toBe(1);
      expect(await row.first().getAttribute("data-actor")).toBe("anonymous");
      expect(await row.first().getAttribute("data-action")).toBe("createExperiment");
      // A record without a snapshot shows its request body as the after side.
      await row.first().locator("button[aria-expanded]").click();
      expect(await p.locator("[data-testid=audit-before]").textContent()).toBe("none");
      expect(await p.locator("[data-testid=audit-after]").textContent()).toContain('"name": "open-audit"');
      expect(errors).toEqual([]);
      await p.close();
    } finally {
      await open.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("lists records newest first with actor, action and resource; shows who is signed in", async () => {
    await page.goto(`${server.url}/#/audit`);
    await page.locator("[data-testid=audit-row]").first().waitFor();
    expect(await page.locator("[data-testid=nav-audit]").getAttribute("class")).toContain("active");
    expect(await page.locator("[data-testid=session-user]").textContent()).toBe("admin");
    expect(await page.locator("[data-testid=session-admin]").count()).toBe(1);
    expect(await page.locator("[data-testid=sign-out]").count()).toBe(1);

    const seqs = await rowSeqs(page);
    expect(seqs.length).toBe(total);
    expect(seqs).toEqual([...seqs].sort((a, b) => b - a));
    expect(seqs[0]).toBe(total);
    // Every row shows its record's actor, action and resource, in the API's (newest-first) order.
    const shown = await page.locator("[data-testid=audit-row]").evaluateAll((rows) =>
      rows.map((r) => ({
        seq: Number(r.getAttribute("data-seq")),
        actor: r.querySelector("[data-testid=audit-actor]")?.textContent,
        action: r.querySelector("[data-testid=audit-action]")?.textContent,
        resource: r.querySelector("[data-testid=audit-resource]")?.textContent,
      })),
    );
    expect(shown).toEqual(records.map((r) => ({ seq: r.seq, actor: r.actor, action: r.action, resource: r.resource })));

    // Newest: the failed setAlias (404), then the two successful ones.
    const newest = page.locator("[data-testid=audit-row]").first();
    expect(await newest.getAttribute("data-action")).toBe("setAlias");
    expect(await newest.getAttribute("data-resource")).toBe("model:fraud@production");
    expect(await newest.locator("[data-testid=audit-status]").textContent()).toBe("404");
    expect(await newest.locator("[data-testid=audit-status]").getAttribute("class")).toContain("orange");
    const second = page.locator("[data-testid=audit-row]").nth(1);
    expect(await second.locator("[data-testid=audit-actor]").textContent()).toBe("admin");
    expect(await second.locator("[data-testid=audit-action]").textContent()).toBe("setAlias");
    expect(await second.locator("[data-testid=audit-resource]").textContent()).toBe("model:churn@production");
    expect(await second.locator("[data-testid=audit-resource-link]").getAttribute("href")).toBe("#/models/churn");
    expect(await second.locator("[data-testid=audit-status]").getAttribute("class")).toContain("green");
    const actors = await page.locator("[data-testid=audit-row]").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-actor")));
    expect(new Set(actors)).toEqual(new Set(["admin"]));
    const experimentRow = page.locator(`[data-testid=audit-row][data-resource="experiment:${experimentId}"][data-action=createExperiment]`);
    expect(await experimentRow.getAttribute("data-action")).toBe("createExperiment");
    expect(await experimentRow.locator("[data-testid=audit-resource-link]").getAttribute("href")).toBe(`#/experiments/${experimentId}`);
    const runRow = page.locator(`[data-testid=audit-row][data-resource="run:${runId}"]`).first();
    expect(await runRow.locator("[data-testid=audit-resource-link]").getAttribute("href")).toBe(`#/runs/${runId}`);
    await page.screenshot({ path: `${SHOTS}/cairn-ui-audit.png`, fullPage: true });
  });

  it("filters by resource prefix (kept in the URL) and exports the filtered records", async () => {
    await page.goto(`${server.url}/#/audit`);
    await page.locator("[data-testid=audit-row]").first().waitFor();
    await page.fill("[data-testid=audit-filter-resource]", "model:churn*");
    await page.press("[data-testid=audit-filter-resource]", "Enter");
    await expect.poll(async () => (await rowResources(page)).every((r) => r.startsWith("model:churn"))).toBe(true);
    const resources = await rowResources(page);
    expect(resources.length).toBeGreaterThan(0);
    expect(resources.length).toBeLessThan(total);
    expect(resources).toContain("model:churn");
    expect(resources).toContain("model:churn@production");
    expect(new URLSearchParams(page.url().split("?")[1] ?? "").get("resource")).toBe("model:churn*");

    // The export link carries the filter; the cookie authenticates a plain request.
    const exportHref = await page.locator("[data-testid=export-audit]").getAttribute("href");
    expect(exportHref).toContain("/api/v1/audit/export?");
    expect(new URL(exportHref!).searchParams.get("resource")).toBe("model:churn*");
    const res = await context.request.get(exportHref!);
    expect(res.status()).toBe(200);
    const lines = (await res.text()).trim().split("\n").map((l) => JSON.parse(l) as { seq: number; resource: string });
    expect(lines.length).toBe(resources.length);
    expect(lines.every((l) => l.resource.startsWith("model:churn"))).toBe(true);
    expect(lines.map((l) => l.seq)).toEqual([...lines.map((l) => l.seq)].sort((a, b) => a - b));

    // The filtered view is linkable: a fresh load of the URL shows the same rows.
    await page.reload();
    await page.locator("[data-testid=audit-row]").first().waitFor();
    expect(await rowResources(page)).toEqual(resources);
    expect(await page.inputValue("[data-testid=audit-filter-resource]")).toBe("model:churn*");
    await page.screenshot({ path: `${SHOTS}/cairn-ui-audit-filtered.png`, fullPage: true });
  });

  it("pages to older records with Load older (page size from the URL)", async () => {
    await page.goto(`${server.url}/#/audit?limit=5`);
    await expect.poll(() => rowSeqs(page)).toEqual([total, total - 1, total - 2, total - 3, total - 4]);
    expect(await page.locator("[data-testid=audit-count]").textContent()).toBe("5+ shown");
    for (let pages = 1; await page.locator("[data-testid=audit-load-older]").count(); pages++) {
      expect(pages).toBeLessThan(10);
      await page.click("[data-testid=audit-load-older]");
      await expect.poll(async () => (await rowSeqs(page)).length).toBe(Math.min(total, (pages + 1) * 5));
    }
    expect(await rowSeqs(page)).toEqual(records.map((r) => r.seq));
    expect(await page.locator("[data-testid=audit-count]").textContent()).toBe(`${total} shown`);
  });

  it("expands a setAlias record: before/after side by side with the alias change highlighted", async () => {
    await page.goto(`${server.url}/#/audit?resource=model:churn@production&action=setAlias`);
    const rows = page.locator("[data-testid=audit-row]");
    await expect.poll(() => rows.count()).toBe(2);
    await rows.first().locator("td.num").click();
    const detail = page.locator("[data-testid=audit-detail]");
    await detail.waitFor();
    const before = (await detail.locator("[data-testid=audit-before]").textContent()) ?? "";
    const after = (await detail.locator("[data-testid=audit-after]").textContent()) ?? "";
    expect(before).toMatch(/"production": "?1"?/);
    expect(after).toMatch(/"production": "?2"?/);
    expect(await detail.locator("[data-testid=audit-before] [data-changed='aliases.production']").count()).toBe(1);
    expect(await detail.locator("[data-testid=audit-after] [data-changed='aliases.production']").count()).toBe(1);
    // Unchanged keys are not highlighted.
    expect(await detail.locator("[data-testid=audit-after] [data-changed='description']").count()).toBe(0);
    expect(await detail.locator("[data-testid=audit-changed]").textContent()).toContain("aliases.production");
    expect(await detail.locator("[data-testid=audit-change]").textContent()).toMatch(/"version": "?2"?/);
    expect(((await detail.locator("[data-testid=audit-request-id]").textContent()) ?? "").length).toBeGreaterThan(0);
    expect(await detail.locator("[data-testid=audit-hash]").textContent()).toMatch(/^[0-9a-f]{64}$/);
    expect(await detail.locator("[data-testid=audit-prev-hash]").textContent()).toMatch(/^[0-9a-f]{64}$/);
    await page.screenshot({ path: `${SHOTS}/cairn-ui-audit-detail.png`, fullPage: true });
    // A second click collapses it.
    await rows.first().locator("td.num").click();
    await expect.poll(() => detail.count()).toBe(0);
  });

  it("verifies the chain, and shows the break after the database is tampered with", async () => {
    await page.goto(`${server.url}/#/audit`);
    await page.locator("[data-testid=audit-row]").first().waitFor();
    await page.click("[data-testid=verify-chain]");
    const result = page.locator("[data-testid=verify-result]");
    await result.waitFor();
    expect(await result.getAttribute("data-ok")).toBe("true");
    expect(await result.textContent()).toContain(`intact: ${total} records`);

    const TAMPERED = 3;
    const db = new Database(path.join(dataDir, "cairn.db"));
    try {
      db.exec("drop trigger audit_log_no_update");
      expect(db.prepare("update audit_log set actor = 'mallory' where seq = ?").run(TAMPERED).changes).toBe(1);
    } finally {
      db.close();
    }

    await page.click("[data-testid=verify-chain]");
    await expect.poll(() => result.getAttribute("data-ok")).toBe("false");
    expect(await result.getAttribute("data-first-bad-seq")).toBe(String(TAMPERED));
    expect(await result.textContent()).toContain(`record ${TAMPERED} was altered`);
    await page.screenshot({ path: `${SHOTS}/cairn-ui-audit-broken.png`, fullPage: true });

    // "Show it" lists the log from the bad record down.
    await page.click("[data-testid=verify-show-bad]");
    await expect.poll(async () => (await rowSeqs(page))[0]).toBe(TAMPERED);
    expect(await page.locator("[data-testid=audit-row]").first().getAttribute("data-actor")).toBe("mallory");
    expect(pageErrors).toEqual([]);
  });

  // Last: it adds records (the user, and the refused read) that the tests above do not expect.
  it("shows the Audit log nav entry to admins only; a non-admin opening the page by URL gets the server's refusal", async () => {
    await page.goto(`${server.url}/#/experiments`);
    await page.locator("[data-testid=session-admin]").waitFor();
    expect(await page.locator("[data-testid=nav-audit]").textContent()).toBe("Audit log");
    expect(await page.locator("[data-testid=nav] .nav-heading").allTextContents()).toContain("Admin");

    const { api } = new ApiClient({ url: server.url, token: TOKEN });
    await api.createUser({ body: { name: "vera" } });
    await api.setMember({ params: { project: "default", name: "vera" }, body: { role: "owner" } });
    const token = (await api.createToken({ body: { user: "vera", name: "audit-ui-e2e" } })).token;
    const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    try {
      await ctx.addCookies([{ name: "cairn_token", value: encodeURIComponent(token), url: server.url }]);
      const p = await ctx.newPage();
      const errors: string[] = [];
      p.on("pageerror", (e) => errors.push(e.message));
      await p.goto(`${server.url}/#/experiments`);
      // Once the session shows, the nav reflects it: even an owner of a project is no admin.
      expect(await p.locator("[data-testid=session-user]").textContent()).toBe("vera");
      expect(await p.locator("[data-testid=session-admin]").count()).toBe(0);
      expect(await p.locator("[data-testid=nav-models]").count()).toBe(1);
      expect(await p.locator("[data-testid=nav-audit]").count()).toBe(0);
      expect(await p.locator("[data-testid=nav] .nav-heading").allTextContents()).not.toContain("Admin");

      await p.goto(`${server.url}/#/audit`);
      const banner = p.locator("[data-testid=error-banner]");
      await banner.waitFor();
      expect(await banner.textContent()).toContain("PERMISSION_DENIED");
      expect(await p.locator("[data-testid=audit-row]").count()).toBe(0);
      expect(await p.locator("[data-testid=nav-audit]").count()).toBe(0);
      await p.screenshot({ path: `${SHOTS}/cairn-ui-audit-non-admin.png` });
      expect(errors).toEqual([]);
    } finally {
      await ctx.close();
    }
  });
});
