/**
 * `cairn model dockerfile` against a real (in-process) Cairn server: the build context holds the
 * downloaded model package, its metadata, the vendored Cairn packages and a Dockerfile; the generated
 * `serve-local.mjs` serves the package with no Cairn server (no Docker engine runs here: the script is
 * run directly, its serving modules taken from the sources through a shim). Also `ModelHost.loadDirectory`.
 */
import fs from "node:fs";
import { logisticOnnxFile } from "./models.js";
import os from "node:os";
import path from "node:path";
import net from "node:net";
import { spawn, type ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cairn } from "@cairn/sdk";
import { onnxSignature } from "../examples/credit-risk/src/onnx-export.js";
import { startServer } from "../packages/server/src/server.js";
import { ModelHost } from "../packages/server/src/modules/serving/model-host.js";
import { writeServingImageContext } from "../packages/server/src/modules/serving/export.js";
import { ROOT, runCli } from "./processes.js";

const D = 3;
let server: { url: string; close(): Promise<void> };
let tmp: string;
let sdk: Cairn;
let local: ChildProcess | undefined;

const onnxFile = (weights: number[], bias: number, name: string) => logisticOnnxFile(tmp, weights, bias, name);

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const p = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(p));
    });
  });
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-serve-export-e2e-"));
  server = await startServer({ port: 0, dataDir: path.join(tmp, "data"), logLevel: "silent" });
  sdk = new Cairn({ url: server.url, handleExit: false });
  for (const [w, b] of [
    [[1, -2, 0.5], 0.1],
    [[-1, 2, -0.5], -0.1],
  ] as const) {
    const run = await sdk.startRun({ experiment: "serving-export" });
    await sdk.models.register("scorer", { runId: run.id, model: { onnx: onnxFile([...w], b, `m${b}.onnx`) }, signature: onnxSignature(D) });
    await run.end();
  }
  await sdk.models.setAlias("scorer", "champion", 1);
});

afterAll(async () => {
  local?.kill("SIGKILL");
  await server?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe("cairn model dockerfile (e2e)", () => {
  it("writes a build context: Dockerfile, model package, metadata, vendored packages, README", async () => {
    const dir = path.join(tmp, "ctx");
    const ctx = await writeServingImageContext({ cairn: sdk, model: "models:/scorer@champion", outDir: dir, port: 9090 });
    expect(ctx).toMatchObject({ dir, name: "scorer", version: "1" });
    for (const f of ctx.files) expect(fs.existsSync(path.join(dir, f)), f).toBe(true);

    const docker = fs.readFileSync(path.join(dir, "Dockerfile"), "utf8");
    const lines = docker.split("\n").filter((l) => l !== "" && !l.startsWith("#"));
    expect(lines[0]).toBe("FROM node:20-slim");
    expect(lines).toContain("COPY model/ ./model/");
    expect(lines).toContain("COPY vendor/ ./vendor/");
    expect(lines).toContain("COPY cairn-model.json serve-local.mjs ./");
    expect(lines.some((l) => /^RUN npm install .*--omit=dev/.test(l))).toBe(true);
    expect(lines).toContain("EXPOSE 9090");
    expect(lines.find((l) => l.startsWith("HEALTHCHECK"))).toMatch(/\/v2\/health\/ready/);
    expect(lines.at(-1)).toBe('CMD ["node", "/app/serve-local.mjs"]');
    // Every COPY source is in the context.
    for (const l of lines.filter((x) => x.startsWith("COPY "))) for (const src of l.split(" ").slice(1, -1)) expect(fs.existsSync(path.join(dir, src)), src).toBe(true);

    // The model package as `models download` writes it, pinned to the version the alias named.
    expect(fs.readFileSync(path.join(dir, "model", "MLmodel"), "utf8")).toMatch(/onnx/);
    const meta = JSON.parse(fs.readFileSync(path.join(dir, "cairn-model.json"), "utf8"));
    expect(meta).toMatchObject({ uri: "models:/scorer@champion", name: "scorer", version: "1", signature: onnxSignature(D) });

    const app = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
    expect(app.dependencies).toEqual({ "@cairn/contract": "file:./vendor/contract", "@cairn/sdk": "file:./vendor/sdk", "@cairn/server": "file:./vendor/server" });
    for (const p of ["contract", "sdk", "server"]) {
      expect(JSON.parse(fs.readFileSync(path.join(dir, "vendor", p, "package.json"), "utf8")).name).toBe(`@cairn/${p}`);
      expect(fs.existsSync(path.join(dir, "vendor", p, "dist", "index.js"))).toBe(true);
    }
    expect(fs.existsSync(path.join(dir, "vendor", "server", "dist", "modules", "serving", "serve-app.js"))).toBe(true);
    expect(fs.readFileSync(path.join(dir, "README.md"), "utf8")).toContain("docker build -t scorer:1 .");
  });

  it("ModelHost.loadDirectory serves the baked-in package without a Cairn client", async () => {
    const dir = path.join(tmp, "ctx");
    const host = new ModelHost({ cacheDir: path.join(tmp, "unused-cache"), batching: { maxBatchSize: 8, maxLatencyMs: 1 } });
    await expect(host.load("models:/scorer@champion")).rejects.toMatchObject({ code: "INVALID_STATE" });
    const meta = JSON.parse(fs.readFileSync(path.join(dir, "cairn-model.json"), "utf8"));
    const m = await host.loadDirectory(path.join(dir, "model"), { name: meta.name, version: meta.version, signature: meta.signature });
    expect([m.name, m.version, m.platform, host.current?.version, host.lastError]).toEqual(["scorer", "1", "onnxruntime", "1", undefined]);
    const { outputs } = await host.infer([{ name: "features", datatype: "FP32", shape: [1, D], data: new Float32Array([1, 0, 0]) }]);
    expect(Number(outputs.find((o) => o.name === "probability")!.data[0])).toBeCloseTo(sigmoid(1.1), 5);
    await expect(host.loadDirectory(path.join(tmp, "nowhere"), { name: "x", version: "1", signature: null })).rejects.toMatchObject({ code: "INVALID_PARAMETER_VALUE" });
    // A failed load leaves the current version serving.
    expect(host.current?.version).toBe("1");
    await host.close();
  });

  it("serve-local.mjs serves the package over the Open Inference Protocol", async () => {
    const dir = path.join(tmp, "ctx");
    // The image imports `@cairn/server`'s built dist; here the same modules come from the sources.
    const shim = path.join(tmp, "shim", "dist", "modules", "serving");
    fs.mkdirSync(shim, { recursive: true });
    for (const m of ["model-host", "serve-app"]) fs.writeFileSync(path.join(shim, `${m}.js`), `export * from ${JSON.stringify(path.join(ROOT, "packages/server/src/modules/serving", `${m}.ts`))};\n`);
    const port = await freePort();
    let log = "";
    local = spawn(process.execPath, ["--conditions=@cairn/source", "--import", "tsx", path.join(dir, "serve-local.mjs")], {
      cwd: ROOT,
      env: { ...process.env, CAIRN_SERVER_ROOT: path.join(tmp, "shim"), PORT: String(port), HOST: "127.0.0.1" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    local.stderr!.on("data", (d: Buffer) => (log += d.toString()));
    const url = `http://127.0.0.1:${port}`;
    let ready = false;
    for (let i = 0; i < 300 && !ready; i++) {
      if (local.exitCode !== null) throw new Error(`serve-local.mjs exited: ${log}`);
      ready = await fetch(`${url}/v2/health/ready`).then(
        (r) => r.ok,
        () => false,
      );
      if (!ready) await new Promise((r) => setTimeout(r, 100));
    }
    expect(ready, log).toBe(true);
    expect(log).toContain("serving scorer version 1 (onnxruntime) from models:/scorer@champion");
    const res = await fetch(`${url}/v2/models/scorer/infer`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ inputs: [{ name: "features", datatype: "FP32", shape: [1, D], data: [0, 1, 2] }] }) });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { model_version: string; outputs: { name: string; data: number[] }[] };
    expect(body.model_version).toBe("1");
    expect(body.outputs.find((o) => o.name === "probability")!.data[0]).toBeCloseTo(sigmoid(-2 + 1 + 0.1), 5);
    expect((await fetch(`${url}/metrics`)).status).toBe(200);
    local.kill("SIGTERM");
  });

  it("the CLI: `cairn model dockerfile` (the registry's `models` group answers to `model`), --json, errors", async () => {
    const out = path.join(tmp, "ctx-cli");
    const human = await runCli(server.url, ["model", "dockerfile", "models:/scorer/2", "--out", out]);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toContain(`wrote a build context for scorer version 2 to ${out}`);
    expect(fs.readFileSync(path.join(out, "Dockerfile"), "utf8")).toContain("EXPOSE 8080");
    const json = await runCli(server.url, ["--json", "models", "dockerfile", "models:/scorer@champion", "--out", out, "--base", "node:20-bookworm-slim"]);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ dir: out, name: "scorer", version: "1" });
    expect(fs.readFileSync(path.join(out, "Dockerfile"), "utf8")).toMatch(/^FROM node:20-bookworm-slim$/m);
    const missing = await runCli(server.url, ["model", "dockerfile", "models:/nope@champion", "--out", path.join(tmp, "ctx-missing")]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/RESOURCE_DOES_NOT_EXIST/);
    const bad = await runCli(server.url, ["model", "dockerfile", "scorer", "--out", path.join(tmp, "ctx-bad")]);
    expect(bad.code).toBe(2);
  });
});
