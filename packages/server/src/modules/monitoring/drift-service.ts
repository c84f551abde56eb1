import { CairnError, type DriftReportResponse } from "@cairn/contract";
import type { z } from "zod";
import type * as C from "@cairn/contract";
import type { TabularEngine } from "../datasets/tabular.js";
import type { DatasetService } from "../datasets/service.js";
import type { InferenceLogStore } from "../serving/store/inference-log-store.js";
import { driftReport, type DriftColumn } from "./drift-report.js";
import { loadInferenceWindow } from "./inference-window.js";

let tableSeq = 0;

/**
 * Drift of a deployment's traffic: the current window of its inference log against a reference (an
 * earlier window, or a dataset version's tabular file), column by column. Both sides are DuckDB
 * relations (the log streamed in through an appender; the file read in place), so only statistics
 * come into memory.
 */
export class DriftService {
  constructor(
    private readonly o: {
      tabular: TabularEngine;
      log: InferenceLogStore;
      datasets: Pick<DatasetService, "withVersionFile">;
      /** A deployment's model, undefined when there is no such deployment. */
      deployment(name: string): Promise<{ model: string } | undefined>;
    },
  ) {}

  /**
   * The drift report of deployment `name`.
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
        const m = /^(?:data(?:sets)?:\/?)?([^@]+)@(.+)$/.exec(ref.dataset);
        if (!m) throw new CairnError("INVALID_PARAMETER_VALUE", `Reference dataset '${ref.dataset}' must be NAME@VERSION (e.g. credit@v3)`);
        // Awaited here, so the tables are dropped only after the report (the `finally` below).
        return await this.o.datasets.withVersionFile(m[1]!, m[2]!, ref.path, async (file, format, label) =>
          this.o.tabular.withRelation(conn, file, format, label, async (rel) => {
            const columns = pick(new Set(rel.columns), label);
            const count = Number((await conn.runAndReadAll(`SELECT count(*) AS n FROM ${rel.name}`)).getRowObjectsJS()[0]!.n);
            const report = await driftReport(conn, rel.name, curTable, cur.rows === 0 ? [] : columns, { ...(req.driftShare !== undefined ? { driftShare: req.driftShare } : {}) });
            return { ...report, reference: meta(count, false, label), current: currentMeta };
          }),
        );
      } finally {
        await conn.run(`DROP TABLE IF EXISTS "${curTable}"`).catch(() => undefined);
        await conn.run(`DROP TABLE IF EXISTS "${refTable}"`).catch(() => undefined);
      }
    });
  }
}
