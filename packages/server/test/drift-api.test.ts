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
import os from "node:os";
import { DuckDBInstance } from "@duckdb/node-api";
import { authAdmin, http, tempDir, testServer } from "./helpers.js";

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
      s = await start({ deploymentSyncMs: 200, deployJsModels: true, driftUploadLimit: 1 << 20 });
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
      const profiles = path.join(s.dataDir, "drift-profiles");
      const profileFiles = () => (fs.existsSync(profiles) ? fs.readdirSync(profiles) : []);
      const before = profileFiles();
      const request = { reference: { dataset: "traffic-ref@v1" }, current: { from: split, to: Date.now() + 1 }, columnNames: { x: ["age", "score", "tier"] } };
      const rep = await call("POST", "/api/v1/deployments/scoring/drift", request);
      expect(rep.status).toBe(200);
      expect(rep.body.columns.map((c: any) => [c.column, c.drifted])).toEqual([["age", true], ["score", false], ["tier", false]]);
      expect(rep.body.reference).toMatchObject({ rows: 1500, source: "traffic-ref@v1/ref.csv" });
      // The first use stored the version's profile (one Parquet file, no temporary left); the second reads it, unchanged, with the same answer.
      const added = profileFiles().filter((f) => !before.includes(f));
      expect(added).toHaveLength(1);
      expect(added[0]).toMatch(/^[0-9a-f]{64}\.parquet$/);
      const profile = path.join(profiles, added[0]!);
      const stat = fs.statSync(profile);
      const again = await call("POST", "/api/v1/deployments/scoring/drift", request);
      expect(again.status).toBe(200);
      expect(again.body).toEqual(rep.body);
      expect(profileFiles().filter((f) => !before.includes(f))).toEqual(added);
      expect([fs.statSync(profile).mtimeMs, fs.statSync(profile).ino]).toEqual([stat.mtimeMs, stat.ino]);
      // A profile that cannot be read is rebuilt, with the same answer.
      fs.writeFileSync(profile, "corrupt");
      const rebuilt = await call("POST", "/api/v1/deployments/scoring/drift", request);
      expect(rebuilt.body).toEqual(rep.body);
      expect(fs.readFileSync(profile).subarray(0, 4).toString()).toBe("PAR1");
      // Without names the dataset has no column 'x[0]': a clear 400.
      const missing = await call("POST", "/api/v1/deployments/scoring/drift", { reference: { dataset: "traffic-ref@v1" } });
      expect([missing.status, missing.body.error_code]).toEqual([400, "INVALID_PARAMETER_VALUE"]);
      expect(missing.body.message).toMatch(/no column 'x\[0\]'/);
    });

    /** CSV of `n` rows: age ~ U(shift, shift + 10) to 0.01, score ~ U(0, 1) to 0.001, tier ∈ {a, b, c}. */
    const csvOf = (n: number, shift: number, seed: number, header = "age,score,tier") => {
      const r = rng(seed);
      return `${header}\n` + Array.from({ length: n }, () => `${Math.round((shift + r() * 10) * 100) / 100},${Math.round(r() * 1000) / 1000},${"abc"[Math.floor(r() * 3)]}`).join("\n") + "\n";
    };
    /** POST /api/v1/drift with a raw body. */
    const upload = async (query: string, ...parts: (string | Buffer)[]) => {
      const res = await fetch(`${s.url}/api/v1/drift?${query}`, { method: "POST", headers: { "content-type": "application/octet-stream" }, body: Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p) : p))) });
      return { status: res.status, body: (await res.json()) as any };
    };
    const driftDirs = () => new Set(fs.readdirSync(os.tmpdir()).filter((d) => d.startsWith("cairn-drift-")));

    it("compares an uploaded file with a second uploaded file (CSV), no deployment needed, and removes its temporary files", async () => {
      const before = driftDirs();
      const ref = csvOf(1500, 0, 31);
      const cur = csvOf(1200, 3, 32);
      const r = await upload(`referenceBytes=${Buffer.byteLength(ref)}&referenceName=ref.csv&currentName=cur.csv`, ref, cur);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body.columns.map((c: any) => [c.column, c.kind, c.test, c.drifted])).toEqual([["age", "numeric", "wasserstein", true], ["score", "numeric", "wasserstein", false], ["tier", "categorical", "jensenshannon", false]]);
      expect(r.body.reference).toEqual({ rows: 1500, truncated: false, source: "ref.csv" });
      expect(r.body.current).toEqual({ rows: 1200, truncated: false, source: "cur.csv" });
      expect(r.body.dataset).toMatchObject({ driftedColumns: 1, totalColumns: 3, datasetDrift: false, noData: false });
      // Chosen columns, one test for all.
      const ks = await upload(`referenceBytes=${Buffer.byteLength(ref)}&columns=score,age&test=ks`, ref, cur);
      expect(ks.body.columns.map((c: any) => [c.column, c.test, c.drifted])).toEqual([["score", "ks", false], ["age", "ks", true]]);
      expect([...driftDirs()].filter((d) => !before.has(d))).toEqual([]);
    });

    it("compares an uploaded Parquet file with a dataset version, and the SDK streams local files", async () => {
      const bytes = Buffer.from(csvOf(1500, 0, 33));
      const sha256 = createHash("sha256").update(bytes).digest("hex");
      await sdk.datasets.create("file-ref");
      await sdk.datasets.uploadVersion("file-ref", { entries: [{ path: "ref.csv", size: bytes.length, sha256 } as never], readFile: () => Readable.from(bytes) } as never);
      const csv = path.join(tmp.dir, "cur.csv");
      fs.writeFileSync(csv, csvOf(800, 3, 34));
      const parquet = path.join(tmp.dir, "cur.parquet");
      const db = await DuckDBInstance.create(":memory:");
      const conn = await db.connect();
      await conn.run(`COPY (SELECT * FROM read_csv('${csv}')) TO '${parquet}' (FORMAT parquet)`);
      conn.closeSync();
      const profiles = path.join(s.dataDir, "drift-profiles");
      const before = fs.existsSync(profiles) ? fs.readdirSync(profiles).length : 0;
      const r = await upload("reference=data:file-ref@v1&currentName=cur.parquet", fs.readFileSync(parquet));
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body.columns.map((c: any) => [c.column, c.drifted])).toEqual([["age", true], ["score", false], ["tier", false]]);
      expect(r.body.reference).toMatchObject({ rows: 1500, source: "file-ref@v1/ref.csv" });
      expect(r.body.current).toMatchObject({ rows: 800, source: "cur.parquet" });
      // The dataset reference was profiled once; the same request again reads the profile, with the same answer.
      expect(fs.readdirSync(profiles).length).toBe(before + 1);
      expect(await upload("reference=data:file-ref@v1&currentName=cur.parquet", fs.readFileSync(parquet))).toEqual(r);
      expect(fs.readdirSync(profiles).length).toBe(before + 1);
      // The SDK: a dataset reference or a file, the current file from disk; the same answer.
      const viaSdk = await sdk.monitoring.driftFiles({ reference: { dataset: "file-ref@v1" }, current: parquet });
      expect(viaSdk.columns).toEqual(r.body.columns);
      const fileRef = path.join(tmp.dir, "ref.csv");
      fs.writeFileSync(fileRef, bytes);
      const both = await sdk.monitoring.driftFiles({ reference: { file: fileRef }, current: csv, columns: ["age"] });
      expect([both.columns.map((c) => [c.column, c.drifted]), both.reference.source, both.current.source]).toEqual([[["age", true]], "ref.csv", "cur.csv"]);
    });

    it("reports an empty current file as no data, and answers 4xx with a code for files that cannot be compared", async () => {
      const ref = csvOf(200, 0, 35);
      const q = `referenceBytes=${Buffer.byteLength(ref)}`;
      // No bytes, or a header without rows: no data, never a NaN.
      for (const cur of ["", "age,score,tier\n"]) {
        const r = await upload(q, ref, cur);
        expect([r.status, r.body.dataset?.noData, r.body.dataset?.datasetDrift, r.body.current?.rows], JSON.stringify(r.body)).toEqual([200, true, false, 0]);
        expect(JSON.stringify(r.body)).not.toMatch(/NaN|null/);
      }
      const bad = async (query: string, parts: (string | Buffer)[], status: number, code: string, message?: RegExp) => {
        const r = await upload(query, ...parts);
        expect([query, r.status, r.body.error_code], JSON.stringify(r.body)).toEqual([query, status, code]);
        if (message) expect(r.body.message).toMatch(message);
      };
      const cur = csvOf(100, 0, 36);
      // The reference lacks a column of the current file.
      await bad(q, [ref, csvOf(100, 0, 36, "age,score,income")], 400, "INVALID_PARAMETER_VALUE", /reference.*no column 'income'/);
      await bad(`${q}&columns=nope`, [ref, cur], 400, "INVALID_PARAMETER_VALUE", /current file.*no column 'nope'/);
      // Unreadable files: broken Parquet, rows of the wrong width, a text column against numbers.
      await bad(q, [ref, Buffer.from("PAR1 this is not parquet")], 400, "INVALID_PARAMETER_VALUE");
      await bad(q, [ref, "age,score,tier\n1,2,a,4,5\n"], 400, "INVALID_PARAMETER_VALUE");
      await bad(q, [ref, "age,score,tier\nold,0.5,a\n"], 400, "INVALID_PARAMETER_VALUE", /'age' is VARCHAR/);
      // An empty reference; a body shorter than referenceBytes; neither or both references.
      await bad("referenceBytes=1", ["\n", cur], 400, "INVALID_PARAMETER_VALUE");
      await bad(`referenceBytes=${Buffer.byteLength(ref) + 10_000}`, [ref], 400, "INVALID_PARAMETER_VALUE", /fewer than referenceBytes/);
      await bad("", [cur], 400, "INVALID_PARAMETER_VALUE", /Give the reference/);
      await bad(`${q}&reference=file-ref@v1`, [ref, cur], 400, "INVALID_PARAMETER_VALUE");
      await bad("reference=nope@v1", [cur], 404, "RESOURCE_DOES_NOT_EXIST");
      await bad("reference=no-version", [cur], 400, "INVALID_PARAMETER_VALUE");
      await bad(`${q}&test=bogus`, [ref, cur], 400, "INVALID_PARAMETER_VALUE");
      // Over the server's upload limit (1 MiB here): by its declared length, before anything is read …
      const before = driftDirs();
      await bad(q, [ref, Buffer.alloc(1.5 * (1 << 20), 0x31)], 413, "PAYLOAD_TOO_LARGE", /^The upload \(\d+ bytes\) is larger/);
      // … and, sent chunked (no length declared), while it streams; no temporary files are left either way.
      const chunks = [Buffer.from(ref), ...Array.from({ length: 24 }, () => Buffer.alloc(64 * 1024, 0x31))];
      const streamed = await fetch(`${s.url}/api/v1/drift?${q}`, {
        method: "POST",
        headers: { "content-type": "application/octet-stream" },
        body: new ReadableStream({ pull: (c) => (chunks.length ? c.enqueue(chunks.shift()!) : c.close()) }),
        duplex: "half",
      } as RequestInit);
      expect([streamed.status, ((await streamed.json()) as { error_code: string }).error_code]).toEqual([413, "PAYLOAD_TOO_LARGE"]);
      expect([...driftDirs()].filter((d) => !before.has(d))).toEqual([]);
    });

    it("with auth on: a file's drift needs read somewhere, and read on the dataset it names as reference", async () => {
      const a = await start({ auth: true, authFailureLimit: 0 });
      try {
        const { ac, tokenOf } = authAdmin(a);
        for (const p of ["pa", "pb"]) expect((await ac("POST", "/api/v1/projects", { name: p })).status).toBe(201);
        const adminSdk = new Cairn({ url: a.url, token: a.bootstrapToken!, handleExit: false });
        const bytes = Buffer.from(csvOf(300, 0, 37));
        for (const [name, project] of [["open-ref", "pa"], ["secret-ref", "pb"]] as const) {
          await adminSdk.datasets.create(name, { tags: { "cairn.project": project } });
          await adminSdk.datasets.uploadVersion(name, { entries: [{ path: "ref.csv", size: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex") } as never], readFile: () => Readable.from(bytes) } as never);
        }
        const viewer = await tokenOf("vic", { pa: "viewer" });
        const post = async (query: string, headers: Record<string, string>) => {
          const res = await fetch(`${a.url}/api/v1/drift?${query}`, { method: "POST", headers: { ...headers, "content-type": "text/csv" }, body: csvOf(100, 0, 38) });
          return [res.status, ((await res.json()) as any).error_code];
        };
        expect(await post("reference=open-ref@v1", {})).toEqual([401, "UNAUTHENTICATED"]);
        expect(await post("reference=open-ref@v1", viewer)).toEqual([200, undefined]);
        // Another project's dataset looks missing, as a dataset that does not exist.
        expect(await post("reference=data:secret-ref@v1", viewer)).toEqual([404, "RESOURCE_DOES_NOT_EXIST"]);
      } finally {
        await a.stop();
        await a.drop?.();
      }
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
