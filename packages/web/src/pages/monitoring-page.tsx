import { useEffect, useMemo, useRef, useState } from "react";
import uPlot from "uplot";
import type { AlertEvent, DriftReportResponse, Monitor } from "@cairn/contract";
import { api } from "../lib/api.js";
import { formatAgo, formatDate, formatNumber, formatTick } from "../lib/format.js";
import { href, navigate } from "../lib/router.js";
import { useAsync } from "../lib/use-async.js";
import { ErrorBanner } from "../components/error-banner.js";
import { seriesColor } from "../components/metric-chart.js";
import { DriftHistogram } from "../components/drift-histogram.js";
import type { PageProps } from "./registry.js";

type Point = { time: number; series: string; value: number | null };
type DriftColumn = DriftReportResponse["columns"][number];

const ARM_ORDER = ["primary", "canary", "shadow"];
const ARM_COLORS: Record<string, string> = { primary: "#2f6db5", canary: "#e8762c", shadow: "#8a5cc2" };
const RULE_COLORS: Record<string, string> = { ok: "green", pending: "orange", firing: "red" };
const KIND_COLORS: Record<string, string> = { fired: "red", suppressed: "orange", resolved: "green" };
/** Evidently's default thresholds, to show a verdict before the window's report is loaded. */
const P_VALUE_THRESHOLD = 0.05;
const DISTANCE_THRESHOLD = 0.1;

function seconds(s: number): string {
  if (s % 86400 === 0) return `${s / 86400} d`;
  if (s % 3600 === 0) return `${s / 3600} h`;
  if (s % 60 === 0) return `${s / 60} min`;
  return `${s} s`;
}

function fmt(v: number | null | undefined, digits = 4): string {
  return v === null || v === undefined || !Number.isFinite(v) ? "–" : formatNumber(Number(v.toPrecision(digits)));
}

function armRank(arm: string): number {
  const i = ARM_ORDER.indexOf(arm);
  return i < 0 ? ARM_ORDER.length : i;
}

// ---------------------------------------------------------------- series grouping

interface Line {
  label: string;
  series: string;
  color: string;
  dash?: number[];
}

/** Every stored point by series and time, the run times (oldest first) and what each family holds. */
function indexPoints(points: Point[]) {
  const bySeries = new Map<string, Map<number, number | null>>();
  const times = new Set<number>();
  for (const p of points) {
    times.add(p.time);
    let m = bySeries.get(p.series);
    if (!m) bySeries.set(p.series, (m = new Map()));
    m.set(p.time, p.value);
  }
  const names = [...bySeries.keys()];
  const driftColumns = names.filter((s) => s.startsWith("drift.") && s !== "drift.share" && !s.endsWith(".p_value")).map((s) => s.slice("drift.".length)).sort();
  const arms = (family: string, metric?: string) =>
    [...new Set(names.filter((s) => s.startsWith(`${family}.`) && (metric === undefined || s.endsWith(`.${metric}`))).map((s) => s.slice(family.length + 1).split(".")[0]!))].sort((a, b) => armRank(a) - armRank(b) || a.localeCompare(b));
  // Realized (`performance.<arm>.<metric>`) and label-free estimated (`estimated.<arm>.<metric>`) metrics share a chart per metric.
  const perfMetrics = new Map<string, string[]>();
  for (const s of names) {
    const family = s.startsWith("performance.") ? "performance." : s.startsWith("estimated.") ? "estimated." : undefined;
    if (!family) continue;
    const rest = s.slice(family.length);
    const dot = rest.indexOf(".");
    if (dot < 0) continue;
    const arm = rest.slice(0, dot);
    const metric = rest.slice(dot + 1);
    perfMetrics.set(metric, [...new Set([...(perfMetrics.get(metric) ?? []), arm])]);
  }
  // `prediction.<arm>.<output>.<stat>`: the outputs whose distribution the monitor records.
  const predictionOutputs = [...new Set(names.filter((s) => s.startsWith("prediction.")).map((s) => s.split(".").slice(2, -1).join(".")))].sort();
  return { bySeries, times: [...times].sort((a, b) => a - b), driftColumns, arms, perfMetrics, predictionOutputs };
}
type Indexed = ReturnType<typeof indexPoints>;

// ---------------------------------------------------------------- chart

/** A uPlot chart of a monitor's series over its run times (one x per run); an empty state when no line has a value. */
function MonChart({ title, testId, idx, lines, percent }: { title: string; testId: string; idx: Indexed; lines: Line[]; percent?: boolean }) {
  const plotRef = useRef<HTMLDivElement>(null);
  const xs = idx.times;
  const values = lines.map((l) => xs.map((t) => idx.bySeries.get(l.series)?.get(t) ?? null));
  const withValues = values.reduce((n, v) => n + v.filter((x) => x !== null).length, 0);
  const key = JSON.stringify([xs, lines.map((l) => l.series), values]);
  const height = 200;
  useEffect(() => {
    const el = plotRef.current;
    if (!el || withValues === 0) return;
    const valueFmt = (_u: uPlot, v: number | null) => (v === null || v === undefined ? "–" : percent ? `${fmt(v * 100, 3)}%` : fmt(v));
    const opts: uPlot.Options = {
      width: Math.max(240, el.clientWidth || 420),
      height,
      series: [{ label: "time" }, ...lines.map((l): uPlot.Series => ({ label: l.label, stroke: l.color, width: 1.5, value: valueFmt, spanGaps: false, points: { show: true, size: 5, fill: l.color }, ...(l.dash ? { dash: l.dash } : {}) }))],
      legend: { show: true, live: true },
      cursor: { drag: { x: false, y: false }, points: { size: 6 } },
      scales: {
        x: { time: true, ...(xs.length === 1 ? { range: (_u: uPlot, min: number, max: number): [number, number] => [min - 60, max + 60] } : {}) },
        y: { range: (_u, min, max) => [Math.min(0, min ?? 0), (max ?? 0) > 0 ? max * 1.1 : percent ? 0.01 : 1] },
      },
      axes: [
        { size: 32, stroke: "#5b6472", grid: { stroke: "#eef0f3", width: 1 }, ticks: { stroke: "#dfe3e8", width: 1 } },
        { size: 52, stroke: "#5b6472", grid: { stroke: "#eef0f3", width: 1 }, ticks: { stroke: "#dfe3e8", width: 1 }, values: (_u, ticks) => ticks.map((t) => (percent ? `${formatTick(t * 100)}%` : formatTick(t))) },
      ],
    };
    const u = new uPlot(opts, [xs.map((t) => t / 1000), ...values] as uPlot.AlignedData, el);
    const ro = typeof ResizeObserver === "undefined" ? undefined : new ResizeObserver(() => {
      if (el.clientWidth > 0 && Math.abs(u.width - el.clientWidth) > 1) u.setSize({ width: el.clientWidth, height });
    });
    ro?.observe(el);
    return () => {
      ro?.disconnect();
      u.destroy();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, percent]);
  return (
    <div className="chart-card mon-chart" data-testid="mon-chart" data-chart={testId} data-points={xs.length} data-values={withValues} data-series={lines.map((l) => l.label).join(",")} data-dashed={lines.filter((l) => l.dash).map((l) => l.label).join(",")}>
      <div className="chart-head">
        <span className="chart-title">{title}</span>
        <span className="chart-meta">
          {xs.length} window{xs.length === 1 ? "" : "s"}
        </span>
      </div>
      {withValues === 0 ? (
        <div className="mon-chart-empty muted small" data-testid="mon-chart-empty">
          {lines.length === 0 ? "No series of this kind yet." : "No points with a value yet."}
        </div>
      ) : (
        <div className="chart-plot" ref={plotRef} />
      )}
    </div>
  );
}

function SeriesCharts({ idx, monitor }: { idx: Indexed; monitor: Monitor }) {
  const driftLines: Line[] = [...idx.driftColumns.map((c, i) => ({ label: c, series: `drift.${c}`, color: seriesColor(i) })), ...(idx.bySeries.has("drift.share") ? [{ label: "share drifted", series: "drift.share", color: "#333b47", dash: [5, 4] }] : [])];
  const perArm = (family: string, metric: string, suffix = "", dash?: number[]): Line[] => idx.arms(family, metric).map((arm) => ({ label: `${arm}${suffix}`, series: `${family}.${arm}.${metric}`, color: ARM_COLORS[arm] ?? "#6b7280", ...(dash ? { dash } : {}) }));
  // Each arm's realized metric (solid, from labels) beside its label-free estimate (dashed, CBPE), in the arm's color.
  const realizedAndEstimated = (metric: string): Line[] => [...perArm("performance", metric), ...perArm("estimated", metric, " (estimated)", [6, 4])];
  const perf = [...idx.perfMetrics.keys()].sort((a, b) => (a === "n" ? 1 : b === "n" ? -1 : a.localeCompare(b)));
  return (
    <>
      <section className="card" data-testid="mon-drift-charts">
        <div className="section-head">
          <h2>Drift</h2>
          <span className="muted small">{monitor.spec.reference ? "statistic per column (the test Evidently picks) and the share of drifted columns, per window" : "this monitor has no reference: no drift series"}</span>
        </div>
        <div className="chart-grid">
          <MonChart title="Drift per column" testId="drift" idx={idx} lines={driftLines} />
        </div>
      </section>
      <section className="card" data-testid="mon-performance-charts">
        <div className="section-head">
          <h2>Performance</h2>
          <span className="muted small">
            {monitor.spec.performance ? `realized ${monitor.spec.performance.task} metrics per arm from labels${monitor.spec.performance.task === "classification" ? "; dashed: label-free estimates (CBPE) over every prediction, labelled or not" : ""}` : "this monitor does not compute performance"}
          </span>
        </div>
        <div className="chart-grid">
          {perf.length === 0 ? (
            <MonChart title="Performance per arm" testId="performance" idx={idx} lines={[]} />
          ) : (
            perf.map((m) => <MonChart key={m} title={m === "n" ? "Predictions: labelled (estimated: all scored)" : m} testId={`performance-${m}`} idx={idx} lines={realizedAndEstimated(m)} />)
          )}
        </div>
      </section>
      <section className="card" data-testid="mon-traffic-charts">
        <div className="section-head">
          <h2>Traffic, predictions and latency</h2>
          <span className="muted small">per arm, per window</span>
        </div>
        <div className="chart-grid">
          <MonChart title="Requests" testId="traffic" idx={idx} lines={perArm("traffic", "requests")} />
          <MonChart title="Error rate" testId="error-rate" idx={idx} lines={perArm("traffic", "error_rate")} percent />
          <MonChart title="Latency, mean (ms)" testId="latency" idx={idx} lines={perArm("latency", "mean_ms")} />
          {idx.predictionOutputs.map((o) => (
            <MonChart
              key={o}
              title={`Predictions: ${o} (mean; dashed: 10th and 90th percentiles)`}
              testId={`prediction-${o}`}
              idx={idx}
              lines={[...perArm("prediction", `${o}.mean`), ...perArm("prediction", `${o}.p10`, " p10", [3, 3]), ...perArm("prediction", `${o}.p90`, " p90", [3, 3])]}
            />
          ))}
        </div>
      </section>
    </>
  );
}

// ---------------------------------------------------------------- drift drill-down

function inferredVerdict(monitor: Monitor, column: string, statistic: number | null, pValue: number | null): boolean | null {
  if (statistic === null) return null;
  const own = monitor.spec.columns?.find((c) => c.name === column)?.threshold;
  if (pValue !== null) return pValue < (own ?? P_VALUE_THRESHOLD);
  return statistic >= (own ?? DISTANCE_THRESHOLD);
}

function DriftWindow({ deployment, monitor, idx }: { deployment: string; monitor: Monitor; idx: Indexed }) {
  const latest = idx.times[idx.times.length - 1];
  const [chosen, setChosen] = useState<number | undefined>(undefined);
  const time = chosen !== undefined && idx.times.includes(chosen) ? chosen : latest;
  const [column, setColumn] = useState<string | undefined>(undefined);
  const [reports, setReports] = useState<Record<number, DriftReportResponse>>({});
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const reference = monitor.spec.reference;
  if (!reference || idx.driftColumns.length === 0 || time === undefined) {
    return (
      <section className="card" data-testid="mon-drift-window">
        <div className="section-head">
          <h2>Drift by column</h2>
        </div>
        <div className="muted" data-testid="mon-drift-window-empty">
          {reference ? "No drift points yet: run the monitor." : "This monitor has no reference to measure drift against."}
        </div>
      </section>
    );
  }
  const report = reports[time];
  const open = async (c: string) => {
    setColumn(c);
    if (reports[time]) return;
    setLoading(true);
    setError(undefined);
    try {
      const r = await api.deploymentDrift({
        params: { name: deployment },
        body: { reference, current: { from: time - monitor.spec.windowSeconds * 1000, to: time }, ...(monitor.spec.columns ? { columns: monitor.spec.columns } : {}), ...(monitor.spec.columnNames ? { columnNames: monitor.spec.columnNames } : {}) },
      });
      setReports((m) => ({ ...m, [time]: r }));
    } catch (e) {
      setError(e);
    } finally {
      setLoading(false);
    }
  };
  const rows = idx.driftColumns.map((c) => {
    const statistic = idx.bySeries.get(`drift.${c}`)?.get(time) ?? null;
    const pValue = idx.bySeries.get(`drift.${c}.p_value`)?.get(time) ?? null;
    const rc: DriftColumn | undefined = report?.columns.find((x) => x.column === c);
    const drifted = rc ? (rc.noData ? null : (rc.drifted ?? null)) : inferredVerdict(monitor, c, statistic, pValue);
    return { column: c, statistic, pValue, drifted, report: rc };
  });
  const share = idx.bySeries.get("drift.share")?.get(time) ?? null;
  const selected = column ? rows.find((r) => r.column === column) : undefined;
  return (
    <section className="card" data-testid="mon-drift-window" data-time={time}>
      <div className="section-head">
        <h2>Drift by column</h2>
        <label className="muted small">
          window ending{" "}
          <select
            className="ds-select"
            value={time}
            onChange={(e) => {
              setChosen(Number(e.target.value));
            }}
            data-testid="mon-window-select"
          >
            {[...idx.times].reverse().map((t) => (
              <option key={t} value={t}>
                {formatDate(t)}
                {t === latest ? " (latest)" : ""}
              </option>
            ))}
          </select>
        </label>
        <span className="muted small">
          {seconds(monitor.spec.windowSeconds)} window · share drifted <strong data-testid="mon-drift-share">{share === null ? "–" : `${fmt(share * 100, 3)}%`}</strong> · click a column for its distributions
        </span>
      </div>
      <div className="table-wrap">
        <table className="table" data-testid="mon-drift-table">
          <thead>
            <tr>
              <th>Column</th>
              <th>Test</th>
              <th className="num">Statistic</th>
              <th className="num">p-value</th>
              <th>Verdict</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr
                key={r.column}
                className={`clickable${r.column === column ? " selected" : ""}`}
                onClick={() => void open(r.column)}
                data-testid="mon-drift-row"
                data-column={r.column}
                data-drifted={r.drifted === null ? "" : String(r.drifted)}
              >
                <td className="mono">
                  <button type="button" className="link-btn" data-testid="mon-drift-column">
                    {r.column}
                  </button>
                </td>
                <td className="muted">{r.report?.test ?? ""}</td>
                <td className="num" data-testid="mon-drift-statistic">
                  {fmt(r.statistic)}
                </td>
                <td className="num" data-testid="mon-drift-p">
                  {fmt(r.pValue)}
                </td>
                <td>
                  {r.drifted === null ? (
                    <span className="badge gray">no data</span>
                  ) : (
                    <span className={`badge ${r.drifted ? "red" : "green"}`} data-testid="mon-drift-verdict" title={r.report ? `threshold ${fmt(r.report.threshold)}` : "by Evidently's default thresholds; open the column for the exact test"}>
                      {r.drifted ? "drifted" : "stable"}
                    </span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <ErrorBanner error={error} title="Could not compute the window's drift" onRetry={() => column && void open(column)} />
      {column && (
        <div className="mon-drill" data-testid="mon-drill" data-column={column}>
          <h3 className="ds-h3">
            {column}: reference vs the window ending {formatDate(time)}
          </h3>
          {loading && !report ? (
            <span className="spinner" />
          ) : selected?.report?.histogram ? (
            <>
              <div className="muted small" data-testid="mon-drill-facts">
                {selected.report.test} statistic {fmt(selected.report.statistic)}
                {selected.report.pValue !== undefined ? ` · p ${fmt(selected.report.pValue)}` : ""} · threshold {fmt(selected.report.threshold)} · {formatNumber(selected.report.nRef)} reference values ({report?.reference.source}) · {formatNumber(selected.report.nCur)} current values
              </div>
              <DriftHistogram column={column} histogram={selected.report.histogram} />
            </>
          ) : report ? (
            <div className="muted" data-testid="mon-drill-empty">
              No distributions for this column in the window.
            </div>
          ) : null}
        </div>
      )}
    </section>
  );
}

// ---------------------------------------------------------------- alerts

function AlertHistory({ events, model, error, onRetry }: { events: AlertEvent[] | undefined; model: string | undefined; error: unknown; onRetry: () => void }) {
  const list = events ?? [];
  return (
    <section className="card" data-testid="mon-alerts">
      <div className="section-head">
        <h2>
          Alert history <span className="count">{list.length}</span>
        </h2>
        <span className="muted small">newest first, every monitor of the deployment</span>
      </div>
      <ErrorBanner error={error} title="Could not load the alert history" onRetry={onRetry} />
      <div className="table-wrap">
        <table className="table" data-testid="mon-alert-table">
          <thead>
            <tr>
              <th>Time</th>
              <th>Monitor</th>
              <th>Rule</th>
              <th>Event</th>
              <th className="num">Value</th>
              <th>Actions</th>
              <th>Model</th>
            </tr>
          </thead>
          <tbody>
            {list.map((e) => (
              <tr key={e.seq} data-testid="mon-alert-row" data-seq={e.seq} data-kind={e.kind} data-rule={e.rule} data-monitor={e.monitor}>
                <td className="ds-nowrap" title={formatAgo(e.time)}>
                  {formatDate(e.time)}
                </td>
                <td className="mono">{e.monitor}</td>
                <td className="mono">{e.rule}</td>
                <td>
                  <span className={`badge ${KIND_COLORS[e.kind] ?? "gray"}`} data-testid="mon-alert-kind">
                    {e.kind}
                  </span>
                </td>
                <td className="num">{fmt(e.value)}</td>
                <td>
                  {e.actions.length === 0 ? (
                    <span className="muted small">{e.kind === "fired" ? "none" : "no actions run"}</span>
                  ) : (
                    <ul className="mon-actions">
                      {e.actions.map((a, i) => {
                        const run = /started run (\S+)/.exec(a.detail)?.[1];
                        return (
                          <li key={i} data-testid="mon-alert-action" data-type={a.type} data-ok={String(a.ok)}>
                            <span className={`badge ${a.ok ? "green" : "red"}`}>{a.ok ? "ok" : "failed"}</span> <span className="muted">{a.type}</span> <span className="small">{a.detail}</span>
                            {run && (
                              <>
                                {" "}
                                <a href={href(`/pipelines/runs/${encodeURIComponent(run)}`)} data-testid="mon-alert-run-link" data-run={run}>
                                  open run
                                </a>
                              </>
                            )}
                          </li>
                        );
                      })}
                    </ul>
                  )}
                </td>
                <td>
                  {model && (
                    <a href={href(`/models/${encodeURIComponent(model)}`)} data-testid="mon-alert-model-link">
                      {model}
                    </a>
                  )}
                </td>
              </tr>
            ))}
            {list.length === 0 && (
              <tr>
                <td colSpan={7} className="empty" data-testid="mon-alerts-empty">
                  No alerts yet.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
    </section>
  );
}

// ---------------------------------------------------------------- monitors

function MonitorsTable({ monitors, selected, onSelect, onRun, running }: { monitors: Monitor[]; selected: string | undefined; onSelect: (name: string) => void; onRun: (name: string) => void; running: string | undefined }) {
  return (
    <div className="table-wrap">
      <table className="table" data-testid="mon-monitors">
        <thead>
          <tr>
            <th>Monitor</th>
            <th>Window</th>
            <th>Every</th>
            <th>Reference</th>
            <th>Last run</th>
            <th>Next run</th>
            <th>Rules</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {monitors.map((m) => {
            const ref = m.spec.reference;
            return (
              <tr key={m.spec.name} className={`clickable${m.spec.name === selected ? " selected" : ""}`} onClick={(e) => !(e.target as HTMLElement).closest("button") && onSelect(m.spec.name)} data-testid="mon-monitor-row" data-monitor={m.spec.name} data-last-run={m.lastRunAt ?? ""}>
                <td className="mono">{m.spec.name}</td>
                <td>{seconds(m.spec.windowSeconds ?? 3600)}</td>
                <td>{seconds(m.spec.intervalSeconds ?? 300)}</td>
                <td className="small">{!ref ? <span className="muted">none</span> : "dataset" in ref ? <span className="mono">{ref.dataset}{ref.path ? `:${ref.path}` : ""}</span> : `${formatDate(ref.window.from)} – ${formatDate(ref.window.to)}`}</td>
                <td className="ds-nowrap" title={m.lastRunAt ? formatDate(m.lastRunAt) : ""} data-testid="mon-last-run">
                  {m.lastRunAt ? formatAgo(m.lastRunAt) : <span className="muted">never</span>}
                </td>
                <td className="ds-nowrap" title={formatDate(m.nextRunAt)}>
                  {formatDate(m.nextRunAt)}
                </td>
                <td>
                  <span className="badges">
                    {m.alerts.map((a) => {
                      const rule = m.spec.rules?.find((r) => r.name === a.rule);
                      return (
                        <span key={a.rule} className={`badge ${RULE_COLORS[a.status] ?? "gray"}`} data-testid="mon-rule-badge" data-rule={a.rule} data-status={a.status} title={`${rule ? `${rule.series} ${rule.op} ${rule.threshold}` : a.rule}: ${a.status}${a.consecutive ? ` (${a.consecutive} window${a.consecutive === 1 ? "" : "s"} in a row)` : ""}${a.lastFiredAt ? `, last fired ${formatDate(a.lastFiredAt)}` : ""}`}>
                          {a.rule}: {a.status}
                        </span>
                      );
                    })}
                    {m.alerts.length === 0 && <span className="muted small">no rules</span>}
                  </span>
                </td>
                <td>
                  <button type="button" className="btn small" disabled={running === m.spec.name} onClick={() => onRun(m.spec.name)} data-testid="mon-run-now">
                    {running === m.spec.name ? "Running…" : "Run now"}
                  </button>
                </td>
              </tr>
            );
          })}
          {monitors.length === 0 && (
            <tr>
              <td colSpan={8} className="empty" data-testid="mon-monitors-empty">
                No monitors on this deployment. Create one with <span className="mono">cairn monitor create</span> or the API.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}

// ---------------------------------------------------------------- page

/** `#/deployments/:name/monitoring`: a deployment's monitors, their series over time, drift by column with distributions, and the alert history. */
export function MonitoringPage({ params, query }: PageProps) {
  const name = params.name!;
  const deployment = useAsync(() => api.getDeployment({ params: { name } }), [name]);
  const monitors = useAsync(() => api.listMonitors({ params: { name } }), [name]);
  const alerts = useAsync(() => api.listAlertEvents({ params: { name }, query: { limit: 200 } }), [name]);
  const list = monitors.data?.monitors ?? [];
  const selectedName = query.get("monitor") ?? list[0]?.spec.name;
  const monitor = list.find((m) => m.spec.name === selectedName);
  const [seriesTick, setSeriesTick] = useState(0);
  const series = useAsync(async () => (monitor ? api.getMonitorSeries({ params: { name, monitor: monitor.spec.name }, query: { limit: 100_000, latest: "true" } }) : { points: [] }), [name, monitor?.spec.name, seriesTick]);
  const idx = useMemo(() => indexPoints(series.data?.points ?? []), [series.data]);
  const [running, setRunning] = useState<string | undefined>(undefined);
  const [runError, setRunError] = useState<unknown>(undefined);

  const runNow = async (m: string) => {
    setRunning(m);
    setRunError(undefined);
    try {
      await api.runMonitor({ params: { name, monitor: m } });
    } catch (e) {
      setRunError(e);
    } finally {
      setRunning(undefined);
      monitors.reload();
      alerts.reload();
      setSeriesTick((t) => t + 1);
    }
  };

  return (
    <div className="page" data-testid="monitoring-page" data-deployment={name}>
      <div className="crumbs">
        <a href={href("/deployments")}>Deployments</a> / <a href={href(`/deployments/${encodeURIComponent(name)}`)} data-testid="mon-deployment-link">{name}</a> /
      </div>
      <div className="page-head">
        <h1>Monitoring</h1>
        {deployment.data && (
          <span className="muted">
            model{" "}
            <a href={href(`/models/${encodeURIComponent(deployment.data.spec.model)}`)} data-testid="mon-model-link">
              {deployment.data.spec.model}
            </a>
          </span>
        )}
      </div>
      <ErrorBanner error={deployment.error} title="Could not load the deployment" onRetry={deployment.reload} />
      <section className="card" data-testid="mon-monitors-card">
        <div className="section-head">
          <h2>
            Monitors <span className="count">{list.length}</span>
          </h2>
          <span className="muted small">click one for its series; each rule&apos;s state as a badge</span>
        </div>
        <ErrorBanner error={monitors.error} title="Could not load the monitors" onRetry={monitors.reload} />
        <ErrorBanner error={runError} title="The run failed" />
        {monitors.loading && !monitors.data ? <span className="spinner" /> : <MonitorsTable monitors={list} selected={monitor?.spec.name} onSelect={(m) => navigate(`/deployments/${name}/monitoring`, { monitor: m }, { replace: true })} onRun={(m) => void runNow(m)} running={running} />}
      </section>
      {monitor && (
        <div className="mon-selected" data-testid="mon-selected" data-monitor={monitor.spec.name} data-points={idx.times.length}>
          <ErrorBanner error={series.error} title="Could not load the monitor's series" onRetry={series.reload} />
          {series.data && (
            <>
              <SeriesCharts idx={idx} monitor={monitor} />
              <DriftWindow key={monitor.spec.name} deployment={name} monitor={monitor} idx={idx} />
            </>
          )}
        </div>
      )}
      <AlertHistory events={alerts.data?.events} model={deployment.data?.spec.model} error={alerts.error} onRetry={alerts.reload} />
    </div>
  );
}
