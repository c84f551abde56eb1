import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { CairnError } from "@cairn/contract";
import { hashFile } from "../datasets/hashing.js";
import { buildManifest, manifestDigest } from "../datasets/manifest.js";
import type { StatCache } from "../datasets/stat-cache.js";
import { pathWithin } from "./definition.js";
import type { Pipeline, Step } from "./types.js";

/**
 * A step's content-addressed cache key, built from named components so that a miss can be
 * explained component by component. See this folder's README.md for what is covered and why.
 */

/** Bumped when the way keys are computed changes, so old cache entries stop matching. */
export const CACHE_KEY_VERSION = "cairn-step-key/v1";

/**
 * One named part of a key: `cmd`, `outs`, `code:<path>`, `dep:<path>`, `data:<name@ref>`,
 * `param:<name>`, `env:<NAME>`, `runtime`. `value` is what it stands for (the text, or a content
 * digest); `hash` is what the key hashes (the digest itself for content, else SHA-256 of `value`).
 */
export interface KeyComponent {
  name: string;
  value: string;
  hash: string;
}

export interface CacheKeyInputs {
  /** `"name@ref"` → the dataset version's digest, for every dataset dep of the step. */
  datasetDigests: Record<string, string>;
  /** `"step:path"` → the digest of another step's output (as that step produced it). */
  stepOutputDigests: Record<string, string>;
  runtime: { node: string; cairn: string };
  /** Reuses hashes of unchanged files (size, mtime and inode match). */
  statCache?: StatCache;
}

export interface KeyChange {
  name: string;
  change: "added" | "removed" | "changed";
  from?: string;
  to?: string;
}

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");
const literal = (name: string, value: string): KeyComponent => ({ name, value, hash: sha256(value) });
const content = (name: string, digest: string): KeyComponent => ({ name, value: digest, hash: digest });
const isContent = (name: string) => /^(code|dep|data):/.test(name);

/** Shell words of a command, split also at `=` and `,` (`--data=a.csv,b.csv`), quotes removed. */
function commandTokens(cmd: string): string[] {
  return cmd
    .split(/[\s;|&()<>=,`"']+/)
    .map((t) => t.trim())
    .filter((t) => t !== "" && !t.startsWith("-") && !/[$*?[\]{}~]/.test(t));
}

/**
 * Files under the root that the command mentions (`node train.js` → `train.js`), excluding any
 * step's outputs: those are inputs through deps, or this step's own results.
 */
export function codeReferences(pipeline: Pipeline, step: Step): string[] {
  let realRoot: string;
  try {
    realRoot = fs.realpathSync(pipeline.root);
  } catch {
    return [];
  }
  const outs = pipeline.steps.flatMap((s) => s.outs.map((o) => o.path));
  const found = new Set<string>();
  for (const tok of commandTokens(step.cmd)) {
    if (path.posix.isAbsolute(tok)) continue;
    const rel = path.posix.normalize(tok).replace(/\/+$/, "");
    if (rel === "." || rel === ".." || rel.startsWith("../")) continue;
    if (outs.some((o) => pathWithin(rel, o))) continue;
    try {
      const real = fs.realpathSync(path.join(pipeline.root, rel));
      const r = path.relative(realRoot, real);
      if (r.startsWith("..") || path.isAbsolute(r)) continue;
      if (fs.statSync(real).isFile()) found.add(rel);
    } catch {
      // not a file: an argument, a flag value, a program on PATH
    }
  }
  return [...found].sort();
}

async function treeDigest(abs: string, cache: StatCache | undefined): Promise<string> {
  const { entries } = await buildManifest(abs, cache ? { cache } : {});
  return manifestDigest(entries);
}

/**
 * The cache key of `step`: SHA-256 over its components sorted by name.
 * @throws CairnError RESOURCE_DOES_NOT_EXIST when a dataset digest is not given or a dep's files are missing
 */
export async function stepCacheKey(pipeline: Pipeline, step: Step, inputs: CacheKeyInputs): Promise<{ key: string; components: KeyComponent[] }> {
  const comps = new Map<string, KeyComponent>();
  const add = (c: KeyComponent) => comps.set(c.name, c);
  add(literal("cmd", step.cmd));
  add(literal("outs", JSON.stringify(step.outs.map((o) => o.path).sort())));
  const missing = (what: string) => new CairnError("RESOURCE_DOES_NOT_EXIST", `Step "${step.name}": ${what}`);
  const hashDep = async (rel: string) => {
    try {
      return await treeDigest(path.join(pipeline.root, rel), inputs.statCache);
    } catch (e) {
      if (e instanceof CairnError && e.code === "RESOURCE_DOES_NOT_EXIST") throw missing(`dependency "${rel}" does not exist`);
      throw e;
    }
  };

  const code = codeReferences(pipeline, step);
  const codeSet = new Set(code);
  for (const rel of code) add(content(`code:${rel}`, await hashFile(path.join(pipeline.root, rel))));
  for (const dep of step.deps) {
    if (dep.kind === "dataset") {
      const ref = `${dep.name}@${dep.ref}`;
      const digest = inputs.datasetDigests[ref];
      if (digest === undefined) throw missing(`no digest given for dataset data:${ref}`);
      add(content(`data:${ref}`, digest));
    } else if (dep.kind === "path") {
      // A file the command names is code; declaring it as a dep as well does not count it twice.
      if (!codeSet.has(dep.path)) add(content(`dep:${dep.path}`, await hashDep(dep.path)));
    } else {
      const producer = pipeline.steps.find((s) => s.name === dep.step);
      const out = producer?.outs.find((o) => pathWithin(dep.path, o.path));
      const given = inputs.stepOutputDigests[`${dep.step}:${dep.path}`] ?? (out && out.path !== dep.path ? inputs.stepOutputDigests[`${dep.step}:${out.path}`] : undefined);
      add(content(`dep:${dep.path}`, given ?? (await hashDep(dep.path))));
    }
  }
  for (const p of step.params) {
    const v = pipeline.params[p];
    add(literal(`param:${p}`, v === undefined ? "undefined" : JSON.stringify(v)));
  }
  for (const [k, v] of Object.entries(step.env)) add(literal(`env:${k}`, v));
  add(literal("runtime", `node ${inputs.runtime.node}; cairn ${inputs.runtime.cairn}`));

  const components = [...comps.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const h = createHash("sha256").update(`${CACHE_KEY_VERSION}\n`);
  for (const c of components) h.update(`${c.name}\0${c.hash}\n`);
  return { key: h.digest("hex"), components };
}

/** A component's value as explanations show it: digests cut to 12 characters, long text to 60. */
export function shortValue(c: KeyComponent): string {
  if (isContent(c.name)) return c.value.slice(0, 12);
  const v = c.value.replace(/\n/g, "\\n");
  return v.length > 60 ? `${v.slice(0, 59)}…` : v;
}

/** One change as a line: `param:lr changed 0.1 → 0.2`, `dep:data/raw.csv changed 3f2a… → 9e01…`. */
export function describeChange(c: KeyChange): string {
  if (c.change === "added") return `${c.name} added${c.to === undefined ? "" : ` (${c.to})`}`;
  if (c.change === "removed") return `${c.name} removed${c.from === undefined ? "" : ` (was ${c.from})`}`;
  return `${c.name} changed ${c.from} → ${c.to}`;
}

/**
 * Why a step hit or missed: every component added, removed or changed since the previous run's
 * key, sorted by name. `reason` is one line for humans (`no previous run`, `param:lr changed 0.1 → 0.2`).
 */
export function explainKey(previous: readonly KeyComponent[] | undefined, current: readonly KeyComponent[]): { hit: boolean; changes: KeyChange[]; reason: string } {
  if (!previous) return { hit: false, changes: [], reason: "no previous run" };
  const before = new Map(previous.map((c) => [c.name, c]));
  const after = new Map(current.map((c) => [c.name, c]));
  const names = [...new Set([...before.keys(), ...after.keys()])].sort();
  const changes: KeyChange[] = [];
  for (const name of names) {
    const a = before.get(name);
    const b = after.get(name);
    if (!a && b) changes.push({ name, change: "added", to: shortValue(b) });
    else if (a && !b) changes.push({ name, change: "removed", from: shortValue(a) });
    else if (a && b && a.hash !== b.hash) {
      let from = shortValue(a);
      let to = shortValue(b);
      if (from === to) {
        from = `#${a.hash.slice(0, 12)}`;
        to = `#${b.hash.slice(0, 12)}`;
      }
      changes.push({ name, change: "changed", from, to });
    }
  }
  const hit = changes.length === 0;
  return { hit, changes, reason: hit ? `all ${current.length} components unchanged` : changes.map(describeChange).join("; ") };
}
