import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRequire } from "node:module";
import { http, testServer } from "./helpers.js";

const P = "/api/2.0/mlflow";
let s: Awaited<ReturnType<typeof testServer>>;
const call = (method: string, url: string, body?: unknown) => http(s.url, method, url, body);

beforeAll(async () => {
  s = await testServer();
});
afterAll(async () => {
  await s.stop();
});

describe("MLflow REST API", () => {
  it("has the Default experiment 0", async () => {
    const r = await call("GET", `${P}/experiments/get?experiment_id=0`);
    expect(r.status).toBe(200);
    expect(r.body.experiment).toMatchObject({ experiment_id: "0", name: "Default", lifecycle_stage: "active" });
  });

  it("runs a full experiment and run lifecycle", async () => {
    const created = await call("POST", `${P}/experiments/create`, { name: "mlflow-e2e", tags: [{ key: "team", value: "ml" }] });
    expect(created.status).toBe(200);
    const expId = created.body.experiment_id as string;
    expect(typeof expId).toBe("string");

    const byName = await call("GET", `${P}/experiments/get-by-name?experiment_name=mlflow-e2e`);
    expect(byName.body.experiment).toMatchObject({ experiment_id: expId, artifact_location: `mlflow-artifacts:/${expId}`, tags: [{ key: "team", value: "ml" }] });

    const dup = await call("POST", `${P}/experiments/create`, { name: "mlflow-e2e" });
    expect(dup.status).toBe(400);
    expect(dup.body.error_code).toBe("RESOURCE_ALREADY_EXISTS");

    const run = await call("POST", `${P}/runs/create`, { experiment_id: expId, run_name: "first", start_time: "1700000000000", tags: [{ key: "mlflow.user", value: "ada" }] });
    expect(run.status).toBe(200);
    const runId = run.body.run.info.run_id as string;
    expect(run.body.run.info).toMatchObject({ run_uuid: runId, run_name: "first", status: "RUNNING", start_time: 1700000000000, artifact_uri: `mlflow-artifacts:/${expId}/${runId}/artifacts` });

    expect((await call("POST", `${P}/runs/log-metric`, { run_id: runId, key: "loss", value: 0.5, timestamp: 1, step: 0 })).status).toBe(200);
    expect((await call("POST", `${P}/runs/log-metric`, { run_uuid: runId, key: "loss", value: 0.25, timestamp: "2", step: "1" })).status).toBe(200);
    expect((await call("POST", `${P}/runs/log-parameter`, { run_id: runId, key: "lr", value: "0.01" })).status).toBe(200);
    expect((await call("POST", `${P}/runs/set-tag`, { run_id: runId, key: "stage", value: "dev" })).status).toBe(200);
    const batch = await call("POST", `${P}/runs/log-batch`, {
      run_id: runId,
      metrics: [{ key: "acc", value: 0.9, timestamp: 3, step: 1 }],
      params: [{ key: "depth", value: "6" }],
      tags: [{ key: "note", value: "hello" }],
    });
    expect(batch.status).toBe(200);
    expect(batch.body).toEqual({});

    const got = await call("GET", `${P}/runs/get?run_id=${runId}`);
    const data = got.body.run.data;
    expect(data.metrics).toEqual(expect.arrayContaining([{ key: "loss", value: 0.25, timestamp: 2, step: 1 }, { key: "acc", value: 0.9, timestamp: 3, step: 1 }]));
    expect(data.params).toEqual(expect.arrayContaining([{ key: "lr", value: "0.01" }, { key: "depth", value: "6" }]));
    expect(data.tags).toEqual(expect.arrayContaining([{ key: "stage", value: "dev" }, { key: "note", value: "hello" }, { key: "mlflow.runName", value: "first" }]));

    const hist = await call("GET", `${P}/metrics/get-history?run_id=${runId}&metric_key=loss`);
    expect(hist.body.metrics.map((m: { value: number }) => m.value)).toEqual([0.5, 0.25]);

    const bulk = await call("GET", `${P}/metrics/get-history-bulk-interval?run_ids=${runId}&metric_key=loss&max_results=10`);
    expect(bulk.status).toBe(200);
    expect(bulk.body.metrics.at(-1)).toMatchObject({ run_id: runId, step: 1, value: 0.25 });

    const search = await call("POST", `${P}/runs/search`, { experiment_ids: [expId], filter: "metrics.acc > 0.5 and params.lr = '0.01'", order_by: ["metrics.acc DESC"] });
    expect(search.status).toBe(200);
    expect(search.body.runs.map((r: any) => r.info.run_id)).toEqual([runId]);

    const none = await call("POST", `${P}/runs/search`, { experiment_ids: [expId], filter: "metrics.acc > 0.95" });
    expect(none.body.runs ?? []).toEqual([]);

    const upd = await call("POST", `${P}/runs/update`, { run_id: runId, status: "FINISHED", end_time: 1700000001000 });
    expect(upd.body.run_info).toMatchObject({ status: "FINISHED", end_time: 1700000001000 });

    expect((await call("POST", `${P}/runs/delete-tag`, { run_id: runId, key: "stage" })).status).toBe(200);
    expect((await call("POST", `${P}/runs/delete`, { run_id: runId })).status).toBe(200);
    const deleted = await call("POST", `${P}/runs/search`, { experiment_ids: [expId], run_view_type: "DELETED_ONLY" });
    expect(deleted.body.runs.map((r: any) => r.info.run_id)).toEqual([runId]);
    expect((await call("POST", `${P}/runs/restore`, { run_id: runId })).status).toBe(200);

    expect((await call("POST", `${P}/experiments/update`, { experiment_id: expId, new_name: "mlflow-e2e-renamed" })).status).toBe(200);
    expect((await call("POST", `${P}/experiments/set-experiment-tag`, { experiment_id: expId, key: "k", value: "v" })).status).toBe(200);
    expect((await call("POST", `${P}/experiments/delete-experiment-tag`, { experiment_id: expId, key: "k" })).status).toBe(200);
    expect((await call("POST", `${P}/experiments/delete`, { experiment_id: expId })).status).toBe(200);
    const exps = await call("GET", `${P}/experiments/search?view_type=DELETED_ONLY&max_results=10`);
    expect(exps.body.experiments.map((e: any) => e.name)).toContain("mlflow-e2e-renamed");
    expect((await call("POST", `${P}/experiments/restore`, { experiment_id: expId })).status).toBe(200);
  });

  it("answers the same API under /ajax-api", async () => {
    const r = await call("GET", `/ajax-api/2.0/mlflow/experiments/get?experiment_id=0`);
    expect(r.status).toBe(200);
  });

  it("accepts Python's NaN and Infinity tokens and returns them as MLflow strings", async () => {
    const run = await call("POST", `${P}/runs/create`, { experiment_id: "0" });
    const runId = run.body.run.info.run_id;
    const body = `{"run_id": "${runId}", "metrics": [{"key": "a", "value": NaN, "timestamp": 1, "step": 0}, {"key": "b", "value": Infinity, "timestamp": 1, "step": 0}, {"key": "c", "value": -Infinity, "timestamp": 1, "step": 0}], "params": [], "tags": [{"key": "t", "value": "NaN inside a string stays"}]}`;
    const r = await call("POST", `${P}/runs/log-batch`, body);
    expect(r.status).toBe(200);
    const got = await call("GET", `${P}/runs/get?run_id=${runId}`);
    const byKey = Object.fromEntries(got.body.run.data.metrics.map((m: any) => [m.key, m.value]));
    expect(byKey).toEqual({ a: "NaN", b: "Infinity", c: "-Infinity" });
    expect(got.body.run.data.tags).toContainEqual({ key: "t", value: "NaN inside a string stays" });
  });

  it("paginates runs/search with page_token", async () => {
    const exp = await call("POST", `${P}/experiments/create`, { name: "paging" });
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      const r = await call("POST", `${P}/runs/create`, { experiment_id: exp.body.experiment_id, start_time: 1000 + i });
      ids.push(r.body.run.info.run_id);
    }
    const seen: string[] = [];
    let token: string | undefined;
    do {
      const r = await call("POST", `${P}/runs/search`, { experiment_ids: [exp.body.experiment_id], max_results: 3, page_token: token });
      seen.push(...r.body.runs.map((x: any) => x.info.run_id));
      token = r.body.next_page_token;
    } while (token);
    expect(seen).toEqual([...ids].reverse());
  });

  it("rejects bad input with MLflow error codes, never a 500", async () => {
    const run = await call("POST", `${P}/runs/create`, { experiment_id: "0" });
    const runId = run.body.run.info.run_id;
    const cases: [string, unknown, number, string][] = [
      ["runs/log-metric", { run_id: runId, key: "x", value: "high" }, 400, "INVALID_PARAMETER_VALUE"],
      ["runs/log-metric", { run_id: runId, value: 1 }, 400, "INVALID_PARAMETER_VALUE"],
      ["runs/log-metric", { run_id: "nope", key: "x", value: 1, timestamp: 1 }, 404, "RESOURCE_DOES_NOT_EXIST"],
      ["runs/log-parameter", { run_id: runId, key: "p", value: "x".repeat(6001) }, 400, "INVALID_PARAMETER_VALUE"],
      ["runs/set-tag", { run_id: runId, key: "../etc", value: "x" }, 400, "INVALID_PARAMETER_VALUE"],
      ["runs/log-batch", { run_id: runId, metrics: Array.from({ length: 1001 }, (_, i) => ({ key: "m", value: i, timestamp: 1, step: i })) }, 400, "INVALID_PARAMETER_VALUE"],
      ["runs/log-batch", { run_id: runId, params: Array.from({ length: 101 }, (_, i) => ({ key: `p${i}`, value: "1" })) }, 400, "INVALID_PARAMETER_VALUE"],
      ["experiments/create", { name: "x".repeat(501) }, 400, "INVALID_PARAMETER_VALUE"],
      ["experiments/create", {}, 400, "INVALID_PARAMETER_VALUE"],
      ["runs/search", { experiment_ids: ["0"], filter: "metrics.acc >>> 1" }, 400, "INVALID_PARAMETER_VALUE"],
      ["runs/search", { experiment_ids: ["0"], page_token: "garbage!" }, 400, "INVALID_PARAMETER_VALUE"],
    ];
    for (const [path, body, status, code] of cases) {
      const r = await call("POST", `${P}/${path}`, body);
      expect({ path, status: r.status, code: r.body.error_code }).toEqual({ path, status, code });
      expect(typeof r.body.message).toBe("string");
    }
    expect((await call("POST", `${P}/runs/log-parameter`, { run_id: runId, key: "fixed", value: "1" })).status).toBe(200);
    const rewrite = await call("POST", `${P}/runs/log-parameter`, { run_id: runId, key: "fixed", value: "2" });
    expect(rewrite).toMatchObject({ status: 400, body: { error_code: "INVALID_PARAMETER_VALUE" } });
    expect((await call("POST", `${P}/runs/log-parameter`, { run_id: runId, key: "fixed", value: "1" })).status).toBe(200);

    const malformed = await call("POST", `${P}/runs/log-metric`, "{not json");
    expect(malformed.status).toBe(400);
    expect(malformed.body.error_code).toBe("MALFORMED_REQUEST");
    const unknown = await call("GET", `${P}/no/such/endpoint`);
    expect(unknown).toMatchObject({ status: 404, body: { error_code: "ENDPOINT_NOT_FOUND" } });
  });

  it("log-batch is atomic: a conflicting param at the end leaves nothing behind", async () => {
    const run = await call("POST", `${P}/runs/create`, { experiment_id: "0" });
    const runId = run.body.run.info.run_id;
    await call("POST", `${P}/runs/log-parameter`, { run_id: runId, key: "lr", value: "0.1" });
    const r = await call("POST", `${P}/runs/log-batch`, {
      run_id: runId,
      metrics: Array.from({ length: 500 }, (_, i) => ({ key: "m", value: i, timestamp: 1, step: i })),
      tags: [{ key: "t", value: "x" }],
      params: [{ key: "ok", value: "1" }, { key: "lr", value: "0.2" }],
    });
    expect(r.status).toBe(400);
    const got = await call("GET", `${P}/runs/get?run_id=${runId}`);
    expect(got.body.run.data.metrics ?? []).toEqual([]);
    expect(got.body.run.data.params).toEqual([{ key: "lr", value: "0.1" }]);
    expect((got.body.run.data.tags ?? []).find((t: any) => t.key === "t")).toBeUndefined();
  });

  it("serves the proxied mlflow-artifacts API and artifacts/list", async () => {
    const run = await call("POST", `${P}/runs/create`, { experiment_id: "0" });
    const info = run.body.run.info;
    const base = `/api/2.0/mlflow-artifacts/artifacts/0/${info.run_id}/artifacts`;
    const json = '{"looks": "like json"}';
    const put = await fetch(`${s.url}${base}/model/config.json`, { method: "PUT", headers: { "content-type": "application/json" }, body: json });
    expect(put.status).toBe(200);
    const bin = Buffer.from([0, 1, 2, 255]);
    expect((await fetch(`${s.url}${base}/model/weights.bin`, { method: "PUT", body: bin })).status).toBe(200);
    const dl = await fetch(`${s.url}${base}/model/config.json`);
    expect(await dl.text()).toBe(json);
    expect(Buffer.from(await (await fetch(`${s.url}${base}/model/weights.bin`)).arrayBuffer())).toEqual(bin);

    const list = await call("GET", `/api/2.0/mlflow-artifacts/artifacts?path=0/${info.run_id}/artifacts/model`);
    expect(list.body.files).toEqual([
      { path: "config.json", is_dir: false, file_size: json.length },
      { path: "weights.bin", is_dir: false, file_size: 4 },
    ]);
    const runList = await call("GET", `${P}/artifacts/list?run_id=${info.run_id}`);
    expect(runList.body).toEqual({ root_uri: info.artifact_uri, files: [{ path: "model", is_dir: true }] });
    const sub = await call("GET", `${P}/artifacts/list?run_id=${info.run_id}&path=model`);
    expect(sub.body.files.map((f: any) => f.path)).toEqual(["model/config.json", "model/weights.bin"]);

    const del = await fetch(`${s.url}${base}/model/weights.bin`, { method: "DELETE" });
    expect(del.status).toBe(200);
    expect((await fetch(`${s.url}${base}/model/weights.bin`)).status).toBe(404);

    for (const evil of ["../../etc/passwd", "%2e%2e/%2e%2e/etc/passwd", "a/%252e%252e/b", "..%2f..%2fsecret"]) {
      const r = await fetch(`${s.url}/api/2.0/mlflow-artifacts/artifacts/${evil}`, { method: "PUT", body: "x" });
      expect([400, 404]).toContain(r.status);
      const b = await r.json();
      expect(["INVALID_PARAMETER_VALUE", "ENDPOINT_NOT_FOUND"]).toContain(b.error_code);
    }
    const r = await call("GET", `${P}/artifacts/list?run_id=${info.run_id}&path=../../..`);
    expect(r).toMatchObject({ status: 400, body: { error_code: "INVALID_PARAMETER_VALUE" } });
  });

  it("works with the `mlflow` client from npm, unchanged", async () => {
    const require = createRequire(import.meta.url);
    const MLflow = require("mlflow");
    const client = new MLflow({ endpoint: s.url });
    const quiet = console.log;
    console.log = () => {};
    try {
      const { Experiments, Runs, Metrics } = client;
      const { experiment_id } = await Experiments.create({ name: "npm-client" });
      const { experiments } = await Experiments.list({});
      expect(experiments.map((e: any) => e.experiment_id)).toContain(experiment_id);
      const { run } = await Runs.create({ experiment_id, start_time: Date.now(), tags: [] });
      const run_id = run.info.run_id;
      for (let step = 0; step < 5; step++) await Runs.logMetric({ run_id, key: "loss", value: 1 / (step + 1), timestamp: Date.now(), step });
      await Runs.logParameter({ run_id, key: "lr", value: "0.1" });
      await Runs.setTag({ run_id, key: "owner", value: "npm" });
      await Runs.logBatch({ run_id, metrics: [{ key: "acc", value: 0.8, timestamp: Date.now(), step: 4 }], params: [], tags: [] });
      const hist = await Metrics.getHistory({ run_id, metric_key: "loss" });
      expect(hist.metrics).toHaveLength(5);
      const found = await Runs.search({ experiment_ids: [experiment_id], filter: "metrics.acc > 0.5" });
      expect(found.runs).toHaveLength(1);
      await Runs.update({ run_id, status: "FINISHED", end_time: Date.now() });
      const got = await Runs.get({ run_id });
      expect(got.run.info.status).toBe("FINISHED");
    } finally {
      console.log = quiet;
    }
  });
});
