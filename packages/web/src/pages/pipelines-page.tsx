import { useEffect } from "react";
import type { PipelineRunStatus, PipelineRunSummary } from "@cairn/contract";
import { PipelineRunStatusSchema } from "@cairn/contract";
import { api } from "../lib/api.js";
import { formatAgo, formatDate, formatDuration, formatNumber } from "../lib/format.js";
import { href, navigate, rowLink } from "../lib/router.js";
import { useAsync } from "../lib/use-async.js";
import { ErrorBanner } from "../components/error-banner.js";
import { isLiveRun, PipelineStatusBadge, StepCountsBar } from "../components/pipeline-status.js";
import { SweepsTable } from "./sweep-page.js";
import type { PageProps } from "./registry.js";

const RECENT_RUNS = 15;
const RUNS_PAGE = 200;
const LIVE_REFRESH_MS = 3000;

/** Reloads `reload` every few seconds while `live` is true (a list with queued or running runs). */
function useRefreshWhile(live: boolean, reload: () => void): void {
  useEffect(() => {
    if (!live) return;
    const t = setInterval(reload, LIVE_REFRESH_MS);
    return () => clearInterval(t);
  }, [live, reload]);
}

/** `#/pipelines`: pipelines (pushed or local-only) with their last run, run and schedule counts; recent runs; sweeps. */
export function PipelinesPage(_props: PageProps) {
  const pipelines = useAsync(() => api.listPipelines({}).then((r) => r.pipelines), []);
  const schedules = useAsync(() => api.listAllSchedules({}).then((r) => r.schedules), []);
  const runs = useAsync(() => api.listPipelineRuns({ query: { limit: RECENT_RUNS } }).then((r) => r.runs), []);
  useRefreshWhile(Boolean(runs.data?.some((r) => isLiveRun(r.status))), runs.reload);
  const scheduleCount = new Map<string, number>();
  for (const s of schedules.data ?? []) scheduleCount.set(s.pipeline, (scheduleCount.get(s.pipeline) ?? 0) + 1);
  const rows = [...(pipelines.data ?? [])].sort((a, b) => (b.lastRun?.createdAt ?? b.pushedAt ?? 0) - (a.lastRun?.createdAt ?? a.pushedAt ?? 0) || a.name.localeCompare(b.name));

  return (
    <div className="page" data-testid="pipelines-page">
      <div className="page-head">
        <h1>Pipelines</h1>
        <span className="muted">{pipelines.data ? `${formatNumber(rows.length)} pipelines` : ""}</span>
        <span className="spacer" />
        <a className="btn small" href={href("/pipelines/schedules")}>
          Schedules &amp; workers
        </a>
      </div>
      <ErrorBanner error={pipelines.error} title="Could not load pipelines" onRetry={pipelines.reload} />
      <div className="table-wrap">
        <table className="table" data-testid="pipelines-table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Source</th>
              <th>Last run</th>
              <th>Last run at</th>
              <th className="num">Runs</th>
              <th className="num">Schedules</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((p) => {
              const to = "/pipelines/runs";
              const q = { pipeline: p.name };
              return (
                <tr key={p.name} className="clickable" data-testid="pipeline-row" data-pipeline={p.name} onClick={(e) => !(e.target as HTMLElement).closest("a") && navigate(to, q)}>
                  <td>
                    <a href={href(to, q)} className="pl-name">
                      {p.name}
                    </a>
                  </td>
                  <td data-testid="pipeline-source">
                    {p.source ? (
                      <span title={`${p.source.dataset}@${p.source.version}${p.pushedBy ? ` by ${p.pushedBy}` : ""}`}>
                        <span className="badge blue">pushed</span> <span className="muted small">{formatAgo(p.pushedAt)}</span>
                      </span>
                    ) : (
                      <span className="badge gray">local only</span>
                    )}
                  </td>
                  <td data-testid="pipeline-last-status">
                    {p.lastRun ? (
                      <a href={href(`/pipelines/runs/${encodeURIComponent(p.lastRun.id)}`)}>
                        <PipelineStatusBadge status={p.lastRun.status} />
                      </a>
                    ) : (
                      <span className="muted">never run</span>
                    )}
                  </td>
                  <td title={formatAgo(p.lastRun?.createdAt)}>{p.lastRun ? formatDate(p.lastRun.createdAt) : ""}</td>
                  <td className="num" data-testid="pipeline-run-count">
                    {formatNumber(p.runCount)}
                  </td>
                  <td className="num" data-testid="pipeline-schedule-count">
                    {scheduleCount.get(p.name) ? (
                      <a href={href("/pipelines/schedules", { pipeline: p.name })}>{scheduleCount.get(p.name)}</a>
                    ) : (
                      <span className="muted">0</span>
                    )}
                  </td>
                </tr>
              );
            })}
            {pipelines.data && rows.length === 0 && (
              <tr>
                <td colSpan={6} className="empty">
                  No pipelines yet. Run one with <code>cairn run</code> or push one with <code>cairn pipeline push</code>.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      {pipelines.loading && !pipelines.data && <span className="spinner" />}

      <section className="card">
        <div className="section-head">
          <h2>Recent runs</h2>
          <span className="spacer" />
          <a href={href("/pipelines/runs")} data-testid="all-runs-link">
            All runs →
          </a>
        </div>
        <ErrorBanner error={runs.error} title="Could not load runs" onRetry={runs.reload} />
        <PipelineRunsTable runs={runs.data ?? []} loading={runs.loading && !runs.data} testId="recent-runs-table" />
      </section>

      <section className="card">
        <div className="section-head">
          <h2>Sweeps</h2>
          <span className="muted small">hyperparameter sweeps (runs tagged cairn.sweep.objective)</span>
        </div>
        <SweepsTable />
      </section>
    </div>
  );
}

/** `#/pipelines/runs?pipeline=NAME&status=STATUS`: pipeline runs, newest first, filtered by pipeline and status. */
export function PipelineRunsPage({ query }: PageProps) {
  const pipeline = query.get("pipeline") ?? "";
  const statusParam = query.get("status") ?? "";
  const status = PipelineRunStatusSchema.safeParse(statusParam).success ? (statusParam as PipelineRunStatus) : undefined;
  const pipelines = useAsync(() => api.listPipelines({}).then((r) => r.pipelines.map((p) => p.name).sort()), []);
  const runs = useAsync(
    () => api.listPipelineRuns({ query: { ...(pipeline ? { pipeline } : {}), ...(status ? { status } : {}), limit: RUNS_PAGE } }).then((r) => r.runs),
    [pipeline, status],
  );
  useRefreshWhile(Boolean(runs.data?.some((r) => isLiveRun(r.status))), runs.reload);
  const go = (patch: Record<string, string | undefined>) => navigate("/pipelines/runs", { pipeline: pipeline || undefined, status, ...patch }, { replace: true });
  const names = pipelines.data ?? [];
  return (
    <div className="page" data-testid="pipeline-runs-page">
      <div className="crumbs">
        <a href={href("/pipelines")}>Pipelines</a> /
      </div>
      <div className="page-head">
        <h1>Pipeline runs</h1>
        <span className="muted">{runs.data ? `${formatNumber(runs.data.length)}${runs.data.length >= RUNS_PAGE ? "+" : ""} shown` : ""}</span>
      </div>
      <div className="toolbar">
        <label className="check">
          Pipeline
          <select className="ds-select" value={pipeline} onChange={(e) => go({ pipeline: e.target.value || undefined })} data-testid="runs-filter-pipeline">
            <option value="">all</option>
            {(pipeline && !names.includes(pipeline) ? [pipeline, ...names] : names).map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </label>
        <label className="check">
          Status
          <select className="ds-select" value={status ?? ""} onChange={(e) => go({ status: e.target.value || undefined })} data-testid="runs-filter-status">
            <option value="">all</option>
            {PipelineRunStatusSchema.options.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        {(pipeline || status) && (
          <button type="button" className="btn small" onClick={() => go({ pipeline: undefined, status: undefined })}>
            Clear
          </button>
        )}
      </div>
      <ErrorBanner error={runs.error} title="Could not load runs" onRetry={runs.reload} />
      <div className="table-wrap">
        <PipelineRunsTable runs={runs.data ?? []} loading={runs.loading && !runs.data} testId="pipeline-runs-table" />
      </div>
    </div>
  );
}

/** A table of pipeline runs: pipeline, status, trigger, started, duration and step counts; rows open the run page. */
export function PipelineRunsTable({ runs, loading, testId }: { runs: PipelineRunSummary[]; loading: boolean; testId: string }) {
  const now = Date.now();
  return (
    <table className="table" data-testid={testId}>
      <thead>
        <tr>
          <th>Run</th>
          <th>Pipeline</th>
          <th>Status</th>
          <th>Trigger</th>
          <th>Started</th>
          <th className="num">Duration</th>
          <th>Steps</th>
        </tr>
      </thead>
      <tbody>
        {runs.map((r) => {
          const to = `/pipelines/runs/${encodeURIComponent(r.id)}`;
          const started = r.startedAt ?? r.createdAt;
          const duration = r.startedAt ? (r.endedAt ?? (isLiveRun(r.status) ? now : r.startedAt)) - r.startedAt : undefined;
          return (
            <tr key={r.id} className="clickable" data-testid="pipeline-run-row" data-run={r.id} data-status={r.status} data-pipeline={r.pipeline} onClick={rowLink(to)}>
              <td className="mono">
                <a href={href(to)}>{r.id.slice(0, 10)}</a>
              </td>
              <td>{r.pipeline}</td>
              <td>
                <PipelineStatusBadge status={r.status} />
              </td>
              <td title={r.trigger.detail}>
                <span className="badge gray">{r.trigger.kind}</span>
                {r.trigger.detail && <span className="muted small"> {r.trigger.detail.slice(0, 40)}</span>}
              </td>
              <td title={formatDate(started)}>{formatAgo(started) || formatDate(started)}</td>
              <td className="num">{formatDuration(duration) || "—"}</td>
              <td>
                <StepCountsBar counts={r.stepCounts} />
              </td>
            </tr>
          );
        })}
        {!loading && runs.length === 0 && (
          <tr>
            <td colSpan={7} className="empty" data-testid="pipeline-runs-empty">
              No runs.
            </td>
          </tr>
        )}
      </tbody>
    </table>
  );
}
