import type { LineageEdge, LineageGraph as Graph, LineageNode } from "@cairn/contract";
import { href } from "../lib/router.js";
import { edgePath, layoutLayers, type PlacedNode } from "./layered-layout.js";

const NODE_W = 196;
const NODE_H = 46;
const COL_GAP = 86;
const ROW_GAP = 16;
const PAD = 16;

/** Parses a node id: `dataset:NAME@vN`, `run:ID`, `model:NAME/N`, `deployment:NAME` (attrs win where present). */
export function nodeTarget(n: LineageNode): { path: string; query?: Record<string, string> } | undefined {
  const id = n.id;
  if (n.kind === "dataset") {
    const m = /^dataset:(.+)@v?(\d+)$/.exec(id);
    const name = n.attrs.dataset ?? n.attrs.name ?? m?.[1];
    const version = (n.attrs.version ?? m?.[2])?.replace(/^v/, "");
    if (!name) return undefined;
    return { path: `/datasets/${encodeURIComponent(name)}`, ...(version ? { query: { version } } : {}) };
  }
  if (n.kind === "run") {
    const runId = n.attrs.runId ?? id.replace(/^run:/, "");
    return { path: `/runs/${encodeURIComponent(runId)}` };
  }
  if (n.kind === "deployment") return { path: `/deployments/${encodeURIComponent(n.attrs.deployment ?? id.replace(/^deployment:/, ""))}` };
  const m = /^model:(.+)\/(\d+)$/.exec(id);
  const name = n.attrs.model ?? n.attrs.name ?? m?.[1];
  const version = n.attrs.version ?? m?.[2];
  if (!name) return undefined;
  return { path: `/models/${encodeURIComponent(name)}`, ...(version ? { query: { version } } : {}) };
}

/** The hash href a node opens: the dataset page at that version, the run page, the model page. */
export function nodeHref(n: LineageNode): string | undefined {
  const t = nodeTarget(n);
  return t ? href(t.path, t.query) : undefined;
}

/** A short second line for a node: a run's status, a model's or dataset's version. */
function subtitle(n: LineageNode): string {
  if (n.kind === "run") return [n.attrs.status?.toLowerCase(), n.attrs.runName && n.attrs.runName !== n.label ? n.attrs.runName : undefined].filter(Boolean).join(" · ") || n.id.slice(4, 16);
  if (n.kind === "deployment") return [`primary v${n.attrs.primary}`, n.attrs.canary ? `canary v${n.attrs.canary}` : undefined, n.attrs.shadow ? `shadow v${n.attrs.shadow}` : undefined].filter(Boolean).join(" · ");
  if (n.kind === "model") {
    const m = /\/(\d+)$/.exec(n.id);
    return n.attrs.version ? `version ${n.attrs.version}` : m ? `version ${m[1]}` : "";
  }
  const m = /@(v?\d+)$/.exec(n.id);
  return n.attrs.version ? `version ${n.attrs.version.replace(/^v/, "")}` : m ? `version ${m[1]!.replace(/^v/, "")}` : "";
}

function clip(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

/**
 * Layered layout (see {@link layoutLayers}): datasets → runs → models/outputs read left to right;
 * ties within a column go datasets first, then runs, then models, then by label.
 */
export function layoutLineage(graph: Graph): { placed: PlacedNode<LineageNode>[]; width: number; height: number } {
  const kindOrder = { dataset: 0, run: 1, model: 2, deployment: 3 } as const;
  return layoutLayers({
    nodes: graph.nodes,
    edges: graph.edges,
    id: (n) => n.id,
    tieBreak: (a, b) => kindOrder[a.kind] - kindOrder[b.kind] || a.label.localeCompare(b.label),
    nodeW: NODE_W,
    nodeH: NODE_H,
    colGap: COL_GAP,
    rowGap: ROW_GAP,
    pad: PAD,
  });
}

const EDGE_LABEL: Record<LineageEdge["kind"], string> = { input: "input of", output: "produced", model: "registered as", deployment: "served by" };

/** The lineage graph drawn as SVG: nodes in layered columns, edges as curves; every node is a link. */
export function LineageGraphView({ graph }: { graph: Graph }) {
  const { placed, width, height } = layoutLineage(graph);
  const at = new Map(placed.map((p) => [p.node.id, p]));
  return (
    <div className="ds-lineage-scroll">
      <svg className="ds-lineage" width={width} height={height} viewBox={`0 0 ${width} ${height}`} data-testid="lineage-graph" role="group" aria-label={`Lineage graph around ${graph.root}`}>
        <defs>
          <marker id="ds-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M 0 0 L 10 5 L 0 10 z" fill="#8a94a3" />
          </marker>
        </defs>
        {graph.edges.map((e, i) => {
          const a = at.get(e.from);
          const b = at.get(e.to);
          if (!a || !b) return null;
          return (
            <path
              key={i}
              className={`ds-edge ds-edge-${e.kind}`}
              d={edgePath(a, b, NODE_W, NODE_H, 30)}
              markerEnd="url(#ds-arrow)"
              data-testid="lineage-edge"
              data-from={e.from}
              data-to={e.to}
              data-kind={e.kind}
            >
              <title>{`${e.from} ${EDGE_LABEL[e.kind]} ${e.to}${e.context ? ` (${e.context})` : ""}`}</title>
            </path>
          );
        })}
        {placed.map(({ node: n, x, y }) => {
          const to = nodeHref(n);
          const root = n.id === graph.root;
          const body = (
            <>
              <rect className={`ds-node-box ds-node-${n.kind}${root ? " ds-node-root" : ""}`} x={x} y={y} width={NODE_W} height={NODE_H} rx={6} />
              <text className="ds-node-kind" x={x + 10} y={y + 15}>
                {n.kind}
              </text>
              <text className="ds-node-label" x={x + 10} y={y + 32}>
                {clip(n.label, 24)}
              </text>
              <text className="ds-node-sub" x={x + NODE_W - 8} y={y + 15} textAnchor="end">
                {clip(subtitle(n), 18)}
              </text>
              <title>{[n.id, ...Object.entries(n.attrs).map(([k, v]) => `${k}: ${v}`)].join("\n")}</title>
            </>
          );
          return to ? (
            <a key={n.id} href={to} className="ds-node" data-testid="lineage-node" data-node-id={n.id} data-kind={n.kind} data-root={root ? "true" : "false"} aria-label={`${n.kind} ${n.label}`}>
              {body}
            </a>
          ) : (
            <g key={n.id} className="ds-node" data-testid="lineage-node" data-node-id={n.id} data-kind={n.kind} data-root={root ? "true" : "false"}>
              {body}
            </g>
          );
        })}
      </svg>
    </div>
  );
}
