/**
 * GPU detection and sampling through `nvidia-smi`. No `nvidia-smi` on PATH (or one that fails,
 * e.g. a driver mismatch) means "no GPUs": detection answers `[]` quietly, sampling answers `[]`.
 */
import { execFile } from "node:child_process";

/** One GPU as `nvidia-smi` lists it. `index` is the nvidia-smi (PCI bus) order. */
export interface Gpu {
  index: number;
  uuid: string;
  name: string;
  /** Total memory in MiB. */
  memoryTotalMb: number;
}

/** One utilization/memory reading of one GPU. Fields nvidia-smi reports as `[N/A]` are null. */
export interface GpuSample {
  index: number;
  /** 0–100. */
  utilizationPct: number | null;
  memoryUsedMb: number | null;
  memoryTotalMb: number | null;
}

export interface NvidiaSmiOptions {
  /** The executable (a path or a name looked up on PATH); default `nvidia-smi`. */
  nvidiaSmi?: string;
  /** Environment (notably PATH) for the lookup and the process; default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Give up (answer `[]`) after this long; default 10 s. A hung driver must not hang the caller. */
  timeoutMs?: number;
}

const DETECT_QUERY = ["--query-gpu=index,uuid,name,memory.total", "--format=csv,noheader,nounits"];
const SAMPLE_QUERY = ["--query-gpu=index,utilization.gpu,memory.used,memory.total", "--format=csv,noheader,nounits"];

/** Runs nvidia-smi; resolves its stdout, or null when it is missing, fails or times out. */
function runNvidiaSmi(args: string[], opts: NvidiaSmiOptions): Promise<string | null> {
  return new Promise((resolve) => {
    try {
      execFile(
        opts.nvidiaSmi ?? "nvidia-smi",
        args,
        {
          env: opts.env ?? process.env,
          timeout: opts.timeoutMs ?? 10_000,
          killSignal: "SIGKILL",
          maxBuffer: 4 * 1024 * 1024,
          encoding: "utf8",
          windowsHide: true,
        },
        (err, stdout) => resolve(err ? null : stdout),
      );
    } catch {
      // e.g. an invalid option combination; treat like a missing tool.
      resolve(null);
    }
  });
}

/** Splits CSV output (no header, no units) into trimmed fields per non-empty line. */
function parseRows(stdout: string): string[][] {
  return stdout
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0)
    .map((l) => l.split(",").map((f) => f.trim()));
}

/** A numeric field, or null for `[N/A]`, `[Not Supported]`, empty or garbage. */
function num(field: string | undefined): number | null {
  if (field === undefined || field === "" || !/^-?\d+(\.\d+)?$/.test(field)) return null;
  return Number(field);
}

/** Lists the GPUs on this machine; `[]` when there are none, nvidia-smi is missing, or it fails. */
export async function detectGpus(opts: NvidiaSmiOptions = {}): Promise<Gpu[]> {
  const out = await runNvidiaSmi(DETECT_QUERY, opts);
  if (out === null) return [];
  const gpus: Gpu[] = [];
  for (const row of parseRows(out)) {
    // The name may itself contain commas: index, uuid, name..., memory.total.
    if (row.length < 4) continue;
    const index = num(row[0]);
    if (index === null || !Number.isInteger(index) || index < 0) continue;
    const uuid = row[1] ?? "";
    const memoryTotalMb = num(row[row.length - 1]) ?? 0;
    const name = row.slice(2, -1).join(", ").trim(); // nvidia-smi separates fields with ", "
    gpus.push({ index, uuid, name, memoryTotalMb });
  }
  gpus.sort((a, b) => a.index - b.index);
  return gpus;
}

/**
 * Reads utilization and memory of the given GPU indices (in the order asked; indices nvidia-smi does
 * not report are left out). `[]` when `indices` is empty or nvidia-smi is missing or fails.
 */
export async function sampleGpus(indices: number[], opts: NvidiaSmiOptions = {}): Promise<GpuSample[]> {
  if (indices.length === 0) return [];
  const out = await runNvidiaSmi(SAMPLE_QUERY, opts);
  if (out === null) return [];
  const byIndex = new Map<number, GpuSample>();
  for (const row of parseRows(out)) {
    const index = num(row[0]);
    if (index === null) continue;
    byIndex.set(index, {
      index,
      utilizationPct: num(row[1]),
      memoryUsedMb: num(row[2]),
      memoryTotalMb: num(row[3]),
    });
  }
  const samples: GpuSample[] = [];
  for (const i of indices) {
    const s = byIndex.get(i);
    if (s) samples.push(s);
  }
  return samples;
}
