import type { PipelineRunStatus, StepRunStatus } from "@cairn/contract";

const RUN_COLORS: Record<PipelineRunStatus, string> = { queued: "gray", running: "blue", succeeded: "green", failed: "red", cancelled: "orange" };

/** The order step statuses are stacked in, finished-good first. */
export const STEP_STATUS_ORDER: readonly StepRunStatus[] = ["succeeded", "cached", "running", "ready", "waiting", "failed", "timeout", "oom", "skipped", "cancelled"];

/** Whether a pipeline run can still change (the UI keeps polling it). */
export function isLiveRun(status: string): boolean {
  return status === "queued" || status === "running";
}

/** Whether a step ended badly (shown red). */
export function isFailedStep(status: string): boolean {
  return status === "failed" || status === "timeout" || status === "oom";
}

/** A pipeline run's status (queued, running, succeeded, failed, cancelled) as a colored badge. */
export function PipelineStatusBadge({ status, testId }: { status: string; testId?: string }) {
  return (
    <span className={`badge ${RUN_COLORS[status as PipelineRunStatus] ?? "gray"}`} title={status} data-testid={testId} data-status={status}>
      {status}
    </span>
  );
}

/** A step's status as a small badge using the DAG's node colors. */
export function StepStatusBadge({ status }: { status: string }) {
  return (
    <span className={`badge pl-step-badge pl-st-${status}`} data-status={status}>
      {status}
    </span>
  );
}

/** A thin horizontal bar of a run's step counts by status, with the counts in its tooltip. */
export function StepCountsBar({ counts }: { counts: Record<string, number> }) {
  const known = new Set<string>(STEP_STATUS_ORDER);
  const entries = [...STEP_STATUS_ORDER.map((s) => [s, counts[s] ?? 0] as const), ...Object.entries(counts).filter(([s]) => !known.has(s))].filter(([, n]) => n > 0);
  const total = entries.reduce((a, [, n]) => a + n, 0);
  const title = entries.map(([s, n]) => `${n} ${s}`).join(", ");
  return (
    <span className="pl-step-counts" title={title} data-testid="step-counts">
      <span className="pl-bar">
        {entries.map(([s, n]) => (
          <span key={s} className={`pl-bar-seg pl-st-${s}`} style={{ width: `${(100 * n) / total}%` }} data-status={s} data-count={n} />
        ))}
      </span>
      <span className="muted small">{total === 0 ? "no steps" : entries.map(([s, n]) => `${n} ${s}`).join(" · ")}</span>
    </span>
  );
}
