/**
 * Minimal CSV reading and writing (RFC 4180 quoting), enough for the example's own files without a
 * dependency.
 */
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";

/** A parsed CSV: the header and the rows as string cells. */
export interface CsvTable {
  header: string[];
  rows: string[][];
}

/**
 * Parses CSV text. Quoted fields may hold commas, quotes (doubled) and newlines. Empty lines are
 * skipped.
 * @throws Error when the text has no header or a row has a different number of cells than the header
 */
export function parseCsv(text: string): CsvTable {
  const records: string[][] = [];
  let field = "";
  let record: string[] = [];
  let inQuotes = false;
  let line = 1;
  const endRecord = () => {
    record.push(field);
    field = "";
    if (!(record.length === 1 && record[0] === "")) records.push(record);
    record = [];
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inQuotes) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else inQuotes = false;
      } else {
        if (ch === "\n") line++;
        field += ch;
      }
    } else if (ch === '"') inQuotes = true;
    else if (ch === ",") {
      record.push(field);
      field = "";
    } else if (ch === "\n") {
      endRecord();
      line++;
    } else if (ch !== "\r") field += ch;
  }
  if (inQuotes) throw new Error(`CSV: unterminated quoted field at line ${line}`);
  if (field !== "" || record.length > 0) endRecord();
  const header = records.shift();
  if (!header) throw new Error("CSV: the file is empty (no header)");
  records.forEach((r, i) => {
    if (r.length !== header.length) throw new Error(`CSV: row ${i + 1} has ${r.length} cells, the header has ${header.length}`);
  });
  return { header, rows: records };
}

/** Reads and parses a CSV file. @throws Error as `parseCsv` does, or the file system's error */
export function readCsv(path: string): CsvTable {
  return parseCsv(readFileSync(path, "utf8"));
}

function quote(cell: string): string {
  return /[",\n\r]/.test(cell) ? `"${cell.replace(/"/g, '""')}"` : cell;
}

/** Renders a table as CSV text (numbers as JavaScript prints them, which round-trips exactly). */
export function formatCsv(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const lines = [header.map(quote).join(",")];
  for (const r of rows) lines.push(r.map((c) => quote(String(c))).join(","));
  return lines.join("\n") + "\n";
}

/** Writes a table as a CSV file, creating its directory. @throws the file system's error */
export function writeCsv(path: string, header: readonly string[], rows: readonly (readonly (string | number)[])[]): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, formatCsv(header, rows));
}

/** Writes a value as pretty JSON, creating the directory. @throws the file system's error */
export function writeJson(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(value, null, 2) + "\n");
}

/** Reads a JSON file. @throws the file system's error or a SyntaxError */
export function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, "utf8")) as T;
}
