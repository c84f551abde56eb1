/**
 * `cairn run` against a real server: the pipeline run is a parent tracking run with a child run per
 * step (params, cache tags, status, duration, the step's log as an artifact), a `data:` dep is the
 * step run's input and a `dataset:` output a new version produced by it (the lineage graph), a second
 * run is a cache hit, and a failing step fails its run and the parent.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cairn, type LineageGraph, type RunData } from "@cairn/sdk";
import { buildManifest } from "../packages/server/src/modules/datasets/manifest.js";
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

async function childRuns(experimentId: string, parent: string): Promise<Record<string, RunData>> {
  const out: Record<string, RunData> = {};
  for await (const r of sdk.runs.searchAll({ experimentIds: [experimentId] })) {
    if (r.data.tags["mlflow.parentRunId"] === parent) out[r.info.runName] = r;
  }
  return out;
}

const metric = (r: RunData, key: string) => r.data.metrics.find((m) => m.key === key)?.value;

async function artifactText(runId: string, p: string): Promise<string> {
  const dest = fs.mkdtempSync(path.join(tmp, "dl-"));
  const local = await sdk.artifacts.download(runId, p, dest);
  const file = fs.statSync(local).isDirectory() ? path.join(local, path.basename(p)) : local;
  return fs.readFileSync(file, "utf8");
}

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-track-data-"));
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-track-e2e-"));
  server = await startServer({ port: 0, dataDir, logLevel: "silent" });
  sdk = new Cairn({ url: server.url, handleExit: false });
  env = { CAIRN_CACHE_DIR: path.join(tmp, "cache") };

  // The input dataset, raw@v1, made through the SDK.
  const rawDir = path.join(tmp, "raw");
  write(rawDir, { "rows.csv": "id,x\n1,2\n2,3\n" });
  await sdk.datasets.create("raw");
  const { entries } = await buildManifest(rawDir);
  await sdk.datasets.uploadVersion("raw", { entries, readFile: (p) => fs.createReadStream(path.join(rawDir, p)) });

  proj = path.join(tmp, "proj");
  write(proj, {
    "prep.js": `const fs=require("fs");fs.mkdirSync("features",{recursive:true});fs.writeFileSync("features/f.csv","f,"+process.argv[2]+"\\n");console.log("prepared features seed="+process.argv[2]);console.error("prep stderr line");`,
    "train.js": `const fs=require("fs");fs.writeFileSync("model.txt",fs.readFileSync("features/f.csv","utf8")+"lr="+process.argv[2]+"\\n");console.log("trained lr="+process.argv[2]);`,
    "report.js": `const fs=require("fs");if(process.env.FAIL_REPORT==="1"){console.error("report exploded");process.exit(3)}fs.writeFileSync("report.txt",fs.readFileSync("model.txt","utf8").length+"\\n");console.log("reported");`,
    "cairn.yaml": `name: tracked
params: { seed: 7, lr: 0.5 }
steps:
  prep:
    cmd: node prep.js \${params.seed}
    deps: [prep.js, "data:raw@v1"]
    outs: [{ path: features, dataset: features }]
  train:
    cmd: node train.js \${params.lr}
    deps: [train.js, features]
    outs: [model.txt]
  report:
    cmd: node report.js
    deps: [report.js, model.txt]
    outs: [report.txt]
    env: { FAIL_REPORT: "0" }
`,
  });
  // A git repository, so the parent run records the commit.
  const git = (...args: string[]) => execFileSync("git", ["-c", "user.email=t@example.com", "-c", "user.name=t", ...args], { cwd: proj, stdio: "ignore" });
  try {
    git("init", "-q");
    git("add", ".");
    git("commit", "-q", "-m", "init");
  } catch {
    // no git here: the git tags are then not checked
  }
});

afterAll(async () => {
  await server?.close();
  for (const d of [dataDir, tmp]) if (d) fs.rmSync(d, { recursive: true, force: true });
});

describe("cairn run with tracking", () => {
  let firstRunId: string;

  it("records a parent run, a child run per step, logs, and dataset lineage", async () => {
    const res = await cairn(["--json", "run", proj], 0);
    const out = JSON.parse(res.stdout) as { status: string; runId: string; steps: { name: string; status: string }[] };
    expect(out.status).toBe("succeeded");
    expect(out.runId).toMatch(/\S+/);
    firstRunId = out.runId;
    expect(res.stderr).toContain(`tracking run ${out.runId}: ${server.url.replace(/\/+$/, "")}/#/runs/${out.runId}`);
    expect(res.stderr).not.toMatch(/warning: tracking/);

    const exp = await sdk.experiments.getByName("pipeline:tracked");
    const parent = await sdk.runs.get(out.runId);
    expect(parent.info.experimentId).toBe(exp.experimentId);
    expect(parent.info.status).toBe("FINISHED");
    expect(parent.info.endTime).not.toBeNull();
    expect(parent.info.runName).toMatch(/^tracked \d{4}-\d\d-\d\dT/);
    expect(parent.data.params).toEqual({ seed: "7", lr: "0.5" });
    expect(parent.data.tags["cairn.pipeline"]).toBe("tracked");
    const def = JSON.parse(parent.data.tags["cairn.pipeline.definition"]!) as { name: string; steps: { name: string }[] };
    expect(def.name).toBe("tracked");
    expect(def.steps.map((s) => s.name)).toEqual(["prep", "train", "report"]);
    if (fs.existsSync(path.join(proj, ".git"))) {
      expect(parent.data.tags["mlflow.source.git.commit"]).toMatch(/^[0-9a-f]{40}$/);
      expect(parent.data.tags["cairn.source.git.dirty"]).toBe("false"); // recorded before anything ran
    }
    expect(JSON.parse(await artifactText(out.runId, "pipeline.json"))).toMatchObject({ name: "tracked", params: { seed: 7, lr: 0.5 } });

    const kids = await childRuns(exp.experimentId, out.runId);
    expect(Object.keys(kids).sort()).toEqual(["prep", "report", "train"]);
    for (const [name, r] of Object.entries(kids)) {
      expect(r.info.status, name).toBe("FINISHED");
      expect(r.info.endTime, name).not.toBeNull();
      expect(r.data.tags["cairn.step"]).toBe(name);
      expect(r.data.tags["cairn.step.status"]).toBe("succeeded");
      expect(r.data.tags["cairn.step.attempts"]).toBe("1");
      expect(r.data.tags["cairn.step.cache"]).toBe("miss");
      expect(r.data.tags["cairn.step.cache_reason"]).toContain("no previous run");
      expect(metric(r, "duration_s"), name).toBeGreaterThan(0);
    }
    expect(kids.prep!.data.params).toEqual({ seed: "7" });
    expect(kids.train!.data.params).toEqual({ lr: "0.5" });
    expect(kids.report!.data.params).toEqual({});

    const prepLog = await artifactText(kids.prep!.info.runId, "logs/prep.log");
    expect(prepLog).toContain("prepared features seed=7");
    expect(prepLog).toContain("prep stderr line");
    expect(await artifactText(kids.train!.info.runId, "logs/train.log")).toContain("trained lr=0.5");

    // raw@v1 → prep's run → features@v1
    const features = await sdk.datasets.getVersion("features", "latest");
    expect(features.number).toBe(1);
    const lr = await fetch(`${server.url.replace(/\/+$/, "")}/api/v1/lineage?node=${encodeURIComponent("dataset:raw@v1")}&direction=downstream`);
    expect(lr.status).toBe(200);
    const graph = (await lr.json()) as LineageGraph;
    const prepNode = `run:${kids.prep!.info.runId}`;
    expect(graph.nodes.map((n) => n.id)).toEqual(expect.arrayContaining(["dataset:raw@v1", prepNode, "dataset:features@v1"]));
    expect(graph.edges).toEqual(expect.arrayContaining([
      expect.objectContaining({ from: "dataset:raw@v1", to: prepNode, kind: "input" }),
      expect.objectContaining({ from: prepNode, to: "dataset:features@v1", kind: "output" }),
    ]));
  });

  it("a second run is all cache hits (the dataset dep resolved through the server)", async () => {
    const res = await cairn(["--json", "run", proj], 0);
    const out = JSON.parse(res.stdout) as { runId: string; steps: { name: string; status: string }[] };
    expect(out.runId).not.toBe(firstRunId);
    expect(out.steps.map((s) => [s.name, s.status])).toEqual([["prep", "cached"], ["train", "cached"], ["report", "cached"]]);
    const exp = await sdk.experiments.getByName("pipeline:tracked");
    const kids = await childRuns(exp.experimentId, out.runId);
    expect(Object.keys(kids).sort()).toEqual(["prep", "report", "train"]);
    for (const r of Object.values(kids)) {
      expect(r.info.status).toBe("FINISHED");
      expect(r.data.tags["cairn.step.cache"]).toBe("hit");
      expect(r.data.tags["cairn.step.attempts"]).toBe("0");
    }
    expect((await sdk.runs.get(out.runId)).info.status).toBe("FINISHED");
  });

  it("a failing step fails its run and the parent", async () => {
    fs.writeFileSync(path.join(proj, "cairn.yaml"), fs.readFileSync(path.join(proj, "cairn.yaml"), "utf8").replace('FAIL_REPORT: "0"', 'FAIL_REPORT: "1"'));
    const res = await cairn(["--json", "run", proj], 1);
    const out = JSON.parse(res.stdout) as { status: string; runId: string };
    expect(out.status).toBe("failed");
    const exp = await sdk.experiments.getByName("pipeline:tracked");
    const kids = await childRuns(exp.experimentId, out.runId);
    expect(kids.report!.info.status).toBe("FAILED");
    expect(kids.report!.data.tags["cairn.step.status"]).toBe("failed");
    expect(kids.report!.data.tags["cairn.step.cache"]).toBe("miss");
    expect(await artifactText(kids.report!.info.runId, "logs/report.log")).toContain("report exploded");
    expect(kids.prep!.info.status).toBe("FINISHED");
    const parent = await sdk.runs.get(out.runId);
    expect(parent.info.status).toBe("FAILED");
    expect(parent.info.endTime).not.toBeNull();
  });
});

describe("cairn rerun (reproducibility)", () => {
  let repro: string;
  let flaky: string;
  let detRunId: string;

  interface RerunJson {
    rerunOf: string;
    runId?: string;
    status: string;
    differences: { kind: string; severity: string; name: string; message: string }[];
    outputs: { step: string; output: string; recorded: string | null; now: string | null; match: boolean }[];
  }

  beforeAll(() => {
    repro = path.join(tmp, "repro");
    write(repro, {
      "gen.js": `const fs=require("fs");fs.writeFileSync("data.txt",Array.from({length:Number(process.argv[2])},(_, i)=>i*i).join("\\n")+"\\n");`,
      "sum.js": `const fs=require("fs");fs.mkdirSync("out",{recursive:true});const s=fs.readFileSync("data.txt","utf8").trim().split("\\n").map(Number).reduce((a,b)=>a+b,0);fs.writeFileSync("out/result.txt",String(s)+"\\n");`,
      "package-lock.json": `{"lockfileVersion":3}\n`,
      "cairn.yaml": `name: repro
params: { n: 3 }
steps:
  gen:
    cmd: node gen.js \${params.n}
    deps: [gen.js]
    outs: [data.txt]
  sum:
    cmd: node sum.js
    deps: [sum.js, data.txt]
    outs: [out]
`,
    });
    flaky = path.join(tmp, "flaky");
    write(flaky, {
      "stamp.js": `require("fs").writeFileSync("stamp.txt","made at "+Date.now()+" "+process.hrtime.bigint()+"\\n");`,
      "cairn.yaml": `name: flaky
steps:
  stamp:
    cmd: node stamp.js
    deps: [stamp.js]
    outs: [stamp.txt]
`,
    });
  });

  it("records runtime, lockfiles, input hashes and output digests", async () => {
    const res = await cairn(["--json", "run", "-p", "n=5", repro], 0);
    detRunId = (JSON.parse(res.stdout) as { runId: string }).runId;
    const parent = await sdk.runs.get(detRunId);
    expect(parent.data.tags["cairn.runtime.node"]).toBe(process.version);
    expect(parent.data.tags["cairn.runtime.cairn"]).toMatch(/\S/);
    expect(parent.data.tags["cairn.runtime.platform"]).toBe(process.platform);
    expect(parent.data.tags["cairn.runtime.arch"]).toBe(process.arch);
    expect(parent.data.tags["cairn.lockfile.package-lock.json"]).toMatch(/^[0-9a-f]{64}$/);
    const rec = JSON.parse(await artifactText(detRunId, "reproducibility.json")) as {
      params: Record<string, unknown>;
      lockfiles: Record<string, string>;
      steps: Record<string, { status: string; components: { name: string }[]; outputs: Record<string, string> }>;
    };
    expect(rec.params).toEqual({ n: 5 });
    expect(rec.lockfiles["package-lock.json"]).toBe(parent.data.tags["cairn.lockfile.package-lock.json"]);
    expect(rec.steps.gen!.status).toBe("succeeded");
    expect(rec.steps.gen!.components.map((c) => c.name)).toEqual(expect.arrayContaining(["cmd", "code:gen.js", "param:n", "runtime"]));
    expect(rec.steps.sum!.components.map((c) => c.name)).toEqual(expect.arrayContaining(["code:sum.js", "dep:data.txt"]));
    expect(rec.steps.gen!.outputs["data.txt"]).toMatch(/^[0-9a-f]{64}$/);
    expect(rec.steps.sum!.outputs.out).toMatch(/^[0-9a-f]{64}$/);
  });

  it("a deterministic pipeline reruns (with the recorded params, no cache) and every output matches", async () => {
    const res = await cairn(["--json", "rerun", detRunId, "--dir", repro], 0);
    const out = JSON.parse(res.stdout) as RerunJson;
    expect(out.status).toBe("match");
    expect(out.differences.filter((d) => d.severity === "refuse")).toEqual([]);
    expect(out.outputs.map((o) => [o.step, o.output, o.match])).toEqual([["gen", "data.txt", true], ["sum", "out", true]]);
    expect(fs.readFileSync(path.join(repro, "out/result.txt"), "utf8")).toBe("30\n"); // n=5 (recorded), not the default 3
    const parent = await sdk.runs.get(out.runId!);
    expect(parent.data.tags["cairn.rerun_of"]).toBe(detRunId);
    expect(parent.data.tags["cairn.rerun.match"]).toBe("true");
    const exp = await sdk.experiments.getByName("pipeline:repro");
    const kids = await childRuns(exp.experimentId, out.runId!);
    for (const r of Object.values(kids)) {
      expect(r.data.tags["cairn.step.cache"]).toBe("off"); // really executed
      expect(r.data.tags["cairn.step.attempts"]).toBe("1");
    }

    const text = await cairn(["rerun", detRunId, "--dir", repro, "--offline-compare"], 0);
    expect(text.stdout).toMatch(/STEP\s.*OUTPUT\s.*RECORDED\s.*NOW\s.*MATCH/);
    expect(text.stderr).toContain("all 2 outputs match");
  });

  it("a non-deterministic step is reported as a mismatch (exit 1)", async () => {
    const first = await cairn(["--json", "run", flaky], 0);
    const id = (JSON.parse(first.stdout) as { runId: string }).runId;
    await new Promise((r) => setTimeout(r, 5));
    const res = await cairn(["--json", "rerun", id, "--dir", flaky], 1);
    const out = JSON.parse(res.stdout) as RerunJson;
    expect(out.status).toBe("differ");
    expect(out.outputs).toHaveLength(1);
    expect(out.outputs[0]).toMatchObject({ step: "stamp", output: "stamp.txt", match: false });
    expect(out.outputs[0]!.recorded).not.toBe(out.outputs[0]!.now);
    const text = await cairn(["rerun", id, "--dir", flaky], 1);
    expect(text.stdout).toMatch(/stamp\s.*stamp\.txt\s.*NO/);
    expect(text.stderr).toContain("1 of 1 output differ");
  });

  it("a changed input file is refused, naming the file; --force reruns anyway", async () => {
    fs.appendFileSync(path.join(repro, "gen.js"), "\n// a harmless comment\n");
    const res = await cairn(["rerun", detRunId, "--dir", repro], 1);
    expect(res.stderr).toMatch(/error: code file gen\.js changed/);
    expect(res.stderr).toContain("refusing to rerun");
    expect(res.stdout).not.toContain("MATCH");

    const forced = await cairn(["--json", "rerun", detRunId, "--dir", repro, "--force"], 0);
    const out = JSON.parse(forced.stdout) as RerunJson;
    expect(out.differences).toEqual(expect.arrayContaining([expect.objectContaining({ name: "code:gen.js", severity: "refuse" })]));
    expect(out.status).toBe("match"); // a comment does not change the outputs
  });
});
