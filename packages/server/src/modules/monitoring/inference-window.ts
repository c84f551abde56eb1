import type { DuckDBAppender, DuckDBConnection } from "@duckdb/node-api";
import type { InferenceLogStore } from "../serving/store/inference-log-store.js";
import { sqlIdent } from "./drift-sql.js";
import type { DriftColumn } from "./drift-report.js";

/** Which logged predictions make a window. */
export interface WindowSpec {
  model: string;
  deployment: string;
  /** Milliseconds since the epoch: [from, to). */
  from: number;
  to: number;
  /** Arms whose predictions count (default primary and canary: a shadow's are not what callers got). */
  arms?: readonly ("primary" | "canary" | "shadow")[];
  /** Names for the columns of 2-D tensors, by tensor (`{ features: ["age", "income", …] }`); else `features[0]`, `features[1]`, … */
  columnNames?: Readonly<Record<string, readonly string[]>>;
}

/** What loading a window found. */
export interface LoadedWindow {
  /** Input columns then output columns (`output.<name>`), with their kinds. */
  columns: DriftColumn[];
  rows: number;
  /** More rows than `maxRows` were logged; the window holds the first ones. */
  truncated: boolean;
}

/** A logged tensor as the log stores it: the protocol's JSON form. */
interface LoggedTensor {
  name: string;
  datatype: string;
  shape: number[];
  data: unknown[];
}

const PAGE = 5000;

/** The columns a tensor gives: one per position of its second dimension (one for a 1-D tensor). */
function tensorColumns(t: LoggedTensor, prefix: string, names: WindowSpec["columnNames"]): { name: string; kind: "numeric" | "categorical" }[] {
  const width = t.shape.length <= 1 ? 1 : t.shape.slice(1).reduce((a, b) => a * b, 1);
  const kind = t.datatype === "BYTES" || t.datatype === "BOOL" ? "categorical" : "numeric";
  if (width === 1) return [{ name: `${prefix}${t.name}`, kind }];
  return Array.from({ length: width }, (_, j) => ({ name: `${prefix}${names?.[t.name]?.[j] ?? `${t.name}[${j}]`}`, kind }));
}

/**
 * Loads the predictions a deployment logged in a time window into a new DuckDB table: one row per
 * predicted row, one column per input position and per output (`output.<name>`), numbers as DOUBLE and
 * BYTES/BOOL as VARCHAR. Pages of the log stream through an appender, so memory holds one page, not
 * the window. The columns come from the first record; records shaped otherwise (another version's
 * signature) fill the columns they share and leave the rest NULL.
 */
export async function loadInferenceWindow(conn: DuckDBConnection, log: InferenceLogStore, spec: WindowSpec, table: string, opts: { maxRows?: number } = {}): Promise<LoadedWindow> {
  const maxRows = opts.maxRows ?? 1_000_000;
  const arms = new Set(spec.arms ?? ["primary", "canary"]);
  let columns: { name: string; kind: "numeric" | "categorical" }[] | undefined;
  let index = new Map<string, number>();
  let appender: DuckDBAppender | undefined;
  let rows = 0;
  let truncated = false;
  let afterSeq: number | undefined;
  try {
    for (;;) {
      const page = await log.query({ model: spec.model, deployment: spec.deployment, from: spec.from, to: spec.to, limit: PAGE, ...(afterSeq !== undefined ? { afterSeq } : {}) });
      if (page.length === 0) break;
      afterSeq = page[page.length - 1]!.seq;
      for (const rec of page) {
        if (!arms.has(rec.arm) || rec.status >= 300) continue;
        const tensors = [...((rec.inputs as LoggedTensor[] | null) ?? []).map((t) => ({ t, prefix: "" })), ...((rec.outputs as LoggedTensor[] | null) ?? []).map((t) => ({ t, prefix: "output." }))];
        if (!columns) {
          columns = tensors.flatMap(({ t, prefix }) => tensorColumns(t, prefix, spec.columnNames));
          index = new Map(columns.map((c, i) => [c.name, i]));
          await conn.run(`CREATE TEMP TABLE ${sqlIdent(table)} (${columns.map((c) => `${sqlIdent(c.name)} ${c.kind === "numeric" ? "DOUBLE" : "VARCHAR"}`).join(", ")})`);
          appender = await conn.createAppender(table);
        }
        const n = Math.max(1, ...tensors.map(({ t }) => (t.shape.length === 0 ? 1 : t.shape[0]!)));
        // Each predicted row's values, placed by column.
        const values: unknown[][] = Array.from({ length: n }, () => new Array<unknown>(columns!.length).fill(null));
        for (const { t, prefix } of tensors) {
          const cols = tensorColumns(t, prefix, spec.columnNames);
          const width = cols.length;
          for (let r = 0; r < n; r++) {
            for (let j = 0; j < width; j++) {
              const at = index.get(cols[j]!.name);
              if (at !== undefined) values[r]![at] = t.data[r * width + j] ?? null;
            }
          }
        }
        for (const row of values) {
          if (rows >= maxRows) {
            truncated = true;
            break;
          }
          row.forEach((v, i) => {
            if (v === null || v === undefined) appender!.appendNull();
            else if (columns![i]!.kind === "numeric") appender!.appendDouble(Number(v));
            else appender!.appendVarchar(String(v));
          });
          appender!.endRow();
          rows += 1;
        }
        if (truncated) break;
      }
      if (truncated || page.length < PAGE) break;
    }
  } finally {
    appender?.flushSync();
    appender?.closeSync();
  }
  if (!columns) {
    // Nothing logged: an empty table the report reads as "no data".
    await conn.run(`CREATE TEMP TABLE ${sqlIdent(table)} (_empty DOUBLE)`);
    return { columns: [], rows: 0, truncated: false };
  }
  return { columns: columns.map((c) => ({ name: c.name, kind: c.kind })), rows, truncated };
}
