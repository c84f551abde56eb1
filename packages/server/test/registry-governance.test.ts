import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { http, testServer } from "./helpers.js";

const P = "/api/2.0/mlflow";
const V1 = "/api/v1";

let s: Awaited<ReturnType<typeof testServer>>;
let runId: string;
const call = (method: string, url: string, body?: unknown) => http(s.url, method, url, body);

const sigV1 = { inputs: [{ name: "amount", dtype: "float32", shape: [-1, 1] }, { name: "country", dtype: "string", shape: [-1] }], outputs: [{ name: "score", dtype: "float32", shape: [-1] }] };
const sigV2 = { inputs: [{ name: "amount", dtype: "float64", shape: [-1, -1] }, { name: "country_code", dtype: "string", shape: [-1] }, { name: "hour", dtype: "int32", shape: [-1], optional: true }], outputs: [{ name: "score", dtype: "float32", shape: [-1] }] };

beforeAll(async () => {
  s = await testServer();
  const exp = await call("POST", `${P}/experiments/create`, { name: "registry-governance" });
  const run = await call("POST", `${P}/runs/create`, { experiment_id: exp.body.experiment_id });
  runId = run.body.run.info.run_id;
  await call("POST", `${P}/runs/log-batch`, { run_id: runId, metrics: [{ key: "auc", value: 0.9, timestamp: 1, step: 0 }, { key: "auc", value: 0.93, timestamp: 2, step: 1 }] });
  await call("POST", `${V1}/models`, { name: "gov" });
});
afterAll(async () => {
  await s.stop();
});

describe("model registry governance API", () => {
  it("stores signatures at creation and later, and checks compatibility between versions", async () => {
    const v1 = await call("POST", `${V1}/models/gov/versions`, { source: `runs:/${runId}/model`, runId, signature: sigV1 });
    expect([v1.status, v1.body.modelVersion.signature]).toEqual([201, sigV1]);
    const v2 = await call("POST", `${V1}/models/gov/versions`, { source: `runs:/${runId}/model` });
    expect(v2.body.modelVersion).toMatchObject({ version: "2", signature: null, retirement: null });

    const none = await call("GET", `${V1}/models/gov/compatibility?from=1&to=2`);
    expect(none.body).toMatchObject({ name: "gov", from: "1", to: "2", compatible: false, findings: [{ kind: "no_signature", breaking: false }] });

    const set = await call("PUT", `${V1}/models/gov/versions/2/signature`, { signature: sigV2 });
    expect([set.status, set.body.modelVersion.signature]).toEqual([200, sigV2]);
    const compat = await call("GET", `${V1}/models/gov/compatibility?from=1&to=2`);
    expect(compat.status).toBe(200);
    expect(compat.body.compatible).toBe(false);
    expect(compat.body.findings.map((f: { kind: string; field: string; breaking: boolean }) => [f.kind, f.field, f.breaking])).toEqual([
      ["input_renamed", "inputs.country", true],
      ["dtype_changed", "inputs.amount", false],
      ["shape_changed", "inputs.amount", false],
      ["input_added_optional", "inputs.hour", false],
    ]);
    const same = await call("GET", `${V1}/models/gov/compatibility?from=2&to=2`);
    expect(same.body).toMatchObject({ compatible: true, findings: [] });

    // The MLflow wire is unchanged: no signature or retirement fields there.
    const ml = await call("GET", `${P}/model-versions/get?name=gov&version=1`);
    expect(ml.body.model_version.signature).toBeUndefined();
  });

  it("sets, gets and renders model cards with evaluation results from a version's run", async () => {
    expect((await call("GET", `${V1}/models/gov/card`)).status).toBe(404);
    const card = { version: 1, intendedUse: "Score payments", trainingDatasets: [{ name: "tx|2025", version: "3" }], riskClass: "high", owners: ["ada"], contact: "risk@example.com" };
    const put = await call("PUT", `${V1}/models/gov/card`, card);
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ name: "gov", card, evaluationResults: { version: "1", runId, metrics: { auc: 0.93 } } });
    const got = await call("GET", `${V1}/models/gov/card?version=2`);
    expect(got.body).toMatchObject({ card, evaluationResults: { version: "2", metrics: { auc: 0.93 } } });

    const res = await fetch(`${s.url}${V1}/models/gov/card.md`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/markdown/);
    const md = await res.text();
    expect(md).toContain("# Model card: gov");
    expect(md).toContain("| tx\\|2025 | 3 |  |");
    expect(md).toContain("| auc | 0.93 |");
    const missing = await fetch(`${s.url}${V1}/models/nope/card.md`);
    expect([missing.status, ((await missing.json()) as { error_code: string }).error_code]).toEqual([404, "RESOURCE_DOES_NOT_EXIST"]);
  });

  it("retires and unretires versions; an archived version takes no protected alias", async () => {
    expect((await call("PUT", `${V1}/models/gov/aliases/champion`, { version: 1 })).status).toBe(200);
    const arch = await call("POST", `${V1}/models/gov/versions/1/retire`, { state: "archived", reason: "drift" });
    expect(arch.status).toBe(200);
    expect(arch.body.modelVersion).toMatchObject({ aliases: ["champion"], retirement: { state: "archived", reason: "drift" } });
    // Unprotected aliases may still point at it; promoting it to any alias is refused.
    expect((await call("PUT", `${V1}/models/gov/aliases/challenger`, { version: 1 })).status).toBe(200);
    expect((await call("DELETE", `${V1}/models/gov/aliases/challenger`)).status).toBe(200);
    const refused = await call("POST", `${V1}/models/gov/promotions`, { alias: "production", version: 1, reason: "try" });
    expect([refused.status, refused.body.error_code]).toEqual([400, "INVALID_PARAMETER_VALUE"]);
    expect((await call("GET", `${V1}/models/gov`)).body.registeredModel.aliases).toEqual([{ alias: "champion", version: "1" }]);

    const dep = await call("POST", `${V1}/models/gov/versions/2/retire`, { state: "deprecated", reason: "use v3" });
    expect(dep.body.modelVersion.retirement).toMatchObject({ state: "deprecated", reason: "use v3" });
    expect((await call("PUT", `${V1}/models/gov/aliases/legacy`, { version: 2 })).status).toBe(200);

    const un = await call("POST", `${V1}/models/gov/versions/1/unretire`);
    expect([un.status, un.body.modelVersion.retirement]).toEqual([200, null]);
    expect((await call("PUT", `${V1}/models/gov/aliases/challenger`, { version: 1 })).status).toBe(200);
  });

  it("answers bad input with a 4xx and a code, and changes nothing", async () => {
    const cases: [string, string, unknown, number, string, RegExp?][] = [
      ["PUT", "models/gov/versions/1/signature", { signature: { inputs: [{ name: "x", dtype: "float128", shape: [1] }], outputs: [] } }, 400, "INVALID_PARAMETER_VALUE", /dtype/],
      ["PUT", "models/gov/versions/1/signature", { signature: { inputs: [{ name: "x", dtype: "int32", shape: [-2] }], outputs: [] } }, 400, "INVALID_PARAMETER_VALUE", /shape/],
      ["PUT", "models/gov/versions/1/signature", { signature: { inputs: [{ name: "x", dtype: "int32", shape: [1] }, { name: "x", dtype: "int32", shape: [1] }], outputs: [] } }, 400, "INVALID_PARAMETER_VALUE", /duplicate tensor name 'x'/],
      ["PUT", "models/gov/versions/1/signature", { signature: { inputs: [] } }, 400, "INVALID_PARAMETER_VALUE", /outputs/],
      ["POST", "models/gov/versions", { source: `runs:/${runId}/model`, signature: { inputs: "x", outputs: [] } }, 400, "INVALID_PARAMETER_VALUE", /signature/],
      ["PUT", "models/gov/versions/9/signature", { signature: null }, 404, "RESOURCE_DOES_NOT_EXIST"],
      ["GET", "models/gov/compatibility?from=1&to=9", undefined, 404, "RESOURCE_DOES_NOT_EXIST"],
      ["GET", "models/gov/compatibility?from=1", undefined, 400, "INVALID_PARAMETER_VALUE", /to/],
      ["GET", "models/nope/compatibility?from=1&to=2", undefined, 404, "RESOURCE_DOES_NOT_EXIST"],
      ["PUT", "models/gov/card", { riskClass: "extreme" }, 400, "INVALID_PARAMETER_VALUE", /riskClass/],
      ["PUT", "models/gov/card", { intendedUse: "x".repeat(20001) }, 400, "INVALID_PARAMETER_VALUE", /intendedUse/],
      ["PUT", "models/gov/card", { owners: [""] }, 400, "INVALID_PARAMETER_VALUE", /owners/],
      ["PUT", "models/gov/card", { version: 9 }, 404, "RESOURCE_DOES_NOT_EXIST"],
      ["PUT", "models/nope/card", {}, 404, "RESOURCE_DOES_NOT_EXIST"],
      ["GET", "models/gov/card?version=9", undefined, 404, "RESOURCE_DOES_NOT_EXIST"],
      ["POST", "models/gov/versions/1/retire", { state: "gone", reason: "x" }, 400, "INVALID_PARAMETER_VALUE", /state/],
      ["POST", "models/gov/versions/1/retire", { state: "archived", reason: "" }, 400, "INVALID_PARAMETER_VALUE", /reason/],
      ["POST", "models/gov/versions/9/retire", { state: "archived", reason: "x" }, 404, "RESOURCE_DOES_NOT_EXIST"],
      ["POST", "models/gov/versions/9/unretire", undefined, 404, "RESOURCE_DOES_NOT_EXIST"],
    ];
    const before = await call("GET", `${V1}/models/gov/versions/1`);
    const cardBefore = await call("GET", `${V1}/models/gov/card`);
    for (const [method, path, body, status, code, msg] of cases) {
      const r = await call(method, `${V1}/${path}`, body);
      expect([path, r.status, r.body.error_code]).toEqual([path, status, code]);
      if (msg) expect(r.body.message).toMatch(msg);
    }
    expect((await call("GET", `${V1}/models/gov/versions/1`)).body).toEqual(before.body);
    expect((await call("GET", `${V1}/models/gov/card`)).body).toEqual(cardBefore.body);
    expect((await call("POST", `${V1}/model-versions/search`, { filter: "name = 'gov'" })).body.modelVersions).toHaveLength(2);
  });
});
