import { useState, type ReactNode } from "react";
import { formatNumber } from "../lib/format.js";

/** One column of a side-by-side comparison: a header label and the values it shows. */
export interface CompareColumn {
  /** A stable React key. */
  id: string;
  label: ReactNode;
  /** Parameters by key; undefined when the column has no run to read them from. */
  params: Record<string, string> | undefined;
  /** Latest metric values by key. */
  metrics: Map<string, number> | undefined;
}

/** Parameters side by side: rows whose values differ are highlighted, with an "only differences" toggle. */
export function ParamsDiffSection({ columns }: { columns: CompareColumn[] }) {
  const [onlyDiff, setOnlyDiff] = useState(false);
  const paramKeys = [...new Set(columns.flatMap((c) => Object.keys(c.params ?? {})))].sort((a, b) => a.localeCompare(b));
  const differs = (vals: (string | undefined)[]) => vals.some((v) => v !== vals[0]);
  const paramRows = paramKeys.map((k) => {
    const vals = columns.map((c) => c.params?.[k]);
    return { key: k, vals, diff: differs(vals) };
  });
  const shownParams = onlyDiff ? paramRows.filter((r) => r.diff) : paramRows;
  const diffCount = paramRows.filter((r) => r.diff).length;
  return (
    <section className="card">
      <div className="section-head">
        <h2>
          Parameters <span className="count">{paramKeys.length}</span>
        </h2>
        <span className="muted small">{diffCount} differ</span>
        <span className="spacer" />
        <label className="check">
          <input type="checkbox" data-testid="only-diff" checked={onlyDiff} onChange={(e) => setOnlyDiff(e.target.checked)} />
          Only differences
        </label>
      </div>
      <div className="table-wrap">
        <table className="table compare-table" data-testid="params-diff-table">
          <thead>
            <tr>
              <th className="sticky-col">Parameter</th>
              {columns.map((c) => (
                <th key={c.id}>{c.label}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {shownParams.map((row) => (
              <tr key={row.key} className={row.diff ? "diff" : ""} data-testid="param-row" data-diff={row.diff ? "true" : "false"}>
                <td className="sticky-col kv-key" title={row.key}>
                  {row.key}
                </td>
                {row.vals.map((v, i) => (
                  <td key={i} className="mono-ish" title={v}>
                    {v ?? <span className="muted">—</span>}
                  </td>
                ))}
              </tr>
            ))}
            {shownParams.length === 0 && (
              <tr>
                <td colSpan={columns.length + 1} className="empty">
                  {paramKeys.length ? "All parameters are equal." : "No parameters."}
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
    </section>
  );
}

/** Latest metric values side by side, with the highest and lowest value of each row marked. */
export function LatestMetricsSection({ columns, legend }: { columns: CompareColumn[]; legend: string }) {
  const metricKeys = [...new Set(columns.flatMap((c) => [...(c.metrics?.keys() ?? [])]))].sort((a, b) => a.localeCompare(b));
  return (
    <section className="card">
      <h2>
        Latest metrics <span className="count">{metricKeys.length}</span>
      </h2>
      <div className="table-wrap">
        <table className="table compare-table" data-testid="metrics-compare-table">
          <thead>
            <tr>
              <th className="sticky-col">Metric</th>
              {columns.map((c) => (
                <th key={c.id} className="num">
                  {c.label}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {metricKeys.map((k) => {
              const vals = columns.map((c) => c.metrics?.get(k));
              const finite = vals.filter((v): v is number => v !== undefined && Number.isFinite(v));
              const min = Math.min(...finite);
              const max = Math.max(...finite);
              return (
                <tr key={k}>
                  <td className="sticky-col kv-key" title={k}>
                    {k}
                  </td>
                  {vals.map((v, i) => {
                    const mark = finite.length > 1 && min !== max ? (v === max ? "hi" : v === min ? "lo" : "") : "";
                    return (
                      <td key={i} className={`num ${mark}`} title={mark === "hi" ? "highest" : mark === "lo" ? "lowest" : undefined}>
                        {mark && <span className="mark">{mark === "hi" ? "▲" : "▼"}</span>}
                        {v === undefined ? <span className="muted">—</span> : formatNumber(v)}
                      </td>
                    );
                  })}
                </tr>
              );
            })}
            {metricKeys.length === 0 && (
              <tr>
                <td colSpan={columns.length + 1} className="empty">
                  No metrics.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <div className="muted small legend-note">▲ highest · ▼ lowest value across the {legend}</div>
    </section>
  );
}
