/**
 * The local step cache behind `cairn run`: finished steps' outputs kept as content-addressed blobs
 * on this machine, found again by the step's cache key (`cache-key.ts`).
 *
 * Layout under the cache directory (default `<CAIRN_CACHE_DIR or ~/.cache/cairn>/pipelines`):
 *
 * - `entries/<key>.json`: one saved step: its key components, each output's manifest (paths, modes,
 *   sizes, SHA-256s) and digest, and when it was saved.
 * - `last/<pipeline-hash>/<step-hash>.json`: the key the same pipeline's step last saved or hit, so a
 *   miss can say exactly what changed since (`param:lr changed 0.1 → 0.2`).
 * - `blobs/sha256/ab/<hash>`: file contents, stored once however many entries name them.
 *
 * Every file is written through a temporary name and renamed into place, so a crash leaves no
 * half-written entry, blob or restored output behind. A restored output is checked against the
 * saved digest; one that does not match is removed and the restore fails (the step then runs).
 */
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { CairnError } from "@cairn/contract";
import { cachedBlobPath, defaultCacheDir } from "@cairn/sdk";
import { VERSION } from "../../version.js";
import { hashFile } from "../datasets/hashing.js";
import { buildManifest, manifestDigest, type ManifestEntry } from "../datasets/manifest.js";
import type { StatCache } from "../datasets/stat-cache.js";
import { explainKey, stepCacheKey, type KeyChange, type KeyComponent } from "./cache-key.js";
import type { CacheLookup, StepCache } from "./local-executor.js";
import type { Pipeline, Step } from "./types.js";

/** Bumped when the entry format changes; entries of another format are ignored. */
export const STEP_CACHE_FORMAT = 1;

/** Why a step with dataset deps is not cached when no resolver is given. */
export const DATASET_DEPS_NEED_SERVER = "not cached: dataset deps need a server";

/** One saved output of a step. */
export interface SavedOutput {
  /** The output path, relative to the pipeline root. */
  path: string;
  type: "file" | "dir";
  /** `manifestDigest(entries)`: what downstream keys see as this output's digest. */
  digest: string;
  /** For a file output, one entry named after the file's base name; for a directory, its files. */
  entries: ManifestEntry[];
}

/** A saved step: `entries/<key>.json`. */
export interface CacheEntry {
  format: number;
  key: string;
  pipeline: string;
  step: string;
  components: KeyComponent[];
  outputs: SavedOutput[];
  /** Date.now() when it was saved. */
  savedAt: number;
}

/** What a lookup found for one step, for `cairn run --explain`. */
export interface StepExplanation {
  step: string;
  /** Undefined when the key could not be computed (see `reason`). */
  key?: string;
  components: KeyComponent[];
  hit: boolean;
  changes: KeyChange[];
  /** One line: `all 6 components unchanged`, `param:lr changed 0.1 → 0.2`, `no previous run`, … */
  reason: string;
}

export interface LocalStepCacheOptions {
  /** The cache directory; default `<defaultCacheDir()>/pipelines`. */
  dir?: string;
  /** Resolves a dataset dep (`data:NAME@REF`) to the version's digest. Without it, steps with dataset deps are not cached. */
  datasetDigest?: (name: string, ref: string) => Promise<string>;
  /** Reuses hashes of unchanged files. */
  statCache?: StatCache;
  /** Default: this Node and this Cairn. */
  runtime?: { node: string; cairn: string };
}

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");
const tmpName = (p: string) => `${p}.cairn-${randomBytes(6).toString("hex")}.tmp`;

/** The default local step cache directory. */
export function defaultStepCacheDir(): string {
  return path.join(path.resolve(defaultCacheDir()), "pipelines");
}

async function writeAtomic(file: string, data: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = tmpName(file);
  try {
    await writeFile(tmp, data);
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, "utf8")) as T;
  } catch {
    return undefined;
  }
}

function isEntry(v: unknown): v is CacheEntry {
  const e = v as CacheEntry | undefined;
  return !!e && e.format === STEP_CACHE_FORMAT && typeof e.key === "string" && Array.isArray(e.components) && Array.isArray(e.outputs);
}

/** A manifest path under `dir`, refusing one that would land outside it. */
function inside(dir: string, rel: string): string {
  const p = path.resolve(dir, ...rel.split("/"));
  const r = path.relative(dir, p);
  if (r === "" || r.startsWith("..") || path.isAbsolute(r)) throw new CairnError("INVALID_PARAMETER_VALUE", `Cache entry path '${rel}' would be restored outside '${dir}'`);
  return p;
}

/** Copies `src` to `dest` through a temporary file (reflink when the file system can, else a copy), then sets `mode`. */
async function copyInto(src: string, dest: string, mode: number): Promise<void> {
  const tmp = tmpName(dest);
  try {
    await fs.promises.copyFile(src, tmp, fs.constants.COPYFILE_FICLONE);
    await fs.promises.chmod(tmp, mode & 0o777);
    await rename(tmp, dest);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/**
 * A shell command that runs `step.cmd` and then fails (exit {@link MISSING_OUTPUT_EXIT}, with a
 * `cairn:` line on stderr) when the command exited 0 but one of the step's outputs does not exist.
 */
export function commandWithOutputCheck(step: Step): string {
  if (step.outs.length === 0) return step.cmd;
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const checks = step.outs
    .map((o) => `if [ ! -e ${q(o.path)} ]; then echo ${q(`${MISSING_OUTPUT_MARKER} step "${step.name}" exited 0 but did not produce its output "${o.path}"`)} >&2; cairn_missing=1; fi`)
    .join("\n");
  return `/bin/sh -c ${q(step.cmd)} || exit $?\ncairn_missing=0\n${checks}\nif [ $cairn_missing -ne 0 ]; then exit ${MISSING_OUTPUT_EXIT}; fi`;
}

/** The exit code of a command wrapped by {@link commandWithOutputCheck} whose outputs are missing. */
export const MISSING_OUTPUT_EXIT = 86;
/** The start of the line a wrapped command prints for each missing output. */
export const MISSING_OUTPUT_MARKER = "cairn: output missing:";

/**
 * A copy of `pipeline` whose commands also check, after exiting 0, that every declared output
 * exists; a step that "succeeded" without producing one then fails like any other failed attempt
 * (retries, downstream skipped, log tail). See {@link missingOutputs} to tell such failures apart.
 */
export function withOutputChecks(pipeline: Pipeline): Pipeline {
  return { ...pipeline, steps: pipeline.steps.map((s) => ({ ...s, cmd: commandWithOutputCheck(s) })) };
}

/** The outputs a failed wrapped step reported missing (from its log tail), or [] when it failed otherwise. */
export function missingOutputs(result: { exitCode?: number; logTail?: string }): string[] {
  if (result.exitCode !== MISSING_OUTPUT_EXIT || !result.logTail) return [];
  const out: string[] = [];
  for (const line of result.logTail.split("\n")) {
    const i = line.indexOf(MISSING_OUTPUT_MARKER);
    if (i < 0) continue;
    const m = /did not produce its output "(.*)"$/.exec(line.slice(i));
    if (m?.[1] !== undefined) out.push(m[1]);
  }
  return out;
}

/**
 * A {@link StepCache} over a local directory. One instance serves one run of one pipeline: it keeps
 * the digests of the outputs earlier steps produced or restored, which the keys of later steps use.
 * Steps are matched by name against the pipeline it was created with (so the executor may run a
 * copy with rewritten commands, as {@link withOutputChecks} makes).
 */
export class LocalStepCache implements StepCache {
  readonly dir: string;
  readonly #pipeline: Pipeline;
  readonly #opts: LocalStepCacheOptions;
  readonly #runtime: { node: string; cairn: string };
  /** `"step:path"` → the output's digest, as this run produced or restored it. */
  readonly #outputDigests: Record<string, string> = {};
  /** Keys computed by `lookup`, used by `save` (a step's inputs are read before it runs). */
  readonly #keys = new Map<string, { key: string; components: KeyComponent[] }>();
  readonly #explained = new Map<string, StepExplanation>();

  constructor(pipeline: Pipeline, opts: LocalStepCacheOptions = {}) {
    this.#pipeline = pipeline;
    this.#opts = opts;
    this.dir = path.resolve(opts.dir ?? defaultStepCacheDir());
    this.#runtime = opts.runtime ?? { node: process.version, cairn: VERSION };
  }

  /** The digests of outputs produced or restored so far in this run (`"step:path"` → digest). */
  outputDigests(): Readonly<Record<string, string>> {
    return { ...this.#outputDigests };
  }

  /** Every step looked up so far, in pipeline order: key components and why it hit or missed. */
  explainAll(): StepExplanation[] {
    return this.#pipeline.steps.flatMap((s) => {
      const e = this.#explained.get(s.name);
      return e ? [e] : [];
    });
  }

  /** The explanation of one step's lookup, once it was looked up. */
  explain(step: string): StepExplanation | undefined {
    return this.#explained.get(step);
  }

  #step(step: Step): Step {
    return this.#pipeline.steps.find((s) => s.name === step.name) ?? step;
  }

  #entryFile(key: string): string {
    return path.join(this.dir, "entries", `${key}.json`);
  }

  #lastFile(step: string): string {
    return path.join(this.dir, "last", sha256(this.#pipeline.name).slice(0, 32), `${sha256(step).slice(0, 32)}.json`);
  }

  async #readEntry(key: string): Promise<CacheEntry | undefined> {
    const e = await readJson<unknown>(this.#entryFile(key));
    return isEntry(e) && e.key === key ? e : undefined;
  }

  async #lastEntry(step: string): Promise<CacheEntry | undefined> {
    const p = await readJson<{ key?: unknown }>(this.#lastFile(step));
    return typeof p?.key === "string" && /^[0-9a-f]{64}$/.test(p.key) ? this.#readEntry(p.key) : undefined;
  }

  async #setLast(step: string, key: string): Promise<void> {
    await writeAtomic(this.#lastFile(step), `${JSON.stringify({ key, updatedAt: Date.now() })}\n`);
  }

  /** Computes the step's key, or the reason it has none. */
  async #key(step: Step): Promise<{ key: string; components: KeyComponent[] } | { uncacheable: string }> {
    const datasetDigests: Record<string, string> = {};
    const datasets = step.deps.flatMap((d) => (d.kind === "dataset" ? [d] : []));
    if (datasets.length > 0) {
      if (!this.#opts.datasetDigest) return { uncacheable: DATASET_DEPS_NEED_SERVER };
      for (const d of datasets) datasetDigests[`${d.name}@${d.ref}`] = await this.#opts.datasetDigest(d.name, d.ref);
    }
    return stepCacheKey(this.#pipeline, step, {
      datasetDigests,
      stepOutputDigests: { ...this.#outputDigests },
      runtime: this.#runtime,
      ...(this.#opts.statCache ? { statCache: this.#opts.statCache } : {}),
    });
  }

  async lookup(executorStep: Step): Promise<CacheLookup> {
    const step = this.#step(executorStep);
    this.#keys.delete(step.name);
    const k = await this.#key(step);
    if ("uncacheable" in k) {
      this.#explained.set(step.name, { step: step.name, components: [], hit: false, changes: [], reason: k.uncacheable });
      return { hit: false, explain: k.uncacheable };
    }
    this.#keys.set(step.name, k);
    const entry = await this.#readEntry(k.key);
    if (entry) {
      const missing = entry.outputs.flatMap((o) => o.entries).find((e) => !fs.existsSync(cachedBlobPath(this.dir, e.sha256)));
      if (!missing) {
        const ex = explainKey(entry.components, k.components);
        const reason = `cache hit: ${ex.reason} (saved ${new Date(entry.savedAt).toISOString()})`;
        this.#explained.set(step.name, { step: step.name, key: k.key, components: k.components, hit: true, changes: ex.changes, reason });
        return {
          hit: true,
          explain: reason,
          restore: async () => {
            await this.#restore(step, entry);
            await this.#setLast(step.name, k.key);
          },
        };
      }
      const reason = `cache miss: the entry for this key lacks blob ${missing.sha256.slice(0, 12)} (${missing.path}); running the step`;
      this.#explained.set(step.name, { step: step.name, key: k.key, components: k.components, hit: false, changes: [], reason });
      return { hit: false, explain: reason };
    }
    const prev = await this.#lastEntry(step.name);
    const ex = explainKey(prev?.components, k.components);
    // The last entry may have the same key yet be unreadable here (deleted blobs were handled above).
    const reason = `cache miss: ${ex.hit ? "no saved entry for this key" : ex.reason}`;
    this.#explained.set(step.name, { step: step.name, key: k.key, components: k.components, hit: false, changes: ex.changes, reason });
    return { hit: false, explain: reason };
  }

  /** Restores every output of `entry` into the pipeline root, replacing what is there, and checks it. */
  async #restore(step: Step, entry: CacheEntry): Promise<void> {
    const root = path.resolve(this.#pipeline.root);
    for (const out of entry.outputs) {
      const target = inside(root, out.path);
      await mkdir(path.dirname(target), { recursive: true });
      // Build next to the target, then swap it in: the old output goes, a partial one never shows.
      const staging = tmpName(target);
      try {
        if (out.type === "file") {
          const e = out.entries[0];
          if (!e) throw new CairnError("INTERNAL_ERROR", `cache entry for "${out.path}" has no file`);
          await copyInto(cachedBlobPath(this.dir, e.sha256), staging, e.mode);
        } else {
          await mkdir(staging, { recursive: true });
          for (const e of out.entries) {
            const dest = inside(staging, e.path);
            await mkdir(path.dirname(dest), { recursive: true });
            await copyInto(cachedBlobPath(this.dir, e.sha256), dest, e.mode);
          }
        }
        const { entries } = await buildManifest(staging);
        const got = out.type === "file" ? manifestDigest(entries.map((x) => ({ ...x, path: path.basename(out.path) }))) : manifestDigest(entries);
        if (got !== out.digest) throw new CairnError("CHECKSUM_MISMATCH", `restored output "${out.path}" does not match the cache (digest ${got.slice(0, 12)}, expected ${out.digest.slice(0, 12)}); the cache is corrupt`);
        await rm(target, { recursive: true, force: true });
        await rename(staging, target);
      } catch (e) {
        await rm(staging, { recursive: true, force: true });
        throw e;
      }
      this.#outputDigests[`${step.name}:${out.path}`] = out.digest;
    }
  }

  /** Stores a blob unless the cache has it; the copy is hashed again, so a file changing meanwhile is caught. */
  async #storeBlob(abs: string, sha: string): Promise<void> {
    const dest = cachedBlobPath(this.dir, sha);
    if (fs.existsSync(dest)) return;
    await mkdir(path.dirname(dest), { recursive: true });
    const tmp = tmpName(dest);
    try {
      await fs.promises.copyFile(abs, tmp, fs.constants.COPYFILE_FICLONE);
      const got = await hashFile(tmp);
      if (got !== sha) throw new CairnError("CHECKSUM_MISMATCH", `${abs} changed while it was being saved to the cache`);
      await fs.promises.chmod(tmp, 0o444);
      await rename(tmp, dest);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
  }

  /**
   * Saves a step that just succeeded: hashes each output, stores the blobs the cache lacks and
   * writes the entry. Records the outputs' digests for later steps' keys either way.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST when the step did not produce a declared output
   */
  async save(executorStep: Step): Promise<void> {
    const step = this.#step(executorStep);
    const root = path.resolve(this.#pipeline.root);
    const outputs: SavedOutput[] = [];
    const files: { abs: string; sha: string }[] = [];
    for (const out of step.outs) {
      const abs = path.join(root, out.path);
      let st: fs.Stats;
      try {
        st = fs.statSync(abs);
      } catch {
        throw new CairnError("RESOURCE_DOES_NOT_EXIST", `step "${step.name}" succeeded but did not produce its output "${out.path}"`);
      }
      const { entries } = await buildManifest(abs, this.#opts.statCache ? { cache: this.#opts.statCache } : {});
      const type = st.isDirectory() ? "dir" : "file";
      const digest = manifestDigest(entries);
      outputs.push({ path: out.path, type, digest, entries });
      for (const e of entries) files.push({ abs: type === "file" ? abs : path.join(abs, ...e.path.split("/")), sha: e.sha256 });
      this.#outputDigests[`${step.name}:${out.path}`] = digest;
    }
    const k = this.#keys.get(step.name);
    if (!k) return; // not looked up (uncacheable, or the lookup failed): nothing to save under
    for (const f of files) await this.#storeBlob(f.abs, f.sha);
    const entry: CacheEntry = { format: STEP_CACHE_FORMAT, key: k.key, pipeline: this.#pipeline.name, step: step.name, components: k.components, outputs, savedAt: Date.now() };
    await writeAtomic(this.#entryFile(k.key), `${JSON.stringify(entry)}\n`);
    await this.#setLast(step.name, k.key);
  }
}
