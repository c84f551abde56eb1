import { useEffect, useState } from "react";
import type { Dataset } from "@cairn/contract";
import { api } from "../lib/api.js";
import { formatAgo, formatDate, formatNumber } from "../lib/format.js";
import { href, navigate } from "../lib/router.js";
import { ErrorBanner } from "../components/error-banner.js";
import { FilterBar } from "../components/filter-bar.js";
import type { PageProps } from "./registry.js";

const PAGE_SIZE = 200;

/** `#/datasets?q=…`: versioned datasets, filtered by a substring of the name. */
export function DatasetsPage({ query }: PageProps) {
  const q = query.get("q") ?? "";
  const [rows, setRows] = useState<Dataset[]>([]);
  const [next, setNext] = useState<string | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState(true);
  const [page, setPage] = useState<string | undefined>(undefined);

  useEffect(() => setPage(undefined), [q]);

  useEffect(() => {
    let live = true;
    setLoading(true);
    setError(undefined);
    api.searchDatasets({ query: { ...(q ? { q } : {}), maxResults: PAGE_SIZE, ...(page ? { pageToken: page } : {}) } }).then(
      (r) => {
        if (!live) return;
        setRows((prev) => {
          if (!page) return r.datasets;
          const seen = new Set(prev.map((d) => d.name));
          return prev.concat(r.datasets.filter((d) => !seen.has(d.name)));
        });
        setNext(r.nextPageToken || undefined);
        setLoading(false);
      },
      (e: unknown) => {
        if (!live) return;
        if (!page) setRows([]);
        setNext(undefined);
        setError(e);
        setLoading(false);
      },
    );
    return () => {
      live = false;
    };
  }, [q, page]);

  return (
    <div className="page" data-testid="datasets-page">
      <div className="page-head">
        <h1>Datasets</h1>
        <span className="muted">
          {formatNumber(rows.length)}
          {next ? "+" : ""} shown
        </span>
      </div>
      <FilterBar filter={q} testId="datasets-filter" placeholder="Filter by name, e.g. credit" onFilter={(f) => navigate("/datasets", { q: f }, { replace: true })} />
      <ErrorBanner error={error} title="Could not load datasets" />
      <div className="table-wrap">
        <table className="table" data-testid="datasets-table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Description</th>
              <th className="num">Latest version</th>
              <th className="num">Versions</th>
              <th>Updated</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((d) => {
              const to = `/datasets/${encodeURIComponent(d.name)}`;
              return (
                <tr
                  key={d.name}
                  className="clickable"
                  data-testid="dataset-row"
                  data-dataset={d.name}
                  onClick={(e) => {
                    if (!(e.target as HTMLElement).closest("a")) navigate(to);
                  }}
                >
                  <td>
                    <a href={href(to)}>{d.name}</a>
                  </td>
                  <td className="ellipsis-cell" title={d.description}>
                    {d.description || <span className="muted">—</span>}
                  </td>
                  <td className="num mono" data-testid="dataset-latest">
                    {d.latestVersion > 0 ? `v${d.latestVersion}` : <span className="muted">—</span>}
                  </td>
                  <td className="num" data-testid="dataset-version-count">
                    {formatNumber(d.versionCount)}
                  </td>
                  <td title={formatAgo(d.updatedAt)}>{formatDate(d.updatedAt)}</td>
                </tr>
              );
            })}
            {!loading && rows.length === 0 && !error && (
              <tr>
                <td colSpan={5} className="empty" data-testid="datasets-empty">
                  {q ? "No dataset name contains this text." : "No datasets yet. Create one with the CLI, the SDK or the API."}
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <div className="table-foot">
        {loading && <span className="spinner" />}
        {next && !loading && (
          <button type="button" className="btn" onClick={() => setPage(next)}>
            Load more
          </button>
        )}
      </div>
    </div>
  );
}
