import { useState } from "react";
import type { Run } from "@cairn/contract";
import { api, toNumber } from "../lib/api.js";
import { formatAgo, formatDate, formatNumber } from "../lib/format.js";
import { href, rowLink } from "../lib/router.js";
import { useAsync } from "../lib/use-async.js";
import { ErrorBanner } from "../components/error-banner.js";
import { StatusBadge } from "../components/status-badge.js";
import { quoteFilterValue } from "../components/alias-badge.js";
import { ParallelCoordinates, type PcTrial } from "../components/parallel-coordinates.js";
import type { PageProps } from "./registry.js";

/** Tags `cairn sweep` writes on the sweep run and its trials. */
const TAG = {
  objective: "cairn.sweep.objective",
  direction: "cairn.sweep.direction",
  method: "cairn.sweep.method",
  space: "cairn.sweep.space",
  trial: "cairn.sweep.trial",
  trialStatus: "cairn.sweep.trial_status",
  // The CLI spells the trial status tag with a dot; read both spellings.
  trialStatusDotted: "cairn.sweep.trial.status",
  parent: "mlflow.parentRunId",
} as const;
const MAX_TRIALS = 1000;
const MAX_SWEEPS = 200;

interface Trial extends PcTrial {
  number: number | undefined;
  status: string;
  run: Run;
}

const TRIAL_STATUS_COLORS: Record<string, string> = { completed: "green", pruned: "orange", failed: "red", running: "blue", cancelled: "gray" };

function trialStatus(r: Run): string {
  const t = r.data.tags[TAG.trialStatus] ?? r.data.tags[TAG.trialStatusDotted];
  if (t) return t;
  return r.info.status === "FINISHED" ? "completed" : r.info.status === "RUNNING" || r.info.status === "SCHEDULED" ? "running" : r.info.status === "KILLED" ? "cancelled" : "failed";
}

function metricValue(r: Run, key: string): number | undefined {
  const m = r.data.metrics.find((x) => x.key === key);
  if (!m) return undefined;
  const v = toNumber(m.value);
  return Number.isFinite(v) ? v : undefined;
}

/** The swept param names: the keys of the sweep's recorded space when it parses, else every trial's params. */
function sweptParams(sweep: Run, trials: Run[]): string[] {
  try {
    const space: unknown = JSON.parse(sweep.data.tags[TAG.space] ?? "");
    if (space && typeof space === "object" && !Array.isArray(space)) {
      const keys = Object.keys(space);
      if (keys.length > 0) return keys;
    }
  } catch {
    // No space tag (or a truncated one): fall back to the trials' params.
  }
  return [...new Set(trials.flatMap((t) => Object.keys(t.data.params)))].sort((a, b) => a.localeCompare(b));
}

async function loadSweep(id: string): Promise<{ sweep: Run; trials: Run[] }> {
  const sweep = (await api.getRun({ params: { id } })).run;
  const r = await api.searchRuns({ body: { experimentIds: [sweep.info.experimentId], filter: `tags.${TAG.parent} = ${quoteFilterValue(id)}`, maxResults: MAX_TRIALS } });
  const children = r.runs;
  // Trials carry their number; other children (if any) are not trials.
  const numbered = children.filter((c) => c.data.tags[TAG.trial] !== undefined);
  return { sweep, trials: numbered.length > 0 ? numbered : children };
}

/** `#/sweeps/:id`: a hyperparameter sweep (its parent run): parallel coordinates of its trials and a trials table, best first. */
export function SweepPage({ params }: PageProps) {
  const id = params.id!;
  const data = useAsync(() => loadSweep(id), [id]);
  const [selected, setSelected] = useState<string | undefined>(undefined);

  if (!data.data) {
    return (
      <div className="page">
        <div className="crumbs">
          <a href={href("/pipelines")}>Pipelines</a> /
        </div>
        <h1>Sweep {id}</h1>
        {data.loading ? <span className="spinner" /> : <ErrorBanner error={data.error} title="Could not load the sweep" onRetry={data.reload} />}
      </div>
    );
  }
  const { sweep, trials: runs } = data.data;
  const tags = sweep.data.tags;
  const objective = tags[TAG.objective] ?? "";
  const direction = tags[TAG.direction] === "maximize" ? "maximize" : "minimize";
  const names = sweptParams(sweep, runs);
  const trials: Trial[] = runs.map((r) => {
    const n = Number(r.data.tags[TAG.trial]);
    const number = Number.isInteger(n) ? n : undefined;
    const params: Record<string, string> = {};
    for (const p of names) if (r.data.params[p] !== undefined) params[p] = r.data.params[p]!;
    return { id: r.info.runId, label: number !== undefined ? `trial ${number}` : r.info.runName || r.info.runId.slice(0, 8), number, status: trialStatus(r), params, objective: objective ? metricValue(r, objective) : undefined, run: r };
  });
  const better = (a: number, b: number) => (direction === "minimize" ? a - b : b - a);
  // Best first; trials without an objective last, by trial number.
  trials.sort((a, b) => {
    if (a.objective !== undefined && b.objective !== undefined) return better(a.objective, b.objective) || (a.number ?? 0) - (b.number ?? 0);
    if (a.objective !== undefined) return -1;
    if (b.objective !== undefined) return 1;
    return (a.number ?? 0) - (b.number ?? 0);
  });
  const best = trials.find((t) => t.objective !== undefined && t.status === "completed") ?? trials.find((t) => t.objective !== undefined);
  const counts = new Map<string, number>();
  for (const t of trials) counts.set(t.status, (counts.get(t.status) ?? 0) + 1);

  return (
    <div className="page" data-testid="sweep-page">
      <div className="crumbs">
        <a href={href("/pipelines")}>Pipelines</a> / Sweeps /
      </div>
      <div className="page-head">
        <h1>{sweep.info.runName || `Sweep ${id.slice(0, 8)}`}</h1>
        <StatusBadge status={sweep.info.status} />
        <span className="spacer" />
        <a className="btn small" href={href(`/runs/${encodeURIComponent(id)}`)} data-testid="sweep-run-link">
          Sweep run
        </a>
        <button type="button" className="btn small" onClick={data.reload} disabled={data.loading}>
          {data.loading ? "Refreshing…" : "Refresh"}
        </button>
      </div>
      <dl className="facts">
        <div>
          <dt>Objective</dt>
          <dd data-testid="sweep-objective">
            <span className="mono">{objective || "—"}</span> <span className="muted">({direction})</span>
          </dd>
        </div>
        <div>
          <dt>Method</dt>
          <dd>{tags[TAG.method] ?? "—"}</dd>
        </div>
        <div>
          <dt>Trials</dt>
          <dd>
            {trials.length}
            {[...counts].map(([s, n]) => (
              <span key={s} className={`badge ${TRIAL_STATUS_COLORS[s] ?? "gray"}`}>
                {n} {s}
              </span>
            ))}
          </dd>
        </div>
        <div>
          <dt>Best</dt>
          <dd data-testid="sweep-best">
            {best ? (
              <>
                <a href={href(`/runs/${encodeURIComponent(best.id)}`)}>{best.label}</a> · {objective} = <strong>{formatNumber(best.objective)}</strong>
              </>
            ) : (
              "—"
            )}
          </dd>
        </div>
        <div>
          <dt>Started</dt>
          <dd title={formatAgo(sweep.info.startTime)}>{formatDate(sweep.info.startTime)}</dd>
        </div>
      </dl>
      <ErrorBanner error={data.error} title="Could not refresh the sweep" />
      <section className="card">
        <div className="section-head">
          <h2>Trials by parameter</h2>
          <span className="muted small">one axis per parameter, {objective || "objective"} last</span>
        </div>
        {trials.length === 0 ? (
          <p className="empty">This sweep has no trials yet.</p>
        ) : (
          <ParallelCoordinates trials={trials} params={names} objective={objective || "objective"} direction={direction} bestId={best?.id} selectedId={selected} onSelect={setSelected} />
        )}
      </section>
      <section className="card">
        <h2>
          Trials <span className="count">{trials.length}</span>
        </h2>
        <div className="table-wrap">
          <table className="table" data-testid="trials-table">
            <thead>
              <tr>
                <th className="num">Trial</th>
                <th>Status</th>
                {names.map((p) => (
                  <th key={p} className="pl-param-col">
                    {p}
                  </th>
                ))}
                <th className="num">
                  {objective || "objective"} <span className="sort-arrow">{direction === "minimize" ? "▲" : "▼"}</span>
                </th>
                <th>Run</th>
              </tr>
            </thead>
            <tbody>
              {trials.map((t) => {
                const to = `/runs/${encodeURIComponent(t.id)}`;
                const cls = ["clickable", t.id === best?.id ? "pl-best-row" : "", t.id === selected ? "selected" : ""].filter(Boolean).join(" ");
                return (
                  <tr key={t.id} className={cls} data-testid="trial-row" data-trial={t.number ?? ""} data-run={t.id} data-best={t.id === best?.id ? "true" : "false"} onMouseEnter={() => setSelected(t.id)} onClick={rowLink(to)}>
                    <td className="num">{t.number ?? "—"}</td>
                    <td>
                      <span className={`badge ${TRIAL_STATUS_COLORS[t.status] ?? "gray"}`}>{t.status}</span>
                      {t.id === best?.id && <span className="badge green">best</span>}
                    </td>
                    {names.map((p) => (
                      <td key={p} className="mono">
                        {t.params[p] ?? <span className="muted">—</span>}
                      </td>
                    ))}
                    <td className="num" data-testid="trial-objective" data-value={t.objective ?? ""}>
                      {t.objective === undefined ? <span className="muted">—</span> : formatNumber(t.objective)}
                    </td>
                    <td className="mono">
                      <a href={href(to)}>{t.id.slice(0, 10)}</a>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      </section>
    </div>
  );
}

/** Every sweep (runs tagged `cairn.sweep.objective`) across experiments, newest first, linking to their sweep pages. */
export function SweepsTable() {
  const sweeps = useAsync(async () => {
    const exps = await api.searchExperiments({ body: { maxResults: 1000 } });
    const ids = exps.experiments.map((e) => e.experimentId);
    if (ids.length === 0) return [];
    const r = await api.searchRuns({ body: { experimentIds: ids, filter: `tags.\`${TAG.objective}\` IS NOT NULL`, orderBy: ["start_time DESC"], maxResults: MAX_SWEEPS } });
    return r.runs;
  }, []);
  const rows = sweeps.data ?? [];
  return (
    <>
      <ErrorBanner error={sweeps.error} title="Could not load sweeps" onRetry={sweeps.reload} />
      <div className="table-wrap">
        <table className="table" data-testid="sweeps-table">
          <thead>
            <tr>
              <th>Sweep</th>
              <th>Status</th>
              <th>Objective</th>
              <th>Method</th>
              <th className="num">Best</th>
              <th>Started</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => {
              const to = `/sweeps/${encodeURIComponent(r.info.runId)}`;
              const obj = r.data.tags[TAG.objective] ?? "";
              const bestValue = metricValue(r, obj);
              return (
                <tr key={r.info.runId} className="clickable" data-testid="sweep-row" data-run={r.info.runId} onClick={rowLink(to)}>
                  <td>
                    <a href={href(to)}>{r.info.runName || r.info.runId.slice(0, 10)}</a>
                  </td>
                  <td>
                    <StatusBadge status={r.info.status} />
                  </td>
                  <td>
                    <span className="mono">{obj}</span> <span className="muted small">{r.data.tags[TAG.direction] ?? "minimize"}</span>
                  </td>
                  <td>{r.data.tags[TAG.method] ?? ""}</td>
                  <td className="num">{bestValue === undefined ? <span className="muted">—</span> : formatNumber(bestValue)}</td>
                  <td title={formatAgo(r.info.startTime)}>{formatDate(r.info.startTime)}</td>
                </tr>
              );
            })}
            {sweeps.data && rows.length === 0 && (
              <tr>
                <td colSpan={6} className="empty">
                  No sweeps yet. Start one with <code>cairn sweep</code>.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
    </>
  );
}
