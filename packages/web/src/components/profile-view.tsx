import type { ColumnProfile, FileProfile } from "@cairn/contract";
import { formatNumber } from "../lib/format.js";
import { Histogram } from "./histogram.js";

function stat(v: number | string | null | undefined): string {
  if (v === null || v === undefined) return "";
  return typeof v === "number" ? formatNumber(v) : v;
}

function pct(part: number, whole: number): string {
  if (whole <= 0 || part <= 0) return "";
  const p = (100 * part) / whole;
  return p < 0.1 ? "<0.1%" : `${Number(p.toPrecision(p < 10 ? 2 : 3))}%`;
}

/** A categorical column's most frequent values as horizontal bars (plus the rest as "other"). */
export function TopKBars({ column, topK, total }: { column: string; topK: NonNullable<ColumnProfile["topK"]>; total: number }) {
  const max = Math.max(1, ...topK.values.map((v) => v.count), topK.other);
  const rows = [...topK.values.map((v) => ({ label: v.value, count: v.count, other: false })), ...(topK.other > 0 ? [{ label: "(other)", count: topK.other, other: true }] : [])];
  return (
    <ul className="ds-topk" data-testid="topk" data-column={column} aria-label={`Most frequent values of ${column}`}>
      {rows.map((r, i) => (
        <li key={i} className={r.other ? "ds-topk-row ds-topk-other" : "ds-topk-row"} data-testid="topk-value" data-value={r.other ? "" : r.label} title={`${r.label}: ${formatNumber(r.count)} (${pct(r.count, total)})`}>
          <span className="ds-topk-label mono-ish">{r.label === "" && !r.other ? <span className="muted">(empty)</span> : r.label}</span>
          <span className="ds-topk-bar-wrap">
            <span className="ds-topk-bar" style={{ width: `${(100 * r.count) / max}%` }} />
          </span>
          <span className="ds-topk-count num">{formatNumber(r.count)}</span>
        </li>
      ))}
      {rows.length === 0 && <li className="muted small">No values.</li>}
    </ul>
  );
}

function ColumnCard({ c, rows }: { c: ColumnProfile; rows: number }) {
  const q = (want: number) => c.quantiles?.find((x) => Math.abs(x.q - want) < 1e-9)?.value;
  const p25 = q(0.25);
  const p50 = q(0.5);
  const p75 = q(0.75);
  return (
    <div className="ds-col-card" data-testid="column-card" data-column={c.name} data-kind={c.kind}>
      <div className="ds-col-head">
        <strong className="ds-col-name" title={c.name}>
          {c.name}
        </strong>
        <span className="badge gray mono">{c.type}</span>
        <span className="muted small">{c.kind}</span>
        <span className="spacer" />
        {c.missing > 0 && (
          <span className="badge orange" title={`${formatNumber(c.missing)} missing of ${formatNumber(rows)} rows`}>
            {pct(c.missing, c.count + c.missing)} missing
          </span>
        )}
      </div>
      {c.histogram ? (
        <Histogram column={c.name} edges={c.histogram.edges} counts={c.histogram.counts} />
      ) : c.topK ? (
        <TopKBars column={c.name} topK={c.topK} total={c.count} />
      ) : (
        <div className="muted small">No distribution recorded for this column.</div>
      )}
      {p50 !== undefined && (
        <div className="muted small ds-quantiles" data-testid="column-quantiles">
          p25 {formatNumber(p25)} · median {formatNumber(p50)} · p75 {formatNumber(p75)}
        </div>
      )}
    </div>
  );
}

/** The profile of one tabular file: a statistics table of its columns and a chart per column. */
export function ProfileView({ path, profile }: { path: string; profile: FileProfile }) {
  return (
    <div className="ds-profile" data-testid="profile" data-path={path}>
      <div className="ds-profile-head">
        <span className="mono">{path}</span>
        <span className="muted small" data-testid="profile-summary">
          {profile.format} · {formatNumber(profile.rows)} rows · {profile.columns.length} columns
          {profile.engine && ` · ${profile.engine}`}
        </span>
      </div>
      <div className="table-wrap">
        <table className="table ds-profile-table" data-testid="profile-columns">
          <thead>
            <tr>
              <th>Column</th>
              <th>Type</th>
              <th className="num">Count</th>
              <th className="num">Missing</th>
              <th className="num">Distinct</th>
              <th className="num">Min</th>
              <th className="num">Max</th>
              <th className="num">Mean</th>
              <th className="num">Std</th>
            </tr>
          </thead>
          <tbody>
            {profile.columns.map((c) => (
              <tr key={c.name} data-testid="profile-column" data-column={c.name} data-kind={c.kind}>
                <td className="kv-key" title={c.name}>
                  {c.name}
                </td>
                <td className="mono" title={c.kind}>
                  {c.type}
                </td>
                <td className="num">{formatNumber(c.count)}</td>
                <td className={c.missing > 0 ? "num ds-warn" : "num"}>
                  {formatNumber(c.missing)}
                  {c.missing > 0 && <span className="muted small"> ({pct(c.missing, c.count + c.missing)})</span>}
                </td>
                <td className="num">{formatNumber(c.distinct)}</td>
                <td className="num mono-ish">{stat(c.min)}</td>
                <td className="num mono-ish">{stat(c.max)}</td>
                <td className="num">{stat(c.mean)}</td>
                <td className="num">{stat(c.std)}</td>
              </tr>
            ))}
            {profile.columns.length === 0 && (
              <tr>
                <td colSpan={9} className="empty">
                  No columns.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <div className="ds-col-grid">
        {profile.columns.map((c) => (
          <ColumnCard key={c.name} c={c} rows={profile.rows} />
        ))}
      </div>
    </div>
  );
}
