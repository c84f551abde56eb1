import { useState } from "react";
import type { Run } from "@cairn/contract";
import { api, describeError, toNumber } from "../lib/api.js";
import { formatDate } from "../lib/format.js";
import { href } from "../lib/router.js";
import { useAsync } from "../lib/use-async.js";
import { ErrorBanner } from "../components/error-banner.js";
import { StatusBadge } from "../components/status-badge.js";
import { LatestMetricsSection, ParamsDiffSection, type CompareColumn } from "../components/compare-tables.js";
import { MetricChart, seriesColor, type ChartLine } from "../components/metric-chart.js";
import type { PageProps } from "./registry.js";

const BUCKETS = 1000;
const FIRST_CHARTS = 12;

interface Loaded {
  runs: Run[];
  missing: { id: string; message: string }[];
}

const MAX_COMPARE = 100;

/** `#/compare?runs=a,b,c`: overlaid metric curves, a params diff and latest metrics side by side. */
export function ComparePage({ query }: PageProps) {
  // The bulk history endpoint takes at most 100 runs; a longer link compares its first 100.
  const allIds = [...new Set((query.get("runs") ?? "").split(",").map((s) => s.trim()).filter(Boolean))];
  const ids = allIds.slice(0, MAX_COMPARE);
  const backExperiment = query.get("experiment");
  const loaded = useAsync(async (): Promise<Loaded> => {
    const res = await Promise.allSettled(ids.map((id) => api.getRun({ params: { id } })));
    const runs: Run[] = [];
    const missing: Loaded["missing"] = [];
    res.forEach((r, i) => {
      if (r.status === "fulfilled") runs.push(r.value.run);
      else missing.push({ id: ids[i]!, message: describeError(r.reason).message });
    });
    if (runs.length === 0 && res[0]?.status === "rejected") throw res[0].reason;
    return { runs, missing };
  }, [ids.join(",")]);

  const experimentId = backExperiment ?? loaded.data?.runs[0]?.info.experimentId;
  const experiment = useAsync(
    () => (experimentId === undefined ? Promise.resolve(undefined) : api.getExperiment({ params: { id: experimentId } }).then((r) => r.experiment)),
    [experimentId],
  );
  return (
    <div className="page" data-testid="compare-view">
      <div className="crumbs">
        <a href="#/experiments">Experiments</a> /{" "}
        {experimentId !== undefined && (
          <>
            <a href={href(`/experiments/${encodeURIComponent(experimentId)}`)}>{experiment.data?.name ?? `Experiment ${experimentId}`}</a> /
          </>
        )}
      </div>
      <div className="page-head">
        <h1>Compare {ids.length} runs</h1>
      </div>
      {ids.length === 0 && <p className="muted">No runs selected. Pick runs with the checkboxes in a runs table and press Compare.</p>}
      {loaded.loading && !loaded.data && <span className="spinner" />}
      <ErrorBanner error={loaded.error} title="Could not load the runs" onRetry={loaded.reload} />
      {loaded.data && loaded.data.missing.length > 0 && (
        <div className="error-banner" role="alert">
          <strong>Some runs could not be loaded</strong>
          {loaded.data.missing.map((m) => (
            <div key={m.id} className="error-message">
              <span className="mono">{m.id}</span>: {m.message}
            </div>
          ))}
        </div>
      )}
      {loaded.data && loaded.data.runs.length > 0 && <CompareBody runs={loaded.data.runs} />}
    </div>
  );
}

function RunLabel({ run, i }: { run: Run; i: number }) {
  return (
    <span className="run-label">
      <span className="swatch" style={{ background: seriesColor(i) }} />
      <a href={href(`/runs/${encodeURIComponent(run.info.runId)}`)} title={run.info.runId} className="ellipsis">
        {run.info.runName || run.info.runId.slice(0, 12)}
      </a>
    </span>
  );
}

function CompareBody({ runs }: { runs: Run[] }) {
  const [q, setQ] = useState("");
  const [allCharts, setAllCharts] = useState(false);

  const latest = runs.map((r) => {
    const m = new Map<string, number>();
    for (const x of r.data.metrics) m.set(x.key, toNumber(x.value));
    return m;
  });
  const metricKeys = [...new Set(runs.flatMap((r) => r.data.metrics.map((m) => m.key)))].sort((a, b) => a.localeCompare(b));
  const columns: CompareColumn[] = runs.map((r, i) => ({ id: r.info.runId, label: <RunLabel run={r} i={i} />, params: r.data.params, metrics: latest[i] }));

  const needle = q.trim().toLowerCase();
  const chartKeys = needle ? metricKeys.filter((k) => k.toLowerCase().includes(needle)) : metricKeys;
  const shownCharts = allCharts ? chartKeys : chartKeys.slice(0, FIRST_CHARTS);

  return (
    <>
      <section className="card">
        <h2>Runs</h2>
        <div className="table-wrap">
          <table className="table" data-testid="compare-runs-table">
            <thead>
              <tr>
                <th>Run</th>
                <th>Status</th>
                <th>Started</th>
                <th>User</th>
                <th>Run ID</th>
              </tr>
            </thead>
            <tbody>
              {runs.map((r, i) => (
                <tr key={r.info.runId}>
                  <td>
                    <RunLabel run={r} i={i} />
                  </td>
                  <td>
                    <StatusBadge status={r.info.status} deleted={r.info.lifecycleStage === "deleted"} />
                  </td>
                  <td>{formatDate(r.info.startTime)}</td>
                  <td>{r.info.userId}</td>
                  <td className="mono muted">{r.info.runId}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>

      {metricKeys.length > 0 && (
        <section className="card">
          <div className="section-head">
            <h2>
              Metric charts <span className="count">{metricKeys.length}</span>
            </h2>
            <span className="muted small">drag to zoom · double-click to reset</span>
            <span className="spacer" />
            {metricKeys.length > 4 && <input className="filter-input small" placeholder="Find a metric" value={q} onChange={(e) => setQ(e.target.value)} />}
          </div>
          <div className="chart-grid">
            {shownCharts.map((key) => {
              const withKey = runs.map((r, i) => ({ r, i })).filter(({ i }) => latest[i]!.has(key));
              return (
                <MetricChart
                  key={key}
                  title={key}
                  band={false}
                  colors={withKey.map(({ i }) => seriesColor(i))}
                  loadKey={`${withKey.map(({ r }) => r.info.runId).join(",")}/${key}`}
                  load={async (range): Promise<ChartLine[]> => {
                    const body: { runIds: string[]; keys: string[]; buckets: number; minStep?: number; maxStep?: number } = {
                      runIds: withKey.map(({ r }) => r.info.runId),
                      keys: [key],
                      buckets: BUCKETS,
                    };
                    if (range) {
                      body.minStep = range.min;
                      body.maxStep = range.max;
                    }
                    const res = await api.bulkDownsample({ body });
                    return withKey.map(({ r }) => {
                      const s = res.series.find((x) => x.runId === r.info.runId && x.key === key);
                      return { label: r.info.runName || r.info.runId.slice(0, 8), buckets: s?.buckets ?? [], totalPoints: s?.totalPoints ?? 0 };
                    });
                  }}
                />
              );
            })}
          </div>
          {chartKeys.length > shownCharts.length && (
            <button type="button" className="btn" onClick={() => setAllCharts(true)}>
              Show all {chartKeys.length} charts
            </button>
          )}
        </section>
      )}

      <ParamsDiffSection columns={columns} />
      <LatestMetricsSection columns={columns} legend="runs" />
    </>
  );
}
