/**
 * `cairn run` end to end: a 3-step pipeline of small node scripts in a temp dir, run through the
 * real CLI (from sources) with its own cache dir. The --url points at a port nothing listens on:
 * `run` must never contact a server.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, type Exit } from "./processes.js";

const NO_SERVER = "http://127.0.0.1:9";
let tmp: string;
let proj: string;
let env: Record<string, string>;

async function cairn(args: string[], code: number): Promise<Exit> {
  const res = await runCli(NO_SERVER, args, { env });
  if (res.code !== code) throw new Error(`cairn ${args.join(" ")} exited ${res.code} (wanted ${code})\nstdout:\n${res.stdout}\nstderr:\n${res.stderr}`);
  return res;
}

/** STEP → STATUS from the final table. */
function table(stdout: string): Record<string, string> {
  const lines = stdout.trim().split("\n");
  const head = lines.findIndex((l) => /^STEP\s+STATUS/.test(l));
  return Object.fromEntries(lines.slice(head + 1).map((l) => l.split(/\s+/).slice(0, 2) as [string, string]));
}

function write(root: string, files: Record<string, string>): void {
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text);
  }
}

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-run-e2e-"));
  env = { CAIRN_CACHE_DIR: path.join(tmp, "cache") };
  proj = path.join(tmp, "proj");
  write(proj, {
    "gen.js": `const fs=require("fs");fs.mkdirSync("data",{recursive:true});fs.writeFileSync("data/raw.csv","id,x\\n1,"+process.argv[2]+"\\n");console.log("generated");`,
    "train.js": `const fs=require("fs");fs.mkdirSync("model",{recursive:true});fs.writeFileSync("model/weights.txt",fs.readFileSync("data/raw.csv","utf8")+"lr="+process.argv[2]+"\\n");console.log("trained");`,
    "eval.js": `const fs=require("fs");const w=fs.readFileSync("model/weights.txt","utf8");fs.writeFileSync("metrics.json",JSON.stringify({chars:w.length}));console.log("evaluated");`,
    "cairn.yaml": `name: demo
params: { seed: 1, lr: 0.1 }
steps:
  gen:
    cmd: node gen.js \${params.seed}
    outs: [data/raw.csv]
  train:
    cmd: node train.js \${params.lr}
    deps: [data/raw.csv]
    outs: [model/]
  eval:
    cmd: node eval.js
    deps: [model/]
    outs: [metrics.json]
`,
  });
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe("cairn run", () => {
  it("--dry-run validates and prints the plan without running anything", async () => {
    const res = await cairn(["run", "--offline", proj, "--dry-run"], 0);
    expect(res.stdout).toMatch(/pipeline demo .*3 steps/);
    expect(res.stdout).toMatch(/train\s+gen\s+node train\.js 0\.1\s+model/);
    expect(fs.existsSync(path.join(proj, "data"))).toBe(false);
  });

  it("runs every step the first time, without contacting a server", async () => {
    const res = await cairn(["run", "--offline", proj], 0);
    expect(table(res.stdout)).toEqual({ gen: "succeeded", train: "succeeded", eval: "succeeded" });
    expect(res.stdout).toMatch(/STEP\s+STATUS\s+ATTEMPTS\s+DURATION\s+DETAIL/);
    expect(res.stderr).toMatch(/^gen: started$/m);
    expect(res.stderr).toMatch(/^train: succeeded in \S+$/m);
    expect(JSON.parse(fs.readFileSync(path.join(proj, "metrics.json"), "utf8"))).toEqual({ chars: expect.any(Number) });
  });

  it("is all cached the second time and restores a deleted output", async () => {
    const weights = fs.readFileSync(path.join(proj, "model/weights.txt"), "utf8");
    fs.rmSync(path.join(proj, "model"), { recursive: true });
    const res = await cairn(["run", "--offline", proj, "--json"], 0);
    const out = JSON.parse(res.stdout) as { status: string; steps: { name: string; status: string; attempts: number; cache: { hit: boolean } }[] };
    expect(out.status).toBe("succeeded");
    expect(out.steps.map((s) => [s.name, s.status, s.attempts, s.cache.hit])).toEqual([
      ["gen", "cached", 0, true],
      ["train", "cached", 0, true],
      ["eval", "cached", 0, true],
    ]);
    expect(fs.readFileSync(path.join(proj, "model/weights.txt"), "utf8")).toBe(weights);
  });

  it("-p reruns only the steps reading that param and those downstream of changed outputs, and --explain says why", async () => {
    const res = await cairn(["run", "--offline", proj, "-p", "lr=0.2", "--explain"], 0);
    expect(table(res.stdout)).toEqual({ gen: "cached", train: "succeeded", eval: "succeeded" });
    expect(res.stdout).toMatch(/train\s+succeeded\s+1\s+\S+\s+cache miss: cmd changed node train\.js 0\.1 → node train\.js 0\.2; param:lr changed 0\.1 → 0\.2/);
    expect(res.stdout).toMatch(/eval\s+succeeded\s+1\s+\S+\s+cache miss: dep:model changed [0-9a-f]{12} → [0-9a-f]{12}/);
    // --explain: each step's reason and key components, live on stderr.
    expect(res.stderr).toMatch(/^gen: cache hit: all 5 components unchanged/m);
    expect(res.stderr).toMatch(/^train: cache miss: cmd changed .*param:lr changed 0\.1 → 0\.2$/m);
    expect(res.stderr).toMatch(/^ {2}param:lr\s+0\.2$/m);
    expect(res.stderr).toMatch(/^ {2}code:train\.js\s+[0-9a-f]{64}$/m);
    expect(fs.readFileSync(path.join(proj, "model/weights.txt"), "utf8")).toContain("lr=0.2");
  });

  it("--no-cache runs everything", async () => {
    const res = await cairn(["run", "--offline", proj, "-p", "lr=0.2", "--no-cache", "--jobs", "1"], 0);
    expect(table(res.stdout)).toEqual({ gen: "succeeded", train: "succeeded", eval: "succeeded" });
    expect(res.stdout).toContain("cache off (--no-cache)");
  });

  it("a failing step exits 1, skips downstream and prints the log tail", async () => {
    const dir = path.join(tmp, "failing");
    write(dir, {
      "cairn.yaml": `name: failing
steps:
  a:
    cmd: echo a > a.txt
    outs: [a.txt]
  b:
    cmd: 'echo "loading a.txt"; echo "boom: the model diverged" >&2; exit 3'
    deps: [a.txt]
    outs: [b.txt]
  c:
    cmd: cat b.txt > c.txt
    deps: [b.txt]
    outs: [c.txt]
`,
    });
    const logDir = path.join(tmp, "failing-logs");
    const res = await cairn(["run", "--offline", dir, "--log-dir", logDir], 1);
    expect(table(res.stdout)).toEqual({ a: "succeeded", b: "failed", c: "skipped" });
    expect(res.stdout).toMatch(/c\s+skipped\s+0\s+\S+\s+skipped: upstream step "b" failed/);
    expect(res.stderr).toContain('error: step "b" failed: exited with code 3');
    expect(res.stderr).toContain(`--- last lines of ${path.join(logDir, "b.log")} ---\nloading a.txt\nboom: the model diverged\n---`);
    expect(fs.readFileSync(path.join(logDir, "b.log"), "utf8")).toContain("boom: the model diverged");
  });

  it("a step that exits 0 without its output fails and says which output", async () => {
    const dir = path.join(tmp, "noout");
    write(dir, { "cairn.yaml": `name: noout\nsteps:\n  a:\n    cmd: echo nothing\n    outs: [a.txt]\n` });
    const res = await cairn(["run", "--offline", dir], 1);
    expect(table(res.stdout)).toEqual({ a: "failed" });
    expect(res.stderr).toContain('error: step "a" failed: the command exited 0 but did not produce its output "a.txt"');
  });

  it("a cycle is a validation error naming the steps (exit 2, nothing runs)", async () => {
    const dir = path.join(tmp, "cycle");
    write(dir, {
      "cairn.yaml": `name: cyc
steps:
  a:
    cmd: cat c.txt > a.txt
    deps: [c.txt]
    outs: [a.txt]
  b:
    cmd: cat a.txt > b.txt
    deps: [a.txt]
    outs: [b.txt]
  c:
    cmd: cat b.txt > c.txt
    deps: [b.txt]
    outs: [c.txt]
`,
    });
    const res = await cairn(["run", "--offline", dir], 2);
    expect(res.stderr).toMatch(/^error: INVALID_PARAMETER_VALUE: Invalid pipeline "cyc" .*1 problem:$/m);
    expect(res.stderr).toMatch(/^ {2}- .*dependency cycle: a → b → c → a$/m);
    expect(res.stdout).toBe("");
  });

  it("without --offline, an unreachable server fails fast before anything runs", async () => {
    const dir = path.join(tmp, "unreachable");
    write(dir, { "cairn.yaml": "name: nope\nsteps:\n  touch:\n    cmd: node -e \"require('fs').writeFileSync('ran.txt','x')\"\n    outs: [ran.txt]\n" });
    const res = await cairn(["run", dir], 1);
    expect(res.stderr).toMatch(/cannot record this run on http:\/\/127\.0\.0\.1:9/);
    expect(res.stderr).toContain("--offline");
    expect(res.stdout).toBe("");
    expect(fs.existsSync(path.join(dir, "ran.txt"))).toBe(false);
  });

  it("usage errors exit 2", async () => {
    const bad = await cairn(["run", "--offline", proj, "-p", "no-equals-sign"], 2);
    expect(bad.stderr).toContain("expected KEY=VALUE");
    const unknown = await cairn(["run", "--offline", proj, "-p", "lrr=1"], 2);
    expect(unknown.stderr).toContain('"lrr" is not a param of this pipeline');
  });
});
