import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CairnError } from "@cairn/contract";
import { definePipeline, loadPipeline, parseDuration, parseMemoryMb, parseParamValue, parsePipeline, resolvePipeline } from "./definition.js";
import type { Pipeline } from "./types.js";

let dir: string;
const write = (rel: string, text = "") => {
  fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
  fs.writeFileSync(path.join(dir, rel), text);
};
const parse = (text: string, opts: { params?: Record<string, string>; paramsFile?: string } = {}): Pipeline => parsePipeline(text, { root: dir, file: path.join(dir, "cairn.yaml"), ...opts });
const failure = (fn: () => unknown): CairnError => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CairnError);
    return e as CairnError;
  }
  throw new Error("expected a CairnError");
};
/** The error's details as `path → message` pairs. */
const problems = (e: CairnError) => (e.details ?? []).map((d) => ({ path: d.path, message: d.message }));

const EXAMPLE = `
name: credit-risk
params: { lr: 0.1, folds: 5, seed: 42 }
steps:
  generate:
    cmd: node gen.js --seed \${params.seed} --out data/raw.csv
    deps: [gen.js]
    outs: [{ path: data/raw.csv, dataset: credit-raw }]
  train:
    cmd: node train.js --lr \${params.lr} --home $HOME --user \${USER}
    deps: [train.js, data/raw.csv, "data:credit@v3"]
    outs: [model/]
    params: [folds]
    env: { OMP_NUM_THREADS: "1", LR: "\${params.lr}", N: 2 }
    resources: { cpu: 2, memory: 2GB, gpu: 1 }
    retries: 2
    retry_delay: 1s
    timeout: 10m
    cache: false
  evaluate:
    cmd: node eval.js model/weights.json
    deps: [eval.js, model/weights.json]
`;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-pipeline-def-"));
  write("gen.js", "// gen");
  write("train.js", "// train");
  write("eval.js", "// eval");
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("parsePipeline: the cairn.yaml format", () => {
  it("resolves the example into steps with typed deps, outs, params, env, resources, retries, timeouts", () => {
    const p = parse(EXAMPLE);
    expect(p.name).toBe("credit-risk");
    expect(p.root).toBe(path.resolve(dir));
    expect(p.params).toEqual({ lr: 0.1, folds: 5, seed: 42 });
    expect(p.steps.map((s) => s.name)).toEqual(["generate", "train", "evaluate"]);
    const [generate, train, evaluate] = p.steps;
    expect(generate).toEqual({
      name: "generate",
      cmd: "node gen.js --seed 42 --out data/raw.csv",
      deps: [{ kind: "path", path: "gen.js" }],
      outs: [{ path: "data/raw.csv", dataset: "credit-raw" }],
      params: ["seed"],
      env: {},
      resources: { cpu: 1, memoryMb: 0, gpu: 0 },
      retries: 0,
      retryDelayMs: 1000,
      cache: true,
    });
    expect(train).toEqual({
      name: "train",
      cmd: "node train.js --lr 0.1 --home $HOME --user ${USER}",
      deps: [
        { kind: "path", path: "train.js" },
        { kind: "step", step: "generate", path: "data/raw.csv" },
        { kind: "dataset", name: "credit", ref: "v3" },
      ],
      outs: [{ path: "model" }],
      params: ["folds", "lr"],
      env: { OMP_NUM_THREADS: "1", LR: "0.1", N: "2" },
      resources: { cpu: 2, memoryMb: 2048, gpu: 1 },
      retries: 2,
      retryDelayMs: 1000,
      timeoutMs: 600_000,
      cache: false,
    });
    // A dep on a file inside another step's output directory is a step dep on that file.
    expect(evaluate!.deps).toEqual([
      { kind: "path", path: "eval.js" },
      { kind: "step", step: "train", path: "model/weights.json" },
    ]);
    expect(evaluate!.params).toEqual([]);
  });

  it("prefers a step's output over an existing file of the same path, and normalises paths", () => {
    write("data/raw.csv", "stale copy from an earlier run");
    const p = parse(`
name: p
steps:
  use: { cmd: cat ./data//raw.csv, deps: [./data//raw.csv] }
  make: { cmd: echo > data/raw.csv, outs: [data/raw.csv/] }
`);
    expect(p.steps.map((s) => s.name)).toEqual(["make", "use"]);
    expect(p.steps[1]!.deps).toEqual([{ kind: "step", step: "make", path: "data/raw.csv" }]);
    expect(p.steps[0]!.outs).toEqual([{ path: "data/raw.csv" }]);
  });

  it("a dep on a directory that holds other steps' outputs runs after them (and hashes the directory when it exists)", () => {
    write("data/extra.csv", "x");
    const p = parse(`
name: p
steps:
  all: { cmd: ls data, deps: [data, build] }
  a: { cmd: x, outs: [data/a.csv] }
  b: { cmd: x, outs: [build/b.bin] }
`);
    expect(p.steps.map((s) => s.name)).toEqual(["a", "b", "all"]);
    expect(p.steps[2]!.deps).toEqual([
      { kind: "path", path: "data" },
      { kind: "step", step: "a", path: "data/a.csv" },
      { kind: "step", step: "b", path: "build/b.bin" },
    ]);
  });

  it("sorts steps topologically, stable by definition order", () => {
    const p = parse(`
name: diamond
steps:
  report: { cmd: r, deps: [left.txt, right.txt] }
  left:   { cmd: l, deps: [base.txt], outs: [left.txt] }
  lonely: { cmd: z }
  right:  { cmd: r, deps: [base.txt], outs: [right.txt] }
  base:   { cmd: b, outs: [base.txt] }
  other:  { cmd: o }
`);
    expect(p.steps.map((s) => s.name)).toEqual(["lonely", "base", "left", "right", "report", "other"]);
    const pos = new Map(p.steps.map((s, i) => [s.name, i]));
    for (const s of p.steps) for (const d of s.deps) if (d.kind === "step") expect(pos.get(d.step)!).toBeLessThan(pos.get(s.name)!);
  });

  it("a 100-step chain defined backwards comes out in order", () => {
    const lines = ["name: chain", "steps:"];
    for (let i = 99; i >= 0; i--) lines.push(`  s${i}: { cmd: "true", outs: [o${i}]${i ? `, deps: [o${i - 1}]` : ""} }`);
    const p = parse(lines.join("\n"));
    expect(p.steps.map((s) => s.name)).toEqual(Array.from({ length: 100 }, (_, i) => `s${i}`));
  });

  it("interpolates ${params.x} in cmd and env only, leaving $VAR, ${VAR} and $$ to the shell", () => {
    const p = parse(`
name: p
params: { name: "world", flag: true, n: 1.5e3, nested: { depth: 3 } }
steps:
  s:
    cmd: 'echo "\${params.name}" \${ params.flag } \${params.n} \${params.nested.depth} $PATH \${PATH} $$ \${PARAMS}'
    env: { GREETING: "hi \${params.name}", RAW: "$HOME" }
`);
    const s = p.steps[0]!;
    expect(s.cmd).toBe('echo "world" true 1500 3 $PATH ${PATH} $$ ${PARAMS}');
    expect(s.env).toEqual({ GREETING: "hi world", RAW: "$HOME" });
    expect(s.params).toEqual(["flag", "n", "name", "nested.depth"]);
    expect(p.params).toEqual({ name: "world", flag: true, n: 1500, "nested.depth": 3 });
  });

  it("accepts memory as MiB or sizes, and durations as ms or strings", () => {
    const p = parse(`
name: p
steps:
  a: { cmd: x, resources: { memory: 512 }, retry_delay: 250, timeout: "1m30s" }
  b: { cmd: x, resources: { memory: "512MB", cpu: 0.5 }, retry_delay: "500ms", timeout: 2h }
  c: { cmd: x, resources: { memory: "1.5GiB" }, retry_delay: 2s }
`);
    expect(p.steps.map((s) => [s.resources, s.retryDelayMs, s.timeoutMs])).toEqual([
      [{ cpu: 1, memoryMb: 512, gpu: 0 }, 250, 90_000],
      [{ cpu: 0.5, memoryMb: 512, gpu: 0 }, 500, 7_200_000],
      [{ cpu: 1, memoryMb: 1536, gpu: 0 }, 2000, undefined],
    ]);
  });

  it("accepts the dataset forms data:NAME@v3, @latest, @tag and @digest-prefix", () => {
    const p = parse(`
name: p
steps:
  s: { cmd: x, deps: ["data:credit@v3", "data:credit@latest", "data:my.set-1@prod_2024", "data:c@0123abcd"] }
`);
    expect(p.steps[0]!.deps).toEqual([
      { kind: "dataset", name: "credit", ref: "v3" },
      { kind: "dataset", name: "credit", ref: "latest" },
      { kind: "dataset", name: "my.set-1", ref: "prod_2024" },
      { kind: "dataset", name: "c", ref: "0123abcd" },
    ]);
  });
});

describe("params: defaults, params file, -p overrides", () => {
  const DEF = `
name: p
params: { lr: 0.1, folds: 5, seed: 42, tag: "42", fast: false, opt: { name: sgd } }
steps:
  s: { cmd: "t \${params.lr} \${params.folds} \${params.seed} \${params.tag} \${params.fast} \${params.opt.name}" }
`;
  it("applies the params file over the defaults, and -p over both", () => {
    write("params.yaml", "lr: 0.05\nfolds: 3\nopt:\n  name: adam\n");
    const p = parse(DEF, { paramsFile: path.join(dir, "params.yaml"), params: { lr: "0.01" } });
    expect(p.params).toEqual({ lr: 0.01, folds: 3, seed: 42, tag: "42", fast: false, "opt.name": "adam" });
    expect(p.steps[0]!.cmd).toBe("t 0.01 3 42 42 false adam");
  });

  it("reads JSON params files too", () => {
    write("params.json", JSON.stringify({ seed: 7, fast: true }));
    const p = parse(DEF, { paramsFile: path.join(dir, "params.json") });
    expect(p.params).toMatchObject({ seed: 7, fast: true, lr: 0.1 });
  });

  it("parses -p values as numbers and booleans when they look like one; a param declared as a string stays a string", () => {
    const p = parse(DEF, { params: { lr: "1e-3", folds: "10", seed: "abc", tag: "43", fast: "true", "opt.name": "false" } });
    expect(p.params).toEqual({ lr: 0.001, folds: 10, seed: "abc", tag: "43", fast: true, "opt.name": "false" });
    expect(parseParamValue("-2.5")).toBe(-2.5);
    expect(parseParamValue(".5")).toBe(0.5);
    expect(parseParamValue("1.2.3")).toBe("1.2.3");
    expect(parseParamValue("0x10")).toBe("0x10");
    expect(parseParamValue("True")).toBe("True");
    expect(parseParamValue("")).toBe("");
  });

  it("refuses -p and params-file values for undeclared params, listing all of them", () => {
    write("params.yaml", "lr: 0.2\nbogus: 1\n");
    const e = failure(() => parse(DEF, { paramsFile: path.join(dir, "params.yaml"), params: { nope: "1", lr: "0.3" } }));
    expect(e.code).toBe("INVALID_PARAMETER_VALUE");
    expect(problems(e)).toEqual([
      { path: "paramsFile.bogus", message: expect.stringMatching(/params file .*params\.yaml, param "bogus": not a param of this pipeline \(declared: lr, folds, seed, tag, fast, opt\.name\)/) },
      { path: "overrides.nope", message: expect.stringContaining('-p nope=1: "nope" is not a param of this pipeline') },
    ]);
  });

  it("reports a missing or malformed params file", () => {
    expect(problems(failure(() => parse(DEF, { paramsFile: path.join(dir, "nope.yaml") })))).toEqual([{ path: "paramsFile", message: expect.stringContaining("does not exist") }]);
    write("list.yaml", "- 1\n- 2\n");
    expect(problems(failure(() => parse(DEF, { paramsFile: path.join(dir, "list.yaml") })))[0]!.message).toContain("must be a map");
    write("bad.yaml", "lr: [1, 2]\n");
    expect(problems(failure(() => parse(DEF, { paramsFile: path.join(dir, "bad.yaml") })))[0]!.message).toContain('param "lr": must be a number, boolean or string (got a list)');
  });

  it("refuses non-scalar defaults", () => {
    const e = failure(() => parse(`name: p\nparams: { a: [1], b: null, "bad name": 1 }\nsteps: { s: { cmd: x } }\n`));
    expect(problems(e).map((d) => d.path)).toEqual(["params.a", "params.b", "params.bad name"]);
    expect(e.message).toContain("field params.a: must be a number, boolean or string (got a list)");
  });
});

describe("validation: every problem named by step and field", () => {
  it("unknown keys at every level", () => {
    const e = failure(() =>
      parse(`
name: p
version: 2
steps:
  s:
    cmd: x
    dependencies: [a]
    resources: { cpu: 1, disk: 10 }
    outs: [{ path: o, registry: m }]
`),
    );
    expect(problems(e)).toEqual([
      { path: "version", message: 'field version: unknown field "version"' },
      { path: "steps.s.outs[0].registry", message: 'step "s", field outs[0].registry: unknown field "registry"' },
      { path: "steps.s.resources.disk", message: 'step "s", field resources.disk: unknown field "disk"' },
      { path: "steps.s.dependencies", message: 'step "s", field dependencies: unknown field "dependencies"' },
    ]);
    expect(e.message).toMatch(/^Invalid pipeline "p" \(.*cairn\.yaml\): 4 problems:\n {2}- field version: unknown field "version"\n/);
  });

  it("a cycle is named in order, from its earliest-defined step, at the dep that closes it", () => {
    const e = failure(() =>
      parse(`
name: p
steps:
  b: { cmd: x, deps: [other.txt, x.txt], outs: [y.txt] }
  c: { cmd: x, deps: [y.txt], outs: [z.txt] }
  a: { cmd: x, deps: [z.txt], outs: [x.txt] }
  fine: { cmd: x, deps: [z.txt] }
  other: { cmd: x, outs: [other.txt] }
`),
    );
    expect(problems(e)).toEqual([{ path: "steps.b.deps[1]", message: 'step "b", field deps[1]: dependency cycle: b → c → a → b' }]);
  });

  it("reports each independent cycle, and a step reading its own output", () => {
    const e = failure(() =>
      parse(`
name: p
steps:
  p1: { cmd: x, deps: [q.txt], outs: [p.txt] }
  q1: { cmd: x, deps: [p.txt], outs: [q.txt] }
  self: { cmd: x, deps: [gen.js, out/part.txt], outs: [out] }
`),
    );
    expect(problems(e)).toEqual([
      { path: "steps.p1.deps[0]", message: 'step "p1", field deps[0]: dependency cycle: p1 → q1 → p1' },
      { path: "steps.self.deps[1]", message: 'step "self", field deps[1]: dependency cycle: self → self (the step depends on its own output)' },
    ]);
  });

  it("a dep that is neither an existing path nor any step's output", () => {
    const e = failure(() => parse(`name: p\nsteps:\n  train: { cmd: x, deps: [train.js, data/missing.csv] }\n`));
    expect(problems(e)).toEqual([
      { path: "steps.train.deps[1]", message: `step "train", field deps[1]: "data/missing.csv" is neither an existing file or directory under the root (${path.resolve(dir)}) nor an output of any step` },
    ]);
  });

  it("duplicate outputs: the same path twice, or one inside another's output directory", () => {
    const e = failure(() =>
      parse(`
name: p
steps:
  a: { cmd: x, outs: [data/raw.csv, model] }
  b: { cmd: x, outs: [data/raw.csv] }
  c: { cmd: x, outs: [model/weights.bin] }
  d: { cmd: x, outs: [data] }
  e: { cmd: x, outs: [log.txt, ./log.txt] }
`),
    );
    expect(problems(e)).toEqual([
      { path: "steps.b.outs[0]", message: 'step "b", field outs[0]: duplicate output "data/raw.csv": also an output of step "a"' },
      { path: "steps.c.outs[0]", message: 'step "c", field outs[0]: output "model/weights.bin" is inside the output directory "model" of step "a"' },
      { path: "steps.d.outs[0]", message: 'step "d", field outs[0]: output "data" contains the output "data/raw.csv" of step "a"' },
      { path: "steps.e.outs[1]", message: 'step "e", field outs[1]: duplicate output "log.txt": also an output of this step' },
    ]);
  });

  it("unknown params in cmd, env and params", () => {
    const e = failure(() =>
      parse(`
name: p
params: { lr: 0.1 }
steps:
  train:
    cmd: node train.js --lr \${params.lr} --epochs \${params.epochs}
    params: [lr, folds]
    env: { X: "\${params.x}" }
`),
    );
    expect(problems(e)).toEqual([
      { path: "steps.train.cmd", message: 'step "train", field cmd: unknown param "epochs" in ${params.epochs} (declared: lr)' },
      { path: "steps.train.params[1]", message: 'step "train", field params[1]: unknown param "folds" (declared: lr)' },
      { path: "steps.train.env.X", message: 'step "train", field env.X: unknown param "x" in ${params.x} (declared: lr)' },
    ]);
  });

  it("bad resources, retries and durations", () => {
    const e = failure(() =>
      parse(`
name: p
steps:
  a: { cmd: x, resources: { cpu: 0, memory: -1, gpu: 0.5 } }
  b: { cmd: x, resources: { memory: lots, cpu: "2" }, retries: -1, retry_delay: soon, timeout: 0 }
  c: { cmd: x, resources: 4, retries: 1.5, timeout: "10 minutes", cache: "yes" }
`),
    );
    expect(problems(e)).toEqual([
      { path: "steps.a.resources.cpu", message: 'step "a", field resources.cpu: must be more than 0' },
      { path: "steps.a.resources.memory", message: 'step "a", field resources.memory: must not be negative' },
      { path: "steps.a.resources.gpu", message: 'step "a", field resources.gpu: must be a whole number of GPUs' },
      { path: "steps.b.resources.cpu", message: 'step "b", field resources.cpu: must be a number of cores' },
      { path: "steps.b.retries", message: 'step "b", field retries: must not be negative' },
      { path: "steps.c.resources", message: 'step "c", field resources: must be a map { cpu, memory, gpu }' },
      { path: "steps.c.retries", message: 'step "c", field retries: must be a whole number' },
      { path: "steps.c.cache", message: 'step "c", field cache: must be true or false' },
    ]);
    // Strings that pass the schema but do not parse are reported by the second pass, once the schema is clean.
    const e2 = failure(() => parse(`name: p\nsteps:\n  b: { cmd: x, resources: { memory: lots }, retry_delay: soon, timeout: 0 }\n  c: { cmd: x, timeout: "10 minutes" }\n`));
    expect(problems(e2)).toEqual([
      { path: "steps.b.resources.memory", message: 'step "b", field resources.memory: "lots" is not a memory size: use MiB (a number) or a size such as "512MB", "2GB"' },
      { path: "steps.b.retry_delay", message: 'step "b", field retry_delay: "soon" is not a duration: use milliseconds or "500ms", "2s", "1m", "1h"' },
      { path: "steps.b.timeout", message: 'step "b", field timeout: must be more than 0' },
      { path: "steps.c.timeout", message: 'step "c", field timeout: "10 minutes" is not a duration: use milliseconds or "500ms", "2s", "1m", "1h"' },
    ]);
  });

  it("invalid dataset deps", () => {
    const e = failure(() => parse(`name: p\nsteps:\n  s: { cmd: x, deps: ["data:credit", "data:@v3", "data:cr/edit@v3", "data:credit@", "data:credit@v 3"] }\n`));
    expect(problems(e).map((d) => d.path)).toEqual(["steps.s.deps[0]", "steps.s.deps[1]", "steps.s.deps[2]", "steps.s.deps[3]", "steps.s.deps[4]"]);
    expect(problems(e)[0]!.message).toBe('step "s", field deps[0]: invalid dataset dependency "data:credit": expected data:NAME@REF (e.g. data:credit@v3)');
    expect(problems(e)[1]!.message).toContain('invalid dataset dependency "data:@v3": the dataset name');
    expect(problems(e)[2]!.message).toContain("the dataset name must start with a letter or digit");
    expect(problems(e)[3]!.message).toContain("the version reference must be");
  });

  it("paths escaping the root: .., absolute, the root itself, symlinks out", () => {
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-outside-"));
    try {
      fs.writeFileSync(path.join(outside, "secret.txt"), "s");
      fs.symlinkSync(outside, path.join(dir, "link"));
      const e = failure(() =>
        parse(`
name: p
steps:
  s:
    cmd: x
    deps: [../up.txt, /etc/passwd, "a/../../b", ., link/secret.txt]
    outs: [../out, /tmp/out, "."]
`),
      );
      expect(problems(e)).toEqual([
        { path: "steps.s.outs[0]", message: 'step "s", field outs[0]: "../out" escapes the pipeline root' },
        { path: "steps.s.outs[1]", message: 'step "s", field outs[1]: "/tmp/out" is absolute; paths must be relative to the pipeline root' },
        { path: "steps.s.outs[2]", message: 'step "s", field outs[2]: "." is the pipeline root itself; name a file or directory inside it' },
        { path: "steps.s.deps[0]", message: 'step "s", field deps[0]: "../up.txt" escapes the pipeline root' },
        { path: "steps.s.deps[1]", message: 'step "s", field deps[1]: "/etc/passwd" is absolute; paths must be relative to the pipeline root' },
        { path: "steps.s.deps[2]", message: 'step "s", field deps[2]: "a/../../b" escapes the pipeline root' },
        { path: "steps.s.deps[3]", message: 'step "s", field deps[3]: "." is the pipeline root itself; name a file or directory inside it' },
        { path: "steps.s.deps[4]", message: 'step "s", field deps[4]: "link/secret.txt" resolves outside the pipeline root (through a symlink)' },
      ]);
    } finally {
      fs.rmSync(outside, { recursive: true, force: true });
    }
  });

  it("names, missing fields, empty steps, reserved env, and interpolation outside cmd/env", () => {
    expect(problems(failure(() => parse(`steps: { s: { cmd: x } }`)))).toEqual([{ path: "name", message: "field name: is required and must be a string" }]);
    expect(problems(failure(() => parse(`name: p\nsteps: {}`)))).toEqual([{ path: "steps", message: "field steps: a pipeline needs at least one step" }]);
    expect(problems(failure(() => parse(`name: "bad name"\nsteps: { s: { cmd: x } }`)))[0]!.message).toContain("field name: must start with a letter or digit");
    expect(problems(failure(() => parse(`- 1`)))[0]!.message).toContain("a pipeline definition must be a map");
    const e = failure(() =>
      parse(`
name: p
params: { d: out }
steps:
  "bad/name": { cmd: x }
  nocmd: { deps: [gen.js] }
  empty: { cmd: "  " }
  gpu: { cmd: x, env: { CUDA_VISIBLE_DEVICES: "0", "1BAD": x } }
  interp: { cmd: x, outs: ["\${params.d}/x"] }
`),
    );
    expect(problems(e)).toEqual([
      { path: "steps.bad/name", message: expect.stringContaining('step "bad/name": the step name must start with a letter or digit') },
      { path: "steps.nocmd.cmd", message: 'step "nocmd", field cmd: is required and must be a string' },
      { path: "steps.empty.cmd", message: 'step "empty", field cmd: must not be empty' },
      { path: "steps.interp.outs[0]", message: 'step "interp", field outs[0]: "${params.d}/x": ${params.…} is only interpolated in cmd and env' },
      { path: "steps.gpu.env.CUDA_VISIBLE_DEVICES", message: 'step "gpu", field env.CUDA_VISIBLE_DEVICES: CUDA_VISIBLE_DEVICES is assigned by the executor (ask for GPUs with resources.gpu)' },
      { path: "steps.gpu.env.1BAD", message: expect.stringContaining('step "gpu", field env.1BAD: an environment variable name must start') },
    ]);
  });

  it("lists all problems of all kinds at once, and a broken step does not cascade into missing-dep errors", () => {
    const e = failure(() =>
      parse(
        `
name: p
params: { lr: 0.1 }
steps:
  gen: { cmd: x, outs: [raw.csv, model], bogus: 1 }
  train: { cmd: "t \${params.nope}", deps: [raw.csv, model/w.bin, missing.txt, "data:x"], outs: [raw.csv] }
  other: { cmd: x, resources: { gpu: -1 } }
`,
        { params: { lr: "0.2", other: "1" } },
      ),
    );
    // gen fails the schema, but its outs are still read (leniently): train's deps on them are not
    // reported missing, and the duplicate output is real.
    expect(problems(e).map((d) => d.path)).toEqual([
      "overrides.other",
      "steps.gen.bogus",
      "steps.other.resources.gpu",
      "steps.train.outs[0]",
      "steps.train.cmd",
      "steps.train.deps[2]",
      "steps.train.deps[3]",
    ]);
    expect(e.message).toMatch(/^Invalid pipeline "p" \(.*\): 7 problems:\n/);
    expect(e.message.split("\n").slice(1)).toEqual(e.details!.map((d) => `  - ${d.message}`));
  });

  it("YAML syntax errors point at the line", () => {
    const e = failure(() => parse("name: p\nsteps:\n  a: { cmd: x\n  b: [\n"));
    expect(e.code).toBe("INVALID_PARAMETER_VALUE");
    expect(e.details![0]!.path).toMatch(/cairn\.yaml:\d+:\d+$/);
    expect(e.message).toContain("YAML syntax");
    const dup = failure(() => parse("name: p\nname: q\nsteps: { s: { cmd: x } }\n"));
    expect(dup.message).toMatch(/unique/i);
  });
});

describe("loadPipeline, definePipeline, resolvePipeline", () => {
  it("loads a file or a directory; paths are relative to the file's directory", () => {
    const sub = path.join(dir, "proj");
    fs.mkdirSync(sub);
    fs.writeFileSync(path.join(sub, "cairn.yaml"), "name: p\nparams: { lr: 0.1 }\nsteps:\n  s: { cmd: 'run \${params.lr}', deps: [in.txt] }\n");
    fs.writeFileSync(path.join(sub, "in.txt"), "x");
    fs.writeFileSync(path.join(sub, "params.yaml"), "lr: 0.3\n");
    expect(loadPipeline(sub).root).toBe(sub);
    const p = loadPipeline(path.join(sub, "cairn.yaml"), { paramsFile: path.join(sub, "params.yaml"), params: {} });
    expect(p.steps[0]!.cmd).toBe("run 0.3");
    expect(loadPipeline(sub, { params: { lr: "1" } }).params.lr).toBe(1);
    expect(failure(() => loadPipeline(path.join(dir, "nope.yaml"))).code).toBe("RESOURCE_DOES_NOT_EXIST");
    expect(failure(() => loadPipeline(dir)).code).toBe("RESOURCE_DOES_NOT_EXIST");
    // Run from another directory: the root is still the file's.
    fs.unlinkSync(path.join(sub, "in.txt"));
    expect(failure(() => loadPipeline(sub)).message).toContain('"in.txt" is neither an existing file');
  });

  it("definePipeline checks what needs no files and returns the definition; resolvePipeline adds the file checks", () => {
    const def = definePipeline({
      name: "ts-pipe",
      params: { lr: 0.1 },
      steps: {
        train: { cmd: "node train.js --lr ${params.lr}", deps: ["train.js", "data/raw.csv"], outs: ["model/"], resources: { memory: "1GB" } },
        generate: { cmd: "node gen.js", deps: ["gen.js"], outs: ["data/raw.csv"] },
      },
    });
    expect(def.name).toBe("ts-pipe");
    const p = resolvePipeline(def, { root: dir, params: { lr: "0.5" } });
    expect(p.steps.map((s) => [s.name, s.cmd, s.resources.memoryMb])).toEqual([
      ["generate", "node gen.js", 0],
      ["train", "node train.js --lr 0.5", 1024],
    ]);
    expect(() => definePipeline({ name: "x", steps: { a: { cmd: "${params.nope}", deps: ["a.txt"], outs: ["a.txt"] } } })).toThrow(/unknown param "nope"[\s\S]*dependency cycle: a → a/);
    expect(() => definePipeline({ name: "x", steps: { a: { cmd: "x", deps: ["missing.txt"] } } })).not.toThrow();
    expect(() => resolvePipeline({ name: "x", steps: { a: { cmd: "x", deps: ["missing.txt"] } } }, { root: dir })).toThrow(/"missing.txt" is neither/);
  });
});

describe("value parsers", () => {
  it("durations and memory sizes", () => {
    expect([parseDuration(0), parseDuration("500ms"), parseDuration("2s"), parseDuration("1m"), parseDuration("1h"), parseDuration("1m30s"), parseDuration("1.5s"), parseDuration("250")]).toEqual([
      0, 500, 2000, 60_000, 3_600_000, 90_000, 1500, 250,
    ]);
    expect([parseDuration("soon"), parseDuration(-1), parseDuration("1d"), parseDuration("")]).toEqual([undefined, undefined, undefined, undefined]);
    expect([parseMemoryMb(512), parseMemoryMb("512MB"), parseMemoryMb("2GB"), parseMemoryMb("2G"), parseMemoryMb("2Gi"), parseMemoryMb("1TB"), parseMemoryMb("100KB"), parseMemoryMb("64")]).toEqual([
      512, 512, 2048, 2048, 2048, 1024 * 1024, 1, 64,
    ]);
    expect([parseMemoryMb("lots"), parseMemoryMb(-5), parseMemoryMb("2 PB")]).toEqual([undefined, undefined, undefined]);
  });
});
