import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { http, testServer } from "./helpers.js";

/** Sends a raw HTTP/1.1 request (for request targets and headers fetch will not produce). */
async function raw(url: string, requestLine: string, headers: Record<string, string> = {}, body = ""): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(port), hostname, () => {
      const h = { host: `${hostname}:${port}`, connection: "close", "content-length": String(Buffer.byteLength(body)), ...headers };
      sock.write(`${requestLine}\r\n${Object.entries(h).map(([k, v]) => `${k}: ${v}`).join("\r\n")}\r\n\r\n${body}`);
    });
    let data = "";
    sock.on("data", (d) => (data += d));
    sock.on("error", reject);
    sock.on("end", () => resolve({ status: Number(data.split(" ")[1]), body: data.slice(data.indexOf("\r\n\r\n") + 4) }));
  });
}

describe("hardening", () => {
  let s: Awaited<ReturnType<typeof testServer>>;
  let auth: Awaited<ReturnType<typeof testServer>>;
  beforeAll(async () => {
    s = await testServer();
    auth = await testServer({ authTokens: ["t0ken"] });
  });
  afterAll(async () => {
    await s.stop();
    await auth.stop();
  });

  it("requires the token however the API path is spelled", async () => {
    for (const path of ["/%61pi/2.0/mlflow/experiments/search", "/ap%69/v1/experiments/0", "/%61jax-api/2.0/mlflow/experiments/get?experiment_id=0", "/api/v1/experiments/0/"]) {
      const r = await raw(auth.url, `GET ${path} HTTP/1.1`);
      expect({ path, status: r.status }).toEqual({ path, status: 401 });
    }
    const absolute = await raw(auth.url, `GET ${auth.url}/api/2.0/mlflow/experiments/search HTTP/1.1`);
    expect(absolute.status).toBe(401);
    const withToken = await raw(auth.url, "GET /%61pi/v1/experiments/0 HTTP/1.1", { authorization: "Bearer t0ken" });
    expect(withToken.status).toBe(200);
  });

  it("refuses requests for a foreign host name on a loopback server (DNS rebinding)", async () => {
    const r = await raw(s.url, "GET /api/v1/experiments/0 HTTP/1.1", { host: "evil.example:5005" });
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body).error_code).toBe("PERMISSION_DENIED");
    expect((await raw(s.url, "GET /health HTTP/1.1", { host: "localhost:5005" })).status).toBe(200);
    const proxied = await testServer({ allowedHosts: ["cairn.internal"] });
    try {
      expect((await raw(proxied.url, "GET /api/v1/experiments/0 HTTP/1.1", { host: "cairn.internal" })).status).toBe(200);
      expect((await raw(proxied.url, "GET /api/v1/experiments/0 HTTP/1.1", { host: "evil.example" })).status).toBe(403);
    } finally {
      await proxied.stop();
    }
  });

  it("does not treat text/plain or form bodies as JSON", async () => {
    const form = await http(s.url, "POST", "/api/2.0/mlflow/experiments/create", '{"name":"csrf"}', { "content-type": "text/plain" });
    expect(form.status).toBe(415);
    const urlenc = await http(s.url, "POST", "/api/2.0/mlflow/runs/create", '{"experiment_id":"0"}', { "content-type": "application/x-www-form-urlencoded" });
    expect(urlenc).toMatchObject({ status: 415, body: { error_code: "UNSUPPORTED_MEDIA_TYPE" } });
    const native = await http(s.url, "POST", "/api/v1/experiments", '{"name":"csrf"}', { "content-type": "text/plain" });
    expect(native.status).toBe(400);
    expect((await http(s.url, "GET", "/api/2.0/mlflow/experiments/get-by-name?experiment_name=csrf")).status).toBe(404);
  });

  it("rejects NUL characters with a 400", async () => {
    const body = await http(s.url, "POST", "/api/2.0/mlflow/experiments/create", { name: "a\u0000b" });
    expect(body).toMatchObject({ status: 400, body: { error_code: "INVALID_PARAMETER_VALUE" } });
    const query = await http(s.url, "GET", "/api/2.0/mlflow/runs/get?run_id=a%00b");
    expect(query).toMatchObject({ status: 400, body: { error_code: "INVALID_PARAMETER_VALUE" } });
  });

  it("answers malformed URLs and over-long path parameters with a coded 4xx", async () => {
    const bad = await raw(s.url, "GET /api/2.0/mlflow-artifacts/artifacts/1/a%zzb HTTP/1.1");
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).error_code).toBe("BAD_REQUEST");
    const long = await raw(s.url, `GET /api/v1/runs/${"x".repeat(5000)} HTTP/1.1`);
    expect(long.status).toBe(400);
    expect(JSON.parse(long.body).error_code).toBeDefined();
  });

  it("accepts an artifact upload with no body and no content type", async () => {
    const run = await http(s.url, "POST", "/api/v1/runs", { experimentId: "0" });
    const id = run.body.run.info.runId;
    const r = await raw(s.url, `PUT /api/v1/runs/${id}/artifacts/empty.txt HTTP/1.1`);
    expect(r.status).toBe(201);
    const m = await raw(s.url, `PUT /api/2.0/mlflow-artifacts/artifacts/0/${id}/artifacts/empty2.py HTTP/1.1`);
    expect(m.status).toBe(200);
    const list = await http(s.url, "GET", `/api/v1/runs/${id}/artifacts`);
    expect(list.body.files).toEqual([
      { path: "empty.txt", isDir: false, fileSize: 0 },
      { path: "empty2.py", isDir: false, fileSize: 0 },
    ]);
  });

  it("rejects searches that would need too many joins, and fractional times", async () => {
    const filter = Array.from({ length: 70 }, (_, i) => `metrics.m${i} > 0`).join(" and ");
    const many = await http(s.url, "POST", "/api/2.0/mlflow/runs/search", { experiment_ids: ["0"], filter });
    expect(many).toMatchObject({ status: 400, body: { error_code: "INVALID_PARAMETER_VALUE" } });
    const frac = await http(s.url, "POST", "/api/2.0/mlflow/runs/search", { experiment_ids: ["0"], filter: "attributes.start_time > 1.5" });
    expect(frac).toMatchObject({ status: 400, body: { error_code: "INVALID_PARAMETER_VALUE" } });
  });

  it("keeps the first and last step in get-history-bulk-interval, as MLflow does", async () => {
    const run = await http(s.url, "POST", "/api/v1/runs", { experimentId: "0" });
    const id = run.body.run.info.runId;
    await http(s.url, "POST", `/api/v1/runs/${id}/log`, { metrics: Array.from({ length: 6 }, (_, i) => ({ key: "m", value: i * 10, step: i, timestamp: 1 })) });
    const r = await http(s.url, "GET", `/api/2.0/mlflow/metrics/get-history-bulk-interval?run_ids=${id}&metric_key=m&max_results=5`);
    const steps = r.body.metrics.map((m: { step: number }) => m.step);
    expect(steps[0]).toBe(0);
    expect(steps.at(-1)).toBe(5);
    expect(steps.length).toBeLessThanOrEqual(5);
    expect(r.body.metrics[0]).toMatchObject({ value: 0, run_id: id });
  });
});
