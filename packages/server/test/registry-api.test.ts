import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { http, testServer } from "./helpers.js";

const P = "/api/2.0/mlflow";
const V1 = "/api/v1";

/**
 * A server with the model registry wired in (`buildServer` registers `registerRegistryRoutes` and
 * `registerMlflowRegistryRoutes`), plus a run to register versions from.
 */
async function registryServer() {
  const s = await testServer();
  const call = (method: string, url: string, body?: unknown) => http(s.url, method, url, body);
  const exp = await call("POST", `${P}/experiments/create`, { name: "registry-api" });
  const run = await call("POST", `${P}/runs/create`, { experiment_id: exp.body.experiment_id });
  return { s, call, experimentId: exp.body.experiment_id as string, runId: run.body.run.info.run_id as string };
}

let ctx: Awaited<ReturnType<typeof registryServer>>;
const call = (method: string, url: string, body?: unknown) => ctx.call(method, url, body);

beforeAll(async () => {
  ctx = await registryServer();
});
afterAll(async () => {
  await ctx.s.stop();
});

describe("MLflow model registry REST API", () => {
  it("runs a model's whole lifecycle", async () => {
    const { runId, experimentId } = ctx;
    const created = await call("POST", `${P}/registered-models/create`, { name: "fraud", tags: [{ key: "team", value: "risk" }], description: "d" });
    expect(created.status).toBe(200);
    expect(created.body.registered_model).toMatchObject({ name: "fraud", description: "d", tags: [{ key: "team", value: "risk" }], latest_versions: [], aliases: [] });
    const dup = await call("POST", `${P}/registered-models/create`, { name: "fraud" });
    expect([dup.status, dup.body.error_code]).toEqual([400, "RESOURCE_ALREADY_EXISTS"]);

    const v1 = await call("POST", `${P}/model-versions/create`, { name: "fraud", source: `runs:/${runId}/model`, run_id: runId });
    expect(v1.status).toBe(200);
    expect(v1.body.model_version).toMatchObject({ name: "fraud", version: "1", status: "READY", current_stage: "None", source: `runs:/${runId}/model`, run_id: runId });
    const v2 = await call("POST", `${P}/model-versions/create`, { name: "fraud", source: `mlflow-artifacts:/${experimentId}/${runId}/artifacts/model2`, tags: [{ key: "k", value: "v" }] });
    expect(v2.body.model_version).toMatchObject({ version: "2", tags: [{ key: "k", value: "v" }] });

    const uri = await call("GET", `${P}/model-versions/get-download-uri?name=fraud&version=1`);
    expect(uri.body).toEqual({ artifact_uri: `mlflow-artifacts:/${experimentId}/${runId}/artifacts/model` });

    expect((await call("POST", `${P}/registered-models/alias`, { name: "fraud", alias: "champion", version: "1" })).status).toBe(200);
    const alias = await call("GET", `${P}/registered-models/alias?name=fraud&alias=champion`);
    expect(alias.body.model_version).toMatchObject({ version: "1", aliases: ["champion"] });
    expect((await call("POST", `${P}/registered-models/set-tag`, { name: "fraud", key: "owner", value: "ada" })).status).toBe(200);
    expect((await call("DELETE", `${P}/registered-models/delete-tag`, { name: "fraud", key: "team" })).status).toBe(200);
    expect((await call("POST", `${P}/model-versions/set-tag`, { name: "fraud", version: "1", key: "validated", value: "yes" })).status).toBe(200);
    expect((await call("DELETE", `${P}/model-versions/delete-tag`, { name: "fraud", version: "2", key: "k" })).status).toBe(200);

    const staged = await call("POST", `${P}/model-versions/transition-stage`, { name: "fraud", version: "2", stage: "production", archive_existing_versions: false });
    expect(staged.body.model_version).toMatchObject({ version: "2", current_stage: "Production" });
    const latest = await call("POST", `${P}/registered-models/get-latest-versions`, { name: "fraud", stages: ["Production"] });
    expect(latest.body.model_versions.map((v: { version: string }) => v.version)).toEqual(["2"]);
    const latestGet = await call("GET", `${P}/registered-models/get-latest-versions?name=fraud`);
    expect(latestGet.body.model_versions.map((v: { version: string }) => v.version)).toEqual(["1", "2"]);

    const upd = await call("PATCH", `${P}/registered-models/update`, { name: "fraud", description: "new" });
    expect(upd.body.registered_model).toMatchObject({ description: "new", tags: [{ key: "owner", value: "ada" }], aliases: [{ alias: "champion", version: "1" }] });
    const vupd = await call("PATCH", `${P}/model-versions/update`, { name: "fraud", version: 1, description: "first" });
    expect(vupd.body.model_version).toMatchObject({ description: "first", tags: [{ key: "validated", value: "yes" }] });

    const models = await call("GET", `${P}/registered-models/search?filter=${encodeURIComponent("name LIKE 'fr%'")}&max_results=1`);
    expect(models.body.registered_models.map((m: { name: string }) => m.name)).toEqual(["fraud"]);
    const versions = await call("GET", `${P}/model-versions/search?filter=${encodeURIComponent(`run_id = '${runId}'`)}`);
    expect(versions.body.model_versions.map((v: { version: string }) => v.version)).toEqual(["1"]);

    const renamed = await call("POST", `${P}/registered-models/rename`, { name: "fraud", new_name: "fraud-v2" });
    expect(renamed.body.registered_model.name).toBe("fraud-v2");
    expect((await call("GET", `${P}/model-versions/get?name=fraud-v2&version=1`)).body.model_version).toMatchObject({ name: "fraud-v2", aliases: ["champion"] });
    expect((await call("GET", `/ajax-api/2.0/mlflow/registered-models/get?name=fraud`)).status).toBe(404);

    expect((await call("DELETE", `${P}/registered-models/alias`, { name: "fraud-v2", alias: "champion" })).status).toBe(200);
    expect((await call("DELETE", `${P}/model-versions/delete`, { name: "fraud-v2", version: "1" })).status).toBe(200);
    expect((await call("GET", `${P}/model-versions/get?name=fraud-v2&version=1`)).body.error_code).toBe("RESOURCE_DOES_NOT_EXIST");
    expect((await call("DELETE", `${P}/registered-models/delete`, { name: "fraud-v2" })).status).toBe(200);
    const gone = await call("GET", `${P}/registered-models/get?name=fraud-v2`);
    expect([gone.status, gone.body.error_code]).toEqual([404, "RESOURCE_DOES_NOT_EXIST"]);
  });

  it("answers bad input with a 4xx and a code, never a 500", async () => {
    const { runId } = ctx;
    await call("POST", `${P}/registered-models/create`, { name: "strict" });
    const cases: [string, string, unknown, number, string][] = [
      ["POST", "model-versions/create", { name: "strict", source: "models:/other/1" }, 400, "INVALID_PARAMETER_VALUE"],
      ["POST", "model-versions/create", { name: "strict", source: "s3://bucket/model" }, 400, "INVALID_PARAMETER_VALUE"],
      ["POST", "model-versions/create", { name: "strict", source: "mlflow-artifacts:/0/../../etc" }, 400, "INVALID_PARAMETER_VALUE"],
      ["POST", "model-versions/create", { name: "strict", source: "runs:/nope/model" }, 404, "RESOURCE_DOES_NOT_EXIST"],
      ["POST", "model-versions/create", { name: "strict", source: `runs:/${runId}/m`, run_id: "other" }, 404, "RESOURCE_DOES_NOT_EXIST"],
      ["POST", "model-versions/create", { name: "nope", source: `runs:/${runId}/m` }, 404, "RESOURCE_DOES_NOT_EXIST"],
      ["POST", "registered-models/create", { name: "" }, 400, "INVALID_PARAMETER_VALUE"],
      ["POST", "registered-models/alias", { name: "strict", alias: "v1", version: "1" }, 400, "INVALID_PARAMETER_VALUE"],
      ["POST", "registered-models/alias", { name: "strict", alias: "champion", version: "1" }, 404, "RESOURCE_DOES_NOT_EXIST"],
      ["GET", "model-versions/get?name=strict&version=abc", undefined, 400, "INVALID_PARAMETER_VALUE"],
      ["GET", `registered-models/search?filter=${encodeURIComponent("owner = 'x'")}`, undefined, 400, "INVALID_PARAMETER_VALUE"],
      ["GET", "registered-models/search?page_token=garbage!", undefined, 400, "INVALID_PARAMETER_VALUE"],
      ["POST", "model-versions/transition-stage", { name: "strict", version: "1", stage: "Prod" }, 400, "INVALID_PARAMETER_VALUE"],
    ];
    for (const [method, path, body, status, code] of cases) {
      const r = await call(method, `${P}/${path}`, body);
      expect([path, r.status, r.body.error_code]).toEqual([path, status, code]);
    }
  });
});

describe("native model registry API", () => {
  it("creates models and versions, and keeps an alias history answerable at any time", async () => {
    const { runId } = ctx;
    const m = await call("POST", `${V1}/models`, { name: "churn", tags: { team: "growth" } });
    expect(m.status).toBe(201);
    expect(m.body.registeredModel).toMatchObject({ name: "churn", tags: { team: "growth" } });
    for (const v of ["1", "2"]) {
      const r = await call("POST", `${V1}/models/churn/versions`, { source: `runs:/${runId}/model`, runId });
      expect([r.status, r.body.modelVersion.version]).toEqual([201, v]);
    }
    expect((await call("PUT", `${V1}/models/churn/aliases/prod`, { version: 1 })).status).toBe(200);
    const t1 = Date.now();
    await new Promise((r) => setTimeout(r, 5));
    expect((await call("PUT", `${V1}/models/churn/aliases/prod`, { version: "2" })).status).toBe(200);
    expect((await call("GET", `${V1}/models/churn/aliases/prod`)).body.modelVersion).toMatchObject({ version: "2", aliases: ["prod"] });

    const hist = await call("GET", `${V1}/models/churn/aliases/prod/history?at=${t1}`);
    expect(hist.status).toBe(200);
    expect(hist.body.versionAt).toBe("1");
    expect(hist.body.history.map((h: { fromVersion: string | null; toVersion: string | null }) => [h.fromVersion, h.toVersion])).toEqual([
      ["1", "2"],
      [null, "1"],
    ]);
    expect((await call("GET", `${V1}/models/churn/aliases/prod/history?at=0`)).body.versionAt).toBeNull();

    expect((await call("DELETE", `${V1}/models/churn/versions/2`)).status).toBe(200);
    const after = await call("GET", `${V1}/models/churn/aliases/prod/history`);
    expect(after.body.history[0]).toMatchObject({ fromVersion: "2", toVersion: null });
    expect((await call("GET", `${V1}/models/churn/aliases/prod`)).status).toBe(404);

    expect((await call("GET", `${V1}/models/churn/versions/1/download-uri`)).body.artifactUri).toMatch(/^mlflow-artifacts:\/.+\/artifacts\/model$/);
    const search = await call("POST", `${V1}/model-versions/search`, { filter: "name = 'churn'" });
    expect(search.body.modelVersions.map((v: { version: string }) => v.version)).toEqual(["1"]);
    const staged = await call("POST", `${V1}/models/churn/versions/1/stage`, { stage: "Staging" });
    expect(staged.body.modelVersion.currentStage).toBe("Staging");
    expect((await call("PUT", `${V1}/models/churn/aliases/latest`, { version: 1 })).status).toBe(400);
  });

  it("addresses models whose names hold slashes and spaces, and pages searches", async () => {
    for (const n of ["team/a b", "team/c"]) expect((await call("POST", `${V1}/models`, { name: n })).status).toBe(201);
    const got = await call("GET", `${V1}/models/${encodeURIComponent("team/a b")}`);
    expect([got.status, got.body.registeredModel?.name]).toEqual([200, "team/a b"]);
    const first = await call("POST", `${V1}/models/search`, { filter: "name LIKE 'team/%'", maxResults: 1 });
    expect(first.body.registeredModels.map((m: { name: string }) => m.name)).toEqual(["team/a b"]);
    const second = await call("POST", `${V1}/models/search`, { filter: "name LIKE 'team/%'", maxResults: 1, pageToken: first.body.nextPageToken });
    expect(second.body.registeredModels.map((m: { name: string }) => m.name)).toEqual(["team/c"]);
    expect(second.body.nextPageToken).toBeUndefined();
  });
});
