import { useState } from "react";
import type { Run } from "@cairn/contract";
import { api, toNumber } from "../lib/api.js";
import { formatAgo, formatDate, formatDuration, formatNumber } from "../lib/format.js";
import { href } from "../lib/router.js";
import { useAsync } from "../lib/use-async.js";
import { ErrorBanner } from "../components/error-banner.js";
import { StatusBadge } from "../components/status-badge.js";
import { KvTable } from "../components/kv-table.js";
import { MetricChart } from "../components/metric-chart.js";
import { ArtifactBrowser } from "../components/artifact-browser.js";
import { RegisteredAs } from "../components/registered-as.js";
import type { PageProps } from "./registry.js";

const BUCKETS = 1000;
const FIRST_CHARTS = 12;

/** `#/runs/:runId`: one run's header, params, metrics with charts, tags and artifacts. */
export function RunPage({ params }: PageProps) {
  const runId = params.runId!;
  const run = useAsync(() => api.getRun({ params: { id: runId } }).then((r) => r.run), [runId]);
  const experimentId = run.data?.info.experimentId;
  const experiment = useAsync(
    () => (experimentId === undefined ? Promise.resolve(undefined) : api.getExperiment({ params: { id: experimentId } }).then((r) => r.experiment)),
    [experimentId],
  );

  if (!run.data) {
    return (
      <div className="page">
        <div className="crumbs">
          <a href="#/experiments">Experiments</a> /
        </div>
        <h1>Run {runId}</h1>
        {run.loading ? <span className="spinner" /> : <ErrorBanner error={run.error} title="Could not load the run" onRetry={run.reload} />}
      </div>
    );
  }
  const r = run.data;
  return (
    <div className="page" data-testid="run-page">
      <div className="crumbs">
        <a href="#/experiments">Experiments</a> / <a href={href(`/experiments/${encodeURIComponent(r.info.experimentId)}`)} data-testid="experiment-link">{experiment.data?.name ?? `Experiment ${r.info.experimentId}`}</a> /
      </div>
      <RunHeader run={r} onRefresh={run.reload} refreshing={run.loading} />
      <ErrorBanner error={run.error} title="Could not refresh the run" />
      <div className="two-col">
        <section className="card">
          <h2>
            Parameters <span className="count">{Object.keys(r.data.params).length}</span>
          </h2>
          <KvTable testId="params-table" empty="No parameters." rows={Object.entries(r.data.params).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, <span className="mono-ish">{v}</span>, v])} />
        </section>
        <section className="card">
          <h2>
            Metrics <span className="count">{r.data.metrics.length}</span>
          </h2>
          <LatestMetrics run={r} />
        </section>
      </div>
      <MetricCharts run={r} />
      <section className="card">
        <h2>Artifacts</h2>
        <ArtifactBrowser runId={runId} />
      </section>
      <div className="two-col">
        <TagsSection run={r} />
        {r.inputs.datasetInputs.length > 0 && (
          <section className="card">
            <h2>
              Datasets <span className="count">{r.inputs.datasetInputs.length}</span>
            </h2>
            <table className="table" data-testid="datasets-table">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Digest</th>
                  <th>Source</th>
                  <th>Context</th>
                </tr>
              </thead>
              <tbody>
                {r.inputs.datasetInputs.map((d, i) => (
                  <tr key={i}>
                    <td>{d.dataset.name}</td>
                    <td className="mono">{d.dataset.digest.slice(0, 12)}</td>
                    <td className="ellipsis-cell" title={d.dataset.source}>
                      <span className="muted">{d.dataset.sourceType}</span> {d.dataset.source}
                    </td>
                    <td>{d.tags["mlflow.data.context"] ?? ""}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
        )}
      </div>
    </div>
  );
}

function RunHeader({ run, onRefresh, refreshing }: { run: Run; onRefresh: () => void; refreshing: boolean }) {
  const { info, data } = run;
  const t = data.tags;
  const commit = t["mlflow.source.git.commit"];
  const branch = t["mlflow.source.git.branch"];
  const repo = t["mlflow.source.git.repoURL"];
  const entry = t["mlflow.source.name"];
  const user = t["mlflow.user"] || info.userId;
  const parent = t["mlflow.parentRunId"];
  const note = t["mlflow.note.content"];
  const duration = info.endTime ? info.endTime - info.startTime : info.status === "RUNNING" ? Date.now() - info.startTime : undefined;
  return (
    <div className="run-header" data-testid="run-header">
      <div className="page-head">
        <h1>{info.runName || info.runId}</h1>
        <StatusBadge status={info.status} deleted={info.lifecycleStage === "deleted"} />
        <span className="spacer" />
        {t["cairn.pipeline"] && (
          <a className="btn small" href={pipelineRunHref(run)} data-testid="run-pipeline-link">
            View pipeline run
          </a>
        )}
        <a className="btn small" href={href("/lineage", { node: `run:${info.runId}` })} data-testid="run-lineage-link">Lineage</a>
        <button type="button" className="btn small" onClick={onRefresh} disabled={refreshing}>
          {refreshing ? "Refreshing…" : "Refresh"}
        </button>
      </div>
      <dl className="facts">
        <div>
          <dt>Run ID</dt>
          <dd className="mono" data-testid="run-id">
            {info.runId}
          </dd>
        </div>
        <div>
          <dt>Started</dt>
          <dd title={formatAgo(info.startTime)}>{formatDate(info.startTime)}</dd>
        </div>
        <div>
          <dt>Ended</dt>
          <dd>{info.endTime ? formatDate(info.endTime) : "—"}</dd>
        </div>
        <div>
          <dt>Duration</dt>
          <dd>{formatDuration(duration) || "—"}</dd>
        </div>
        {user && (
          <div>
            <dt>User</dt>
            <dd>{user}</dd>
          </div>
        )}
        {entry && (
          <div>
            <dt>Entry point</dt>
            <dd className="mono ellipsis" title={entry}>
              {entry}
            </dd>
          </div>
        )}
        {(commit || branch) && (
          <div>
            <dt>Git</dt>
            <dd className="mono" title={[repo, branch, commit].filter(Boolean).join("\n")}>
              {branch && <span className="badge gray">{branch}</span>} {commit ? commit.slice(0, 10) : ""}
            </dd>
          </div>
        )}
        {parent && (
          <div>
            <dt>Parent run</dt>
            <dd className="mono">
              <a href={href(`/runs/${encodeURIComponent(parent)}`)}>{parent.slice(0, 12)}</a>
            </dd>
          </div>
        )}
        <RegisteredAs runIds={[info.runId]} />
      </dl>
      {note && <p className="note">{note}</p>}
    </div>
  );
}

/** A pipeline's run page: a step's run (tag `cairn.step`) opens its parent pipeline run with that step selected. */
function pipelineRunHref(run: Run): string {
  const t = run.data.tags;
  const step = t["cairn.step"];
  const parent = t["mlflow.parentRunId"];
  if (step && parent) return href(`/pipelines/runs/${encodeURIComponent(parent)}`, { step });
  return href(`/pipelines/runs/${encodeURIComponent(run.info.runId)}`);
}

function LatestMetrics({ run }: { run: Run }) {
  const rows = [...run.data.metrics].sort((a, b) => a.key.localeCompare(b.key));
  return (
    <div className="table-wrap kv-wrap">
      <table className="table" data-testid="metrics-table">
        <thead>
          <tr>
            <th>Metric</th>
            <th className="num">Latest</th>
            <th className="num">Step</th>
            <th>Logged</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((m) => (
            <tr key={m.key}>
              <td className="kv-key" title={m.key}>
                <a href={`#metric-${encodeURIComponent(m.key)}`} onClick={(e) => {
                  e.preventDefault();
                  document.querySelector(`[data-metric="${CSS.escape(m.key)}"]`)?.scrollIntoView({ behavior: "smooth", block: "center" });
                }}>
                  {m.key}
                </a>
              </td>
              <td className="num" title={String(m.value)}>
                {formatNumber(toNumber(m.value))}
              </td>
              <td className="num">{formatNumber(m.step)}</td>
              <td className="muted">{formatDate(m.timestamp)}</td>
            </tr>
          ))}
          {rows.length === 0 && (
            <tr>
              <td colSpan={4} className="empty">
                No metrics.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}

function MetricCharts({ run }: { run: Run }) {
  const keys = run.data.metrics.map((m) => m.key).sort((a, b) => a.localeCompare(b));
  const [q, setQ] = useState("");
  const [all, setAll] = useState(false);
  if (keys.length === 0) return null;
  const needle = q.trim().toLowerCase();
  const matching = needle ? keys.filter((k) => k.toLowerCase().includes(needle)) : keys;
  const shown = all ? matching : matching.slice(0, FIRST_CHARTS);
  const runId = run.info.runId;
  return (
    <section className="card">
      <div className="section-head">
        <h2>
          Charts <span className="count">{keys.length}</span>
        </h2>
        <span className="muted small">drag to zoom · double-click to reset</span>
        <span className="spacer" />
        {keys.length > 4 && <input className="filter-input small" placeholder="Find a metric" value={q} onChange={(e) => setQ(e.target.value)} data-testid="chart-filter" />}
      </div>
      <div className="chart-grid">
        {shown.map((key) => (
          <MetricChart
            key={key}
            title={key}
            loadKey={`${runId}/${key}`}
            load={async (range) => {
              const query: { buckets: number; minStep?: number; maxStep?: number } = { buckets: BUCKETS };
              if (range) {
                query.minStep = range.min;
                query.maxStep = range.max;
              }
              const s = await api.getDownsampledMetric({ params: { id: runId, key }, query });
              return [{ label: key, buckets: s.buckets, totalPoints: s.totalPoints }];
            }}
          />
        ))}
      </div>
      {matching.length > shown.length && (
        <button type="button" className="btn" onClick={() => setAll(true)}>
          Show all {matching.length} charts
        </button>
      )}
    </section>
  );
}

function TagsSection({ run }: { run: Run }) {
  const [system, setSystem] = useState(false);
  const entries = Object.entries(run.data.tags).sort(([a], [b]) => a.localeCompare(b));
  const systemCount = entries.filter(([k]) => k.startsWith("mlflow.")).length;
  const shown = system ? entries : entries.filter(([k]) => !k.startsWith("mlflow."));
  return (
    <section className="card">
      <h2>
        Tags <span className="count">{shown.length}</span>
      </h2>
      <KvTable
        testId="tags-table"
        empty={systemCount ? "No user tags." : "No tags."}
        rows={shown.map(([k, v]) => [k, <span className="mono-ish">{v}</span>, v])}
        extra={
          systemCount > 0 && (
            <label className="check">
              <input type="checkbox" data-testid="show-system-tags" checked={system} onChange={(e) => setSystem(e.target.checked)} />
              Show system tags ({systemCount})
            </label>
          )
        }
      />
    </section>
  );
}
