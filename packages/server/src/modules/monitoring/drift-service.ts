import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { once } from "node:events";
import type { DuckDBConnection } from "@duckdb/node-api";
import { CairnError, type DriftReportResponse, type DriftTestName } from "@cairn/contract";
import type { z } from "zod";
import type * as C from "@cairn/contract";
import type { TabularEngine } from "../datasets/tabular.js";
import type { DatasetService } from "../datasets/service.js";
import type { InferenceLogStore } from "../serving/store/inference-log-store.js";
import { driftReport, type DriftColumn } from "./drift-report.js";
import { sqlIdent, type DriftSample } from "./drift-sql.js";
import { ReferenceProfiles } from "./reference-profile.js";
import { loadInferenceWindow } from "./inference-window.js";

let tableSeq = 0;

/** The distribution of one numeric output of one arm in a window. */
export interface PredictionStats {
  arm: "primary" | "canary" | "shadow";
  /** The output tensor's name. */
  output: string;
  n: number;
  mean: number | null;
  p10: number | null;
  p50: number | null;
  p90: number | null;
}

/** Default bound of a file drift request's body (both files together). */
export const DEFAULT_DRIFT_UPLOAD_LIMIT = 256 * 1024 * 1024;

const NUMERIC_TYPE = /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|FLOAT|DOUBLE|DECIMAL.*)$/;

/** `NAME@VERSION` of a dataset reference (a `data:` or `datasets:/` prefix allowed). */
function parseDatasetRef(ref: string): { name: string; version: string } {
  const m = /^(?:data(?:sets)?:\/?)?([^@]+)@(.+)$/.exec(ref);
  if (!m) throw new CairnError("INVALID_PARAMETER_VALUE", `Reference dataset '${ref}' must be NAME@VERSION (e.g. credit@v3)`);
  return { name: m[1]!, version: m[2]! };
}

/**
 * Writes a request body to files as it arrives: its first `refBytes` bytes to `refFile` (when given),
 * the rest to `curFile`. Memory holds one chunk.
 * @throws CairnError PAYLOAD_TOO_LARGE past `limit` bytes, INVALID_PARAMETER_VALUE when the body is shorter than `refBytes`
 */
async function receiveFiles(body: AsyncIterable<unknown>, o: { refBytes?: number; refFile: string; curFile: string; limit: number }): Promise<{ refSize: number; curSize: number }> {
  const ref = o.refBytes !== undefined ? fs.createWriteStream(o.refFile) : undefined;
  const cur = fs.createWriteStream(o.curFile);
  const write = async (ws: fs.WriteStream, b: Buffer) => {
    if (!ws.write(b)) await once(ws, "drain");
  };
  let refSize = 0;
  let curSize = 0;
  try {
    for await (const chunk of body) {
      let b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
      if (refSize + curSize + b.length > o.limit) throw new CairnError("PAYLOAD_TOO_LARGE", `The upload is larger than the server's drift upload limit (${o.limit} bytes; CAIRN_DRIFT_UPLOAD_LIMIT)`);
      if (ref && refSize < o.refBytes!) {
        const take = Math.min(b.length, o.refBytes! - refSize);
        await write(ref, b.subarray(0, take));
        refSize += take;
        b = b.subarray(take);
      }
      if (b.length > 0) {
        await write(cur, b);
        curSize += b.length;
      }
    }
    await Promise.all([ref, cur].map((ws) => (ws ? new Promise<void>((resolve, reject) => ws.end((e?: Error | null) => (e ? reject(e) : resolve()))) : undefined)));
  } catch (e) {
    ref?.destroy();
    cur.destroy();
    throw e;
  }
  if (o.refBytes !== undefined && refSize < o.refBytes) throw new CairnError("INVALID_PARAMETER_VALUE", `The body has ${refSize} bytes, fewer than referenceBytes (${o.refBytes}): send the reference file's bytes, then the current file's`);
  return { refSize, curSize };
}

/** Parquet files start with `PAR1`; anything else is read as CSV. */
function sniffFormat(file: string): "csv" | "parquet" {
  const fd = fs.openSync(file, "r");
  try {
    const head = Buffer.alloc(4);
    const n = fs.readSync(fd, head, 0, 4, 0);
    return n === 4 && head.toString("latin1") === "PAR1" ? "parquet" : "csv";
  } finally {
    fs.closeSync(fd);
  }
}

async function countRows(conn: DuckDBConnection, relation: string): Promise<number> {
  return Number((await conn.runAndReadAll(`SELECT count(*) AS n FROM ${relation}`)).getRowObjectsJS()[0]!.n);
}

/** A reference to test against: a sample (a relation, or a weighted one: a stored profile), its columns and types, rows and source. */
interface Reference {
  sample: DriftSample;
  columns: string[];
  types: string[];
  rows: number;
  label: string;
}

/**
 * Drift of a deployment's traffic: the current window of its inference log against a reference (an
 * earlier window, or a dataset version's tabular file), column by column. Both sides are DuckDB
 * relations (the log streamed in through an appender; the file read in place, or its stored profile
 * when `profileDir` is given), so only statistics come into memory.
 */
export class DriftService {
  readonly #profiles: ReferenceProfiles | undefined;

  constructor(
    private readonly o: {
      tabular: TabularEngine;
      log: InferenceLogStore;
      datasets: Pick<DatasetService, "withVersionFile" | "getVersion">;
      /** A deployment's model, undefined when there is no such deployment. */
      deployment(name: string): Promise<{ model: string } | undefined>;
      /** Largest body of a file drift request, both files together (default {@link DEFAULT_DRIFT_UPLOAD_LIMIT}). */
      uploadLimit?: number;
      /**
       * Where dataset references' profiles are stored (`reference-profile.ts`): built on first use and
       * read instead of the file afterwards. Without it, the file is read each time.
       */
      profileDir?: string;
    },
  ) {
    this.#profiles = o.profileDir !== undefined ? new ReferenceProfiles(o.profileDir) : undefined;
  }

  /**
   * Runs `fn` with a dataset version's tabular file as a reference: its stored profile (built first
   * when missing or unreadable), or, without a profile directory, the file read in place.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST (dataset, version, file), INVALID_PARAMETER_VALUE (not
   *   tabular, several tabular files and no path, an unreadable file)
   */
  private async withDatasetReference<T>(conn: DuckDBConnection, dataset: { name: string; version: string }, filePath: string | undefined, fn: (ref: Reference) => Promise<T>): Promise<T> {
    const profiles = this.#profiles;
    if (!profiles) {
      return this.o.datasets.withVersionFile(dataset.name, dataset.version, filePath, async (file, format, label) =>
        this.o.tabular.withRelation(conn, file, format, label, async (rel) => fn({ sample: rel.name, columns: rel.columns, types: rel.types, rows: await countRows(conn, rel.name), label })),
      );
    }
    // The version is resolved once, so a tag or "latest" cannot move between the key and the file.
    const v = await this.o.datasets.getVersion(dataset.name, dataset.version);
    const p = await profiles.open(conn, `${v.id}\n${filePath ?? ""}`, (write) => this.o.datasets.withVersionFile(dataset.name, `v${v.number}`, filePath, (file, format, label) => this.o.tabular.withRelation(conn, file, format, label, (rel) => write(rel, label))));
    return fn({ sample: p.sample, columns: p.columns, types: p.types, rows: p.rows, label: p.label });
  }

  /**
   * The drift report of an uploaded file (the body: CSV with a header row, or Parquet) against a dataset
   * version's tabular file or a second uploaded file (the body's first `referenceBytes` bytes). The body
   * is streamed to temporary files (removed afterwards) and read in place by DuckDB; only statistics come
   * into memory. Columns: those given, else every column of the current file, and the reference must
   * have each. An empty current file (no bytes, or a header and no rows) is "no data", never a NaN score.
   * @throws CairnError INVALID_PARAMETER_VALUE (neither or both of `reference` and `referenceBytes`, a body
   *   shorter than `referenceBytes`, an empty reference, an unreadable file, a column the reference or the
   *   current file lacks, a column numeric on one side only, a test that does not fit the column),
   *   RESOURCE_DOES_NOT_EXIST (dataset, version, file), PAYLOAD_TOO_LARGE (over the upload limit, by
   *   `declaredBytes` (the request's content-length) before reading, or while streaming)
   */
  async fileDrift(body: AsyncIterable<unknown>, q: z.output<typeof C.FileDriftQuery>, declaredBytes?: number): Promise<DriftReportResponse> {
    const limit = this.o.uploadLimit ?? DEFAULT_DRIFT_UPLOAD_LIMIT;
    // A declared size over the limit is refused before anything is read or written.
    if (declaredBytes !== undefined && declaredBytes > limit) throw new CairnError("PAYLOAD_TOO_LARGE", `The upload (${declaredBytes} bytes) is larger than the server's drift upload limit (${limit} bytes; CAIRN_DRIFT_UPLOAD_LIMIT)`);
    if ((q.reference === undefined) === (q.referenceBytes === undefined)) throw new CairnError("INVALID_PARAMETER_VALUE", "Give the reference: 'reference' (a dataset version, NAME@VERSION) or 'referenceBytes' (the body starts with a reference file of that many bytes), not both");
    if (q.referencePath !== undefined && q.reference === undefined) throw new CairnError("INVALID_PARAMETER_VALUE", "'referencePath' needs 'reference' (a dataset version)");
    const dataset = q.reference !== undefined ? parseDatasetRef(q.reference) : undefined;
    const curName = q.currentName ?? "current";
    const refName = q.referenceName ?? "reference";
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-drift-"));
    try {
      const refFile = path.join(dir, "reference");
      const curFile = path.join(dir, "current");
      const sizes = await receiveFiles(body, { ...(q.referenceBytes !== undefined ? { refBytes: q.referenceBytes } : {}), refFile, curFile, limit });
      const opts = { ...(q.driftShare !== undefined ? { driftShare: q.driftShare } : {}) };
      return await this.o.tabular.withConnection(async (conn) => {
        const compare = async (ref: Reference, refSource: string): Promise<DriftReportResponse> => {
          const refRows = ref.rows;
          if (refRows === 0) throw new CairnError("INVALID_PARAMETER_VALUE", `The reference (${refSource}) has no rows`);
          const refType = new Map(ref.columns.map((c, i) => [c, ref.types[i]!]));
          const empty = async () => {
            const seq = ++tableSeq;
            const table = `drift_empty_${process.pid}_${seq}`;
            await conn.run(`CREATE TEMP TABLE "${table}" (_empty DOUBLE)`);
            try {
              const report = await driftReport(conn, ref.sample, `"${table}"`, [], opts);
              return { ...report, reference: { rows: refRows, truncated: false, source: refSource }, current: { rows: 0, truncated: false, source: curName } };
            } finally {
              await conn.run(`DROP TABLE IF EXISTS "${table}"`).catch(() => undefined);
            }
          };
          // No bytes at all: no columns to read, no data to test.
          if (sizes.curSize === 0) return empty();
          return this.o.tabular.withRelation(conn, curFile, q.currentFormat ?? sniffFormat(curFile), curName, async (cur) => {
            const curType = new Map(cur.columns.map((c, i) => [c, cur.types[i]!]));
            const curRows = await countRows(conn, cur.name);
            const wanted = q.columns !== undefined ? q.columns.split(",").map((c) => c.trim()).filter((c) => c.length > 0) : cur.columns;
            const columns: DriftColumn[] = wanted.map((name) => {
              const ct = curType.get(name);
              const rt = refType.get(name);
              if (ct === undefined) throw new CairnError("INVALID_PARAMETER_VALUE", `The current file (${curName}) has no column '${name}' (${cur.columns.slice(0, 10).join(", ")}${cur.columns.length > 10 ? ", …" : ""})`);
              if (rt === undefined) throw new CairnError("INVALID_PARAMETER_VALUE", `The reference (${refSource}) has no column '${name}'`);
              const numeric = NUMERIC_TYPE.test(ct);
              // A file with a header and no rows has untyped (VARCHAR) columns: no data, nothing to mismatch.
              if (curRows > 0 && numeric !== NUMERIC_TYPE.test(rt)) throw new CairnError("INVALID_PARAMETER_VALUE", `Column '${name}' is ${ct} in the current file but ${rt} in the reference: both must be numbers, or neither`);
              return { name, kind: numeric ? "numeric" : "categorical", ...(q.test ? { test: q.test as DriftTestName } : {}), ...(q.threshold !== undefined ? { threshold: q.threshold } : {}) };
            });
            const report = await driftReport(conn, ref.sample, cur.name, curRows === 0 ? [] : columns, opts);
            return { ...report, reference: { rows: refRows, truncated: false, source: refSource }, current: { rows: curRows, truncated: false, source: curName } };
          });
        };
        if (dataset) {
          return this.withDatasetReference(conn, dataset, q.referencePath, (ref) => compare(ref, ref.label));
        }
        if (sizes.refSize === 0) throw new CairnError("INVALID_PARAMETER_VALUE", `The reference file (${refName}) is empty`);
        return this.o.tabular.withRelation(conn, refFile, q.referenceFormat ?? sniffFormat(refFile), refName, async (rel) => compare({ sample: rel.name, columns: rel.columns, types: rel.types, rows: await countRows(conn, rel.name), label: refName }, refName));
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  /**
   * The distribution of a deployment's numeric predictions in a window, per arm and output: count,
   * mean and the 10th, 50th and 90th percentiles (exact, in DuckDB; the window streams in as for drift).
   * Shadow answers count as their own arm. Nothing for a window without predictions.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST (deployment)
   */
  async predictionStats(name: string, window: { from: number; to: number }): Promise<PredictionStats[]> {
    const d = await this.o.deployment(name);
    if (!d) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Deployment '${name}' not found`);
    const out: PredictionStats[] = [];
    await this.o.tabular.withConnection(async (conn) => {
      for (const arm of ["primary", "canary", "shadow"] as const) {
        const table = `pred_${process.pid}_${++tableSeq}`;
        try {
          const w = await loadInferenceWindow(conn, this.o.log, { model: d.model, deployment: name, from: window.from, to: window.to, arms: [arm] }, table);
          const outputs = w.columns.filter((c) => c.kind === "numeric" && c.name.startsWith("output."));
          if (w.rows === 0 || outputs.length === 0) continue;
          const select = outputs.map((c, i) => {
            const x = sqlIdent(c.name);
            return `count(${x}) AS n${i}, avg(${x}) AS m${i}, quantile_cont(${x}, 0.1) AS a${i}, quantile_cont(${x}, 0.5) AS b${i}, quantile_cont(${x}, 0.9) AS c${i}`;
          });
          const row = (await conn.runAndReadAll(`SELECT ${select.join(", ")} FROM ${sqlIdent(table)}`)).getRowObjectsJS()[0]!;
          const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
          outputs.forEach((c, i) => {
            const n = Number(row[`n${i}`]);
            if (n > 0) out.push({ arm, output: c.name.slice("output.".length), n, mean: num(row[`m${i}`]), p10: num(row[`a${i}`]), p50: num(row[`b${i}`]), p90: num(row[`c${i}`]) });
          });
        } finally {
          await conn.run(`DROP TABLE IF EXISTS ${sqlIdent(table)}`).catch(() => undefined);
        }
      }
    });
    return out;
  }

  /**
   * The drift report of deployment `name`; a dataset reference is read through its stored profile (built on first use) when `profileDir` is given.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST (deployment, dataset, version, file), INVALID_PARAMETER_VALUE (a column the reference lacks, a column no side has, a test that does not fit the column, an unreadable file)
   */
  async deploymentDrift(name: string, req: z.output<typeof C.DriftRequest>): Promise<DriftReportResponse> {
    const d = await this.o.deployment(name);
    if (!d) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Deployment '${name}' not found`);
    const now = Date.now();
    const current = req.current ?? { from: now - 3600_000, to: now };
    const seq = ++tableSeq;
    const curTable = `drift_cur_${process.pid}_${seq}`;
    const refTable = `drift_ref_${process.pid}_${seq}`;
    const window = (w: { from: number; to: number }) => ({ model: d.model, deployment: name, from: w.from, to: w.to, ...(req.columnNames ? { columnNames: req.columnNames } : {}) });
    return this.o.tabular.withConnection(async (conn) => {
      try {
        const cur = await loadInferenceWindow(conn, this.o.log, window(current), curTable);
        const pick = (available: Set<string>, what: string): DriftColumn[] => {
          const byName = new Map(cur.columns.map((c) => [c.name, c]));
          // By default every input (the reference must have it) and the outputs the reference has (a dataset rarely holds predictions).
          const wanted: { name: string; test?: DriftColumn["test"]; threshold?: number }[] = req.columns ?? cur.columns.filter((c) => available.has(c.name) || !c.name.startsWith("output.")).map((c) => ({ name: c.name }));
          return wanted.map((w) => {
            const col = byName.get(w.name);
            if (!col && cur.rows > 0) throw new CairnError("INVALID_PARAMETER_VALUE", `Column '${w.name}' is not among the deployment's logged inputs and outputs (${cur.columns.slice(0, 10).map((c) => c.name).join(", ")}${cur.columns.length > 10 ? ", …" : ""})`);
            if (!available.has(w.name)) throw new CairnError("INVALID_PARAMETER_VALUE", `The reference (${what}) has no column '${w.name}'${req.columnNames ? "" : "; name the columns of 2-D inputs with columnNames to match a dataset's"}`);
            return { name: w.name, kind: col?.kind ?? "numeric", ...(w.test ? { test: w.test } : {}), ...(w.threshold !== undefined ? { threshold: w.threshold } : {}) };
          });
        };
        const meta = (rows: number, truncated: boolean, source: string) => ({ rows, truncated, source });
        const currentMeta = { rows: cur.rows, truncated: cur.truncated, from: current.from, to: current.to };
        const ref = req.reference;
        if ("window" in ref) {
          const r = await loadInferenceWindow(conn, this.o.log, window(ref.window), refTable);
          if (r.rows === 0) throw new CairnError("INVALID_PARAMETER_VALUE", `The reference window has no logged predictions of deployment '${name}'`);
          const columns = pick(new Set(r.columns.map((c) => c.name)), "the reference window");
          const report = await driftReport(conn, refTable, curTable, cur.rows === 0 ? [] : columns, { ...(req.driftShare !== undefined ? { driftShare: req.driftShare } : {}) });
          return { ...report, reference: meta(r.rows, r.truncated, `window ${new Date(ref.window.from).toISOString()} – ${new Date(ref.window.to).toISOString()}`), current: currentMeta };
        }
        const m = parseDatasetRef(ref.dataset);
        // Awaited here, so the tables are dropped only after the report (the `finally` below).
        return await this.withDatasetReference(conn, m, ref.path, async (r) => {
          const columns = pick(new Set(r.columns), r.label);
          const report = await driftReport(conn, r.sample, curTable, cur.rows === 0 ? [] : columns, { ...(req.driftShare !== undefined ? { driftShare: req.driftShare } : {}) });
          return { ...report, reference: meta(r.rows, false, r.label), current: currentMeta };
        });
      } finally {
        await conn.run(`DROP TABLE IF EXISTS "${curTable}"`).catch(() => undefined);
        await conn.run(`DROP TABLE IF EXISTS "${refTable}"`).catch(() => undefined);
      }
    });
  }
}
