import { describe, expect, it } from "vitest";
import type { Deployment } from "@cairn/contract";
import { Cairn } from "./cairn.js";

interface Call {
  method: string;
  url: string;
  body: unknown;
  headers: Record<string, string>;
}

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });

/** A client whose fetch records each call and answers with `answer(call)`. */
function fake(answer: (c: Call, n: number) => Response) {
  const calls: Call[] = [];
  const fetchFake: typeof fetch = async (input, init) => {
    const c: Call = { method: init?.method ?? "GET", url: String(input), body: init?.body === undefined ? undefined : JSON.parse(String(init.body)), headers: { ...(init?.headers as Record<string, string>) } };
    calls.push(c);
    return answer(c, calls.length);
  };
  const cairn = new Cairn({ url: "http://cairn.test:5005/", token: "tok", handleExit: false, fetch: fetchFake, retry: { retries: 0 } });
  return { cairn, calls };
}

function deployment(over: Partial<Deployment> = {}): Deployment {
  return {
    name: "fraud",
    description: "",
    spec: { model: "fraud", primary: { version: "1" }, canary: null, shadow: null, stickyHeader: null, autoRollout: null, batching: { maxBatchSize: 32, maxLatencyMs: 2 }, logSample: 1, allowNaN: false },
    revision: 1,
    createdAt: 1,
    updatedAt: 1,
    createdBy: "anonymous",
    state: "ready",
    arms: [{ arm: "primary", ref: { version: "1" }, version: "1", state: "ready", servingVersion: "1" }],
    ...over,
  };
}

describe("Deployments: control plane", () => {
  it("calls each route with its path, method, query and body", async () => {
    const { cairn, calls } = fake((c) => {
      if (c.url.endsWith("/history") || c.url.includes("/history?")) return json({ history: [], next: 3 });
      if (c.url.includes("/stats")) return json({ name: "fraud", windowSeconds: 60, arms: [], series: [], recent: [], shadowDropped: 0 });
      if (c.method === "GET" && c.url.includes("/api/v1/deployments?")) return json({ deployments: [deployment()] });
      if (c.method === "GET" && c.url.endsWith("/api/v1/deployments")) return json({ deployments: [] });
      if (c.method === "DELETE") return json({});
      return json(deployment(), c.method === "POST" && c.url.endsWith("/deployments") ? 201 : 200);
    });
    const d = cairn.deployments;
    await d.create({ name: "fraud", model: "fraud", primary: { alias: "champion" }, canary: { version: 2, percent: 10 } });
    await d.get("fraud");
    expect(await d.list()).toEqual([]);
    expect(await d.list({ model: "fraud" })).toHaveLength(1);
    await d.update("fraud", { shadow: { version: 3 }, canary: null, message: "why" });
    await d.delete("fraud");
    await d.promoteCanary("fraud");
    await d.promoteCanary("fraud", { message: "good" });
    await d.rollback("fraud");
    await d.rollback("fraud", { toRevision: 2, message: "back" });
    expect(await d.history("fraud", { limit: 5, before: 9 })).toEqual({ history: [], next: 3 });
    await d.history("fraud");
    await d.stats("fraud", { windowSeconds: 60 });
    const B = "http://cairn.test:5005/api/v1/deployments";
    expect(calls.map((c) => [c.method, c.url, c.body])).toEqual([
      ["POST", B, { name: "fraud", model: "fraud", primary: { alias: "champion" }, canary: { version: 2, percent: 10 } }],
      ["GET", `${B}/fraud`, undefined],
      ["GET", B, undefined],
      ["GET", `${B}?model=fraud`, undefined],
      ["PATCH", `${B}/fraud`, { shadow: { version: 3 }, canary: null, message: "why" }],
      ["DELETE", `${B}/fraud`, undefined],
      ["POST", `${B}/fraud/promote-canary`, {}],
      ["POST", `${B}/fraud/promote-canary`, { message: "good" }],
      ["POST", `${B}/fraud/rollback`, {}],
      ["POST", `${B}/fraud/rollback`, { toRevision: 2, message: "back" }],
      ["GET", `${B}/fraud/history?limit=5&before=9`, undefined],
      ["GET", `${B}/fraud/history`, undefined],
      ["GET", `${B}/fraud/stats?windowSeconds=60`, undefined],
    ]);
    expect(calls.every((c) => c.headers.authorization === "Bearer tok")).toBe(true);
  });

  it("rebuilds the server's error as a typed CairnError", async () => {
    const { cairn } = fake(() => json({ error_code: "RESOURCE_DOES_NOT_EXIST", message: "Deployment 'nope' not found" }, 404));
    await expect(cairn.deployments.get("nope")).rejects.toMatchObject({ name: "CairnError", code: "RESOURCE_DOES_NOT_EXIST", status: 404, message: "Deployment 'nope' not found" });
  });
});

describe("Deployments: data plane", () => {
  it("predict posts the OIP body to /deployments/{name}/v2/models/{name}/infer and reads who answered from the headers", async () => {
    const { cairn, calls } = fake(() => json({ model_name: "fraud", model_version: "2", id: "r1", outputs: [{ name: "y", datatype: "FP32", shape: [1], data: [0.5] }] }, 200, { "x-request-id": "r1", "x-cairn-arm": "canary", "x-cairn-model-version": "2" }));
    const body = { id: "r1", inputs: [{ name: "x", datatype: "FP32", shape: [1, 2], data: [1, 2] }] };
    const p = await cairn.deployments.predict("fraud", body, { headers: { "x-user-id": "u42" } });
    expect(p).toEqual({ response: { model_name: "fraud", model_version: "2", id: "r1", outputs: [{ name: "y", datatype: "FP32", shape: [1], data: [0.5] }] }, requestId: "r1", arm: "canary", version: "2" });
    expect(calls).toEqual([
      { method: "POST", url: "http://cairn.test:5005/deployments/fraud/v2/models/fraud/infer", body, headers: { authorization: "Bearer tok", "x-user-id": "u42", "content-type": "application/json" } },
    ]);
  });

  it("predict leaves absent headers undefined; invoke posts to /deployments/{name}/invocations", async () => {
    const { cairn, calls } = fake(() => json({ predictions: [1] }, 200, { "x-cairn-arm": "shadow" }));
    const p = await cairn.deployments.invoke("fraud", { instances: [[1, 2]] });
    expect(p).toEqual({ response: { predictions: [1] }, requestId: undefined, arm: undefined, version: undefined });
    expect(calls[0]).toMatchObject({ method: "POST", url: "http://cairn.test:5005/deployments/fraud/invocations", body: { instances: [[1, 2]] } });
  });

  it("a data-plane error body becomes a typed CairnError", async () => {
    const { cairn } = fake(() => json({ error: "input 'x': wrong shape", code: "INVALID_PARAMETER_VALUE", error_code: "INVALID_PARAMETER_VALUE", message: "input 'x': wrong shape" }, 400));
    await expect(cairn.deployments.predict("fraud", { inputs: [] })).rejects.toMatchObject({ code: "INVALID_PARAMETER_VALUE", message: "input 'x': wrong shape" });
  });

  it("an unreachable server is TEMPORARILY_UNAVAILABLE", async () => {
    const cairn = new Cairn({ url: "http://cairn.test", handleExit: false, fetch: async () => Promise.reject(new TypeError("fetch failed")) });
    await expect(cairn.deployments.predict("fraud", { inputs: [] })).rejects.toMatchObject({ code: "TEMPORARILY_UNAVAILABLE" });
  });
});

describe("Deployments.waitUntilReady", () => {
  const loading = deployment({ state: "loading", arms: [{ arm: "primary", ref: { version: "1" }, version: "1", state: "loading", servingVersion: null }] });

  it("polls until the deployment is ready", async () => {
    const { cairn, calls } = fake((_c, n) => json(n < 3 ? loading : deployment({ revision: 7 })));
    const d = await cairn.deployments.waitUntilReady("fraud", { timeoutMs: 5_000, intervalMs: 1 });
    expect(d.revision).toBe(7);
    expect(calls).toHaveLength(3);
    expect(calls.every((c) => c.method === "GET" && c.url === "http://cairn.test:5005/api/v1/deployments/fraud")).toBe(true);
  });

  it("throws INVALID_STATE with the deployment's error when an arm failed and nothing serves", async () => {
    const failed = deployment({ state: "failed", error: "version 1: cannot read model.onnx", arms: [{ arm: "primary", ref: { version: "1" }, version: "1", state: "failed", servingVersion: null, error: "cannot read model.onnx" }] });
    const { cairn } = fake((_c, n) => json(n < 2 ? loading : failed));
    await expect(cairn.deployments.waitUntilReady("fraud", { timeoutMs: 5_000, intervalMs: 1 })).rejects.toMatchObject({ code: "INVALID_STATE", message: expect.stringContaining("version 1: cannot read model.onnx") });
    // A failed canary with nothing in its place fails too, though the primary serves (state degraded).
    const deadCanary = deployment({
      state: "degraded",
      arms: [
        { arm: "primary", ref: { version: "1" }, version: "1", state: "ready", servingVersion: "1" },
        { arm: "canary", ref: { version: "2" }, version: "2", percent: 10, state: "failed", servingVersion: null, error: "bad flavor" },
      ],
    });
    const second = fake(() => json(deadCanary));
    await expect(second.cairn.deployments.waitUntilReady("fraud", { timeoutMs: 5_000, intervalMs: 1 })).rejects.toMatchObject({ code: "INVALID_STATE", message: expect.stringMatching(/canary version 2.*bad flavor/) });
  });

  it("keeps waiting while a failed arm's older version still serves, then times out with TEMPORARILY_UNAVAILABLE", async () => {
    const degraded = deployment({ state: "degraded", error: "version 2: boom", arms: [{ arm: "primary", ref: { alias: "champion" }, version: "2", state: "failed", servingVersion: "1", error: "boom" }] });
    const { cairn, calls } = fake(() => json(degraded));
    const started = Date.now();
    await expect(cairn.deployments.waitUntilReady("fraud", { timeoutMs: 60, intervalMs: 10 })).rejects.toMatchObject({ code: "TEMPORARILY_UNAVAILABLE", message: expect.stringContaining("not ready") });
    expect(Date.now() - started).toBeGreaterThanOrEqual(50);
    expect(calls.length).toBeGreaterThan(1);
  });

  it("an unknown deployment is RESOURCE_DOES_NOT_EXIST at once", async () => {
    const { cairn, calls } = fake(() => json({ error_code: "RESOURCE_DOES_NOT_EXIST", message: "no such deployment" }, 404));
    await expect(cairn.deployments.waitUntilReady("nope", { timeoutMs: 5_000, intervalMs: 1 })).rejects.toMatchObject({ code: "RESOURCE_DOES_NOT_EXIST" });
    expect(calls).toHaveLength(1);
  });
});
