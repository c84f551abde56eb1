import { Fragment, useCallback, useEffect, useRef, useState, useSyncExternalStore, type ReactNode } from "react";
import uPlot from "uplot";
import type { ArmStatus, Deployment, DeploymentHistoryEntry, DeploymentRevisionState, DeploymentStats } from "@cairn/contract";
import { api } from "../lib/api.js";
import { formatAgo, formatDate, formatNumber, formatTick } from "../lib/format.js";
import { href } from "../lib/router.js";
import { usePaged } from "../lib/use-async.js";
import { ErrorBanner } from "../components/error-banner.js";
import { JsonView } from "../components/json-diff.js";
import { LoadMoreFoot } from "../components/table-foot.js";
import { TryItForm } from "../components/try-it-form.js";
import { ArmRefLabel, DeploymentStateBadge, armOf } from "./deployments-page.js";
import type { PageProps } from "./registry.js";

/** How often the page polls the deployment and its live stats while it is visible. */
const POLL_MS = 2000;
const HISTORY_PAGE = 50;
const WINDOWS = [60, 300, 900, 3600] as const;
type Arm = ArmStatus["arm"];
const ARMS: readonly Arm[] = ["primary", "canary", "shadow"];
const ARM_COLORS: Record<Arm, string> = { primary: "#2f6db5", canary: "#e8762c", shadow: "#8a5cc2" };

// ---------------------------------------------------------------- live data

function subscribeVisibility(cb: () => void): () => void {
  document.addEventListener("visibilitychange", cb);
  return () => document.removeEventListener("visibilitychange", cb);
}
const pageVisible = () => document.visibilityState !== "hidden";

/** Whether the browser tab is visible (polling pauses while it is hidden). */
function usePageVisible(): boolean {
  return useSyncExternalStore(subscribeVisibility, pageVisible, () => true);
}

interface LiveDeployment {
  deployment: Deployment | undefined;
  stats: DeploymentStats | undefined;
  error: unknown;
  statsError: unknown;
  loading: boolean;
  /** Fetches both again at once (after an action or a prediction). */
  refresh: () => void;
}

/** Polls a deployment and its stats every 2 s while the page is visible; stops on unmount. */
function useLiveDeployment(name: string, windowSeconds: number): LiveDeployment {
  const visible = usePageVisible();
  const [deployment, setDeployment] = useState<Deployment | undefined>(undefined);
  const [stats, setStats] = useState<DeploymentStats | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [statsError, setStatsError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    if (!visible) return;
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async () => {
      const [d, s] = await Promise.allSettled([api.getDeployment({ params: { name } }), api.getDeploymentStats({ params: { name }, query: { windowSeconds } })]);
      if (!live) return;
      if (d.status === "fulfilled") {
        setDeployment(d.value);
        setError(undefined);
      } else setError(d.reason);
      if (s.status === "fulfilled") {
        setStats(s.value);
        setStatsError(undefined);
      } else setStatsError(s.reason);
      setLoading(false);
      timer = setTimeout(() => void load(), POLL_MS);
    };
    void load();
    return () => {
      live = false;
      if (timer) clearTimeout(timer);
    };
  }, [name, windowSeconds, visible, tick]);
  const refresh = useCallback(() => setTick((t) => t + 1), []);
  return { deployment, stats, error, statsError, loading, refresh };
}

// ---------------------------------------------------------------- page

/** `#/deployments/:name`: one deployment: state, arms and traffic split, try it, live charts, recent predictions, history, rollback. */
export function DeploymentPage({ params }: PageProps) {
  const name = params.name!;
  const [windowSeconds, setWindowSeconds] = useState<number>(300);
  const { deployment: d, stats, error, statsError, loading, refresh } = useLiveDeployment(name, windowSeconds);
  const history = usePaged(
    async (token) => {
      const r = await api.getDeploymentHistory({ params: { name }, query: { limit: HISTORY_PAGE, ...(token ? { before: Number(token) } : {}) } });
      return { items: r.history, next: r.next !== undefined ? String(r.next) : undefined };
    },
    [name, d?.revision],
    { key: (h: DeploymentHistoryEntry) => String(h.revision) },
  );
  const [dialog, setDialog] = useState<{ kind: "rollback"; toRevision: number } | { kind: "promote" } | undefined>(undefined);

  if (!d) {
    return (
      <div className="page">
        <div className="crumbs">
          <a href={href("/deployments")}>Deployments</a> /
        </div>
        <h1>{name}</h1>
        {loading ? <span className="spinner" /> : <ErrorBanner error={error} title="Could not load the deployment" onRetry={refresh} />}
      </div>
    );
  }
  const primary = armOf(d, "primary");
  const canRollback = d.revision > 1;
  return (
    <div className="page" data-testid="deployment-page" data-state={d.state} data-revision={d.revision}>
      <div className="crumbs">
        <a href={href("/deployments")}>Deployments</a> /
      </div>
      <div className="run-header" data-testid="deployment-header">
        <div className="page-head">
          <h1>{d.name}</h1>
          <DeploymentStateBadge state={d.state} title={d.error ?? d.state} testId="deployment-state" />
          <span className="spacer" />
          <a className="btn small" href={href(`/deployments/${encodeURIComponent(d.name)}/monitoring`)} data-testid="deployment-monitoring-link">
            Monitoring
          </a>
          {d.spec.canary && (
            <button type="button" className="btn small" onClick={() => setDialog({ kind: "promote" })} data-testid="promote-canary">
              Promote canary
            </button>
          )}
          <button
            type="button"
            className="btn small"
            disabled={!canRollback}
            title={canRollback ? `Return to revision ${d.revision - 1}` : "There is no earlier revision"}
            onClick={() => setDialog({ kind: "rollback", toRevision: d.revision - 1 })}
            data-testid="rollback"
          >
            Roll back
          </button>
        </div>
        {d.description && <div className="muted">{d.description}</div>}
        <dl className="facts">
          <div>
            <dt>Model</dt>
            <dd>
              <a href={href(`/models/${encodeURIComponent(d.spec.model)}`)} data-testid="deployment-model-link">
                {d.spec.model}
              </a>
            </dd>
          </div>
          <div>
            <dt>Revision</dt>
            <dd className="mono" data-testid="deployment-revision">
              {d.revision}
            </dd>
          </div>
          <div>
            <dt>Updated</dt>
            <dd title={formatAgo(d.updatedAt)}>{formatDate(d.updatedAt)}</dd>
          </div>
          <div>
            <dt>Created</dt>
            <dd title={formatAgo(d.createdAt)}>
              {formatDate(d.createdAt)}
              {d.createdBy && <span className="muted"> by {d.createdBy}</span>}
            </dd>
          </div>
          <div>
            <dt>Endpoint</dt>
            <dd className="mono" title="Open Inference Protocol v2; MLflow scoring at /invocations">
              /deployments/{d.name}/v2/models/{d.spec.model}/infer
            </dd>
          </div>
          {d.spec.stickyHeader && (
            <div>
              <dt>Sticky header</dt>
              <dd className="mono">{d.spec.stickyHeader}</dd>
            </div>
          )}
          {d.spec.autoRollout && (
            <div>
              <dt>Auto rollout</dt>
              <dd>canary at {formatNumber(d.spec.autoRollout.canaryPercent)}% when the alias moves</dd>
            </div>
          )}
          <div>
            <dt>Batching</dt>
            <dd>{d.spec.batching.maxBatchSize > 1 ? `up to ${d.spec.batching.maxBatchSize} · ${formatNumber(d.spec.batching.maxLatencyMs)} ms` : "off"}</dd>
          </div>
          <div>
            <dt>Logged</dt>
            <dd>{d.spec.logSample > 0 ? `${formatNumber(d.spec.logSample * 100)}% of requests` : "off"}</dd>
          </div>
        </dl>
        {d.error && (
          <div className="error-banner" data-testid="deployment-error">
            <strong>Load error</strong>
            <div className="error-message">{d.error}</div>
          </div>
        )}
      </div>
      <ErrorBanner error={error} title="Could not refresh the deployment" />
      <ArmsSection d={d} />
      <section className="card">
        <div className="section-head">
          <h2>Try it</h2>
        </div>
        {primary ? (
          <TryItForm key={`${d.spec.model}/${primary.version}`} deployment={d.name} model={d.spec.model} version={primary.version} stickyHeader={d.spec.stickyHeader} onAnswered={refresh} />
        ) : (
          <span className="muted">No primary arm.</span>
        )}
      </section>
      <section className="card" data-testid="deployment-stats">
        <div className="section-head">
          <h2>Live traffic</h2>
          <span className="muted small">on this server · refreshed every {POLL_MS / 1000} s</span>
          <span className="spacer" />
          <label className="muted small">
            window{" "}
            <select className="ds-select" value={windowSeconds} onChange={(e) => setWindowSeconds(Number(e.target.value))} data-testid="stats-window">
              {WINDOWS.map((w) => (
                <option key={w} value={w}>
                  {w < 3600 ? `${w / 60} min` : `${w / 3600} h`}
                </option>
              ))}
            </select>
          </label>
        </div>
        <ErrorBanner error={statsError} title="Could not load the live stats" />
        {stats && <StatsView stats={stats} />}
      </section>
      <RecentPredictions stats={stats} />
      <section className="card" data-testid="deployment-history">
        <div className="section-head">
          <h2>
            History <span className="count">{history.items.length}</span>
          </h2>
          <span className="muted small">newest first</span>
        </div>
        <ErrorBanner error={history.error} title="Could not load the history" onRetry={history.retry} />
        <HistoryTimeline entries={history.items} current={d.revision} onRollback={(r) => setDialog({ kind: "rollback", toRevision: r })} />
        <LoadMoreFoot loading={history.loading} more={Boolean(history.next)} onMore={history.loadMore} />
      </section>
      {dialog?.kind === "rollback" && (
        <RollbackDialog
          d={d}
          toRevision={dialog.toRevision}
          entry={history.items.find((h) => h.revision === dialog.toRevision)}
          onClose={() => setDialog(undefined)}
          onDone={() => {
            setDialog(undefined);
            refresh();
          }}
        />
      )}
      {dialog?.kind === "promote" && (
        <PromoteDialog
          d={d}
          onClose={() => setDialog(undefined)}
          onDone={() => {
            setDialog(undefined);
            refresh();
          }}
        />
      )}
    </div>
  );
}

// ---------------------------------------------------------------- arms

/** The share of requests each arm answers: the canary takes its percent, the primary the rest. */
function armShare(d: Deployment, arm: Arm): number | undefined {
  const canary = d.spec.canary?.percent ?? 0;
  if (arm === "primary") return 100 - canary;
  if (arm === "canary") return canary;
  return undefined;
}

function specRef(d: Deployment, arm: Arm): { alias?: string | undefined; version?: string | undefined } | undefined {
  if (arm === "primary") return d.spec.primary;
  if (arm === "canary") return d.spec.canary ?? undefined;
  return d.spec.shadow ?? undefined;
}

function ArmsSection({ d }: { d: Deployment }) {
  const arms = ARMS.map((a) => armOf(d, a)).filter((a): a is ArmStatus => a !== undefined);
  return (
    <section className="card" data-testid="deployment-arms">
      <div className="section-head">
        <h2>Arms</h2>
        <TrafficSplit d={d} />
      </div>
      <div className="dep-arms">
        {arms.map((a) => {
          const ref = specRef(d, a.arm) ?? a.ref;
          const share = armShare(d, a.arm);
          return (
            <div key={a.arm} className={`dep-arm dep-arm-card-${a.arm}`} data-testid="arm-card" data-arm={a.arm} data-state={a.state} data-version={a.version}>
              <div className="dep-arm-head">
                <span className={`badge dep-arm-${a.arm}`}>{a.arm}</span>
                <DeploymentStateBadge state={a.state} testId="arm-state" />
                <span className="spacer" />
                <span className="dep-arm-share" data-testid="arm-traffic">
                  {share !== undefined ? `${formatNumber(share)}%` : "copy"}
                </span>
              </div>
              <dl className="pl-step-facts">
                <dt>Serves</dt>
                <dd data-testid="arm-ref">
                  <ArmRefLabel armRef={ref} version={a.version} model={d.spec.model} />
                </dd>
                <dt>Version</dt>
                <dd className="mono" data-testid="arm-version">
                  v{a.version}
                </dd>
                <dt>On this server</dt>
                <dd data-testid="arm-serving">
                  {a.servingVersion === null ? (
                    <span className="muted">nothing yet</span>
                  ) : a.servingVersion === a.version ? (
                    <span className="mono">v{a.servingVersion}</span>
                  ) : (
                    <span className="ds-warn">
                      still v{a.servingVersion} <span className="muted">(v{a.version} {a.state})</span>
                    </span>
                  )}
                </dd>
                <dt>Traffic</dt>
                <dd>{share !== undefined ? `${formatNumber(share)}% of requests` : "a copy of every request (answers logged, never returned)"}</dd>
              </dl>
              {a.state === "failed" && (
                <div className="error-banner" data-testid="arm-error">
                  <strong>v{a.version} failed to load</strong>
                  <div className="error-message">{a.error ?? "unknown error"}</div>
                </div>
              )}
            </div>
          );
        })}
      </div>
    </section>
  );
}

/** The split as a bar: primary 100−p %, canary p %, and the shadow as a dashed "copy" bar under it. */
function TrafficSplit({ d }: { d: Deployment }) {
  const canary = d.spec.canary ? d.spec.canary.percent : 0;
  const segs: [Arm, number][] = [["primary", 100 - canary]];
  if (d.spec.canary) segs.push(["canary", canary]);
  return (
    <div className="dep-split" data-testid="traffic-split" data-canary={d.spec.canary ? canary : ""} title="Share of requests each arm answers">
      <div className="dep-split-bar">
        {segs.map(([arm, p]) => (
          <span key={arm} className={`dep-split-seg dep-seg-${arm}`} style={{ width: `${p}%` }} data-testid="traffic-seg" data-arm={arm} data-percent={p} />
        ))}
      </div>
      {d.spec.shadow && <div className="dep-split-bar dep-split-shadow" data-testid="traffic-seg" data-arm="shadow" data-percent="copy" title="The shadow gets a copy of every request" />}
      <div className="dep-split-legend muted small">
        {segs.map(([arm, p]) => (
          <span key={arm}>
            <i className={`dep-dot dep-seg-${arm}`} /> {arm} {formatNumber(p)}%
          </span>
        ))}
        {d.spec.shadow && (
          <span>
            <i className="dep-dot dep-seg-shadow" /> shadow copy
          </span>
        )}
      </div>
    </div>
  );
}

// ---------------------------------------------------------------- stats and charts

interface ChartSeries {
  label: string;
  color: string;
  dash?: number[];
  values: (number | null)[];
  /** Join the values across seconds without a value (latency: a quiet second has none). */
  spanGaps?: boolean;
}

/** Few values in the window: draw their points, or a lone second would not show at all. */
const SPARSE_POINTS = 60;

/** The window's seconds, oldest first, ending at the newest second seen (or now). */
function windowTicks(stats: DeploymentStats): number[] {
  const newest = stats.series.reduce((m, p) => Math.max(m, p.t), 0);
  const end = Math.floor(Math.max(newest, Date.now()) / 1000);
  const out: number[] = [];
  for (let s = end - stats.windowSeconds + 1; s <= end; s++) out.push(s);
  return out;
}

function armsIn(stats: DeploymentStats): Arm[] {
  const seen = new Set<Arm>([...stats.arms.map((a) => a.arm), ...stats.series.map((p) => p.arm)]);
  return ARMS.filter((a) => seen.has(a));
}

function StatsView({ stats }: { stats: DeploymentStats }) {
  const xs = windowTicks(stats);
  const index = new Map(xs.map((s, i) => [s, i]));
  const arms = armsIn(stats);
  const rate: ChartSeries[] = [];
  const latency: ChartSeries[] = [];
  for (const arm of arms) {
    const req: (number | null)[] = xs.map(() => 0);
    const mean: (number | null)[] = xs.map(() => null);
    const p99: (number | null)[] = xs.map(() => null);
    for (const p of stats.series) {
      if (p.arm !== arm) continue;
      const i = index.get(Math.floor(p.t / 1000));
      if (i === undefined) continue;
      req[i] = (req[i] ?? 0) + p.requests;
      mean[i] = p.meanMs;
      p99[i] = p.p99Ms;
    }
    rate.push({ label: arm, color: ARM_COLORS[arm], values: req });
    latency.push({ label: `${arm} mean`, color: ARM_COLORS[arm], values: mean, spanGaps: true });
    latency.push({ label: `${arm} p99`, color: ARM_COLORS[arm], dash: [5, 4], values: p99, spanGaps: true });
  }
  const total = stats.arms.reduce((n, a) => n + a.requests, 0);
  return (
    <div className="dep-stats">
      <div className="chart-grid">
        <LiveChart title="Requests per second" testId="rate" xs={xs} series={rate} total={stats.series.reduce((n, p) => n + p.requests, 0)} />
        <LiveChart title="Latency (ms): mean and p99" testId="latency" xs={xs} series={latency} total={stats.series.filter((p) => p.meanMs !== null).length} />
      </div>
      <div className="table-wrap">
        <table className="table" data-testid="arm-stats">
          <thead>
            <tr>
              <th>Arm</th>
              <th>Version</th>
              <th className="num">Requests</th>
              <th className="num">Errors</th>
              <th className="num">Error rate</th>
              <th className="num">p50</th>
              <th className="num">p99</th>
            </tr>
          </thead>
          <tbody>
            {stats.arms.map((a) => (
              <tr key={a.arm} data-testid="arm-stats-row" data-arm={a.arm}>
                <td>
                  <span className={`badge dep-arm-${a.arm}`}>{a.arm}</span>
                </td>
                <td className="mono">v{a.version}</td>
                <td className="num" data-testid="arm-requests">
                  {formatNumber(a.requests)}
                </td>
                <td className={`num${a.errors > 0 ? " dep-bad" : ""}`} data-testid="arm-errors">
                  {formatNumber(a.errors)}
                </td>
                <td className="num">{a.requests > 0 ? `${formatNumber(Number(((100 * a.errors) / a.requests).toFixed(2)))}%` : "–"}</td>
                <td className="num" data-testid="arm-p50">
                  {a.p50Ms === null ? "–" : `${formatNumber(Number(a.p50Ms.toFixed(2)))} ms`}
                </td>
                <td className="num" data-testid="arm-p99">
                  {a.p99Ms === null ? "–" : `${formatNumber(Number(a.p99Ms.toFixed(2)))} ms`}
                </td>
              </tr>
            ))}
            {stats.arms.length === 0 && (
              <tr>
                <td colSpan={7} className="empty">
                  No arms.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <div className="muted small">
        {formatNumber(total)} requests in the last {stats.windowSeconds < 3600 ? `${stats.windowSeconds / 60} min` : `${stats.windowSeconds / 3600} h`} · shadow copies dropped (shadow saturated):{" "}
        <span className={stats.shadowDropped > 0 ? "dep-bad" : ""} data-testid="shadow-dropped">
          {formatNumber(stats.shadowDropped)}
        </span>
      </div>
    </div>
  );
}

/** The indices of a series' points worth a dot: those with a value other than 0. */
function nonZeroPoints(u: uPlot, seriesIdx: number): number[] {
  const ys = u.data[seriesIdx] ?? [];
  const out: number[] = [];
  for (let i = 0; i < ys.length; i++) if (ys[i] !== null && ys[i] !== undefined && ys[i] !== 0) out.push(i);
  return out;
}

/** A uPlot time chart of per-second values that updates in place as new data arrives. */
function LiveChart({ title, testId, xs, series, total }: { title: string; testId: string; xs: number[]; series: ChartSeries[]; total: number }) {
  const plotRef = useRef<HTMLDivElement>(null);
  const uplotRef = useRef<uPlot | null>(null);
  const structRef = useRef("");
  const height = 180;
  useEffect(() => {
    const el = plotRef.current;
    if (!el) return;
    const data = [xs, ...series.map((s) => s.values)] as uPlot.AlignedData;
    const sparse = series.map((s) => s.values.filter((v) => v !== null && v !== 0).length < SPARSE_POINTS);
    const struct = series.map((s, i) => `${s.label}:${sparse[i] ? "sparse" : "dense"}`).join(",");
    if (uplotRef.current && structRef.current === struct) {
      uplotRef.current.setData(data, true);
      return;
    }
    uplotRef.current?.destroy();
    structRef.current = struct;
    const valueFmt = (_u: uPlot, v: number | null) => (v === null || v === undefined ? "–" : formatNumber(Number(v.toPrecision(4))));
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth || 400),
      height,
      series: [{ label: "time" }, ...series.map((s, i): uPlot.Series => ({ label: s.label, stroke: s.color, width: 1.5, value: valueFmt, spanGaps: s.spanGaps ?? false, points: { show: sparse[i], size: 4, fill: s.color, filter: nonZeroPoints }, ...(s.dash ? { dash: s.dash } : {}) }))],
      legend: { show: true, live: true },
      cursor: { drag: { x: false, y: false }, points: { size: 5 } },
      scales: { y: { range: (_u, min, max) => [0, Math.max(max ?? 1, 1) * 1.1 || 1] } },
      axes: [
        { size: 32, stroke: "#5b6472", grid: { stroke: "#eef0f3", width: 1 }, ticks: { stroke: "#dfe3e8", width: 1 } },
        { size: 52, stroke: "#5b6472", grid: { stroke: "#eef0f3", width: 1 }, ticks: { stroke: "#dfe3e8", width: 1 }, values: (_u, ticks) => ticks.map(formatTick) },
      ],
    };
    uplotRef.current = new uPlot(opts, data, el);
  }, [xs, series]);

  useEffect(() => {
    const el = plotRef.current;
    if (!el || typeof ResizeObserver === "undefined") return;
    const ro = new ResizeObserver(() => {
      const u = uplotRef.current;
      if (u && el.clientWidth > 0 && Math.abs(u.width - el.clientWidth) > 1) u.setSize({ width: el.clientWidth, height });
    });
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  useEffect(
    () => () => {
      uplotRef.current?.destroy();
      uplotRef.current = null;
    },
    [],
  );
  return (
    <div className="chart-card" data-testid="dep-chart" data-chart={testId} data-total={total} data-series={series.map((s) => s.label).join(",")}>
      <div className="chart-head">
        <span className="chart-title">{title}</span>
        {series.length === 0 && <span className="chart-meta">no traffic yet</span>}
      </div>
      <div className="chart-plot" ref={plotRef} />
    </div>
  );
}

// ---------------------------------------------------------------- recent predictions

function summarizeOutputs(outputs: unknown): string {
  if (!Array.isArray(outputs)) return outputs === undefined || outputs === null ? "" : (JSON.stringify(outputs) ?? "");
  const parts = outputs.map((o: unknown) => {
    if (o && typeof o === "object" && "name" in o) {
      const t = o as { name: unknown; data?: unknown };
      return `${String(t.name)}=${JSON.stringify(t.data) ?? ""}`;
    }
    return JSON.stringify(o) ?? "";
  });
  const s = parts.join(" ");
  return s.length > 120 ? `${s.slice(0, 117)}…` : s;
}

function RecentPredictions({ stats }: { stats: DeploymentStats | undefined }) {
  const [open, setOpen] = useState<string | undefined>(undefined);
  const recent = [...(stats?.recent ?? [])].sort((a, b) => b.time - a.time);
  return (
    <section className="card" data-testid="recent-predictions">
      <div className="section-head">
        <h2>
          Recent predictions <span className="count">{recent.length}</span>
        </h2>
        <span className="muted small">the newest on this server; click a row for its inputs and outputs (the inference log has them all)</span>
      </div>
      <div className="table-wrap dep-recent-wrap">
        <table className="table" data-testid="recent-table">
          <thead>
            <tr>
              <th>Time</th>
              <th>Request id</th>
              <th>Arm</th>
              <th>Version</th>
              <th>Status</th>
              <th className="num">Latency</th>
              <th>Outputs</th>
            </tr>
          </thead>
          <tbody>
            {recent.map((p) => {
              const key = `${p.requestId}/${p.arm}/${p.time}`;
              const ok = p.status < 400;
              return (
                <Fragment key={key}>
                  <tr className="clickable" data-testid="recent-row" data-request-id={p.requestId} data-arm={p.arm} data-status={p.status} onClick={() => setOpen(open === key ? undefined : key)}>
                    <td className="ds-nowrap" title={formatAgo(p.time)}>
                      {formatDate(p.time)}
                    </td>
                    <td className="mono ellipsis-cell" title={p.requestId}>
                      {p.requestId}
                    </td>
                    <td>
                      <span className={`badge dep-arm-${p.arm}`}>{p.arm}</span>
                    </td>
                    <td className="mono">v{p.version}</td>
                    <td>
                      <span className={`badge ${ok ? "green" : "red"}`}>{p.status}</span>
                    </td>
                    <td className="num">{formatNumber(Number(p.latencyMs.toFixed(2)))} ms</td>
                    <td className="mono-ish ellipsis-cell" title={p.error ?? ""}>
                      {p.error ? <span className="dep-bad">{p.error}</span> : summarizeOutputs(p.outputs)}
                    </td>
                  </tr>
                  {open === key && (
                    <tr className="audit-detail-row" data-testid="recent-detail">
                      <td colSpan={7}>
                        <div className="audit-diff">
                          <div className="audit-side">
                            <h3 className="ds-h3">Inputs</h3>
                            <JsonView value={p.inputs} testId="recent-inputs" />
                          </div>
                          <div className="audit-side">
                            <h3 className="ds-h3">{p.error ? "Error" : "Outputs"}</h3>
                            {p.error ? <div className="error-banner">{p.error}</div> : <JsonView value={p.outputs} testId="recent-outputs" />}
                          </div>
                        </div>
                      </td>
                    </tr>
                  )}
                </Fragment>
              );
            })}
            {recent.length === 0 && (
              <tr>
                <td colSpan={7} className="empty" data-testid="recent-empty">
                  No predictions yet. Send one with the form above.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
    </section>
  );
}

// ---------------------------------------------------------------- history

const ACTION_COLORS: Record<string, string> = { create: "green", update: "blue", "promote-canary": "green", rollback: "orange", "alias-moved": "blue", "auto-rollout": "blue", delete: "red" };

/** The versions of a revision state, `primary v2 · canary v3 (10%) · shadow v4`. */
function describeState(s: DeploymentRevisionState): string {
  const parts = [`primary v${s.versions.primary}`];
  if (s.versions.canary !== null) parts.push(`canary v${s.versions.canary}${s.spec.canary ? ` (${formatNumber(s.spec.canary.percent)}%)` : ""}`);
  if (s.versions.shadow !== null) parts.push(`shadow v${s.versions.shadow}`);
  return parts.join(" · ");
}

/** What changed per arm between two states: `primary v1 → v2`, `canary — → v3 (10%)`. */
function armChanges(from: DeploymentRevisionState | null, to: DeploymentRevisionState): { arm: Arm; from: string; to: string; changed: boolean }[] {
  const label = (s: DeploymentRevisionState | null, arm: Arm): string => {
    if (!s) return "—";
    const v = s.versions[arm];
    if (v === null) return "—";
    return arm === "canary" && s.spec.canary ? `v${v} (${formatNumber(s.spec.canary.percent)}%)` : `v${v}`;
  };
  return ARMS.map((arm) => ({ arm, from: label(from, arm), to: label(to, arm) }))
    .filter((c) => c.from !== "—" || c.to !== "—")
    .map((c) => ({ ...c, changed: c.from !== c.to }));
}

function HistoryTimeline({ entries, current, onRollback }: { entries: DeploymentHistoryEntry[]; current: number; onRollback: (revision: number) => void }) {
  if (entries.length === 0) return <div className="muted">No history yet.</div>;
  return (
    <ol className="timeline dep-history">
      {entries.map((h) => (
        <li key={h.revision} className="timeline-item" data-testid="history-entry" data-revision={h.revision} data-action={h.action}>
          <span className="timeline-dot" />
          <div className="dep-history-body">
            <div className="timeline-change">
              <span className="mono">r{h.revision}</span>
              <span className={`badge ${ACTION_COLORS[h.action] ?? "gray"}`} data-testid="history-action">
                {h.action}
              </span>
              {h.revision === current && <span className="badge gray">current</span>}
              <span className="muted small" title={formatAgo(h.time)}>
                {formatDate(h.time)}
              </span>
              <span className="muted small">by {h.actor || "anonymous"}</span>
              {h.revision !== current && h.action !== "delete" && (
                <button type="button" className="link-btn small" onClick={() => onRollback(h.revision)} data-testid="history-rollback">
                  roll back to r{h.revision}
                </button>
              )}
            </div>
            {h.message && (
              <div className="dep-history-message" data-testid="history-message">
                {h.message}
              </div>
            )}
            <div className="dep-history-changes small" data-testid="history-changes">
              {armChanges(h.from, h.to).map((c) => (
                <span key={c.arm} className={c.changed ? "dep-change changed" : "dep-change"} data-arm={c.arm}>
                  {c.arm} {c.changed ? (
                    <>
                      <span className="mono">{c.from}</span> <span className="arrow">→</span> <span className="mono">{c.to}</span>
                    </>
                  ) : (
                    <span className="mono">{c.to}</span>
                  )}
                </span>
              ))}
            </div>
          </div>
        </li>
      ))}
    </ol>
  );
}

// ---------------------------------------------------------------- dialogs

function Dialog({ title, testId, onClose, children }: { title: string; testId: string; onClose: () => void; children: ReactNode }) {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => e.key === "Escape" && onClose();
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [onClose]);
  return (
    <div className="dep-overlay" onClick={(e) => e.target === e.currentTarget && onClose()}>
      <div className="dep-dialog" role="dialog" aria-modal="true" aria-label={title} data-testid={testId}>
        <h2>{title}</h2>
        {children}
      </div>
    </div>
  );
}

function useAction(run: (message: string | undefined) => Promise<unknown>, onDone: () => void) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const go = async (message: string) => {
    setBusy(true);
    setError(undefined);
    try {
      await run(message.trim() || undefined);
      onDone();
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };
  return { busy, error, go };
}

function RollbackDialog({ d, toRevision, entry, onClose, onDone }: { d: Deployment; toRevision: number; entry: DeploymentHistoryEntry | undefined; onClose: () => void; onDone: () => void }) {
  const [message, setMessage] = useState("");
  const action = useAction((m) => api.rollbackDeployment({ params: { name: d.name }, body: { toRevision, ...(m ? { message: m } : {}) } }), onDone);
  return (
    <Dialog title={`Roll back ${d.name}?`} testId="rollback-dialog" onClose={onClose}>
      <p data-testid="rollback-summary">
        Returns to the state of <strong>revision {toRevision}</strong>
        {entry ? (
          <>
            , serving <strong data-testid="rollback-versions">{describeState(entry.to)}</strong>
          </>
        ) : (
          " (its versions are not loaded)"
        )}
        , as a new revision {d.revision + 1}.
      </p>
      {entry && (
        <div className="dep-dialog-changes small">
          {armChanges({ spec: d.spec, versions: currentVersions(d) }, entry.to).map((c) => (
            <div key={c.arm} className={c.changed ? "dep-change changed" : "dep-change"} data-arm={c.arm}>
              {c.arm}: <span className="mono">{c.from}</span> <span className="arrow">→</span> <span className="mono">{c.to}</span>
            </div>
          ))}
        </div>
      )}
      <input className="filter-input small dep-dialog-message" placeholder="Why (shown in the history, optional)" value={message} onChange={(e) => setMessage(e.target.value)} data-testid="rollback-message" />
      <ErrorBanner error={action.error} title="Could not roll back" />
      <div className="toolbar dep-dialog-actions">
        <button type="button" className="btn danger" disabled={action.busy} onClick={() => void action.go(message)} data-testid="rollback-confirm">
          {action.busy ? "Rolling back…" : `Roll back to revision ${toRevision}`}
        </button>
        <button type="button" className="btn" disabled={action.busy} onClick={onClose} data-testid="rollback-cancel">
          Cancel
        </button>
      </div>
    </Dialog>
  );
}

function currentVersions(d: Deployment): DeploymentRevisionState["versions"] {
  return { primary: armOf(d, "primary")?.version ?? "?", canary: d.spec.canary ? (armOf(d, "canary")?.version ?? "?") : null, shadow: d.spec.shadow ? (armOf(d, "shadow")?.version ?? "?") : null };
}

function PromoteDialog({ d, onClose, onDone }: { d: Deployment; onClose: () => void; onDone: () => void }) {
  const [message, setMessage] = useState("");
  const action = useAction((m) => api.promoteCanary({ params: { name: d.name }, body: m ? { message: m } : {} }), onDone);
  const canary = armOf(d, "canary");
  const primary = armOf(d, "primary");
  return (
    <Dialog title={`Promote the canary of ${d.name}?`} testId="promote-dialog" onClose={onClose}>
      <p data-testid="promote-summary">
        Makes the canary&apos;s <strong>v{canary?.version ?? "?"}</strong> the primary (replacing v{primary?.version ?? "?"}) and removes the canary: it then answers all requests. A new revision {d.revision + 1}; you can roll back.
      </p>
      <input className="filter-input small dep-dialog-message" placeholder="Why (shown in the history, optional)" value={message} onChange={(e) => setMessage(e.target.value)} data-testid="promote-message" />
      <ErrorBanner error={action.error} title="Could not promote the canary" />
      <div className="toolbar dep-dialog-actions">
        <button type="button" className="btn primary" disabled={action.busy} onClick={() => void action.go(message)} data-testid="promote-confirm">
          {action.busy ? "Promoting…" : `Promote v${canary?.version ?? "?"}`}
        </button>
        <button type="button" className="btn" disabled={action.busy} onClick={onClose} data-testid="promote-cancel">
          Cancel
        </button>
      </div>
    </Dialog>
  );
}
