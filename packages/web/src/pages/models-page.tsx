import { useEffect, useState } from "react";
import type { RegisteredModel } from "@cairn/contract";
import { api, describeError } from "../lib/api.js";
import { formatAgo, formatDate, formatNumber } from "../lib/format.js";
import { href, navigate, rowLink } from "../lib/router.js";
import { ErrorBanner } from "../components/error-banner.js";
import { FilterBar } from "../components/filter-bar.js";
import { LoadMoreFoot } from "../components/table-foot.js";
import { SortHeader, type Sort } from "../components/sort-header.js";
import { AliasBadge } from "../components/alias-badge.js";
import type { PageProps } from "./registry.js";

const PAGE_SIZE = 1000;
const DEFAULT_ORDER = "name ASC";

/** The highest version number among a model's latest versions (one per stage), or undefined. */
export function latestVersion(m: RegisteredModel): string | undefined {
  let best: number | undefined;
  for (const v of m.latestVersions) {
    const n = Number(v.version);
    if (best === undefined || n > best) best = n;
  }
  return best === undefined ? undefined : String(best);
}

/** Aliases sorted by name, for stable badges. */
export function sortedAliases(m: RegisteredModel) {
  return [...m.aliases].sort((a, b) => a.alias.localeCompare(b.alias));
}

/** `#/models?filter=…&order=…`: registered models, searchable with the registry filter grammar. */
export function ModelsPage({ query }: PageProps) {
  const filter = query.get("filter") ?? "";
  const order = query.get("order") ?? DEFAULT_ORDER;
  const [rows, setRows] = useState<RegisteredModel[]>([]);
  const [next, setNext] = useState<string | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState(true);
  const [more, setMore] = useState(0);

  const go = (patch: Record<string, string | undefined>) =>
    navigate("/models", { filter: filter || undefined, order: order === DEFAULT_ORDER ? undefined : order, ...patch }, { replace: true });

  // Reload from the first page whenever the query changes.
  useEffect(() => {
    let live = true;
    setLoading(true);
    setError(undefined);
    api.searchRegisteredModels({ body: { filter: filter || undefined, orderBy: [order], maxResults: PAGE_SIZE } }).then(
      (r) => {
        if (!live) return;
        setRows(r.registeredModels);
        setNext(r.nextPageToken || undefined);
        setLoading(false);
      },
      (e: unknown) => {
        if (!live) return;
        setRows([]);
        setNext(undefined);
        setError(e);
        setLoading(false);
      },
    );
    return () => {
      live = false;
    };
  }, [filter, order]);

  useEffect(() => {
    if (more === 0 || !next) return;
    let live = true;
    setLoading(true);
    api.searchRegisteredModels({ body: { filter: filter || undefined, orderBy: [order], maxResults: PAGE_SIZE, pageToken: next } }).then(
      (r) => {
        if (!live) return;
        setRows((prev) => {
          const seen = new Set(prev.map((m) => m.name));
          return prev.concat(r.registeredModels.filter((m) => !seen.has(m.name)));
        });
        setNext(r.nextPageToken || undefined);
        setLoading(false);
      },
      (e: unknown) => {
        if (!live) return;
        setError(e);
        setLoading(false);
      },
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [more]);

  const m = /^(.*?)\s+(ASC|DESC)$/i.exec(order.trim());
  const sort: Sort = m ? { key: m[1]!, desc: m[2]!.toUpperCase() === "DESC" } : { key: order.trim(), desc: false };
  const onSort = (key: string) => {
    const desc = sort.key === key ? !sort.desc : key !== "name";
    go({ order: `${key} ${desc ? "DESC" : "ASC"}` });
  };

  const described = error !== undefined ? describeError(error) : undefined;
  // A 400 while a filter is set is the filter's fault: show the server's message next to the box.
  const filterError = described && filter && ["INVALID_PARAMETER_VALUE", "BAD_REQUEST", "MALFORMED_REQUEST"].includes(described.code ?? "") ? described : undefined;

  return (
    <div className="page" data-testid="models-page">
      <div className="page-head">
        <h1>Registered models</h1>
        <span className="muted">
          {formatNumber(rows.length)}
          {next ? "+" : ""} shown
        </span>
      </div>
      <FilterBar
        filter={filter}
        testId="models-filter"
        invalid={Boolean(filterError)}
        placeholder="Filter, e.g. name LIKE 'fraud%' and tags.team = 'risk'"
        onFilter={(f) => go({ filter: f })}
      />
      {filterError ? (
        <div className="filter-error" role="alert" data-testid="filter-error">
          <strong>Invalid filter</strong>
          {filterError.code && <span className="error-code">{filterError.code}</span>} {filterError.message}
        </div>
      ) : (
        <ErrorBanner error={error} title={filter ? "Search failed" : "Could not load models"} />
      )}
      <div className="table-wrap">
        <table className="table" data-testid="models-table">
          <thead>
            <tr>
              <SortHeader label="Name" sortKey="name" sort={sort} onSort={onSort} />
              <th className="num">Latest version</th>
              <th>Aliases</th>
              <th>Description</th>
              <SortHeader label="Last updated" sortKey="last_updated_timestamp" sort={sort} onSort={onSort} />
            </tr>
          </thead>
          <tbody>
            {rows.map((x) => {
              const to = `/models/${encodeURIComponent(x.name)}`;
              const latest = latestVersion(x);
              return (
                <tr
                  key={x.name}
                  className="clickable"
                  data-testid="model-row"
                  data-model={x.name}
                  onClick={rowLink(to)}
                >
                  <td>
                    <a href={href(to)}>{x.name}</a>
                  </td>
                  <td className="num">{latest ? `v${latest}` : <span className="muted">—</span>}</td>
                  <td className="badges">
                    {sortedAliases(x).map((a) => (
                      <AliasBadge key={a.alias} alias={a.alias} version={a.version} />
                    ))}
                  </td>
                  <td className="ellipsis-cell" title={x.description}>
                    {x.description || <span className="muted">—</span>}
                  </td>
                  <td title={formatAgo(x.lastUpdatedTimestamp)}>{formatDate(x.lastUpdatedTimestamp)}</td>
                </tr>
              );
            })}
            {!loading && rows.length === 0 && !error && (
              <tr>
                <td colSpan={5} className="empty">
                  {filter ? "No model matches this filter." : "No registered models yet. Register one with the SDK, the CLI or the MLflow client."}
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <LoadMoreFoot loading={loading} more={Boolean(next)} onMore={() => setMore((n) => n + 1)} />
    </div>
  );
}
