import { inspect } from "node:util";
import type { RunStatus } from "@cairn/contract";

/** What the exit hooks need from a run. */
export interface ExitAwareRun {
  readonly id: string;
  /** Items queued and not yet acknowledged. */
  readonly pendingCount: number;
  flush(): Promise<void>;
  end(status?: RunStatus): Promise<void>;
}

type Signal = "SIGINT" | "SIGTERM";
const SIGNALS: Signal[] = ["SIGINT", "SIGTERM"];

const active = new Set<ExitAwareRun>();
let installed = false;
let handling = false;
let timeoutMs = 10_000;

function warn(msg: string): void {
  try {
    process.stderr.write(`cairn: ${msg}\n`);
  } catch {
    // stderr may be closed while the process dies; nothing else to tell.
  }
}

/** Runs `fn` but gives up after the exit timeout, so a dead server cannot hold the process forever. */
async function bounded(what: string, fn: () => Promise<unknown>): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  try {
    const r = await Promise.race([fn().then(() => "ok" as const), timeout]);
    if (r === "timeout") warn(`${what}: gave up after ${timeoutMs} ms`);
  } catch (e) {
    warn(`${what}: ${e instanceof Error ? `${(e as { code?: string }).code ?? e.name}: ${e.message}` : String(e)}`);
  } finally {
    clearTimeout(timer);
  }
}

/** Ends every active run with `status` (each flushes first). */
async function endAll(status: RunStatus): Promise<void> {
  const runs = [...active];
  await Promise.all(runs.map((r) => bounded(`could not end run ${r.id}`, () => r.end(status))));
}

function otherListeners(event: string, ours: (...args: never[]) => unknown): number {
  return process.listeners(event as "beforeExit").filter((l) => l !== (ours as unknown)).length;
}

const onBeforeExit = (code: number) => {
  if (handling || active.size === 0) return;
  handling = true;
  // The event loop was empty: the program finished without ending its runs (MLflow's atexit does the same).
  let timedOut = false;
  // bounded() stops waiting, but a hung request would still hold the event loop open: exit then.
  const guard = setTimeout(() => {
    timedOut = true;
  }, timeoutMs);
  guard.unref();
  void endAll(code === 0 ? "FINISHED" : "FAILED").finally(() => {
    clearTimeout(guard);
    handling = false;
    if (active.size === 0) uninstall();
    if (timedOut) process.exit(code);
  });
};

const signalHandlers = new Map<Signal, () => void>();
for (const sig of SIGNALS) {
  const handler = () => {
    if (handling) {
      // A second Ctrl-C while flushing: stop waiting and die now.
      uninstall();
      process.kill(process.pid, sig);
      return;
    }
    if (otherListeners(sig, handler) > 0) {
      // The program handles this signal itself and decides whether to exit; only save the data.
      for (const r of active) void bounded(`could not flush run ${r.id}`, () => r.flush());
      return;
    }
    handling = true;
    void endAll("KILLED").finally(() => {
      uninstall();
      // Re-raise with no handler left, so the process dies of the signal as it would have without us.
      process.kill(process.pid, sig);
    });
  };
  signalHandlers.set(sig, handler);
}

const onUncaught = (err: unknown, origin: string) => {
  if (otherListeners("uncaughtException", onUncaught) > 0) {
    // The program handles its own errors and decides whether to exit; only save the data.
    for (const r of active) void bounded(`could not flush run ${r.id}`, () => r.flush());
    return;
  }
  if (handling) {
    process.stderr.write(`${inspect(err)}\n`);
    return;
  }
  handling = true;
  void endAll("FAILED").finally(() => {
    uninstall();
    // What Node would have printed and the exit code it would have used.
    process.stderr.write(`${origin === "unhandledRejection" ? "Unhandled rejection: " : ""}${inspect(err)}\n`);
    process.exit(1);
  });
};

const onExit = () => {
  // process.exit() was called with runs still open: nothing async can run any more.
  for (const r of active) {
    const n = r.pendingCount;
    warn(`run ${r.id} was not ended${n > 0 ? ` and ${n} logged item(s) were not sent` : ""}; call run.end() before process.exit()`);
  }
};

function install(): void {
  if (installed) return;
  installed = true;
  process.on("beforeExit", onBeforeExit);
  for (const [sig, h] of signalHandlers) process.on(sig, h);
  process.on("uncaughtException", onUncaught);
  process.on("exit", onExit);
}

function uninstall(): void {
  if (!installed) return;
  installed = false;
  process.off("beforeExit", onBeforeExit);
  for (const [sig, h] of signalHandlers) process.off(sig, h);
  process.off("uncaughtException", onUncaught);
  process.off("exit", onExit);
}

/**
 * Tracks a run so that it is flushed and ended if the process exits first:
 * FINISHED when the event loop drains (FAILED if `process.exitCode` is set), KILLED on
 * SIGINT/SIGTERM (then the signal is re-raised), FAILED on an uncaught exception (then the
 * error is printed and the process exits with 1). Handlers are installed only while a run is active.
 */
export function trackActiveRun(run: ExitAwareRun, opts: { timeoutMs?: number } = {}): void {
  if (opts.timeoutMs !== undefined) timeoutMs = opts.timeoutMs;
  active.add(run);
  install();
}

/** Stops tracking a run (it was ended); removes the handlers when it was the last one. */
export function untrackActiveRun(run: ExitAwareRun): void {
  active.delete(run);
  if (active.size === 0 && !handling) uninstall();
}

/** Number of runs the exit hooks are watching (for tests). */
export function activeRunCount(): number {
  return active.size;
}
