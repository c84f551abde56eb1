/**
 * Runs the example pipeline end to end with the built `cairn` CLI (`npm run build` first), in a
 * temporary copy of this directory so that no output lands in the repository: offline (outputs,
 * metrics, ONNX verification, the cache, a failing validation), then tracked on a real server
 * (dataset version, runs, metrics, the registered model version with its signature).
 */
import { spawn } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cairn } from "@cairn/sdk";
import { startServer } from "../../packages/server/src/server.js";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "../..");
const cli = join(repo, "packages/server/bin/cairn.js");
/** What `cairn run` and the build leave here; none of it is copied. */
const GENERATED = new Set(["data", "model", "metrics", "onnx", "registration.json", ".cairn", "dist", "node_modules"]);
const ROWS = 4000;

interface StepRow {
  name: string;
  status: string;
  error?: string;
}
interface RunJson {
  status: string;
  steps: StepRow[];
}

let work: string;
let pipelineDir: string;

interface Ran {
  code: number | null;
  json: RunJson | undefined;
  stderr: string;
}

/** Runs `cairn run` on the copy (asynchronously, so an in-process server keeps answering). */
function cairnRun(opts: { url?: string; cacheDir?: string }, ...extra: string[]): Promise<Ran> {
  const args = [cli, "--json", "run", pipelineDir, "--log-dir", join(work, "logs"), "-p", `rows=${ROWS}`, ...extra];
  if (!opts.url) args.push("--offline");
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CAIRN_CACHE_DIR: opts.cacheDir ?? join(work, "cache"),
    // Offline, an address nothing listens on: the register step must skip even if a server runs on the default port.
    CAIRN_URL: opts.url ?? "http://127.0.0.1:1",
  };
  delete env.CAIRN_RUN_ID;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("exit", (code) => {
      clearTimeout(timer);
      let json: RunJson | undefined;
      try {
        json = JSON.parse(stdout) as RunJson;
      } catch {
        json = undefined;
      }
      resolvePromise({ code, json, stderr });
    });
  });
}

const readJson = <T>(p: string): T => JSON.parse(readFileSync(join(pipelineDir, p), "utf8")) as T;
const statuses = (j: RunJson | undefined) => Object.fromEntries((j?.steps ?? []).map((s) => [s.name, s.status]));

beforeAll(() => {
  if (!existsSync(join(repo, "packages/server/dist"))) throw new Error("packages/server/dist is missing: run `npm run build` before this test");
  work = mkdtempSync(join(tmpdir(), "cairn-credit-risk-"));
  pipelineDir = join(work, "credit-risk");
  cpSync(here, pipelineDir, { recursive: true, filter: (src) => !GENERATED.has(relative(here, src).split(/[\\/]/)[0] ?? "") });
  // The steps import tsx, onnx-proto, onnxruntime-node and @cairn/sdk: resolve them from the repository.
  symlinkSync(join(repo, "node_modules"), join(pipelineDir, "node_modules"), "dir");
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("examples/credit-risk pipeline", () => {
  it("runs end to end offline, verifies the ONNX export and evaluates well above chance", { timeout: 150_000 }, async () => {
    const run = await cairnRun({});
    expect(run.code, run.stderr).toBe(0);
    expect(run.json?.status).toBe("succeeded");
    expect(statuses(run.json)).toEqual({
      generate: "succeeded",
      validate: "succeeded",
      featurize: "succeeded",
      train: "succeeded",
      evaluate: "succeeded",
      export: "succeeded",
      register: "succeeded",
    });

    const verification = readJson<{ passed: boolean; rows: number; maxAbsDiff: number }>("onnx/verification.json");
    expect(verification.passed).toBe(true);
    expect(verification.maxAbsDiff).toBeLessThan(1e-5);
    expect(existsSync(join(pipelineDir, "onnx/model.onnx"))).toBe(true);

    const holdout = readJson<{ n: number; rocAuc: number; confusionMatrix: number[][] }>("metrics/holdout.json");
    const holdoutRows = readFileSync(join(pipelineDir, "data/features/holdout.csv"), "utf8").trim().split("\n").length - 1;
    expect(holdout.n).toBe(holdoutRows);
    expect(holdoutRows).toBe(Math.round(ROWS * 0.2));
    expect(holdout.confusionMatrix.flat().reduce((a, b) => a + b, 0)).toBe(holdoutRows);
    expect(holdout.rocAuc).toBeGreaterThan(0.7);
    expect(verification.rows).toBe(holdoutRows);

    const cv = readJson<{ folds: number; perFold: unknown[]; summary: { rocAuc: { mean: number } } }>("metrics/cv.json");
    expect(cv.perFold).toHaveLength(5);
    expect(cv.summary.rocAuc.mean).toBeGreaterThan(0.7);

    const registration = readJson<{ registered: boolean; reason?: string }>("registration.json");
    expect(registration.registered).toBe(false);
    expect(registration.reason).toMatch(/no Cairn server reachable/);
  });

  it("restores every cacheable step from the cache on a second run, and reruns only what a param change touches", { timeout: 150_000 }, async () => {
    const again = await cairnRun({});
    expect(again.code, again.stderr).toBe(0);
    // register is `cache: false` on purpose (whether a server answers is not part of its key).
    expect(statuses(again.json)).toEqual({
      generate: "cached",
      validate: "cached",
      featurize: "cached",
      train: "cached",
      evaluate: "cached",
      export: "cached",
      register: "succeeded",
    });

    const changed = await cairnRun({}, "-p", "l2=0.01");
    expect(changed.code, changed.stderr).toBe(0);
    expect(statuses(changed.json)).toMatchObject({ generate: "cached", validate: "cached", featurize: "cached", train: "succeeded", evaluate: "succeeded", export: "succeeded" });
  });

  it("fails the validate step with a clear message when the data is implausible", { timeout: 150_000 }, async () => {
    const bad = await cairnRun({}, "-p", "default_rate=0.8");
    expect(bad.code).not.toBe(0);
    const s = statuses(bad.json);
    expect(s.generate).toBe("succeeded");
    expect(s.validate).toBe("failed");
    expect(s.train).toBe("skipped");
    const log = readFileSync(join(work, "logs", "validate.log"), "utf8");
    expect(log).toMatch(/failed validation .*\n\s+class balance: 8\d\.\d\d% of rows are defaults, outside the accepted \[2%, 50%\]/);
  });
});

describe("examples/credit-risk pipeline, tracked", () => {
  let server: { url: string; close(): Promise<void> } | undefined;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "cairn-credit-risk-server-"));
    server = await startServer({ port: 0, dataDir, logLevel: "silent" });
  });

  afterAll(async () => {
    await server?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it("records the dataset version, the runs and metrics, and registers the model with its signature once", { timeout: 150_000 }, async () => {
    const url = server!.url;
    // A fresh cache: steps restored from a cache upload no dataset versions.
    const cacheDir = join(work, "cache-tracked");
    const run = await cairnRun({ url, cacheDir });
    expect(run.code, run.stderr).toBe(0);

    const sdk = new Cairn({ url, handleExit: false });
    const { versions } = await sdk.datasets.listVersions("credit-raw");
    expect(versions.map((v) => v.number)).toEqual([1]);

    const model = await sdk.models.getVersion("credit-risk", 1);
    expect(model.status).toBe("READY");
    expect(model.flavors.map((f) => f.name)).toContain("onnx");
    expect(model.signature).toEqual({
      inputs: [{ name: "features", dtype: "float32", shape: [-1, 24] }],
      outputs: [
        { name: "probability", dtype: "float32", shape: [-1, 1] },
        { name: "label", dtype: "int64", shape: [-1, 1] },
      ],
    });

    const training = await sdk.runs.get(model.runId);
    expect(training.info.runName).toBe("credit-risk-training");
    expect(training.info.status).toBe("FINISHED");
    const metric = (key: string) => training.data.metrics.find((m) => m.key === key)?.value;
    expect(metric("holdout_roc_auc")).toBeGreaterThan(0.7);
    expect(metric("cv_roc_auc_mean")).toBeGreaterThan(0.7);
    expect(metric("onnx_max_abs_diff")).toBeLessThan(1e-5);
    expect(training.data.params.folds).toBe("5");

    const experiment = await sdk.experiments.getByName("pipeline:credit-risk");
    expect(training.info.experimentId).toBe(experiment.experimentId);
    const names: string[] = [];
    for await (const r of sdk.runs.searchAll({ experimentIds: [experiment.experimentId] })) names.push(r.info.runName);
    for (const step of ["generate", "validate", "featurize", "train", "evaluate", "export", "register", "credit-risk-training"]) expect(names).toContain(step);

    // Same inputs, same ONNX bytes: the second run finds version 1 instead of adding version 2.
    const again = await cairnRun({ url, cacheDir });
    expect(again.code, again.stderr).toBe(0);
    expect(readJson<{ existing: boolean; version: string }>("registration.json")).toMatchObject({ existing: true, version: "1" });
    const all = await sdk.models.searchVersions({ filter: "name = 'credit-risk'" });
    expect(all.modelVersions).toHaveLength(1);
  });
});
