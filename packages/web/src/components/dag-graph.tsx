import type { StepState } from "@cairn/contract";
import { formatDuration } from "../lib/format.js";
import { edgePath, layoutLayers } from "./layered-layout.js";

const NODE_W = 168;
const NODE_H = 50;
const COL_GAP = 48;
const ROW_GAP = 16;
const PAD = 14;

function clip(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

/** The second line of a node: duration (running: so far) and the attempt when it retried. */
function nodeDetail(s: StepState, now: number): string {
  const ms = s.durationMs ?? (s.startedAt ? (s.endedAt ?? now) - s.startedAt : undefined);
  const parts = [formatDuration(ms) || (s.status === "waiting" || s.status === "ready" ? s.status : "")];
  if (s.attempts > 1) parts.push(`retry ${s.attempts}/${s.maxAttempts}`);
  return parts.filter(Boolean).join(" · ");
}

/**
 * A pipeline run's steps as an SVG DAG: steps in layers by dependency (edges from `after`), each
 * node colored by status, with its duration and attempts; `cached` steps carry a marker and running
 * ones pulse. Clicking (or Enter on) a node calls `onSelect`.
 */
export function DagGraph({ steps, selected, onSelect, now = Date.now() }: { steps: StepState[]; selected: string | undefined; onSelect: (step: string) => void; now?: number }) {
  const edges = steps.flatMap((s) => s.after.map((a) => ({ from: a, to: s.name })));
  const { placed, width, height } = layoutLayers({
    nodes: steps,
    edges,
    id: (s) => s.name,
    tieBreak: (a, b) => a.name.localeCompare(b.name),
    nodeW: NODE_W,
    nodeH: NODE_H,
    colGap: COL_GAP,
    rowGap: ROW_GAP,
    pad: PAD,
  });
  const at = new Map(placed.map((p) => [p.node.name, p]));
  return (
    <div className="pl-dag-scroll">
      <svg className="pl-dag" width={width} height={height} viewBox={`0 0 ${width} ${height}`} data-testid="dag" role="group" aria-label="Pipeline steps">
        <defs>
          <marker id="pl-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M 0 0 L 10 5 L 0 10 z" fill="#8a94a3" />
          </marker>
        </defs>
        {edges.map((e) => {
          const a = at.get(e.from);
          const b = at.get(e.to);
          if (!a || !b) return null;
          return <path key={`${e.from}->${e.to}`} className={`pl-edge pl-edge-${a.node.status}`} d={edgePath(a, b, NODE_W, NODE_H, 24)} markerEnd="url(#pl-arrow)" data-testid="dag-edge" data-from={e.from} data-to={e.to} />;
        })}
        {placed.map(({ node: s, x, y }) => {
          const isSel = s.name === selected;
          return (
            <g
              key={s.name}
              className={`pl-node pl-st-${s.status}${isSel ? " pl-node-selected" : ""}`}
              data-testid="dag-node"
              data-step={s.name}
              data-status={s.status}
              data-selected={isSel ? "true" : "false"}
              tabIndex={0}
              role="button"
              aria-label={`Step ${s.name}: ${s.status}`}
              aria-pressed={isSel}
              onClick={() => onSelect(s.name)}
              onKeyDown={(e) => {
                if (e.key === "Enter" || e.key === " ") {
                  e.preventDefault();
                  onSelect(s.name);
                }
              }}
            >
              {s.status === "running" && <rect className="pl-node-pulse" x={x} y={y} width={NODE_W} height={NODE_H} rx={7} />}
              <rect className="pl-node-box" x={x} y={y} width={NODE_W} height={NODE_H} rx={7} />
              <rect className="pl-node-stripe" x={x} y={y} width={5} height={NODE_H} rx={2} />
              <text className="pl-node-label" x={x + 14} y={y + 20}>
                {clip(s.name, 18)}
              </text>
              <text className="pl-node-status" x={x + NODE_W - 10} y={y + 20} textAnchor="end">
                {s.status === "cached" ? "⚡ cached" : s.status}
              </text>
              <text className="pl-node-sub" x={x + 14} y={y + 38} data-testid="dag-node-detail">
                {nodeDetail(s, now)}
              </text>
              {s.resources.gpu > 0 && (
                <text className="pl-node-sub" x={x + NODE_W - 10} y={y + 38} textAnchor="end">
                  {s.resources.gpu} GPU
                </text>
              )}
              <title>{[`${s.name}: ${s.status}`, s.after.length ? `after ${s.after.join(", ")}` : "", s.error ?? ""].filter(Boolean).join("\n")}</title>
            </g>
          );
        })}
      </svg>
    </div>
  );
}
