import { describe, expect, it } from "vitest";
import { Cairn } from "./cairn.js";
import { parseModelUri } from "./models.js";

describe("parseModelUri", () => {
  it("parses versions, aliases, latest and stages", () => {
    expect(parseModelUri("models:/fraud/3")).toEqual({ name: "fraud", version: 3 });
    expect(parseModelUri("models:/fraud@champion")).toEqual({ name: "fraud", alias: "champion" });
    expect(parseModelUri("models:/team/fraud@champion")).toEqual({ name: "team/fraud", alias: "champion" });
    expect(parseModelUri("models:/fraud/latest")).toEqual({ name: "fraud", latest: true });
    expect(parseModelUri("models:/fraud/Production")).toEqual({ name: "fraud", stage: "Production" });
  });

  it("refuses anything else with INVALID_PARAMETER_VALUE", () => {
    for (const bad of ["fraud@champion", "models:/fraud", "models://fraud/1", "models:/fraud/0", "models:/fraud/champion", "runs:/abc/model"]) {
      expect(() => parseModelUri(bad), bad).toThrow(expect.objectContaining({ name: "CairnError", code: "INVALID_PARAMETER_VALUE" }));
    }
  });
});

describe("Models", () => {
  it("refuses a bad version number before any request", async () => {
    let calls = 0;
    const cairn = new Cairn({ url: "http://127.0.0.1:9", handleExit: false, fetch: async () => (calls++, new Response("{}")) });
    await expect(cairn.models.getVersion("m", "v2")).rejects.toMatchObject({ code: "INVALID_PARAMETER_VALUE" });
    await expect(cairn.models.setAlias("m", "a", 0)).rejects.toMatchObject({ code: "INVALID_PARAMETER_VALUE" });
    expect(calls).toBe(0);
  });

  it("records a runs:/ source's run as the version's run id", async () => {
    const bodies: unknown[] = [];
    const fetchFake: typeof fetch = async (_url, init) => {
      bodies.push(JSON.parse(String(init?.body)));
      return new Response(JSON.stringify({ modelVersion: { version: "1" } }), { status: 201, headers: { "content-type": "application/json" } });
    };
    const cairn = new Cairn({ url: "http://127.0.0.1:9", handleExit: false, fetch: fetchFake });
    await cairn.models.createVersion({ name: "m", source: "runs:/abc123/model" });
    await cairn.models.createVersion({ name: "m", source: "runs:/abc123/model", runId: "other" });
    await cairn.models.createVersion({ name: "m", source: "mlflow-artifacts:/x/y" });
    expect(bodies).toEqual([{ source: "runs:/abc123/model", runId: "abc123" }, { source: "runs:/abc123/model", runId: "other" }, { source: "mlflow-artifacts:/x/y" }]);
  });
});
