import { useEffect, useState } from "react";
import type { Experiment } from "@cairn/contract";
import { api } from "../lib/api.js";
import { formatAgo, formatDate, formatNumber } from "../lib/format.js";
import { href, navigate, rowLink } from "../lib/router.js";
import { ErrorBanner } from "../components/error-banner.js";
import { FilterBar } from "../components/filter-bar.js";
import { LoadMoreFoot } from "../components/table-foot.js";
import { SortHeader, type Sort } from "../components/sort-header.js";
import type { PageProps } from "./registry.js";

const PAGE_SIZE = 1000;

/** `#/experiments?filter=…&deleted=1&order=name+ASC`: every experiment, searchable with MLflow's grammar. */
export function ExperimentsPage({ query }: PageProps) {
  const filter = query.get("filter") ?? "";
  const showDeleted = query.get("deleted") === "1";
  const order = query.get("order") ?? "";
  const [rows, setRows] = useState<Experiment[]>([]);
  const [next, setNext] = useState<string | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState(true);
  const [more, setMore] = useState(0);


  const go = (patch: Record<string, string | undefined>) =>
    navigate("/experiments", { filter: filter || undefined, deleted: showDeleted ? "1" : undefined, order: order || undefined, ...patch }, { replace: true });

  // Reload from the first page whenever the query changes.
  useEffect(() => {
    let live = true;
    setLoading(true);
    setError(undefined);
    api
      .searchExperiments({
        body: { filter: filter || undefined, orderBy: order ? [order] : undefined, maxResults: PAGE_SIZE, viewType: showDeleted ? "ALL" : "ACTIVE_ONLY" },
      })
      .then(
        (r) => {
          if (!live) return;
          setRows(r.experiments);
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
  }, [filter, showDeleted, order]);

  useEffect(() => {
    if (more === 0 || !next) return;
    let live = true;
    setLoading(true);
    api
      .searchExperiments({
        body: { filter: filter || undefined, orderBy: order ? [order] : undefined, maxResults: PAGE_SIZE, viewType: showDeleted ? "ALL" : "ACTIVE_ONLY", pageToken: next },
      })
      .then(
        (r) => {
          if (!live) return;
          setRows((prev) => [...prev, ...r.experiments]);
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

  const sort: Sort | undefined = order ? { key: order.replace(/\s+(ASC|DESC)$/i, ""), desc: /DESC$/i.test(order) } : undefined;
  const onSort = (key: string) => {
    const desc = sort?.key === key ? !sort.desc : key !== "name";
    go({ order: `${key} ${desc ? "DESC" : "ASC"}` });
  };

  return (
    <div className="page">
      <div className="page-head">
        <h1>Experiments</h1>
        <span className="muted">
          {formatNumber(rows.length)}
          {next ? "+" : ""} shown
        </span>
      </div>
      <FilterBar
        filter={filter}
        testId="experiments-filter"
        placeholder="Filter, e.g. name LIKE 'fraud%' and tags.team = 'risk'"
        showDeleted={showDeleted}
        onFilter={(f) => go({ filter: f })}
        onShowDeleted={(d) => go({ deleted: d ? "1" : undefined })}
      />
      <ErrorBanner error={error} title={filter ? "Search failed" : undefined} />
      <div className="table-wrap">
        <table className="table" data-testid="experiments-table">
          <thead>
            <tr>
              <SortHeader label="Name" sortKey="name" sort={sort} onSort={onSort} />
              <SortHeader label="ID" sortKey="experiment_id" sort={sort} onSort={onSort} />
              <SortHeader label="Created" sortKey="creation_time" sort={sort} onSort={onSort} />
              <SortHeader label="Last updated" sortKey="last_update_time" sort={sort} onSort={onSort} />
              <th className="num">Tags</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((x) => (
              <tr
                key={x.experimentId}
                className={x.lifecycleStage === "deleted" ? "clickable deleted" : "clickable"}
                data-testid="experiment-row"
                onClick={rowLink(`/experiments/${encodeURIComponent(x.experimentId)}`)}
              >
                <td>
                  <a href={href(`/experiments/${encodeURIComponent(x.experimentId)}`)}>{x.name}</a>
                  {x.lifecycleStage === "deleted" && <span className="badge gray">deleted</span>}
                  {x.tags["mlflow.note.content"] && <span className="muted small block-note">{x.tags["mlflow.note.content"]}</span>}
                </td>
                <td className="mono">{x.experimentId}</td>
                <td title={formatAgo(x.creationTime)}>{formatDate(x.creationTime)}</td>
                <td title={formatAgo(x.lastUpdateTime)}>{formatDate(x.lastUpdateTime)}</td>
                <td className="num" title={Object.entries(x.tags).map(([k, v]) => `${k}=${v}`).join("\n")}>
                  {Object.keys(x.tags).length}
                </td>
              </tr>
            ))}
            {!loading && rows.length === 0 && !error && (
              <tr>
                <td colSpan={5} className="empty">
                  {filter ? "No experiment matches this filter." : "No experiments yet. Log a run with the SDK or MLflow client to create one."}
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <LoadMoreFoot loading={loading} more={Boolean(next)} onMore={() => setMore((m) => m + 1)} />
    </div>
  );
}
