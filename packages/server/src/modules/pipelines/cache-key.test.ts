import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CairnError } from "@cairn/contract";
import { StatCache } from "../datasets/stat-cache.js";
import { CACHE_KEY_VERSION, codeReferences, describeChange, explainKey, stepCacheKey, type CacheKeyInputs, type KeyComponent } from "./cache-key.js";
import { parsePipeline } from "./definition.js";
import type { Pipeline, Step } from "./types.js";

const sha = (s: string) => createHash("sha256").update(s).digest("hex");
let dir: string;
const write = (rel: string, text: string) => {
  fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
  fs.writeFileSync(path.join(dir, rel), text);
};

const YAML = (cmd = "node train.js --lr ${params.lr} --data=conf/train.json,missing.json --out model/w.bin") => `
name: credit-risk
params: { lr: 0.1, folds: 5, seed: 42 }
steps:
  generate:
    cmd: node gen.js --seed \${params.seed} --out data/raw.csv
    deps: [gen.js]
    outs: [data/raw.csv]
  train:
    cmd: ${cmd}
    deps: [train.js, lib, data/raw.csv, "data:credit@v3"]
    outs: [model/]
    params: [folds]
    env: { OMP_NUM_THREADS: "1" }
`;
const load = (opts: { params?: Record<string, string>; cmd?: string } = {}): Pipeline =>
  parsePipeline(YAML(opts.cmd), { root: dir, ...(opts.params ? { params: opts.params } : {}) });
const stepOf = (p: Pipeline, name: string): Step => p.steps.find((s) => s.name === name)!;
const INPUTS: CacheKeyInputs = {
  datasetDigests: { "credit@v3": "d".repeat(64) },
  stepOutputDigests: { "generate:data/raw.csv": "a".repeat(64) },
  runtime: { node: "v20.19.0", cairn: "0.1.0" },
};
const keyOf = async (p: Pipeline, step = "train", inputs: CacheKeyInputs = INPUTS) => stepCacheKey(p, stepOf(p, step), inputs);
const byName = (cs: KeyComponent[]) => Object.fromEntries(cs.map((c) => [c.name, c]));
/** The names of the components whose hash differs. */
const changed = (a: KeyComponent[], b: KeyComponent[]) => explainKey(a, b).changes.map((c) => `${c.name} ${c.change}`);

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-cache-key-"));
  write("gen.js", "// gen v1");
  write("train.js", "// train v1");
  write("conf/train.json", "{}");
  write("lib/util.js", "// util v1");
  write("lib/deep/more.js", "// more v1");
  write("notes.txt", "not mentioned anywhere");
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("stepCacheKey: components", () => {
  it("covers cmd, outs, code the command mentions, deps, datasets, params read, env and runtime", async () => {
    const p = load();
    const { key, components } = await keyOf(p);
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(components.map((c) => c.name)).toEqual([
      "cmd",
      "code:conf/train.json",
      "code:train.js",
      "data:credit@v3",
      "dep:data/raw.csv",
      "dep:lib",
      "env:OMP_NUM_THREADS",
      "outs",
      "param:folds",
      "param:lr",
      "runtime",
    ]);
    const c = byName(components);
    expect(c.cmd).toEqual({ name: "cmd", value: "node train.js --lr 0.1 --data=conf/train.json,missing.json --out model/w.bin", hash: sha(c.cmd!.value) });
    // Content components: the value is the digest, and the key hashes it as it is.
    expect(c["code:train.js"]).toEqual({ name: "code:train.js", value: sha("// train v1"), hash: sha("// train v1") });
    expect(c["data:credit@v3"]!.hash).toBe("d".repeat(64));
    expect(c["dep:data/raw.csv"]!.hash).toBe("a".repeat(64));
    expect(c["dep:lib"]!.value).toMatch(/^[0-9a-f]{64}$/);
    expect(c["param:lr"]!.value).toBe("0.1");
    expect(c["param:folds"]!.value).toBe("5");
    expect(c["env:OMP_NUM_THREADS"]!.value).toBe("1");
    expect(c.outs!.value).toBe('["model"]');
    expect(c.runtime!.value).toBe("node v20.19.0; cairn 0.1.0");
    // The key is SHA-256 over the sorted components.
    expect(key).toBe(sha(`${CACHE_KEY_VERSION}\n${components.map((x) => `${x.name}\0${x.hash}\n`).join("")}`));
  });

  it("is stable: the same inputs give the same key across loads and calls", async () => {
    const a = await keyOf(load());
    const b = await keyOf(load());
    const c = await keyOf(load(), "train", { ...INPUTS, statCache: new StatCache(path.join(dir, ".cache")) });
    expect(b).toEqual(a);
    expect(c).toEqual(a);
    expect(explainKey(a.components, b.components)).toEqual({ hit: true, changes: [], reason: "all 11 components unchanged" });
    // Touching a file (same content, new mtime) changes nothing.
    const t = new Date(Date.now() + 5000);
    fs.utimesSync(path.join(dir, "train.js"), t, t);
    fs.utimesSync(path.join(dir, "lib/util.js"), t, t);
    expect((await keyOf(load())).key).toBe(a.key);
  });

  it("changes when, and only when, each component changes", async () => {
    const base = await keyOf(load());
    const cases: [string, () => Promise<{ key: string; components: KeyComponent[] }>, string[]][] = [
      // cmd is keyed after interpolation, so an interpolated param shows in both.
      ["an interpolated param", () => keyOf(load({ params: { lr: "0.2" } })), ["cmd changed", "param:lr changed"]],
      ["a listed (not interpolated) param", () => keyOf(load({ params: { folds: "3" } })), ["param:folds changed"]],
      ["a code file", async () => (write("train.js", "// train v2"), keyOf(load())), ["code:train.js changed"]],
      ["a file named in a --flag=a,b argument", async () => (write("conf/train.json", '{"x":1}'), keyOf(load())), ["code:conf/train.json changed"]],
      ["a file deep in a directory dep", async () => (write("lib/deep/more.js", "// more v2"), keyOf(load())), ["dep:lib changed"]],
      ["a new file in a directory dep", async () => (write("lib/new.js", "x"), keyOf(load())), ["dep:lib changed"]],
      ["the upstream output's digest", () => keyOf(load(), "train", { ...INPUTS, stepOutputDigests: { "generate:data/raw.csv": "b".repeat(64) } }), ["dep:data/raw.csv changed"]],
      ["the dataset version's digest", () => keyOf(load(), "train", { ...INPUTS, datasetDigests: { "credit@v3": "e".repeat(64) } }), ["data:credit@v3 changed"]],
      ["the runtime", () => keyOf(load(), "train", { ...INPUTS, runtime: { node: "v22.0.0", cairn: "0.1.0" } }), ["runtime changed"]],
      ["the cairn version", () => keyOf(load(), "train", { ...INPUTS, runtime: { node: "v20.19.0", cairn: "0.2.0" } }), ["runtime changed"]],
      ["the command text", () => keyOf(load({ cmd: "node train.js --lr ${params.lr} --data=conf/train.json,missing.json --out model/w.bin --verbose" })), ["cmd changed"]],
      [
        "the command dropping a code file",
        () => keyOf(load({ cmd: "node train.js --lr ${params.lr} --out model/w.bin" })),
        ["cmd changed", "code:conf/train.json removed"],
      ],
      ["a file nobody mentions", async () => (write("notes.txt", "changed"), keyOf(load())), []],
      ["a param the step does not read", () => keyOf(load({ params: { seed: "7" } })), []],
      ["another step's code", async () => (write("gen.js", "// gen v2"), keyOf(load())), []],
      ["an output of the step itself", async () => (write("model/w.bin", "weights"), keyOf(load())), []],
    ];
    for (const [what, next, expected] of cases) {
      fs.rmSync(dir, { recursive: true, force: true });
      fs.mkdirSync(dir);
      write("gen.js", "// gen v1");
      write("train.js", "// train v1");
      write("conf/train.json", "{}");
      write("lib/util.js", "// util v1");
      write("lib/deep/more.js", "// more v1");
      write("notes.txt", "not mentioned anywhere");
      const got = await next();
      expect(changed(base.components, got.components), what).toEqual(expected);
      expect(got.key === base.key, what).toBe(expected.length === 0);
    }
  });

  it("env changes change the key", async () => {
    const p = load();
    const a = await keyOf(p);
    const s = { ...stepOf(p, "train"), env: { OMP_NUM_THREADS: "2" } };
    const b = await stepCacheKey(p, s, INPUTS);
    const c = await stepCacheKey(p, { ...s, env: { OMP_NUM_THREADS: "1", EXTRA: "x" } }, INPUTS);
    expect(changed(a.components, b.components)).toEqual(["env:OMP_NUM_THREADS changed"]);
    expect(changed(a.components, c.components)).toEqual(["env:EXTRA added"]);
  });

  it("a step output without a given digest hashes the files as they are now", async () => {
    const p = load();
    const noDigest = { ...INPUTS, stepOutputDigests: {} };
    await expect(keyOf(p, "train", noDigest)).rejects.toThrow(/Step "train": dependency "data\/raw.csv" does not exist/);
    write("data/raw.csv", "a,b\n1,2\n");
    const a = await keyOf(p, "train", noDigest);
    expect(byName(a.components)["dep:data/raw.csv"]!.value).toMatch(/^[0-9a-f]{64}$/);
    expect((await keyOf(p, "train", noDigest)).key).toBe(a.key);
    write("data/raw.csv", "a,b\n1,3\n");
    expect(changed(a.components, (await keyOf(p, "train", noDigest)).components)).toEqual(["dep:data/raw.csv changed"]);
  });

  it("a dep inside another step's output directory uses that output's digest when only it is given", async () => {
    const p = parsePipeline(
      `
name: p
steps:
  fit: { cmd: "true", outs: [model] }
  score: { cmd: "true", deps: [model/weights.bin] }
`,
      { root: dir },
    );
    const inputs = (d: Record<string, string>) => ({ ...INPUTS, stepOutputDigests: d });
    const whole = await keyOf(p, "score", inputs({ "fit:model": "1".repeat(64) }));
    expect(byName(whole.components)["dep:model/weights.bin"]!.value).toBe("1".repeat(64));
    const exact = await keyOf(p, "score", inputs({ "fit:model": "1".repeat(64), "fit:model/weights.bin": "2".repeat(64) }));
    expect(byName(exact.components)["dep:model/weights.bin"]!.value).toBe("2".repeat(64));
  });

  it("refuses to key a step whose dataset digest is not given", async () => {
    const err = await keyOf(load(), "train", { ...INPUTS, datasetDigests: {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CairnError);
    expect((err as CairnError).code).toBe("RESOURCE_DOES_NOT_EXIST");
    expect((err as CairnError).message).toBe('Step "train": no digest given for dataset data:credit@v3');
  });

  it("a file the command names and the deps declare counts once, as code", async () => {
    const { components } = await keyOf(load(), "generate");
    expect(components.map((c) => c.name)).toEqual(["cmd", "code:gen.js", "outs", "param:seed", "runtime"]);
  });
});

describe("codeReferences", () => {
  it("finds files under the root the command mentions, not outputs, flags, globs, variables or paths outside", async () => {
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-outside-"));
    try {
      fs.writeFileSync(path.join(outside, "x.js"), "x");
      fs.symlinkSync(path.join(outside, "x.js"), path.join(dir, "escape.js"));
      write("data/raw.csv", "exists from an earlier run");
      write("scripts/run.sh", "#!/bin/sh");
      const p = parsePipeline(
        `
name: p
steps:
  generate: { cmd: "true", outs: [data/raw.csv] }
  s:
    cmd: >-
      sh ./scripts/run.sh && node 'train.js' "lib/util.js" lib data/raw.csv $HOME/train.js *.js
      /etc/hosts ../train.js escape.js --config=conf/train.json > model/log.txt; cat notes.txt|wc
    outs: [model]
`,
        { root: dir },
      );
      expect(codeReferences(p, stepOf(p, "s"))).toEqual(["conf/train.json", "lib/util.js", "notes.txt", "scripts/run.sh", "train.js"]);
    } finally {
      fs.rmSync(outside, { recursive: true, force: true });
    }
  });
});

describe("explainKey", () => {
  it("says there was no previous run", () => {
    expect(explainKey(undefined, [])).toEqual({ hit: false, changes: [], reason: "no previous run" });
  });

  it("names each change, with values short (hashes cut to 12)", async () => {
    write("data/raw.csv", "x");
    const before = await keyOf(load());
    write("train.js", "// train v2");
    const after = await keyOf(load({ params: { lr: "0.2" } }), "train", { ...INPUTS, stepOutputDigests: { "generate:data/raw.csv": "b".repeat(64) } });
    const ex = explainKey(before.components, after.components);
    expect(ex.hit).toBe(false);
    expect(ex.changes).toEqual([
      { name: "cmd", change: "changed", from: "node train.js --lr 0.1 --data=conf/train.json,missing.json …", to: "node train.js --lr 0.2 --data=conf/train.json,missing.json …" },
      { name: "code:train.js", change: "changed", from: sha("// train v1").slice(0, 12), to: sha("// train v2").slice(0, 12) },
      { name: "dep:data/raw.csv", change: "changed", from: "aaaaaaaaaaaa", to: "bbbbbbbbbbbb" },
      { name: "param:lr", change: "changed", from: "0.1", to: "0.2" },
    ]);
    expect(ex.changes.map(describeChange)).toContain("param:lr changed 0.1 → 0.2");
    expect(ex.reason).toBe(ex.changes.map(describeChange).join("; "));
    expect(ex.reason).toMatch(/; param:lr changed 0\.1 → 0\.2$/);
    expect(ex.reason).toContain("dep:data/raw.csv changed aaaaaaaaaaaa → bbbbbbbbbbbb");
  });

  it("reports added and removed components, and long values differing only at the end by their hashes", () => {
    const c = (name: string, value: string): KeyComponent => ({ name, value, hash: sha(value) });
    const long = "x".repeat(100);
    const ex = explainKey([c("cmd", `${long}a`), c("param:old", '"v"'), c("runtime", "node 1")], [c("cmd", `${long}b`), c("param:new", "true"), c("runtime", "node 1")]);
    expect(ex.changes).toEqual([
      { name: "cmd", change: "changed", from: `#${sha(`${long}a`).slice(0, 12)}`, to: `#${sha(`${long}b`).slice(0, 12)}` },
      { name: "param:new", change: "added", to: "true" },
      { name: "param:old", change: "removed", from: '"v"' },
    ]);
    expect(ex.reason).toBe(`cmd changed #${sha(`${long}a`).slice(0, 12)} → #${sha(`${long}b`).slice(0, 12)}; param:new added (true); param:old removed (was "v")`);
  });
});
