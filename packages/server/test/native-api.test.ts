import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiClient } from "@cairn/sdk/core";
import { CairnError } from "@cairn/contract";
import { http, testServer } from "./helpers.js";

let s: Awaited<ReturnType<typeof testServer>>;
let api: ApiClient["api"];

beforeAll(async () => {
  s = await testServer({ bodyLimit: 256 * 1024 });
  api = new ApiClient({ url: s.url }).api;
});
afterAll(async () => {
  await s.stop();
});

describe("native API /api/v1", () => {
  it("serves health, version and an OpenAPI document derived from the contract", async () => {
    expect((await http(s.url, "GET", "/health")).status).toBe(200);
    const doc = await http(s.url, "GET", "/api/v1/openapi.json");
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toBe("3.0.3");
    expect(doc.body.paths["/api/v1/runs/{id}/log"].post.operationId).toBe("logBatch");
    expect(doc.body.paths["/api/v1/runs/{id}/log"].post.requestBody.content["application/json"].schema.properties.metrics).toBeDefined();
    // Every placeholder is filled whole (a name with digits, such as `:sha256`, too) and matches a declared parameter.
    for (const [p, ops] of Object.entries(doc.body.paths as Record<string, Record<string, { parameters?: { name: string; in: string }[] }>>)) {
      expect(p, p).not.toMatch(/[:}][A-Za-z0-9]/);
      const names = [...p.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      for (const op of Object.values(ops)) expect((op.parameters ?? []).filter((x) => x.in === "path").map((x) => x.name).sort(), p).toEqual([...names].sort());
    }
    expect(doc.body.paths["/api/v1/datasets/{name}/blobs/{sha256}"].put.operationId).toBe("uploadBlob");
  });

  it("creates, logs, searches and downsamples through the typed client", async () => {
    const { experiment } = await api.createExperiment({ body: { name: "native", tags: { team: "core" } } });
    const { run } = await api.createRun({ body: { experimentId: experiment.experimentId, runName: "r1" } });
    const id = run.info.runId;
    for (let b = 0; b < 5; b++) {
      await api.logBatch({
        params: { id },
        body: { metrics: Array.from({ length: 1000 }, (_, i) => ({ key: "loss", value: 1 / (1 + b * 1000 + i), step: b * 1000 + i, timestamp: 1 })) },
      });
    }
    await api.logBatch({ params: { id }, body: { params: [{ key: "lr", value: "0.01" }], tags: [{ key: "k", value: "v" }] } });
    const got = await api.getRun({ params: { id } });
    expect(got.run.data.params).toEqual({ lr: "0.01" });
    expect(got.run.data.metrics).toEqual([{ key: "loss", value: 1 / 5000, step: 4999, timestamp: 1 }]);

    const ds = await api.getDownsampledMetric({ params: { id, key: "loss" }, query: { buckets: 100 } });
    expect(ds.totalPoints).toBe(5000);
    expect(ds.buckets.length).toBeLessThanOrEqual(100);
    expect(ds.buckets.reduce((a, b) => a + b.count, 0)).toBe(5000);
    expect(ds.buckets[0]!.max).toBe(1);
    expect(ds.buckets.at(-1)!.last).toBe(1 / 5000);

    const bulk = await api.bulkDownsample({ body: { runIds: [id], keys: ["loss"], buckets: 10, minStep: 1000, maxStep: 1999 } });
    expect(bulk.series[0]!.totalPoints).toBe(1000);

    const hist = await api.getMetricHistory({ params: { id, key: "loss" }, query: { maxResults: 2000 } });
    expect(hist.metrics).toHaveLength(2000);
    expect(hist.nextPageToken).toBeDefined();

    const found = await api.searchRuns({ body: { experimentIds: [experiment.experimentId], filter: "params.lr = '0.01' and tags.k = 'v'" } });
    expect(found.runs.map((r) => r.info.runId)).toEqual([id]);
  });

  it("streams artifact uploads and downloads, and lists them", async () => {
    const { run } = await api.createRun({ body: { experimentId: "0" } });
    const id = run.info.runId;
    const big = Buffer.alloc(3 * 1024 * 1024, 7);
    const put = await fetch(`${s.url}/api/v1/runs/${id}/artifacts/data/big.bin`, { method: "PUT", body: big });
    expect(put.status).toBe(201);
    expect(await put.json()).toEqual({ path: "data/big.bin", fileSize: big.length });
    const list = await api.listArtifacts({ params: { id }, query: { path: "data" } });
    expect(list.files).toEqual([{ path: "data/big.bin", isDir: false, fileSize: big.length }]);
    const dl = await fetch(`${s.url}/api/v1/runs/${id}/artifacts/data/big.bin`);
    expect(dl.headers.get("content-length")).toBe(String(big.length));
    expect(Buffer.from(await dl.arrayBuffer()).equals(big)).toBe(true);
    const evil = await fetch(`${s.url}/api/v1/runs/${id}/artifacts/..%2F..%2F..%2Fx`, { method: "PUT", body: "x" });
    expect(evil.status).toBe(400);
    expect((await evil.json()).error_code).toBe("INVALID_PARAMETER_VALUE");
  });

  it("throws typed errors carrying the server's code", async () => {
    const err = await api.getRun({ params: { id: "does-not-exist" } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CairnError);
    expect(err).toMatchObject({ code: "RESOURCE_DOES_NOT_EXIST", status: 404 });
    const bad = await api.searchRuns({ body: { experimentIds: ["0"], filter: "params.lr < 1" } }).catch((e: unknown) => e);
    expect(bad).toMatchObject({ code: "INVALID_PARAMETER_VALUE", status: 400 });
  });

  it("answers 4xx with a code for wrong types, missing fields and over-long values", async () => {
    const { run } = await api.createRun({ body: { experimentId: "0" } });
    const url = `/api/v1/runs/${run.info.runId}/log`;
    const cases: [unknown, string][] = [
      [{ metrics: [{ key: "a", value: "x" }] }, "body.metrics.0.value"],
      [{ metrics: [{ value: 1 }] }, "body.metrics.0.key"],
      [{ metrics: "nope" }, "body.metrics"],
      [{ tags: [{ key: "t", value: "v".repeat(8001) }] }, "body.tags.0.value"],
      [{ params: [{ key: "k".repeat(251), value: "1" }] }, "body.params.0.key"],
    ];
    for (const [body, path] of cases) {
      const r = await http(s.url, "POST", url, body);
      expect(r.status).toBe(400);
      expect(r.body.error_code).toBe("INVALID_PARAMETER_VALUE");
      expect(r.body.details.map((d: { path: string }) => d.path)).toContain(path);
    }
    const created = await http(s.url, "POST", "/api/v1/runs", { experimentId: "missing" });
    expect(created).toMatchObject({ status: 404, body: { error_code: "RESOURCE_DOES_NOT_EXIST" } });
  });

  it("answers 413 with a code for an over-limit body", async () => {
    const { run } = await api.createRun({ body: { experimentId: "0" } });
    const r = await http(s.url, "POST", `/api/v1/runs/${run.info.runId}/log`, { tags: [{ key: "t", value: "x".repeat(300 * 1024) }] });
    expect(r.status).toBe(413);
    expect(r.body.error_code).toBe("PAYLOAD_TOO_LARGE");
  });

  it("serves the UI or a clear message at /, and JSON 404s under /api", async () => {
    const root = await fetch(`${s.url}/`);
    expect([200, 404]).toContain(root.status);
    const missing = await http(s.url, "GET", "/api/v1/nothing-here");
    expect(missing).toMatchObject({ status: 404, body: { error_code: "ENDPOINT_NOT_FOUND" } });
  });
});

describe("auth", () => {
  it("requires a bearer token on the API when tokens are configured", async () => {
    const a = await testServer({ authTokens: ["s3cret"] });
    try {
      const anon = await http(a.url, "GET", "/api/2.0/mlflow/experiments/get?experiment_id=0");
      expect(anon).toMatchObject({ status: 401, body: { error_code: "UNAUTHENTICATED" } });
      const wrong = await http(a.url, "GET", "/api/v1/experiments/0", undefined, { authorization: "Bearer nope" });
      expect(wrong.status).toBe(401);
      const ok = await new ApiClient({ url: a.url, token: "s3cret" }).api.getExperiment({ params: { id: "0" } });
      expect(ok.experiment.name).toBe("Default");
      const basic = await http(a.url, "GET", "/api/2.0/mlflow/experiments/get?experiment_id=0", undefined, { authorization: `Basic ${Buffer.from("user:s3cret").toString("base64")}` });
      expect(basic.status).toBe(200);
      expect((await http(a.url, "GET", "/health")).status).toBe(200);
      // The web UI signs in with a same-site cookie, so plain links (artifact downloads) work too.
      const cookie = await http(a.url, "GET", "/api/v1/experiments/0", undefined, { cookie: "theme=dark; cairn_token=s3cret" });
      expect(cookie.status).toBe(200);
      expect((await http(a.url, "GET", "/api/v1/experiments/0", undefined, { cookie: "cairn_token=wrong" })).status).toBe(401);
    } finally {
      await a.stop();
    }
  });
});
