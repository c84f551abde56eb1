/**
 * Managed deployments over HTTP, on SQLite and on PostgreSQL: create, predict through the Open
 * Inference Protocol and /invocations, canary split (sticky by header), shadow (never slows or
 * breaks the primary, even when it throws or hangs), promote, rollback, history, alias following
 * (and auto-rollout as a canary), a version that fails to load, the inference log, stats, lineage,
 * bad input, and auth. Models are JS-module packages so each version's answer is known exactly.
 */
import fs from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cairn } from "@cairn/sdk";
import type { ServerConfig } from "../src/platform/config.js";
import { describePg, freshPgSchema } from "./pg.js";
import { http, tempDir, testServer, authAdmin, waitFor } from "./helpers.js";

type Server = Awaited<ReturnType<typeof testServer>> & { drop?: () => Promise<void> };
type Start = (config?: Partial<ServerConfig>) => Promise<Server>;
type Headers = Record<string, string>;

const SIGNATURE = { inputs: [{ name: "x", dtype: "float32", shape: [-1, 2] }], outputs: [{ name: "y", dtype: "float32", shape: [-1, 2] }] };
const row = (a: number, b: number) => ({ inputs: [{ name: "x", datatype: "FP32", shape: [1, 2], data: [a, b] }] });

/** A JS-module model package: y = k·x; `behaviour` makes it fail its warm-up, throw on every call, or hang. */
function jsModel(dir: string, k: number, behaviour: "ok" | "bad-warmup" | "throws" | "hangs" = "ok"): string {
  fs.mkdirSync(dir, { recursive: true });
  const body = {
    ok: "",
    "bad-warmup": `if (x.data.every((v) => v === 0)) throw new Error("cannot score all-zero rows");`,
    throws: `if (!x.data.every((v) => v === 0)) throw new Error("shadow bug");`,
    hangs: `if (!x.data.every((v) => v === 0)) await new Promise(() => {});`,
  }[behaviour];
  fs.writeFileSync(path.join(dir, "index.mjs"), `export async function predict(inputs) {\n  const x = inputs.x;\n  ${body}\n  return { y: { datatype: "FP32", shape: x.shape, data: Float32Array.from(x.data, (v) => v * ${k}) } };\n}\n`);
  return dir;
}

function deploymentsApi(backend: string, start: Start): void {
  describe(`deployments API (${backend})`, () => {
    let s: Server;
    let tmp: { dir: string; cleanup(): void };
    let sdk: Cairn;
    const call = (method: string, url: string, body?: unknown, headers: Headers = {}) => http(s.url, method, url, body, headers);
    const infer = (name: string, body: unknown, headers: Headers = {}, model = "scorer") => call("POST", `/deployments/${name}/v2/models/${model}/infer`, body, headers);
    const get = async (name: string) => (await call("GET", `/api/v1/deployments/${name}`)).body;
    const ready = (name: string) => waitFor(`${name} ready`, () => get(name), (d) => d.state === "ready");

    beforeAll(async () => {
      tmp = tempDir("cairn-deploy-");
      // The test models are JS modules (each version's answer is known exactly): an admin must allow them.
      s = await start({ deploymentSyncMs: 200, deployJsModels: true });
      sdk = new Cairn({ url: s.url, handleExit: false });
      const run = await sdk.startRun({ experiment: "deployments" });
      // Versions 1–6 of `scorer`: y = x, 2x, 3x; one failing its warm-up; one throwing; one hanging (each under its own path).
      for (const [i, [k, b]] of ([[1, "ok"], [2, "ok"], [3, "ok"], [9, "bad-warmup"], [5, "throws"], [6, "hangs"]] as const).entries()) {
        await sdk.models.register("scorer", { runId: run.id, artifactPath: `model-${i + 1}`, model: { jsModule: jsModel(path.join(tmp.dir, `m${i + 1}`), k, b) }, signature: SIGNATURE as never });
      }
      await run.end();
    });
    afterAll(async () => {
      await s?.stop();
      await s?.drop?.();
      tmp?.cleanup();
    });

    it("creates a deployment that loads in the background, answers OIP and /invocations, and logs every prediction", async () => {
      const created = await call("POST", "/api/v1/deployments", { name: "fraud", model: "scorer", primary: { version: 1 }, description: "first" });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ name: "fraud", revision: 1, description: "first", spec: { model: "scorer", primary: { version: "1" }, canary: null, shadow: null, logSample: 1 }, createdBy: "anonymous" });
      const d = await ready("fraud");
      expect(d.arms).toEqual([{ arm: "primary", ref: { version: "1" }, version: "1", state: "ready", servingVersion: "1" }]);

      expect((await call("GET", "/deployments/fraud/v2/health/ready")).status).toBe(200);
      expect((await call("GET", "/deployments/fraud/v2/health/live")).body).toEqual({ live: true });
      expect((await call("GET", "/deployments/fraud/v2/models/scorer/ready")).body).toEqual({ name: "scorer", ready: true });
      const meta = await call("GET", "/deployments/fraud/v2/models/scorer");
      expect(meta.body).toMatchObject({ name: "scorer", versions: ["1"], platform: "cairn_js", inputs: [{ name: "x", datatype: "FP32", shape: [-1, 2] }] });
      // The deployment's own name works as the model name too (as a KServe InferenceService's does).
      expect((await call("GET", "/deployments/fraud/v2/models/fraud")).status).toBe(200);

      const r = await infer("fraud", { id: "req-1", ...row(1.5, -2) });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ model_name: "scorer", model_version: "1", id: "req-1", outputs: [{ name: "y", datatype: "FP32", shape: [1, 2], data: [1.5, -2] }] });
      expect([r.headers.get("x-request-id"), r.headers.get("x-cairn-arm"), r.headers.get("x-cairn-model-version")]).toEqual(["req-1", "primary", "1"]);
      // No id in the body: the caller's x-request-id, else a fresh one.
      expect((await infer("fraud", row(1, 1), { "x-request-id": "from-header" })).headers.get("x-request-id")).toBe("from-header");
      const fresh = (await infer("fraud", row(1, 1))).headers.get("x-request-id")!;
      expect(fresh).toMatch(/^[0-9a-f-]{36}$/);
      const inv = await call("POST", "/deployments/fraud/invocations", { dataframe_split: { columns: ["a", "b"], data: [[1, 2], [3, 4]] } });
      expect([inv.status, inv.body]).toEqual([200, { predictions: [[1, 2], [3, 4]] }]);
      const pinned = await call("POST", "/deployments/fraud/v2/models/scorer/versions/1/infer", row(2, 2));
      expect(pinned.body.model_version).toBe("1");

      const log = await waitFor("the inference log", async () => (await call("GET", "/api/v1/models/scorer/inference-log?deployment=fraud")).body.records, (rs: any[]) => rs.length >= 5);
      expect(log.find((x: any) => x.requestId === "req-1")).toMatchObject({ deployment: "fraud", arm: "primary", version: "1", status: 200, inputs: [{ name: "x", data: [1.5, -2] }], outputs: [{ name: "y", data: [1.5, -2] }] });
      const stats = (await call("GET", "/api/v1/deployments/fraud/stats?windowSeconds=60")).body;
      expect(stats.arms).toEqual([expect.objectContaining({ arm: "primary", version: "1", requests: 5, errors: 0 })]);
      expect(stats.recent[0]).toMatchObject({ arm: "primary", version: "1", status: 200 });
      expect(stats.recent.map((p: any) => p.requestId)).toContain("req-1");
      const metrics = await call("GET", "/metrics");
      expect(metrics.body).toMatch(/cairn_deployment_requests_total\{deployment="fraud",version="1",arm="primary",code="200"\} 5/);
    });

    it("answers bad input and unknown names with 4xx codes, never 500", async () => {
      const bad = async (method: string, url: string, body: unknown, status: number, code: string, headers: Headers = {}) => {
        const r = await call(method, url, body, headers);
        expect([r.status, r.body.error_code ?? r.body.code], `${method} ${url} ${JSON.stringify(r.body)}`).toEqual([status, code]);
        return r.body;
      };
      await bad("POST", "/api/v1/deployments", { name: "Bad_Name", model: "scorer", primary: { version: 1 } }, 400, "INVALID_PARAMETER_VALUE");
      await bad("POST", "/api/v1/deployments", { name: "x", model: "scorer", primary: { version: 1, alias: "a" } }, 400, "INVALID_PARAMETER_VALUE");
      await bad("POST", "/api/v1/deployments", { name: "x", model: "nope", primary: { version: 1 } }, 404, "RESOURCE_DOES_NOT_EXIST");
      expect((await bad("POST", "/api/v1/deployments", { name: "x", model: "scorer", primary: { version: 99 } }, 404, "RESOURCE_DOES_NOT_EXIST")).message).toMatch(/^primary: /);
      await bad("POST", "/api/v1/deployments", { name: "x", model: "scorer", primary: { alias: "nope" } }, 404, "RESOURCE_DOES_NOT_EXIST");
      await bad("POST", "/api/v1/deployments", { name: "x", model: "scorer", primary: { version: 1 }, canary: { version: 2, percent: 150 } }, 400, "INVALID_PARAMETER_VALUE");
      await bad("POST", "/api/v1/deployments", { name: "fraud", model: "scorer", primary: { version: 2 } }, 400, "RESOURCE_ALREADY_EXISTS");
      await bad("GET", "/api/v1/deployments/nope", undefined, 404, "RESOURCE_DOES_NOT_EXIST");
      await bad("POST", "/api/v1/deployments/fraud/promote-canary", {}, 409, "INVALID_STATE");
      // A change that changes nothing writes no revision.
      expect((await call("PATCH", "/api/v1/deployments/fraud", { primary: { version: 1 }, message: "again" })).body.revision).toBe(1);

      const e = await bad("POST", "/deployments/nope/v2/models/scorer/infer", row(1, 1), 404, "RESOURCE_DOES_NOT_EXIST");
      expect(e.error).toMatch(/Deployment 'nope' not found/);
      await bad("POST", "/deployments/fraud/v2/models/other/infer", row(1, 1), 404, "RESOURCE_DOES_NOT_EXIST");
      await bad("POST", "/deployments/fraud/v2/models/scorer/versions/7/infer", row(1, 1), 404, "RESOURCE_DOES_NOT_EXIST");
      await bad("POST", "/deployments/fraud/v2/models/scorer/infer", "{not json", 400, "MALFORMED_REQUEST");
      await bad("POST", "/deployments/fraud/v2/models/scorer/infer", "x=1", 415, "UNSUPPORTED_MEDIA_TYPE", { "content-type": "text/plain" });
      await bad("POST", "/deployments/fraud/v2/models/scorer/infer", { inputs: [{ name: "x", datatype: "FP32", shape: [1, 2], data: new Array(17 * 1024 * 1024 / 2).fill(1) }] }, 413, "PAYLOAD_TOO_LARGE");
      expect((await bad("POST", "/deployments/fraud/v2/models/scorer/infer", { inputs: [{ name: "z", datatype: "FP32", shape: [1, 2], data: [1, 2] }] }, 400, "INVALID_PARAMETER_VALUE")).error).toMatch(/'x'/);
      expect((await bad("POST", "/deployments/fraud/v2/models/scorer/infer", { inputs: [{ name: "x", datatype: "INT64", shape: [1, 2], data: [1, 2] }] }, 400, "INVALID_PARAMETER_VALUE")).error).toMatch(/x/);
      await bad("POST", "/deployments/fraud/v2/models/scorer/infer", { inputs: [{ name: "x", datatype: "FP32", shape: [1, 3], data: [1, 2, 3] }] }, 400, "INVALID_PARAMETER_VALUE");
      await bad("POST", "/deployments/fraud/v2/models/scorer/infer", { inputs: [{ name: "x", datatype: "FP32", shape: [1, 2], data: ["NaN", 1] }] }, 400, "INVALID_PARAMETER_VALUE");
      await bad("POST", "/deployments/fraud/invocations", { nonsense: 1 }, 400, "MALFORMED_REQUEST");
      // The id becomes a header and the log's key: printable, at most 128 characters.
      await bad("POST", "/deployments/fraud/v2/models/scorer/infer", { id: "a\r\nx-evil: 1", ...row(1, 1) }, 400, "MALFORMED_REQUEST");
      await bad("POST", "/deployments/fraud/v2/models/scorer/infer", { id: "x".repeat(129), ...row(1, 1) }, 400, "MALFORMED_REQUEST");
      // Still serving.
      expect((await infer("fraud", row(1, 1))).status).toBe(200);
    });

    it("splits traffic to a canary (sticky by header), pins versions, promotes, rolls back, and records who did what", async () => {
      const up = await call("PATCH", "/api/v1/deployments/fraud", { canary: { version: 2, percent: 50 }, stickyHeader: "X-User", message: "try v2" });
      expect(up.status).toBe(200);
      expect(up.body).toMatchObject({ revision: 2, spec: { canary: { version: "2", percent: 50 }, stickyHeader: "x-user" } });
      await ready("fraud");
      const arms = new Map<string, number>();
      for (let i = 0; i < 60; i++) {
        const r = await infer("fraud", row(1, 1));
        const arm = r.headers.get("x-cairn-arm")!;
        arms.set(arm, (arms.get(arm) ?? 0) + 1);
        expect(r.body.outputs[0].data).toEqual(arm === "canary" ? [2, 2] : [1, 1]);
      }
      expect(arms.get("canary")).toBeGreaterThan(10);
      expect(arms.get("primary")).toBeGreaterThan(10);
      // A user sticks to one arm; across users both arms are used.
      const seen = new Set<string>();
      for (const user of ["u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8"]) {
        const first = (await infer("fraud", row(1, 1), { "x-user": user })).headers.get("x-cairn-arm")!;
        for (let i = 0; i < 5; i++) expect((await infer("fraud", row(1, 1), { "x-user": user })).headers.get("x-cairn-arm")).toBe(first);
        seen.add(first);
      }
      expect(seen.size).toBe(2);
      expect((await call("POST", "/deployments/fraud/v2/models/scorer/versions/2/infer", row(1, 1))).body.outputs[0].data).toEqual([2, 2]);
      const stats = (await call("GET", "/api/v1/deployments/fraud/stats")).body;
      expect(stats.arms.map((a: any) => a.arm).sort()).toEqual(["canary", "primary"]);
      expect(stats.series.length).toBeGreaterThan(0);

      const promoted = await call("POST", "/api/v1/deployments/fraud/promote-canary", {});
      expect(promoted.body).toMatchObject({ revision: 3, spec: { primary: { version: "2" }, canary: null } });
      await ready("fraud");
      expect((await infer("fraud", row(1, 1))).body.outputs[0].data).toEqual([2, 2]);

      const back = await call("POST", "/api/v1/deployments/fraud/rollback", {});
      expect(back.body).toMatchObject({ revision: 4, spec: { primary: { version: "1" }, canary: { version: "2", percent: 50 } } });
      await ready("fraud");
      const to1 = await call("POST", "/api/v1/deployments/fraud/rollback", { toRevision: 1, message: "back to the start" });
      expect(to1.body).toMatchObject({ revision: 5, spec: { primary: { version: "1" }, canary: null, stickyHeader: null } });
      await ready("fraud");
      for (let i = 0; i < 10; i++) expect((await infer("fraud", row(1, 1))).headers.get("x-cairn-arm")).toBe("primary");

      const h = (await call("GET", "/api/v1/deployments/fraud/history")).body.history;
      expect(h.map((e: any) => [e.revision, e.action, e.actor])).toEqual([
        [5, "rollback", "anonymous"],
        [4, "rollback", "anonymous"],
        [3, "promote-canary", "anonymous"],
        [2, "update", "anonymous"],
        [1, "create", "anonymous"],
      ]);
      expect(h[0].message).toBe("back to the start");
      expect(h[2]).toMatchObject({ from: { versions: { primary: "1", canary: "2" } }, to: { versions: { primary: "2", canary: null } } });
      expect(h[3].message).toBe("try v2");
      const page = (await call("GET", "/api/v1/deployments/fraud/history?limit=2")).body;
      expect([page.history.map((e: any) => e.revision), page.next]).toEqual([[5, 4], 4]);
      expect((await call("GET", `/api/v1/deployments/fraud/history?limit=2&before=${page.next}`)).body.history.map((e: any) => e.revision)).toEqual([3, 2]);
      const noSuch = await call("POST", "/api/v1/deployments/fraud/rollback", { toRevision: 42 });
      expect([noSuch.status, noSuch.body.error_code]).toEqual([404, "RESOURCE_DOES_NOT_EXIST"]);
      // Deployments join the lineage graph: model version → deployment.
      const lineage = (await call("GET", `/api/v1/lineage?node=${encodeURIComponent("model:scorer/1")}&direction=downstream`)).body;
      expect(lineage.nodes).toEqual(expect.arrayContaining([expect.objectContaining({ id: "deployment:fraud", kind: "deployment" })]));
      expect(lineage.edges).toEqual(expect.arrayContaining([{ from: "model:scorer/1", to: "deployment:fraud", kind: "deployment", context: "primary" }]));
    });

    it("mirrors traffic to a shadow in the background: logged under the same request id, never returned, and a throwing or hanging shadow changes nothing", async () => {
      await call("PATCH", "/api/v1/deployments/fraud", { shadow: { version: 3 } });
      await ready("fraud");
      const r = await infer("fraud", { id: "shadowed-1", ...row(1, 1) });
      expect([r.headers.get("x-cairn-arm"), r.body.outputs[0].data]).toEqual(["primary", [1, 1]]);
      const both = await waitFor("shadow record", async () => (await call("GET", "/api/v1/models/scorer/inference-log?deployment=fraud&arm=shadow")).body.records, (rs: any[]) => rs.some((x) => x.requestId === "shadowed-1"));
      expect(both.find((x: any) => x.requestId === "shadowed-1")).toMatchObject({ arm: "shadow", version: "3", outputs: [{ data: [3, 3] }] });

      // A shadow that throws on every request.
      await call("PATCH", "/api/v1/deployments/fraud", { shadow: { version: 5 } });
      await ready("fraud");
      for (let i = 0; i < 20; i++) expect((await infer("fraud", row(1, 2))).body.outputs[0].data).toEqual([1, 2]);
      await waitFor("shadow errors", async () => (await call("GET", "/api/v1/deployments/fraud/stats")).body.arms.find((a: any) => a.arm === "shadow"), (a: any) => a?.version === "5" && a.errors >= 20);

      // A shadow that never answers: the primary keeps its pace; past 64 hung copies, copies are dropped and counted.
      await call("PATCH", "/api/v1/deployments/fraud", { shadow: { version: 6 } });
      await ready("fraud");
      const t0 = performance.now();
      const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => infer("fraud", row(i, 1))));
      expect(answers.every((a) => a.status === 200 && a.headers.get("x-cairn-arm") === "primary")).toBe(true);
      expect(performance.now() - t0).toBeLessThan(10_000);
      const st = (await call("GET", "/api/v1/deployments/fraud/stats")).body;
      expect(st.shadowDropped).toBeGreaterThanOrEqual(36);
      await call("PATCH", "/api/v1/deployments/fraud", { shadow: null });
      await ready("fraud");
    });

    it("leaves the previous version serving when a new one fails to load, and reports the error on the deployment", async () => {
      const up = await call("PATCH", "/api/v1/deployments/fraud", { primary: { version: 4 } });
      expect(up.status).toBe(200);
      const d = await waitFor("failed load", () => get("fraud"), (x: any) => x.state === "degraded");
      expect(d.arms[0]).toMatchObject({ arm: "primary", version: "4", state: "failed", servingVersion: "1" });
      expect(d.error).toMatch(/version 4: .*warm-up.*cannot score all-zero rows/);
      const r = await infer("fraud", row(1, 1));
      expect([r.status, r.body.model_version, r.body.outputs[0].data]).toEqual([200, "1", [1, 1]]);
      // Still ready: version 1 is loaded and serves (the failure shows in the state, not by pulling the replica).
      expect((await call("GET", "/deployments/fraud/v2/health/ready")).status).toBe(200);
      // A new deployment of only that version has nothing to serve: failed, and requests get 503.
      await call("POST", "/api/v1/deployments", { name: "broken", model: "scorer", primary: { version: 4 } });
      await waitFor("broken failed", () => get("broken"), (x: any) => x.state === "failed");
      const none = await infer("broken", row(1, 1));
      expect([none.status, none.body.code]).toEqual([503, "TEMPORARILY_UNAVAILABLE"]);
      const notReady = await call("GET", "/deployments/broken/v2/health/ready");
      expect([notReady.status, notReady.body.ready, notReady.body.state]).toEqual([503, false, "failed"]);
      expect((await call("DELETE", "/api/v1/deployments/broken")).status).toBe(200);
      await call("POST", "/api/v1/deployments/fraud/rollback", {});
      await ready("fraud");
    });

    it("swaps the primary's version under steady traffic without failing a request", async () => {
      let stop = false;
      const seen: [number, string][][] = [[], [], [], []];
      const loops = seen.map(async (out) => {
        while (!stop) {
          const r = await infer("fraud", row(1, 1));
          out.push([r.status, r.body.model_version]);
        }
      });
      await sleep(100);
      const before = (await get("fraud")).revision;
      await call("PATCH", "/api/v1/deployments/fraud", { primary: { version: 2 } });
      await waitFor("the swap under traffic", async () => seen.flat().filter(([, v]) => v === "2").length, (n) => n >= 20);
      stop = true;
      await Promise.all(loops);
      for (const out of seen) {
        expect(out.every(([status]) => status === 200)).toBe(true);
        // Each caller sees version 1, then version 2, never back.
        const versions = out.map(([, v]) => v);
        expect(versions.slice(versions.indexOf("2")).every((v) => v === "2")).toBe(true);
      }
      expect(seen.flat().some(([, v]) => v === "1")).toBe(true);
      await call("POST", "/api/v1/deployments/fraud/rollback", {});
      expect((await ready("fraud")).revision).toBe(before + 2);
    });

    it("follows an alias as it moves, as a canary first with autoRollout, and deletes without losing history", async () => {
      await sdk.models.setAlias("scorer", "champion", 1);
      await call("POST", "/api/v1/deployments", { name: "follow", model: "scorer", primary: { alias: "champion" } });
      expect((await ready("follow")).arms[0]).toMatchObject({ ref: { alias: "champion" }, version: "1" });
      await sdk.models.setAlias("scorer", "champion", 2);
      const moved = await waitFor("alias followed", () => get("follow"), (x: any) => x.arms[0]?.servingVersion === "2" && x.state === "ready");
      expect(moved.revision).toBe(2);
      expect((await infer("follow", row(1, 1))).body.outputs[0].data).toEqual([2, 2]);
      const h = (await call("GET", "/api/v1/deployments/follow/history")).body.history[0];
      expect(h).toMatchObject({ action: "alias-moved", actor: "cairn", from: { versions: { primary: "1" } }, to: { versions: { primary: "2" } } });
      expect(h.message).toMatch(/@champion moved 1 → 2/);
      // Rolling back is not undone by the alias, which has not moved since.
      await call("POST", "/api/v1/deployments/follow/rollback", {});
      await ready("follow");
      await sleep(600);
      expect((await get("follow")).arms[0]).toMatchObject({ version: "1", servingVersion: "1" });

      await call("PATCH", "/api/v1/deployments/follow", { autoRollout: { canaryPercent: 25 } });
      await sdk.models.setAlias("scorer", "champion", 3);
      const canaried = await waitFor("auto-rollout", () => get("follow"), (x: any) => x.spec.canary !== null && x.state === "ready");
      expect(canaried.spec.canary).toEqual({ alias: "champion", percent: 25 });
      expect(canaried.arms.map((a: any) => [a.arm, a.version, a.percent])).toEqual([["primary", "1", undefined], ["canary", "3", 25]]);
      expect((await call("GET", "/api/v1/deployments/follow/history")).body.history[0]).toMatchObject({ action: "auto-rollout" });
      const promoted = await call("POST", "/api/v1/deployments/follow/promote-canary", {});
      expect(promoted.body.spec).toMatchObject({ primary: { alias: "champion" }, canary: null });
      await ready("follow");
      expect((await infer("follow", row(1, 1))).body.outputs[0].data).toEqual([3, 3]);
      await sleep(600);
      expect((await get("follow")).revision).toBe(promoted.body.revision);

      // A canary following the primary's alias without auto-rollout goes when the alias moves; the primary takes the new version.
      await call("PATCH", "/api/v1/deployments/follow", { autoRollout: null, canary: { alias: "champion", percent: 10 } });
      await sdk.models.setAlias("scorer", "champion", 2);
      const both = await waitFor("both follow", () => get("follow"), (x: any) => x.arms[0]?.version === "2");
      expect([both.spec.canary, both.arms.map((a: any) => a.arm)]).toEqual([null, ["primary"]]);
      expect((await call("GET", "/api/v1/deployments")).status).toBe(200);

      expect((await call("DELETE", "/api/v1/deployments/follow")).status).toBe(200);
      expect((await infer("follow", row(1, 1))).status).toBe(404);
      expect((await call("GET", "/api/v1/deployments/follow")).status).toBe(404);
      expect((await call("GET", "/api/v1/deployments/follow/history")).body.history[0]).toMatchObject({ action: "delete" });
      // Created again under the same name: its history and rollbacks start at its own creation.
      const again = await call("POST", "/api/v1/deployments", { name: "follow", model: "scorer", primary: { version: 2 } });
      expect(again.body.revision).toBeGreaterThan(promoted.body.revision);
      expect((await call("GET", "/api/v1/deployments/follow/history")).body.history.map((e: any) => e.action)).toEqual(["create"]);
      const old = await call("POST", "/api/v1/deployments/follow/rollback", { toRevision: 1 });
      expect([old.status, old.body.error_code]).toEqual([404, "RESOURCE_DOES_NOT_EXIST"]);
      const none = await call("POST", "/api/v1/deployments/follow/rollback", {});
      expect([none.status, none.body.error_code]).toEqual([409, "INVALID_STATE"]);
      await call("DELETE", "/api/v1/deployments/follow");
      expect((await call("GET", "/api/v1/deployments")).body.deployments.map((x: any) => x.name)).toEqual(["fraud"]);
      expect((await call("GET", "/api/v1/deployments?model=other")).body.deployments).toEqual([]);
    });

    it("refuses JS-module versions unless an admin allowed them: their code would run inside the server", async () => {
      const plain = await testServer({ backendStoreUri: s.config.backendStoreUri, artifactsUri: s.config.artifactsUri, deploymentSyncMs: 200 });
      try {
        const r = await http(plain.url, "POST", "/api/v1/deployments", { name: "js-refused", model: "scorer", primary: { version: 1 } });
        expect([r.status, r.body.error_code]).toEqual([400, "INVALID_PARAMETER_VALUE"]);
        expect(r.body.message).toMatch(/CAIRN_DEPLOY_JS_MODELS/);
        // Deployments made where they were allowed fail to load here, with the reason, rather than run.
        const d = await waitFor("refused arm", async () => (await http(plain.url, "GET", "/api/v1/deployments/fraud")).body, (x: any) => x.state === "failed");
        expect(d.error).toMatch(/CAIRN_DEPLOY_JS_MODELS/);
      } finally {
        await plain.stop();
      }
    });

    it("serves every deployment from any server on the same database: a restart or a second replica picks them up, and changes reach it", async () => {
      const b = await testServer({ backendStoreUri: s.config.backendStoreUri, artifactsUri: s.config.artifactsUri, deploymentSyncMs: 200, deployJsModels: true });
      try {
        const onB = (method: string, url: string, body?: unknown) => http(b.url, method, url, body);
        const d = await waitFor("replica ready", async () => (await onB("GET", "/api/v1/deployments/fraud")).body, (x: any) => x.state === "ready");
        expect(d.revision).toBe((await get("fraud")).revision);
        const r = await onB("POST", "/deployments/fraud/v2/models/scorer/infer", row(2, 3));
        expect([r.status, r.body.outputs[0].data]).toEqual([200, [2, 3]]);
        // A change made on the first server reaches the replica at its next sync.
        const up = await call("PATCH", "/api/v1/deployments/fraud", { primary: { version: 3 } });
        await waitFor("replica follows", async () => (await onB("GET", "/api/v1/deployments/fraud")).body, (x: any) => x.revision === up.body.revision && x.state === "ready");
        expect((await onB("POST", "/deployments/fraud/v2/models/scorer/infer", row(1, 1))).body.outputs[0].data).toEqual([3, 3]);
        await call("POST", "/api/v1/deployments/fraud/rollback", {});
      } finally {
        await b.stop();
      }
    });

    it("with auth on: a deployment lives in its model's project; viewers predict, editors change, others see nothing", async () => {
      const a = await start({ auth: true, authFailureLimit: 0, deploymentSyncMs: 200, deployJsModels: true });
      try {
        const { admin, ac, tokenOf } = authAdmin(a);
        const adminSdk = new Cairn({ url: a.url, token: a.bootstrapToken!, handleExit: false });
        await adminSdk.models.create("risky", { tags: { "cairn.project": "risk" } });
        const run = await adminSdk.startRun({ experiment: "deploy-auth", tags: { "cairn.project": "risk" } });
        await adminSdk.models.register("risky", { runId: run.id, model: { jsModule: jsModel(path.join(tmp.dir, "auth-m1"), 1) }, signature: SIGNATURE as never });
        await run.end();
        for (const p of ["risk", "other"]) expect((await ac("POST", "/api/v1/projects", { name: p })).status).toBe(201);
        const viewer = await tokenOf("vera", { risk: "viewer" });
        const editor = await tokenOf("ed", { risk: "editor" });
        const outsider = await tokenOf("olga", { other: "editor" });

        expect((await ac("POST", "/api/v1/deployments", { name: "risk-dep", model: "risky", primary: { version: 1 } }, viewer)).status).toBe(403);
        expect((await ac("POST", "/api/v1/deployments", { name: "risk-dep", model: "risky", primary: { version: 1 } }, outsider)).status).toBe(404);
        const made = await ac("POST", "/api/v1/deployments", { name: "risk-dep", model: "risky", primary: { version: 1 } }, editor);
        expect([made.status, made.body.createdBy]).toEqual([201, "ed"]);
        await waitFor("ready", async () => (await ac("GET", "/api/v1/deployments/risk-dep")).body, (d: any) => d.state === "ready");
        const predict = (h: Headers) => http(a.url, "POST", "/deployments/risk-dep/v2/models/risky/infer", row(1, 1), h);
        expect((await predict(viewer)).status).toBe(200);
        expect((await predict({})).status).toBe(401);
        expect((await predict(outsider)).status).toBe(404);
        expect((await ac("PATCH", "/api/v1/deployments/risk-dep", { logSample: 0.5 }, viewer)).status).toBe(403);
        expect((await ac("PATCH", "/api/v1/deployments/risk-dep", { logSample: 0.5 }, editor)).status).toBe(200);
        expect((await ac("GET", "/api/v1/deployments", undefined, outsider)).body.deployments).toEqual([]);
        expect((await ac("GET", "/api/v1/deployments", undefined, viewer)).body.deployments.map((d: any) => d.name)).toEqual(["risk-dep"]);
        expect((await ac("GET", "/api/v1/deployments/risk-dep/history", undefined, outsider)).status).toBe(404);
        expect((await ac("POST", "/api/v1/deployments/risk-dep/rollback", {}, editor)).status).toBe(200);
        // /metrics spans every project: admins only.
        expect((await http(a.url, "GET", "/metrics", undefined, editor)).status).toBe(403);
        expect((await http(a.url, "GET", "/metrics", undefined, admin)).status).toBe(200);
        // Refused requests for made-up names mint no metric series.
        for (let i = 0; i < 3; i++) expect((await http(a.url, "POST", `/deployments/junk-${i}/v2/models/q/infer`, row(1, 1), {})).status).toBe(401);
        expect((await http(a.url, "GET", "/metrics", undefined, admin)).body).not.toMatch(/junk-/);
        // Changes are in the audit log with their actor.
        const audit = (await ac("GET", "/api/v1/audit?limit=50")).body;
        const entries = audit.records as any[];
        expect(entries.some((e) => e.actor === "ed" && /rollbackDeployment/.test(JSON.stringify(e)))).toBe(true);
      } finally {
        await a.stop();
        await a.drop?.();
      }
    });
  });
}

deploymentsApi("sqlite", (config = {}) => testServer(config));
await describePg("deployments API (postgres)", () => {
  deploymentsApi("postgres", async (config = {}) => {
    const schema = await freshPgSchema();
    return { ...(await testServer({ ...config, backendStoreUri: schema.url })), drop: schema.drop };
  });
});
