import type { Command } from "commander";
import Table from "cli-table3";
import cliProgress from "cli-progress";
import { Cairn, isCairnError } from "@cairn/sdk";

/** The global client options every client command reads (defined on the root program). */
export interface GlobalOptions {
  url?: string;
  token?: string;
  json?: boolean;
}

/** The global options of the command being run (`--url`, `--token`, `--json`). */
export function globalOptions(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals<GlobalOptions>();
}

/** An SDK client for the command's `--url` / `--token` (env `CAIRN_URL` / `CAIRN_TOKEN`). */
export function clientFor(cmd: Command): Cairn {
  const o = globalOptions(cmd);
  return new Cairn({ url: o.url, token: o.token, handleExit: false });
}

/** Whether the command should print JSON. */
export function wantsJson(cmd: Command): boolean {
  return globalOptions(cmd).json === true;
}

/** Prints a value as JSON on stdout (the only thing `--json` commands print there). */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, jsonReplacer, 2)}\n`);
}

/** NaN and ±Infinity as the strings the API uses, instead of JSON's `null`. */
function jsonReplacer(_key: string, v: unknown): unknown {
  if (typeof v === "number" && !Number.isFinite(v)) return Number.isNaN(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity";
  return v;
}

/** Shortens a string to `max` characters with an ellipsis. */
export function truncate(s: string, max: number): string {
  const oneLine = s.replace(/\r?\n/g, "⏎");
  return oneLine.length <= max ? oneLine : `${oneLine.slice(0, Math.max(1, max - 1))}…`;
}

export type Cell = string | number | boolean | null | undefined;

export interface TableOptions {
  /** Longest cell before it is truncated (default 48). */
  maxCell?: number;
  /** Where to print (default stdout). */
  stream?: NodeJS.WritableStream;
}

/**
 * Prints a compact, borderless table: a header row and aligned columns, like `kubectl get`.
 * Long cells are truncated; numbers are right-aligned.
 * @example printTable(["ID", "NAME"], [["1", "mnist"]]);
 */
export function printTable(head: string[], rows: Cell[][], opts: TableOptions = {}): void {
  const max = opts.maxCell ?? 48;
  const numeric = head.map((_, i) => rows.length > 0 && rows.every((r) => r[i] === undefined || r[i] === null || r[i] === "" || typeof r[i] === "number"));
  const table = new Table({
    head,
    chars: {
      top: "", "top-mid": "", "top-left": "", "top-right": "",
      bottom: "", "bottom-mid": "", "bottom-left": "", "bottom-right": "",
      left: "", "left-mid": "", mid: "", "mid-mid": "", right: "", "right-mid": "", middle: "  ",
    },
    style: { head: [], border: [], "padding-left": 0, "padding-right": 0, compact: true },
    colAligns: numeric.map((n) => (n ? "right" : "left")),
  });
  for (const r of rows) table.push(r.map((c) => truncate(formatCell(c), max)));
  const text = table
    .toString()
    .split("\n")
    .map((l) => l.trimEnd())
    .filter((l) => l.length > 0)
    .join("\n");
  (opts.stream ?? process.stdout).write(`${text}\n`);
}

/** Prints `key  value` pairs as a two-column table. */
export function printKeyValues(pairs: [string, Cell][], opts: TableOptions = {}): void {
  printTable(["FIELD", "VALUE"], pairs.map(([k, v]) => [k, v]), { maxCell: 120, ...opts });
}

/** Prints a section title (human output only). */
export function printHeading(title: string): void {
  process.stdout.write(`\n${title}\n`);
}

/** A cell as text: numbers compactly, missing values as "-". */
export function formatCell(c: Cell): string {
  if (c === undefined || c === null || c === "") return "-";
  if (typeof c === "number") return formatNumber(c);
  return String(c);
}

/** A number as text: integers as is, others with up to 6 significant digits. */
export function formatNumber(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (!Number.isFinite(n)) return n > 0 ? "Infinity" : "-Infinity";
  if (Number.isInteger(n)) return String(n);
  const abs = Math.abs(n);
  if (abs !== 0 && (abs < 1e-4 || abs >= 1e9)) return n.toExponential(4);
  return String(Number(n.toPrecision(6)));
}

const pad = (n: number) => String(n).padStart(2, "0");

/** Milliseconds since the epoch as local `YYYY-MM-DD HH:MM:SS` ("-" when absent). */
export function formatTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "-";
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** A duration as `1h02m`, `3m05s`, `4.2s` or `120ms` ("-" when absent). */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return "-";
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${pad(Math.floor(s % 60))}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${pad(m % 60)}m`;
  return `${Math.floor(h / 24)}d${pad(h % 24)}h`;
}

/** Bytes as `512 B`, `1.5 KiB`, `3.2 MiB`, … */
export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "-";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** A progress display for a byte transfer. */
export interface Progress {
  update(done: number, total: number): void;
  stop(): void;
}

const NO_PROGRESS: Progress = { update() {}, stop() {} };

/**
 * A byte progress bar on stderr, or a no-op when stderr is not a terminal or `--json` is on
 * (so scripts and pipes see clean output).
 * @example const bar = createProgress("upload", json); await up({ onProgress: bar.update }); bar.stop();
 */
export function createProgress(label: string, json: boolean, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (json || !stream.isTTY) return NO_PROGRESS;
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: `${label} {bar} {percentage}% | {doneh} / {totalh} | {rate}`,
      hideCursor: true,
      clearOnComplete: false,
      barsize: 30,
      etaBuffer: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = Date.now();
  let running = false;
  const payload = (done: number, total: number) => {
    const secs = (Date.now() - started) / 1000;
    return { doneh: formatBytes(done), totalh: formatBytes(total), rate: secs > 0 ? `${formatBytes(done / secs)}/s` : "-" };
  };
  return {
    update(done, total) {
      if (!running) {
        bar.start(Math.max(total, 1), done, payload(done, total));
        running = true;
        return;
      }
      bar.setTotal(Math.max(total, 1));
      bar.update(done, payload(done, total));
    },
    stop() {
      if (running) bar.stop();
      running = false;
    },
  };
}

/** Writes `error: CODE: message` to stderr. */
export function printError(e: unknown): void {
  process.stderr.write(`error: ${describeError(e)}\n`);
}

/** `CODE: message` for any thrown value, without a stack trace. */
export function describeError(e: unknown): string {
  if (isCairnError(e)) return `${e.code}: ${e.message}`;
  const err = e as { code?: unknown; message?: unknown };
  const code = typeof err?.code === "string" && /^[A-Z][A-Z0-9_]*$/.test(err.code) ? err.code : "INTERNAL_ERROR";
  return `${code}: ${typeof err?.message === "string" ? err.message : String(e)}`;
}

/** Exit code for a command-line usage error (bad option value, missing argument). */
export const USAGE_EXIT_CODE = 2;

/**
 * Makes a command group exit 2 on usage errors (commander's default is 1); help and
 * `--version` still exit 0. Subcommands added afterwards inherit this.
 */
export function usageErrorsExit2(cmd: Command): Command {
  return cmd.exitOverride((err) => {
    process.exit(err.exitCode === 0 ? 0 : USAGE_EXIT_CODE);
  });
}

/**
 * Wraps a command action: prints any error as `error: CODE: message`, sets exit code 1,
 * and never shows a stack trace.
 */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (e) {
      printError(e);
      process.exitCode = 1;
    }
  };
}

/** One row of a side-by-side comparison: a key, one value per compared item, and whether the values differ. */
export interface CompareRow {
  key: string;
  values: (string | number | null)[];
  differs: boolean;
}

/** A comparison row; NaN counts as equal to NaN, so two NaN metrics do not show as a difference. */
export function compareRow(key: string, values: (string | number | null)[]): CompareRow {
  const norm = values.map((v) => (typeof v === "number" && Number.isNaN(v) ? "NaN" : v));
  return { key, values, differs: norm.some((v) => v !== norm[0]) };
}
