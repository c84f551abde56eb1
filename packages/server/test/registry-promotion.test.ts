/**
 * Protected aliases, validation gates and promotion requests over HTTP, with auth on: real users,
 * project roles and tokens, made with the bootstrap admin token. `ada`, `bob` and `carol` are
 * approvers (so the requester rule is tested apart from the role rule), `owen` is an owner (policy),
 * `ed` an editor and `vera` a viewer (role refusals); calls without a user use the admin token. A
 * later block runs the approve/self-approval rules with other roles, and the last one checks that
 * with auth off (everyone `anonymous`) a request cannot be approved by the same anonymous caller.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { http, testServer } from "./helpers.js";

const P = "/api/2.0/mlflow";
const V1 = "/api/v1";

let url: string;
let stop: () => Promise<void>;
const runIds: string[] = [];
const tokens: Record<string, string> = {};
const call = (method: string, path: string, body?: unknown, user?: string) => http(url, method, path, body, { authorization: `Bearer ${tokens[user ?? "admin"]}` });
const as = (user: string) => ({
  get: (path: string) => call("GET", path, undefined, user),
  post: (path: string, body?: unknown) => call("POST", path, body ?? {}, user),
  put: (path: string, body: unknown) => call("PUT", path, body, user),
});
const ada = as("ada");
const bob = as("bob");

const sig1 = { inputs: [{ name: "amount", dtype: "float32", shape: [-1] }], outputs: [{ name: "score", dtype: "float32", shape: [-1] }] };
const sig2 = { inputs: [{ name: "amount", dtype: "float32", shape: [-1] }, { name: "hour", dtype: "int32", shape: [-1], optional: true }], outputs: [{ name: "score", dtype: "float32", shape: [-1] }] };
const sig3 = { inputs: [{ name: "amount", dtype: "float32", shape: [-1] }, { name: "merchant", dtype: "string", shape: [-1] }], outputs: [{ name: "score", dtype: "float32", shape: [-1] }] };
const policy = {
  protectedAliases: ["production"],
  gates: [{ kind: "metric", metric: "accuracy", op: ">=", value: 0.9 }, { kind: "champion_regression", metric: "accuracy", maxRegression: 0.01 }, { kind: "signature_compatible" }],
};

beforeAll(async () => {
  const server = await testServer({ auth: true });
  url = server.url;
  stop = () => server.stop();
  tokens.admin = server.bootstrapToken!;
  for (const [user, role] of [["ada", "approver"], ["bob", "approver"], ["carol", "approver"], ["owen", "owner"], ["ed", "editor"], ["vera", "viewer"]] as const) {
    expect((await call("POST", `${V1}/auth/users`, { name: user })).status).toBe(201);
    expect((await call("PUT", `${V1}/projects/default/members/${user}`, { role })).status).toBe(200);
    tokens[user] = (await call("POST", `${V1}/auth/tokens`, { user, name: "test" })).body.token;
  }

  const exp = await call("POST", `${P}/experiments/create`, { name: "promotion" });
  // accuracy: v1 0.92, v2 0.915 (worse by 0.005), v3 0.85 (below 0.9, worse by 0.07).
  for (const acc of [0.92, 0.915, 0.85]) {
    const run = await call("POST", `${P}/runs/create`, { experiment_id: exp.body.experiment_id });
    const id = run.body.run.info.run_id as string;
    await call("POST", `${P}/runs/log-batch`, { run_id: id, metrics: [{ key: "accuracy", value: acc, timestamp: 1, step: 0 }] });
    runIds.push(id);
  }
  await call("POST", `${V1}/models`, { name: "promo" });
  for (const [i, sig] of [sig1, sig2, sig3].entries()) {
    const v = await call("POST", `${V1}/models/promo/versions`, { source: `runs:/${runIds[i]}/model`, runId: runIds[i], signature: sig });
    expect(v.status).toBe(201);
  }
  // v4 has no run and no signature.
  await call("POST", `${V1}/models/promo/versions`, { source: "mlflow-artifacts:/0/x/artifacts/model" });
});
afterAll(async () => {
  await stop?.();
});

const aliases = async () => (await call("GET", `${V1}/models/promo`)).body.registeredModel.aliases;
const history = async () => (await call("GET", `${V1}/models/promo/aliases/production/history`)).body.history;

describe("promotion API", () => {
  it("describes the routes in the OpenAPI document", async () => {
    const doc = await call("GET", `${V1}/openapi.json`);
    expect(doc.body.paths["/api/v1/promotions/{id}/approve"].post.operationId).toBe("approvePromotionRequest");
    expect(doc.body.paths["/api/v1/models/{name}/policy"].put.operationId).toBe("setPromotionPolicy");
  });

  it("has an empty policy by default, and replaces it whole", async () => {
    expect((await call("GET", `${V1}/models/promo/policy`)).body).toEqual({ name: "promo", policy: { protectedAliases: [], gates: [] }, lastUpdatedTimestamp: null });
    // Until an alias is protected, MLflow clients change aliases as before.
    expect((await call("POST", `${P}/registered-models/alias`, { name: "promo", alias: "production", version: "4" })).status).toBe(200);
    expect((await call("DELETE", `${P}/registered-models/alias?name=promo&alias=production`)).status).toBe(200);
    const editor = await call("PUT", `${V1}/models/promo/policy`, policy, "ed");
    expect([editor.status, editor.body.error_code]).toEqual([403, "PERMISSION_DENIED"]);
    const put = await call("PUT", `${V1}/models/promo/policy`, policy, "owen");
    expect(put.status).toBe(200);
    expect(put.body.policy).toEqual({ ...policy, gates: [policy.gates[0], { ...policy.gates[1], higherIsBetter: true }, policy.gates[2]] });
    expect(put.body.lastUpdatedTimestamp).toEqual(expect.any(Number));
    expect((await call("GET", `${V1}/models/promo/policy`)).body).toEqual(put.body);
  });

  it("refuses every direct change of a protected alias with PERMISSION_DENIED, and changes nothing", async () => {
    const before = await history();
    const attempts = [
      call("PUT", `${V1}/models/promo/aliases/production`, { version: 1 }),
      call("DELETE", `${V1}/models/promo/aliases/production`),
      call("POST", `${P}/registered-models/alias`, { name: "promo", alias: "production", version: "1" }),
      call("DELETE", `${P}/registered-models/alias?name=promo&alias=production`),
      call("POST", `/ajax-api/2.0/mlflow/registered-models/alias`, { name: "promo", alias: "production", version: "1" }),
    ];
    for (const r of await Promise.all(attempts)) {
      expect([r.status, r.body.error_code]).toEqual([403, "PERMISSION_DENIED"]);
      expect(r.body.message).toMatch(/protected.*promotion request/);
    }
    expect(await aliases()).toEqual([]);
    expect(await history()).toEqual(before);
  });

  it("requests, refuses self-approval, approves by another user: the alias moves and the history names the request", async () => {
    const created = await ada.post(`${V1}/models/promo/promotions`, { alias: "production", version: 1, reason: "first production model" });
    expect(created.status).toBe(201);
    const r = created.body.promotionRequest;
    expect(r).toMatchObject({ name: "promo", alias: "production", version: "1", fromVersion: null, reason: "first production model", requester: "ada", status: "open", gatesPassed: true, comments: [], decidedBy: null });
    expect(r.gateResults.map((g: { gate: { kind: string }; passed: boolean; message: string }) => [g.gate.kind, g.passed, g.message])).toEqual([
      ["metric", true, "accuracy = 0.92, >= 0.9"],
      ["champion_regression", true, "no version holds 'production' yet, so there is no champion to compare with"],
      ["signature_compatible", true, "no version holds 'production' yet, so there is no champion to compare with"],
    ]);

    const own = await ada.post(`${V1}/promotions/${r.id}/approve`);
    expect([own.status, own.body.error_code]).toEqual([403, "PERMISSION_DENIED"]);
    expect(own.body.message).toMatch(/cannot approve your own/);
    expect((await ada.get(`${V1}/promotions/${r.id}`)).body.promotionRequest.status).toBe("open");

    expect((await bob.post(`${V1}/promotions/${r.id}/comments`, { text: "metrics look fine" })).status).toBe(201);
    const ok = await bob.post(`${V1}/promotions/${r.id}/approve`, { comment: "ship it" });
    expect(ok.status).toBe(200);
    expect(ok.body.promotionRequest).toMatchObject({ status: "approved", decidedBy: "bob", decisionComment: "ship it", comments: [{ author: "bob", text: "metrics look fine" }] });
    expect(await aliases()).toEqual([{ alias: "production", version: "1" }]);
    expect((await history())[0]).toMatchObject({ fromVersion: null, toVersion: "1", actor: "bob", requestId: r.id });
    const again = await call("POST", `${V1}/promotions/${r.id}/approve`, {}, "carol");
    expect([again.status, again.body.error_code]).toEqual([409, "INVALID_STATE"]);
  });

  it("checks gates against the champion; a failing gate blocks approval with the reason, and a rejection needs a comment", async () => {
    const created = await ada.post(`${V1}/models/promo/promotions`, { alias: "production", version: 3, reason: "new merchant feature" });
    expect(created.status).toBe(201);
    const r = created.body.promotionRequest;
    expect(r).toMatchObject({ fromVersion: "1", gatesPassed: false });
    expect(r.gateResults.map((g: { passed: boolean }) => g.passed)).toEqual([false, false, false]);
    expect(r.gateResults[0].message).toBe("accuracy = 0.85, not >= 0.9");
    expect(r.gateResults[1].message).toMatch(/candidate 0.85, champion v1 0.92: worse by 0.07 \(exceeds 0.01\)/);
    expect(r.gateResults[2].message).toMatch(/breaking changes from champion v1: .*merchant/);

    const blocked = await bob.post(`${V1}/promotions/${r.id}/approve`);
    expect([blocked.status, blocked.body.error_code]).toEqual([409, "INVALID_STATE"]);
    expect(blocked.body.message).toMatch(/3 gates failed: metrics.accuracy >= 0.9: accuracy = 0.85/);
    expect(await aliases()).toEqual([{ alias: "production", version: "1" }]);
    expect((await bob.get(`${V1}/promotions/${r.id}`)).body.promotionRequest.status).toBe("open");

    const noComment = await bob.post(`${V1}/promotions/${r.id}/reject`, {});
    expect([noComment.status, noComment.body.error_code]).toEqual([400, "INVALID_PARAMETER_VALUE"]);
    const rejected = await bob.post(`${V1}/promotions/${r.id}/reject`, { comment: "accuracy regressed" });
    expect(rejected.body.promotionRequest).toMatchObject({ status: "rejected", decidedBy: "bob", decisionComment: "accuracy regressed" });
  });

  it("lets only the requester cancel, and promotes within the allowed regression", async () => {
    const first = (await ada.post(`${V1}/models/promo/promotions`, { alias: "production", version: 2, reason: "adds optional hour" })).body.promotionRequest;
    const notYours = await bob.post(`${V1}/promotions/${first.id}/cancel`);
    expect([notYours.status, notYours.body.error_code]).toEqual([403, "PERMISSION_DENIED"]);
    expect((await ada.post(`${V1}/promotions/${first.id}/cancel`, { comment: "wrong ticket" })).body.promotionRequest).toMatchObject({ status: "cancelled", decidedBy: "ada", decisionComment: "wrong ticket" });

    const r = (await bob.post(`${V1}/models/promo/promotions`, { alias: "production", version: 2, reason: "adds optional hour" })).body.promotionRequest;
    expect(r.gateResults.map((g: { passed: boolean }) => g.passed)).toEqual([true, true, true]);
    expect(r.gateResults[1].message).toMatch(/worse by 0.005 \(within 0.01\)/);
    expect(r.gateResults[2].message).toBe("compatible with champion v1");
    expect((await ada.post(`${V1}/promotions/${r.id}/approve`)).status).toBe(200);
    expect(await aliases()).toEqual([{ alias: "production", version: "2" }]);
    // Below these two: the direct changes made before the alias was protected (requestId null).
    expect((await history()).map((h: { fromVersion: string | null; toVersion: string; requestId: number | null; actor: string }) => [h.fromVersion, h.toVersion, h.actor, h.requestId])).toEqual([
      ["1", "2", "ada", r.id],
      [null, "1", "bob", r.id - 3],
      ["4", null, "admin", null],
      [null, "4", "admin", null],
    ]);
  });

  it("lists requests newest first by model, alias and status, with paging", async () => {
    const all = (await call("GET", `${V1}/promotions?name=promo`)).body.promotionRequests;
    expect(all.map((x: { status: string }) => x.status)).toEqual(["approved", "cancelled", "rejected", "approved"]);
    expect((await call("GET", `${V1}/promotions?status=rejected`)).body.promotionRequests.map((x: { version: string }) => x.version)).toEqual(["3"]);
    expect((await call("GET", `${V1}/promotions?status=open`)).body.promotionRequests).toEqual([]);
    const p1 = await call("GET", `${V1}/promotions?name=promo&alias=production&maxResults=3`);
    expect(p1.body.promotionRequests).toHaveLength(3);
    const p2 = await call("GET", `${V1}/promotions?name=promo&maxResults=3&pageToken=${p1.body.nextPageToken}`);
    expect([p2.body.promotionRequests.length, p2.body.nextPageToken]).toEqual([1, undefined]);
  });

  it("answers bad input with a 4xx and a code, and changes nothing", async () => {
    await call("POST", `${V1}/models/promo/versions/3/retire`, { state: "archived", reason: "breaking" });
    const open = (await ada.post(`${V1}/models/promo/promotions`, { alias: "production", version: 4, reason: "no run" })).body.promotionRequest;
    expect(open.gateResults.map((g: { message: string }) => g.message)).toEqual([
      "version 4 has no source run, so it has no metric 'accuracy'",
      "version 4 has no source run, so it has no metric 'accuracy'",
      "version 4 (the candidate) has no signature, so compatibility cannot be shown",
    ]);
    const mp = `${V1}/models/promo/promotions`;
    const cases: [string, string, unknown, string | undefined, number, string, RegExp?][] = [
      ["POST", mp, { alias: "production", version: 3, reason: "archived" }, "ada", 400, "INVALID_PARAMETER_VALUE", /archived/],
      ["POST", mp, { alias: "production", version: 2, reason: "already" }, "ada", 409, "INVALID_STATE", /already points to version 2/],
      ["POST", mp, { alias: "production", version: 4, reason: "twice" }, "ada", 400, "RESOURCE_ALREADY_EXISTS", new RegExp(`\\(${open.id}\\)`)],
      ["POST", mp, { alias: "production", version: 9, reason: "missing" }, "ada", 404, "RESOURCE_DOES_NOT_EXIST"],
      ["POST", `${V1}/models/nope/promotions`, { alias: "production", version: 1, reason: "x" }, "ada", 404, "RESOURCE_DOES_NOT_EXIST"],
      ["POST", mp, { alias: "production", version: 1, reason: "" }, "ada", 400, "INVALID_PARAMETER_VALUE", /reason/],
      ["POST", mp, { alias: "production", version: 1, reason: "   " }, "ada", 400, "INVALID_PARAMETER_VALUE", /reason/],
      ["POST", mp, { alias: "production", version: 1, reason: "x".repeat(2001) }, "ada", 400, "INVALID_PARAMETER_VALUE", /reason/],
      ["POST", mp, { alias: "production", version: 1 }, "ada", 400, "INVALID_PARAMETER_VALUE", /reason/],
      ["POST", mp, { alias: "latest", version: 1, reason: "x" }, "ada", 400, "INVALID_PARAMETER_VALUE", /alias/],
      ["POST", mp, { alias: "production", version: 0, reason: "x" }, "ada", 400, "INVALID_PARAMETER_VALUE", /version/],
      ["POST", `${V1}/promotions/${open.id}/approve`, {}, "ada", 403, "PERMISSION_DENIED", /own/],
      ["POST", `${V1}/promotions/${open.id}/approve`, {}, undefined, 409, "INVALID_STATE", /gates failed/],
      ["POST", `${V1}/promotions/${open.id}/approve`, {}, "ed", 403, "PERMISSION_DENIED", /approve permission/],
      ["POST", `${V1}/promotions/${open.id}/approve`, {}, "vera", 403, "PERMISSION_DENIED", /approve permission/],
      ["POST", `${V1}/promotions/${open.id}/reject`, { comment: "no" }, "vera", 403, "PERMISSION_DENIED", /approve permission/],
      ["POST", `${V1}/promotions/${open.id}/comments`, { text: "hi" }, "vera", 403, "PERMISSION_DENIED", /write permission/],
      ["POST", mp, { alias: "production", version: 1, reason: "viewer" }, "vera", 403, "PERMISSION_DENIED", /write permission/],
      ["PUT", `${V1}/models/promo/policy`, {}, "ada", 403, "PERMISSION_DENIED", /manage permission/],
      ["POST", `${V1}/promotions/999999/approve`, {}, "bob", 404, "RESOURCE_DOES_NOT_EXIST"],
      // A malformed id is a 400 for every caller: path parameters are validated before authorization.
      ["POST", `${V1}/promotions/abc/approve`, {}, undefined, 400, "INVALID_PARAMETER_VALUE", /id/],
      ["POST", `${V1}/promotions/abc/approve`, {}, "bob", 400, "INVALID_PARAMETER_VALUE", /id/],
      ["POST", `${V1}/promotions/1/approve`, {}, "carol", 409, "INVALID_STATE", /approved, not open/],
      ["POST", `${V1}/promotions/${open.id}/reject`, { comment: " " }, "bob", 400, "INVALID_PARAMETER_VALUE", /comment/],
      ["POST", `${V1}/promotions/${open.id}/comments`, { text: "" }, "bob", 400, "INVALID_PARAMETER_VALUE", /text/],
      ["POST", `${V1}/promotions/${open.id}/cancel`, {}, "bob", 403, "PERMISSION_DENIED", /Only the requester/],
      ["POST", `${V1}/promotions/1/cancel`, {}, "bob", 409, "INVALID_STATE"],
      ["PUT", `${V1}/models/promo/policy`, { protectedAliases: ["production", "production"] }, "owen", 400, "INVALID_PARAMETER_VALUE", /protectedAliases/],
      ["PUT", `${V1}/models/promo/policy`, { protectedAliases: ["v3"] }, "owen", 400, "INVALID_PARAMETER_VALUE", /protectedAliases/],
      ["PUT", `${V1}/models/promo/policy`, { gates: [{ kind: "vibes" }] }, "owen", 400, "INVALID_PARAMETER_VALUE", /gates/],
      ["PUT", `${V1}/models/promo/policy`, { gates: [{ kind: "metric", metric: "accuracy", op: "=>", value: 1 }] }, "owen", 400, "INVALID_PARAMETER_VALUE", /op/],
      ["PUT", `${V1}/models/promo/policy`, { gates: [{ kind: "metric", op: ">=", value: 1 }] }, "owen", 400, "INVALID_PARAMETER_VALUE", /metric/],
      ["PUT", `${V1}/models/promo/policy`, { gates: [{ kind: "champion_regression", metric: "accuracy", maxRegression: -1 }] }, "owen", 400, "INVALID_PARAMETER_VALUE", /maxRegression/],
      ["PUT", `${V1}/models/nope/policy`, {}, "owen", 404, "RESOURCE_DOES_NOT_EXIST"],
      ["GET", `${V1}/models/nope/policy`, undefined, "ada", 404, "RESOURCE_DOES_NOT_EXIST"],
      ["GET", `${V1}/promotions?status=pending`, undefined, "ada", 400, "INVALID_PARAMETER_VALUE", /status/],
      ["GET", `${V1}/promotions?pageToken=bogus`, undefined, "ada", 400, "INVALID_PARAMETER_VALUE"],
      ["DELETE", `${V1}/models/promo/versions/2`, undefined, "ada", 403, "PERMISSION_DENIED", /protected/],
      ["PUT", `${V1}/models/promo/aliases/production`, { version: 9 }, "ada", 404, "RESOURCE_DOES_NOT_EXIST"],
    ];
    const snapshot = async () => ({
      model: (await call("GET", `${V1}/models/promo`)).body,
      history: await history(),
      policy: (await call("GET", `${V1}/models/promo/policy`)).body,
      requests: (await call("GET", `${V1}/promotions?name=promo`)).body,
      versions: (await call("POST", `${V1}/model-versions/search`, { filter: "name = 'promo'" })).body,
    });
    const before = await snapshot();
    for (const [method, path, body, user, status, code, msg] of cases) {
      const r = await call(method, path, body, user);
      expect([method, path, r.status, r.body.error_code]).toEqual([method, path, status, code]);
      if (msg) expect(r.body.message).toMatch(msg);
    }
    expect(await snapshot()).toEqual(before);
  });

  it("moves policy and requests with a rename, and unprotecting restores direct changes", async () => {
    expect((await call("POST", `${V1}/models/promo/rename`, { newName: "promo2" })).status).toBe(200);
    expect((await call("GET", `${V1}/models/promo2/policy`)).body.policy.protectedAliases).toEqual(["production"]);
    expect((await call("GET", `${V1}/promotions?name=promo2`)).body.promotionRequests).toHaveLength(5);
    expect((await call("PUT", `${V1}/models/promo2/policy`, {})).body.policy).toEqual({ protectedAliases: [], gates: [] });
    expect((await call("PUT", `${V1}/models/promo2/aliases/production`, { version: 1 })).status).toBe(200);
    expect((await call("DELETE", `${V1}/models/promo2`)).status).toBe(200);
    expect((await call("GET", `${V1}/promotions?name=promo2`)).body.promotionRequests).toEqual([]);
  });
});

describe("promotion API with auth on (real users and tokens)", () => {
  let s: Awaited<ReturnType<typeof testServer>>;
  const tokens: Record<string, string> = {};
  const as = (user: string, method: string, path: string, body?: unknown) => http(s.url, method, path, body, { authorization: `Bearer ${tokens[user]}` });

  beforeAll(async () => {
    s = await testServer({ auth: true });
    tokens.admin = s.bootstrapToken!;
    for (const [user, role] of [["ada", "editor"], ["bob", "approver"], ["cy", "approver"]] as const) {
      expect((await as("admin", "POST", "/api/v1/auth/users", { name: user })).status).toBe(201);
      expect((await as("admin", "PUT", `/api/v1/projects/default/members/${user}`, { role })).status).toBe(200);
      tokens[user] = (await as("admin", "POST", "/api/v1/auth/tokens", { user, name: "test" })).body.token;
    }
    const exp = await as("admin", "POST", `${V1}/experiments`, { name: "auth-promo" });
    const run = await as("admin", "POST", `${V1}/runs`, { experimentId: exp.body.experiment.experimentId });
    const runId = run.body.run.info.runId;
    await as("admin", "POST", `${V1}/models`, { name: "authpromo" });
    for (let i = 0; i < 2; i++) expect((await as("admin", "POST", `${V1}/models/authpromo/versions`, { source: `runs:/${runId}/model`, runId })).status).toBe(201);
  });
  afterAll(async () => s?.stop());

  it("needs manage for the policy, approve to decide, and another user than the requester", async () => {
    const policy = { protectedAliases: ["production"], gates: [] };
    const editorPolicy = await as("ada", "PUT", `${V1}/models/authpromo/policy`, policy);
    expect([editorPolicy.status, editorPolicy.body.error_code]).toEqual([403, "PERMISSION_DENIED"]);
    expect((await as("admin", "PUT", `${V1}/models/authpromo/policy`, policy)).status).toBe(200);
    expect((await as("ada", "GET", `${V1}/models/authpromo/policy`)).body.policy).toEqual(policy);

    const direct = await as("ada", "PUT", `${V1}/models/authpromo/aliases/production`, { version: 1 });
    expect([direct.status, direct.body.message]).toEqual([403, expect.stringMatching(/protected/)]);

    const mine = (await as("ada", "POST", `${V1}/models/authpromo/promotions`, { alias: "production", version: 1, reason: "ready" })).body.promotionRequest;
    expect(mine.requester).toBe("ada");
    const editorApproves = await as("ada", "POST", `${V1}/promotions/${mine.id}/approve`, {});
    expect([editorApproves.status, editorApproves.body.error_code]).toEqual([403, "PERMISSION_DENIED"]);

    const bobs = (await as("bob", "POST", `${V1}/models/authpromo/promotions`, { alias: "staging", version: 2, reason: "try it" })).body.promotionRequest;
    const own = await as("bob", "POST", `${V1}/promotions/${bobs.id}/approve`, {});
    expect([own.status, own.body.message]).toEqual([403, expect.stringMatching(/cannot approve your own/)]);

    const ok = await as("bob", "POST", `${V1}/promotions/${mine.id}/approve`, { comment: "ok" });
    expect([ok.status, ok.body.promotionRequest.decidedBy]).toEqual([200, "bob"]);
    expect((await as("cy", "POST", `${V1}/promotions/${bobs.id}/approve`, {})).status).toBe(200);
    const history = (await as("ada", "GET", `${V1}/models/authpromo/aliases/production/history`)).body.history;
    expect(history).toEqual([{ alias: "production", fromVersion: null, toVersion: "1", actor: "bob", time: expect.any(Number), requestId: mine.id }]);

    // The audit log names who requested, who was refused and who decided (newest first).
    const audit = (await as("admin", "GET", `/api/v1/audit?resource=${encodeURIComponent(`promotion:${mine.id}`)}`)).body.records as { actor: string; action: string; status: number }[];
    expect(audit.map((x) => [x.action, x.actor, x.status])).toEqual([
      ["approvePromotionRequest", "bob", 200],
      ["approvePromotionRequest", "ada", 403],
      ["createPromotionRequest", "ada", 201],
    ]);
    const bobsAudit = (await as("admin", "GET", `/api/v1/audit?resource=${encodeURIComponent(`promotion:${bobs.id}`)}&action=approvePromotionRequest`)).body.records as { actor: string; status: number }[];
    expect(bobsAudit.map((x) => [x.actor, x.status])).toEqual([
      ["cy", 200],
      ["bob", 403],
    ]);
    const policyAudit = (await as("admin", "GET", `/api/v1/audit?resource=model:authpromo*&action=setPromotionPolicy`)).body.records as { actor: string; status: number }[];
    expect(policyAudit.map((x) => [x.actor, x.status])).toEqual([
      ["admin", 200],
      ["ada", 403],
    ]);
  });
});

describe("promotion API with auth off (everyone is anonymous)", () => {
  let s: Awaited<ReturnType<typeof testServer>>;
  afterAll(async () => s?.stop());

  it("protects aliases and opens requests, but the anonymous requester cannot approve its own request", async () => {
    s = await testServer();
    const exp = await http(s.url, "POST", `${V1}/experiments`, { name: "open-promo" });
    const runId = (await http(s.url, "POST", `${V1}/runs`, { experimentId: exp.body.experiment.experimentId })).body.run.info.runId;
    await http(s.url, "POST", `${V1}/models`, { name: "openpromo" });
    expect((await http(s.url, "POST", `${V1}/models/openpromo/versions`, { source: `runs:/${runId}/model`, runId })).status).toBe(201);
    expect((await http(s.url, "PUT", `${V1}/models/openpromo/policy`, { protectedAliases: ["production"] })).status).toBe(200);
    const direct = await http(s.url, "PUT", `${V1}/models/openpromo/aliases/production`, { version: 1 });
    expect([direct.status, direct.body.error_code]).toEqual([403, "PERMISSION_DENIED"]);
    const r = (await http(s.url, "POST", `${V1}/models/openpromo/promotions`, { alias: "production", version: 1, reason: "ready" })).body.promotionRequest;
    expect(r).toMatchObject({ requester: "anonymous", status: "open", gatesPassed: true });
    const own = await http(s.url, "POST", `${V1}/promotions/${r.id}/approve`, {});
    expect([own.status, own.body.error_code]).toEqual([403, "PERMISSION_DENIED"]);
    expect(own.body.message).toMatch(/cannot approve your own promotion request .*'anonymous'/);
    expect((await http(s.url, "GET", `${V1}/models/openpromo`)).body.registeredModel.aliases).toEqual([]);
    // The requester may still cancel it.
    expect((await http(s.url, "POST", `${V1}/promotions/${r.id}/cancel`, {})).body.promotionRequest).toMatchObject({ status: "cancelled", decidedBy: "anonymous" });
  });
});
