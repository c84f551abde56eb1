import type { Dataset } from "@cairn/contract";
import { api } from "../lib/api.js";
import { formatAgo, formatDate, formatNumber } from "../lib/format.js";
import { href, navigate, rowLink } from "../lib/router.js";
import { usePaged } from "../lib/use-async.js";
import { ErrorBanner } from "../components/error-banner.js";
import { FilterBar } from "../components/filter-bar.js";
import { LoadMoreFoot } from "../components/table-foot.js";
import type { PageProps } from "./registry.js";

const PAGE_SIZE = 200;

/** `#/datasets?q=…`: versioned datasets, filtered by a substring of the name. */
export function DatasetsPage({ query }: PageProps) {
  const q = query.get("q") ?? "";
  const list = usePaged(
    async (pageToken) => {
      const r = await api.searchDatasets({ query: { ...(q ? { q } : {}), maxResults: PAGE_SIZE, ...(pageToken ? { pageToken } : {}) } });
      return { items: r.datasets, next: r.nextPageToken };
    },
    [q],
    { key: (d: Dataset) => d.name, dropOnError: true },
  );
  const { items: rows, next, loading, error } = list;

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
                  onClick={rowLink(to)}
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
      <LoadMoreFoot loading={loading} more={Boolean(next)} onMore={list.loadMore} />
    </div>
  );
}
