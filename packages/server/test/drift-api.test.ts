/**
 * Drift of a deployment's traffic over HTTP, on SQLite and on PostgreSQL: an earlier window of the
 * inference log as reference, and a dataset version's CSV (columns named to match a 2-D input);
 * the verdicts per column, "no data" for an empty window, and 4xx for what cannot be compared.
 */
import { createHash } from "node:crypto";
import { mulberry32 as rng } from "./seeded.js";
import fs from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cairn } from "@cairn/sdk";
import type { ServerConfig } from "../src/platform/config.js";
import { describePg, freshPgSchema } from "./pg.js";
import { http, tempDir, testServer } from "./helpers.js";

type Server = Awaited<ReturnType<typeof testServer>> & { drop?: () => Promise<void> };
type Start = (config?: Partial<ServerConfig>) => Promise<Server>;


const SIGNATURE = { inputs: [{ name: "x", dtype: "float32", shape: [-1, 3] }], outputs: [{ name: "score", dtype: "float32", shape: [-1, 1] }] };

function driftApi(backend: string, start: Start): void {
  describe(`drift API (${backend})`, () => {
    let s: Server;
    let tmp: { dir: string; cleanup(): void };
    let sdk: Cairn;
    let split = 0;
    const call = (method: string, url: string, body?: unknown) => http(s.url, method, url, body);
    /** 20 requests of 50 rows: x0 ~ U(shift, shift + 10) rounded to 0.01, x1 ~ U(0, 1), x2 ∈ {0, 1, 2}. */
    const traffic = async (shift: number, seed: number) => {
      const r = rng(seed);
      for (let i = 0; i < 20; i++) {
        const data = Array.from({ length: 50 }, () => [Math.round((shift + r() * 10) * 100) / 100, Math.round(r() * 1000) / 1000, Math.floor(r() * 3)]).flat();
        const res = await call("POST", "/deployments/scoring/v2/models/scorer/infer", { inputs: [{ name: "x", datatype: "FP32", shape: [50, 3], data }] });
        expect(res.status).toBe(200);
      }
    };

    beforeAll(async () => {
      tmp = tempDir("cairn-drift-");
      s = await start({ deploymentSyncMs: 200, deployJsModels: true });
      sdk = new Cairn({ url: s.url, handleExit: false });
      const dir = path.join(tmp.dir, "model");
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, "index.mjs"), `export function predict({ x }) {\n  const n = x.shape[0];\n  return { score: { datatype: "FP32", shape: [n, 1], data: Float32Array.from({ length: n }, (_, i) => x.data[i * 3] / 10) } };\n}\n`);
      const run = await sdk.startRun({ experiment: "drift" });
      await sdk.models.register("scorer", { runId: run.id, model: { jsModule: dir }, signature: SIGNATURE as never });
      await run.end();
      expect((await call("POST", "/api/v1/deployments", { name: "scoring", model: "scorer", primary: { version: 1 } })).status).toBe(201);
      for (let i = 0; i < 200 && (await call("GET", "/api/v1/deployments/scoring")).body.state !== "ready"; i++) await sleep(50);
      await traffic(0, 1);
      await sleep(5);
      split = Date.now();
      await sleep(5);
      await traffic(3, 2);
      // The log is written in the background: wait until all 2,000 rows' 40 records are in.
      for (let i = 0; i < 100; i++) {
        if ((await call("GET", "/api/v1/models/scorer/inference-log?deployment=scoring&limit=1000")).body.records.length >= 40) break;
        await sleep(100);
      }
    });
    afterAll(async () => {
      await s?.stop();
      await s?.drop?.();
      tmp?.cleanup();
    });

    it("compares the current window with an earlier one: the shifted input and the prediction drift, the others do not", async () => {
      const r = await call("POST", "/api/v1/deployments/scoring/drift", { reference: { window: { from: split - 3600_000, to: split } }, current: { from: split, to: Date.now() + 1 } });
      expect(r.status).toBe(200);
      const byName = Object.fromEntries(r.body.columns.map((c: any) => [c.column, c]));
      expect(Object.keys(byName)).toEqual(["x[0]", "x[1]", "x[2]", "output.score"]);
      // 1,000 reference rows: Evidently's small-sample tests (KS; chi-square for three values).
      expect(byName["x[0]"]).toMatchObject({ test: "ks", drifted: true, nRef: 1000, nCur: 1000 });
      expect(byName["x[1]"]).toMatchObject({ test: "ks", drifted: false });
      expect(byName["x[2]"]).toMatchObject({ test: "chisquare", drifted: false });
      expect(byName["output.score"]).toMatchObject({ test: "ks", drifted: true });
      expect(r.body.dataset).toMatchObject({ driftedColumns: 2, totalColumns: 4, share: 0.5, datasetDrift: true, noData: false });
      expect(r.body.reference).toMatchObject({ rows: 1000, truncated: false });
      // Per-column tests and thresholds.
      const own = await call("POST", "/api/v1/deployments/scoring/drift", { reference: { window: { from: split - 3600_000, to: split } }, current: { from: split, to: Date.now() + 1 }, columns: [{ name: "x[1]", test: "wasserstein" }, { name: "x[0]", threshold: 0 }] });
      expect(own.body.columns.map((c: any) => [c.column, c.test, c.drifted])).toEqual([["x[1]", "wasserstein", false], ["x[0]", "ks", false]]);
      expect(own.body.columns[1].pValue).toBeLessThan(1e-6);
    });

    it("compares with a dataset version's CSV when the input's columns are named", async () => {
      const r = rng(9);
      const csv = "age,score,tier\n" + Array.from({ length: 1500 }, () => `${Math.round(r() * 1000) / 100},${Math.round(r() * 1000) / 1000},${Math.floor(r() * 3)}`).join("\n") + "\n";
      const bytes = Buffer.from(csv);
      const sha256 = createHash("sha256").update(bytes).digest("hex");
      await sdk.datasets.create("traffic-ref");
      await sdk.datasets.uploadVersion("traffic-ref", { entries: [{ path: "ref.csv", size: bytes.length, sha256 } as never], readFile: () => Readable.from(bytes) } as never);
      const rep = await call("POST", "/api/v1/deployments/scoring/drift", { reference: { dataset: "traffic-ref@v1" }, current: { from: split, to: Date.now() + 1 }, columnNames: { x: ["age", "score", "tier"] } });
      expect(rep.status).toBe(200);
      expect(rep.body.columns.map((c: any) => [c.column, c.drifted])).toEqual([["age", true], ["score", false], ["tier", false]]);
      expect(rep.body.reference).toMatchObject({ rows: 1500, source: "traffic-ref@v1/ref.csv" });
      // Without names the dataset has no column 'x[0]': a clear 400.
      const missing = await call("POST", "/api/v1/deployments/scoring/drift", { reference: { dataset: "traffic-ref@v1" } });
      expect([missing.status, missing.body.error_code]).toEqual([400, "INVALID_PARAMETER_VALUE"]);
      expect(missing.body.message).toMatch(/no column 'x\[0\]'/);
    });

    it("reports an empty current window as no data, and refuses what cannot be compared", async () => {
      const empty = await call("POST", "/api/v1/deployments/scoring/drift", { reference: { window: { from: split - 3600_000, to: split } }, current: { from: 1, to: 2 } });
      expect([empty.status, empty.body.dataset.noData, empty.body.dataset.datasetDrift, empty.body.current.rows]).toEqual([200, true, false, 0]);
      expect(JSON.stringify(empty.body)).not.toMatch(/NaN|null/);
      const bad = async (body: unknown, status: number, code: string, url = "/api/v1/deployments/scoring/drift") => {
        const r = await call("POST", url, body);
        expect([r.status, r.body.error_code], JSON.stringify(r.body)).toEqual([status, code]);
      };
      await bad({ reference: { window: { from: 1, to: 2 } } }, 400, "INVALID_PARAMETER_VALUE");
      await bad({ reference: { window: { from: 5, to: 2 } } }, 400, "INVALID_PARAMETER_VALUE");
      await bad({ reference: { dataset: "nope@v1" } }, 404, "RESOURCE_DOES_NOT_EXIST");
      await bad({ reference: { dataset: "no-version-given" } }, 400, "INVALID_PARAMETER_VALUE");
      await bad({ reference: { window: { from: split - 3600_000, to: split } }, current: { from: split, to: Date.now() + 1 }, columns: [{ name: "nope" }] }, 400, "INVALID_PARAMETER_VALUE");
      await bad({ reference: { window: { from: split - 3600_000, to: split } }, current: { from: split, to: Date.now() + 1 }, columns: [{ name: "x[2]", test: "bogus" }] }, 400, "INVALID_PARAMETER_VALUE");
      await bad({ reference: { window: { from: 0, to: 1 } } }, 404, "RESOURCE_DOES_NOT_EXIST", "/api/v1/deployments/nope/drift");
    });
  });
}

driftApi("sqlite", (config = {}) => testServer(config));
await describePg("drift API (postgres)", () => {
  driftApi("postgres", async (config = {}) => {
    const schema = await freshPgSchema();
    return { ...(await testServer({ ...config, backendStoreUri: schema.url })), drop: schema.drop };
  });
});
