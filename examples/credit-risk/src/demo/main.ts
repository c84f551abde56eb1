/**
 * The entry `cairn demo` calls (and `npm run demo`): picks a fresh data directory and a free port,
 * runs the lifecycle, writes its summary when asked, and keeps serving the UI afterwards on a
 * terminal (Ctrl-C stops), so the newcomer can look at what happened.
 */
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { runDemo, type DemoResult } from "./lifecycle.js";

/** Options of `cairn demo`. */
export interface DemoCliOptions {
  /** Port to try first (the next free one is used when it is taken; 0: any). */
  port: number;
  /** A new or empty directory (default: a fresh one in the temp directory). */
  dataDir?: string;
  rows?: number;
  /** Keep serving after the demo (default: when stdout is a terminal). */
  serve?: boolean;
  /** Write the result as JSON to this file. */
  summary?: string;
}

/**
 * Runs the demo for the command line. Resolves when it is over (after Ctrl-C when serving).
 * @throws Error for a data directory that is not empty, and when a stage fails
 */
export async function runDemoCli(opts: DemoCliOptions): Promise<DemoResult> {
  const dataDir = opts.dataDir ? resolve(opts.dataDir) : mkdtempSync(join(tmpdir(), "cairn-demo-"));
  if (existsSync(dataDir) && readdirSync(dataDir).length > 0) throw new Error(`--data-dir ${dataDir} is not empty; the demo starts from nothing (give a new directory, or leave it out)`);
  const port = opts.port === 0 ? 0 : await freePort(opts.port);
  // Ctrl-C during the demo cancels the running steps and closes the server before exiting.
  const interrupt = new AbortController();
  const onSignal = () => interrupt.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  let run: Awaited<ReturnType<typeof runDemo>>;
  try {
    run = await runDemo({ dataDir, port, signal: interrupt.signal, ...(opts.rows !== undefined ? { rows: opts.rows } : {}) });
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  const { result, close } = run;
  if (opts.summary) writeFileSync(opts.summary, `${JSON.stringify(result, null, 2)}\n`);
  const serve = opts.serve ?? Boolean(process.stdout.isTTY);
  if (!serve) {
    await close();
    process.stdout.write(`\nThe server stopped. To look around later: node packages/server/bin/cairn.js server --auth --data-dir ${dataDir} --port ${new URL(result.url).port}\n`);
    return result;
  }
  process.stdout.write(`\nThe server keeps running at ${result.url} — open it in a browser. Ctrl-C stops it (the data stays in ${dataDir}).\n`);
  await new Promise<void>((r) => {
    process.once("SIGINT", r);
    process.once("SIGTERM", r);
  });
  await close();
  return result;
}

/** `from` when nothing listens there, else the next free port above it (up to 50 tries). */
async function freePort(from: number): Promise<number> {
  for (let p = from; p < from + 50; p++) {
    const free = await new Promise<boolean>((r) => {
      const s = createServer();
      s.once("error", () => r(false));
      s.listen(p, "127.0.0.1", () => s.close(() => r(true)));
    });
    if (free) return p;
  }
  return 0;
}
