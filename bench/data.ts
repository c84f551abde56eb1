import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { buildManifest } from "../packages/server/src/modules/datasets/manifest.js";
import { StatCache } from "../packages/server/src/modules/datasets/stat-cache.js";
import { startServer } from "../packages/server/src/server.js";
import { benchProfile } from "./data-profile.js";
import { report, ROOT, type Figure } from "./util.js";

// Sizes scale down for a quick look: BENCH_DATA_MB=256 BENCH_SMALL_FILES=10000 BENCH_PROFILE_ROWS=100000 npm run bench -- data
// The CLI figures run the built CLI (`npm run build` first).
const BIG_MB = Number(process.env.BENCH_DATA_MB ?? 2048);
const BIG_FILES = 8;
const SMALL_FILES = Number(process.env.BENCH_SMALL_FILES ?? 100_000);
const PROFILE_ROWS = Number(process.env.BENCH_PROFILE_ROWS ?? 1_000_000);

function log(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

/**
 * Writes `count` files of `bytes` pseudo-random bytes (one random block repeated with a per-file twist,
 * so generation is fast). Every file's content is distinct: the file number is stamped into each chunk,
 * so nothing deduplicates.
 */
function writeFiles(dir: string, count: number, bytes: number, fanout = 1): void {
  const block = Buffer.allocUnsafe(1 << 20);
  for (let i = 0; i < block.length; i++) block[i] = (i * 2654435761) >>> 24;
  for (let f = 0; f < count; f++) {
    const sub = fanout > 1 ? path.join(dir, `d${f % fanout}`) : dir;
    fs.mkdirSync(sub, { recursive: true });
    const fd = fs.openSync(path.join(sub, `f${f}.bin`), "w");
    for (let written = 0; written < bytes; ) {
      const n = Math.min(block.length, bytes - written);
      block.writeUInt32LE(f, 0);
      block.writeUInt32LE(written, 4);
      fs.writeSync(fd, block, 0, n);
      written += n;
    }
    fs.closeSync(fd);
  }
}

/** Wall time of `sha256sum` over the files, or undefined when it is not installed. */
function sha256sumSeconds(dir: string): number | undefined {
  const files = fs.readdirSync(dir).map((f) => path.join(dir, f));
  try {
    const t0 = performance.now();
    execFileSync("sha256sum", files, { stdio: ["ignore", "ignore", "inherit"], maxBuffer: 1 << 26 });
    return (performance.now() - t0) / 1000;
  } catch {
    return undefined;
  }
}

async function seconds(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

/**
 * Runs the built `cairn` CLI in its own process (asynchronously: the server answering it lives in
 * this one) and reports its wall time and peak RSS (`/usr/bin/time`, when installed).
 */
async function cliRun(args: string[], env: NodeJS.ProcessEnv): Promise<{ seconds: number; peakMb?: number; stdout: string }> {
  const cli = path.join(ROOT, "packages", "server", "bin", "cairn.js");
  const haveTime = fs.existsSync("/usr/bin/time");
  const cmd = haveTime ? "/usr/bin/time" : process.execPath;
  const argv = haveTime ? ["-f", "%M", process.execPath, cli, ...args] : [cli, ...args];
  const t0 = performance.now();
  const child = spawn(cmd, argv, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const status = await new Promise<number | null>((resolve) => child.on("close", resolve));
  const seconds = (performance.now() - t0) / 1000;
  if (status !== 0) throw new Error(`cairn ${args.join(" ")} failed (${status}): ${stderr}`);
  const kb = haveTime ? Number(stderr.trim().split("\n").pop()) : NaN;
  return { seconds, stdout, ...(Number.isFinite(kb) ? { peakMb: kb / 1024 } : {}) };
}

export async function run({ json }: { json: boolean }): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-bench-data-"));
  const figures: Figure[] = [];
  try {
    const big = path.join(tmp, "big");
    log(`writing ${BIG_FILES} files, ${BIG_MB} MB in all`);
    writeFiles(big, BIG_FILES, Math.floor((BIG_MB * 2 ** 20) / BIG_FILES));
    // Both read from the page cache: warm it once so neither pays the disk.
    sha256sumSeconds(big);
    const base = sha256sumSeconds(big);
    let peak = process.memoryUsage().rss;
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    const ours = await seconds(() => buildManifest(big));
    clearInterval(timer);
    const mbps = BIG_MB / ours;
    figures.push({
      name: `hash ${BIG_MB} MB in ${BIG_FILES} files (buildManifest, no cache)`,
      value: mbps,
      unit: "MB/s",
      ...(base !== undefined ? { baseline: { name: "sha256sum, same files", value: BIG_MB / base, unit: "MB/s" }, ratio: base / ours, target: ">= 90% of baseline", pass: base / ours >= 0.9 } : {}),
    });
    figures.push({ name: "peak RSS while hashing", value: peak / 2 ** 20, unit: "MiB" });
    fs.rmSync(big, { recursive: true, force: true });

    // The real commands against a real server: `cairn data add` / `status` as users run them (built CLI, own process).
    const small = path.join(tmp, "small");
    log(`writing ${SMALL_FILES} small files`);
    writeFiles(small, SMALL_FILES, 256, 100);
    const server = await startServer({ port: 0, dataDir: path.join(tmp, "server"), logLevel: "silent", audit: false });
    let serverPeak = process.memoryUsage().rss;
    const serverTimer = setInterval(() => (serverPeak = Math.max(serverPeak, process.memoryUsage().rss)), 20);
    const env = { CAIRN_URL: server.url, CAIRN_CACHE_DIR: path.join(tmp, "cache") };
    try {
      const first = await cliRun(["data", "add", small, "--name", "bench", "-m", "first"], env);
      figures.push({ name: `cairn data add, first version of ${SMALL_FILES} small files (hash and upload all)`, value: first.seconds, unit: "s" });
      const noop = await cliRun(["data", "status", small, "--json"], env);
      const st = JSON.parse(noop.stdout) as { hashedFiles: number; modified: unknown[] };
      if (st.hashedFiles !== 0 || st.modified.length !== 0) throw new Error(`no-op status hashed ${st.hashedFiles} files`);
      // The same work without the process: what a long-lived caller (or the SDK) pays.
      const cache = new StatCache(path.join(tmp, "cache", "stat-cache"));
      const inProcess = await seconds(() => buildManifest(small, { cache }));
      cache.close();
      figures.push({ name: `cairn data status, no change, ${SMALL_FILES} files (whole command, process start included)`, value: noop.seconds, unit: "s", target: "<= 2 s", pass: noop.seconds <= 2, baseline: { name: "its tree walk + stat cache alone, in process", value: inProcess, unit: "s" } });
      // Three rounds of "change one file, add": the median is the figure, the spread goes in the name.
      const rounds: Awaited<ReturnType<typeof cliRun>>[] = [];
      for (let round = 0; round < 3; round++) {
        fs.appendFileSync(path.join(small, `d${7 + round}`, `f${7 + round}.bin`), `changed ${round}`);
        const one = await cliRun(["data", "add", small, "-m", `one change ${round}`, "--json"], env);
        const added = JSON.parse(one.stdout) as { hashedFiles: number; blobsUploaded: number; version: { number: number; fileCount: number } };
        if (added.hashedFiles !== 1 || added.blobsUploaded !== 1 || added.version.fileCount !== SMALL_FILES) throw new Error(`add after one change: ${one.stdout.slice(0, 300)}`);
        rounds.push(one);
      }
      const times = rounds.map((r) => r.seconds).sort((x, y) => x - y);
      const one = times[1]!;
      figures.push({ name: `cairn data add after changing 1 file of ${SMALL_FILES}, median of 3 (${times.map((t) => t.toFixed(2)).join(", ")} s; rehashes and uploads only that file)`, value: one, unit: "s", target: "<= 2 s", pass: one <= 2 });
      const peaks = [first, noop, ...rounds].map((r) => r.peakMb).filter((m): m is number => m !== undefined);
      if (peaks.length) figures.push({ name: "peak RSS of those CLI runs (max; /usr/bin/time)", value: Math.max(...peaks), unit: "MiB" });
      figures.push({ name: "peak RSS of the bench process holding the server during them", value: serverPeak / 2 ** 20, unit: "MiB" });
    } finally {
      clearInterval(serverTimer);
      await server.close();
    }
    fs.rmSync(small, { recursive: true, force: true });

    log(`profiling a ${PROFILE_ROWS} x 20 CSV`);
    const p = await benchProfile({ rows: PROFILE_ROWS, cols: 20, dir: path.join(tmp, "profile") });
    figures.push({
      name: `profile a ${p.rows} x ${p.cols} CSV (${Math.round(p.fileBytes / 2 ** 20)} MiB): types, counts, moments, quantiles, histograms, top-k`,
      value: p.profileMs / 1000,
      unit: "s",
      baseline: { name: "DuckDB SUMMARIZE, same file", value: p.summarizeMs / 1000, unit: "s" },
      ratio: p.profileMs / p.summarizeMs,
    });
    figures.push({ name: "peak RSS while profiling", value: p.peakRssMb, unit: "MiB" });
    report("data", figures, { machine: `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}` }, json);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
