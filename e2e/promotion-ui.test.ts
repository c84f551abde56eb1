/**
 * Drives the promotion pages of the built web UI in headless Chromium against a real server with
 * auth on: the model page's policy (protected aliases, gates, open requests; editable by the owner
 * only) → the request list with its status filter → one request's gate results, comments, actions
 * shown by role (no Approve / Reject for the requester, an editor, nor for a viewer, who gets no
 * actions at all; Approve disabled for an approver on his own request), the server refusing those
 * approvals all the same, an approval by an approver (the alias moves, its history links the
 * request), a blocked approval showing the failing gates, a rejection with a comment, and the audit
 * records of all of it.
 *
 * Real users and tokens, made with the bootstrap admin token: `alice` (editor) requests, `bob`
 * (approver) approves and rejects, `carol` (viewer) only reads, `olivia` (owner) sets the policy.
 * Each user has a browser context signed in with their `cairn_token` cookie. Skips with a printed
 * reason when Chromium is missing, unless CAIRN_REQUIRE_SERVICES=1. Screenshots land in
 * /tmp/cairn-ui-promotion*.png.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { ApiClient } from "@cairn/sdk/core";
import type { ProjectRole } from "@cairn/contract";
import { chromiumAvailable, ensureUiBuilt, launchChromium, SHOTS, WEB_DIST } from "./browser.js";
import { startServer } from "../packages/server/src/server.js";

const hasChromium = chromiumAvailable("promotion UI e2e test");
const USERS: [string, ProjectRole][] = [
  ["alice", "editor"],
  ["bob", "approver"],
  ["carol", "viewer"],
  ["olivia", "owner"],
];

describe.skipIf(!hasChromium)("promotion web UI (e2e, headless Chromium, auth on)", () => {
  const MODEL = "ui-promo";
  let url: string;
  let close: () => Promise<void>;
  let dataDir: string;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const tokens: Record<string, string> = {};
  let alice: Page;
  let bob: Page;
  let carol: Page;
  let olivia: Page;
  const pageErrors: string[] = [];
  let good: number;
  let bad: number;
  let own: number;

  const apiAs = (user: string) => new ApiClient({ url, token: tokens[user]! }).api;

  /** A browser context signed in as `user` (the UI's `cairn_token` cookie), and a page in it. */
  async function pageAs(user: string): Promise<Page> {
    const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    await ctx.addCookies([{ name: "cairn_token", value: encodeURIComponent(tokens[user]!), url }]);
    contexts.push(ctx);
    const page = await ctx.newPage();
    page.setDefaultTimeout(15_000);
    page.on("pageerror", (e) => pageErrors.push(`${user}: ${e.message}`));
    return page;
  }

  beforeAll(async () => {
    ensureUiBuilt();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-ui-promotion-e2e-"));
    const server = await startServer({ port: 0, dataDir, webDir: WEB_DIST, logLevel: "silent", auth: true });
    url = server.url;
    close = () => server.close();
    tokens.admin = server.bootstrapToken!;
    const admin = apiAs("admin");
    for (const [user, role] of USERS) {
      await admin.createUser({ body: { name: user } });
      await admin.setMember({ params: { project: "default", name: user }, body: { role } });
      tokens[user] = (await admin.createToken({ body: { user, name: "ui-e2e" } })).token;
    }

    // alice (editor) tracks and registers; olivia (owner) sets the policy; alice requests.
    const api = apiAs("alice");
    const experimentId = (await api.createExperiment({ body: { name: "promotion-ui" } })).experiment.experimentId;
    await api.createRegisteredModel({ body: { name: MODEL, description: "Promotion demo" } });
    const sig = { inputs: [{ name: "x", dtype: "float32" as const, shape: [-1, 4] }], outputs: [{ name: "y", dtype: "float32" as const, shape: [-1] }] };
    for (const auc of [0.93, 0.8]) {
      const id = (await api.createRun({ body: { experimentId } })).run.info.runId;
      await api.logBatch({ params: { id }, body: { metrics: [{ key: "auc", value: auc, step: 0, timestamp: 1 }] } });
      await api.createModelVersion({ params: { name: MODEL }, body: { source: `runs:/${id}/model`, runId: id, signature: sig } });
    }
    await apiAs("olivia").setPromotionPolicy({
      params: { name: MODEL },
      body: { protectedAliases: ["production"], gates: [{ kind: "metric", metric: "auc", op: ">=", value: 0.9 }, { kind: "signature_compatible" }] },
    });
    good = (await api.createPromotionRequest({ params: { name: MODEL }, body: { alias: "production", version: 1, reason: "Best AUC on the March holdout" } })).promotionRequest.id;
    bad = (await api.createPromotionRequest({ params: { name: MODEL }, body: { alias: "production", version: 2, reason: "Smaller and faster" } })).promotionRequest.id;

    browser = await launchChromium();
    alice = await pageAs("alice");
    bob = await pageAs("bob");
    carol = await pageAs("carol");
    olivia = await pageAs("olivia");
  });

  /** The error a call is refused with (the call is made once: each attempt is an audit record). */
  const refusal = (call: Promise<unknown>) => call.then(() => undefined, (e: unknown) => e as { code?: string; message: string } | undefined);
  /** Waits until the request page knows the user's roles and the model's project, so absent actions are really absent. */
  const openRequest = async (p: Page, id: number) => {
    await p.goto(`${url}/#/promotions/${id}`);
    await p.locator("[data-testid=promotion-page][data-actions-ready=true]").waitFor();
    return p.locator("[data-testid=promotion-page]");
  };
  const visible = async (p: Page) => {
    const out: string[] = [];
    for (const b of ["comment", "approve", "reject", "cancel"]) if (await p.locator(`[data-testid=${b}-button]`).count()) out.push(b);
    return out;
  };

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await close?.();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("shows a viewer the protected aliases and gates on the model page, linking to its open requests", async () => {
    await carol.goto(`${url}/#/models/${MODEL}`);
    expect(await carol.locator("[data-testid=session-user]").textContent()).toBe("carol");
    const section = carol.locator("[data-testid=promotion-policy]");
    await section.locator("[data-testid=protected-alias]").first().waitFor();
    expect(await section.locator("[data-testid=protected-alias]").allTextContents()).toEqual(["production"]);
    expect(await section.locator("[data-testid=policy-gate]").allTextContents()).toEqual(["metrics.auc >= 0.9", "signature compatible with the champion"]);
    const link = section.locator("[data-testid=model-promotions-link]");
    expect(await link.textContent()).toContain("2 open requests");
    // Only an owner edits the policy.
    expect(await section.locator("[data-testid=edit-policy-button]").count()).toBe(0);
    await carol.screenshot({ path: `${SHOTS}/cairn-ui-promotion-model.png`, fullPage: true });

    await link.click();
    await carol.locator("[data-testid=promotions-page]").waitFor();
    const rows = carol.locator("[data-testid=promotion-row]");
    await expect.poll(() => rows.count()).toBe(2);
    expect(await rows.first().getAttribute("data-id")).toBe(String(bad));
    expect(await rows.first().locator("[data-testid=gates-badge]").textContent()).toBe("1 of 2 failed");
    expect(await rows.nth(1).locator("[data-testid=gates-badge]").textContent()).toBe("2 passed");
    expect(await carol.locator("[data-testid=promotions-model-filter]").textContent()).toContain(MODEL);
    expect(await carol.locator("[data-testid=nav-promotions]").getAttribute("class")).toContain("active");

    await carol.locator("[data-testid=status-filter] [data-status=approved]").click();
    await carol.locator("[data-testid=promotions-table] .empty").waitFor();
    expect(carol.url()).toContain("status=approved");
    await carol.locator("[data-testid=status-filter] [data-status=open]").click();
    await expect.poll(() => rows.count()).toBe(2);
    await carol.screenshot({ path: `${SHOTS}/cairn-ui-promotion-list.png` });
  });

  it("offers the policy editor to the project's owner only", async () => {
    await olivia.goto(`${url}/#/models/${MODEL}`);
    expect(await olivia.locator("[data-testid=session-user]").textContent()).toBe("olivia");
    const section = olivia.locator("[data-testid=promotion-policy]");
    await section.locator("[data-testid=edit-policy-button]").click();
    const editor = section.locator("[data-testid=policy-editor-input]");
    expect(JSON.parse(await editor.inputValue())).toMatchObject({ protectedAliases: ["production"], gates: [{ kind: "metric", metric: "auc" }, { kind: "signature_compatible" }] });
    // Invalid JSON is caught before anything is sent.
    await editor.fill("{ nope");
    await section.locator("[data-testid=save-policy-button]").click();
    await section.locator("[data-testid=error-banner]").waitFor();
    expect(await section.locator("[data-testid=error-banner]").textContent()).toContain("not valid JSON");
    await olivia.screenshot({ path: `${SHOTS}/cairn-ui-promotion-policy-editor.png`, fullPage: true });
    await section.locator("[data-testid=cancel-policy-button]").click();
    await expect.poll(() => section.locator("[data-testid=policy-editor]").count()).toBe(0);
    expect(await section.locator("[data-testid=error-banner]").count()).toBe(0);

    // bob approves but does not own the project: no editor.
    await bob.goto(`${url}/#/models/${MODEL}`);
    expect(await bob.locator("[data-testid=session-user]").textContent()).toBe("bob");
    await bob.locator("[data-testid=promotion-policy] [data-testid=protected-alias]").first().waitFor();
    expect(await bob.locator("[data-testid=edit-policy-button]").count()).toBe(0);
  });

  it("offers no approval to the requester (an editor) or a viewer and a disabled one on an approver's own request, which the server refuses all the same; then approves as another user: the alias moves and its history links the request", async () => {
    // alice requested it; as an editor she may not approve at all: no Approve / Reject, but Comment and Cancel.
    const page = await openRequest(alice, good);
    expect(await page.getAttribute("data-status")).toBe("open");
    expect(await alice.locator("[data-testid=promotion-requester]").textContent()).toBe("alice");
    expect(await alice.locator("[data-testid=promotion-reason]").textContent()).toBe("Best AUC on the March holdout");
    const gates = alice.locator("[data-testid=gate-result]");
    expect(await gates.count()).toBe(2);
    expect(await gates.first().getAttribute("data-passed")).toBe("true");
    expect(await gates.first().locator("[data-testid=gate-message]").textContent()).toBe("auc = 0.93, >= 0.9");
    expect(await visible(alice)).toEqual(["comment", "cancel"]);
    // The server stays the authority: her approval through the API is refused.
    const aliceRefusal = await refusal(apiAs("alice").approvePromotionRequest({ params: { id: good }, body: {} }));
    expect(aliceRefusal?.code).toBe("PERMISSION_DENIED");
    expect(aliceRefusal?.message).toContain("You need the approve permission");

    // carol (viewer): everything to read, no action at all; the server refuses her approval too.
    const carolPage = await openRequest(carol, good);
    expect(await carolPage.getAttribute("data-status")).toBe("open");
    expect(await carol.locator("[data-testid=gate-result]").count()).toBe(2);
    expect(await carol.locator("[data-testid=promotion-reason]").textContent()).toBe("Best AUC on the March holdout");
    expect(await visible(carol)).toEqual([]);
    expect(await carol.locator("[data-testid=promotion-comment-input]").count()).toBe(0);
    expect(await carol.locator("[data-testid=promotion-read-only]").textContent()).toContain("default");
    const carolRefusal = await refusal(apiAs("carol").approvePromotionRequest({ params: { id: good }, body: {} }));
    expect(carolRefusal?.code).toBe("PERMISSION_DENIED");
    expect(carolRefusal?.message).toContain("You need the approve permission");
    await carol.screenshot({ path: `${SHOTS}/cairn-ui-promotion-viewer.png`, fullPage: true });

    // bob (approver) may not approve his own request: Approve is there but disabled, saying why; he cancels it instead.
    own = (await apiAs("bob").createPromotionRequest({ params: { name: MODEL }, body: { alias: "staging", version: 1, reason: "Try it in staging" } })).promotionRequest.id;
    const ownPage = await openRequest(bob, own);
    expect(await bob.locator("[data-testid=promotion-requester]").textContent()).toBe("bob");
    expect(await visible(bob)).toEqual(["comment", "approve", "reject", "cancel"]);
    const approve = bob.locator("[data-testid=approve-button]");
    expect(await approve.isDisabled()).toBe(true);
    expect(await approve.getAttribute("title")).toBe("You cannot approve your own request");
    const ownRefusal = await refusal(apiAs("bob").approvePromotionRequest({ params: { id: own }, body: {} }));
    expect(ownRefusal?.code).toBe("PERMISSION_DENIED");
    expect(ownRefusal?.message).toContain("cannot approve your own promotion request");
    expect(await ownPage.getAttribute("data-status")).toBe("open");
    await bob.screenshot({ path: `${SHOTS}/cairn-ui-promotion-self-approval.png`, fullPage: true });
    await bob.click("[data-testid=cancel-button]");
    await bob.locator("[data-testid=promotion-page][data-status=cancelled]").waitFor();
    expect(await bob.locator("[data-testid=promotion-decided-by]").textContent()).toContain("bob");

    // On alice's request bob decides but may not cancel.
    await openRequest(bob, good);
    expect(await visible(bob)).toEqual(["comment", "approve", "reject"]);
    expect(await bob.locator("[data-testid=approve-button]").isEnabled()).toBe(true);
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
    expect((await history.textContent()) ?? "").toContain("bob");
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
    await expect.poll(() => rows.count()).toBe(3);
    expect(await rows.locator("[data-testid=promotion-status]").allTextContents()).toEqual(["cancelled", "rejected", "approved"]);
    expect(pageErrors).toEqual([]);
  });

  it("holds the request, refusal, approval, rejection and cancellation records in the audit log, with their actors", async () => {
    const admin = apiAs("admin");
    const records = (await admin.listAudit({ query: { resource: "promotion:*", limit: 1000 } })).records;
    const of = (action: string, id: number) => records.filter((x) => x.action === action && x.resource === `promotion:${id}`).map((x) => [x.actor, x.status]);
    expect(of("createPromotionRequest", good)).toEqual([["alice", 201]]);
    expect(of("createPromotionRequest", bad)).toEqual([["alice", 201]]);
    expect(of("createPromotionRequest", own)).toEqual([["bob", 201]]);
    // Newest first.
    expect(of("approvePromotionRequest", good)).toEqual([
      ["bob", 200],
      ["carol", 403],
      ["alice", 403],
    ]);
    expect(of("commentPromotionRequest", good)).toEqual([["bob", 201]]);
    expect(of("approvePromotionRequest", own)).toEqual([["bob", 403]]);
    expect(of("cancelPromotionRequest", own)).toEqual([["bob", 200]]);
    expect(of("approvePromotionRequest", bad)).toEqual([["bob", 409]]);
    expect(of("rejectPromotionRequest", bad)).toEqual([["bob", 200]]);
    expect(records.find((x) => x.action === "rejectPromotionRequest")!.after).toMatchObject({ comment: "AUC below the bar" });
    const policy = (await admin.listAudit({ query: { resource: `model:${MODEL}*`, action: "setPromotionPolicy" } })).records;
    expect(policy.map((x) => [x.actor, x.status, x.resource])).toEqual([["olivia", 200, `model:${MODEL}`]]);
  });
});
