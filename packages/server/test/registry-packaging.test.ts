import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { http, testServer } from "./helpers.js";

const P = "/api/2.0/mlflow";
const V1 = "/api/v1";
const fixtures = join(import.meta.dirname, "fixtures/models");
const tinyOnnx = readFileSync(join(fixtures, "tiny.onnx"));
const tinySig = { inputs: [{ name: "x", dtype: "float32", shape: [-1, 4] }], outputs: [{ name: "y", dtype: "float32", shape: [-1, 1] }] };

let s: Awaited<ReturnType<typeof testServer>>;
let runId: string;
let experimentId: string;
const call = (method: string, url: string, body?: unknown) => http(s.url, method, url, body);
const upload = async (path: string, body: string | Buffer) => {
  const res = await fetch(`${s.url}${V1}/runs/${runId}/artifacts/${path}`, { method: "PUT", headers: { "content-type": "application/octet-stream" }, body });
  expect(res.status).toBe(201);
};

beforeAll(async () => {
  s = await testServer();
  const exp = await call("POST", `${P}/experiments/create`, { name: "registry-packaging" });
  experimentId = exp.body.experiment_id;
  const run = await call("POST", `${P}/runs/create`, { experiment_id: experimentId });
  runId = run.body.run.info.run_id;
  await call("POST", `${V1}/models`, { name: "pkg" });
});
afterAll(async () => {
  await s.stop();
});

describe("model packages at registration", () => {
  it("registers an ONNX package READY with its flavors and a signature derived from the model", async () => {
    await upload("onnx/model.onnx", tinyOnnx);
    await upload("onnx/MLmodel", "flavors:\n  onnx:\n    data: model.onnx\nmodel_uuid: 0123456789abcdef0123456789abcdef\n");
    const v = await call("POST", `${V1}/models/pkg/versions`, { source: `runs:/${runId}/onnx` });
    expect(v.status).toBe(201);
    expect(v.body.modelVersion).toMatchObject({ version: "1", status: "READY", statusMessage: "", flavors: [{ name: "onnx", details: { data: "model.onnx" } }], signature: tinySig });

    // A signature in the request wins over the package's.
    const sig = { inputs: [{ name: "features", dtype: "float32", shape: [-1, 4] }], outputs: [] };
    const given = await call("POST", `${V1}/models/pkg/versions`, { source: `runs:/${runId}/onnx`, signature: sig });
    expect(given.body.modelVersion).toMatchObject({ status: "READY", signature: sig });
  });

  it("registers a package whose model file is missing as FAILED_REGISTRATION with the reason (MLflow API too)", async () => {
    await upload("broken/MLmodel", "flavors:\n  onnx:\n    data: model.onnx\n");
    const v = await call("POST", `${V1}/models/pkg/versions`, { source: `runs:/${runId}/broken` });
    expect(v.status).toBe(201);
    expect(v.body.modelVersion).toMatchObject({ status: "FAILED_REGISTRATION", statusMessage: "Invalid model package: flavor 'onnx': model file 'model.onnx' is missing from the package", signature: null });
    const ml = await call("POST", `${P}/model-versions/create`, { name: "pkg", source: `runs:/${runId}/broken`, run_id: runId });
    expect(ml.status).toBe(200);
    expect(ml.body.model_version).toMatchObject({ status: "FAILED_REGISTRATION", status_message: expect.stringContaining("is missing") });

    await upload("yaml/MLmodel", "flavors: [");
    const y = await call("POST", `${V1}/models/pkg/versions`, { source: `runs:/${runId}/yaml` });
    expect(y.body.modelVersion).toMatchObject({ status: "FAILED_REGISTRATION", statusMessage: expect.stringMatching(/^Invalid model package: MLmodel: not valid YAML/) });
  });

  it("registers the layout mlflow.onnx.log_model writes, through MLflow's proxied artifact upload and model-versions/create", async () => {
    const base = `${experimentId}/${runId}/artifacts/mlflow-model`;
    for (const [file, body] of [["MLmodel", readFileSync(join(fixtures, "mlflow-onnx.MLmodel"))], ["model.onnx", tinyOnnx], ["conda.yaml", "name: mlflow-env\n"], ["requirements.txt", "onnx==1.15.0\n"]] as const) {
      const res = await fetch(`${s.url}/api/2.0/mlflow-artifacts/artifacts/${base}/${file}`, { method: "PUT", body });
      expect(res.status).toBe(200);
    }
    const ml = await call("POST", `${P}/model-versions/create`, { name: "pkg", source: `mlflow-artifacts:/${base}`, run_id: runId });
    expect(ml.status).toBe(200);
    expect(ml.body.model_version.status).toBe("READY");
    const v = await call("GET", `${V1}/models/pkg/versions/${ml.body.model_version.version}`);
    expect(v.body.modelVersion.flavors.map((f: { name: string }) => f.name)).toEqual(["onnx", "python_function"]);
    expect(v.body.modelVersion.signature).toEqual(tinySig);
  });

  it("keeps a source without an MLmodel READY with no flavors, and refuses MLflow 3 logged-model sources with a 400", async () => {
    await upload("plain/weights.bin", "w");
    const v = await call("POST", `${V1}/models/pkg/versions`, { source: `runs:/${runId}/plain` });
    expect(v.body.modelVersion).toMatchObject({ status: "READY", flavors: [], signature: null });
    const m3 = await call("POST", `${P}/model-versions/create`, { name: "pkg", source: "models:/m-0123456789abcdef0123456789abcdef" });
    expect([m3.status, m3.body.error_code]).toEqual([400, "INVALID_PARAMETER_VALUE"]);
    expect(m3.body.message).toMatch(/MLflow 3 logged model/);
  });
});
