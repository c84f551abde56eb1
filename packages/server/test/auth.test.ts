import Database from "better-sqlite3";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Permission } from "@cairn/contract";
import { buildServer } from "../src/server.js";
import type { RouteInfo } from "../src/platform/http/app.js";
import { http, testServer } from "./helpers.js";

type Server = Awaited<ReturnType<typeof testServer>>;
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

/** Resources in the default project that a role's pass of the matrix acts on. */
interface Fixture {
  experimentId: string;
  runId: string;
  model: string;
}

async function fixture(s: Server, admin: string, tag: string): Promise<Fixture> {
  const h = bearer(admin);
  const exp = await http(s.url, "POST", "/api/v1/experiments", { name: `exp-${tag}` }, h);
  const experimentId = exp.body.experiment.experimentId as string;
  const run = await http(s.url, "POST", "/api/v1/runs", { experimentId }, h);
  const runId = run.body.run.info.runId as string;
  await http(s.url, "POST", `/api/v1/runs/${runId}/log`, { metrics: [{ key: "loss", value: 1, timestamp: 1, step: 0 }] }, h);
  const model = `model-${tag}`;
  await http(s.url, "POST", "/api/v1/models", { name: model }, h);
  const v = await http(s.url, "POST", `/api/v1/models/${model}/versions`, { source: `runs:/${runId}/model`, runId }, h);
  expect(v.status).toBe(201);
  await http(s.url, "PUT", `/api/v1/models/${model}/aliases/champion`, { version: 1 }, h);
  return { experimentId, runId, model };
}

/** A concrete request for a route: path params filled from the fixture, ids in the query (GET) or body. */
function requestFor(r: RouteInfo, f: Fixture): { url: string; body?: unknown } {
  const isModelRoute = r.url.includes("/models/:name") || r.url.includes("registered-models") || r.url.includes("model-versions");
  let url = r.url
    .replace(":project", "default")
    .replace(":version", "1")
    .replace(":alias", "champion")
    .replace(":key", "loss")
    .replace(":tag", "gold")
    .replace(":ref", "v1")
    .replace(":sha256", "0".repeat(64))
    .replace("*", `${f.experimentId}/${f.runId}/artifacts/model/file.txt`);
  if (url.startsWith("/api/v1/experiments/:id")) url = url.replace(":id", f.experimentId);
  else if (url.startsWith("/api/v1/runs/:id")) url = url.replace(":id", f.runId);
  else if (url.startsWith("/api/v1/auth/tokens/:id")) url = url.replace(":id", "000000000000");
  url = url.replace(":id", "1");
  url = url.replace(":name", isModelRoute ? f.model : url.startsWith("/api/v1/experiments-by-name") ? `exp-${f.model.slice(6)}` : "u-target");
  const ids = { experiment_id: f.experimentId, run_id: f.runId, name: f.model, version: "1", alias: "champion", key: "loss", path: `${f.experimentId}/${f.runId}/artifacts` };
  if (r.method === "GET" || r.method === "DELETE") {
    return { url: url.startsWith("/api/v1/") ? url : `${url}?${new URLSearchParams(ids)}` };
  }
  return { url, body: url.startsWith("/api/v1/") ? {} : ids };
}

const RANK: Record<string, number> = { viewer: 1, editor: 2, approver: 3, owner: 4, admin: 5 };
const NEEDED: Partial<Record<Permission, number>> = { read: 1, write: 2, approve: 3, manage: 4, admin: 5 };
const allowed = (role: string, p: Permission) => p === "public" || p === "authenticated" || RANK[role]! >= NEEDED[p]!;

describe("auth: every route × every role", () => {
  let s: Server;
  let admin: string;
  const tokens: Record<string, string> = {};
  let routes: RouteInfo[];

  beforeAll(async () => {
    s = await testServer({ auth: true, authFailureLimit: 0 });
    admin = s.bootstrapToken!;
    expect(admin).toMatch(/^cairn_[0-9a-f]{12}_/);
    tokens.admin = admin;
    for (const role of ["viewer", "editor", "approver", "owner"]) {
      expect((await http(s.url, "POST", "/api/v1/auth/users", { name: `u-${role}` }, bearer(admin))).status).toBe(201);
      expect((await http(s.url, "PUT", `/api/v1/projects/default/members/u-${role}`, { role }, bearer(admin))).status).toBe(200);
      tokens[role] = (await http(s.url, "POST", "/api/v1/auth/tokens", { user: `u-${role}`, name: "matrix" }, bearer(admin))).body.token;
    }
    // Member and user routes act on this user, so a pass never strips the caller's own role.
    expect((await http(s.url, "POST", "/api/v1/auth/users", { name: "u-target" }, bearer(admin))).status).toBe(201);
    routes = s.app.cairnRoutes;
  });
  afterAll(async () => s?.stop());

  it("lists every API route with a permission", () => {
    expect(routes.length).toBeGreaterThan(100);
    expect(routes.filter((r) => r.url.startsWith("/api/2.0/mlflow/")).length).toBeGreaterThan(40);
    for (const r of routes) expect(["public", "authenticated", "read", "write", "approve", "manage", "admin"]).toContain(r.permission);
  });

  it("answers 401 with a code to no token, a bad token, an expired token and a revoked token, on every route", async () => {
    const expiring = (await http(s.url, "POST", "/api/v1/auth/tokens", { name: "short", expiresInSeconds: 1 }, bearer(admin))).body.token as string;
    const revoked = (await http(s.url, "POST", "/api/v1/auth/tokens", { name: "gone" }, bearer(admin))).body;
    expect((await http(s.url, "DELETE", `/api/v1/auth/tokens/${revoked.info.id}`, undefined, bearer(admin))).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1100));
    const f: Fixture = { experimentId: "0", runId: "r", model: "m" };
    const cases: [string, Record<string, string>, RegExp][] = [
      ["none", {}, /Authentication required/],
      ["bad", bearer("cairn_0123456789ab_nope"), /Invalid token/],
      ["garbage", bearer("not-a-token"), /Invalid token/],
      ["expired", bearer(expiring), /expired/],
      ["revoked", bearer(revoked.token), /revoked/],
      ["basic-bad", { authorization: `Basic ${Buffer.from("u:wrong").toString("base64")}` }, /Invalid token/],
    ];
    for (const r of routes) {
      const req = requestFor(r, f);
      for (const [label, headers, msg] of cases) {
        const res = await http(s.url, r.method, req.url, req.body, headers);
        expect({ route: `${r.method} ${r.url}`, label, status: res.status, code: res.body?.error_code }).toEqual({ route: `${r.method} ${r.url}`, label, status: 401, code: "UNAUTHENTICATED" });
        expect(res.body.message).toMatch(msg);
      }
    }
  });

  for (const role of ["viewer", "editor", "approver", "owner", "admin"]) {
    it(`${role}: allowed routes pass authorization (never 401/403/5xx), the others answer 403 PERMISSION_DENIED`, async () => {
      const f = await fixture(s, admin, role);
      // Denied requests first: allowed ones may delete the fixture, and a denial must be checked while it exists.
      const ordered = [...routes].sort((a, b) => Number(allowed(role, a.permission)) - Number(allowed(role, b.permission)));
      for (const r of ordered) {
        const req = requestFor(r, f);
        const res = await http(s.url, r.method, req.url, req.body, bearer(tokens[role]!));
        const where = `${role} ${r.method} ${req.url} (${r.permission})`;
        if (allowed(role, r.permission)) {
          // 501 is the documented answer of MLflow's proxied multipart upload, which Cairn does not offer.
          const served = res.status < 500 || res.body?.error_code === "NOT_IMPLEMENTED";
          expect(served && res.status !== 401 && res.status !== 403, `${where} → ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`).toBe(true);
        } else {
          expect([where, res.status, res.body?.error_code]).toEqual([where, 403, "PERMISSION_DENIED"]);
        }
      }
    });
  }
});

describe("auth: tokens, projects and visibility", () => {
  let s: Server;
  let admin: string;
  beforeAll(async () => {
    s = await testServer({ auth: true });
    admin = s.bootstrapToken!;
  });
  afterAll(async () => s?.stop());

  it("stores only a hash of each token, and accepts Bearer, Basic (MLflow) and the UI cookie", async () => {
    await http(s.url, "POST", "/api/v1/auth/users", { name: "ana" }, bearer(admin));
    const created = await http(s.url, "POST", "/api/v1/auth/tokens", { user: "ana", name: "laptop", expiresInSeconds: 3600 }, bearer(admin));
    expect(created.status).toBe(201);
    const token = created.body.token as string;
    expect(created.body.info).toMatchObject({ user: "ana", name: "laptop", revokedAt: null });
    expect(created.body.info.expiresAt).toBeGreaterThan(Date.now());
    const db = new Database(path.join(s.dataDir, "cairn.db"), { readonly: true });
    try {
      const rows = db.prepare("select * from auth_tokens").all() as Record<string, unknown>[];
      const dump = JSON.stringify(rows);
      // The secret follows `cairn_<12 hex>_` (it may itself contain `_`).
      const secret = token.slice("cairn_".length + 13);
      expect(secret).toHaveLength(43);
      expect(dump).not.toContain(secret);
      expect(rows.every((r) => /^[0-9a-f]{64}$/.test(String(r.secret_hash)))).toBe(true);
    } finally {
      db.close();
    }
    const me = await http(s.url, "GET", "/api/v1/auth/whoami", undefined, bearer(token));
    expect(me.body).toEqual({ authEnabled: true, user: "ana", admin: false, roles: {} });
    const basic = await http(s.url, "GET", "/api/v1/auth/whoami", undefined, { authorization: `Basic ${Buffer.from(`ana:${token}`).toString("base64")}` });
    expect(basic.body.user).toBe("ana");
    const cookie = await http(s.url, "GET", "/api/v1/auth/whoami", undefined, { cookie: `cairn_token=${encodeURIComponent(token)}` });
    expect(cookie.body.user).toBe("ana");
    // A user without a role anywhere may not read any project's data.
    expect((await http(s.url, "POST", "/api/v1/experiments/search", {}, bearer(token))).status).toBe(403);
    // Users see and revoke only their own tokens; another's id is indistinguishable from a missing one.
    const adminTokens = await http(s.url, "GET", "/api/v1/auth/tokens", undefined, bearer(admin));
    const adminTokenId = adminTokens.body.tokens.find((t: { user: string }) => t.user === "admin").id;
    expect((await http(s.url, "DELETE", `/api/v1/auth/tokens/${adminTokenId}`, undefined, bearer(token))).body.error_code).toBe("RESOURCE_DOES_NOT_EXIST");
    expect((await http(s.url, "GET", "/api/v1/auth/tokens?user=admin", undefined, bearer(token))).status).toBe(403);
    expect((await http(s.url, "GET", "/api/v1/auth/tokens", undefined, bearer(token))).body.tokens.map((t: { user: string }) => t.user)).toEqual(["ana"]);
    // Disabling the user stops their tokens at once.
    await http(s.url, "PATCH", "/api/v1/auth/users/ana", { disabled: true }, bearer(admin));
    expect((await http(s.url, "GET", "/api/v1/auth/whoami", undefined, bearer(token))).status).toBe(401);
    expect((await http(s.url, "PATCH", "/api/v1/auth/users/admin", { disabled: true }, bearer(admin))).body.error_code).toBe("INVALID_PARAMETER_VALUE");
  });

  it("keeps projects apart: lists are filtered and other projects' resources look missing", async () => {
    const h = bearer(admin);
    await http(s.url, "POST", "/api/v1/projects", { name: "risk" }, h);
    expect((await http(s.url, "POST", "/api/v1/projects", { name: "risk" }, h)).body.error_code).toBe("RESOURCE_ALREADY_EXISTS");
    await http(s.url, "POST", "/api/v1/auth/users", { name: "rita" }, h);
    await http(s.url, "PUT", "/api/v1/projects/risk/members/rita", { role: "editor" }, h);
    const rita = bearer((await http(s.url, "POST", "/api/v1/auth/tokens", { user: "rita", name: "t" }, h)).body.token);
    const mine = await http(s.url, "POST", "/api/v1/experiments", { name: "risk-exp", tags: { "cairn.project": "risk" } }, rita);
    expect(mine.status).toBe(201);
    // With auth on, a run belongs to the authenticated user, whatever user_id the client sends.
    const own = await http(s.url, "POST", "/api/2.0/mlflow/runs/create", { experiment_id: mine.body.experiment.experimentId, user_id: "mallory" }, rita);
    expect(own.body.run.info.user_id).toBe("rita");
    // Only admins move experiments between projects.
    const move = await http(s.url, "PUT", `/api/v1/experiments/${mine.body.experiment.experimentId}/tags`, { key: "cairn.project", value: "default" }, rita);
    expect([move.status, move.body.message]).toEqual([403, expect.stringMatching(/Only admins move/)]);
    expect((await http(s.url, "POST", "/api/2.0/mlflow/experiments/set-experiment-tag", { experiment_id: mine.body.experiment.experimentId, key: "cairn.project", value: "default" }, rita)).status).toBe(403);
    expect((await http(s.url, "PUT", `/api/v1/experiments/${mine.body.experiment.experimentId}/tags`, { key: "note", value: "fine" }, rita)).status).toBe(200);
    const theirs = await http(s.url, "POST", "/api/v1/experiments", { name: "default-exp" }, h);
    const hidden = theirs.body.experiment.experimentId;
    // Creating in a project one holds no role in is refused.
    expect((await http(s.url, "POST", "/api/v1/experiments", { name: "sneaky" }, rita)).status).toBe(403);
    const list = await http(s.url, "POST", "/api/v1/experiments/search", {}, rita);
    expect(list.body.experiments.map((e: { name: string }) => e.name)).toEqual(["risk-exp"]);
    const ml = await http(s.url, "POST", "/api/2.0/mlflow/experiments/search", { max_results: 100 }, rita);
    expect(ml.body.experiments.map((e: { name: string }) => e.name)).toEqual(["risk-exp"]);
    const missing = await http(s.url, "GET", "/api/v1/experiments/999999", undefined, rita);
    const other = await http(s.url, "GET", `/api/v1/experiments/${hidden}`, undefined, rita);
    expect(other.status).toBe(404);
    expect(other.body.message.replace(hidden, "ID")).toBe(missing.body.message.replace("999999", "ID"));
    expect((await http(s.url, "GET", `/api/2.0/mlflow/experiments/get?experiment_id=${hidden}`, undefined, rita)).status).toBe(404);
    expect((await http(s.url, "GET", "/api/v1/experiments-by-name/default-exp", undefined, rita)).status).toBe(404);
    // Runs follow their experiment's project.
    const run = await http(s.url, "POST", "/api/v1/runs", { experimentId: hidden }, h);
    expect((await http(s.url, "GET", `/api/v1/runs/${run.body.run.info.runId}`, undefined, rita)).status).toBe(404);
    expect((await http(s.url, "POST", "/api/2.0/mlflow/runs/search", { experiment_ids: [hidden] }, rita)).body.runs ?? []).toEqual([]);
    // Searches are restricted in the query itself: full pages, and no page token that hints at hidden matches.
    for (let i = 0; i < 3; i++) {
      await http(s.url, "POST", "/api/v1/experiments", { name: `hidden-${i}` }, h);
      await http(s.url, "POST", "/api/v1/models", { name: `hidden-model-${i}` }, h);
    }
    await http(s.url, "POST", "/api/v1/models", { name: "risk-model", tags: { "cairn.project": "risk" } }, rita);
    const one = await http(s.url, "POST", "/api/v1/experiments/search", { maxResults: 1 }, rita);
    expect([one.body.experiments.map((e: { name: string }) => e.name), one.body.nextPageToken]).toEqual([["risk-exp"], undefined]);
    const models = await http(s.url, "POST", "/api/v1/models/search", { maxResults: 1, filter: "name LIKE '%model%'" }, rita);
    expect([models.body.registeredModels.map((m: { name: string }) => m.name), models.body.nextPageToken]).toEqual([["risk-model"], undefined]);
    const mlModels = await http(s.url, "GET", "/api/2.0/mlflow/registered-models/search?max_results=1", undefined, rita);
    expect([mlModels.body.registered_models.map((m: { name: string }) => m.name), mlModels.body.next_page_token]).toEqual([["risk-model"], undefined]);
    expect((await http(s.url, "POST", "/api/v1/models/search", { maxResults: 1 }, h)).body.nextPageToken).toBeDefined();
    // Projects listed are the caller's.
    expect((await http(s.url, "GET", "/api/v1/projects", undefined, rita)).body.projects.map((p: { name: string }) => p.name)).toEqual(["risk"]);
    expect((await http(s.url, "GET", "/api/v1/projects", undefined, h)).body.projects.map((p: { name: string }) => p.name)).toEqual(["default", "risk"]);
  });

  it("keeps promotion requests in their model's project: another project's approver cannot see or approve them", async () => {
    const h = bearer(admin);
    await http(s.url, "POST", "/api/v1/projects", { name: "ops" }, h);
    await http(s.url, "POST", "/api/v1/auth/users", { name: "otto" }, h);
    await http(s.url, "PUT", "/api/v1/projects/ops/members/otto", { role: "approver" }, h);
    const otto = bearer((await http(s.url, "POST", "/api/v1/auth/tokens", { user: "otto", name: "t" }, h)).body.token);
    const exp = await http(s.url, "POST", "/api/v1/experiments", { name: "promo-exp" }, h);
    const run = await http(s.url, "POST", "/api/v1/runs", { experimentId: exp.body.experiment.experimentId }, h);
    await http(s.url, "POST", "/api/v1/models", { name: "promo-model" }, h);
    await http(s.url, "POST", "/api/v1/models/promo-model/versions", { source: `runs:/${run.body.run.info.runId}/model` }, h);
    const req = await http(s.url, "POST", "/api/v1/models/promo-model/promotions", { alias: "production", version: 1, reason: "first" }, h);
    expect(req.status).toBe(201);
    const id = req.body.promotionRequest.id;
    const approve = await http(s.url, "POST", `/api/v1/promotions/${id}/approve`, {}, otto);
    const missing = await http(s.url, "POST", "/api/v1/promotions/999999/approve", {}, otto);
    expect([approve.status, approve.body.error_code]).toEqual([404, "RESOURCE_DOES_NOT_EXIST"]);
    expect(approve.body.message.replace(String(id), "N")).toBe(missing.body.message.replace("999999", "N"));
    expect((await http(s.url, "GET", "/api/v1/promotions", undefined, otto)).body.promotionRequests).toEqual([]);
    expect((await http(s.url, "GET", "/api/v1/promotions", undefined, h)).body.promotionRequests).toHaveLength(1);
    expect((await http(s.url, "GET", `/api/v1/promotions/${id}`, undefined, h)).body.promotionRequest.status).toBe("open");
  });

  it("checks every resource a request names, as its handler reads it (query and body, several ids, version sources)", async () => {
    const h = bearer(admin);
    await http(s.url, "POST", "/api/v1/projects", { name: "pa" }, h);
    await http(s.url, "POST", "/api/v1/projects", { name: "pb" }, h);
    await http(s.url, "POST", "/api/v1/auth/users", { name: "eve" }, h);
    await http(s.url, "PUT", "/api/v1/projects/pa/members/eve", { role: "editor" }, h);
    const eve = bearer((await http(s.url, "POST", "/api/v1/auth/tokens", { user: "eve", name: "t" }, h)).body.token);
    // The victim's experiment, run (with a secret metric) and model live in pb.
    const vexp = (await http(s.url, "POST", "/api/v1/experiments", { name: "victim", tags: { "cairn.project": "pb" } }, h)).body.experiment.experimentId;
    const vrun = (await http(s.url, "POST", "/api/v1/runs", { experimentId: vexp }, h)).body.run.info.runId;
    await http(s.url, "POST", `/api/v1/runs/${vrun}/log`, { metrics: [{ key: "auc", value: 0.987, timestamp: 1, step: 0 }] }, h);
    await http(s.url, "POST", "/api/v1/models", { name: "vmodel", tags: { "cairn.project": "pb" } }, h);
    // Eve's own experiment and run in pa.
    const eexp = (await http(s.url, "POST", "/api/v1/experiments", { name: "eve-exp", tags: { "cairn.project": "pa" } }, eve)).body.experiment.experimentId;
    const erun = (await http(s.url, "POST", "/api/v1/runs", { experimentId: eexp }, eve)).body.run.info.runId;

    const attempts: [string, string, unknown, number][] = [
      // Ids in the query of a POST/DELETE: MLflow's handlers read the query too.
      ["POST", `/api/2.0/mlflow/runs/log-metric?run_id=${vrun}`, { key: "pwned", value: 1, timestamp: 1 }, 404],
      ["POST", `/api/2.0/mlflow/runs/delete?run_id=${vrun}`, {}, 404],
      ["DELETE", "/api/2.0/mlflow/registered-models/delete?name=vmodel", undefined, 404],
      // A second id beside one the caller may read.
      ["GET", `/api/2.0/mlflow/metrics/get-history-bulk-interval?run_id=${erun}&run_ids=${vrun}&metric_key=auc`, undefined, 404],
      ["POST", "/api/v1/metrics/downsampled", { runIds: [erun, vrun], keys: ["auc"] }, 404],
      // A search over another project's experiment (its paging would reveal matches).
      ["POST", "/api/v1/runs/search", { experimentIds: [vexp], filter: "metrics.auc > 0.5" }, 404],
      ["POST", "/api/2.0/mlflow/runs/search", { experiment_ids: [eexp, vexp] }, 404],
      // A repeated project tag: the last one is stored, so the last one is checked.
      ["POST", "/api/2.0/mlflow/registered-models/create", { name: "sneaky", tags: [{ key: "cairn.project", value: "pa" }, { key: "cairn.project", value: "pb" }] }, 403],
      // A version whose source is another project's run or files.
      ["POST", "/api/2.0/mlflow/registered-models/create", { name: "evil", tags: [{ key: "cairn.project", value: "pa" }] }, 200],
      ["POST", "/api/v1/models/evil/versions", { source: `runs:/${vrun}/model` }, 404],
      ["POST", "/api/v1/models/evil/versions", { source: `runs:/${erun}/model`, runId: vrun }, 404],
      ["POST", "/api/2.0/mlflow/model-versions/create", { name: "evil", source: `mlflow-artifacts:/${vexp}/${vrun}/artifacts/model` }, 404],
      // The artifact root spans every project; artifact locations are the admins' to choose.
      ["GET", "/api/2.0/mlflow-artifacts/artifacts", undefined, 403],
      ["POST", "/api/2.0/mlflow/experiments/create", { name: "relocated", artifact_location: `mlflow-artifacts:/${vexp}/${vrun}/artifacts`, tags: [{ key: "cairn.project", value: "pa" }] }, 403],
    ];
    for (const [method, url, body, status] of attempts) {
      const res = await http(s.url, method, url, body, eve);
      expect([method, url, res.status]).toEqual([method, url, status]);
    }
    // Nothing changed on the victim's side.
    const run = await http(s.url, "GET", `/api/v1/runs/${vrun}`, undefined, h);
    expect([run.body.run.info.lifecycleStage, run.body.run.data.metrics.map((m: { key: string }) => m.key)]).toEqual(["active", ["auc"]]);
    expect((await http(s.url, "GET", "/api/v1/models/vmodel", undefined, h)).status).toBe(200);
    expect((await http(s.url, "GET", "/api/v1/models/sneaky", undefined, h)).status).toBe(404);
    // Eve's own version from her own run works; MLflow's get-latest-versions over POST only reads.
    expect((await http(s.url, "POST", "/api/v1/models/evil/versions", { source: `runs:/${erun}/model`, runId: erun }, eve)).status).toBe(201);
    expect((await http(s.url, "POST", "/api/2.0/mlflow/registered-models/get-latest-versions", { name: "evil" }, eve)).status).toBe(200);
  });

  it("locks out a client after repeated failed authentications", async () => {
    const t = await testServer({ auth: true, authFailureLimit: 3 });
    try {
      for (let i = 0; i < 3; i++) expect((await http(t.url, "GET", "/api/v1/auth/whoami", undefined, bearer("wrong"))).status).toBe(401);
      const locked = await http(t.url, "GET", "/api/v1/auth/whoami", undefined, bearer(t.bootstrapToken!));
      expect(locked.status).toBe(429);
      expect(locked.body.error_code).toBe("REQUEST_LIMIT_EXCEEDED");
      expect(Number(locked.headers.get("retry-after"))).toBeGreaterThan(0);
    } finally {
      await t.stop();
    }
  });
});

describe("auth: default posture", () => {
  it("refuses a non-loopback address without auth unless --insecure", async () => {
    await expect(buildServer({ host: "0.0.0.0", dataDir: "/tmp/cairn-never-created", logLevel: "silent" })).rejects.toThrow(/--insecure/);
  });

  it("runs open on loopback, as anonymous, and prints an admin token only on the first --auth start", async () => {
    const open = await testServer();
    try {
      expect((await http(open.url, "GET", "/api/v1/auth/whoami")).body).toEqual({ authEnabled: false, user: "anonymous", admin: true, roles: {} });
    } finally {
      await open.stop();
    }
    const first = await testServer({ auth: true });
    try {
      expect(first.bootstrapToken).toBeDefined();
      const { startServer } = await import("../src/server.js");
      await first.close();
      const again = await startServer({ port: 0, dataDir: first.dataDir, logLevel: "silent", auth: true });
      expect(again.bootstrapToken).toBeUndefined();
      expect((await http(again.url, "GET", "/api/v1/auth/whoami", undefined, bearer(first.bootstrapToken!))).body.user).toBe("admin");
      await again.close();
    } finally {
      await first.stop();
    }
  });
});
