/**
 * Promotion through the SDK (`cairn.models.promotions`) and the `cairn models` CLI against a real
 * server: policy with gates, a protected alias refusing direct changes, requests with gate results,
 * self-approval refused, approval by a second user, rejection, comments, tables, JSON and exit codes.
 *
 * Two identities without depending on how the auth module maps tokens to users: the server gets a
 * test-only hook that takes the principal's name from an `x-test-user` header. The CLI sends no such
 * header (it acts as `anonymous`, as with auth off); the SDK client `bob` sends `x-test-user: bob`
 * through its `fetch` option.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cairn, CairnError } from "@cairn/sdk";
import { buildServer } from "../packages/server/src/server.js";
import { ANONYMOUS } from "../packages/server/src/platform/auth/principal.js";

const ROOT = path.resolve(import.meta.dirname, "..");
const CLI = path.join(ROOT, "packages/server/src/cli/main.ts");
const MODEL = "e2e-promo";

let url: string;
let close: () => Promise<void>;
let dataDir: string;
let anon: Cairn;
let bob: Cairn;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-e2e-promo-"));
  const built = await buildServer({ port: 0, dataDir, logLevel: "silent" });
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
  anon = new Cairn({ url, handleExit: false });
  bob = new Cairn({
    url,
    handleExit: false,
    fetch: (input, init) => {
      const headers = new Headers(init?.headers);
      headers.set("x-test-user", "bob");
      return fetch(input, { ...init, headers });
    },
  });

  for (const auc of [0.91, 0.95, 0.7]) {
    const run = await anon.startRun({ experiment: "e2e-promotion", captureContext: false });
    run.log({ metrics: { auc } });
    await run.end();
    await anon.models.createVersion({ name: MODEL, source: `runs:/${run.id}/model` }).catch(async (e: unknown) => {
      if (!(e instanceof CairnError) || e.code !== "RESOURCE_DOES_NOT_EXIST") throw e;
      await anon.models.create(MODEL);
      await anon.models.createVersion({ name: MODEL, source: `runs:/${run.id}/model` });
    });
  }
});

afterAll(async () => {
  await close?.();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(...args: string[]): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--conditions=@cairn/source", "--import", "tsx", CLI, "--url", url, ...args], {
      cwd: ROOT,
      env: { ...process.env, FORCE_COLOR: "0" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("promotion through the CLI and the SDK", () => {
  it("sets a policy, refuses direct changes, requests, refuses self-approval, approves as another user", async () => {
    const policy = await cli("models", "policy", MODEL, "--protect", "production", "--gate", "metrics.auc>=0.9", "--gate", "champion:auc:0.01", "--gate", "signature");
    expect([policy.code, policy.stderr]).toEqual([0, ""]);
    expect(policy.stdout).toMatch(/protected aliases\s+production/);
    expect(policy.stdout).toContain("metrics.auc >= 0.9");
    expect(policy.stdout).toContain("metrics.auc not worse than the champion by more than 0.01 (higher is better)");
    expect((await anon.models.promotions.getPolicy(MODEL)).policy.gates).toHaveLength(3);
    // Changing only the gates keeps the protected aliases.
    const gatesOnly = await cli("--json", "models", "policy", MODEL, "--gate", "metrics.auc>=0.9", "--gate", "champion:auc:0.01");
    expect(JSON.parse(gatesOnly.stdout).policy).toEqual({ protectedAliases: ["production"], gates: [{ kind: "metric", metric: "auc", op: ">=", value: 0.9 }, { kind: "champion_regression", metric: "auc", maxRegression: 0.01, higherIsBetter: true }] });

    const badGate = await cli("models", "policy", MODEL, "--gate", "auc>0.9");
    expect(badGate.code).toBe(2);
    expect(badGate.stderr).toContain("expected 'metrics.NAME>=VALUE'");

    const direct = await cli("models", "alias", MODEL, "production", "1");
    expect(direct.code).toBe(1);
    expect(direct.stderr).toMatch(/^error: PERMISSION_DENIED: Alias 'production' of 'e2e-promo' is protected/);
    await expect(anon.models.setAlias(MODEL, "production", 1)).rejects.toMatchObject({ code: "PERMISSION_DENIED", status: 403 });

    const promote = await cli("models", "promote", MODEL, "1", "--alias", "production", "--reason", "first release");
    expect([promote.code, promote.stderr]).toEqual([0, ""]);
    expect(promote.stdout).toMatch(/Opened promotion request (\d+): 'e2e-promo@production' \(none\) → v1/);
    expect(promote.stdout).toMatch(/yes\s+metrics\.auc >= 0\.9\s+auc = 0\.91, >= 0\.9/);
    const id = Number(/request (\d+)/.exec(promote.stdout)![1]);

    const own = await cli("models", "approve", String(id));
    expect(own.code).toBe(1);
    expect(own.stderr).toMatch(/^error: PERMISSION_DENIED: You cannot approve your own promotion request/);

    const comment = await cli("models", "comment", String(id), "please review");
    expect([comment.code, comment.stdout]).toEqual([0, `Commented on request ${id} (1 comment)\n`]);
    const approved = await bob.models.promotions.approve(id, { comment: "lgtm" });
    expect(approved).toMatchObject({ status: "approved", decidedBy: "bob", requester: "anonymous", comments: [{ author: "anonymous", text: "please review" }] });
    expect((await anon.models.getByAlias(MODEL, "production")).version).toBe("1");

    const hist = await cli("models", "history", MODEL, "production");
    expect(hist.stdout).toMatch(new RegExp(`\\(none\\)\\s+1\\s+bob\\s+${id}`));
  }, 60_000);

  it("shows failing gates, blocks approval with the reason, lists, shows and rejects requests", async () => {
    const r = await bob.models.promotions.request(MODEL, { alias: "production", version: 3, reason: "smaller model" });
    expect(r).toMatchObject({ fromVersion: "1", gatesPassed: false, requester: "bob" });
    expect(r.gateResults.map((g) => g.message)).toEqual(["auc = 0.7, not >= 0.9", "auc: candidate 0.7, champion v1 0.91: worse by 0.21 (exceeds 0.01)"]);

    const blocked = await cli("models", "approve", String(r.id));
    expect(blocked.code).toBe(1);
    expect(blocked.stderr).toMatch(/^error: INVALID_STATE: Promotion request \d+ cannot be approved: 2 gates failed: metrics\.auc >= 0\.9: auc = 0\.7/);

    const good = await bob.models.promotions.request(MODEL, { alias: "production", version: 2, reason: "better auc" });
    const list = await cli("models", "requests", MODEL, "--status", "open");
    expect(list.code).toBe(0);
    expect(list.stdout.split("\n")[0]).toMatch(/^ID\s+MODEL\s+ALIAS\s+FROM\s+TO\s+STATUS\s+GATES\s+REQUESTER/);
    expect(list.stdout).toMatch(new RegExp(`^\\s*${good.id}\\s+e2e-promo\\s+production\\s+1\\s+2\\s+open\\s+pass\\s+bob`, "m"));
    expect(list.stdout).toMatch(new RegExp(`^\\s*${r.id}\\s+e2e-promo\\s+production\\s+1\\s+3\\s+open\\s+FAIL\\s+bob`, "m"));
    const json = JSON.parse((await cli("--json", "models", "requests", "--status", "open")).stdout);
    expect(json.promotionRequests.map((x: { id: number }) => x.id)).toEqual([good.id, r.id]);
    const badStatus = await cli("models", "requests", "--status", "pending");
    expect(badStatus.code).toBe(2);

    const show = await cli("models", "request", String(r.id));
    expect(show.stdout).toMatch(/status\s+open/);
    expect(show.stdout).toMatch(/NO\s+metrics\.auc >= 0\.9\s+auc = 0\.7, not >= 0\.9/);

    const noComment = await cli("models", "reject", String(r.id));
    expect(noComment.code).toBe(2);
    const rejected = await cli("--json", "models", "reject", String(r.id), "--comment", "auc too low");
    expect(JSON.parse(rejected.stdout).promotionRequest).toMatchObject({ status: "rejected", decidedBy: "anonymous", decisionComment: "auc too low" });

    // The CLI (anonymous) approves bob's request: the alias moves.
    const ok = await cli("models", "approve", String(good.id), "--comment", "ship");
    expect([ok.code, ok.stdout]).toEqual([0, `Approved request ${good.id}: 'e2e-promo@production' → version 2\n`]);
    expect((await bob.models.getByAlias(MODEL, "production")).version).toBe("2");
    const again = await bob.models.promotions.approve(good.id).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(CairnError);
    expect((again as CairnError).code).toBe("INVALID_STATE");
    const all = [];
    for await (const x of bob.models.promotions.listAll({ name: MODEL, maxResults: 1 })) all.push(x.status);
    expect(all).toEqual(["approved", "rejected", "approved"]);
    await expect(bob.models.promotions.get("x")).rejects.toMatchObject({ code: "INVALID_PARAMETER_VALUE" });
  }, 60_000);
});
