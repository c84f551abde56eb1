import { useEffect, useState } from "react";
import { DATASET_LIMITS } from "@cairn/contract";
import { api } from "../lib/api.js";
import { href, navigate } from "../lib/router.js";
import { useAsync } from "../lib/use-async.js";
import { ErrorBanner } from "../components/error-banner.js";
import { LineageGraphView, nodeHref } from "../components/lineage-graph.js";
import type { PageProps } from "./registry.js";

type Direction = "upstream" | "downstream" | "both";
const DIRECTIONS: Direction[] = ["both", "upstream", "downstream"];

/** `#/lineage?node=dataset:NAME@vN&direction=both&depth=3`: the lineage graph around a dataset version, run or model version. */
export function LineagePage({ query }: PageProps) {
  const node = query.get("node") ?? "";
  const dirParam = query.get("direction") ?? "both";
  const direction: Direction = (DIRECTIONS as string[]).includes(dirParam) ? (dirParam as Direction) : "both";
  const depthNum = Number(query.get("depth") ?? DATASET_LIMITS.lineageDepthDefault);
  const depth = Number.isInteger(depthNum) ? Math.min(DATASET_LIMITS.lineageDepthMax, Math.max(1, depthNum)) : DATASET_LIMITS.lineageDepthDefault;
  const [draft, setDraft] = useState(node);
  useEffect(() => setDraft(node), [node]);
  const graph = useAsync(async () => (node ? api.getLineage({ query: { node, direction, depth } }) : undefined), [node, direction, depth]);
  const go = (patch: Record<string, string | undefined>) =>
    navigate("/lineage", { node: node || undefined, direction: direction === "both" ? undefined : direction, depth: depth === DATASET_LIMITS.lineageDepthDefault ? undefined : String(depth), ...patch }, { replace: true });
  const g = graph.data;

  return (
    <div className="page" data-testid="lineage-page">
      <div className="page-head">
        <h1>Lineage</h1>
        {g && (
          <span className="muted" data-testid="lineage-counts">
            {g.nodes.length} node{g.nodes.length === 1 ? "" : "s"} · {g.edges.length} edge{g.edges.length === 1 ? "" : "s"}
          </span>
        )}
      </div>
      <form
        className="toolbar"
        onSubmit={(e) => {
          e.preventDefault();
          go({ node: draft.trim() || undefined });
        }}
      >
        <input
          className="filter-input"
          placeholder="dataset:NAME@v3, run:RUN_ID or model:NAME/2"
          aria-label="Start node"
          data-testid="lineage-node-input"
          value={draft}
          onChange={(e) => setDraft(e.target.value)}
          spellCheck={false}
        />
        <label className="check small">
          Direction
          <select className="ds-select" aria-label="Direction" data-testid="lineage-direction" value={direction} onChange={(e) => go({ direction: e.target.value === "both" ? undefined : e.target.value })}>
            <option value="both">both</option>
            <option value="upstream">upstream (what it came from)</option>
            <option value="downstream">downstream (what used it)</option>
          </select>
        </label>
        <label className="check small">
          Depth
          <input
            className="filter-input small ds-depth"
            type="number"
            min={1}
            max={DATASET_LIMITS.lineageDepthMax}
            aria-label="Depth"
            data-testid="lineage-depth"
            value={depth}
            onChange={(e) => {
              const n = Number(e.target.value);
              if (Number.isInteger(n) && n >= 1 && n <= DATASET_LIMITS.lineageDepthMax) go({ depth: String(n) });
            }}
          />
        </label>
        <button type="submit" className="btn primary">
          Show
        </button>
      </form>
      {!node ? (
        <p className="empty" data-testid="lineage-empty">
          Enter a dataset version, run or model version to see where it came from and what used it. The dataset, run and model pages link here.
        </p>
      ) : g ? (
        <>
          {g.truncated && (
            <div className="filter-error" role="status" data-testid="lineage-truncated">
              The graph was cut short at {DATASET_LIMITS.lineageNodesMax} nodes; lower the depth or pick a narrower direction.
            </div>
          )}
          <div className="ds-legend muted small">
            <span className="ds-legend-item">
              <span className="ds-swatch ds-node-dataset" /> dataset version
            </span>
            <span className="ds-legend-item">
              <span className="ds-swatch ds-node-run" /> run
            </span>
            <span className="ds-legend-item">
              <span className="ds-swatch ds-node-model" /> model version
            </span>
            <span className="ds-legend-item">
              <span className="ds-swatch ds-node-deployment" /> deployment
            </span>
            <span>Click a node to open it.</span>
          </div>
          <section className="card ds-lineage-card">
            <LineageGraphView graph={g} />
            {g.nodes.length <= 1 && (
              <p className="muted small" data-testid="lineage-alone">
                No lineage recorded for this node yet: link runs to dataset versions (inputs and outputs) and register models from those runs.
              </p>
            )}
          </section>
          <section className="card">
            <h2>
              Nodes <span className="count">{g.nodes.length}</span>
            </h2>
            <div className="table-wrap">
              <table className="table" data-testid="lineage-node-table">
                <thead>
                  <tr>
                    <th>Kind</th>
                    <th>Node</th>
                    <th>Details</th>
                    <th />
                  </tr>
                </thead>
                <tbody>
                  {g.nodes.map((n) => {
                    const to = nodeHref(n);
                    return (
                      <tr key={n.id} data-testid="lineage-node-row" data-node-id={n.id}>
                        <td>
                          <span className={`badge ds-kind-${n.kind}`}>{n.kind}</span>
                        </td>
                        <td>{to ? <a href={to}>{n.label}</a> : n.label}</td>
                        <td className="muted small mono-ish">
                          {Object.entries(n.attrs)
                            .map(([k, v]) => `${k}=${v}`)
                            .join(" · ")}
                        </td>
                        <td className="ds-nowrap">
                          {n.id === g.root ? (
                            <span className="muted small">start</span>
                          ) : (
                            <a className="small" href={href("/lineage", { node: n.id, direction: direction === "both" ? undefined : direction, depth: String(depth) })} data-testid="lineage-recenter">
                              start here
                            </a>
                          )}
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
          </section>
        </>
      ) : graph.loading ? (
        <span className="spinner" />
      ) : (
        <ErrorBanner error={graph.error} title="Could not load the lineage" onRetry={graph.reload} />
      )}
    </div>
  );
}
