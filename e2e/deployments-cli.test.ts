/**
 * Managed deployments through the SDK (`cairn.deployments`) and `cairn deploy …` against one real
 * server with auth on: an ONNX model with three versions; create with --wait, predictions through the
 * SDK and the CLI; status as a table and JSON; a canary at 50 % and a shadow, predictions answered by
 * both arms, a sticky header pinning a caller to one; promote-canary, rollback, the history with its
 * actors; delete; usage errors exit 2 before any request; an unknown deployment is RESOURCE_DOES_NOT_EXIST.
 */
import fs from "node:fs";
import { logisticOnnxFile } from "./models.js";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cairn, type Deployment, type DeploymentHistoryEntry, type InferRequest } from "@cairn/sdk";
import { onnxSignature } from "../examples/credit-risk/src/onnx-export.js";
import { startServer } from "../packages/server/src/server.js";
import { runCli, runCliExpect } from "./processes.js";

const D = 3;
const NAME = "scorer-live";
let server: Awaited<ReturnType<typeof startServer>>;
let tmp: string;
/** The SDK as the bootstrap admin ('admin'). */
let sdk: Cairn;
let admin: string;
/** A second admin, 'ana', who makes the CLI changes (so the history shows two actors). */
let ana: string;

const onnxFile = (weights: number[], bias: number, name: string) => logisticOnnxFile(tmp, weights, bias, name);

const request = (id?: string): InferRequest => ({ ...(id ? { id } : {}), inputs: [{ name: "features", datatype: "FP32", shape: [1, D], data: [1, 0, 0] }] });

/** `cairn --token TOKEN …args` against the server, expecting exit `code`. */
const cli = (token: string, args: string[], code = 0) => runCliExpect(server.url, ["--token", token, ...args], code, { env: { CAIRN_TOKEN: undefined } });
const cliJson = async <T>(token: string, args: string[]): Promise<T> => JSON.parse((await cli(token, ["--json", ...args])).stdout) as T;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-deploy-e2e-"));
  server = await startServer({ port: 0, dataDir: path.join(tmp, "data"), logLevel: "silent", auth: true });
  admin = server.bootstrapToken!;
  sdk = new Cairn({ url: server.url, token: admin, handleExit: false });
  await sdk.client.api.createUser({ body: { name: "ana", admin: true } });
  ana = (await sdk.client.api.createToken({ body: { user: "ana", name: "e2e" } })).token;
  const weights: [number[], number][] = [
    [[1, -2, 0.5], 0.1],
    [[-1, 2, -0.5], -0.1],
    [[0.5, 0.5, 0.5], 0],
  ];
  // One run per version: a run's model package is its `model` artifact folder.
  for (const [i, [w, b]] of weights.entries()) {
    const run = await sdk.startRun({ experiment: "deployments" });
    await sdk.models.register("scorer", { runId: run.id, model: { onnx: onnxFile(w, b, `v${i + 1}.onnx`) }, signature: onnxSignature(D) });
    await run.end();
  }
  await sdk.models.setAlias("scorer", "champion", 1);
});

afterAll(async () => {
  await server?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe("cairn deploy and cairn.deployments (e2e)", () => {
  it("creates a deployment with --wait and answers predictions through the SDK and the CLI", async () => {
    const created = await cli(admin, ["deploy", "create", NAME, "--model", "scorer", "--alias", "champion", "--description", "e2e scorer", "--wait", "--timeout", "60"]);
    expect(created.stdout).toMatch(/state\s+ready/);
    expect(created.stdout).toMatch(/primary\s+@champion\s+1\s+100%\s+ready\s+1/);

    const p = await sdk.deployments.predict(NAME, request("sdk-1"));
    expect(p).toMatchObject({ requestId: "sdk-1", arm: "primary", version: "1" });
    const prob = p.response.outputs.find((o) => o.name === "probability")!;
    expect((prob.data as number[])[0]).toBeCloseTo(1 / (1 + Math.exp(-(1 + 0.1))), 5);
    const mlflow = await sdk.deployments.invoke(NAME, { instances: [[1, 0, 0]] });
    expect(mlflow).toMatchObject({ arm: "primary", version: "1" });
    expect((mlflow.response.predictions as { probability: number }[])[0]!.probability).toBeCloseTo((prob.data as number[])[0]!, 5);

    const file = path.join(tmp, "req.json");
    fs.writeFileSync(file, JSON.stringify(request("cli-1")));
    const byCli = await cli(admin, ["deploy", "predict", NAME, "--data", `@${file}`]);
    expect(byCli.stderr).toMatch(/answered by the primary arm, version 1, request id cli-1/);
    expect(JSON.parse(byCli.stdout)).toMatchObject({ id: "cli-1", outputs: expect.arrayContaining([expect.objectContaining({ name: "probability" })]) });
  });

  it("shows status as a table and as JSON, and lists deployments", async () => {
    const [table, json, ls] = await Promise.all([cli(admin, ["deploy", "status", NAME]), cliJson<Deployment>(admin, ["deploy", "status", NAME]), cli(admin, ["deploy", "ls", "--model", "scorer"])]);
    expect(table.stdout).toMatch(/name\s+scorer-live/);
    expect(table.stdout).toMatch(/model\s+scorer/);
    expect(table.stdout).toMatch(/revision\s+1/);
    expect(table.stdout).toMatch(/^ARM\s+REF\s+VERSION\s+TRAFFIC\s+STATE\s+SERVING\s+ERROR$/m);
    expect(json).toMatchObject({ name: NAME, description: "e2e scorer", revision: 1, state: "ready", createdBy: "admin", spec: { model: "scorer", primary: { alias: "champion" }, canary: null, shadow: null } });
    expect(json.arms).toEqual([expect.objectContaining({ arm: "primary", version: "1", state: "ready", servingVersion: "1" })]);
    expect(ls.stdout).toMatch(/^NAME\s+MODEL\s+PRIMARY\s+CANARY\s+SHADOW\s+REVISION\s+STATE\s+UPDATED$/m);
    expect(ls.stdout).toMatch(/scorer-live\s+scorer\s+1\s+-\s+-\s+1\s+ready/);
    expect((await sdk.deployments.list({ model: "scorer" })).map((d) => d.name)).toEqual([NAME]);
  });

  it("adds a canary at 50 % and a shadow: both arms answer, a sticky header pins a caller to one", async () => {
    const updated = await cliJson<Deployment>(ana, ["deploy", "update", NAME, "--canary-version", "2", "--canary-percent", "50", "--shadow-version", "3", "--sticky-header", "X-User-Id", "--message", "try v2 on half", "--wait", "--timeout", "60"]);
    expect(updated).toMatchObject({ revision: 2, state: "ready", spec: { canary: { version: "2", percent: 50 }, shadow: { version: "3" }, stickyHeader: "x-user-id" } });
    expect(updated.arms.map((a) => [a.arm, a.version, a.state])).toEqual([
      ["primary", "1", "ready"],
      ["canary", "2", "ready"],
      ["shadow", "3", "ready"],
    ]);
    const [status, stats] = await Promise.all([cli(ana, ["deploy", "status", NAME]), cli(ana, ["deploy", "stats", NAME, "--window", "60"])]);
    expect(status.stdout).toMatch(/canary\s+2\s+2\s+50%\s+ready\s+2/);
    expect(status.stdout).toMatch(/shadow\s+3\s+3\s+copy\s+ready\s+3/);
    expect(stats.stdout).toMatch(/^ARM\s+VERSION\s+REQUESTS\s+ERRORS\s+P50\s+P99$/m);

    const seen = new Map<string, string>();
    for (let i = 0; i < 40; i++) {
      const p = await sdk.deployments.predict(NAME, request());
      seen.set(p.arm!, p.version!);
    }
    expect(Object.fromEntries(seen)).toEqual({ primary: "1", canary: "2" });

    const armsOf = async (user: string) => {
      const arms = new Set<string>();
      for (let i = 0; i < 6; i++) arms.add((await sdk.deployments.predict(NAME, request(), { headers: { "x-user-id": user } })).arm!);
      return [...arms];
    };
    const pinned = await Promise.all(["u1", "u2", "u3", "u4", "u5", "u6"].map(armsOf));
    for (const arms of pinned) expect(arms).toHaveLength(1);
    const cliPinned = await cliJson<{ arm: string }>(ana, ["deploy", "predict", NAME, "--data", JSON.stringify(request()), "-H", "x-user-id=u1"]);
    expect(cliPinned.arm).toBe(pinned[0]![0]);

    // The shadow gets a copy of the requests in the background; its answers are never returned.
    let shadow = 0;
    for (let i = 0; i < 50 && shadow === 0; i++) {
      shadow = (await sdk.deployments.stats(NAME, { windowSeconds: 60 })).arms.find((a) => a.arm === "shadow")?.requests ?? 0;
      if (shadow === 0) await new Promise((r) => setTimeout(r, 100));
    }
    expect(shadow).toBeGreaterThan(0);
  });

  it("promotes the canary, rolls back to the previous revision, and records who did what", async () => {
    const promoted = await cliJson<Deployment>(ana, ["deploy", "promote-canary", NAME, "--message", "v2 holds up"]);
    expect(promoted).toMatchObject({ revision: 3, spec: { primary: { version: "2" }, canary: null, shadow: { version: "3" } } });
    await sdk.deployments.waitUntilReady(NAME, { timeoutMs: 30_000 });
    expect(await sdk.deployments.predict(NAME, request())).toMatchObject({ arm: "primary", version: "2" });

    const rolled = await cli(ana, ["deploy", "rollback", NAME, "--message", "back to the split"]);
    expect(rolled.stdout).toMatch(/revision\s+4/);
    const back = await sdk.deployments.waitUntilReady(NAME, { timeoutMs: 30_000 });
    expect(back).toMatchObject({ revision: 4, spec: { primary: { alias: "champion" }, canary: { version: "2", percent: 50 }, shadow: { version: "3" }, stickyHeader: "x-user-id" } });
    expect(back.arms.map((a) => [a.arm, a.version])).toEqual([
      ["primary", "1"],
      ["canary", "2"],
      ["shadow", "3"],
    ]);

    const [{ history }, table] = await Promise.all([cliJson<{ history: DeploymentHistoryEntry[] }>(admin, ["deploy", "history", NAME]), cli(admin, ["deploy", "history", NAME, "--limit", "10"])]);
    expect(history.map((e) => [e.revision, e.action, e.actor])).toEqual([
      [4, "rollback", "ana"],
      [3, "promote-canary", "ana"],
      [2, "update", "ana"],
      [1, "create", "admin"],
    ]);
    expect(history[1]).toMatchObject({ message: "v2 holds up", from: { versions: { primary: "1", canary: "2" } }, to: { versions: { primary: "2", canary: null } } });
    expect(history[0]!.to.versions).toEqual({ primary: "1", canary: "2", shadow: "3" });

    expect(table.stdout).toMatch(/^REVISION\s+TIME\s+ACTOR\s+ACTION\s+CHANGE\s+MESSAGE$/m);
    expect(table.stdout).toMatch(/4\s+\S+ \S+\s+ana\s+rollback\s+primary 2 → 1, canary - → 2 \(50%\)\s+back to the split/);
    expect(table.stdout).toMatch(/3\s+\S+ \S+\s+ana\s+promote-canary\s+primary 1 → 2, canary 2 \(50%\) → -\s+v2 holds up/);
    expect(table.stdout).toMatch(/2\s+\S+ \S+\s+ana\s+update\s+canary - → 2 \(50%\), shadow - → 3, sticky header changed\s+try v2 on half/);
    expect(table.stdout).toMatch(/1\s+\S+ \S+\s+admin\s+create\s+primary 1/);
    const page = await sdk.deployments.history(NAME, { limit: 2 });
    expect(page.history.map((e) => e.revision)).toEqual([4, 3]);
    expect((await sdk.deployments.history(NAME, { limit: 2, before: page.next! })).history.map((e) => e.revision)).toEqual([2, 1]);
  });

  it("refuses bad flag combinations with exit 2 before any request", async () => {
    const dead = "http://127.0.0.1:9";
    const cases: [string[], RegExp][] = [
      [["deploy", "create", "x", "--model", "scorer"], /--version N or --alias A/],
      [["deploy", "create", "x", "--model", "scorer", "--version", "1", "--alias", "champion"], /either --version or --alias/],
      [["deploy", "create", "x", "--model", "scorer", "--version", "1", "--canary-version", "2"], /needs --canary-percent/],
      [["deploy", "create", "x", "--model", "scorer", "--version", "1", "--canary-alias", "c", "--canary-percent", "101"], /0 to 100/],
      [["deploy", "create", "Bad_Name", "--model", "scorer", "--version", "1"], /deployment name 'Bad_Name' must be lower-case/],
      [["deploy", "update", "x"], /nothing to change/],
      [["deploy", "update", "x", "--no-canary", "--canary-version", "2", "--canary-percent", "5"], /--no-canary/],
      [["deploy", "update", "x", "--version", "2", "--timeout", "5"], /--timeout goes with --wait/],
      [["deploy", "predict", "x", "--data", "{not json"], /not valid JSON/],
      [["deploy", "delete", "x"], /without --yes/],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(dead, args)));
    results.forEach((r, i) => expect([cases[i]![0].join(" "), r.code, r.stderr]).toEqual([cases[i]![0].join(" "), 2, expect.stringMatching(cases[i]![1])]));
  });

  it("an unknown deployment is RESOURCE_DOES_NOT_EXIST; delete stops serving", async () => {
    const [missing, deleted] = await Promise.all([cli(admin, ["--json", "deploy", "status", "no-such-deployment"], 1), cli(ana, ["--json", "deploy", "delete", NAME, "--yes"])]);
    expect(missing.stdout).toBe("");
    expect(missing.stderr).toMatch(/^error: RESOURCE_DOES_NOT_EXIST: /);
    await expect(sdk.deployments.get("no-such-deployment")).rejects.toMatchObject({ code: "RESOURCE_DOES_NOT_EXIST", status: 404 });
    await expect(sdk.deployments.predict("no-such-deployment", request())).rejects.toMatchObject({ code: "RESOURCE_DOES_NOT_EXIST" });

    expect(JSON.parse(deleted.stdout)).toEqual({ deleted: NAME });
    await expect(sdk.deployments.get(NAME)).rejects.toMatchObject({ code: "RESOURCE_DOES_NOT_EXIST" });
    await expect(sdk.deployments.predict(NAME, request())).rejects.toMatchObject({ code: "RESOURCE_DOES_NOT_EXIST" });
    expect(await sdk.deployments.list()).toEqual([]);
    // Its history is kept, the deletion on top.
    expect((await sdk.deployments.history(NAME, { limit: 1 })).history[0]).toMatchObject({ revision: 5, action: "delete", actor: "ana" });
  });
});
