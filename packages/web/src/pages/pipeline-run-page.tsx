import { useEffect, useState } from "react";
import type { PipelineRun, StepState } from "@cairn/contract";
import { api } from "../lib/api.js";
import { formatAgo, formatDate, formatDuration } from "../lib/format.js";
import { href, navigate } from "../lib/router.js";
import { ErrorBanner } from "../components/error-banner.js";
import { KvTable } from "../components/kv-table.js";
import { RegisteredAs } from "../components/registered-as.js";
import { DagGraph } from "../components/dag-graph.js";
import { LogPane } from "../components/log-pane.js";
import { isFailedStep, isLiveRun, PipelineStatusBadge, StepCountsBar, StepStatusBadge } from "../components/pipeline-status.js";
import type { PageProps } from "./registry.js";

const POLL_MS = 1000;

/**
 * Loads a pipeline run and, while it is queued or running, polls it every second. Polling stops
 * once the run ended and on unmount; `reload` fetches it again at once.
 */
function usePipelineRun(id: string): { run: PipelineRun | undefined; error: unknown; loading: boolean; reload: () => void } {
  const [run, setRun] = useState<PipelineRun | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async () => {
      try {
        const r = (await api.getPipelineRun({ params: { id } })).run;
        if (!live) return;
        setRun(r);
        setError(undefined);
        setLoading(false);
        if (isLiveRun(r.status)) timer = setTimeout(load, POLL_MS);
      } catch (e) {
        if (!live) return;
        setError(e);
        setLoading(false);
        // A failed refresh of a live run keeps trying (the server may be restarting).
        timer = setTimeout(load, POLL_MS * 3);
      }
    };
    setLoading(true);
    void load();
    return () => {
      live = false;
      if (timer) clearTimeout(timer);
    };
  }, [id, tick]);
  return { run, error, loading, reload: () => setTick((t) => t + 1) };
}

/** `#/pipelines/runs/:id?step=NAME`: one pipeline run: header, live DAG, the selected step's details and logs. */
export function PipelineRunPage({ params, query }: PageProps) {
  const id = params.id!;
  const { run, error, loading, reload } = usePipelineRun(id);
  const selected = query.get("step") ?? undefined;
  const [now, setNow] = useState(Date.now());
  const live = run ? isLiveRun(run.status) : false;
  useEffect(() => {
    if (!live) return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [live]);

  if (!run) {
    return (
      <div className="page">
        <div className="crumbs">
          <a href={href("/pipelines")}>Pipelines</a> / <a href={href("/pipelines/runs")}>Runs</a> /
        </div>
        <h1>Pipeline run {id}</h1>
        {loading ? <span className="spinner" /> : <ErrorBanner error={error} title="Could not load the pipeline run" onRetry={reload} />}
      </div>
    );
  }
  const step = run.steps.find((s) => s.name === selected);
  const select = (name: string) => navigate(`/pipelines/runs/${encodeURIComponent(id)}`, { step: name === selected ? undefined : name }, { replace: true });
  return (
    <div className="page" data-testid="pipeline-run-page" data-status={run.status}>
      <div className="crumbs">
        <a href={href("/pipelines")}>Pipelines</a> / <a href={href("/pipelines/runs", { pipeline: run.pipeline })}>{run.pipeline}</a> /
      </div>
      <RunHeader run={run} now={now} onChanged={reload} />
      <ErrorBanner error={error} title="Could not refresh the run" />
      <div className="pl-run-body">
        <section className="card pl-dag-card">
          <div className="section-head">
            <h2>
              Steps <span className="count">{run.steps.length}</span>
            </h2>
            <StepCountsBar counts={countSteps(run.steps)} />
            <span className="spacer" />
            <span className="muted small">click a step for details</span>
          </div>
          <DagGraph steps={run.steps} selected={selected} onSelect={select} now={now} />
        </section>
        <aside className="card pl-side" data-testid="step-panel">
          {step ? <StepPanel run={run} step={step} now={now} onClose={() => select(step.name)} /> : <p className="muted">Select a step in the graph to see its status, cache decision, worker and error.</p>}
        </aside>
      </div>
      <section className="card">
        <LogPane key={`${id}/${selected ?? ""}`} runId={id} step={step?.name} />
      </section>
    </div>
  );
}

function countSteps(steps: StepState[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of steps) out[s.status] = (out[s.status] ?? 0) + 1;
  return out;
}

function RunHeader({ run, now, onChanged }: { run: PipelineRun; now: number; onChanged: () => void }) {
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [cancelError, setCancelError] = useState<unknown>(undefined);
  const duration = run.startedAt ? (run.endedAt ?? (isLiveRun(run.status) ? now : run.startedAt)) - run.startedAt : undefined;
  const canCancel = isLiveRun(run.status) && !run.cancelRequested;
  const params = Object.entries(run.params).sort(([a], [b]) => a.localeCompare(b));
  const cancel = async () => {
    setBusy(true);
    setCancelError(undefined);
    try {
      await api.cancelPipelineRun({ params: { id: run.id }, body: {} });
      setConfirming(false);
      onChanged();
    } catch (e) {
      setCancelError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="run-header" data-testid="pipeline-run-header">
      <div className="page-head">
        <h1>
          {run.pipeline} <span className="muted mono">{run.id.slice(0, 12)}</span>
        </h1>
        <PipelineStatusBadge status={run.status} testId="pipeline-run-status" />
        {run.cancelRequested && isLiveRun(run.status) && <span className="badge orange" data-testid="cancelling">
            cancelling
          </span>}
        <span className="spacer" />
        <a className="btn small" href={href(`/runs/${encodeURIComponent(run.id)}`)} data-testid="tracking-run-link">
          Tracking run
        </a>
        {canCancel &&
          (confirming ? (
            <span className="pl-confirm" data-testid="cancel-confirm">
              Cancel this run?
              <button type="button" className="btn small danger" disabled={busy} onClick={() => void cancel()} data-testid="cancel-confirm-yes">
                {busy ? "Cancelling…" : "Yes, cancel"}
              </button>
              <button type="button" className="btn small" disabled={busy} onClick={() => setConfirming(false)}>
                Keep running
              </button>
            </span>
          ) : (
            <button type="button" className="btn small" onClick={() => setConfirming(true)} data-testid="cancel-run">
              Cancel run
            </button>
          ))}
      </div>
      <ErrorBanner error={cancelError} title="Could not cancel the run" />
      <dl className="facts">
        <div>
          <dt>Trigger</dt>
          <dd data-testid="pipeline-run-trigger">
            <span className="badge gray">{run.trigger.kind}</span> {run.trigger.detail && <span className="mono">{run.trigger.detail}</span>}
          </dd>
        </div>
        <div>
          <dt>Mode</dt>
          <dd>{run.mode}</dd>
        </div>
        {!isLiveRun(run.status) && <RegisteredAs runIds={run.steps.flatMap((s) => (s.runId ? [s.runId] : []))} />}
        <div>
          <dt>Created</dt>
          <dd title={formatAgo(run.createdAt)}>{formatDate(run.createdAt)}</dd>
        </div>
        <div>
          <dt>Started</dt>
          <dd>{run.startedAt ? formatDate(run.startedAt) : "—"}</dd>
        </div>
        <div>
          <dt>Ended</dt>
          <dd>{run.endedAt ? formatDate(run.endedAt) : "—"}</dd>
        </div>
        <div>
          <dt>Duration</dt>
          <dd>{formatDuration(duration) || "—"}</dd>
        </div>
        {run.source && (
          <div>
            <dt>Source</dt>
            <dd className="mono">
              <a href={href(`/datasets/${encodeURIComponent(run.source.dataset)}`)}>
                {run.source.dataset}@{run.source.version}
              </a>
            </dd>
          </div>
        )}
      </dl>
      {run.error && <div className="error-banner pl-run-error">{run.error}</div>}
      {params.length > 0 && (
        <details className="pl-params" open={params.length <= 8}>
          <summary>
            Parameters <span className="count">{params.length}</span>
          </summary>
          <KvTable testId="pipeline-params" empty="No parameters." rows={params.map(([k, v]) => [k, <span className="mono-ish">{String(v)}</span>, String(v)])} />
        </details>
      )}
    </div>
  );
}

function StepPanel({ run, step: s, now, onClose }: { run: PipelineRun; step: StepState; now: number; onClose: () => void }) {
  const spec = run.spec.steps.find((x) => x.name === s.name);
  const ms = s.durationMs ?? (s.startedAt ? (s.endedAt ?? now) - s.startedAt : undefined);
  const outputs = Object.entries(s.outputs ?? {});
  return (
    <div className="pl-step" data-testid="step-details" data-step={s.name} data-status={s.status}>
      <div className="section-head">
        <h2>{s.name}</h2>
        <StepStatusBadge status={s.status} />
        <span className="spacer" />
        <button type="button" className="link-btn small" onClick={onClose} aria-label="Close step details">
          ✕
        </button>
      </div>
      <dl className="pl-step-facts">
        <dt>Attempts</dt>
        <dd data-testid="step-attempts">
          {s.attempts} of {s.maxAttempts}
        </dd>
        <dt>Duration</dt>
        <dd>{formatDuration(ms) || "—"}</dd>
        {s.after.length > 0 && (
          <>
            <dt>After</dt>
            <dd>{s.after.join(", ")}</dd>
          </>
        )}
        <dt>Worker</dt>
        <dd>{s.worker ?? <span className="muted">{run.mode === "local" ? "local" : "—"}</span>}</dd>
        <dt>Resources</dt>
        <dd>
          {s.resources.cpu} CPU · {s.resources.memoryMb} MB{s.resources.gpu ? ` · ${s.resources.gpu} GPU` : ""}
        </dd>
        {s.gpus && s.gpus.length > 0 && (
          <>
            <dt>GPUs</dt>
            <dd className="mono">{s.gpus.join(", ")}</dd>
          </>
        )}
        <dt>Cache</dt>
        <dd data-testid="step-cache">
          {!s.cache ? <span className="muted">off</span> : s.status === "cached" ? <span className="badge green">hit</span> : s.cacheKey ? <span className="badge gray">miss</span> : <span className="muted">on</span>}
          {s.cacheKey && (
            <span className="mono pl-cache-key" title={s.cacheKey}>
              {" "}
              {s.cacheKey.slice(0, 16)}
            </span>
          )}
        </dd>
        {s.cacheReason && (
          <>
            <dt>Cache reason</dt>
            <dd className="pl-wrap" data-testid="step-cache-reason">
              {s.cacheReason}
            </dd>
          </>
        )}
        <dt>Tracking run</dt>
        <dd>
          {s.runId ? (
            <a href={href(`/runs/${encodeURIComponent(s.runId)}`)} className="mono" data-testid="step-run-link">
              {s.runId.slice(0, 12)}
            </a>
          ) : (
            <span className="muted">—</span>
          )}
        </dd>
        {spec && (
          <>
            <dt>Command</dt>
            <dd className="mono pl-wrap">{spec.cmd}</dd>
          </>
        )}
      </dl>
      {s.error && (
        <div className="error-banner" data-testid="step-error">
          <div className="error-message">{s.error}</div>
        </div>
      )}
      {s.logTail && (
        <>
          <h3 className="ds-h3">Log tail</h3>
          <pre className={`pl-tail${isFailedStep(s.status) ? " pl-tail-failed" : ""}`} data-testid="step-log-tail">
            {s.logTail}
          </pre>
        </>
      )}
      {outputs.length > 0 && (
        <>
          <h3 className="ds-h3">Outputs</h3>
          <table className="table kv" data-testid="step-outputs">
            <tbody>
              {outputs.map(([p, d]) => (
                <tr key={p}>
                  <td className="mono">{p}</td>
                  <td className="mono muted" title={d}>
                    {d.slice(0, 16)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </div>
  );
}
