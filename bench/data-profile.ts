import fs from "node:fs";
import path from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { TabularEngine } from "../packages/server/src/modules/datasets/tabular.js";

const CATEGORIES = ["red", "green", "blue", "cyan", "magenta", "yellow", "black", "white"];

function log(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

/**
 * Writes a CSV of `rows` × `cols`: about 70% numeric columns (integers, floats, a few with nulls)
 * and 30% categorical ones (small and large vocabularies, a few with nulls). A fixed LCG makes
 * the file the same on every run. Returns its size in bytes.
 */
function writeCsv(file: string, rows: number, cols: number): number {
  const numeric = Math.max(1, Math.round(cols * 0.7));
  const header = Array.from({ length: cols }, (_, c) => (c < numeric ? `num${c}` : `cat${c - numeric}`));
  const fd = fs.openSync(file, "w");
  let seed = 42;
  const rand = () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
  let buf = header.join(",") + "\n";
  for (let r = 0; r < rows; r++) {
    const fields: string[] = [];
    for (let c = 0; c < cols; c++) {
      const u = rand();
      // Every third column has about 2% missing values.
      if (c % 3 === 2 && u < 0.02) fields.push("");
      else if (c < numeric) fields.push(c % 2 === 0 ? String(Math.floor(u * 100_000)) : (u * 1000 - 500).toFixed(4));
      else if (c % 2 === 0) fields.push(CATEGORIES[Math.floor(u * CATEGORIES.length)]!);
      else fields.push(`user_${Math.floor(u * 50_000)}`);
    }
    buf += fields.join(",") + "\n";
    if (buf.length > 1 << 20) {
      fs.writeSync(fd, buf);
      buf = "";
    }
  }
  fs.writeSync(fd, buf);
  fs.closeSync(fd);
  return fs.statSync(file).size;
}

async function bestOf(n: number, fn: () => Promise<unknown>): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

/**
 * Profiles a generated CSV of `rows` × `cols` (written to `dir`) with `TabularEngine.profile`, and,
 * as the baseline in the same process, DuckDB's own `SUMMARIZE` of the same file. Times are the
 * best of 3 runs each (the file is in the page cache for both); `peakRssMb` is the process's
 * maximum resident set so far.
 */
export async function benchProfile(opts: { rows: number; cols: number; dir: string }): Promise<{
  rows: number;
  cols: number;
  fileBytes: number;
  profileMs: number;
  summarizeMs: number;
  peakRssMb: number;
}> {
  fs.mkdirSync(opts.dir, { recursive: true });
  // No extension: the engine reads content-addressed blobs, so it must not rely on one.
  const file = path.join(opts.dir, `profile-${opts.rows}x${opts.cols}`);
  log(`writing ${opts.rows} × ${opts.cols} CSV`);
  const fileBytes = writeCsv(file, opts.rows, opts.cols);

  const engine = new TabularEngine();
  let profileMs: number;
  try {
    profileMs = await bestOf(3, () => engine.profile(file, "csv", "bench.csv"));
  } finally {
    await engine.close();
  }

  const db = await DuckDBInstance.create(":memory:");
  const conn = await db.connect();
  let summarizeMs: number;
  try {
    const lit = `'${file.replaceAll("'", "''")}'`;
    summarizeMs = await bestOf(3, () => conn.runAndReadAll(`SUMMARIZE SELECT * FROM read_csv(${lit}, header=true)`));
  } finally {
    conn.closeSync();
    db.closeSync();
  }
  fs.rmSync(file, { force: true });
  return { rows: opts.rows, cols: opts.cols, fileBytes, profileMs, summarizeMs, peakRssMb: process.resourceUsage().maxRSS / 1024 };
}
