import { useEffect, useRef, useState } from "react";
import uPlot from "uplot";
import { formatNumber, formatTick } from "../lib/format.js";

/**
 * A fixed-edge histogram (a numeric column's profile) drawn with uPlot bars: `edges` has one more
 * element than `counts`. Hovering a bar shows its range and count below the chart.
 */
export function Histogram({ column, edges, counts, height = 130, color = "#2f6db5" }: { column: string; edges: number[]; counts: number[]; height?: number; color?: string }) {
  const ref = useRef<HTMLDivElement>(null);
  const [hover, setHover] = useState<number | null>(null);
  const total = counts.reduce((a, b) => a + b, 0);
  const key = `${edges.join(",")}|${counts.join(",")}`;

  useEffect(() => {
    const el = ref.current;
    if (!el || counts.length === 0 || edges.length < 2) return;
    const lo = edges[0]!;
    let hi = edges[edges.length - 1]!;
    if (!(hi > lo)) hi = lo + 1;
    const x = counts.map((_, i) => edges[i]!);
    const opts: uPlot.Options = {
      width: Math.max(160, el.clientWidth || 280),
      height,
      legend: { show: false },
      cursor: { drag: { x: false, y: false, setScale: false }, points: { show: false } },
      scales: {
        x: { time: false, range: () => [lo, hi] },
        y: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.05] },
      },
      series: [
        {},
        {
          label: "count",
          stroke: color,
          width: 1,
          fill: `${color}99`,
          points: { show: false },
          paths: uPlot.paths.bars!({ align: 1, size: [1, Infinity], gap: 1 }),
        },
      ],
      axes: [
        { size: 26, stroke: "#5b6472", grid: { show: false }, ticks: { stroke: "#dfe3e8", width: 1 }, values: (_u, ticks) => ticks.map(formatTick) },
        { size: 40, stroke: "#5b6472", grid: { stroke: "#eef0f3", width: 1 }, ticks: { stroke: "#dfe3e8", width: 1 }, values: (_u, ticks) => ticks.map(formatTick) },
      ],
      hooks: {
        setCursor: [
          (u) => {
            const left = u.cursor.left ?? -1;
            if (left < 0) return setHover(null);
            const v = u.posToVal(left, "x");
            let i = -1;
            for (let k = 0; k < counts.length; k++) if (v >= edges[k]! && (v < edges[k + 1]! || k === counts.length - 1)) i = k;
            setHover(i < 0 ? null : i);
          },
        ],
      },
    };
    const u = new uPlot(opts, [x, counts], el);
    const ro = typeof ResizeObserver === "undefined" ? undefined : new ResizeObserver(() => {
      if (el.clientWidth > 0 && Math.abs(u.width - el.clientWidth) > 1) u.setSize({ width: el.clientWidth, height });
    });
    ro?.observe(el);
    return () => {
      ro?.disconnect();
      u.destroy();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, height, color]);

  const h = hover === null ? undefined : { from: edges[hover]!, to: edges[hover + 1]!, count: counts[hover]! };
  return (
    <div className="ds-histogram" data-testid="histogram" data-column={column} role="img" aria-label={`Histogram of ${column}: ${counts.length} bins, ${formatNumber(total)} values`}>
      {counts.length === 0 ? <div className="muted small">No values.</div> : <div className="ds-histogram-plot" ref={ref} style={{ minHeight: height }} />}
      <div className="muted small ds-histogram-readout" data-testid="histogram-readout">
        {h ? (
          <>
            [{formatNumber(h.from)}, {formatNumber(h.to)}
            {hover === counts.length - 1 ? "]" : ")"}: <strong>{formatNumber(h.count)}</strong>
          </>
        ) : (
          <>
            {counts.length} bins · {formatNumber(total)} values
          </>
        )}
      </div>
    </div>
  );
}
