/**
 * `cairn serve models:/scorer@champion` as its own process against a real Cairn server: an ONNX
 * logistic-regression model (built as examples/credit-risk builds it) registered with its
 * signature, served over the Open Inference Protocol v2 and MLflow's /invocations; bad inputs get
 * 4xx with a code naming the input; moving the alias rolls the server forward with no failed request.
 */
import fs from "node:fs";
import { logisticOnnxFile } from "./models.js";
import os from "node:os";
import path from "node:path";
import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cairn } from "@cairn/sdk";
import { onnxSignature } from "../examples/credit-risk/src/onnx-export.js";
import { startServer } from "../packages/server/src/server.js";
import { CLI, ROOT, runCliExpect } from "./processes.js";

const D = 3;
let server: { url: string; close(): Promise<void> };
let tmp: string;
let sdk: Cairn;
let serve: ChildProcess | undefined;
let serveUrl = "";
let serveLog = "";

const onnxFile = (weights: number[], bias: number, name: string) => logisticOnnxFile(tmp, weights, bias, name);

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const p = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(p));
    });
  });
}

async function post(url: string, body: unknown, headers: Record<string, string> = { "content-type": "application/json" }) {
  const res = await fetch(url, { method: "POST", headers, body: typeof body === "string" ? body : JSON.stringify(body) });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-serve-e2e-"));
  server = await startServer({ port: 0, dataDir: path.join(tmp, "data"), logLevel: "silent" });
  sdk = new Cairn({ url: server.url, handleExit: false });
  const run = await sdk.startRun({ experiment: "serving" });
  await sdk.models.register("scorer", { runId: run.id, model: { onnx: onnxFile([1, -2, 0.5], 0.1, "v1.onnx") }, signature: onnxSignature(D) });
  await run.end();
  await sdk.models.setAlias("scorer", "champion", 1);

  const port = await freePort();
  serveUrl = `http://127.0.0.1:${port}`;
  serve = spawn(process.execPath, ["--conditions=@cairn/source", "--import", "tsx", CLI, "--url", server.url, "serve", "models:/scorer@champion", "--port", String(port), "--poll-seconds", "1", "--cache-dir", path.join(tmp, "cache")], { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] });
  serve.stderr!.on("data", (d: Buffer) => (serveLog += d.toString()));
  for (let i = 0; i < 300; i++) {
    if (serve.exitCode !== null) throw new Error(`cairn serve exited: ${serveLog}`);
    try {
      if ((await fetch(`${serveUrl}/v2/health/ready`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`cairn serve did not become ready: ${serveLog}`);
});

afterAll(async () => {
  serve?.kill("SIGKILL");
  await server?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe("cairn serve (e2e)", () => {
  it("answers the Open Inference Protocol: health, server and model metadata, readiness, infer", async () => {
    expect((await fetch(`${serveUrl}/v2/health/live`)).status).toBe(200);
    expect(await (await fetch(`${serveUrl}/v2`)).json()).toMatchObject({ name: "cairn", extensions: [] });
    const meta = (await (await fetch(`${serveUrl}/v2/models/scorer`)).json()) as Record<string, unknown>;
    expect(meta).toMatchObject({ name: "scorer", versions: ["1"], platform: "onnxruntime", inputs: [{ name: "features", datatype: "FP32", shape: [-1, D] }] });
    expect((await fetch(`${serveUrl}/v2/models/scorer/versions/1/ready`)).status).toBe(200);

    const rows = [
      [1, 0, 0],
      [0, 1, 2],
    ];
    const res = await post(`${serveUrl}/v2/models/scorer/infer`, { id: "req-1", inputs: [{ name: "features", datatype: "FP32", shape: [2, D], data: rows }] });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-request-id")).toBe("req-1");
    expect(res.body).toMatchObject({ model_name: "scorer", model_version: "1", id: "req-1" });
    const outputs = res.body.outputs as { name: string; datatype: string; shape: number[]; data: number[] }[];
    const prob = outputs.find((o) => o.name === "probability")!;
    expect(prob.shape).toEqual([2, 1]);
    const expected = rows.map((r) => sigmoid(r[0]! * 1 + r[1]! * -2 + r[2]! * 0.5 + 0.1));
    prob.data.forEach((p, i) => expect(p).toBeCloseTo(expected[i]!, 5));
    expect(outputs.find((o) => o.name === "label")).toMatchObject({ datatype: "INT64", data: expected.map((p) => (p >= 0.5 ? 1 : 0)) });
    // The same rows flat, and through MLflow's scoring formats.
    const flat = await post(`${serveUrl}/v2/models/scorer/infer`, { inputs: [{ name: "features", datatype: "FP32", shape: [2, D], data: rows.flat() }] });
    expect((flat.body.outputs as { data: number[] }[])[0]!.data).toEqual(prob.data);
    const split = await post(`${serveUrl}/invocations`, { dataframe_split: { columns: ["f0", "f1", "f2"], data: rows } });
    expect(split.status).toBe(200);
    expect(split.headers.get("x-request-id")).toBeTruthy();
    // Several outputs: one object per row, a [1]-shaped value as a scalar (as MLflow answers).
    const preds = split.body.predictions as { probability: number; label: number }[];
    expect(preds).toHaveLength(2);
    expect(preds[0]!.probability).toBeCloseTo(expected[0]!, 5);
    expect(preds.map((p) => p.label)).toEqual(expected.map((p) => (p >= 0.5 ? 1 : 0)));
    const inst = await post(`${serveUrl}/invocations`, { instances: rows });
    expect(inst.body.predictions).toEqual(split.body.predictions);
  });

  it("refuses bad input with a 4xx and a code naming the input", async () => {
    const infer = (body: unknown, headers?: Record<string, string>) => post(`${serveUrl}/v2/models/scorer/infer`, body, headers);
    const cases: [unknown, number, string, RegExp][] = [
      [{ inputs: [] }, 400, "INVALID_PARAMETER_VALUE", /features/],
      [{ inputs: [{ name: "features", datatype: "FP64", shape: [1, D], data: [1, 2, 3] }] }, 400, "INVALID_PARAMETER_VALUE", /features/],
      [{ inputs: [{ name: "features", datatype: "FP32", shape: [1, 2], data: [1, 2] }] }, 400, "INVALID_PARAMETER_VALUE", /features/],
      [{ inputs: [{ name: "features", datatype: "FP32", shape: [1, D], data: [1, 2] }] }, 400, "INVALID_PARAMETER_VALUE", /features/],
      [{ inputs: [{ name: "features", datatype: "FP32", shape: [1, D], data: [1, "NaN", 3] }] }, 400, "INVALID_PARAMETER_VALUE", /features/],
      [{ inputs: [{ name: "nope", datatype: "FP32", shape: [1, D], data: [1, 2, 3] }] }, 400, "INVALID_PARAMETER_VALUE", /nope/],
    ];
    for (const [body, status, code, message] of cases) {
      const r = await infer(body);
      expect([JSON.stringify(body), r.status, r.body.code]).toEqual([JSON.stringify(body), status, code]);
      expect(r.body.error).toMatch(message);
    }
    expect((await infer("{not json")).status).toBe(400);
    expect((await infer("x", { "content-type": "text/plain" })).status).toBe(415);
    const unknown = await post(`${serveUrl}/v2/models/other/infer`, { inputs: [] });
    expect([unknown.status, unknown.body.code]).toEqual([404, "RESOURCE_DOES_NOT_EXIST"]);
    expect((await fetch(`${serveUrl}/v2/models/scorer/versions/7/ready`)).status).toBe(404);
    expect((await post(`${serveUrl}/invocations`, { dataframe_split: { columns: ["f0"], data: [[1]] } })).status).toBe(400);
  });

  it("logs every prediction with its request id, queryable from the server", async () => {
    const res = await post(`${serveUrl}/v2/models/scorer/infer`, { id: "logged-1", inputs: [{ name: "features", datatype: "FP32", shape: [1, D], data: [0.5, 0.25, 1] }] });
    expect(res.status).toBe(200);
    let found: { requestId: string; inputs: unknown; outputs: unknown; version: string; deployment: string; arm: string }[] = [];
    for (let i = 0; i < 50 && found.length === 0; i++) {
      found = (await sdk.client.api.queryInferenceLog({ params: { name: "scorer" }, query: { limit: 10_000 } })).records.filter((r) => r.requestId === "logged-1");
      if (found.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    expect(found, serveLog).toHaveLength(1);
    expect(found[0]).toMatchObject({ version: "1", deployment: "serve:scorer", arm: "primary", inputs: [{ name: "features", datatype: "FP32", shape: [1, D], data: [0.5, 0.25, 1] }] });
    expect((found[0]!.outputs as { name: string }[]).map((o) => o.name).sort()).toEqual(["label", "probability"]);
    // MLflow scoring requests are logged too, under the id the server returned.
    const scored = await post(`${serveUrl}/invocations`, { instances: [[1, 1, 1]] });
    const id = scored.headers.get("x-request-id")!;
    let again: unknown[] = [];
    for (let i = 0; i < 50 && again.length === 0; i++) {
      again = (await sdk.client.api.queryInferenceLog({ params: { name: "scorer" }, query: { limit: 10_000 } })).records.filter((r) => r.requestId === id);
      if (again.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    expect(again).toHaveLength(1);
    const cli = await runCliExpect(server.url, ["--json", "inference-log", "scorer", "--since", "1h", "--limit", "10000"], 0);
    expect((JSON.parse(cli.stdout) as { records: { requestId: string }[] }).records.some((r) => r.requestId === "logged-1")).toBe(true);
  });

  it("exposes Prometheus metrics: requests by endpoint and status, latency, batching, readiness", async () => {
    const res = await fetch(`${serveUrl}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain");
    const text = await res.text();
    const count = (endpoint: string, code: string) => Number(new RegExp(`cairn_serve_requests_total\\{endpoint="${endpoint}",model="scorer",version="1",code="${code}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
    // The earlier tests: 2 successful infers and 2 /invocations, and the refused requests.
    expect(count("infer", "200")).toBeGreaterThanOrEqual(2);
    expect(count("invocations", "200")).toBeGreaterThanOrEqual(2);
    expect(count("infer", "400")).toBeGreaterThanOrEqual(6);
    expect(text).toMatch(/cairn_serve_request_duration_seconds_bucket\{le="0\.005",endpoint="infer",model="scorer",version="1"\} \d+/);
    expect(text).toMatch(/cairn_serve_batches\{model="scorer",version="1"\} \d+/);
    expect(text).toContain('cairn_serve_model_ready{model="scorer",version="1"} 1');
    expect(Number(/cairn_serve_log_records (\d+)/.exec(text)?.[1])).toBeGreaterThanOrEqual(2);
    expect(text).toContain("cairn_serve_log_shed 0");
  });

  it("rolls forward when the alias moves, without failing a request", async () => {
    const run = await sdk.startRun({ experiment: "serving" });
    await sdk.models.register("scorer", { runId: run.id, model: { onnx: onnxFile([-1, 2, -0.5], -0.1, "v2.onnx") }, signature: onnxSignature(D) });
    await run.end();
    let stop = false;
    const failures: number[] = [];
    const versions = new Set<string>();
    const load = (async () => {
      while (!stop) {
        const r = await post(`${serveUrl}/v2/models/scorer/infer`, { inputs: [{ name: "features", datatype: "FP32", shape: [1, D], data: [1, 0, 0] }] });
        if (r.status !== 200) failures.push(r.status);
        else versions.add(String(r.body.model_version));
      }
    })();
    await sdk.models.setAlias("scorer", "champion", 2);
    const until = Date.now() + 15_000;
    while (!versions.has("2") && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    stop = true;
    await load;
    expect(failures).toEqual([]);
    expect(versions).toEqual(new Set(["1", "2"]));
    expect(serveLog).toContain("now serving version 2");
    const meta = (await (await fetch(`${serveUrl}/v2/models/scorer`)).json()) as { versions: string[] };
    expect(meta.versions).toEqual(["2"]);
  });
});
