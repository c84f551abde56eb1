/**
 * Promotion through the SDK (`cairn.models.promotions`) and the `cairn models` CLI against a real
 * server with auth on: policy with gates, a protected alias refusing direct changes, requests with
 * gate results, self-approval refused, approval by a second user, rejection, comments, tables, JSON,
 * exit codes, role checks, and the audit records of it all.
 *
 * Real users with real tokens, made with the bootstrap admin token: `olivia` (owner) sets the policy
 * and decides, `alice` (editor) requests, `bob` (approver) requests and approves, `carol` (viewer)
 * only reads. The CLI gets each user's token with `--token`; the SDK clients with `token`.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cairn, CairnError } from "@cairn/sdk";
import { ApiClient } from "@cairn/sdk/core";
import type { AuditRecord, ProjectRole } from "@cairn/contract";
import { startServer } from "../packages/server/src/server.js";
import { runCli } from "./processes.js";

const MODEL = "e2e-promo";
const USERS: [string, ProjectRole][] = [
  ["olivia", "owner"],
  ["alice", "editor"],
  ["bob", "approver"],
  ["carol", "viewer"],
];

let url: string;
let close: () => Promise<void>;
let dataDir: string;
const tokens: Record<string, string> = {};
let alice: Cairn;
let bob: Cairn;
let carol: Cairn;
/** Ids of the requests made here, for the audit checks. */
const ids: { first?: number; failing?: number; good?: number } = {};

const sdkAs = (user: string) => new Cairn({ url, token: tokens[user]!, handleExit: false });

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-e2e-promo-"));
  const server = await startServer({ port: 0, dataDir, logLevel: "silent", auth: true });
  url = server.url;
  close = () => server.close();
  tokens.admin = server.bootstrapToken!;
  expect(tokens.admin).toBeDefined();
  const { api } = new ApiClient({ url, token: tokens.admin });
  for (const [user, role] of USERS) {
    await api.createUser({ body: { name: user } });
    await api.setMember({ params: { project: "default", name: user }, body: { role } });
    tokens[user] = (await api.createToken({ body: { user, name: "e2e" } })).token;
  }
  alice = sdkAs("alice");
  bob = sdkAs("bob");
  carol = sdkAs("carol");

  // alice (editor) tracks the runs and registers the versions.
  for (const auc of [0.91, 0.95, 0.7]) {
    const run = await alice.startRun({ experiment: "e2e-promotion", captureContext: false });
    run.log({ metrics: { auc } });
    await run.end();
    await alice.models.createVersion({ name: MODEL, source: `runs:/${run.id}/model` }).catch(async (e: unknown) => {
      if (!(e instanceof CairnError) || e.code !== "RESOURCE_DOES_NOT_EXIST") throw e;
      await alice.models.create(MODEL);
      await alice.models.createVersion({ name: MODEL, source: `runs:/${run.id}/model` });
    });
  }
});

afterAll(async () => {
  await close?.();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

/** Runs the CLI as `user` (`--token`); CAIRN_TOKEN and CAIRN_URL from the environment are dropped so nothing else signs the call. */
const cli = (user: string, ...args: string[]) => runCli(url, ["--token", tokens[user]!, ...args], { env: { CAIRN_TOKEN: undefined, CAIRN_URL: undefined } });

describe("promotion through the CLI and the SDK (auth on, real users and tokens)", () => {
  it("sets a policy, refuses direct changes, requests, refuses approval by the requester and a viewer, approves as an approver", async () => {
    // Only an owner (manage) may set the policy.
    const editorPolicy = await cli("alice", "models", "policy", MODEL, "--protect", "production");
    expect(editorPolicy.code).toBe(1);
    expect(editorPolicy.stderr).toMatch(/^error: PERMISSION_DENIED: You need the manage permission/);
    const policy = await cli("olivia", "models", "policy", MODEL, "--protect", "production", "--gate", "metrics.auc>=0.9", "--gate", "champion:auc:0.01", "--gate", "signature");
    expect([policy.code, policy.stderr]).toEqual([0, ""]);
    expect(policy.stdout).toMatch(/protected aliases\s+production/);
    expect(policy.stdout).toContain("metrics.auc >= 0.9");
    expect(policy.stdout).toContain("metrics.auc not worse than the champion by more than 0.01 (higher is better)");
    expect((await carol.models.promotions.getPolicy(MODEL)).policy.gates).toHaveLength(3);
    // Changing only the gates keeps the protected aliases.
    const gatesOnly = await cli("olivia", "--json", "models", "policy", MODEL, "--gate", "metrics.auc>=0.9", "--gate", "champion:auc:0.01");
    expect(JSON.parse(gatesOnly.stdout).policy).toEqual({ protectedAliases: ["production"], gates: [{ kind: "metric", metric: "auc", op: ">=", value: 0.9 }, { kind: "champion_regression", metric: "auc", maxRegression: 0.01, higherIsBetter: true }] });

    const badGate = await cli("olivia", "models", "policy", MODEL, "--gate", "auc>0.9");
    expect(badGate.code).toBe(2);
    expect(badGate.stderr).toContain("expected 'metrics.NAME>=VALUE'");

    // Not even the owner may move a protected alias directly.
    const direct = await cli("olivia", "models", "alias", MODEL, "production", "1");
    expect(direct.code).toBe(1);
    expect(direct.stderr).toMatch(/^error: PERMISSION_DENIED: Alias 'production' of 'e2e-promo' is protected/);
    await expect(alice.models.setAlias(MODEL, "production", 1)).rejects.toMatchObject({ code: "PERMISSION_DENIED", status: 403 });

    // A viewer may not open a request.
    const viewerPromote = await cli("carol", "models", "promote", MODEL, "1", "--alias", "production", "--reason", "me too");
    expect(viewerPromote.code).toBe(1);
    expect(viewerPromote.stderr).toMatch(/^error: PERMISSION_DENIED: You need the write permission/);

    const promote = await cli("alice", "models", "promote", MODEL, "1", "--alias", "production", "--reason", "first release");
    expect([promote.code, promote.stderr]).toEqual([0, ""]);
    expect(promote.stdout).toMatch(/Opened promotion request (\d+): 'e2e-promo@production' \(none\) → v1/);
    expect(promote.stdout).toMatch(/yes\s+metrics\.auc >= 0\.9\s+auc = 0\.91, >= 0\.9/);
    const id = Number(/request (\d+)/.exec(promote.stdout)![1]);
    ids.first = id;

    // alice requested it and, as an editor, may not approve at all; carol (viewer) neither.
    const own = await cli("alice", "models", "approve", String(id));
    expect(own.code).toBe(1);
    expect(own.stderr).toMatch(/^error: PERMISSION_DENIED: You need the approve permission/);
    const viewer = await cli("carol", "models", "approve", String(id));
    expect(viewer.code).toBe(1);
    expect(viewer.stderr).toMatch(/^error: PERMISSION_DENIED: You need the approve permission/);
    await expect(carol.models.promotions.approve(id)).rejects.toMatchObject({ code: "PERMISSION_DENIED", status: 403 });
    expect((await carol.models.promotions.get(id)).status).toBe("open");

    const comment = await cli("alice", "models", "comment", String(id), "please review");
    expect([comment.code, comment.stdout]).toEqual([0, `Commented on request ${id} (1 comment)\n`]);
    const approved = await bob.models.promotions.approve(id, { comment: "lgtm" });
    expect(approved).toMatchObject({ status: "approved", decidedBy: "bob", requester: "alice", comments: [{ author: "alice", text: "please review" }] });
    expect((await carol.models.getByAlias(MODEL, "production")).version).toBe("1");

    const hist = await cli("carol", "models", "history", MODEL, "production");
    expect(hist.stdout).toMatch(new RegExp(`\\(none\\)\\s+1\\s+bob\\s+${id}`));
  }, 90_000);

  it("shows failing gates, blocks approval with the reason, lists, shows and rejects requests, refuses self-approval", async () => {
    const r = await bob.models.promotions.request(MODEL, { alias: "production", version: 3, reason: "smaller model" });
    ids.failing = r.id;
    expect(r).toMatchObject({ fromVersion: "1", gatesPassed: false, requester: "bob" });
    expect(r.gateResults.map((g) => g.message)).toEqual(["auc = 0.7, not >= 0.9", "auc: candidate 0.7, champion v1 0.91: worse by 0.21 (exceeds 0.01)"]);

    const blocked = await cli("olivia", "models", "approve", String(r.id));
    expect(blocked.code).toBe(1);
    expect(blocked.stderr).toMatch(/^error: INVALID_STATE: Promotion request \d+ cannot be approved: 2 gates failed: metrics\.auc >= 0\.9: auc = 0\.7/);

    const good = await bob.models.promotions.request(MODEL, { alias: "production", version: 2, reason: "better auc" });
    ids.good = good.id;
    // The viewer reads the list.
    const list = await cli("carol", "models", "requests", MODEL, "--status", "open");
    expect(list.code).toBe(0);
    expect(list.stdout.split("\n")[0]).toMatch(/^ID\s+MODEL\s+ALIAS\s+FROM\s+TO\s+STATUS\s+GATES\s+REQUESTER/);
    expect(list.stdout).toMatch(new RegExp(`^\\s*${good.id}\\s+e2e-promo\\s+production\\s+1\\s+2\\s+open\\s+pass\\s+bob`, "m"));
    expect(list.stdout).toMatch(new RegExp(`^\\s*${r.id}\\s+e2e-promo\\s+production\\s+1\\s+3\\s+open\\s+FAIL\\s+bob`, "m"));
    const json = JSON.parse((await cli("carol", "--json", "models", "requests", "--status", "open")).stdout);
    expect(json.promotionRequests.map((x: { id: number }) => x.id)).toEqual([good.id, r.id]);
    const badStatus = await cli("carol", "models", "requests", "--status", "pending");
    expect(badStatus.code).toBe(2);

    const show = await cli("carol", "models", "request", String(r.id));
    expect(show.stdout).toMatch(/status\s+open/);
    expect(show.stdout).toMatch(/NO\s+metrics\.auc >= 0\.9\s+auc = 0\.7, not >= 0\.9/);

    const noComment = await cli("olivia", "models", "reject", String(r.id));
    expect(noComment.code).toBe(2);
    const viewerReject = await cli("carol", "models", "reject", String(r.id), "--comment", "nope");
    expect(viewerReject.code).toBe(1);
    expect(viewerReject.stderr).toMatch(/^error: PERMISSION_DENIED: You need the approve permission/);
    const rejected = await cli("olivia", "--json", "models", "reject", String(r.id), "--comment", "auc too low");
    expect(JSON.parse(rejected.stdout).promotionRequest).toMatchObject({ status: "rejected", decidedBy: "olivia", decisionComment: "auc too low" });

    // bob (approver) may not approve his own request; olivia (owner) may.
    const own = await cli("bob", "models", "approve", String(good.id));
    expect(own.code).toBe(1);
    expect(own.stderr).toMatch(/^error: PERMISSION_DENIED: You cannot approve your own promotion request/);
    expect((await carol.models.getByAlias(MODEL, "production")).version).toBe("1");
    const ok = await cli("olivia", "models", "approve", String(good.id), "--comment", "ship");
    expect([ok.code, ok.stdout]).toEqual([0, `Approved request ${good.id}: 'e2e-promo@production' → version 2\n`]);
    expect((await bob.models.getByAlias(MODEL, "production")).version).toBe("2");
    const again = await bob.models.promotions.approve(good.id).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(CairnError);
    expect((again as CairnError).code).toBe("INVALID_STATE");
    const all = [];
    for await (const x of carol.models.promotions.listAll({ name: MODEL, maxResults: 1 })) all.push(x.status);
    expect(all).toEqual(["approved", "rejected", "approved"]);
    await expect(bob.models.promotions.get("x")).rejects.toMatchObject({ code: "INVALID_PARAMETER_VALUE" });

    const hist = await cli("carol", "models", "history", MODEL, "production");
    expect(hist.stdout).toMatch(new RegExp(`\\s1\\s+2\\s+olivia\\s+${good.id}$`, "m"));
  }, 90_000);

  it("records requests, approvals, rejections and refusals in the audit log with their actors", async () => {
    const { api } = new ApiClient({ url, token: tokens.admin });
    const page = await api.listAudit({ query: { resource: "promotion:*", limit: 1000 } });
    const records = page.records;
    const of = (action: string, resource: string) => records.filter((x) => x.action === action && x.resource === resource).map((x) => [x.actor, x.status]);
    const [first, failing, good] = [ids.first!, ids.failing!, ids.good!];
    expect(of("createPromotionRequest", `promotion:${first}`)).toEqual([["alice", 201]]);
    expect(of("createPromotionRequest", `promotion:${failing}`)).toEqual([["bob", 201]]);
    expect(of("createPromotionRequest", `promotion:${good}`)).toEqual([["bob", 201]]);
    // Newest first: bob's approval after the refusals of alice (editor) and carol (viewer, CLI then SDK).
    expect(of("approvePromotionRequest", `promotion:${first}`)).toEqual([
      ["bob", 200],
      ["carol", 403],
      ["carol", 403],
      ["alice", 403],
    ]);
    expect(of("commentPromotionRequest", `promotion:${first}`)).toEqual([["alice", 201]]);
    expect(of("approvePromotionRequest", `promotion:${failing}`)).toEqual([["olivia", 409]]);
    expect(of("rejectPromotionRequest", `promotion:${failing}`)).toEqual([
      ["olivia", 200],
      ["carol", 403],
    ]);
    // bob's own approval is refused (403), olivia's moves the alias, bob's late one finds it decided (409).
    expect(of("approvePromotionRequest", `promotion:${good}`)).toEqual([
      ["bob", 409],
      ["olivia", 200],
      ["bob", 403],
    ]);
    const approval = records.find((x) => x.action === "approvePromotionRequest" && x.resource === `promotion:${good}` && x.status === 200)!;
    expect(approval.after).toMatchObject({ comment: "ship" });
    const rejection = records.find((x) => x.action === "rejectPromotionRequest" && x.status === 200)!;
    expect(rejection.after).toMatchObject({ comment: "auc too low" });

    // The model's records hold the policy changes (olivia's, and alice's refused one) and the refused requests and alias changes.
    const model = (await api.listAudit({ query: { resource: `model:${MODEL}*`, limit: 1000 } })).records;
    const byAction = (action: string) => model.filter((x: AuditRecord) => x.action === action).map((x) => [x.actor, x.status, x.resource]);
    expect(byAction("setPromotionPolicy")).toEqual([
      ["olivia", 200, `model:${MODEL}`],
      ["olivia", 200, `model:${MODEL}`],
      ["alice", 403, `model:${MODEL}`],
    ]);
    expect(byAction("createPromotionRequest")).toEqual([["carol", 403, `model:${MODEL}@production`]]);
    expect(model.filter((x) => x.resource === `model:${MODEL}@production` && x.status === 403 && x.action !== "createPromotionRequest").map((x) => x.actor)).toEqual(["alice", "olivia"]);
    expect((await api.verifyAudit({})).ok).toBe(true);
  });
});
