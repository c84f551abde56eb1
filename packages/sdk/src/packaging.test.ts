import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseMLmodel } from "@cairn/contract/mlmodel";
import { readSignatureFile, writeModelPackage } from "./packaging.js";

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "cairn-sdk-pkg-"));
  writeFileSync(join(tmp, "model.onnx"), "onnx bytes");
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("writeModelPackage", () => {
  it("copies an ONNX file from outside into the package and writes an MLmodel naming it", async () => {
    const sig = { inputs: [{ name: "x", dtype: "float32" as const, shape: [-1, 4] }], outputs: [] };
    const res = await writeModelPackage(join(tmp, "pkg"), { onnx: join(tmp, "model.onnx") }, { signature: sig });
    expect(res.dir).toBe(join(tmp, "pkg"));
    expect(readdirSync(res.dir).sort()).toEqual(["MLmodel", "model.onnx"]);
    const m = parseMLmodel(readFileSync(join(res.dir, "MLmodel"), "utf8"));
    expect(m.flavors.map((f) => [f.name, f.details.data])).toEqual([["onnx", "model.onnx"], ["python_function", "model.onnx"]]);
    expect(m.signature).toEqual(sig);
    expect(m.modelUuid).toMatch(/^[0-9a-f]{32}$/);
  });

  it("references an ONNX file already inside the package by its relative path, without copying", async () => {
    const dir = join(tmp, "inside");
    mkdirSync(join(dir, "weights"), { recursive: true });
    writeFileSync(join(dir, "weights/m.onnx"), "x");
    const res = await writeModelPackage(dir, { onnx: join(dir, "weights/m.onnx") });
    expect(res.flavors[0]!.details.data).toBe("weights/m.onnx");
    expect(readdirSync(dir).sort()).toEqual(["MLmodel", "weights"]);
  });

  it("packages a JS module in place and refuses a missing entry or another directory", async () => {
    const dir = join(tmp, "js");
    mkdirSync(dir);
    writeFileSync(join(dir, "main.mjs"), "export const predict = (x) => x;\n");
    expect((await writeModelPackage(undefined, { jsModule: dir, entry: "main.mjs" })).flavors).toEqual([{ name: "cairn_js", details: { entry: "main.mjs" } }]);
    expect(parseMLmodel(readFileSync(join(dir, "MLmodel"), "utf8")).flavors[0]!.name).toBe("cairn_js");
    await expect(writeModelPackage(undefined, { jsModule: dir })).rejects.toMatchObject({ code: "RESOURCE_DOES_NOT_EXIST" });
    await expect(writeModelPackage(join(tmp, "elsewhere"), { jsModule: dir, entry: "main.mjs" })).rejects.toMatchObject({ code: "INVALID_PARAMETER_VALUE" });
    await expect(writeModelPackage(undefined, { jsModule: dir, entry: "../model.onnx" })).rejects.toMatchObject({ code: "INVALID_PARAMETER_VALUE" });
  });
});

describe("readSignatureFile", () => {
  it("reads Cairn's and MLflow's forms and names the problem in a bad file", async () => {
    const write = (name: string, body: unknown) => {
      writeFileSync(join(tmp, name), typeof body === "string" ? body : JSON.stringify(body));
      return join(tmp, name);
    };
    const cairn = { inputs: [{ name: "a", dtype: "int64", shape: [-1] }], outputs: [] };
    expect(await readSignatureFile(write("c.json", cairn))).toEqual(cairn);
    expect(await readSignatureFile(write("m.json", { inputs: '[{"type": "long", "name": "a"}]' }))).toEqual(cairn);
    await expect(readSignatureFile(write("bad.json", "{"))).rejects.toThrow(/is not valid JSON/);
    await expect(readSignatureFile(write("dtype.json", { inputs: [{ name: "a", dtype: "int16", shape: [] }], outputs: [] }))).rejects.toThrow(/inputs\.0\.dtype/);
    await expect(readSignatureFile(join(tmp, "nope.json"))).rejects.toMatchObject({ code: "RESOURCE_DOES_NOT_EXIST" });
  });
});
