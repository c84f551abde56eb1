/**
 * Model packages through the SDK (`cairn.models.logModel` / `register`) and the CLI
 * (`cairn models package`, `cairn models register --path`) against a real server: MLmodel files
 * written, flavors and signatures read back by the server, failed registrations reported.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseMLmodel } from "@cairn/contract/mlmodel";
import { Cairn } from "@cairn/sdk";
import { startServer } from "../packages/server/src/server.js";
import { ROOT, runCli } from "./processes.js";

const TINY_ONNX = path.join(ROOT, "packages/server/test/fixtures/models/tiny.onnx");
const tinySig = { inputs: [{ name: "x", dtype: "float32", shape: [-1, 4] }], outputs: [{ name: "y", dtype: "float32", shape: [-1, 1] }] };

let server: { url: string; close(): Promise<void> };
let dataDir: string;
let tmp: string;
let cairn: Cairn;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-e2e-pkg-data-"));
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-e2e-pkg-"));
  server = await startServer({ port: 0, dataDir, logLevel: "silent" });
  cairn = new Cairn({ url: server.url, handleExit: false });
});

afterAll(async () => {
  await server?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
  fs.rmSync(tmp, { recursive: true, force: true });
});


const cli = (...args: string[]) => runCli(server.url, args);

describe("model packages through the SDK", () => {
  it("logs an ONNX model into a run and registers it: READY, onnx flavor, signature derived by the server", async () => {
    const run = await cairn.startRun({ experiment: "e2e-packaging", captureContext: false });
    const logged = await cairn.models.logModel(run.id, { onnx: TINY_ONNX });
    expect(logged).toMatchObject({ source: `runs:/${run.id}/model`, artifactPath: "model", flavors: [{ name: "onnx", details: { data: "tiny.onnx" } }, { name: "python_function" }] });
    expect((await cairn.artifacts.list(run.id, "model")).map((e) => e.path)).toEqual(["model/MLmodel", "model/tiny.onnx"]);
    const dest = await cairn.artifacts.download(run.id, "model/MLmodel", tmp);
    const manifest = parseMLmodel(fs.readFileSync(dest, "utf8"));
    expect(manifest).toMatchObject({ runId: run.id, artifactPath: "model", signature: null, cairn: { format_version: 1, created_by: "cairn-sdk" } });
    expect(manifest.modelUuid).toMatch(/^[0-9a-f]{32}$/);

    const v = await cairn.models.register("e2e-onnx", { runId: run.id, model: { onnx: TINY_ONNX }, artifactPath: "packaged", description: "tiny" });
    expect(v).toMatchObject({ name: "e2e-onnx", version: "1", status: "READY", source: `runs:/${run.id}/packaged`, runId: run.id, signature: tinySig });
    expect(v.flavors.map((f) => f.name)).toEqual(["onnx", "python_function"]);
    await run.end();
  });

  it("registers a JS module with a declared signature, and a broken package as FAILED_REGISTRATION", async () => {
    const dir = path.join(tmp, "js-model");
    fs.mkdirSync(path.join(dir, "lib"), { recursive: true });
    fs.writeFileSync(path.join(dir, "index.mjs"), 'export { predict } from "./lib/predict.mjs";\n');
    fs.writeFileSync(path.join(dir, "lib/predict.mjs"), "export function predict(x) { return x.map((r) => r[0]); }\n");
    const sig = { inputs: [{ name: "rows", dtype: "float64" as const, shape: [-1, 2] }], outputs: [{ name: "first", dtype: "float64" as const, shape: [-1] }] };
    const run = await cairn.startRun({ experiment: "e2e-packaging", captureContext: false });
    const v = await cairn.models.register("e2e-js", { runId: run.id, model: { jsModule: dir }, signature: sig });
    expect(v).toMatchObject({ status: "READY", flavors: [{ name: "cairn_js", details: { entry: "index.mjs" } }], signature: sig });
    expect(fs.existsSync(path.join(dir, "MLmodel"))).toBe(false);

    // An ONNX flavor naming a file that is not there.
    await cairn.artifacts.upload(run.id, path.join(tmp, "js-model", "index.mjs"), "broken");
    fs.writeFileSync(path.join(tmp, "MLmodel"), "flavors:\n  onnx:\n    data: model.onnx\n");
    await cairn.artifacts.upload(run.id, path.join(tmp, "MLmodel"), "broken");
    const bad = await cairn.models.createVersion({ name: "e2e-js", source: `runs:/${run.id}/broken` });
    expect(bad).toMatchObject({ version: "2", status: "FAILED_REGISTRATION", statusMessage: expect.stringContaining("'model.onnx' is missing") });
    await expect(cairn.models.logModel(run.id, { jsModule: dir, entry: "main.mjs" })).rejects.toMatchObject({ code: "RESOURCE_DOES_NOT_EXIST" });
    await run.end();
  });
});

describe("model packages through the CLI", () => {
  it("packages an ONNX model, registers the directory in one go and shows its flavors", async () => {
    const sigFile = path.join(tmp, "sig.json");
    fs.writeFileSync(sigFile, JSON.stringify({ inputs: '[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}, "name": "features"}]', outputs: '[{"type": "double", "name": "score"}]' }));
    const pkg = path.join(tmp, "cli-pkg");
    const packaged = await cli("models", "package", pkg, "--onnx", TINY_ONNX, "--signature", sigFile);
    expect(packaged.stderr).toBe("");
    expect(packaged.code).toBe(0);
    expect(packaged.stdout).toContain("(flavors: onnx, python_function)");
    expect(fs.readdirSync(pkg).sort()).toEqual(["MLmodel", "tiny.onnx"]);

    const reg = await cli("--json", "models", "register", "e2e-cli-pkg", "--path", pkg, "--experiment", "e2e-packaging-cli");
    expect(reg.code).toBe(0);
    const out = JSON.parse(reg.stdout) as { createdModel: boolean; modelVersion: { status: string; runId: string; source: string; signature: unknown; flavors: { name: string }[] } };
    expect(out).toMatchObject({ createdModel: true, modelVersion: { status: "READY", source: `runs:/${out.modelVersion.runId}/model` } });
    expect(out.modelVersion.signature).toEqual({ inputs: [{ name: "features", dtype: "float32", shape: [-1, 4] }], outputs: [{ name: "score", dtype: "float64", shape: [-1] }] });
    expect((await cairn.runs.get(out.modelVersion.runId)).info.status).toBe("FINISHED");

    const show = await cli("models", "show", "e2e-cli-pkg");
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(/\nVERSION\s+ALIASES\s+STAGE\s+STATUS\s+FLAVORS\s+RUN ID\s+SOURCE\s+CREATED\n\s*1\s+-\s+None\s+READY\s+onnx, python_function\s+/);
  });

  it("registers into a given run, exits 1 for a package that fails registration, and 2 for usage errors", async () => {
    const run = await cairn.startRun({ experiment: "e2e-packaging-cli", captureContext: false });
    const broken = path.join(tmp, "cli-broken");
    fs.mkdirSync(broken);
    fs.writeFileSync(path.join(broken, "MLmodel"), "flavors:\n  cairn_js:\n    entry: index.mjs\n");
    const reg = await cli("models", "register", "e2e-cli-pkg", "--path", broken, "--run", run.id, "--artifact-path", "broken");
    expect(reg.code).toBe(1);
    expect(reg.stdout).toContain("Registered 'e2e-cli-pkg' version 2 (cairn_js)");
    expect(reg.stderr).toContain("error: FAILED_REGISTRATION: Invalid model package: flavor 'cairn_js': model file 'index.mjs' is missing");
    const show = await cli("models", "show", "e2e-cli-pkg");
    expect(show.stdout).toMatch(/\nVERSION\s+STATUS\s+MESSAGE\n\s*2\s+FAILED_REGISTRATION\s+Invalid model package/);
    await run.end();

    expect((await cli("models", "package", path.join(tmp, "x"))).code).toBe(2);
    expect((await cli("models", "package", path.join(tmp, "x"), "--onnx", TINY_ONNX, "--js", "index.mjs")).code).toBe(2);
    expect((await cli("models", "register", "e2e-cli-pkg")).code).toBe(2);
    expect((await cli("models", "register", "e2e-cli-pkg", "runs:/x/model", "--path", broken)).code).toBe(2);
    const missing = await cli("models", "package", path.join(tmp, "y"), "--onnx", path.join(tmp, "nope.onnx"));
    expect([missing.code, missing.stderr]).toEqual([1, expect.stringContaining("error: RESOURCE_DOES_NOT_EXIST")]);
  });
});
