/**
 * The local executor: runs a resolved pipeline's steps on this machine.
 *
 * - A step starts as soon as all its step dependencies succeeded (or were restored from the cache)
 *   and its `resources` fit into what is left of the capacity; independent steps run in parallel.
 *   A step that asks for more than the whole capacity fails at once (it could never start).
 * - A step with `gpu: n` gets n exclusive GPU indices through `CUDA_VISIBLE_DEVICES` (with
 *   `CUDA_DEVICE_ORDER=PCI_BUS_ID`, so the indices are nvidia-smi's); a step without GPUs gets
 *   `CUDA_VISIBLE_DEVICES=""` so it cannot grab a device another step holds.
 * - Each attempt runs `/bin/sh -c cmd` in its own process group (cwd: the pipeline root). Output
 *   goes to `<logDir>/<step>.log` (appended, one header per attempt) and to `onEvent` as `log` chunks.
 *   When the shell exits, whatever it left running in its group is killed.
 * - Retries with exponential backoff, per-attempt timeouts (SIGTERM to the group, SIGKILL after
 *   `killGraceMs`), OOM detection (a SIGKILL the executor did not send, or exit code 137).
 * - A failed step skips its downstream steps; independent branches finish.
 * - Cancellation through an AbortSignal: running steps get SIGTERM then SIGKILL, the rest are cancelled.
 * - Caching through an injected {@link StepCache}.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createWriteStream, type WriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import { finished } from "node:stream/promises";
import { StringDecoder } from "node:string_decoder";
import { detectGpus, sampleGpus, type Gpu, type GpuSample } from "./gpu.js";
import type { Pipeline, Resources, Step } from "./types.js";

/** What a cache lookup answers for one step. */
export interface CacheLookup {
  hit: boolean;
  /** Restores the step's outputs; called (and awaited) on a hit before the step counts as done. */
  restore?: () => Promise<void>;
  /** Why it hit or missed (key components), for `cairn run --explain`. */
  explain?: string;
}

/** The step cache the executor consults for `cache: true` steps. */
export interface StepCache {
  lookup(step: Step): Promise<CacheLookup>;
  /** Called after a `cache: true` step succeeded, before its downstream steps start. */
  save(step: Step): Promise<void>;
}

export type StepStatus = "succeeded" | "cached" | "failed" | "timeout" | "oom" | "skipped" | "cancelled";
/** The statuses an attempt can fail with (and be retried after). */
export type FailureStatus = "failed" | "timeout" | "oom";
export type PipelineStatus = "succeeded" | "failed" | "cancelled";

export interface StepResult {
  name: string;
  status: StepStatus;
  /** Attempts started (0: never ran — cached, skipped, cancelled before starting, or too big). */
  attempts: number;
  /** From the first attempt's start to the step's end (0 when it never ran; restore time when cached). */
  durationMs: number;
  /** The last attempt's exit code, when it exited normally. */
  exitCode?: number;
  /** The signal that ended the last attempt, when one did. */
  signal?: NodeJS.Signals;
  /** What went wrong (failed, timeout, oom, skipped, cancelled, or a cache-save problem). */
  error?: string;
  /** The last ~20 lines of the last attempt's output, for failed/timeout/oom steps. */
  logTail?: string;
  /** GPU indices the last attempt held. */
  gpus?: number[];
  /** For skipped steps: the step whose failure caused the skip (the root cause, not just the parent). */
  skippedBecause?: string;
  /** The cache's explanation of the lookup, for `cache: true` steps. */
  cacheExplain?: string;
  /** `<logDir>/<step>.log`, when the step ran. */
  logPath?: string;
}

export interface PipelineResult {
  pipeline: string;
  status: PipelineStatus;
  durationMs: number;
  /** Per step, in the pipeline's step order. */
  steps: Record<string, StepResult>;
  /** The capacity the run was scheduled within. */
  capacity: Resources;
  /** The GPUs the run could assign. */
  gpus: Gpu[];
}

interface EventBase {
  /** Date.now() when the event was emitted. */
  time: number;
}

export type ExecutorEvent = EventBase &
  (
    | { type: "pipeline-started"; pipeline: string; capacity: Resources; gpus: number[] }
    | { type: "step-cache"; step: string; hit: boolean; explain?: string; error?: string }
    | {
        type: "step-started";
        step: string;
        attempt: number;
        maxAttempts: number;
        pid?: number;
        resources: Resources;
        gpus: number[];
        cudaVisibleDevices: string;
      }
    | { type: "log"; step: string; attempt: number; stream: "stdout" | "stderr"; text: string }
    | { type: "gpu"; step: string; samples: GpuSample[] }
    | {
        type: "step-retry";
        step: string;
        /** The attempt that failed. */
        attempt: number;
        nextAttempt: number;
        status: FailureStatus;
        error: string;
        delayMs: number;
      }
    | {
        type: "step-finished";
        step: string;
        status: StepStatus;
        attempts: number;
        durationMs: number;
        exitCode?: number;
        error?: string;
      }
    | { type: "warning"; step?: string; message: string }
    | { type: "pipeline-finished"; pipeline: string; status: PipelineStatus; durationMs: number }
  );

export interface LocalExecutorOptions {
  /** What may run at once. Defaults: cpu = os.cpus().length, memoryMb = 80% of RAM, gpu = GPUs available. */
  capacity?: Partial<Resources>;
  /** The GPUs to assign (default: detected with nvidia-smi; capped at `capacity.gpu`). */
  gpus?: Gpu[];
  logDir: string;
  cache?: StepCache;
  signal?: AbortSignal;
  onEvent?: (e: ExecutorEvent) => void;
  /** The environment steps inherit (default process.env); also used to find nvidia-smi. */
  env?: NodeJS.ProcessEnv;
  /** Between SIGTERM and SIGKILL on timeout and cancel; default 5000. */
  killGraceMs?: number;
  /** GPU sampling interval while a GPU step runs; default 1000; 0 turns sampling off. */
  gpuSampleMs?: number;
  /** nvidia-smi executable for detection and sampling (default: `nvidia-smi` on PATH). */
  nvidiaSmi?: string;
}

const LOG_TAIL_LINES = 20;
const LOG_TAIL_CHARS = 16 * 1024;
/** After a step's shell exits and its group is killed, how long to wait for its pipes to close. */
const PIPE_DRAIN_MS = 2000;

/** The default capacity for this machine given its GPUs. */
export function defaultCapacity(gpus: Gpu[]): Resources {
  return {
    cpu: os.cpus().length,
    memoryMb: Math.floor((os.totalmem() * 0.8) / (1024 * 1024)),
    gpu: gpus.length,
  };
}

/**
 * The file name of a step's log: `<step>.log`; a name with characters unsafe in a file name gets them
 * replaced and a short hash of the real name appended, so two steps never share a log.
 */
export function stepLogFile(stepName: string): string {
  if (/^[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(stepName) && stepName.length <= 200) return `${stepName}.log`;
  const safe = stepName.replace(/[^A-Za-z0-9._-]/g, "_").replace(/^\.+/, "_").slice(0, 100);
  const hash = createHash("sha256").update(stepName).digest("hex").slice(0, 8);
  return `${safe}-${hash}.log`;
}

type Phase = "pending" | "cache" | "ready" | "running" | "backoff" | "done";

interface AttemptOutcome {
  status: "succeeded" | FailureStatus | "cancelled";
  exitCode?: number;
  signal?: NodeJS.Signals;
  error?: string;
  logTail?: string;
}

interface StepState {
  step: Step;
  deps: string[];
  need: Resources;
  phase: Phase;
  attempts: number;
  firstStartedAt?: number;
  gpus: number[];
  /** Set while an attempt runs: asks it to stop (cancel). */
  cancelAttempt?: () => void;
  backoffTimer?: NodeJS.Timeout;
  log?: WriteStream;
  logBroken?: boolean;
  cacheExplain?: string;
  result?: StepResult;
}

function clampResource(n: number | undefined): number {
  return typeof n === "number" && Number.isFinite(n) && n > 0 ? n : 0;
}

function retriesOf(step: Step): number {
  return Math.floor(clampResource(step.retries));
}

function fmtResources(r: Resources): string {
  return `cpu ${r.cpu}, memory ${r.memoryMb} MiB, gpu ${r.gpu}`;
}

function errMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function tailLines(text: string): string {
  const lines = text.split("\n");
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines.slice(-LOG_TAIL_LINES).join("\n");
}

function failureVerb(status: StepStatus): string {
  switch (status) {
    case "timeout":
      return "timed out";
    case "oom":
      return "was killed (likely out of memory)";
    case "skipped":
      return "was skipped";
    case "cancelled":
      return "was cancelled";
    default:
      return "failed";
  }
}

/** Sends `sig` to the process group led by `pid`; with `orProcess`, to the process alone if that fails. */
function killGroup(pid: number | undefined, sig: NodeJS.Signals, orProcess = false): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, sig);
  } catch {
    if (!orProcess) return;
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  }
}

/** Runs a pipeline on this machine; resolves when every step has an outcome. */
export async function runPipelineLocally(pipeline: Pipeline, opts: LocalExecutorOptions): Promise<PipelineResult> {
  const t0 = Date.now();
  const baseEnv = opts.env ?? process.env;
  const killGraceMs = opts.killGraceMs ?? 5000;
  const gpuSampleMs = opts.gpuSampleMs ?? 1000;
  const emit = (e: ExecutorEvent): void => {
    if (!opts.onEvent) return;
    try {
      opts.onEvent(e);
    } catch {
      // A listener's bug must not break the run.
    }
  };

  // GPUs: given, or detected (only when GPUs may be used at all).
  let gpus: Gpu[];
  if (opts.gpus) gpus = [...opts.gpus];
  else if (opts.capacity?.gpu === 0) gpus = [];
  else gpus = await detectGpus({ env: baseEnv, nvidiaSmi: opts.nvidiaSmi });
  if (opts.capacity?.gpu !== undefined) gpus = gpus.slice(0, Math.max(0, Math.floor(opts.capacity.gpu)));
  const defaults = defaultCapacity(gpus);
  const capacity: Resources = {
    cpu: opts.capacity?.cpu ?? defaults.cpu,
    memoryMb: opts.capacity?.memoryMb ?? defaults.memoryMb,
    gpu: gpus.length,
  };

  await mkdir(opts.logDir, { recursive: true });

  const states = new Map<string, StepState>();
  for (const step of pipeline.steps) {
    if (states.has(step.name)) throw new Error(`pipeline "${pipeline.name}": duplicate step name "${step.name}"`);
    const deps = [...new Set(step.deps.flatMap((d) => (d.kind === "step" ? [d.step] : [])))];
    states.set(step.name, {
      step,
      deps,
      need: {
        cpu: clampResource(step.resources?.cpu),
        memoryMb: clampResource(step.resources?.memoryMb),
        gpu: Math.ceil(clampResource(step.resources?.gpu)),
      },
      phase: "pending",
      attempts: 0,
      gpus: [],
    });
  }

  const used = { cpu: 0, memoryMb: 0 };
  const freeGpus = new Set(gpus.map((g) => g.index));
  const logCloses: Promise<void>[] = [];
  let aborted = opts.signal?.aborted ?? false;
  let finish!: () => void;
  const allDone = new Promise<void>((resolve) => (finish = resolve));

  emit({ type: "pipeline-started", time: Date.now(), pipeline: pipeline.name, capacity, gpus: gpus.map((g) => g.index) });

  const fits = (st: StepState): boolean =>
    used.cpu + st.need.cpu <= capacity.cpu + 1e-9 &&
    used.memoryMb + st.need.memoryMb <= capacity.memoryMb + 1e-9 &&
    freeGpus.size >= st.need.gpu;

  const logPathOf = (st: StepState): string => join(opts.logDir, stepLogFile(st.step.name));

  const writeLog = (st: StepState, chunk: string | Buffer): void => {
    if (st.logBroken) return;
    if (!st.log) {
      const log = createWriteStream(logPathOf(st), { flags: "a" });
      log.on("error", (err) => {
        if (st.logBroken) return;
        st.logBroken = true;
        emit({ type: "warning", time: Date.now(), step: st.step.name, message: `cannot write log ${logPathOf(st)}: ${err.message}` });
      });
      st.log = log;
    }
    st.log.write(chunk);
  };

  const done = (st: StepState, r: Omit<StepResult, "name" | "attempts" | "durationMs"> & { durationMs?: number }): void => {
    if (st.phase === "done") return;
    st.phase = "done";
    st.cancelAttempt = undefined;
    if (st.backoffTimer) clearTimeout(st.backoffTimer);
    const durationMs = r.durationMs ?? (st.firstStartedAt !== undefined ? Date.now() - st.firstStartedAt : 0);
    const result: StepResult = { name: st.step.name, ...r, attempts: st.attempts, durationMs };
    if (st.cacheExplain !== undefined) result.cacheExplain = st.cacheExplain;
    if (st.log) {
      result.logPath = logPathOf(st);
      const log = st.log;
      logCloses.push(finished(log).then(
        () => undefined,
        () => undefined,
      ));
      log.end();
    }
    st.result = result;
    emit({
      type: "step-finished",
      time: Date.now(),
      step: st.step.name,
      status: result.status,
      attempts: result.attempts,
      durationMs: result.durationMs,
      ...(result.exitCode !== undefined ? { exitCode: result.exitCode } : {}),
      ...(result.error !== undefined ? { error: result.error } : {}),
    });
  };

  /** Runs one attempt of a step whose resources are already reserved. */
  const runAttempt = (st: StepState, attempt: number): Promise<AttemptOutcome> =>
    new Promise<AttemptOutcome>((resolve) => {
      const step = st.step;
      const cudaVisibleDevices = st.gpus.join(",");
      const env: NodeJS.ProcessEnv = {
        ...baseEnv,
        ...step.env,
        CAIRN_PIPELINE: pipeline.name,
        CAIRN_STEP: step.name,
        CAIRN_STEP_ATTEMPT: String(attempt),
        CUDA_VISIBLE_DEVICES: cudaVisibleDevices,
      };
      if (st.gpus.length > 0) env.CUDA_DEVICE_ORDER = "PCI_BUS_ID";
      const maxAttempts = retriesOf(step) + 1;
      const startedAt = Date.now();
      writeLog(
        st,
        `=== cairn: step "${step.name}" attempt ${attempt}/${maxAttempts} started ${new Date(startedAt).toISOString()}` +
          `${st.gpus.length > 0 ? ` CUDA_VISIBLE_DEVICES=${cudaVisibleDevices}` : ""} ===\n`,
      );

      let tail = "";
      let reason: "timeout" | "cancelled" | undefined;
      let exited = false;
      let settled = false;
      let exitCode: number | null = null;
      let exitSignal: NodeJS.Signals | null = null;
      let spawnError: Error | undefined;
      const timers: NodeJS.Timeout[] = [];
      let sampler: NodeJS.Timeout | undefined;

      const settle = (): void => {
        if (settled) return;
        settled = true;
        for (const t of timers) clearTimeout(t);
        if (sampler) clearInterval(sampler);
        for (const [, dec] of decoders) {
          const rest = dec.end();
          if (rest) tail += rest;
        }
        const logTail = tailLines(tail);
        let out: AttemptOutcome;
        if (spawnError) {
          out = { status: "failed", error: `could not start /bin/sh: ${spawnError.message}` };
        } else if (reason === "timeout") {
          out = { status: "timeout", error: `timed out after ${step.timeoutMs} ms (attempt ${attempt})` };
        } else if (reason === "cancelled") {
          out = { status: "cancelled", error: "cancelled" };
        } else if (exitSignal === "SIGKILL" || exitCode === 137) {
          out = {
            status: "oom",
            error: `killed (${exitSignal === "SIGKILL" ? "SIGKILL" : "exit code 137"}), likely out of memory`,
          };
        } else if (exitCode === 0) {
          out = { status: "succeeded", exitCode: 0 };
        } else if (exitCode !== null) {
          out = { status: "failed", error: `exited with code ${exitCode}` };
        } else {
          out = { status: "failed", error: `killed by signal ${exitSignal ?? "unknown"}` };
        }
        if (exitCode !== null) out.exitCode = exitCode;
        if (exitSignal !== null) out.signal = exitSignal;
        if (out.status !== "succeeded") out.logTail = logTail;
        writeLog(
          st,
          `=== cairn: step "${step.name}" attempt ${attempt} ${out.status}` +
            `${out.error ? `: ${out.error}` : ""} after ${Date.now() - startedAt} ms ===\n`,
        );
        resolve(out);
      };

      const decoders = new Map<"stdout" | "stderr", StringDecoder>([
        ["stdout", new StringDecoder("utf8")],
        ["stderr", new StringDecoder("utf8")],
      ]);
      let child;
      try {
        child = spawn("/bin/sh", ["-c", step.cmd], {
          cwd: pipeline.root,
          env,
          detached: true,
          stdio: ["ignore", "pipe", "pipe"],
        });
      } catch (e) {
        spawnError = e instanceof Error ? e : new Error(String(e));
        settle();
        return;
      }
      const pid = child.pid;

      const onData = (stream: "stdout" | "stderr") => (buf: Buffer) => {
        writeLog(st, buf);
        const text = decoders.get(stream)!.write(buf);
        if (!text) return;
        tail += text;
        if (tail.length > LOG_TAIL_CHARS * 2) tail = tail.slice(-LOG_TAIL_CHARS);
        emit({ type: "log", time: Date.now(), step: step.name, attempt, stream, text });
      };
      child.stdout?.on("data", onData("stdout"));
      child.stderr?.on("data", onData("stderr"));

      const stop = (why: "timeout" | "cancelled"): void => {
        if (exited || reason) return;
        reason = why;
        killGroup(pid, "SIGTERM", true);
        const t = setTimeout(() => killGroup(pid, "SIGKILL", true), killGraceMs);
        timers.push(t);
      };
      st.cancelAttempt = () => stop("cancelled");

      child.on("error", (err) => {
        // Spawn failed (e.g. the pipeline root does not exist); no process to wait for.
        if (pid === undefined || child.pid === undefined) {
          spawnError = err;
          settle();
        }
      });
      child.on("exit", (code, signal) => {
        exited = true;
        exitCode = code;
        exitSignal = signal;
        for (const t of timers) clearTimeout(t);
        // Whatever the shell left running in its group goes with it (no orphans holding GPUs or pipes).
        killGroup(pid, "SIGKILL");
        // Give the pipes a moment to drain; a process that escaped the group could hold them forever.
        timers.push(
          setTimeout(() => {
            child.stdout?.destroy();
            child.stderr?.destroy();
            settle();
          }, PIPE_DRAIN_MS),
        );
      });
      child.on("close", () => {
        if (exited) settle();
      });

      if (pid === undefined) return; // the 'error' event follows

      emit({
        type: "step-started",
        time: Date.now(),
        step: step.name,
        attempt,
        maxAttempts,
        pid,
        resources: st.need,
        gpus: [...st.gpus],
        cudaVisibleDevices,
      });

      if (step.timeoutMs !== undefined && step.timeoutMs > 0) {
        timers.push(setTimeout(() => stop("timeout"), step.timeoutMs));
      }
      if (st.gpus.length > 0 && gpuSampleMs > 0) {
        let inFlight = false;
        const indices = [...st.gpus];
        sampler = setInterval(() => {
          if (inFlight || settled) return;
          inFlight = true;
          sampleGpus(indices, { env: baseEnv, nvidiaSmi: opts.nvidiaSmi })
            .then((samples) => {
              if (!settled && samples.length > 0) emit({ type: "gpu", time: Date.now(), step: step.name, samples });
            })
            .finally(() => {
              inFlight = false;
            });
        }, gpuSampleMs);
      }
    });

  /** Reserves resources, runs an attempt, and decides what happens next. */
  const startAttempt = (st: StepState): void => {
    st.phase = "running";
    st.attempts += 1;
    const attempt = st.attempts;
    st.firstStartedAt ??= Date.now();
    used.cpu += st.need.cpu;
    used.memoryMb += st.need.memoryMb;
    const sorted = [...freeGpus].sort((a, b) => a - b).slice(0, st.need.gpu);
    for (const g of sorted) freeGpus.delete(g);
    st.gpus = sorted;

    void runAttempt(st, attempt).then(async (out) => {
      st.cancelAttempt = undefined;
      used.cpu -= st.need.cpu;
      used.memoryMb -= st.need.memoryMb;
      for (const g of st.gpus) freeGpus.add(g);
      const common = {
        ...(out.exitCode !== undefined ? { exitCode: out.exitCode } : {}),
        ...(out.signal !== undefined ? { signal: out.signal } : {}),
        ...(st.gpus.length > 0 ? { gpus: [...st.gpus] } : {}),
      };
      if (out.status === "succeeded") {
        let error: string | undefined;
        if (st.step.cache && opts.cache) {
          try {
            await opts.cache.save(st.step);
          } catch (e) {
            error = `cache save failed: ${errMessage(e)}`;
            emit({ type: "warning", time: Date.now(), step: st.step.name, message: error });
          }
        }
        done(st, { status: "succeeded", ...common, ...(error ? { error } : {}) });
      } else if (out.status === "cancelled") {
        done(st, { status: "cancelled", ...common, error: "cancelled while running" });
      } else if (!aborted && attempt <= retriesOf(st.step)) {
        const delayMs = clampResource(st.step.retryDelayMs) * 2 ** (attempt - 1);
        st.phase = "backoff";
        emit({
          type: "step-retry",
          time: Date.now(),
          step: st.step.name,
          attempt,
          nextAttempt: attempt + 1,
          status: out.status,
          error: out.error ?? out.status,
          delayMs,
        });
        st.backoffTimer = setTimeout(() => {
          st.backoffTimer = undefined;
          if (st.phase !== "backoff") return;
          st.phase = "ready";
          pump();
        }, delayMs);
      } else {
        done(st, {
          status: out.status,
          ...common,
          error: attempt > 1 ? `${out.error ?? out.status} (after ${attempt} attempts)` : (out.error ?? out.status),
          ...(out.logTail !== undefined ? { logTail: out.logTail } : {}),
        });
      }
      pump();
    });
  };

  /** Consults the cache for a ready `cache: true` step: a hit restores and finishes it, a miss runs it. */
  const consultCache = (st: StepState, cache: StepCache): void => {
    st.phase = "cache";
    const started = Date.now();
    void (async () => {
      let lookup: CacheLookup | undefined;
      try {
        lookup = await cache.lookup(st.step);
        if (lookup.explain !== undefined) st.cacheExplain = lookup.explain;
        emit({
          type: "step-cache",
          time: Date.now(),
          step: st.step.name,
          hit: lookup.hit,
          ...(lookup.explain !== undefined ? { explain: lookup.explain } : {}),
        });
      } catch (e) {
        const message = `cache lookup failed, running the step: ${errMessage(e)}`;
        st.cacheExplain = message;
        emit({ type: "step-cache", time: Date.now(), step: st.step.name, hit: false, error: message });
      }
      if (st.phase !== "cache") return;
      if (aborted) {
        done(st, { status: "cancelled", error: "cancelled before it started" });
      } else if (lookup?.hit) {
        try {
          await lookup.restore?.();
          done(st, { status: "cached", durationMs: Date.now() - started });
        } catch (e) {
          const message = `cache restore failed, running the step: ${errMessage(e)}`;
          st.cacheExplain = `${st.cacheExplain ? `${st.cacheExplain}; ` : ""}${message}`;
          emit({ type: "warning", time: Date.now(), step: st.step.name, message });
          if (aborted) done(st, { status: "cancelled", error: "cancelled before it started" });
          else st.phase = "ready";
        }
      } else {
        st.phase = "ready";
      }
      pump();
    })();
  };

  let pumping = false;
  let again = false;
  /** Moves every step as far as it can go; called after every change. */
  const pump = (): void => {
    if (pumping) {
      again = true;
      return;
    }
    pumping = true;
    try {
      do {
        again = false;
        for (const st of states.values()) {
          if (st.phase === "pending") {
            if (aborted) {
              done(st, { status: "cancelled", error: "cancelled before it started" });
              again = true;
              continue;
            }
            let waiting = false;
            let blocker: StepState | undefined;
            for (const d of st.deps) {
              const ds = states.get(d)!;
              if (ds.phase !== "done") waiting = true;
              else if (ds.result!.status !== "succeeded" && ds.result!.status !== "cached") {
                blocker = ds;
                break;
              }
            }
            if (blocker) {
              const b = blocker.result!;
              const root = b.status === "skipped" && b.skippedBecause ? b.skippedBecause : blocker.step.name;
              const rootStatus = states.get(root)?.result?.status ?? b.status;
              const error =
                root === blocker.step.name
                  ? `skipped: upstream step "${root}" ${failureVerb(b.status)}`
                  : `skipped: upstream step "${blocker.step.name}" was skipped because step "${root}" ${failureVerb(rootStatus)}`;
              if (b.status === "cancelled") done(st, { status: "cancelled", error: `cancelled: upstream step "${blocker.step.name}" was cancelled` });
              else done(st, { status: "skipped", error, skippedBecause: root });
              again = true;
              continue;
            }
            if (waiting) continue;
            if (st.step.cache && opts.cache) consultCache(st, opts.cache);
            else st.phase = "ready";
          }
          if (st.phase === "ready") {
            if (aborted) {
              done(st, { status: "cancelled", error: "cancelled before it started" });
              again = true;
            } else if (fits(st)) {
              startAttempt(st);
            }
          }
        }
      } while (again);

      const all = [...states.values()];
      if (all.every((s) => s.phase === "done")) {
        finish();
        return;
      }
      // Nothing in flight and nothing can start: the rest waits on steps that never finish (a cycle).
      const active = all.some((s) => s.phase === "running" || s.phase === "backoff" || s.phase === "cache");
      const startable = all.some((s) => s.phase === "ready");
      if (!active && !startable) {
        for (const s of all) {
          if (s.phase !== "done") {
            const open = s.deps.filter((d) => states.get(d)!.phase !== "done");
            done(s, { status: "failed", error: `waits on step(s) ${open.map((d) => `"${d}"`).join(", ")} that can never finish (dependency cycle)` });
          }
        }
        finish();
      }
    } finally {
      pumping = false;
    }
  };

  // Steps that can never run here fail at once: unknown dependencies, or more than the whole capacity.
  for (const st of states.values()) {
    const unknown = st.deps.filter((d) => !states.has(d));
    if (unknown.length > 0) {
      done(st, { status: "failed", error: `depends on unknown step(s) ${unknown.map((d) => `"${d}"`).join(", ")}` });
      continue;
    }
    const n = st.need;
    const over: string[] = [];
    if (n.cpu > capacity.cpu + 1e-9) over.push(`cpu ${n.cpu} > ${capacity.cpu}`);
    if (n.memoryMb > capacity.memoryMb + 1e-9) over.push(`memory ${n.memoryMb} MiB > ${capacity.memoryMb} MiB`);
    if (n.gpu > capacity.gpu) over.push(`gpu ${n.gpu} > ${capacity.gpu}`);
    if (over.length > 0) {
      done(st, {
        status: "failed",
        error: `needs more than this executor's whole capacity (${over.join(", ")}; capacity: ${fmtResources(capacity)}), so it can never start`,
      });
    }
  }

  const onAbort = (): void => {
    aborted = true;
    for (const st of states.values()) {
      if (st.phase === "running") st.cancelAttempt?.();
      else if (st.phase === "backoff") done(st, { status: "cancelled", error: "cancelled while waiting to retry" });
    }
    pump();
  };
  opts.signal?.addEventListener("abort", onAbort, { once: true });

  try {
    if (aborted) onAbort();
    else pump();
    await allDone;
  } finally {
    opts.signal?.removeEventListener("abort", onAbort);
  }
  await Promise.all(logCloses);

  const steps: Record<string, StepResult> = {};
  for (const [name, st] of states) steps[name] = st.result!;
  const results = Object.values(steps);
  const status: PipelineStatus = results.some((r) => r.status === "cancelled")
    ? "cancelled"
    : results.every((r) => r.status === "succeeded" || r.status === "cached")
      ? "succeeded"
      : "failed";
  const durationMs = Date.now() - t0;
  emit({ type: "pipeline-finished", time: Date.now(), pipeline: pipeline.name, status, durationMs });
  return { pipeline: pipeline.name, status, durationMs, steps, capacity, gpus };
}
