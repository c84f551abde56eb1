import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { http, testServer } from "./helpers.js";

type Server = Awaited<ReturnType<typeof testServer>>;
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

describe("audit log over HTTP", () => {
  let s: Server;
  let admin: string;
  let viewer: string;

  beforeAll(async () => {
    s = await testServer({ auth: true });
    admin = s.bootstrapToken!;
    await http(s.url, "POST", "/api/v1/auth/users", { name: "vic" }, bearer(admin));
    await http(s.url, "PUT", "/api/v1/projects/default/members/vic", { role: "viewer" }, bearer(admin));
    viewer = (await http(s.url, "POST", "/api/v1/auth/tokens", { user: "vic", name: "t" }, bearer(admin))).body.token;
  });
  afterAll(async () => s?.stop());

  const records = async (query = "") => (await http(s.url, "GET", `/api/v1/audit${query}`, undefined, bearer(admin))).body.records as any[];

  it("records each mutating request with actor, action, resource, before/after, status, request id and client", async () => {
    const h = bearer(admin);
    const exp = await http(s.url, "POST", "/api/v1/experiments", { name: "audited" }, h);
    const id = exp.body.experiment.experimentId;
    const run = await http(s.url, "POST", "/api/2.0/mlflow/runs/create", { experiment_id: id }, h);
    const runId = run.body.run.info.run_id;
    await http(s.url, "POST", "/api/2.0/mlflow/runs/log-batch", { run_id: runId, metrics: Array.from({ length: 50 }, (_, i) => ({ key: "m", value: i, timestamp: 1, step: i })) }, h);
    await http(s.url, "POST", "/api/v1/models", { name: "churn" }, h);
    await http(s.url, "POST", "/api/v1/models/churn/versions", { source: `runs:/${runId}/model`, runId }, h);
    await http(s.url, "POST", "/api/v1/models/churn/versions", { source: `runs:/${runId}/model`, runId }, h);
    await http(s.url, "PUT", "/api/v1/models/churn/aliases/champion", { version: 1 }, h);
    const moved = await http(s.url, "PUT", "/api/v1/models/churn/aliases/champion", { version: 2 }, h);
    // Reads are not recorded.
    await http(s.url, "GET", "/api/v1/models/churn", undefined, h);
    await http(s.url, "POST", "/api/v1/models/search", {}, h);

    const all = await records();
    expect(all.map((r) => r.action)).toEqual(["setAlias", "setAlias", "createModelVersion", "createModelVersion", "createRegisteredModel", "mlflow:runs/log-batch", "mlflow:runs/create", "createExperiment", "createToken", "setMember", "createUser"].slice(0, all.length));
    const [last] = all;
    expect(last).toMatchObject({ actor: "admin", action: "setAlias", resource: "model:churn@champion", status: 200, client: "127.0.0.1" });
    expect(last.before.aliases).toEqual({ champion: "1" });
    expect(last.after.state.aliases).toEqual({ champion: "2" });
    expect(last.after.change).toEqual({ version: 2 });
    expect(last.requestId).toBeTruthy();
    expect(moved.status).toBe(200);
    const created = all.find((r) => r.action === "createExperiment");
    expect(created.resource).toBe(`experiment:${id}`);
    const batch = all.find((r) => r.action === "mlflow:runs/log-batch");
    expect(batch.resource).toBe(`run:${runId}`);
    // Large arrays are summarised, not copied into the log.
    expect(batch.after.metrics.at(-1)).toBe("…(50 items)");
    expect(all.find((r) => r.action === "createToken").after).not.toHaveProperty("token");
  });

  it("records refused changes (403) but not unauthenticated ones (401), and filters by resource and actor", async () => {
    const denied = await http(s.url, "POST", "/api/v1/models", { name: "nope" }, bearer(viewer));
    expect(denied.status).toBe(403);
    await http(s.url, "POST", "/api/v1/models", { name: "anon" }, bearer("cairn_000000000000_bad"));
    const vic = await records("?actor=vic");
    expect(vic).toHaveLength(1);
    expect(vic[0]).toMatchObject({ action: "createRegisteredModel", status: 403, resource: "project:default" });
    expect((await records("?resource=model:churn*")).every((r) => r.resource.startsWith("model:churn"))).toBe(true);
    expect((await records("?resource=model:churn@champion")).map((r) => r.after.change.version)).toEqual([2, 1]);
    expect((await records("?action=mlflow:*")).map((r) => r.action).sort()).toEqual(["mlflow:runs/create", "mlflow:runs/log-batch"]);
    expect((await http(s.url, "GET", "/api/v1/audit", undefined, bearer(viewer))).status).toBe(403);
  });

  it("verifies the chain, exports JSON lines and pages backwards", async () => {
    const v = await http(s.url, "GET", "/api/v1/audit/verify", undefined, bearer(admin));
    expect(v.body.ok).toBe(true);
    const total = v.body.records as number;
    expect(total).toBeGreaterThan(10);
    const res = await fetch(`${s.url}/api/v1/audit/export`, { headers: bearer(admin) });
    expect(res.headers.get("content-type")).toMatch(/ndjson/);
    const lines = (await res.text()).trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.map((l) => l.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(lines.at(-1).hash).toBe(v.body.headHash);
    const p1 = await http(s.url, "GET", "/api/v1/audit?limit=3", undefined, bearer(admin));
    const p2 = await http(s.url, "GET", `/api/v1/audit?limit=3&before=${p1.body.nextBefore}`, undefined, bearer(admin));
    expect(p2.body.records.map((r: { seq: number }) => r.seq)).toEqual([total - 3, total - 4, total - 5]);
    expect((await http(s.url, "GET", "/api/v1/audit?limit=0", undefined, bearer(admin))).body.error_code).toBe("INVALID_PARAMETER_VALUE");
  });

  it("records nothing with --no-audit, and records anonymous changes on an open server", async () => {
    const off = await testServer({ audit: false });
    const open = await testServer();
    try {
      await http(off.url, "POST", "/api/v1/experiments", { name: "x" });
      expect((await http(off.url, "GET", "/api/v1/audit")).body.records).toEqual([]);
      await http(open.url, "POST", "/api/v1/experiments", { name: "x" });
      expect((await http(open.url, "GET", "/api/v1/audit")).body.records[0]).toMatchObject({ actor: "anonymous", action: "createExperiment" });
    } finally {
      await off.stop();
      await open.stop();
    }
  });
});
