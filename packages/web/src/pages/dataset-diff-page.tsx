import type { TabularDiff, VersionDiff } from "@cairn/contract";
import { api } from "../lib/api.js";
import { formatBytes, formatDate, formatNumber } from "../lib/format.js";
import { href, navigate } from "../lib/router.js";
import { useAsync } from "../lib/use-async.js";
import { ErrorBanner } from "../components/error-banner.js";
import { ValidationBadge } from "../components/validation-report.js";
import { toRef, useVersions } from "./dataset-page.js";
import type { PageProps } from "./registry.js";

const STATS = ["count", "missing", "distinct", "min", "max", "mean", "std"] as const;
type Stat = (typeof STATS)[number];
type Shift = { from: number | string | null; to: number | string | null };

function show(v: number | string | null): string {
  if (v === null) return "null";
  return typeof v === "number" ? formatNumber(v) : v;
}

/** Relative change of a numeric shift (|to − from| / |from|), or undefined for text or nulls. */
function relChange(s: Shift): number | undefined {
  if (typeof s.from !== "number" || typeof s.to !== "number") return undefined;
  if (s.from === 0) return s.to === 0 ? 0 : Number.POSITIVE_INFINITY;
  return Math.abs(s.to - s.from) / Math.abs(s.from);
}

function signed(n: number): string {
  return n > 0 ? `+${formatNumber(n)}` : n < 0 ? `−${formatNumber(-n)}` : "±0";
}

/** `#/datasets/:name/diff?from=v1&to=v2`: files added, removed and modified, and how tabular files changed. */
export function DatasetDiffPage({ params, query }: PageProps) {
  const name = params.name!;
  const from = query.get("from") ?? "";
  const to = query.get("to") ?? "";
  const versions = useVersions(name, 1000);
  const diff = useAsync(
    async () => (from && to ? api.diffVersions({ params: { name }, query: { from: toRef(from), to: toRef(to) } }) : undefined),
    [name, from, to],
  );
  const base = `/datasets/${encodeURIComponent(name)}`;
  const pick = (patch: { from?: string; to?: string }) => navigate(`${base}/diff`, { from, to, ...patch }, { replace: true });
  const selectValue = (ref: string) => ref.replace(/^v(?=\d+$)/, "");
  const options = versions.versions.map((v) => (
    <option key={v.id} value={String(v.number)}>
      v{v.number}
      {v.tags.length ? ` (${v.tags.join(", ")})` : ""}
    </option>
  ));

  return (
    <div className="page" data-testid="dataset-diff-page">
      <div className="crumbs">
        <a href="#/datasets">Datasets</a> / <a href={href(base)}>{name}</a> /
      </div>
      <div className="page-head">
        <h1>Compare versions</h1>
        <span className="spacer" />
        <label className="check small">
          From
          <select className="ds-select" aria-label="From version" data-testid="diff-from" value={selectValue(from)} onChange={(e) => pick({ from: `v${e.target.value}` })}>
            {!from && <option value="">—</option>}
            {from && !versions.versions.some((v) => String(v.number) === selectValue(from)) && <option value={selectValue(from)}>{from}</option>}
            {options}
          </select>
        </label>
        <label className="check small">
          To
          <select className="ds-select" aria-label="To version" data-testid="diff-to" value={selectValue(to)} onChange={(e) => pick({ to: `v${e.target.value}` })}>
            {!to && <option value="">—</option>}
            {to && !versions.versions.some((v) => String(v.number) === selectValue(to)) && <option value={selectValue(to)}>{to}</option>}
            {options}
          </select>
        </label>
        <button type="button" className="btn small" disabled={!from || !to} onClick={() => pick({ from: to, to: from })} title="Swap from and to">
          ⇄ Swap
        </button>
      </div>
      <ErrorBanner error={versions.error} title="Could not load the versions" />
      {!from || !to ? (
        <p className="empty" data-testid="diff-empty">
          Pick two versions to compare.
        </p>
      ) : diff.data ? (
        <DiffView name={name} diff={diff.data} />
      ) : diff.loading ? (
        <span className="spinner" />
      ) : (
        <ErrorBanner error={diff.error} title="Could not compare the versions" onRetry={diff.reload} />
      )}
    </div>
  );
}

type FileChange = "added" | "removed" | "modified";
const CHANGE_BADGE: Record<FileChange, string> = { added: "green", removed: "red", modified: "orange" };

/** The diff's files in one list (added, then removed, then modified), each with its size or size change. */
function fileChanges(diff: VersionDiff): { change: FileChange; path: string; size: string }[] {
  return [
    ...diff.added.map((e) => ({ change: "added" as const, path: e.path, size: formatBytes(e.size) })),
    ...diff.removed.map((e) => ({ change: "removed" as const, path: e.path, size: formatBytes(e.size) })),
    ...diff.modified.map((m) => ({ change: "modified" as const, path: m.path, size: `${formatBytes(m.from.size)} → ${formatBytes(m.to.size)}` })),
  ];
}

function DiffView({ name, diff }: { name: string; diff: VersionDiff }) {
  const base = `/datasets/${encodeURIComponent(name)}`;
  const same = diff.counts.added + diff.counts.removed + diff.counts.modified === 0;
  return (
    <>
      <section className="card ds-diff-summary" data-testid="diff-summary">
        <div className="ds-diff-sides">
          {[diff.from, diff.to].map((v, i) => (
            <div key={i} className="ds-diff-side">
              <div className="muted small">{i === 0 ? "From" : "To"}</div>
              <a className="mono" href={href(base, { version: String(v.number) })}>
                v{v.number}
              </a>
              <ValidationBadge status={v.validation.status} />
              <div className="muted small">
                {v.message && <span className="ds-diff-msg">{v.message} · </span>}
                {formatDate(v.createdAt)} · {formatNumber(v.fileCount)} files · {formatBytes(v.totalBytes)}
              </div>
            </div>
          ))}
        </div>
        <div className="ds-diff-counts">
          <span className="ds-chip ds-added" data-testid="diff-added-count">
            +{formatNumber(diff.counts.added)} added
          </span>
          <span className="ds-chip ds-removed" data-testid="diff-removed-count">
            −{formatNumber(diff.counts.removed)} removed
          </span>
          <span className="ds-chip ds-modified" data-testid="diff-modified-count">
            ~{formatNumber(diff.counts.modified)} modified
          </span>
          <span className="ds-chip" data-testid="diff-unchanged-count">
            {formatNumber(diff.unchanged)} unchanged
          </span>
        </div>
        {same && <p className="muted small">The two versions hold the same files.</p>}
      </section>

      {diff.tabular.map((t) => (
        <TabularDiffView key={t.path} t={t} />
      ))}

      {!same && (
        <section className="card" data-testid="diff-files">
          <h2>Files</h2>
          <div className="table-wrap">
            <table className="table ds-diff-files">
              <thead>
                <tr>
                  <th>Change</th>
                  <th>Path</th>
                  <th className="num">Size</th>
                </tr>
              </thead>
              <tbody>
                {fileChanges(diff).map((c) => (
                  <tr key={`${c.change}:${c.path}`} className={`ds-row-${c.change}`} data-testid="diff-file" data-change={c.change} data-path={c.path}>
                    <td>
                      <span className={`badge ${CHANGE_BADGE[c.change]}`}>{c.change}</span>
                    </td>
                    <td className="mono-ish">{c.path}</td>
                    <td className="num">{c.size}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </section>
      )}
    </>
  );
}

function TabularDiffView({ t }: { t: TabularDiff }) {
  const schemaChanges = t.schema.added.length + t.schema.removed.length + t.schema.typeChanged.length;
  const delta = t.rows.delta;
  const pctRows = t.rows.from > 0 ? ` (${delta >= 0 ? "+" : "−"}${Number(((100 * Math.abs(delta)) / t.rows.from).toPrecision(3))}%)` : "";
  return (
    <section className="card" data-testid="tabular-diff" data-path={t.path}>
      <div className="section-head">
        <h2 className="mono">{t.path}</h2>
        <span className="muted small">tabular changes</span>
      </div>
      <div className="ds-diff-grid">
        <div>
          <h3 className="ds-h3">Rows</h3>
          <div data-testid="row-delta" data-delta={delta} className={`ds-row-delta ${delta > 0 ? "ds-up" : delta < 0 ? "ds-down" : ""}`}>
            {formatNumber(t.rows.from)} → {formatNumber(t.rows.to)}{" "}
            <strong>
              {signed(delta)}
              {pctRows}
            </strong>
          </div>
        </div>
        <div>
          <h3 className="ds-h3">Schema</h3>
          {schemaChanges === 0 ? (
            <div className="muted small" data-testid="schema-unchanged">
              Unchanged.
            </div>
          ) : (
            <ul className="ds-schema-changes" data-testid="schema-diff">
              {t.schema.added.map((c) => (
                <li key={`a:${c.name}`} className="ds-added" data-testid="schema-change" data-change="added" data-column={c.name}>
                  + <strong>{c.name}</strong> <span className="mono">{c.type}</span> <span className="muted small">added</span>
                </li>
              ))}
              {t.schema.removed.map((c) => (
                <li key={`r:${c.name}`} className="ds-removed" data-testid="schema-change" data-change="removed" data-column={c.name}>
                  − <strong>{c.name}</strong> <span className="mono">{c.type}</span> <span className="muted small">removed</span>
                </li>
              ))}
              {t.schema.typeChanged.map((c) => (
                <li key={`t:${c.name}`} className="ds-modified" data-testid="schema-change" data-change="type" data-column={c.name}>
                  ~ <strong>{c.name}</strong> <span className="mono">{c.from}</span> → <span className="mono">{c.to}</span>
                </li>
              ))}
            </ul>
          )}
        </div>
      </div>
      <h3 className="ds-h3">Column statistics</h3>
      {t.columns.length === 0 ? (
        <div className="muted small" data-testid="stats-unchanged">
          No statistic of a shared column moved.
        </div>
      ) : (
        <div className="table-wrap">
          <table className="table ds-shift-table" data-testid="column-shifts">
            <thead>
              <tr>
                <th>Column</th>
                {STATS.map((s) => (
                  <th key={s} className="num">
                    {s}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {t.columns.map((c) => (
                <tr key={c.name} data-testid="column-shift" data-column={c.name}>
                  <td className="kv-key" title={c.name}>
                    {c.name}
                  </td>
                  {STATS.map((s: Stat) => {
                    const sh = c.shifts[s];
                    if (!sh) return <td key={s} className="num muted">·</td>;
                    const rel = relChange(sh);
                    const big = rel === undefined || rel >= 0.1;
                    return (
                      <td
                        key={s}
                        className={`num ds-shift${big ? " ds-shift-big" : ""}`}
                        data-testid="stat-shift"
                        data-stat={s}
                        title={rel !== undefined && Number.isFinite(rel) ? `${rel >= 0.001 ? Number((rel * 100).toPrecision(3)) : "<0.1"}% change` : undefined}
                      >
                        {show(sh.from)} → {show(sh.to)}
                      </td>
                    );
                  })}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
