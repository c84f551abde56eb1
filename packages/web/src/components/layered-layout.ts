/** A node placed by {@link layoutLayers}: its column (layer) and top-left corner. */
export interface PlacedNode<N> {
  node: N;
  layer: number;
  x: number;
  y: number;
}

/** Sizes and ordering for {@link layoutLayers}. */
export interface LayerLayoutOptions<N> {
  nodes: readonly N[];
  edges: readonly { from: string; to: string }[];
  id: (n: N) => string;
  /** Orders nodes of one column whose predecessors sit at the same mean row. */
  tieBreak: (a: N, b: N) => number;
  nodeW: number;
  nodeH: number;
  colGap: number;
  rowGap: number;
  pad: number;
}

/**
 * Layered left-to-right layout of a directed graph: a node's column is the longest edge path
 * reaching it; within a column nodes are ordered by the mean row of their predecessors, to keep
 * edges short, and each column is centered vertically against the tallest one. Edges to unknown
 * nodes and self-loops are ignored; a cycle cannot loop forever (relaxation is capped).
 * @example layoutLayers({ nodes: ["a", "b"], edges: [{ from: "a", to: "b" }], id: (n) => n, tieBreak: (a, b) => a.localeCompare(b), nodeW: 100, nodeH: 40, colGap: 60, rowGap: 10, pad: 8 })
 */
export function layoutLayers<N>(o: LayerLayoutOptions<N>): { placed: PlacedNode<N>[]; width: number; height: number } {
  const ids = new Set(o.nodes.map(o.id));
  const edges = o.edges.filter((e) => ids.has(e.from) && ids.has(e.to) && e.from !== e.to);
  const layer = new Map<string, number>(o.nodes.map((n) => [o.id(n), 0]));
  // Bellman-Ford style relaxation, capped so a cycle cannot loop forever.
  for (let round = 0; round < o.nodes.length; round++) {
    let changed = false;
    for (const e of edges) {
      const want = layer.get(e.from)! + 1;
      if (layer.get(e.to)! < want && want < o.nodes.length) {
        layer.set(e.to, want);
        changed = true;
      }
    }
    if (!changed) break;
  }
  const columns = new Map<number, N[]>();
  for (const n of o.nodes) {
    const l = layer.get(o.id(n))!;
    columns.set(l, [...(columns.get(l) ?? []), n]);
  }
  const layers = [...columns.keys()].sort((a, b) => a - b);
  const row = new Map<string, number>();
  const preds = new Map<string, string[]>();
  for (const e of edges) preds.set(e.to, [...(preds.get(e.to) ?? []), e.from]);
  const placed: PlacedNode<N>[] = [];
  let maxRows = 0;
  layers.forEach((l, col) => {
    const nodes = columns.get(l)!;
    const bary = (n: N) => {
      const ps = (preds.get(o.id(n)) ?? []).map((p) => row.get(p)).filter((r): r is number => r !== undefined);
      return ps.length ? ps.reduce((a, b) => a + b, 0) / ps.length : Number.POSITIVE_INFINITY;
    };
    nodes.sort((a, b) => {
      const ba = bary(a);
      const bb = bary(b);
      if (ba !== bb) return ba === Number.POSITIVE_INFINITY ? 1 : bb === Number.POSITIVE_INFINITY ? -1 : ba - bb;
      return o.tieBreak(a, b);
    });
    nodes.forEach((n, i) => {
      row.set(o.id(n), i);
      placed.push({ node: n, layer: col, x: o.pad + col * (o.nodeW + o.colGap), y: 0 });
    });
    maxRows = Math.max(maxRows, nodes.length);
  });
  const heightOf = (rows: number) => rows * o.nodeH + (rows - 1) * o.rowGap;
  const total = heightOf(maxRows);
  for (const p of placed) {
    const count = columns.get(layers[p.layer]!)!.length;
    p.y = o.pad + (total - heightOf(count)) / 2 + row.get(o.id(p.node))! * (o.nodeH + o.rowGap);
  }
  return {
    placed,
    width: o.pad * 2 + layers.length * o.nodeW + Math.max(0, layers.length - 1) * o.colGap,
    height: o.pad * 2 + Math.max(total, o.nodeH),
  };
}

/**
 * The SVG path of an edge from the right side of one placed node to the left side of another: a
 * horizontal S-curve, at least `minBend` wide so short hops still read as arrows.
 */
export function edgePath(from: { x: number; y: number }, to: { x: number; y: number }, nodeW: number, nodeH: number, minBend: number): string {
  const x1 = from.x + nodeW;
  const y1 = from.y + nodeH / 2;
  const x2 = to.x;
  const y2 = to.y + nodeH / 2;
  const dx = Math.max(minBend, Math.abs(x2 - x1) / 2);
  return `M ${x1} ${y1} C ${x1 + dx} ${y1}, ${x2 - dx} ${y2}, ${x2} ${y2}`;
}
