import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parsePipeline } from "./definition.js";
import { runPipelineLocally, type PipelineResult } from "./local-executor.js";
import { DATASET_DEPS_NEED_SERVER, LocalStepCache, missingOutputs, withOutputChecks } from "./step-cache.js";
import type { Pipeline } from "./types.js";

let dir: string;
let cacheDir: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-stepcache-"));
  cacheDir = path.join(dir, ".cache");
  fs.writeFileSync(path.join(dir, "gen.js"), `const fs=require("fs");fs.mkdirSync("data",{recursive:true});fs.writeFileSync("data/raw.csv","x,"+process.argv[2]+"\\n");`);
  fs.writeFileSync(
    path.join(dir, "train.js"),
    `const fs=require("fs");fs.mkdirSync("model/sub",{recursive:true});fs.writeFileSync("model/w.txt",fs.readFileSync("data/raw.csv","utf8")+"lr="+process.argv[2]);fs.writeFileSync("model/sub/run.sh","#!/bin/sh\\n");fs.chmodSync("model/sub/run.sh",0o755);`,
  );
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const YAML = (extra = "") => `
name: sc
params: { seed: 1, lr: 0.1 }
steps:
  gen:
    cmd: node gen.js \${params.seed}
    outs: [data/raw.csv]
  train:
    cmd: node train.js \${params.lr}
    deps: [data/raw.csv]
    outs: [model/]
${extra}`;

const load = (params: Record<string, string> = {}, extra = ""): Pipeline => parsePipeline(YAML(extra), { root: dir, params });

async function run(p: Pipeline): Promise<{ result: PipelineResult; cache: LocalStepCache }> {
  const cache = new LocalStepCache(p, { dir: cacheDir });
  const result = await runPipelineLocally(withOutputChecks(p), { logDir: path.join(dir, ".logs"), cache, capacity: { cpu: 4, memoryMb: 1024, gpu: 0 }, gpus: [] });
  return { result, cache };
}

const statuses = (r: PipelineResult) => Object.fromEntries(Object.entries(r.steps).map(([k, v]) => [k, v.status]));
const read = (rel: string) => fs.readFileSync(path.join(dir, rel), "utf8");
const modeOf = (rel: string) => fs.statSync(path.join(dir, rel)).mode & 0o777;

/** Every file left under `root` whose name looks like one of the cache's temporary files. */
function temps(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (/\.cairn-[0-9a-f]+\.tmp$/.test(e.name)) out.push(p);
      if (e.isDirectory()) walk(p);
    }
  };
  walk(root);
  return out;
}

describe("LocalStepCache", () => {
  it("misses on the first run, then hits and restores identical outputs", async () => {
    const first = await run(load());
    expect(statuses(first.result)).toEqual({ gen: "succeeded", train: "succeeded" });
    expect(first.result.steps.gen!.cacheExplain).toBe("cache miss: no previous run");
    const before = { raw: read("data/raw.csv"), w: read("model/w.txt"), mode: modeOf("model/sub/run.sh") };

    // Outputs replaced by junk: a hit puts back exactly what was saved.
    fs.writeFileSync(path.join(dir, "data/raw.csv"), "junk");
    fs.rmSync(path.join(dir, "model"), { recursive: true });
    fs.writeFileSync(path.join(dir, "model"), "a file where a directory was");
    const second = await run(load());
    expect(statuses(second.result)).toEqual({ gen: "cached", train: "cached" });
    expect(second.result.steps.train!.cacheExplain).toMatch(/^cache hit: all \d+ components unchanged/);
    expect({ raw: read("data/raw.csv"), w: read("model/w.txt"), mode: modeOf("model/sub/run.sh") }).toEqual(before);
    expect(before.mode).toBe(0o755);
    expect(temps(dir)).toEqual([]);
    // Blobs are content-addressed under the cache dir.
    expect(fs.readdirSync(path.join(cacheDir, "blobs", "sha256")).length).toBeGreaterThan(0);
    const ex = second.cache.explainAll();
    expect(ex.map((e) => [e.step, e.hit])).toEqual([
      ["gen", true],
      ["train", true],
    ]);
    expect(ex[1]!.components.map((c) => c.name)).toContain("dep:data/raw.csv");
  });

  it("a param change misses only the step reading it, with the change named", async () => {
    await run(load());
    const { result, cache } = await run(load({ lr: "0.2" }));
    expect(statuses(result)).toEqual({ gen: "cached", train: "succeeded" });
    expect(result.steps.train!.cacheExplain).toBe("cache miss: cmd changed node train.js 0.1 → node train.js 0.2; param:lr changed 0.1 → 0.2");
    expect(cache.explain("train")!.changes.map((c) => c.name)).toEqual(["cmd", "param:lr"]);
    expect(read("model/w.txt")).toContain("lr=0.2");
    // Back to 0.1: the first entry is still there.
    const back = await run(load());
    expect(statuses(back.result)).toEqual({ gen: "cached", train: "cached" });
    expect(read("model/w.txt")).toContain("lr=0.1");
  });

  it("an upstream output change misses downstream with the dep named", async () => {
    await run(load());
    const { result } = await run(load({ seed: "2" }));
    expect(statuses(result)).toEqual({ gen: "succeeded", train: "succeeded" });
    expect(result.steps.train!.cacheExplain).toMatch(/^cache miss: dep:data\/raw\.csv changed [0-9a-f]{12} → [0-9a-f]{12}$/);
  });

  it("a code-file change misses", async () => {
    await run(load());
    fs.appendFileSync(path.join(dir, "train.js"), "\n// changed\n");
    const { result } = await run(load());
    expect(statuses(result)).toEqual({ gen: "cached", train: "succeeded" });
    expect(result.steps.train!.cacheExplain).toMatch(/^cache miss: code:train\.js changed [0-9a-f]{12} → [0-9a-f]{12}$/);
  });

  it("a deleted output is restored by a hit", async () => {
    await run(load());
    const w = read("model/w.txt");
    fs.rmSync(path.join(dir, "model/w.txt"));
    fs.rmSync(path.join(dir, "data/raw.csv"));
    const { result } = await run(load());
    expect(statuses(result)).toEqual({ gen: "cached", train: "cached" });
    expect(read("model/w.txt")).toBe(w);
    expect(fs.existsSync(path.join(dir, "data/raw.csv"))).toBe(true);
  });

  it("a missing blob turns a hit into a miss that says so, and the step runs", async () => {
    await run(load());
    const blobs = path.join(cacheDir, "blobs", "sha256");
    for (const d of fs.readdirSync(blobs)) fs.rmSync(path.join(blobs, d), { recursive: true, force: true });
    const { result } = await run(load());
    expect(statuses(result)).toEqual({ gen: "succeeded", train: "succeeded" });
    expect(result.steps.gen!.cacheExplain).toMatch(/lacks blob/);
  });

  it("a corrupt blob fails the restore without leaving a partial output; the step runs instead", async () => {
    await run(load());
    const blobs = path.join(cacheDir, "blobs", "sha256");
    for (const d of fs.readdirSync(blobs))
      for (const f of fs.readdirSync(path.join(blobs, d))) {
        const p = path.join(blobs, d, f);
        fs.chmodSync(p, 0o644);
        fs.writeFileSync(p, "corrupt");
      }
    fs.rmSync(path.join(dir, "model"), { recursive: true });
    const { result } = await run(load());
    expect(statuses(result)).toEqual({ gen: "succeeded", train: "succeeded" });
    expect(result.steps.gen!.cacheExplain).toMatch(/cache restore failed.*does not match the cache/);
    expect(temps(dir)).toEqual([]);
    expect(read("model/w.txt")).toContain("lr=0.1");
  });

  it("a step that exits 0 without producing its output fails, and its downstream is skipped", async () => {
    const p = parsePipeline(
      `
name: sc
steps:
  gen:
    cmd: echo not writing anything
    outs: [data/raw.csv]
  train:
    cmd: cat data/raw.csv > out.txt
    deps: [data/raw.csv]
    outs: [out.txt]
`,
      { root: dir },
    );
    const { result } = await run(p);
    expect(statuses(result)).toEqual({ gen: "failed", train: "skipped" });
    expect(missingOutputs(result.steps.gen!)).toEqual(["data/raw.csv"]);
    expect(result.steps.gen!.logTail).toContain('did not produce its output "data/raw.csv"');
    // save() itself refuses too (without the command wrapper).
    const cache = new LocalStepCache(p, { dir: cacheDir });
    await cache.lookup(p.steps[0]!);
    await expect(cache.save(p.steps[0]!)).rejects.toThrow(/succeeded but did not produce its output "data\/raw.csv"/);
  });

  it("steps with dataset deps are not cached without a resolver, and use the resolver's digest with one", async () => {
    const p = load({}, `  score:\n    cmd: echo ok > score.txt\n    deps: ["data:credit@v3"]\n    outs: [score.txt]\n`);
    const score = p.steps.find((s) => s.name === "score")!;
    const bare = new LocalStepCache(p, { dir: cacheDir });
    expect(await bare.lookup(score)).toEqual({ hit: false, explain: DATASET_DEPS_NEED_SERVER });
    const resolved = new LocalStepCache(p, { dir: cacheDir, datasetDigest: async (name, ref) => (name === "credit" && ref === "v3" ? "a".repeat(64) : "b".repeat(64)) });
    const miss = await resolved.lookup(score);
    expect(miss.hit).toBe(false);
    expect(resolved.explain("score")!.components.find((c) => c.name === "data:credit@v3")!.value).toBe("a".repeat(64));
  });
});
