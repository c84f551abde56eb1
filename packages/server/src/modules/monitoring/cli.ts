import fs from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import cliProgress from "cli-progress";
import { InvalidArgumentError, Option, type Command } from "commander";
import { CairnError, DriftTestName, MONITORING_LIMITS, isCairnError, type DriftReportResponse, type FeedbackLabel, type FeedbackRecord, type PostFeedbackResponse } from "@cairn/contract";
import type { PerformanceOptions, PerformanceResponse } from "@cairn/sdk";
import { action, clientFor, formatDuration, formatNumber, formatTime, printJson, printKeyValues, printTable, usageErrorsExit2, wantsJson, type Cell } from "../../cli/output.js";
import { fraction, nonNegativeNumber, positiveInt, timeArg } from "../../cli/parsers.js";
import { driftReportHtml } from "./drift-html.js";

/**
 * `cairn feedback import DEPLOYMENT FILE` (ground-truth labels from a CSV or JSON-lines file, posted by
 * request id), `cairn performance DEPLOYMENT` (the deployment's metrics against them per version,
 * arm and window, with label-free estimates beside the realized classification metrics) and `cairn
 * drift` (a deployment's traffic or a local file against a dataset version, a file or an earlier
 * window), through the SDK's `cairn.monitoring`. They read the root program's `--url`,
 * `--token` and `--json`. Exit codes: 0 done, 1 a server error or a bad record in the file (`error:
 * CODE: message` on stderr, naming the file's line), 2 a usage error (a bad flag, a file that cannot be
 * read, a column the file does not have), checked before any request.
 */

export type LabelType = "number" | "boolean" | "string";
export type FeedbackFormat = "csv" | "jsonl";

/** A usage problem found while opening the file: exit 2. */
class UsageProblem extends Error {}

const usage = (cmd: Command, msg: string): never => cmd.error(`error: ${msg}`, { exitCode: 2, code: "cairn.usage" });

// ---------- option parsers (a thrown InvalidArgumentError is a usage error: exit 2) ----------

const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 } as const;

/** A duration in seconds: `90s`, `15m`, `1h30m`, `7d`, `2w`, or a bare number of seconds. */
export function parseDurationSeconds(v: string): number | undefined {
  const s = v.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s);
  if (!/^(\d+(\.\d+)?[smhdw])+$/.test(s)) return undefined;
  let total = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)([smhdw])/g)) total += Number(m[1]) * UNIT_SECONDS[m[2] as keyof typeof UNIT_SECONDS];
  return total;
}

function duration(v: string): number {
  const n = parseDurationSeconds(v);
  if (n === undefined || n <= 0) throw new InvalidArgumentError("expected a duration such as 90s, 15m, 1h, 7d (or a number of seconds)");
  return n;
}

function windowDuration(v: string): number {
  const n = duration(v);
  if (!Number.isInteger(n) || n < MONITORING_LIMITS.windowSecondsMin || n > MONITORING_LIMITS.windowSecondsMax) {
    throw new InvalidArgumentError(`must be a whole number of seconds from ${MONITORING_LIMITS.windowSecondsMin} to ${MONITORING_LIMITS.windowSecondsMax} (366 days)`);
  }
  return n;
}

function probability(v: string): number {
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError("must be a number from 0 to 1");
  return n;
}

// ---------- labels ----------

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const typeOf = (l: FeedbackLabel): LabelType => (typeof l === "number" ? "number" : typeof l === "boolean" ? "boolean" : "string");
const show = (v: unknown) => (typeof v === "string" ? `'${v.length > 40 ? `${v.slice(0, 39)}…` : v}'` : JSON.stringify(v));

/**
 * A label from a file's cell. Text (a CSV cell) is typed: a number stays a number, `true`/`false`
 * (any case) is a boolean, anything else a string; a JSON value keeps its type. `type` converts
 * instead (numeric text to a number; `true`/`false`/`1`/`0` to a boolean; a number or boolean to its
 * text). Returns the problem as a string when the value cannot be a label.
 */
export function labelOf(raw: unknown, text: boolean, type?: LabelType): FeedbackLabel | { problem: string } {
  if (raw === null || raw === undefined || raw === "") return { problem: "the label is empty" };
  let label: unknown;
  if (type === undefined) {
    if (typeof raw === "string" && text) label = NUMBER.test(raw.trim()) ? Number(raw) : /^(true|false)$/i.test(raw.trim()) ? raw.trim().toLowerCase() === "true" : raw;
    else label = raw;
  } else if (type === "number") {
    label = typeof raw === "number" ? raw : typeof raw === "string" && NUMBER.test(raw.trim()) ? Number(raw) : undefined;
    if (label === undefined) return { problem: `label ${show(raw)} is not a number` };
  } else if (type === "boolean") {
    const s = String(raw).trim().toLowerCase();
    label = typeof raw === "boolean" ? raw : s === "true" || s === "1" ? true : s === "false" || s === "0" ? false : undefined;
    if (label === undefined || typeof raw === "object") return { problem: `label ${show(raw)} is not a boolean (true/false or 1/0)` };
  } else {
    label = typeof raw === "string" ? raw : typeof raw === "number" || typeof raw === "boolean" ? String(raw) : undefined;
    if (label === undefined) return { problem: `label ${show(raw)} is not a string` };
  }
  if (typeof label === "number" && !Number.isFinite(label)) return { problem: `label ${show(raw)} is not a finite number` };
  if (typeof label === "string" && label.length > MONITORING_LIMITS.labelLength) return { problem: `the label is longer than ${MONITORING_LIMITS.labelLength} characters` };
  if (typeof label !== "number" && typeof label !== "boolean" && typeof label !== "string") return { problem: `label ${show(raw)} is not a number, boolean or string` };
  return label;
}

/** A time cell: milliseconds since the epoch or an ISO date; empty → undefined. */
function timeOf(raw: unknown): number | undefined | { problem: string } {
  if (raw === null || raw === undefined || raw === "") return undefined;
  const n = typeof raw === "number" ? raw : typeof raw === "string" && /^\d+$/.test(raw.trim()) ? Number(raw) : typeof raw === "string" ? Date.parse(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < 0) return { problem: `time ${show(raw)} is not milliseconds since the epoch or an ISO date` };
  return n;
}

// ---------- reading the file ----------

/** Which columns (CSV) or fields (JSON lines) hold what; `*Given`: named by a flag, so it must exist. */
export interface FeedbackColumns {
  requestId: string;
  label: string;
  time: string;
  requestIdGiven: boolean;
  timeGiven: boolean;
}

/** One record of the file and its line (CSV: the header is line 1, and each record counts one line). */
export interface FileRecord {
  line: number;
  record: FeedbackRecord;
}

/** The format of a file from its extension: `.csv` → csv, `.jsonl`/`.ndjson`/`.json` → jsonl. */
export function formatOfFile(file: string): FeedbackFormat | undefined {
  const ext = path.extname(file).toLowerCase();
  if (ext === ".csv") return "csv";
  if (ext === ".jsonl" || ext === ".ndjson" || ext === ".json") return "jsonl";
  return undefined;
}

const quoteIdent = (s: string) => `"${s.replace(/"/g, '""')}"`;
const sqlLiteral = (s: string) => `'${s.replace(/'/g, "''")}'`;

/** DuckDB's CSV error, short: what it says before its list of fixes, and the line of the file it names. */
function csvError(file: string, e: unknown): CairnError {
  const msg = String((e as Error)?.message ?? e);
  const line = /CSV Error on Line: (\d+)/.exec(msg)?.[1];
  const said = msg
    .split(/\n(?:Possible fixes:|The search space used was:|LINE \d+:)/)[0]!
    .split("\n")
    .map((l) => l.replace(/^[A-Za-z ]*Error: /, "").trim())
    .filter((l) => l !== "" && !l.startsWith("CSV Error on Line:"));
  return new CairnError("INVALID_PARAMETER_VALUE", `${file}${line ? ` line ${line}` : ""}: not a readable CSV file${said.length ? `: ${said.join("; ")}` : ""}`);
}

/**
 * The rows of a CSV file, streamed by DuckDB's CSV reader (RFC 4180 quoting, a header row, every cell
 * read as text so the labels are typed here). Columns are checked on opening: a missing one is a UsageProblem.
 */
async function* csvRows(file: string, cols: FeedbackColumns): AsyncGenerator<{ line: number; id: unknown; label: unknown; time: unknown }> {
  const { DuckDBInstance } = await import("@duckdb/node-api");
  const db = await DuckDBInstance.create(":memory:", { threads: "2" });
  const conn = await db.connect();
  try {
    const src = `read_csv(${sqlLiteral(file)}, header=true, all_varchar=true, delim=',', quote='"', escape='"', comment='', strict_mode=true, null_padding=false, ignore_errors=false)`;
    let names: string[];
    try {
      names = (await conn.runAndReadAll(`SELECT * FROM ${src} LIMIT 0`)).columnNames();
    } catch (e) {
      throw csvError(file, e);
    }
    const missing = (c: string, flag: string) => new UsageProblem(`${file} has no column '${c}' (${flag}); its columns: ${names.join(", ")}`);
    if (!names.includes(cols.requestId)) throw missing(cols.requestId, "--request-id-column");
    if (!names.includes(cols.label)) throw missing(cols.label, "--label-column");
    const withTime = names.includes(cols.time);
    if (!withTime && cols.timeGiven) throw missing(cols.time, "--time-column");
    const select = [cols.requestId, cols.label, ...(withTime ? [cols.time] : [])].map(quoteIdent).join(", ");
    let line = 1;
    try {
      const result = await conn.stream(`SELECT ${select} FROM ${src}`);
      for await (const rows of result.yieldRowsJs()) {
        for (const r of rows) yield { line: ++line, id: r[0], label: r[1], time: withTime ? r[2] : undefined };
      }
    } catch (e) {
      throw e instanceof CairnError ? e : csvError(file, e);
    }
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

/** The records of a JSON-lines file (one object a line; blank lines skipped). */
async function* jsonlRows(file: string, cols: FeedbackColumns): AsyncGenerator<{ line: number; id: unknown; label: unknown; time: unknown }> {
  const input = fs.createReadStream(file, { encoding: "utf8" });
  const lines = createInterface({ input, crlfDelay: Infinity });
  let line = 0;
  try {
    for await (const text of lines) {
      line++;
      const t = line === 1 ? text.replace(/^\uFEFF/, "") : text;
      if (t.trim() === "") continue;
      let obj: unknown;
      try {
        obj = JSON.parse(t);
      } catch (e) {
        throw new CairnError("INVALID_PARAMETER_VALUE", `${file} line ${line}: not valid JSON (${(e as Error).message})`);
      }
      if (typeof obj !== "object" || obj === null || Array.isArray(obj)) throw new CairnError("INVALID_PARAMETER_VALUE", `${file} line ${line}: expected a JSON object, one record a line`);
      const o = obj as Record<string, unknown>;
      const id = cols.requestId in o || cols.requestIdGiven ? o[cols.requestId] : o.requestId;
      yield { line, id, label: o[cols.label], time: o[cols.time] };
    }
  } finally {
    lines.close();
    input.destroy();
  }
}

/**
 * Reads a feedback file record by record (CSV through DuckDB's reader, JSON lines through readline;
 * neither holds the file in memory), typing the labels (see `labelOf`) and checking that they have one
 * type. A bad record throws CairnError INVALID_PARAMETER_VALUE naming the file's line; a column the
 * CSV file lacks throws a usage problem.
 */
export async function* readFeedbackFile(file: string, format: FeedbackFormat, cols: FeedbackColumns, labelType?: LabelType): AsyncGenerator<FileRecord> {
  let first: { type: LabelType; line: number; label: FeedbackLabel } | undefined;
  const rows = format === "csv" ? csvRows(file, cols) : jsonlRows(file, cols);
  for await (const { line, id, label: rawLabel, time: rawTime } of rows) {
    const bad = (msg: string) => new CairnError("INVALID_PARAMETER_VALUE", `${file} line ${line}: ${msg}`);
    if (id === null || id === undefined || id === "") throw bad(`no request id (column '${cols.requestId}')`);
    if (typeof id !== "string" && typeof id !== "number") throw bad(`request id ${show(id)} is not a string`);
    const requestId = String(id);
    if (requestId.length > MONITORING_LIMITS.requestIdLength) throw bad(`request id is longer than ${MONITORING_LIMITS.requestIdLength} characters`);
    if (format === "jsonl" && rawLabel === undefined) throw bad(`no label (field '${cols.label}')`);
    const label = labelOf(rawLabel, format === "csv", labelType);
    if (typeof label === "object") throw bad(`${label.problem} (request '${requestId}')`);
    if (!first) first = { type: typeOf(label), line, label };
    else if (typeOf(label) !== first.type) {
      const hint = labelType === undefined ? "; give --label-type to read them all as one type" : "";
      throw bad(`label ${show(label)} is a ${typeOf(label)}, but line ${first.line}'s (${show(first.label)}) is a ${first.type}: a deployment's labels have one type${hint}`);
    }
    const time = timeOf(rawTime);
    if (typeof time === "object") throw bad(time.problem);
    const record: FeedbackRecord = { requestId, label };
    if (time !== undefined) record.time = time;
    yield { line, record };
  }
}

// ---------- output ----------

/** A record-count progress bar on stderr; a no-op off a terminal or with --json. */
function recordProgress(label: string, json: boolean, stream: NodeJS.WriteStream = process.stderr): { update(done: number, total: number): void; stop(): void } {
  if (json || !stream.isTTY) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar({ stream, format: `${label} {bar} {percentage}% | {value} / {total} records`, hideCursor: true, clearOnComplete: false, barsize: 30 }, cliProgress.Presets.shades_classic);
  let running = false;
  return {
    update(done, total) {
      if (!running) {
        bar.start(Math.max(total, 1), done);
        running = true;
      } else bar.update(done);
    },
    stop() {
      if (running) bar.stop();
      running = false;
    },
  };
}

const METRICS = {
  classification: [
    ["ACCURACY", "accuracy"],
    ["PRECISION", "precision"],
    ["RECALL", "recall"],
    ["F1", "f1"],
    ["ROC_AUC", "rocAuc"],
    ["LOG_LOSS", "logLoss"],
  ],
  regression: [
    ["MAE", "mae"],
    ["RMSE", "rmse"],
    ["R2", "r2"],
  ],
} as const;

/** Prints a performance response: its settings, then one row per version, arm and window. */
export function printPerformance(p: PerformanceResponse): void {
  const pairs: [string, Cell][] = [
    ["deployment", p.deployment],
    ["model", p.model],
    ["task", p.task],
    ["labels", p.labelType ?? "none yet"],
  ];
  if (p.task === "classification") pairs.push(["positive", p.positive], ["threshold", p.threshold]);
  pairs.push(["range", `${formatTime(p.from)} → ${formatTime(p.to)}`], ["window", formatDuration(p.windowSeconds * 1000)]);
  printKeyValues(pairs);
  process.stdout.write("\n");
  if (p.series.length === 0) {
    process.stdout.write("no labelled predictions in this range\n");
    return;
  }
  const metrics = METRICS[p.task];
  // Classification: each metric's label-free estimate (CBPE) right after the realized one.
  const estimated = new Set<string>(p.task === "classification" ? ["accuracy", "precision", "recall", "f1", "rocAuc"] : []);
  const rows: Cell[][] = [];
  let truncated = 0;
  for (const s of p.series) {
    for (const w of s.windows) {
      if (w.truncated) truncated++;
      const m = (p.task === "classification" ? w.classification : w.regression) as Record<string, number | null> | undefined;
      const e = w.estimated as Record<string, number | boolean | null> | undefined;
      const est = p.task === "classification" ? [w.estimated?.n ?? 0] : [];
      rows.push([s.version, s.arm, formatTime(w.start), w.n, w.skipped, ...est, ...metrics.flatMap(([, k]) => (estimated.has(k) ? [m?.[k] ?? null, (e?.[k] as number | null | undefined) ?? null] : [m?.[k] ?? null]))]);
    }
  }
  printTable(["VERSION", "ARM", "START", "N", "SKIPPED", ...(p.task === "classification" ? ["EST_N"] : []), ...metrics.flatMap(([h, k]) => (estimated.has(k) ? [h, `${h}_EST`] : [h]))], rows);
  if (p.task === "classification") {
    const refs = p.series.map((s) => `${s.version}/${s.arm}: ${s.estimationReference?.n ?? 0} labelled`);
    process.stdout.write(`(_EST: label-free estimates (CBPE) over every logged prediction of the window, EST_N of them; calibrated on reference predictions ${refs.join(", ")}; none: scores taken as calibrated)\n`);
  }
  if (truncated > 0) process.stdout.write(`(${truncated} window(s) had more than ${formatNumber(MONITORING_LIMITS.rowsPerWindow)} labelled predictions: their metrics cover the first ones)\n`);
}

// ---------- commands ----------

interface ImportFlags {
  requestIdColumn?: string;
  labelColumn?: string;
  timeColumn?: string;
  format?: FeedbackFormat;
  labelType?: LabelType;
}

interface PerformanceFlags {
  since?: number;
  from?: number;
  to?: number;
  window?: number;
  task?: "classification" | "regression";
  output?: string;
  positive?: string;
  threshold?: number;
  referenceFrom?: number;
  referenceTo?: number;
}

/** The group named `name`, else a new one. */
function group(program: Command, name: string): Command {
  return program.commands.find((c) => c.name() === name) ?? usageErrorsExit2(program.command(name));
}

/** `records[i]` of a post's error, said as the file's line it came from. */
function withLine(e: unknown, file: string, lines: number[], storedBefore: number): unknown {
  if (!isCairnError(e)) return e;
  const i = /records\[(\d+)\]/.exec(e.message)?.[1];
  const where = i !== undefined && lines[Number(i)] !== undefined ? `${file} line ${lines[Number(i)]}: ` : "";
  const stored = storedBefore > 0 ? ` (the ${storedBefore} records before this post were stored)` : "";
  if (!where && !stored) return e;
  return new CairnError(e.code, `${where}${e.message}${stored}`, { cause: e });
}

/**
 * Adds `cairn feedback import`, `cairn performance`, `cairn drift`, `cairn monitor` and `cairn alerts`.
 * @example registerMonitoringCommands(program); // cairn feedback import fraud labels.csv; cairn performance fraud --since 7d --window 1d; cairn drift --reference data:credit@v3 --current today.csv
 */
export function registerMonitoringCommands(program: Command): void {
  const feedback = group(program, "feedback").description("ground-truth labels for a deployment's predictions, joined by request id");

  feedback
    .command("import")
    .description("post labels from a CSV file (with a header row) or a JSON-lines file, joined to logged predictions by request id")
    .argument("<deployment>", "the deployment whose predictions the labels are for")
    .argument("<file>", "a .csv file with a header row, or a .jsonl file (one JSON object a line)")
    .option("--request-id-column <name>", "the column (field) holding the request id (default: request_id; in JSON lines also requestId)")
    .option("--label-column <name>", "the column (field) holding the label (default: label)")
    .option("--time-column <name>", "the column (field) holding when the label was observed, ms since the epoch or an ISO date (default: time, when present)")
    .addOption(new Option("--format <format>", "the file's format (default: from its extension)").choices(["csv", "jsonl"]))
    .addOption(new Option("--label-type <type>", "read every label as this type (default: numbers as numbers, true/false as booleans, other text as strings)").choices(["number", "boolean", "string"]))
    .action(
      action(async (deployment: string, file: string, o: ImportFlags, cmd: Command) => {
        const format = o.format ?? formatOfFile(file);
        if (!format) usage(cmd, `cannot tell the format of '${file}' from its extension: give --format csv or --format jsonl`);
        try {
          if (!fs.statSync(file).isFile()) usage(cmd, `'${file}' is not a file`);
          fs.accessSync(file, fs.constants.R_OK);
        } catch (e) {
          usage(cmd, `cannot read '${file}': ${(e as Error).message}`);
        }
        const cols: FeedbackColumns = {
          requestId: o.requestIdColumn ?? "request_id",
          label: o.labelColumn ?? "label",
          time: o.timeColumn ?? "time",
          requestIdGiven: o.requestIdColumn !== undefined,
          timeGiven: o.timeColumn !== undefined,
        };
        const json = wantsJson(cmd);
        const read = () => readFeedbackFile(file, format!, cols, o.labelType);
        // First pass: check every record (nothing is posted from a bad file) and count them for the progress bar.
        let total = 0;
        try {
          for await (const _ of read()) total++;
        } catch (e) {
          if (e instanceof UsageProblem) usage(cmd, e.message);
          throw e;
        }
        if (total === 0) throw new CairnError("INVALID_PARAMETER_VALUE", `${file} has no records`);
        // Second pass: post in batches.
        const cairn = clientFor(cmd);
        const bar = recordProgress("import", json);
        const sum: PostFeedbackResponse = { accepted: 0, updated: 0, unmatched: 0 };
        let posted = 0;
        let posts = 0;
        let batch: FeedbackRecord[] = [];
        let lines: number[] = [];
        const post = async () => {
          try {
            const r = await cairn.monitoring.postFeedback(deployment, batch);
            sum.accepted += r.accepted;
            sum.updated += r.updated;
            sum.unmatched += r.unmatched;
          } catch (e) {
            bar.stop();
            throw withLine(e, file, lines, posted);
          }
          posted += batch.length;
          posts++;
          bar.update(posted, total);
          batch = [];
          lines = [];
        };
        for await (const { line, record } of read()) {
          batch.push(record);
          lines.push(line);
          if (batch.length >= MONITORING_LIMITS.feedbackPerPost) await post();
        }
        if (batch.length > 0) await post();
        bar.stop();
        if (json) return printJson({ deployment, file, format, records: posted, posts, ...sum });
        printTable(["RECORDS", "ACCEPTED", "UPDATED", "UNMATCHED"], [[posted, sum.accepted, sum.updated, sum.unmatched]]);
        if (sum.unmatched > 0) process.stderr.write(`${sum.unmatched} label(s) match no logged prediction of '${deployment}' yet: they are kept, and join once the prediction is logged\n`);
      }),
    );

  program
    .command("performance")
    .description("a deployment's performance against its labels, per model version, arm and time window, with label-free estimates (CBPE) beside the realized classification metrics")
    .argument("<deployment>", "the deployment")
    .addOption(new Option("--since <duration>", "the last DURATION (e.g. 24h, 7d; default 24h)").argParser(duration))
    .addOption(new Option("--from <time>", "predictions from this time (ms since the epoch or an ISO date)").argParser(timeArg))
    .addOption(new Option("--to <time>", "predictions before this time (default: now)").argParser(timeArg))
    .addOption(new Option("--window <duration>", "one row per window of this length, e.g. 1h (default: the whole range as one window)").argParser(windowDuration))
    .addOption(new Option("--task <task>", "default: classification for boolean and string labels, regression for numbers").choices(["classification", "regression"]))
    .option("--output <name>", "the output tensor holding the prediction (default: the first)")
    .option("--positive <label>", "the positive class (default: true for boolean labels, 1 for numbers; needed for string labels)")
    .addOption(new Option("--threshold <p>", "a probability at or above it predicts the positive class (default 0.5)").argParser(probability))
    .addOption(new Option("--reference-from <time>", "label-free estimates (the _EST columns) are calibrated on the labelled predictions from this time … (default: the range's start)").argParser(timeArg))
    .addOption(new Option("--reference-to <time>", "… to this time (default: the range's end)").argParser(timeArg))
    .action(
      action(async (deployment: string, o: PerformanceFlags, cmd: Command) => {
        if (o.since !== undefined && (o.from !== undefined || o.to !== undefined)) usage(cmd, "give either --since or --from/--to, not both");
        if (o.from !== undefined && o.to !== undefined && o.from >= o.to) usage(cmd, "--from must be before --to");
        const q: PerformanceOptions = {};
        if (o.since !== undefined) q.from = Math.max(0, Date.now() - Math.round(o.since * 1000));
        if (o.from !== undefined) q.from = o.from;
        if (o.to !== undefined) q.to = o.to;
        if (o.window !== undefined) q.windowSeconds = o.window;
        if (o.task !== undefined) q.task = o.task;
        if (o.output !== undefined) q.output = o.output;
        if (o.positive !== undefined) q.positive = o.positive;
        if (o.threshold !== undefined) q.threshold = o.threshold;
        if (o.referenceFrom !== undefined && o.referenceTo !== undefined && o.referenceFrom >= o.referenceTo) usage(cmd, "--reference-from must be before --reference-to");
        if (o.referenceFrom !== undefined) q.referenceFrom = o.referenceFrom;
        if (o.referenceTo !== undefined) q.referenceTo = o.referenceTo;
        const p = await clientFor(cmd).monitoring.performance(deployment, q);
        if (wantsJson(cmd)) printJson(p);
        else printPerformance(p);
      }),
    );

  program
    .command("drift")
    .description("drift of a file (--current) or of a deployment's logged traffic (--deployment) against a reference (a dataset version, a file, or an earlier window), per column, SciPy-exact")
    .option("--deployment <name>", "the deployment whose traffic is tested")
    .option("--current <file>", "or a CSV or Parquet file to test (no deployment needed)")
    .option("--reference <ref>", "a dataset version: data:NAME@VERSION (e.g. data:credit@v3); with --current also a CSV or Parquet FILE")
    .option("--reference-path <path>", "the reference dataset's tabular file, when it has several")
    .addOption(new Option("--reference-from <time>", "or an earlier window of the log: its start (ms or ISO date) …").argParser(timeArg))
    .addOption(new Option("--reference-to <time>", "… and its end").argParser(timeArg))
    .addOption(new Option("--window <duration>", "the current window: the last DURATION (default 1h)").argParser(windowDuration))
    .option("--columns <names>", "only these columns, comma-separated")
    .addOption(new Option("--test <test>", "one test for every column (with --deployment: for each of --columns) instead of Evidently's choice").choices(DriftTestName.options))
    .addOption(new Option("--threshold <x>", "the test's threshold (a p-value, or a distance)").argParser(nonNegativeNumber))
    .addOption(new Option("--drift-share <x>", "the share of drifted columns at which the dataset counts as drifted (default 0.5)").argParser(fraction))
    .option("--column-names <tensor=a,b,…>", "names of a 2-D input's columns, to match the dataset's (e.g. features=age,income)")
    .option("--html <file>", "also write a self-contained HTML report with each column's distributions")
    .action(
      action(async (o: { deployment?: string; current?: string; reference?: string; referencePath?: string; referenceFrom?: number; referenceTo?: number; window?: number; columns?: string; test?: DriftTestName; threshold?: number; driftShare?: number; columnNames?: string; html?: string }, cmd: Command) => {
        if ((o.deployment === undefined) === (o.current === undefined)) usage(cmd, "give what to test: --deployment NAME (its logged traffic) or --current FILE");
        const tuning = { ...(o.test ? { test: o.test } : {}), ...(o.threshold !== undefined ? { threshold: o.threshold } : {}) };
        const share = o.driftShare !== undefined ? { driftShare: o.driftShare } : {};
        const byWindow = o.referenceFrom !== undefined || o.referenceTo !== undefined;
        let report: DriftReportResponse;
        let title: string;
        if (o.current !== undefined) {
          if (byWindow || o.window !== undefined || o.columnNames !== undefined) usage(cmd, "--reference-from/--reference-to, --window and --column-names are for --deployment; with --current give --reference data:NAME@VERSION or FILE");
          if (o.reference === undefined) usage(cmd, "give the reference: --reference data:NAME@VERSION or --reference FILE");
          if (!fs.existsSync(o.current)) usage(cmd, `cannot read '${o.current}'`);
          const ref = o.reference!;
          const isDataset = /^data(sets)?:/.test(ref) || (!fs.existsSync(ref) && /@/.test(ref));
          if (!isDataset && !fs.existsSync(ref)) usage(cmd, `cannot read '${ref}' (a dataset version is data:NAME@VERSION)`);
          if (!isDataset && o.referencePath !== undefined) usage(cmd, "--reference-path needs --reference data:NAME@VERSION");
          report = await clientFor(cmd).monitoring.driftFiles({
            reference: isDataset ? { dataset: ref.replace(/^data(sets)?:\/?/, ""), ...(o.referencePath ? { path: o.referencePath } : {}) } : { file: ref },
            current: o.current,
            ...(o.columns ? { columns: o.columns.split(",").map((c) => c.trim()) } : {}),
            ...tuning,
            ...share,
          });
          title = `Drift of ${path.basename(o.current)}`;
        } else {
          if ((o.reference === undefined) === !byWindow) usage(cmd, "give the reference: --reference data:NAME@VERSION, or --reference-from and --reference-to");
          if ((o.test !== undefined || o.threshold !== undefined) && o.columns === undefined) usage(cmd, "with --deployment, --test and --threshold apply to the --columns named");
          if (byWindow && (o.referenceFrom === undefined || o.referenceTo === undefined || o.referenceFrom >= o.referenceTo)) usage(cmd, "--reference-from and --reference-to must both be given, the first before the second");
          let columnNames: Record<string, string[]> | undefined;
          if (o.columnNames !== undefined) {
            const m = /^([^=]+)=(.+)$/.exec(o.columnNames);
            if (!m) usage(cmd, "--column-names takes TENSOR=a,b,c");
            columnNames = { [m![1]!.trim()]: m![2]!.split(",").map((x) => x.trim()) };
          }
          const to = Date.now();
          report = await clientFor(cmd).monitoring.drift(o.deployment!, {
            reference: byWindow ? { window: { from: o.referenceFrom!, to: o.referenceTo! } } : { dataset: o.reference!.replace(/^data(sets)?:\/?/, ""), ...(o.referencePath ? { path: o.referencePath } : {}) },
            current: { from: to - Math.round((o.window ?? 3600) * 1000), to },
            ...(o.columns ? { columns: o.columns.split(",").map((name) => ({ name: name.trim(), ...tuning })) } : {}),
            ...(columnNames ? { columnNames } : {}),
            ...share,
          });
          title = `Drift of ${o.deployment}`;
        }
        if (o.html) fs.writeFileSync(o.html, driftReportHtml(report, title));
        if (wantsJson(cmd)) return printJson(report);
        const d = report.dataset;
        const c = report.current;
        printKeyValues([
          o.deployment !== undefined ? ["deployment", o.deployment] : ["current", `${c.source ?? o.current} (${c.rows} rows)`],
          ["reference", `${report.reference.source} (${report.reference.rows} rows)`],
          ...(o.deployment !== undefined ? [["current", `${formatTime(c.from ?? 0)} – ${formatTime(c.to ?? 0)} (${c.rows} rows${c.truncated ? ", truncated" : ""})`] as [string, Cell]] : []),
          ["verdict", d.noData ? `no data in the current ${o.deployment !== undefined ? "window" : "file"}` : `${d.datasetDrift ? "DRIFT" : "no drift"}: ${d.driftedColumns} of ${d.totalColumns} columns (share ${formatNumber(d.share)}, threshold ${formatNumber(d.driftShare)})`],
        ]);
        printTable(
          ["COLUMN", "KIND", "TEST", "STATISTIC", "P-VALUE", "THRESHOLD", "VERDICT"],
          report.columns.map((c) => [c.column, c.kind, c.noData ? "-" : (c.test ?? "-"), c.statistic === undefined ? "-" : formatNumber(c.statistic), c.pValue === undefined ? "-" : c.pValue.toExponential(2), c.threshold === undefined ? "-" : formatNumber(c.threshold), c.noData ? "no data" : c.drifted ? "DRIFT" : "ok"]),
        );
        if (o.html) process.stderr.write(`wrote ${o.html}\n`);
      }),
    );

  const monitor = program.command("monitor").description("monitors on deployments: drift, traffic and performance on a schedule, with alert rules");
  monitor
    .command("create")
    .description("create or replace a monitor from a JSON file (name, windowSeconds, intervalSeconds, reference, columnNames, performance, rules)")
    .argument("<deployment>", "the deployment")
    .argument("<file>", "the monitor's spec as JSON")
    .action(
      action(async (deployment: string, file: string, _o: unknown, cmd: Command) => {
        let spec: unknown;
        try {
          spec = JSON.parse(fs.readFileSync(file, "utf8"));
        } catch (e) {
          usage(cmd, `cannot read ${file} as JSON: ${(e as Error).message}`);
        }
        const m = await clientFor(cmd).monitoring.createMonitor(deployment, spec as never);
        if (wantsJson(cmd)) return printJson(m);
        printKeyValues([["monitor", m.spec.name], ["deployment", m.deployment], ["every", formatDuration((m.spec.intervalSeconds ?? 300) * 1000)], ["window", formatDuration((m.spec.windowSeconds ?? 3600) * 1000)], ["rules", String(m.alerts.length)], ["first run", formatTime(m.nextRunAt)]]);
      }),
    );
  monitor
    .command("ls")
    .description("a deployment's monitors and their alert states")
    .argument("<deployment>", "the deployment")
    .action(
      action(async (deployment: string, _o: unknown, cmd: Command) => {
        const ms = await clientFor(cmd).monitoring.monitors(deployment);
        if (wantsJson(cmd)) return printJson({ monitors: ms });
        printTable(["MONITOR", "EVERY", "WINDOW", "LAST RUN", "NEXT RUN", "ALERTS"], ms.map((m) => [m.spec.name, formatDuration((m.spec.intervalSeconds ?? 300) * 1000), formatDuration((m.spec.windowSeconds ?? 3600) * 1000), m.lastRunAt === null ? "-" : formatTime(m.lastRunAt), formatTime(m.nextRunAt), m.alerts.map((a) => `${a.rule}: ${a.status}`).join(", ") || "-"]));
      }),
    );
  monitor
    .command("run")
    .description("run a monitor's window now and print its points and the alerts they fired")
    .argument("<deployment>", "the deployment")
    .argument("<monitor>", "the monitor")
    .action(
      action(async (deployment: string, name: string, _o: unknown, cmd: Command) => {
        const r = await clientFor(cmd).monitoring.runMonitor(deployment, name);
        if (wantsJson(cmd)) return printJson(r);
        printTable(["SERIES", "VALUE"], r.points.map((p) => [p.series, p.value === null ? "-" : formatNumber(p.value)]));
        for (const e of r.events) process.stdout.write(`alert ${e.rule} ${e.kind} at ${formatNumber(e.value)}${e.actions.length ? `: ${e.actions.map((a) => `${a.type} ${a.ok ? "ok" : "failed"} (${a.detail})`).join("; ")}` : ""}\n`);
      }),
    );
  monitor
    .command("rm")
    .description("delete a monitor with its series and alert history")
    .argument("<deployment>", "the deployment")
    .argument("<monitor>", "the monitor")
    .action(
      action(async (deployment: string, name: string, _o: unknown, cmd: Command) => {
        await clientFor(cmd).monitoring.deleteMonitor(deployment, name);
        if (wantsJson(cmd)) return printJson({ deleted: name });
        process.stdout.write(`deleted monitor ${name}\n`);
      }),
    );
  program
    .command("alerts")
    .description("a deployment's alert events, newest first")
    .argument("<deployment>", "the deployment")
    .option("--monitor <name>", "only this monitor's")
    .addOption(new Option("--limit <n>", "at most N events (default 50)").argParser(positiveInt))
    .action(
      action(async (deployment: string, o: { monitor?: string; limit?: number }, cmd: Command) => {
        const events = await clientFor(cmd).monitoring.alerts(deployment, { ...(o.monitor ? { monitor: o.monitor } : {}), limit: o.limit ?? 50 });
        if (wantsJson(cmd)) return printJson({ events });
        printTable(["TIME", "MONITOR", "RULE", "EVENT", "VALUE", "ACTIONS"], events.map((e) => [formatTime(e.time), e.monitor, e.rule, e.kind, formatNumber(e.value), e.actions.map((a) => `${a.type}: ${a.ok ? "ok" : "failed"}`).join(", ") || "-"]));
      }),
    );

  for (const c of feedback.commands) usageErrorsExit2(c);
  for (const c of monitor.commands) usageErrorsExit2(c);
  for (const name of ["performance", "drift", "alerts"]) usageErrorsExit2(program.commands.find((c) => c.name() === name)!);
}
