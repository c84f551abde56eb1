/**
 * `cairn sweep` against a real server: four trials, two at once, of a one-step pipeline whose step
 * prints `::metric loss=(lr-0.1)^2`. Checks the sweep parent run, one child run per trial (params,
 * the objective metric, the sweep tags), the best trial (lowest loss), the `--json` report, and the
 * best trial's model registered from its output.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cairn, type RunData } from "@cairn/sdk";
import { startServer } from "../packages/server/src/server.js";
import { runCliExpect, writeFiles, type Exit } from "./processes.js";

let server: { url: string; close(): Promise<void> };
let dataDir: string;
let tmp: string;
let proj: string;
let env: Record<string, string>;
let sdk: Cairn;

const cairn = (args: string[], code: number): Promise<Exit> => runCliExpect(server.url, args, code, { env });
const write = writeFiles;

const metric = (r: RunData, key: string) => r.data.metrics.find((m) => m.key === key)?.value;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-sweep-data-"));
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-sweep-e2e-"));
  server = await startServer({ port: 0, dataDir, logLevel: "silent" });
  sdk = new Cairn({ url: server.url, handleExit: false });
  env = { CAIRN_CACHE_DIR: path.join(tmp, "cache") };
  proj = path.join(tmp, "proj");
  write(proj, {
    "train.js": `const fs = require("fs");
const lr = Number(process.argv[2]), depth = Number(process.argv[3]);
const loss = (lr - 0.1) ** 2;
console.log("::metric loss=" + (loss + 1) + " step=1");
fs.writeFileSync("model.txt", JSON.stringify({ lr, depth }) + "\\n");
console.log("::metric loss=" + loss);
`,
    "cairn.yaml": `name: sweepy
params: { lr: 0.5, depth: 3 }
steps:
  train:
    cmd: node train.js \${params.lr} \${params.depth}
    deps: [train.js]
    outs: [model.txt]
`,
    "space.yaml": "lr: { type: uniform, low: 0, high: 1 }\n",
  });
});

afterAll(async () => {
  await server?.close();
  for (const d of [dataDir, tmp]) if (d) fs.rmSync(d, { recursive: true, force: true });
});

describe("cairn sweep", () => {
  it("records a sweep run with a child run per trial, picks the lowest loss and registers its model", async () => {
    const res = await cairn(
      ["--json", "sweep", proj, "--space", path.join(proj, "space.yaml"), "--method", "random", "--seed", "7", "--trials", "4", "--parallel", "2", "--objective", "loss", "-p", "depth=5", "--register", "sweepy-model", "--model-path", "model.txt"],
      0,
    );
    const out = JSON.parse(res.stdout) as {
      sweepRunId: string;
      method: string;
      objective: string;
      direction: string;
      parallel: number;
      best: { trial: number; runId: string; objective: number; params: { lr: number } };
      registered: { name: string; version: string; source: string };
      trials: { trial: number; status: string; params: { lr: number }; objective: number | null; runId: string }[];
    };
    expect(out).toMatchObject({ method: "random", objective: "loss", direction: "minimize" });
    expect(out.trials).toHaveLength(4);
    expect(out.trials.every((t) => t.status === "completed")).toBe(true);
    expect(res.stderr).toMatch(/trial 1\/4 started: lr=/);
    expect(res.stderr).not.toMatch(/warning: tracking/);

    // The sweep run and its children.
    const sweepRun = await sdk.runs.get(out.sweepRunId);
    expect(sweepRun.info.status).toBe("FINISHED");
    expect(sweepRun.data.tags["cairn.sweep"]).toBe("parent");
    expect(sweepRun.data.tags["cairn.sweep.best_run"]).toBe(out.best.runId);
    const exp = await sdk.experiments.getByName("pipeline:sweepy");
    expect(sweepRun.info.experimentId).toBe(exp.experimentId);
    const children: RunData[] = [];
    for await (const r of sdk.runs.searchAll({ experimentIds: [exp.experimentId] })) {
      if (r.data.tags["mlflow.parentRunId"] === out.sweepRunId) children.push(r);
    }
    expect(children).toHaveLength(4);
    for (const c of children) {
      expect(c.info.status).toBe("FINISHED");
      expect(c.data.tags["cairn.sweep"]).toBe(out.sweepRunId);
      expect(c.data.tags["cairn.sweep.trial_status"]).toBe("completed");
      expect(c.data.params["depth"]).toBe("5");
      const lr = Number(c.data.params["lr"]);
      expect(lr).toBeGreaterThanOrEqual(0);
      expect(lr).toBeLessThanOrEqual(1);
      expect(metric(c, "loss")).toBeCloseTo((lr - 0.1) ** 2, 10);
      const t = out.trials.find((x) => x.runId === c.info.runId)!;
      expect(c.data.tags["cairn.sweep.trial"]).toBe(String(t.trial));
      expect(t.objective).toBeCloseTo(metric(c, "loss")!, 10);
      // The intermediate report (step 1) is in the history too; the final one comes after it.
      const history = await sdk.runs.getMetricHistory(c.info.runId, "loss");
      expect(history.map((m) => [m.step, m.value])).toEqual([
        [1, (lr - 0.1) ** 2 + 1],
        [2, metric(c, "loss")],
      ]);
    }
    // The trials differ, and the best is the lowest loss; the table's order is best first.
    expect(new Set(children.map((c) => c.data.params["lr"])).size).toBe(4);
    const lowest = children.reduce((a, b) => (metric(a, "loss")! <= metric(b, "loss")! ? a : b));
    expect(out.best.runId).toBe(lowest.info.runId);
    expect(out.trials[0]!.runId).toBe(lowest.info.runId);
    expect(metric(sweepRun, "loss")).toBeCloseTo(metric(lowest, "loss")!, 10);

    // The best trial's model, uploaded from its output and registered.
    expect(out.registered).toMatchObject({ name: "sweepy-model", source: `runs:/${out.best.runId}/model.txt` });
    const v = await sdk.models.getVersion("sweepy-model", out.registered.version);
    expect(v.runId).toBe(out.best.runId);
    const dl = fs.mkdtempSync(path.join(tmp, "dl-"));
    const local = await sdk.artifacts.download(out.best.runId, "model.txt", dl);
    const file = fs.statSync(local).isDirectory() ? path.join(local, "model.txt") : local;
    expect(JSON.parse(fs.readFileSync(file, "utf8"))).toEqual({ lr: out.best.params.lr, depth: 5 });
  }, 60_000);

  it("refuses a search-space param the pipeline does not declare (exit 2, nothing recorded)", async () => {
    write(proj, { "bad-space.yaml": "momentum: [0.9, 0.99]\n" });
    const res = await cairn(["sweep", proj, "--space", path.join(proj, "bad-space.yaml"), "--trials", "2", "--objective", "loss"], 2);
    expect(res.stderr).toMatch(/search space param "momentum" is not a param of pipeline sweepy/);
  }, 30_000);
});
