import { formatNumber } from "../lib/format.js";

/** A drift report's two distributions of one column: counts in shared bins (`edges`) or per value (`labels`). */
export interface DriftHistogramData {
  edges?: number[] | undefined;
  labels?: string[] | undefined;
  ref: number[];
  cur: number[];
}

const REF_COLOR = "#2f6db5";
const CUR_COLOR = "#e8762c";

function shares(counts: number[]): number[] {
  const total = counts.reduce((a, b) => a + b, 0);
  return counts.map((c) => (total > 0 ? c / total : 0));
}

function binLabel(h: DriftHistogramData, i: number): string {
  if (h.labels) return h.labels[i] ?? "";
  const e = h.edges ?? [];
  const last = i === h.ref.length - 1;
  return `[${formatNumber(Number((e[i] ?? 0).toPrecision(4)))}, ${formatNumber(Number((e[i + 1] ?? 0).toPrecision(4)))}${last ? "]" : ")"}`;
}

/**
 * The reference and current distributions of one column overlaid as SVG bars: the share of each
 * side's values per bin (numeric) or per value (categorical), so sides of different sizes compare.
 */
export function DriftHistogram({ column, histogram, height = 180 }: { column: string; histogram: DriftHistogramData; height?: number }) {
  const ref = shares(histogram.ref);
  const cur = shares(histogram.cur);
  const n = Math.max(ref.length, cur.length);
  const max = Math.max(0.0001, ...ref, ...cur);
  const W = 600;
  const padL = 40;
  const padB = histogram.labels ? 34 : 22;
  const plotW = W - padL - 8;
  const plotH = height - padB - 8;
  const bw = n > 0 ? plotW / n : plotW;
  const y = (v: number) => 8 + plotH - (v / max) * plotH;
  const ticks = [0, max / 2, max];
  const e = histogram.edges;
  return (
    <div className="mon-hist" data-testid="mon-drift-histogram" data-column={column} data-bins={n}>
      <svg viewBox={`0 0 ${W} ${height}`} width="100%" height={height} role="img" aria-label={`Reference and current distributions of ${column}`}>
        {ticks.map((t) => (
          <g key={t}>
            <line x1={padL} x2={W - 8} y1={y(t)} y2={y(t)} stroke="#eef0f3" />
            <text x={padL - 4} y={y(t) + 3} textAnchor="end" fontSize="10" fill="#5b6472">
              {`${formatNumber(Number((t * 100).toPrecision(3)))}%`}
            </text>
          </g>
        ))}
        {Array.from({ length: n }, (_, i) => {
          const x = padL + i * bw;
          const r = ref[i] ?? 0;
          const c = cur[i] ?? 0;
          return (
            <g key={i}>
              <title>{`${binLabel(histogram, i)}: reference ${formatNumber(Number((r * 100).toPrecision(3)))}% (${formatNumber(histogram.ref[i] ?? 0)}), current ${formatNumber(Number((c * 100).toPrecision(3)))}% (${formatNumber(histogram.cur[i] ?? 0)})`}</title>
              <rect x={x + 0.5} width={Math.max(0.5, bw - 1)} y={y(r)} height={8 + plotH - y(r)} fill={REF_COLOR} fillOpacity={0.45} stroke={REF_COLOR} strokeWidth={0.5} data-side="ref" data-share={r} />
              <rect x={x + 0.5} width={Math.max(0.5, bw - 1)} y={y(c)} height={8 + plotH - y(c)} fill={CUR_COLOR} fillOpacity={0.45} stroke={CUR_COLOR} strokeWidth={0.5} data-side="cur" data-share={c} />
              {histogram.labels && (
                <text x={x + bw / 2} y={height - padB + 14} textAnchor="middle" fontSize="10" fill="#5b6472">
                  {(histogram.labels[i] ?? "").slice(0, Math.max(3, Math.floor(bw / 6)))}
                </text>
              )}
            </g>
          );
        })}
        <line x1={padL} x2={W - 8} y1={8 + plotH} y2={8 + plotH} stroke="#dfe3e8" />
        {e && e.length > 1 && (
          <>
            <text x={padL} y={height - 6} fontSize="10" fill="#5b6472">
              {formatNumber(Number(e[0]!.toPrecision(4)))}
            </text>
            <text x={W - 8} y={height - 6} textAnchor="end" fontSize="10" fill="#5b6472">
              {formatNumber(Number(e[e.length - 1]!.toPrecision(4)))}
            </text>
          </>
        )}
      </svg>
      <div className="mon-hist-legend muted small" data-testid="mon-hist-legend">
        <span>
          <i className="mon-swatch" style={{ background: REF_COLOR }} /> reference ({formatNumber(histogram.ref.reduce((a, b) => a + b, 0))} values)
        </span>
        <span>
          <i className="mon-swatch" style={{ background: CUR_COLOR }} /> current ({formatNumber(histogram.cur.reduce((a, b) => a + b, 0))} values)
        </span>
        <span>bars: share of each side&apos;s values</span>
      </div>
    </div>
  );
}
