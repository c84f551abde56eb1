/**
 * A program that starts a run, logs metrics and then dies in the way argv[2] says:
 * "sigterm" (waits to be killed), "throw" (uncaught exception), "reject" (unhandled rejection)
 * or "return" (the event loop drains without run.end()). Used by the exit-hook tests.
 */
import { Cairn } from "../src/index.js";

const mode = process.argv[2] ?? "return";
const n = Number(process.argv[3] ?? 2500);
const cairn = new Cairn({ flushIntervalMs: 60_000, retry: { minDelayMs: 10, maxDelayMs: 50 } });
const run = await cairn.startRun({ experiment: "exit-test", captureContext: false });
for (let i = 0; i < n; i++) run.logMetric("loss", i, { step: i });
run.log({ params: { mode } });
process.stdout.write(`ready ${run.id}\n`);

if (mode === "sigterm") setInterval(() => undefined, 1000);
else if (mode === "throw") setTimeout(() => {
  throw new Error("boom");
}, 5);
else if (mode === "reject") void Promise.reject(new Error("rejected boom"));
