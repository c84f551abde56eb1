import { useCallback, useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { useVirtualizer } from "@tanstack/react-virtual";
import type { Run } from "@cairn/contract";
import { api, describeError, toNumber } from "../lib/api.js";
import { formatDate, formatDuration, formatNumber } from "../lib/format.js";
import { href, navigate } from "../lib/router.js";
import { useAsync, useStoredState } from "../lib/use-async.js";
import { ErrorBanner } from "../components/error-banner.js";
import { FilterBar } from "../components/filter-bar.js";
import { StatusBadge } from "../components/status-badge.js";
import { ColumnPicker, type ColumnChoice } from "../components/column-picker.js";
import type { PageProps } from "./registry.js";

const PAGE_SIZE = 1000;
const ROW_HEIGHT = 30;
const DEFAULT_ORDER = "attributes.start_time DESC";
const DEFAULT_VISIBLE = 5;
/** bulkDownsample takes at most 100 runs. */
const MAX_COMPARE = 100;

/** A loaded run with its metrics indexed by key for fast cell rendering. */
interface Row {
  run: Run;
  metrics: Record<string, number>;
}

interface Column {
  id: string;
  label: string;
  width: number;
  group: "run" | "metric" | "param";
  /** Server order key (without direction); absent when the column cannot be sorted. */
  sortKey?: string;
  className?: string;
  cell: (r: Row) => ReactNode;
}

/** Quotes a metric/param key for MLflow's grammar: metrics.`my key`. */
export function quoteKey(family: "metrics" | "params" | "tags", key: string): string {
  return `${family}.\`${key}\``;
}

function parseOrder(order: string): { key: string; desc: boolean } {
  const m = /^(.*?)\s+(ASC|DESC)$/i.exec(order.trim());
  return m ? { key: m[1]!, desc: m[2]!.toUpperCase() === "DESC" } : { key: order.trim(), desc: false };
}

/** `#/experiments/:experimentId?filter=…&order=…`: the runs of one experiment, virtualized and paged as you scroll. */
export function RunsPage({ params, query }: PageProps) {
  const experimentId = params.experimentId!;
  const filter = query.get("filter") ?? "";
  const order = query.get("order") ?? DEFAULT_ORDER;
  const showDeleted = query.get("deleted") === "1";

  const experiment = useAsync(() => api.getExperiment({ params: { id: experimentId } }), [experimentId]);


  const [rows, setRows] = useState<Row[]>([]);
  const [next, setNext] = useState<string | undefined>(undefined);
  const [done, setDone] = useState(false);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const [metricKeys, setMetricKeys] = useState<string[]>([]);
  const [paramKeys, setParamKeys] = useState<string[]>([]);
  const [selected, setSelected] = useState<Set<string>>(() => new Set());
  const gen = useRef(0);
  // Refs, not state, guard paging: a query change and a scroll event can land in the same commit,
  // and the old query's page token must never be used for the new query.
  const loadingRef = useRef(false);
  const nextRef = useRef<string | undefined>(undefined);

  const go = (patch: Record<string, string | undefined>) =>
    navigate(
      `/experiments/${encodeURIComponent(experimentId)}`,
      { filter: filter || undefined, order: order === DEFAULT_ORDER ? undefined : order, deleted: showDeleted ? "1" : undefined, ...patch },
      { replace: true },
    );

  const fetchPage = useCallback(
    (pageToken: string | undefined) => {
      const my = gen.current;
      loadingRef.current = true;
      nextRef.current = undefined;
      setLoading(true);
      api
        .searchRuns({
          body: {
            experimentIds: [experimentId],
            filter: filter || undefined,
            orderBy: [order],
            maxResults: PAGE_SIZE,
            viewType: showDeleted ? "ALL" : "ACTIVE_ONLY",
            ...(pageToken ? { pageToken } : {}),
          },
        })
        .then(
          (r) => {
            if (gen.current !== my) return;
            const page: Row[] = r.runs.map((run) => {
              const metrics: Record<string, number> = {};
              for (const m of run.data.metrics) metrics[m.key] = toNumber(m.value);
              return { run, metrics };
            });
            setRows((prev) => {
              if (!pageToken) return page;
              // Page tokens are offsets: runs created while scrolling shift later pages, so drop repeats.
              const seen = new Set(prev.map((row) => row.run.info.runId));
              return prev.concat(page.filter((row) => !seen.has(row.run.info.runId)));
            });
            const mk = new Set<string>();
            const pk = new Set<string>();
            for (const row of page) {
              for (const k in row.metrics) mk.add(k);
              for (const k in row.run.data.params) pk.add(k);
            }
            const merge = (prev: string[], add: Set<string>) => {
              const before = prev.length;
              const s = new Set(prev);
              for (const k of add) s.add(k);
              return s.size === before ? prev : [...s].sort();
            };
            setMetricKeys((prev) => merge(pageToken ? prev : [], mk));
            setParamKeys((prev) => merge(pageToken ? prev : [], pk));
            nextRef.current = r.nextPageToken || undefined;
            loadingRef.current = false;
            setNext(r.nextPageToken || undefined);
            setDone(!r.nextPageToken);
            setLoading(false);
          },
          (e: unknown) => {
            if (gen.current !== my) return;
            loadingRef.current = false;
            setError(e);
            setLoading(false);
          },
        );
    },
    [experimentId, filter, order, showDeleted],
  );

  // A new query starts over from the first page.
  useEffect(() => {
    gen.current++;
    nextRef.current = undefined;
    setRows([]);
    setNext(undefined);
    setDone(false);
    setError(undefined);
    setSelected(new Set());
    fetchPage(undefined);
  }, [fetchPage]);

  // Columns the user picked, per experiment; null means the default (the first few keys).
  const [choice, setChoice] = useStoredState<ColumnChoice | null>(`cairn.runs.columns.${experimentId}`, null);
  const visibleMetrics = choice ? choice.metrics.filter((k) => metricKeys.includes(k)) : metricKeys.slice(0, DEFAULT_VISIBLE);
  const visibleParams = choice ? choice.params.filter((k) => paramKeys.includes(k)) : paramKeys.slice(0, DEFAULT_VISIBLE);

  const allLoadedSelected = rows.length > 0 && rows.every((r) => selected.has(r.run.info.runId));
  const toggle = (id: string) =>
    setSelected((prev) => {
      const s = new Set(prev);
      if (s.has(id)) s.delete(id);
      else s.add(id);
      return s;
    });

  const now = Date.now();
  const columns: Column[] = useMemo(
    () => [
      {
        id: "name",
        label: "Run name",
        width: 220,
        group: "run",
        sortKey: "attributes.run_name",
        cell: (r) => (
          <a href={href(`/runs/${encodeURIComponent(r.run.info.runId)}`)} className="ellipsis" title={`${r.run.info.runName} (${r.run.info.runId})`}>
            {r.run.info.runName || r.run.info.runId}
          </a>
        ),
      },
      { id: "status", label: "Status", width: 92, group: "run", sortKey: "attributes.status", cell: (r) => <StatusBadge status={r.run.info.status} deleted={r.run.info.lifecycleStage === "deleted"} /> },
      { id: "start", label: "Start time", width: 158, group: "run", sortKey: "attributes.start_time", cell: (r) => formatDate(r.run.info.startTime) },
      {
        id: "duration",
        label: "Duration",
        width: 84,
        group: "run",
        className: "num",
        cell: (r) =>
          r.run.info.endTime ? (
            formatDuration(r.run.info.endTime - r.run.info.startTime)
          ) : r.run.info.status === "RUNNING" ? (
            <i className="muted">{formatDuration(now - r.run.info.startTime)}</i>
          ) : (
            ""
          ),
      },
      { id: "user", label: "User", width: 110, group: "run", sortKey: "attributes.user_id", cell: (r) => <span className="ellipsis">{r.run.info.userId}</span> },
      ...visibleMetrics.map(
        (k): Column => ({
          id: `m:${k}`,
          label: k,
          width: 112,
          group: "metric",
          sortKey: quoteKey("metrics", k),
          className: "num",
          cell: (r) => {
            const v = r.metrics[k];
            return v === undefined ? "" : formatNumber(v);
          },
        }),
      ),
      ...visibleParams.map(
        (k): Column => ({
          id: `p:${k}`,
          label: k,
          width: 112,
          group: "param",
          sortKey: quoteKey("params", k),
          cell: (r) => {
            const v = r.run.data.params[k];
            return v === undefined ? "" : <span className="ellipsis" title={v}>{v}</span>;
          },
        }),
      ),
    ],
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [visibleMetrics.join("\u0000"), visibleParams.join("\u0000")],
  );
  const template = `36px ${columns.map((c) => `${c.width}px`).join(" ")}`;
  const totalWidth = 36 + columns.reduce((n, c) => n + c.width, 0);

  const scrollRef = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 15,
  });
  const items = virtualizer.getVirtualItems();
  const lastIndex = items.length ? items[items.length - 1]!.index : -1;

  // Load the next page when the user scrolls near the end of what is loaded.
  useEffect(() => {
    const token = nextRef.current;
    // After a failure only Retry loads again, so scrolling does not hammer a failing server.
    if (!loadingRef.current && token && !error && lastIndex >= rows.length - 200) fetchPage(token);
  }, [lastIndex, rows.length, loading, done, next, error, fetchPage]);

  const sort = parseOrder(order);
  const onSort = (key: string) => {
    const desc = sort.key === key ? !sort.desc : key !== "attributes.run_name";
    go({ order: `${key} ${desc ? "DESC" : "ASC"}` });
  };

  const described = error !== undefined ? describeError(error) : undefined;
  // A 400 while a filter is set is the filter's fault: show the server's message next to the box.
  const filterError = described && filter && ["INVALID_PARAMETER_VALUE", "BAD_REQUEST", "MALFORMED_REQUEST"].includes(described.code ?? "") ? described : undefined;
  const sel = [...selected];
  const exp = experiment.data?.experiment;

  const groups: { label: string; span: number; group: Column["group"] }[] = [];
  for (const c of columns) {
    const last = groups[groups.length - 1];
    if (last && last.group === c.group) last.span++;
    else groups.push({ label: c.group === "run" ? "" : c.group === "metric" ? "Metrics" : "Parameters", span: 1, group: c.group });
  }

  return (
    <div className="page page-fill">
      <div className="crumbs">
        <a href="#/experiments">Experiments</a> /
      </div>
      <div className="page-head">
        <h1>{exp?.name ?? `Experiment ${experimentId}`}</h1>
        <span className="muted mono small">id {experimentId}</span>
        {exp?.lifecycleStage === "deleted" && <span className="badge gray">deleted</span>}
      </div>
      <ErrorBanner error={experiment.error} title="Could not load the experiment" />
      <FilterBar
        filter={filter}
        testId="runs-filter"
        invalid={Boolean(filterError)}
        placeholder="Filter, e.g. metrics.acc > 0.9 and params.lr = '0.01' and status = 'FINISHED'"
        showDeleted={showDeleted}
        onFilter={(f) => go({ filter: f })}
        onShowDeleted={(d) => go({ deleted: d ? "1" : undefined })}
      >
        <ColumnPicker
          metricKeys={metricKeys}
          paramKeys={paramKeys}
          metrics={visibleMetrics}
          params={visibleParams}
          onChange={setChoice}
          onReset={() => setChoice(null)}
        />
        <button
          type="button"
          className="btn primary"
          data-testid="compare-button"
          disabled={sel.length < 2 || sel.length > MAX_COMPARE}
          title={sel.length > MAX_COMPARE ? `Compare at most ${MAX_COMPARE} runs` : "Select two or more runs to compare"}
          onClick={() => navigate("/compare", { runs: sel.join(","), experiment: experimentId })}
        >
          Compare{sel.length ? ` (${sel.length})` : ""}
        </button>
      </FilterBar>
      {filterError ? (
        <div className="filter-error" role="alert" data-testid="filter-error">
          <strong>Invalid filter</strong>
          {filterError.code && <span className="error-code">{filterError.code}</span>} {filterError.message}
        </div>
      ) : (
        <ErrorBanner error={error} title="Could not load runs" onRetry={() => {
            setError(undefined);
            fetchPage(nextRef.current);
          }} />
      )}
      <div className="runs-status muted small" data-testid="runs-count">
        {formatNumber(rows.length)} run{rows.length === 1 ? "" : "s"} loaded
        {next ? " · scroll for more" : done && !error ? " · all loaded" : ""}
        {selected.size > 0 && (
          <>
            {" · "}
            {formatNumber(selected.size)} selected{" "}
            <button type="button" className="link-btn" onClick={() => setSelected(new Set())}>
              clear
            </button>
          </>
        )}
        {loading && <span className="spinner" />}
      </div>
      <div className="vtable-scroll" ref={scrollRef} data-testid="runs-table">
        <div style={{ width: totalWidth, minWidth: "100%" }}>
          <div className="vtable-head" style={{ gridTemplateColumns: template, width: totalWidth }}>
            <div className="vcell group-cell" />
            {groups.map((g, i) => (
              <div key={i} className={`vcell group-cell group-${g.group}`} style={{ gridColumn: `span ${g.span}` }}>
                {g.label}
              </div>
            ))}
            <div className="vcell check-cell">
              <input
                type="checkbox"
                aria-label="Select all loaded runs"
                checked={allLoadedSelected}
                onChange={() => setSelected(allLoadedSelected ? new Set() : new Set(rows.map((r) => r.run.info.runId)))}
              />
            </div>
            {columns.map((c) => {
              const active = c.sortKey !== undefined && sort.key === c.sortKey;
              return (
                <div
                  key={c.id}
                  className={`vcell head-cell group-${c.group} ${c.sortKey ? "sortable" : ""} ${active ? "sorted" : ""} ${c.className ?? ""}`}
                  title={c.sortKey ? `${c.label} — click to sort` : c.label}
                  data-testid={`col-${c.id}`}
                  onClick={c.sortKey ? () => onSort(c.sortKey!) : undefined}
                >
                  <span className="ellipsis">{c.label}</span>
                  {active && <span className="sort-arrow">{sort.desc ? "▼" : "▲"}</span>}
                </div>
              );
            })}
          </div>
          <div style={{ height: virtualizer.getTotalSize(), position: "relative", width: totalWidth }}>
            {items.map((vi) => {
              const r = rows[vi.index]!;
              const id = r.run.info.runId;
              const isSel = selected.has(id);
              return (
                <div
                  key={id}
                  className={`vrow ${vi.index % 2 ? "odd" : ""} ${isSel ? "selected" : ""}`}
                  data-testid="run-row"
                  data-run-id={id}
                  style={{ gridTemplateColumns: template, height: ROW_HEIGHT, transform: `translateY(${vi.start}px)` }}
                >
                  <div className="vcell check-cell">
                    <input type="checkbox" aria-label={`Select ${r.run.info.runName}`} checked={isSel} onChange={() => toggle(id)} />
                  </div>
                  {columns.map((c) => (
                    <div key={c.id} className={`vcell ${c.className ?? ""}`}>
                      {c.cell(r)}
                    </div>
                  ))}
                </div>
              );
            })}
          </div>
          {!loading && rows.length === 0 && error === undefined && (
            <div className="empty">{filter ? "No run matches this filter." : "No runs in this experiment yet."}</div>
          )}
        </div>
      </div>
    </div>
  );
}
