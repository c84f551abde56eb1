import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { isCairnError, LIMITS, type Cairn, type RunStatus } from "@cairn/sdk";
import { VERSION } from "../../version.js";
import { hashFile } from "../datasets/hashing.js";
import { buildManifest, manifestDigest } from "../datasets/manifest.js";
import type { StatCache } from "../datasets/stat-cache.js";
import { stepCacheKey, type KeyComponent } from "./cache-key.js";
import { stepLogFile, type ExecutorEvent, type PipelineResult, type StepStatus } from "./local-executor.js";
import type { StepExplanation } from "./step-cache.js";
import type { Pipeline, Step } from "./types.js";

/**
 * Records a local pipeline run (`cairn run`) on a Cairn server: a parent run in experiment
 * `pipeline:<name>`, a child run per step (params, cache tags, status, `duration_s`, GPU samples,
 * the step's log as an artifact), dataset deps linked as the step run's inputs, and `dataset:`
 * outputs uploaded as new versions produced by the step run.
 *
 * Only `start()` throws (so the CLI can fail fast when the server is unreachable). After that, every
 * server error becomes a warning (`warn`) and the pipeline keeps running: tracking never changes
 * what runs locally.
 */

export interface RunRecorderOptions {
  cairn: Cairn;
  pipeline: Pipeline;
  /** Where the executor writes step logs (`<logDir>/<step>.log`). */
  logDir: string;
  /** Whether the step cache is on at all (`--no-cache` turns it off). */
  cacheOn: boolean;
  /** The step cache, to tag each step with why it hit or missed. */
  explain?: (step: string) => StepExplanation | undefined;
  /** Hashes of unchanged output files, reused when an output is uploaded as a dataset version. */
  statCache?: StatCache;
  /** Called with each tracking problem (default: a line on stderr). */
  warn?: (message: string) => void;
  /** Start time (default: now). */
  startTime?: number;
  /** Extra tags on the parent run (e.g. `cairn.rerun_of`). */
  tags?: Record<string, string>;
}

/** The tag value limit of the server; longer values are truncated. */
const TAG_MAX = LIMITS.runTagValueLength;
const PARAM_MAX = LIMITS.paramValueLength;
/** How long to wait for the executor to flush a finished step's log before uploading it. */
const LOG_FLUSH_WAIT_MS = 3000;

export const PIPELINE_TAGS = {
  pipeline: "cairn.pipeline",
  definition: "cairn.pipeline.definition",
  status: "cairn.pipeline.status",
  parent: "mlflow.parentRunId",
  step: "cairn.step",
  cache: "cairn.step.cache",
  cacheReason: "cairn.step.cache_reason",
  attempts: "cairn.step.attempts",
  stepStatus: "cairn.step.status",
  error: "cairn.step.error",
  gitCommit: "mlflow.source.git.commit",
  gitDirty: "cairn.source.git.dirty",
  runtimeNode: "cairn.runtime.node",
  runtimeCairn: "cairn.runtime.cairn",
  runtimePlatform: "cairn.runtime.platform",
  runtimeArch: "cairn.runtime.arch",
  /** Prefix: `cairn.lockfile.<file name>` = the file's SHA-256. */
  lockfile: "cairn.lockfile.",
  rerunOf: "cairn.rerun_of",
} as const;

/** The artifact on the parent run holding per-step input hashes and output digests. */
export const REPRODUCIBILITY_ARTIFACT = "reproducibility.json";
export const REPRODUCIBILITY_FORMAT = 1;

/** The runtime a run used: recorded as tags and in `reproducibility.json`. */
export interface RuntimeInfo {
  node: string;
  cairn: string;
  platform: string;
  arch: string;
}

export function currentRuntime(): RuntimeInfo {
  return { node: process.version, cairn: VERSION, platform: process.platform, arch: process.arch };
}

/** What `reproducibility.json` holds for one step. */
export interface StepReproducibility {
  status: StepStatus;
  /** The step's cache key (undefined when it could not be computed, see `error`). */
  key?: string;
  /** The cache-key components: `code:…`, `dep:…`, `data:…`, `param:…`, `env:…`, `cmd`, `outs`, `runtime`. */
  components: KeyComponent[];
  /** Output path → `manifestDigest` after the step succeeded or was restored. */
  outputs: Record<string, string>;
  error?: string;
}

/** The whole `reproducibility.json` artifact. */
export interface ReproducibilityRecord {
  format: number;
  pipeline: string;
  params: Record<string, string | number | boolean>;
  runtime: RuntimeInfo;
  /** Lockfile name → SHA-256. */
  lockfiles: Record<string, string>;
  git: { commit: string; dirty: boolean } | null;
  steps: Record<string, StepReproducibility>;
}

const LOCKFILE_RE = /^(package-lock\.json|npm-shrinkwrap\.json|yarn\.lock|pnpm-lock\.yaml|requirements.*\.txt|poetry\.lock|uv\.lock|Pipfile\.lock)$/;

/** SHA-256 of each lockfile found directly in `root` (`package-lock.json`, `requirements*.txt`, …), by name. */
export async function lockfileHashes(root: string): Promise<Record<string, string>> {
  let names: string[];
  try {
    names = fs.readdirSync(root).filter((n) => LOCKFILE_RE.test(n)).sort();
  } catch {
    return {};
  }
  const out: Record<string, string> = {};
  for (const n of names) {
    const abs = path.join(root, n);
    try {
      if (fs.statSync(abs).isFile()) out[n] = await hashFile(abs);
    } catch {
      // vanished: not recorded
    }
  }
  return out;
}

/** `manifestDigest` of one output (file or directory) under the pipeline root. */
export async function outputDigest(root: string, rel: string, statCache?: StatCache): Promise<string> {
  const { entries } = await buildManifest(path.join(root, rel), statCache ? { cache: statCache } : {});
  return manifestDigest(entries);
}

export const experimentName = (pipeline: string) => `pipeline:${pipeline}`;

/** The tracking status of a step run for an executor status. */
export function runStatusOf(s: StepStatus): RunStatus {
  if (s === "succeeded" || s === "cached") return "FINISHED";
  if (s === "skipped" || s === "cancelled") return "KILLED";
  return "FAILED";
}

const truncate = (s: string, n: number) => (s.length <= n ? s : `${s.slice(0, n - 1)}…`);
const stamp = (t: number) => new Date(t).toISOString().replace(/\.\d+Z$/, "Z");
const errText = (e: unknown) => (isCairnError(e) ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function git(args: string[], cwd: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile("git", args, { cwd, timeout: 5000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout) => resolve(err ? undefined : stdout));
  });
}

/** `{ commit, dirty }` when `root` is inside a git work tree; undefined otherwise (quietly). */
export async function gitState(root: string): Promise<{ commit: string; dirty: boolean } | undefined> {
  const head = (await git(["rev-parse", "HEAD"], root))?.trim();
  if (!head) return undefined;
  const status = await git(["status", "--porcelain"], root);
  return { commit: head, dirty: status === undefined ? false : status.trim().length > 0 };
}

/** The definition recorded with the parent run (JSON). */
export function definitionJson(p: Pipeline): string {
  return JSON.stringify({ name: p.name, params: p.params, steps: p.steps });
}

interface StepTrack {
  step: Step;
  /** Resolves to the child run id (undefined when it could not be created). */
  run: Promise<string | undefined>;
  /** The chain of tracking work for this step, in event order. */
  chain: Promise<void>;
  cache?: { hit: boolean; error?: string };
  gpuSteps: Map<number, number>;
  started?: number;
  /** The step's cache-key components, computed at its first event (before it runs). */
  inputs?: Promise<{ key?: string; components: KeyComponent[]; error?: string }>;
  /** Output path → digest, hashed as soon as the step finished well. */
  outputs?: Promise<Record<string, string>>;
  status?: StepStatus;
}

export class RunRecorder {
  readonly runId: string;
  readonly #o: RunRecorderOptions;
  readonly #steps = new Map<string, StepTrack>();
  readonly #warn: (m: string) => void;
  #warned = 0;
  #lost = false;
  #runtime: RuntimeInfo = currentRuntime();
  #lockfiles: Record<string, string> = {};
  #git: { commit: string; dirty: boolean } | null = null;

  private constructor(o: RunRecorderOptions, runId: string) {
    this.#o = o;
    this.runId = runId;
    this.#warn = o.warn ?? ((m) => process.stderr.write(`warning: tracking: ${m}\n`));
  }

  /**
   * Creates the experiment (when missing) and the parent run, and records the definition.
   * @throws CairnError when the server cannot be reached or refuses (nothing has run yet).
   */
  static async start(o: RunRecorderOptions): Promise<RunRecorder> {
    const { cairn, pipeline } = o;
    const t0 = o.startTime ?? Date.now();
    const def = definitionJson(pipeline);
    const tags: Record<string, string> = {
      [PIPELINE_TAGS.pipeline]: pipeline.name,
      [PIPELINE_TAGS.definition]: truncate(def, TAG_MAX),
      "mlflow.source.type": "PIPELINE",
      "mlflow.source.name": pipeline.root,
    };
    const g = await gitState(pipeline.root);
    if (g) {
      tags[PIPELINE_TAGS.gitCommit] = g.commit;
      tags[PIPELINE_TAGS.gitDirty] = g.dirty ? "true" : "false";
    }
    const runtime = currentRuntime();
    tags[PIPELINE_TAGS.runtimeNode] = runtime.node;
    tags[PIPELINE_TAGS.runtimeCairn] = runtime.cairn;
    tags[PIPELINE_TAGS.runtimePlatform] = runtime.platform;
    tags[PIPELINE_TAGS.runtimeArch] = runtime.arch;
    const lockfiles = await lockfileHashes(pipeline.root);
    for (const [name, sha] of Object.entries(lockfiles)) {
      const key = `${PIPELINE_TAGS.lockfile}${name}`;
      if (key.length <= LIMITS.keyLength) tags[key] = sha;
    }
    for (const [k, v] of Object.entries(o.tags ?? {})) tags[k] = truncate(v, TAG_MAX);
    const run = await cairn.startRun({
      experiment: { name: experimentName(pipeline.name) },
      runName: truncate(`${pipeline.name} ${stamp(t0)}`, LIMITS.runNameLength),
      tags,
      captureContext: false,
      startTime: t0,
    });
    const rec = new RunRecorder(o, run.id);
    rec.#runtime = runtime;
    rec.#lockfiles = lockfiles;
    rec.#git = g ?? null;
    // Params and the full definition: failures here are warnings, the run exists.
    await rec.#guard("log params", () => rec.#logParams(run.id, pipeline.params));
    await rec.#guard("upload pipeline.json", async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-pipeline-"));
      try {
        fs.writeFileSync(path.join(dir, "pipeline.json"), `${JSON.stringify(JSON.parse(def), null, 2)}\n`);
        await cairn.artifacts.upload(run.id, path.join(dir, "pipeline.json"));
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
    return rec;
  }

  /** The child run of a step, once its first event created it (undefined before, or when it could not be created). */
  stepRunId(step: string): Promise<string | undefined> {
    return this.#steps.get(step)?.run ?? Promise.resolve(undefined);
  }

  /** The server's base URL. */
  get serverUrl(): string {
    return this.#o.cairn.url;
  }

  /** The run's page in the web UI. */
  get url(): string {
    return `${this.#o.cairn.url.replace(/\/+$/, "")}/#/runs/${this.runId}`;
  }

  /** For `LocalStepCache`'s `datasetDigest`: `name@ref` → the version's digest. */
  readonly datasetDigest = async (name: string, ref: string): Promise<string> => (await this.#o.cairn.datasets.getVersion(name, ref)).digest;

  /** Feed every executor event here (synchronous; the tracking work is queued per step). */
  onEvent(e: ExecutorEvent): void {
    switch (e.type) {
      case "step-cache": {
        const t = this.#track(e.step, e.time);
        if (!t) return;
        t.cache = { hit: e.hit, ...(e.error !== undefined ? { error: e.error } : {}) };
        this.#captureInputs(t);
        break;
      }
      case "step-started": {
        const t = this.#track(e.step, e.time);
        if (t && t.started === undefined) t.started = e.time;
        if (t) this.#captureInputs(t);
        break;
      }
      case "gpu": {
        const t = this.#track(e.step, e.time);
        if (!t) return;
        const metrics: { key: string; value: number; timestamp: number; step: number }[] = [];
        for (const s of e.samples) {
          const n = t.gpuSteps.get(s.index) ?? 0;
          t.gpuSteps.set(s.index, n + 1);
          if (s.utilizationPct !== null) metrics.push({ key: `system/gpu_${s.index}_utilization`, value: s.utilizationPct, timestamp: e.time, step: n });
          if (s.memoryUsedMb !== null) metrics.push({ key: `system/gpu_${s.index}_memory_mb`, value: s.memoryUsedMb, timestamp: e.time, step: n });
        }
        if (metrics.length > 0) this.#then(t, "log GPU samples", (id) => this.#o.cairn.runs.logBatch(id, { metrics }));
        break;
      }
      case "step-finished": {
        const t = this.#track(e.step, e.time);
        if (!t) return;
        t.status = e.status;
        if (e.status === "succeeded" || e.status === "cached") {
          // Hashed now, before downstream steps run and possibly touch the files.
          t.outputs = this.#hashOutputs(t.step);
          this.#captureInputs(t);
        }
        this.#then(t, "finish the step run", (id) => this.#finishStep(t, id, e));
        break;
      }
      default:
        break;
    }
  }

  /** Waits for every step's tracking, then ends the parent run with the pipeline's status. */
  async finish(result: PipelineResult): Promise<void> {
    await Promise.all([...this.#steps.values()].map((t) => t.chain));
    const record = await this.reproducibility(result);
    await this.#guard(`upload ${REPRODUCIBILITY_ARTIFACT}`, async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-repro-"));
      try {
        fs.writeFileSync(path.join(dir, REPRODUCIBILITY_ARTIFACT), `${JSON.stringify(record, null, 2)}\n`);
        await this.#o.cairn.artifacts.upload(this.runId, path.join(dir, REPRODUCIBILITY_ARTIFACT));
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
    const status: RunStatus = result.status === "succeeded" ? "FINISHED" : result.status === "cancelled" ? "KILLED" : "FAILED";
    const { cairn } = this.#o;
    await this.#guard("record the pipeline result", () =>
      cairn.runs.logBatch(this.runId, {
        metrics: [{ key: "duration_s", value: result.durationMs / 1000, timestamp: Date.now(), step: 0 }],
        tags: [{ key: PIPELINE_TAGS.status, value: result.status }],
      }),
    );
    await this.#guard("end the pipeline run", () => cairn.runs.update(this.runId, { status, endTime: Date.now() }).then(() => undefined));
  }

  /** Ends the parent run as FAILED or KILLED when the pipeline could not run at all. */
  async abort(status: "FAILED" | "KILLED", reason: string): Promise<void> {
    await this.#guard("end the pipeline run", async () => {
      await this.#o.cairn.runs.setTag(this.runId, PIPELINE_TAGS.status, truncate(reason, TAG_MAX));
      await this.#o.cairn.runs.update(this.runId, { status, endTime: Date.now() });
    });
  }

  /** How many tracking problems were reported. */
  get warnings(): number {
    return this.#warned;
  }

  /** The reproducibility record of this run so far (what `finish` uploads as `reproducibility.json`). */
  async reproducibility(result?: PipelineResult): Promise<ReproducibilityRecord> {
    const { pipeline } = this.#o;
    const steps: Record<string, StepReproducibility> = {};
    for (const s of pipeline.steps) {
      const t = this.#steps.get(s.name);
      const status = t?.status ?? result?.steps[s.name]?.status;
      if (!t || !status) continue;
      const inputs = t.inputs ? await t.inputs : { components: [] };
      const outputs = t.outputs ? await t.outputs.catch(() => ({})) : {};
      steps[s.name] = {
        status,
        ...(inputs.key !== undefined ? { key: inputs.key } : {}),
        components: inputs.components,
        outputs,
        ...(inputs.error !== undefined ? { error: inputs.error } : {}),
      };
    }
    return { format: REPRODUCIBILITY_FORMAT, pipeline: pipeline.name, params: pipeline.params, runtime: this.#runtime, lockfiles: this.#lockfiles, git: this.#git, steps };
  }

  /** Output digests recorded so far: step → output path → digest. */
  async outputDigests(): Promise<Record<string, Record<string, string>>> {
    const out: Record<string, Record<string, string>> = {};
    for (const [name, t] of this.#steps) if (t.outputs) out[name] = await t.outputs.catch(() => ({}));
    return out;
  }

  // ---------- internals ----------

  #hashOutputs(step: Step): Promise<Record<string, string>> {
    return (async () => {
      const out: Record<string, string> = {};
      for (const o of step.outs) {
        try {
          out[o.path] = await outputDigest(this.#o.pipeline.root, o.path, this.#o.statCache);
        } catch {
          // missing output: not recorded
        }
      }
      return out;
    })();
  }

  /** Starts computing the step's key components once (the cache's when it computed them, else here). */
  #captureInputs(t: StepTrack): void {
    if (t.inputs) return;
    const ex = this.#o.explain?.(t.step.name);
    if (ex && ex.components.length > 0) {
      t.inputs = Promise.resolve({ ...(ex.key !== undefined ? { key: ex.key } : {}), components: ex.components });
      return;
    }
    const { pipeline } = this.#o;
    const step = t.step;
    t.inputs = (async () => {
      try {
        const stepOutputDigests: Record<string, string> = {};
        for (const d of step.deps) {
          if (d.kind !== "step") continue;
          const up = this.#steps.get(d.step);
          const digests = up?.outputs ? await up.outputs.catch(() => ({}) as Record<string, string>) : {};
          for (const [p, dg] of Object.entries(digests)) stepOutputDigests[`${d.step}:${p}`] = dg;
        }
        const datasetDigests: Record<string, string> = {};
        for (const d of step.deps) if (d.kind === "dataset") datasetDigests[`${d.name}@${d.ref}`] = await this.datasetDigest(d.name, d.ref);
        const k = await stepCacheKey(pipeline, step, {
          datasetDigests,
          stepOutputDigests,
          runtime: { node: this.#runtime.node, cairn: this.#runtime.cairn },
          ...(this.#o.statCache ? { statCache: this.#o.statCache } : {}),
        });
        return k;
      } catch (e) {
        return { components: [], error: errText(e) };
      }
    })();
  }

  async #guard(what: string, fn: () => Promise<unknown>): Promise<void> {
    // Once the server is unreachable (after the SDK's retries), stop trying: one warning, not one per call.
    if (this.#lost) return;
    try {
      await fn();
    } catch (e) {
      if (this.#lost) return;
      this.#warned += 1;
      if (isCairnError(e) && e.code === "TEMPORARILY_UNAVAILABLE") {
        this.#lost = true;
        this.#warn(`${what}: ${errText(e)}; recording nothing more for this run (the pipeline keeps running)`);
      } else {
        this.#warn(`${what}: ${errText(e)}`);
      }
    }
  }

  #then(t: StepTrack, what: string, fn: (runId: string) => Promise<unknown>): void {
    t.chain = t.chain.then(async () => {
      const id = await t.run;
      if (id === undefined) return;
      await this.#guard(`${t.step.name}: ${what}`, () => fn(id));
    });
  }

  /** The step's tracking state, creating its child run on its first event. */
  #track(name: string, time: number): StepTrack | undefined {
    const existing = this.#steps.get(name);
    if (existing) return existing;
    const step = this.#o.pipeline.steps.find((s) => s.name === name);
    if (!step) return undefined;
    let resolveRun!: (id: string | undefined) => void;
    const run = new Promise<string | undefined>((r) => (resolveRun = r));
    const t: StepTrack = { step, run, chain: Promise.resolve(), gpuSteps: new Map() };
    this.#steps.set(name, t);
    t.chain = (async () => {
      let id: string | undefined;
      await this.#guard(`${name}: create the step run`, async () => {
        id = await this.#createStepRun(step, time);
      });
      resolveRun(id);
      if (id === undefined) return;
      const runId = id;
      for (const d of step.deps) {
        if (d.kind !== "dataset") continue;
        await this.#guard(`${name}: link input ${d.name}@${d.ref}`, () => this.#o.cairn.datasets.linkRun(runId, { dataset: d.name, version: d.ref, direction: "input", context: name }));
      }
    })();
    return t;
  }

  async #createStepRun(step: Step, time: number): Promise<string> {
    const { cairn, pipeline } = this.#o;
    const run = await cairn.startRun({
      experiment: { name: experimentName(pipeline.name) },
      runName: truncate(step.name, LIMITS.runNameLength),
      tags: { [PIPELINE_TAGS.parent]: this.runId, [PIPELINE_TAGS.pipeline]: pipeline.name, [PIPELINE_TAGS.step]: truncate(step.name, TAG_MAX) },
      captureContext: false,
      startTime: time,
    });
    const params: Record<string, string | number | boolean> = {};
    for (const p of step.params) {
      const v = pipeline.params[p];
      if (v !== undefined) params[p] = v;
    }
    await this.#logParams(run.id, params);
    return run.id;
  }

  async #logParams(runId: string, params: Record<string, string | number | boolean>): Promise<void> {
    const list = Object.entries(params).map(([key, value]) => ({ key, value: truncate(String(value), PARAM_MAX) }));
    for (let i = 0; i < list.length; i += LIMITS.batchParams) await this.#o.cairn.runs.logBatch(runId, { params: list.slice(i, i + LIMITS.batchParams) });
  }

  #cacheTags(t: StepTrack, status: StepStatus): { cache: string; reason: string } {
    if (!this.#o.cacheOn) return { cache: "off", reason: "cache off (--no-cache)" };
    if (!t.step.cache) return { cache: "off", reason: "cache: false" };
    const ex = this.#o.explain?.(t.step.name);
    if (!t.cache) return { cache: "miss", reason: status === "skipped" || status === "cancelled" ? "not looked up" : (ex?.reason ?? "not looked up") };
    return { cache: t.cache.hit && status === "cached" ? "hit" : "miss", reason: t.cache.error ?? ex?.reason ?? "-" };
  }

  async #finishStep(t: StepTrack, runId: string, e: Extract<ExecutorEvent, { type: "step-finished" }>): Promise<void> {
    const { cairn } = this.#o;
    const name = t.step.name;
    const cache = this.#cacheTags(t, e.status);
    const tags = [
      { key: PIPELINE_TAGS.cache, value: cache.cache },
      { key: PIPELINE_TAGS.cacheReason, value: truncate(cache.reason, TAG_MAX) },
      { key: PIPELINE_TAGS.attempts, value: String(e.attempts) },
      { key: PIPELINE_TAGS.stepStatus, value: e.status },
      ...(e.error !== undefined ? [{ key: PIPELINE_TAGS.error, value: truncate(e.error, TAG_MAX) }] : []),
    ];
    await this.#guard(`${name}: record the result`, () =>
      cairn.runs.logBatch(runId, { tags, metrics: [{ key: "duration_s", value: e.durationMs / 1000, timestamp: e.time, step: 0 }] }),
    );

    // The log: written by the executor, closed just before this event; wait for it to be flushed.
    if (e.attempts > 0) {
      const logPath = path.join(this.#o.logDir, stepLogFile(name));
      await waitForLog(logPath, name);
      if (fs.existsSync(logPath)) await this.#guard(`${name}: upload its log`, () => cairn.artifacts.upload(runId, logPath, "logs"));
    }

    // Outputs registered as datasets: a new version produced by this step's run.
    if (e.status === "succeeded") {
      for (const out of t.step.outs) {
        if (!out.dataset) continue;
        const dataset = out.dataset;
        await this.#guard(`${name}: upload output ${out.path} as dataset ${dataset}`, async () => {
          const abs = path.resolve(this.#o.pipeline.root, out.path);
          const isFile = fs.statSync(abs).isFile();
          const { entries } = await buildManifest(abs, this.#o.statCache ? { cache: this.#o.statCache } : {});
          await cairn.datasets.getOrCreate(dataset);
          await cairn.datasets.uploadVersion(dataset, {
            entries,
            readFile: (p) => fs.createReadStream(isFile ? abs : path.join(abs, ...p.split("/"))),
            message: `pipeline ${this.#o.pipeline.name}, step ${name}`,
            runId,
          });
        });
      }
    }

    await this.#guard(`${name}: end the step run`, () => cairn.runs.update(runId, { status: runStatusOf(e.status), endTime: e.time }).then(() => undefined));
  }
}

/** Waits until the executor's last line for the step (`=== cairn: step … ===`) is in the log, or a few seconds. */
async function waitForLog(file: string, step: string): Promise<void> {
  const deadline = Date.now() + LOG_FLUSH_WAIT_MS;
  let lastSize = -1;
  while (Date.now() < deadline) {
    try {
      const st = fs.statSync(file);
      if (st.size === lastSize && st.size > 0) {
        const fd = fs.openSync(file, "r");
        try {
          const n = Math.min(st.size, 4096);
          const buf = Buffer.alloc(n);
          fs.readSync(fd, buf, 0, n, st.size - n);
          const text = buf.toString("utf8");
          const lastLine = text.trimEnd().split("\n").pop() ?? "";
          if (text.endsWith("===\n") && lastLine.startsWith(`=== cairn: step "${step}" attempt `) && /^ \d+ [a-z]+/.test(lastLine.slice(`=== cairn: step "${step}" attempt`.length))) return;
        } finally {
          fs.closeSync(fd);
        }
      }
      lastSize = st.size;
    } catch {
      // not there yet
    }
    await sleep(25);
  }
}
