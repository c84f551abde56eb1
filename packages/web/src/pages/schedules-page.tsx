import { useState } from "react";
import type { Schedule, WorkerInfo } from "@cairn/contract";
import { api } from "../lib/api.js";
import { formatAgo, formatDate, formatNumber } from "../lib/format.js";
import { href, navigate } from "../lib/router.js";
import { useAsync } from "../lib/use-async.js";
import { ErrorBanner } from "../components/error-banner.js";
import type { PageProps } from "./registry.js";

const WORKER_STATE_COLORS: Record<WorkerInfo["state"], string> = { idle: "gray", busy: "blue", lost: "red" };

/** `#/pipelines/schedules?pipeline=NAME`: every schedule (cron, dataset trigger, params, enabled toggle, next and last run) and the workers. */
export function SchedulesPage({ query }: PageProps) {
  const pipeline = query.get("pipeline") ?? "";
  const schedules = useAsync(() => api.listAllSchedules({}).then((r) => r.schedules), []);
  const workers = useAsync(() => api.listWorkers({}).then((r) => r.workers), []);
  // Toggled schedules as the server answered them, until the list is reloaded.
  const [updated, setUpdated] = useState<Record<string, Schedule>>({});
  const [busy, setBusy] = useState<string | undefined>(undefined);
  const [toggleError, setToggleError] = useState<unknown>(undefined);
  const rows = (schedules.data ?? [])
    .map((s) => updated[s.id] ?? s)
    .filter((s) => !pipeline || s.pipeline === pipeline)
    .sort((a, b) => a.pipeline.localeCompare(b.pipeline) || a.createdAt - b.createdAt);

  const toggle = async (s: Schedule) => {
    setBusy(s.id);
    setToggleError(undefined);
    try {
      const r = await api.updateSchedule({ params: { name: s.pipeline, id: s.id }, body: { enabled: !s.enabled } });
      setUpdated((u) => ({ ...u, [s.id]: r.schedule }));
    } catch (e) {
      setToggleError(e);
    } finally {
      setBusy(undefined);
    }
  };

  return (
    <div className="page" data-testid="schedules-page">
      <div className="crumbs">
        <a href={href("/pipelines")}>Pipelines</a> /
      </div>
      <div className="page-head">
        <h1>Schedules</h1>
        {pipeline && (
          <span className="tag-chip">
            <span className="tag-key">pipeline</span>
            <span className="tag-value">{pipeline}</span>
          </span>
        )}
        {pipeline && (
          <button type="button" className="btn small" onClick={() => navigate("/pipelines/schedules", {}, { replace: true })}>
            Show all
          </button>
        )}
        <span className="spacer" />
        <button
          type="button"
          className="btn small"
          onClick={() => {
            setUpdated({});
            schedules.reload();
            workers.reload();
          }}
          disabled={schedules.loading || workers.loading}
        >
          Refresh
        </button>
      </div>
      <ErrorBanner error={schedules.error} title="Could not load schedules" onRetry={schedules.reload} />
      <ErrorBanner error={toggleError} title="Could not change the schedule" />
      <div className="table-wrap">
        <table className="table" data-testid="schedules-table">
          <thead>
            <tr>
              <th>Pipeline</th>
              <th>Cron</th>
              <th>Dataset trigger</th>
              <th>Params</th>
              <th>Enabled</th>
              <th>Next run</th>
              <th>Last run</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((s) => {
              const params = Object.entries(s.params);
              return (
                <tr key={s.id} data-testid="schedule-row" data-schedule={s.id} data-pipeline={s.pipeline} data-enabled={s.enabled ? "true" : "false"}>
                  <td>
                    <a href={href("/pipelines/runs", { pipeline: s.pipeline })}>{s.pipeline}</a>
                  </td>
                  <td data-testid="schedule-cron">
                    {s.cron ? (
                      <>
                        <code>{s.cron}</code> <span className="muted small">{s.timezone}</span>
                      </>
                    ) : (
                      <span className="muted">—</span>
                    )}
                  </td>
                  <td>
                    {s.onDataset ? (
                      <span title={s.lastDatasetVersion ? `last seen version ${s.lastDatasetVersion}` : undefined}>
                        new version of <a href={href(`/datasets/${encodeURIComponent(s.onDataset)}`)}>{s.onDataset}</a>
                      </span>
                    ) : (
                      <span className="muted">—</span>
                    )}
                  </td>
                  <td>
                    {params.length === 0 ? (
                      <span className="muted">defaults</span>
                    ) : (
                      params.map(([k, v]) => (
                        <span key={k} className="tag-chip">
                          <span className="tag-key">{k}</span>
                          <span className="tag-value">{String(v)}</span>
                        </span>
                      ))
                    )}
                  </td>
                  <td>
                    <label className="pl-switch" data-testid="schedule-toggle" title={s.enabled ? "Disable this schedule" : "Enable this schedule"}>
                      <input type="checkbox" checked={s.enabled} disabled={busy === s.id} onChange={() => void toggle(s)} data-testid="schedule-enabled" />
                      <span className="pl-switch-track" />
                      <span className="small">{s.enabled ? "on" : "off"}</span>
                    </label>
                  </td>
                  <td data-testid="schedule-next" title={s.nextRunAt ? formatAgo(s.nextRunAt) : undefined}>
                    {s.enabled && s.nextRunAt ? formatDate(s.nextRunAt) : <span className="muted">—</span>}
                  </td>
                  <td>
                    {s.lastRunId ? (
                      <a href={href(`/pipelines/runs/${encodeURIComponent(s.lastRunId)}`)} title={s.lastRunId}>
                        {s.lastRunAt ? formatDate(s.lastRunAt) : s.lastRunId.slice(0, 10)}
                      </a>
                    ) : s.lastRunAt ? (
                      formatDate(s.lastRunAt)
                    ) : (
                      <span className="muted">never</span>
                    )}
                  </td>
                </tr>
              );
            })}
            {schedules.data && rows.length === 0 && (
              <tr>
                <td colSpan={7} className="empty" data-testid="schedules-empty">
                  No schedules{pipeline ? ` for ${pipeline}` : ""}. Add one with <code>cairn pipeline schedule</code> or the API.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>

      <section className="card">
        <div className="section-head">
          <h2>
            Workers <span className="count">{workers.data ? formatNumber(workers.data.length) : ""}</span>
          </h2>
          <span className="muted small">
            machines that claim queued steps (<code>cairn worker</code>)
          </span>
        </div>
        <ErrorBanner error={workers.error} title="Could not load workers" onRetry={workers.reload} />
        <WorkersTable workers={workers.data ?? []} loaded={Boolean(workers.data)} />
      </section>
    </div>
  );
}

/** Workers: name and host, resources with their GPUs, state (idle, busy, lost), the steps they run and when they were last seen. */
function WorkersTable({ workers, loaded }: { workers: WorkerInfo[]; loaded: boolean }) {
  return (
    <div className="table-wrap">
      <table className="table" data-testid="workers-table">
        <thead>
          <tr>
            <th>Name</th>
            <th>Resources</th>
            <th>GPUs</th>
            <th>State</th>
            <th>Running</th>
            <th>Last seen</th>
          </tr>
        </thead>
        <tbody>
          {workers.map((w) => (
            <tr key={w.id} data-testid="worker-row" data-worker={w.name} data-state={w.state}>
              <td>
                {w.name}
                {w.host && w.host !== w.name && <span className="muted small"> {w.host}</span>}
              </td>
              <td>
                {w.resources.cpu} CPU · {formatNumber(Math.round(w.resources.memoryMb / 1024))} GB
              </td>
              <td>
                {w.resources.gpus.length === 0 ? (
                  <span className="muted">none</span>
                ) : (
                  w.resources.gpus.map((g) => (
                    <span key={g.index} className="tag-chip" title={g.uuid}>
                      <span className="tag-key">{g.index}</span>
                      <span className="tag-value">
                        {g.name} {formatNumber(Math.round(g.memoryMb / 1024))} GB
                      </span>
                    </span>
                  ))
                )}
              </td>
              <td>
                <span className={`badge ${WORKER_STATE_COLORS[w.state]}`}>{w.state}</span>
              </td>
              <td>
                {w.running.length === 0 ? (
                  <span className="muted">—</span>
                ) : (
                  w.running.map((t) => (
                    <div key={`${t.runId}/${t.step}`}>
                      <a href={href(`/pipelines/runs/${encodeURIComponent(t.runId)}`, { step: t.step })}>{t.step}</a> <span className="muted mono small">{t.runId.slice(0, 8)}</span>
                    </div>
                  ))
                )}
              </td>
              <td title={formatDate(w.lastSeenAt)}>{formatAgo(w.lastSeenAt)}</td>
            </tr>
          ))}
          {loaded && workers.length === 0 && (
            <tr>
              <td colSpan={6} className="empty">
                No workers. Start one with <code>cairn worker</code>.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}
