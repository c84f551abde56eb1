import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { buildManifest } from "../packages/server/src/modules/datasets/manifest.js";
import { StatCache } from "../packages/server/src/modules/datasets/stat-cache.js";
import { report, type Figure } from "./util.js";

// Sizes scale down for a quick look: BENCH_DATA_MB=256 BENCH_SMALL_FILES=10000 npm run bench -- data
const BIG_MB = Number(process.env.BENCH_DATA_MB ?? 2048);
const BIG_FILES = 8;
const SMALL_FILES = Number(process.env.BENCH_SMALL_FILES ?? 100_000);

function log(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

/** Writes `count` files of `bytes` pseudo-random bytes (one random block repeated with a per-file twist, so generation is fast). */
function writeFiles(dir: string, count: number, bytes: number, fanout = 1): void {
  const block = Buffer.allocUnsafe(1 << 20);
  for (let i = 0; i < block.length; i++) block[i] = (i * 2654435761) >>> 24;
  for (let f = 0; f < count; f++) {
    const sub = fanout > 1 ? path.join(dir, `d${f % fanout}`) : dir;
    fs.mkdirSync(sub, { recursive: true });
    const fd = fs.openSync(path.join(sub, `f${f}.bin`), "w");
    for (let written = 0; written < bytes; ) {
      const n = Math.min(block.length, bytes - written);
      block[0] = f & 0xff;
      block[1] = written & 0xff;
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

    const small = path.join(tmp, "small");
    log(`writing ${SMALL_FILES} small files`);
    writeFiles(small, SMALL_FILES, 256, 100);
    const cache = new StatCache(path.join(tmp, ".cairn"));
    try {
      const first = await seconds(() => buildManifest(small, { cache }));
      figures.push({ name: `first manifest of ${SMALL_FILES} small files (hash all)`, value: first, unit: "s" });
      const noop = await seconds(async () => {
        const m = await buildManifest(small, { cache });
        if (m.stats.hashedFiles !== 0) throw new Error(`no-op rebuild hashed ${m.stats.hashedFiles} files`);
      });
      figures.push({ name: `no-op manifest of ${SMALL_FILES} small files (stat cache)`, value: noop, unit: "s", target: "<= 2 s", pass: noop <= 2 });
      fs.appendFileSync(path.join(small, "d7", "f7.bin"), "changed");
      const one = await seconds(async () => {
        const m = await buildManifest(small, { cache });
        if (m.stats.hashedFiles !== 1) throw new Error(`after one change, hashed ${m.stats.hashedFiles} files`);
      });
      figures.push({ name: `manifest after changing 1 file of ${SMALL_FILES} (hashes only that file)`, value: one, unit: "s", target: "<= 2 s", pass: one <= 2 });
    } finally {
      cache.close();
    }
    report("data", figures, { machine: `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`, note: "hashing and stat-cache figures only; add/push/profile figures come with the rest of the capability" }, json);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
