import { useState, type ReactNode } from "react";

/** A two-column key/value table with a quick filter once it gets long. */
export function KvTable({
  rows,
  testId,
  empty,
  keyLabel = "Key",
  valueLabel = "Value",
  extra,
}: {
  rows: [string, ReactNode, string?][];
  testId?: string;
  empty: string;
  keyLabel?: string;
  valueLabel?: string;
  extra?: ReactNode;
}) {
  const [q, setQ] = useState("");
  const needle = q.trim().toLowerCase();
  const shown = needle ? rows.filter(([k, , text]) => k.toLowerCase().includes(needle) || (text ?? "").toLowerCase().includes(needle)) : rows;
  return (
    <div>
      {(rows.length > 12 || extra) && (
        <div className="mini-toolbar">
          {rows.length > 12 && <input className="filter-input small" placeholder={`Find among ${rows.length}`} value={q} onChange={(e) => setQ(e.target.value)} />}
          {extra}
        </div>
      )}
      <div className="table-wrap kv-wrap">
        <table className="table kv" data-testid={testId}>
          <thead>
            <tr>
              <th>{keyLabel}</th>
              <th>{valueLabel}</th>
            </tr>
          </thead>
          <tbody>
            {shown.map(([k, v]) => (
              <tr key={k}>
                <td className="kv-key" title={k}>
                  {k}
                </td>
                <td className="kv-value">{v}</td>
              </tr>
            ))}
            {shown.length === 0 && (
              <tr>
                <td colSpan={2} className="empty">
                  {rows.length ? "No match." : empty}
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
    </div>
  );
}
