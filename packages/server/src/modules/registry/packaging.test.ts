import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ModelSignature } from "@cairn/contract";
import { jsModuleFlavors, onnxFlavors, parseMLmodel, renderMLmodel, signatureFromMlflow } from "@cairn/contract/mlmodel";
import { LocalBlobStore } from "../../platform/blob/local-blob-store.js";
import { inspectModelPackage, PACKAGING_LIMITS } from "./packaging.js";

const fixtures = join(import.meta.dirname, "../../../test/fixtures/models");
const fixture = (name: string) => readFileSync(join(fixtures, name));
const tinySig: ModelSignature = { inputs: [{ name: "x", dtype: "float32", shape: [-1, 4] }], outputs: [{ name: "y", dtype: "float32", shape: [-1, 1] }] };

describe("MLmodel parse and render", () => {
  it("reads an MLmodel written by mlflow.onnx: both flavors in order, the tensor signature, its metadata", () => {
    const m = parseMLmodel(fixture("mlflow-onnx.MLmodel").toString());
    expect(m.flavors.map((f) => f.name)).toEqual(["onnx", "python_function"]);
    expect(m.flavors[0]!.details).toMatchObject({ data: "model.onnx", onnx_version: "1.15.0", providers: ["CUDAExecutionProvider", "CPUExecutionProvider"] });
    expect(m.signature).toEqual(tinySig);
    expect(m).toMatchObject({ modelUuid: "5f6c8c2b1d5e4f0e9a3f2b7c8d9e0a1b", runId: "0a1b2c3d4e5f60718293a4b5c6d7e8f9", artifactPath: "model", utcTimeCreated: "2024-02-20 10:11:12.131415" });
  });

  it("maps a column-based signature to [-1] tensors (double → float64, long → int64, required: false → optional, unnamed → index)", () => {
    const m = parseMLmodel(fixture("mlflow-sklearn.MLmodel").toString());
    expect(m.flavors.map((f) => f.name)).toEqual(["python_function", "sklearn"]);
    expect(m.signature).toEqual({
      inputs: [{ name: "sepal length (cm)", dtype: "float64", shape: [-1] }, { name: "count", dtype: "int64", shape: [-1], optional: true }],
      outputs: [{ name: "0", dtype: "int64", shape: [-1] }],
    });
  });

  it("drops a signature Cairn cannot represent, and refuses malformed files with a message naming the problem", () => {
    expect(signatureFromMlflow({ inputs: '[{"type": "binary", "name": "img"}]' })).toEqual({ dropped: expect.stringContaining("column type 'binary'") });
    const bad = (text: string) => () => parseMLmodel(text);
    expect(bad("flavors: [unclosed")).toThrow(/MLmodel: not valid YAML/);
    expect(bad("- a\n- b\n")).toThrow(/must be a YAML mapping/);
    expect(bad("run_id: x\n")).toThrow(/'flavors' must be a non-empty mapping/);
    expect(bad("flavors:\n  onnx: model.onnx\n")).toThrow(/flavor 'onnx' must be a mapping/);
    expect(bad("flavors:\n  onnx: {data: m.onnx}\nsignature:\n  inputs: 'not json'\n")).toThrow(/signature.inputs is not valid JSON/);
    expect(bad(`flavors:\n  onnx: {data: m.onnx}\nsignature:\n  inputs: '[{"type": "double", "name": "a"}, {"type": "long", "name": "a"}]'\n`)).toThrow(/duplicate tensor name 'a'/);
  });

  it("renders an MLmodel that MLflow's layout expects and that parses back to the same flavors and signature", () => {
    const text = renderMLmodel({ flavors: onnxFlavors("model.onnx"), signature: { ...tinySig, inputs: [...tinySig.inputs, { name: "s", dtype: "string", shape: [-1], optional: true }] }, modelUuid: "0123456789abcdef0123456789abcdef", time: new Date(Date.UTC(2026, 0, 31, 12, 0, 0, 5)), runId: "r1", artifactPath: "model" });
    expect(text).toContain("utc_time_created: 2026-01-31 12:00:00.005000");
    expect(text).toContain(`inputs: '[{"type":"tensor","tensor-spec":{"dtype":"float32","shape":[-1,4]},"name":"x"}`);
    expect(text).toMatch(/cairn:\n {2}format_version: 1/);
    const back = parseMLmodel(text);
    expect(back.flavors).toEqual(onnxFlavors("model.onnx"));
    expect(back.signature!.inputs[1]).toEqual({ name: "s", dtype: "string", shape: [-1], optional: true });
    expect(back).toMatchObject({ modelUuid: "0123456789abcdef0123456789abcdef", runId: "r1", artifactPath: "model", cairn: { format_version: 1 } });
    expect(parseMLmodel(renderMLmodel({ flavors: jsModuleFlavors("index.mjs"), modelUuid: "u" })).flavors).toEqual([{ name: "cairn_js", details: { entry: "index.mjs" } }]);
  });
});

describe("inspectModelPackage", () => {
  let dir: string;
  let blobs: LocalBlobStore;
  const put = (key: string, body: string | Buffer) => blobs.put(key, body);
  const mlmodel = (flavors: string, extra = "") => `flavors:\n${flavors}${extra}`;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "cairn-pkg-"));
    blobs = new LocalBlobStore(dir);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("is READY without flavors when there is no MLmodel (or the source is a single file)", async () => {
    await put("plain/weights.bin", "w");
    expect(await inspectModelPackage(blobs, "plain")).toEqual({ flavors: [], signature: null, status: "READY", statusMessage: "" });
    expect(await inspectModelPackage(blobs, "plain/weights.bin")).toMatchObject({ status: "READY", flavors: [] });
    expect(await inspectModelPackage(blobs, "absent")).toMatchObject({ status: "READY", flavors: [] });
  });

  it("loads an ONNX package and derives its signature from the model when the MLmodel declares none", async () => {
    await put("onnx/model.onnx", fixture("tiny.onnx"));
    await put("onnx/MLmodel", mlmodel("  onnx:\n    data: model.onnx\n"));
    expect(await inspectModelPackage(blobs, "onnx")).toEqual({ flavors: [{ name: "onnx", details: { data: "model.onnx" } }], signature: tinySig, status: "READY", statusMessage: "" });
  });

  it("prefers the declared signature, and checks only presence above the load limit", async () => {
    await put("big/model.onnx", fixture("tiny.onnx"));
    await put("big/MLmodel", mlmodel("  onnx:\n    data: model.onnx\n", `signature:\n  inputs: '[{"type": "double", "name": "a"}]'\n`));
    const r = await inspectModelPackage(blobs, "big", { ...PACKAGING_LIMITS, onnxLoadBytes: 10 });
    expect(r).toMatchObject({ status: "READY", signature: { inputs: [{ name: "a", dtype: "float64", shape: [-1] }], outputs: [] } });
    expect(r.statusMessage).toMatch(/only its presence was checked/);
  });

  it("fails registration, with a message, for a missing or unloadable model file, a bad path or a malformed MLmodel", async () => {
    const failed = async (key: string, files: Record<string, string | Buffer>, message: RegExp) => {
      for (const [k, v] of Object.entries(files)) await put(`${key}/${k}`, v);
      const r = await inspectModelPackage(blobs, key);
      expect(r.status).toBe("FAILED_REGISTRATION");
      expect(r.statusMessage).toMatch(message);
      expect(r.signature).toBeNull();
    };
    await failed("missing", { MLmodel: mlmodel("  onnx:\n    data: model.onnx\n") }, /flavor 'onnx': model file 'model.onnx' is missing from the package/);
    await failed("garbage", { MLmodel: mlmodel("  onnx:\n    data: model.onnx\n"), "model.onnx": "not a model" }, /'model.onnx' is not a loadable ONNX model/);
    await failed("escape", { MLmodel: mlmodel("  onnx:\n    data: ../onnx/model.onnx\n") }, /is not a path inside the package/);
    await failed("nodata", { MLmodel: mlmodel("  onnx:\n    providers: [CPUExecutionProvider]\n") }, /flavor 'onnx' needs 'data'/);
    await failed("js", { MLmodel: mlmodel("  cairn_js:\n    entry: index.mjs\n") }, /flavor 'cairn_js': model file 'index.mjs' is missing/);
    await failed("yaml", { MLmodel: "flavors: [" }, /^Invalid model package: MLmodel: not valid YAML/);
    await failed("huge", { MLmodel: `flavors: {a: {}}\n#${"x".repeat(PACKAGING_LIMITS.mlmodelBytes)}` }, /over the 1048576-byte limit/);
  });

  it("records flavors it does not run without checking them, and checks a JS module's entry", async () => {
    await put("js/index.mjs", "export function predict(x) { return x; }");
    await put("js/MLmodel", mlmodel("  cairn_js:\n    entry: index.mjs\n  sklearn:\n    pickled_model: model.pkl\n"));
    expect(await inspectModelPackage(blobs, "js")).toMatchObject({ status: "READY", statusMessage: "", flavors: [{ name: "cairn_js" }, { name: "sklearn" }], signature: null });
  });
});
