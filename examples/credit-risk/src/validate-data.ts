/**
 * Checks the raw credit table before anything learns from it: the header, types, ranges, required
 * values, a 0/1 label and a sane class balance. Every problem is collected, so one run lists them all.
 */
import type { CsvTable } from "./csv.js";
import { FEATURE_COLUMNS, ID_COLUMN, LABEL_COLUMN, RAW_HEADER } from "./schema.js";

/** Bounds on the share of positives (defaults) that the validator accepts. */
export interface BalanceBounds {
  minPositiveRate: number;
  maxPositiveRate: number;
}

/** What validation found. */
export interface ValidationReport {
  ok: boolean;
  rows: number;
  positives: number;
  positiveRate: number;
  /** Per numeric column: min, max, mean. */
  numeric: Record<string, { min: number; max: number; mean: number }>;
  /** Per categorical column: count per value. */
  categorical: Record<string, Record<string, number>>;
  /** Problems; at most 20 per kind are listed, with the total count. */
  problems: string[];
}

const MAX_LISTED = 20;

/**
 * Validates a parsed raw table against the schema (`schema.ts`). Never throws for bad data: the
 * problems are in the report and `ok` is false.
 * @example const report = validateCreditTable(readCsv("data/raw.csv"), { minPositiveRate: 0.02, maxPositiveRate: 0.5 });
 */
export function validateCreditTable(table: CsvTable, bounds: BalanceBounds): ValidationReport {
  const problems: string[] = [];
  const counts = new Map<string, number>();
  const problem = (kind: string, message: string) => {
    const n = (counts.get(kind) ?? 0) + 1;
    counts.set(kind, n);
    if (n <= MAX_LISTED) problems.push(message);
  };
  const report: ValidationReport = { ok: false, rows: table.rows.length, positives: 0, positiveRate: 0, numeric: {}, categorical: {}, problems };

  const missing = RAW_HEADER.filter((h) => !table.header.includes(h));
  const extra = table.header.filter((h) => !RAW_HEADER.includes(h));
  if (missing.length > 0) problems.push(`missing columns: ${missing.join(", ")}`);
  if (extra.length > 0) problems.push(`unexpected columns: ${extra.join(", ")}`);
  if (missing.length > 0) return report;
  if (table.rows.length === 0) {
    problems.push("the table has no rows");
    return report;
  }
  const index = new Map(table.header.map((h, i) => [h, i]));
  const cell = (row: string[], name: string) => (row[index.get(name) ?? -1] ?? "").trim();

  const ids = new Set<string>();
  table.rows.forEach((row, r) => {
    const line = r + 2; // the header is line 1
    const id = cell(row, ID_COLUMN);
    if (id === "") problem("id-null", `line ${line}: ${ID_COLUMN} is empty`);
    else if (ids.has(id)) problem("id-dup", `line ${line}: duplicate ${ID_COLUMN} ${id}`);
    ids.add(id);
    for (const col of FEATURE_COLUMNS) {
      const raw = cell(row, col.name);
      if (raw === "") {
        problem(`null:${col.name}`, `line ${line}: required column ${col.name} is empty`);
        continue;
      }
      if (col.kind === "numeric") {
        const v = Number(raw);
        if (!Number.isFinite(v)) problem(`type:${col.name}`, `line ${line}: ${col.name} = "${raw}" is not a number`);
        else if (v < col.min || v > col.max) problem(`range:${col.name}`, `line ${line}: ${col.name} = ${v} is outside [${col.min}, ${col.max}]`);
        else if (col.integer && !Number.isInteger(v)) problem(`int:${col.name}`, `line ${line}: ${col.name} = ${v} is not a whole number`);
        else {
          const s = (report.numeric[col.name] ??= { min: v, max: v, mean: 0 });
          s.min = Math.min(s.min, v);
          s.max = Math.max(s.max, v);
          s.mean += v;
        }
      } else if (!col.values.includes(raw)) {
        problem(`cat:${col.name}`, `line ${line}: ${col.name} = "${raw}" is not one of ${col.values.join(", ")}`);
      } else {
        const c = (report.categorical[col.name] ??= {});
        c[raw] = (c[raw] ?? 0) + 1;
      }
    }
    const label = cell(row, LABEL_COLUMN);
    if (label === "1") report.positives += 1;
    else if (label !== "0") problem("label", `line ${line}: ${LABEL_COLUMN} must be 0 or 1, got "${label}"`);
  });
  for (const s of Object.values(report.numeric)) s.mean /= table.rows.length;
  for (const [kind, n] of counts) if (n > MAX_LISTED) problems.push(`… and ${n - MAX_LISTED} more problems of kind ${kind}`);

  report.positiveRate = report.positives / table.rows.length;
  if (report.positiveRate < bounds.minPositiveRate || report.positiveRate > bounds.maxPositiveRate) {
    problems.push(
      `class balance: ${(report.positiveRate * 100).toFixed(2)}% of rows are defaults, outside the accepted ` +
        `[${bounds.minPositiveRate * 100}%, ${bounds.maxPositiveRate * 100}%]`,
    );
  }
  report.ok = problems.length === 0;
  return report;
}
