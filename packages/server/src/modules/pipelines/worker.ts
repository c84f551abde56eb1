import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { isCairnError, isRetryable, type Cairn } from "@cairn/sdk";
import type { ClaimedTask, CompleteTaskRequest, ManifestEntryInput } from "@cairn/contract";
import { buildManifest, manifestDigest } from "../datasets/manifest.js";
import { stepCacheKey } from "./cache-key.js";
import { detectGpus, type Gpu } from "./gpu.js";
import { defaultCapacity, runPipelineLocally, type ExecutorEvent } from "./local-executor.js";
import { currentRuntime } from "./run-recorder.js";
import { missingOutputs, withOutputChecks } from "./step-cache.js";
import type { Pipeline, Resources, Step } from "./types.js";

/** What `cairn worker` runs with. */
export interface WorkerOptions {
  cairn: Cairn;
  /**
   * The token steps get as CAIRN_TOKEN. Never the worker's own (an admin's): a step runs code pushed
   * by any editor. Give a token of a user with just the roles steps need, or none.
   */
  stepToken?: string;
  name?: string;
  /** Where each claimed step gets a fresh directory (its files, then its outputs). */
  workDir: string;
  /** What this worker offers; defaults: all cores, 80% of memory, the GPUs nvidia-smi reports. */
  capacity?: Partial<Pick<Resources, "cpu" | "memoryMb">>;
  gpus?: Gpu[];
  nvidiaSmi?: string;
  /** The lease on each claimed step (default: the server's, 30 s); heartbeats go every third of it. */
  leaseMs?: number;
  /** Between SIGTERM and SIGKILL when a step is cancelled or times out. */
  killGraceMs?: number;
  /** How long one claim request waits for a ready step (default 20 s). */
  claimWaitMs?: number;
  /** Keep each step's directory after it ends (default: removed). */
  keepWorkDirs?: boolean;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
  /** Stops claiming; running steps are cancelled and reported. */
  signal?: AbortSignal;
  /** Sample GPUs every this many ms while a GPU step runs (default 1000). */
  gpuSampleMs?: number;
}

interface Held {
  task: ClaimedTask;
  ac: AbortController;
  /** Why it was stopped: the run was cancelled, this worker lost the claim, or the worker is stopping (the step goes back to the queue). */
  stopped?: "cancelled" | "lost" | "released";
  gpus: Gpu[];
}

const LOG_FLUSH_MS = 150;
const LOG_BATCH = 2000;
const LOG_LINE_MAX = 16_000;

/**
 * A pipeline worker: registers its resources with the server, claims ready steps that fit what it
 * has free (long poll), runs each in a fresh directory holding the pipeline's files and the
 * outputs of the steps before it, streams its log, renews its leases with heartbeats, and reports
 * the result with the outputs (uploaded as content-addressed blobs). A step whose cache key the
 * server already knows is answered from the cache without running. Network errors (a server
 * restart) are retried until the work can be reported; a claim the server gave to another worker in
 * the meantime is dropped.
 */
export class PipelineWorker {
  readonly #o: WorkerOptions;
  readonly #log: (line: string) => void;
  #id = "";
  #leaseMs = 30_000;
  readonly #held = new Map<string, Held>();
  #capacity: Resources = { cpu: 1, memoryMb: 0, gpu: 0 };
  #gpus: Gpu[] = [];
  readonly #freeGpus = new Set<number>();
  readonly #used: Resources = { cpu: 0, memoryMb: 0, gpu: 0 };
  #wake: (() => void) | undefined;
  /** Steps completed, by status (for tests and the final summary). */
  readonly completed: Record<string, number> = {};

  constructor(opts: WorkerOptions) {
    this.#o = opts;
    this.#log = opts.log ?? ((l) => process.stderr.write(`${l}\n`));
  }

  get id(): string {
    return this.#id;
  }

  async #register(): Promise<void> {
    const api = this.#o.cairn.client.api;
    const body = {
      name: this.#o.name ?? `${os.hostname()}-${process.pid}`,
      host: os.hostname(),
      resources: { cpu: this.#capacity.cpu, memoryMb: this.#capacity.memoryMb, gpus: this.#gpus.map((g) => ({ index: g.index, name: g.name, memoryMb: g.memoryTotalMb, ...(g.uuid ? { uuid: g.uuid } : {}) })) },
      ...(this.#o.leaseMs !== undefined ? { leaseMs: this.#o.leaseMs } : {}),
    };
    const { worker } = await this.#retrying(() => api.registerWorker({ body }), "register");
    this.#id = worker.id;
    this.#leaseMs = worker.leaseMs;
  }

  /**
   * Runs until `signal` aborts: claims, runs and reports steps.
   * @throws CairnError when the server refuses the registration (e.g. PERMISSION_DENIED: workers need an admin token)
   */
  async run(): Promise<void> {
    this.#gpus = this.#o.gpus ?? (await detectGpus(this.#o.nvidiaSmi ? { nvidiaSmi: this.#o.nvidiaSmi } : {}));
    const def = defaultCapacity(this.#gpus);
    this.#capacity = { cpu: this.#o.capacity?.cpu ?? def.cpu, memoryMb: this.#o.capacity?.memoryMb ?? def.memoryMb, gpu: this.#gpus.length };
    for (const g of this.#gpus) this.#freeGpus.add(g.index);
    fs.mkdirSync(this.#o.workDir, { recursive: true });
    await this.#register();
    this.#log(`worker ${this.#id} (${this.#o.name ?? os.hostname()}): cpu ${this.#capacity.cpu}, memory ${this.#capacity.memoryMb} MiB, GPUs ${this.#gpus.map((g) => g.index).join(",") || "none"}; server ${this.#o.cairn.url}`);
    const heartbeat = setInterval(() => void this.#heartbeat(), Math.max(100, Math.floor(this.#leaseMs / 3)));
    const running = new Set<Promise<void>>();
    const stop = this.#o.signal;
    const onStop = () => {
      for (const h of this.#held.values()) {
        h.stopped ??= "released";
        h.ac.abort();
      }
      this.#wake?.();
    };
    stop?.addEventListener("abort", onStop, { once: true });
    try {
      while (!stop?.aborted) {
        const free = { cpu: this.#capacity.cpu - this.#used.cpu, memoryMb: Math.max(0, this.#capacity.memoryMb - this.#used.memoryMb), gpu: this.#freeGpus.size };
        if (free.cpu <= 0) {
          await new Promise<void>((r) => (this.#wake = r));
          continue;
        }
        let task: ClaimedTask | null = null;
        try {
          const waitMs = this.#o.claimWaitMs ?? 20_000;
          // Stopping aborts the long poll; the timeout covers a server that never answers.
          const signal = stop ? AbortSignal.any([stop, AbortSignal.timeout(waitMs + 30_000)]) : AbortSignal.timeout(waitMs + 30_000);
          const res = await this.#o.cairn.client.api.claimTask({ params: { id: this.#id }, body: { free, waitMs }, signal });
          task = res.task;
        } catch (e) {
          if (stop?.aborted) break;
          if (isCairnError(e) && e.code === "RESOURCE_DOES_NOT_EXIST") {
            this.#log(`worker: the server does not know this worker any more; registering again`);
            await this.#register();
          } else if (isRetryable(e) || !isCairnError(e)) {
            await sleep(1000, undefined, { ref: false }).catch(() => {});
          } else throw e;
          continue;
        }
        if (!task) continue;
        const p = this.#start(task).finally(() => {
          running.delete(p);
          this.#wake?.();
        });
        running.add(p);
      }
    } finally {
      stop?.removeEventListener("abort", onStop);
      await Promise.allSettled(running);
      clearInterval(heartbeat);
    }
  }

  async #start(task: ClaimedTask): Promise<void> {
    const r = task.step.resources;
    const gpus = [...this.#freeGpus].slice(0, r.gpu);
    for (const g of gpus) this.#freeGpus.delete(g);
    this.#used.cpu += r.cpu;
    this.#used.memoryMb += r.memoryMb;
    const held: Held = { task, ac: new AbortController(), gpus: this.#gpus.filter((g) => gpus.includes(g.index)) };
    this.#held.set(task.id, held);
    try {
      await this.#runTask(held);
    } catch (e) {
      this.#log(`worker: ${task.pipeline}/${task.step.name}: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      this.#held.delete(task.id);
      for (const g of gpus) this.#freeGpus.add(g);
      // Rounded so fractional reservations add back to exactly zero.
      this.#used.cpu = Math.round((this.#used.cpu - r.cpu) * 1e6) / 1e6;
      this.#used.memoryMb = Math.round((this.#used.memoryMb - r.memoryMb) * 1e6) / 1e6;
    }
  }

  async #heartbeat(): Promise<void> {
    if (!this.#id) return;
    const tasks = [...this.#held.values()].map((h) => ({ id: h.task.id, token: h.task.token }));
    try {
      const res = await this.#o.cairn.client.api.workerHeartbeat({ params: { id: this.#id }, body: { tasks } });
      for (const id of res.cancel) this.#stop(id, "cancelled");
      for (const id of res.lost) this.#stop(id, "lost");
    } catch {
      // The server may be restarting: the lease outlives a few missed beats, and the next one renews it.
    }
  }

  #stop(id: string, why: "cancelled" | "lost"): void {
    const h = this.#held.get(id);
    if (!h || h.stopped) return;
    h.stopped = why;
    this.#log(`worker: ${h.task.pipeline}/${h.task.step.name}: ${why === "lost" ? "claim lost (the server queued it again); stopping and dropping its results" : "run cancelled; stopping"}`);
    h.ac.abort();
  }

  /** Calls the server until it answers: an unreachable server and 5xx are retried (a restarting server); other errors are thrown. */
  async #retrying<T>(fn: () => Promise<T>, what: string): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        if (!isRetryable(e)) throw e;
        if (this.#o.signal?.aborted && attempt > 3) throw e;
        if (attempt === 1 || attempt % 10 === 0) this.#log(`worker: ${what}: ${e instanceof Error ? e.message : String(e)}; retrying`);
        await sleep(Math.min(5000, 200 * 2 ** Math.min(attempt, 5)));
      }
    }
  }

  async #runTask(h: Held): Promise<void> {
    const { task } = h;
    const api = this.#o.cairn.client.api;
    const step = task.step as Step;
    const label = `${task.pipeline}/${step.name}`;
    const dir = path.join(this.#o.workDir, task.runId, `${step.name.replace(/[^\w.-]/g, "_")}-${task.claim}`);
    const logDir = path.join(this.#o.workDir, task.runId, ".logs", `${step.name.replace(/[^\w.-]/g, "_")}-${task.claim}`);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    this.#log(`${label}: claimed (run ${task.runId}, claim ${task.claim})`);

    const pending: { step: string; attempt: number; stream: "stdout" | "stderr"; text: string }[] = [];
    let partial = { stdout: "", stderr: "" };
    let flushing: Promise<void> = Promise.resolve();
    const flush = (): Promise<void> => {
      flushing = flushing.then(async () => {
        while (pending.length > 0 && h.stopped !== "lost") {
          const lines = pending.splice(0, LOG_BATCH);
          try {
            await this.#retrying(() => api.taskLogs({ params: { id: task.id }, body: { token: task.token, lines } }), `${label}: logs`);
          } catch (e) {
            if (isCairnError(e) && e.code === "ABORTED") this.#stop(task.id, "lost");
            return;
          }
        }
      });
      return flushing;
    };
    const timer = setInterval(() => void flush(), LOG_FLUSH_MS);
    const event = async (ev: Parameters<typeof api.taskEvent>[0]["body"]["event"]) => {
      try {
        await this.#retrying(() => api.taskEvent({ params: { id: task.id }, body: { token: task.token, event: ev } }), `${label}: event`);
      } catch (e) {
        if (isCairnError(e) && e.code === "ABORTED") this.#stop(task.id, "lost");
      }
    };
    const complete = async (body: Omit<CompleteTaskRequest, "token">) => {
      clearInterval(timer);
      for (const s of ["stdout", "stderr"] as const) if (partial[s]) pending.push({ step: step.name, attempt: 1, stream: s, text: partial[s].slice(0, LOG_LINE_MAX) });
      partial = { stdout: "", stderr: "" };
      await flush();
      if (h.stopped === "lost") return;
      try {
        await this.#retrying(() => api.completeTask({ params: { id: task.id }, body: { ...body, token: task.token } }), `${label}: complete`);
        this.completed[body.status] = (this.completed[body.status] ?? 0) + 1;
        this.#log(`${label}: ${body.status}${body.error ? `: ${body.error}` : ""}`);
      } catch (e) {
        if (isCairnError(e) && e.code === "ABORTED") this.#log(`${label}: ${e.message}`);
        else throw e;
      }
    };

    try {
      const cairn = this.#o.cairn;
      // The pipeline's files, then what the steps before this one produced; a restarting server is waited for.
      await this.#retrying(async () => {
        if (task.source) await cairn.datasets.materialize(`${task.source.dataset}@${task.source.version}`, dir);
        for (const up of task.upstream) await cairn.datasets.materialize(`${up.dataset}@${up.version}`, dir);
      }, `${label}: fetch its files`);
      if (h.stopped) throw new Error(`stopped (${h.stopped})`);
      const pipeline: Pipeline = { name: task.pipeline, root: dir, params: task.params, steps: [step] };
      // Outputs are written into directories that may exist in the author's tree but hold no file to carry over.
      for (const out of step.outs) fs.mkdirSync(path.dirname(path.join(dir, out.path)), { recursive: true });

      let key: Awaited<ReturnType<typeof stepCacheKey>> | undefined;
      if (step.cache) {
        const datasetDigests: Record<string, string> = {};
        for (const d of step.deps) if (d.kind === "dataset") datasetDigests[`${d.name}@${d.ref}`] = (await this.#retrying(() => cairn.datasets.getVersion(d.name, d.ref), `${label}: resolve ${d.name}@${d.ref}`)).digest;
        const stepOutputDigests: Record<string, string> = {};
        for (const up of task.upstream) for (const [p, digest] of Object.entries(up.digests)) stepOutputDigests[`${up.step}:${p}`] = digest;
        key = await stepCacheKey(pipeline, step, { datasetDigests, stepOutputDigests, runtime: currentRuntime() });
        let hit: string | undefined;
        try {
          hit = (await this.#retrying(() => api.getStepCacheEntry({ params: { name: task.pipeline, key: key!.key } }), `${label}: cache lookup`)).entry.version;
        } catch (e) {
          if (!isCairnError(e) || e.code !== "RESOURCE_DOES_NOT_EXIST") throw e;
        }
        await event({ type: "cache", hit: hit !== undefined, key: key.key, reason: hit ? `hit: key ${key.key.slice(0, 12)} (${key.components.length} components) was computed before` : `miss: no earlier run with key ${key.key.slice(0, 12)}` });
        if (hit !== undefined) {
          await complete({ status: "cached", attempts: 0, durationMs: 0, cacheKey: key.key, cachedVersion: hit });
          return;
        }
      }

      // Step deps were materialized above: the executor runs this one step alone.
      const alone = withOutputChecks({ ...pipeline, steps: [{ ...step, deps: step.deps.filter((d) => d.kind !== "step") }] });
      const onEvent = (e: ExecutorEvent) => {
        if (e.type === "log") {
          const text = partial[e.stream] + e.text;
          const lines = text.split("\n");
          // A line without an end is kept only up to the line limit (a process printing without newlines).
          partial[e.stream] = (lines.pop() ?? "").slice(0, LOG_LINE_MAX);
          for (const line of lines) pending.push({ step: step.name, attempt: e.attempt, stream: e.stream, text: line.slice(0, LOG_LINE_MAX) });
        } else if (e.type === "step-started") void event({ type: "started", attempt: e.attempt, gpus: e.gpus });
        else if (e.type === "gpu") {
          // nvidia-smi's [N/A] readings are left out rather than sent as zeros.
          const samples = e.samples.flatMap((s) => (s.utilizationPct === null || s.memoryUsedMb === null ? [] : [{ index: s.index, utilization: s.utilizationPct, memoryUsedMb: s.memoryUsedMb, ...(s.memoryTotalMb !== null ? { memoryTotalMb: s.memoryTotalMb } : {}) }]));
          if (samples.length > 0) void event({ type: "gpu", samples });
        }
      };
      const result = await runPipelineLocally(alone, {
        logDir,
        capacity: { cpu: step.resources.cpu, memoryMb: step.resources.memoryMb, gpu: h.gpus.length },
        gpus: h.gpus,
        signal: h.ac.signal,
        onEvent,
        // Steps that use the SDK talk to the same server and log into their own run.
        env: stepEnv(cairn.url, this.#o.stepToken, task),
        ...(this.#o.killGraceMs !== undefined ? { killGraceMs: this.#o.killGraceMs } : {}),
        ...(this.#o.gpuSampleMs !== undefined ? { gpuSampleMs: this.#o.gpuSampleMs } : {}),
        ...(this.#o.nvidiaSmi ? { nvidiaSmi: this.#o.nvidiaSmi } : {}),
      });
      const r = result.steps[step.name]!;
      if (h.stopped === "lost") return;
      if (h.stopped === "released") {
        await complete({ status: "released", attempts: r.attempts, durationMs: r.durationMs });
        return;
      }
      if (r.status !== "succeeded") {
        const missing = missingOutputs(r);
        const error = r.status === "failed" && missing.length > 0 ? `the command exited 0 but did not produce ${missing.map((m) => `"${m}"`).join(", ")}` : (r.error ?? r.status);
        await complete({
          status: r.status === "cancelled" || r.status === "skipped" ? "cancelled" : r.status === "cached" ? "failed" : r.status,
          attempts: r.attempts,
          durationMs: r.durationMs,
          error,
          ...(r.exitCode !== undefined ? { exitCode: r.exitCode } : {}),
          ...(r.logTail ? { logTail: r.logTail } : {}),
        });
        return;
      }
      const { files, digests } = await collectOutputs(dir, step);
      await this.#retrying(() => cairn.datasets.uploadMissingBlobs(task.outputsDataset, { entries: files, readFile: (p) => fs.createReadStream(path.join(dir, p)) }), `${label}: upload outputs`);
      await complete({
        status: "succeeded",
        attempts: r.attempts,
        durationMs: r.durationMs,
        ...(r.exitCode !== undefined ? { exitCode: r.exitCode } : {}),
        outputs: { files, digests },
        ...(key ? { cacheKey: key.key, cacheComponents: key.components } : {}),
      });
    } catch (e) {
      if (h.stopped === "lost") return;
      // Preparing the step failed (its files could not be fetched, an upload broke): the step fails with the reason.
      const message = e instanceof Error ? e.message : String(e);
      pending.push({ step: step.name, attempt: 1, stream: "stderr", text: `cairn worker: ${message}` });
      await complete(h.stopped === "released" ? { status: "released", attempts: 0, durationMs: 0 } : { status: h.stopped === "cancelled" ? "cancelled" : "failed", attempts: 0, durationMs: 0, error: `worker: ${message}` });
    } finally {
      clearInterval(timer);
      if (!this.#o.keepWorkDirs) {
        fs.rmSync(dir, { recursive: true, force: true });
        fs.rmSync(logDir, { recursive: true, force: true });
      }
    }
  }
}

/** A step's environment: the worker's, without its credentials, plus where to report and as which run. */
export function stepEnv(url: string, token: string | undefined, task: ClaimedTask): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, CAIRN_URL: url, CAIRN_RUN_ID: task.stepRunId, CAIRN_PIPELINE_RUN_ID: task.runId };
  delete env.CAIRN_TOKEN;
  delete env.MLFLOW_TRACKING_TOKEN;
  if (token) env.CAIRN_TOKEN = token;
  return env;
}

/** The manifest of a step's outputs (paths relative to the step's root) and each output's digest. */
export async function collectOutputs(root: string, step: Pick<Step, "outs">): Promise<{ files: ManifestEntryInput[]; digests: Record<string, string> }> {
  const files: ManifestEntryInput[] = [];
  const digests: Record<string, string> = {};
  for (const out of step.outs) {
    const abs = path.join(root, out.path);
    const { entries } = await buildManifest(abs);
    digests[out.path] = manifestDigest(entries);
    const isFile = fs.statSync(abs).isFile();
    for (const e of entries) files.push({ ...e, path: isFile ? out.path : `${out.path}/${e.path}` });
  }
  return { files, digests };
}
