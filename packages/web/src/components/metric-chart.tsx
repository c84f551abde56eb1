import { useEffect, useRef, useState } from "react";
import uPlot from "uplot";
import type { MetricBucket } from "@cairn/contract";
import { toNumber } from "../lib/api.js";
import { formatNumber, formatTick } from "../lib/format.js";
import { useInView } from "../lib/use-async.js";
import { ErrorBanner } from "./error-banner.js";

/** A step range the user zoomed to. */
export interface StepRange {
  min: number;
  max: number;
}

/** One line of a chart: a downsampled series. */
export interface ChartLine {
  label: string;
  buckets: MetricBucket[];
  /** Raw points in the range (shown in the caption). */
  totalPoints?: number;
}

export const PALETTE = ["#2f6db5", "#e8762c", "#2a9d5b", "#d13f4f", "#8a5cc2", "#8c6d4f", "#d660a8", "#6b7280", "#b8a21c", "#1ba3b8"];

/** The color of the n-th series, shared by charts and tables so runs keep their color. */
export function seriesColor(i: number): string {
  return PALETTE[i % PALETTE.length]!;
}

function finiteOrNull(v: unknown): number | null {
  const n = toNumber(v);
  return Number.isFinite(n) ? n : null;
}

function withAlpha(hex: string, a: number): string {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${a})`;
}

interface Built {
  data: uPlot.AlignedData;
  series: uPlot.Series[];
  bands: uPlot.Band[];
}

function build(lines: ChartLine[], band: boolean, colors: string[] | undefined): Built {
  const colorOf = (i: number) => colors?.[i] ?? seriesColor(i);
  const valueFmt = (_u: uPlot, v: number | null) => (v === null || v === undefined ? "–" : formatNumber(v));
  if (band && lines.length === 1) {
    const l = lines[0]!;
    const c = colorOf(0);
    const x = l.buckets.map((b) => toNumber(b.lastStep));
    return {
      data: [x, l.buckets.map((b) => finiteOrNull(b.last)), l.buckets.map((b) => finiteOrNull(b.min)), l.buckets.map((b) => finiteOrNull(b.max))],
      series: [
        { label: "step", value: (_u, v) => (v === null ? "–" : formatNumber(v)) },
        { label: l.label, stroke: c, width: 1.5, value: valueFmt, spanGaps: false },
        { label: "min", stroke: withAlpha(c, 0.35), width: 0.5, value: valueFmt, points: { show: false } },
        { label: "max", stroke: withAlpha(c, 0.35), width: 0.5, value: valueFmt, points: { show: false } },
      ],
      bands: [{ series: [3, 2], fill: withAlpha(c, 0.14) }],
    };
  }
  const tables: uPlot.AlignedData[] = lines.map((l) => [l.buckets.map((b) => toNumber(b.lastStep)), l.buckets.map((b) => finiteOrNull(b.last))]);
  const data = tables.length ? uPlot.join(tables) : ([[]] as unknown as uPlot.AlignedData);
  return {
    data,
    series: [
      { label: "step", value: (_u, v) => (v === null ? "–" : formatNumber(v)) },
      ...lines.map((l, i): uPlot.Series => ({ label: l.label, stroke: colorOf(i), width: 1.5, value: valueFmt, spanGaps: true })),
    ],
    bands: [],
  };
}

/**
 * An interactive uPlot chart of downsampled metric series. Drag to zoom: the chart
 * asks `load` again for the selected step range, so more detail appears; double-click resets.
 * It loads only once scrolled into view. `loadKey` identifies what `load` fetches.
 */
export function MetricChart(props: {
  title: string;
  loadKey: string;
  load: (range: StepRange | undefined) => Promise<ChartLine[]>;
  /** Draw a min–max band (single series only). */
  band?: boolean;
  /** Colors per line (default: the palette in order). */
  colors?: string[];
  height?: number;
}) {
  const { title, loadKey, band = true, height = 200 } = props;
  const [containerRef, inView] = useInView<HTMLDivElement>();
  const plotRef = useRef<HTMLDivElement>(null);
  const uplotRef = useRef<uPlot | null>(null);
  const structRef = useRef("");
  const loadRef = useRef(props.load);
  loadRef.current = props.load;
  const colorsRef = useRef(props.colors);
  colorsRef.current = props.colors;
  const [range, setRange] = useState<StepRange | undefined>(undefined);
  const [lines, setLines] = useState<ChartLine[] | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState(false);
  const setRangeRef = useRef(setRange);

  useEffect(() => setRange(undefined), [loadKey]);

  useEffect(() => {
    if (!inView) return;
    let live = true;
    setLoading(true);
    setError(undefined);
    loadRef.current(range).then(
      (l) => {
        if (!live) return;
        setLines(l);
        setLoading(false);
      },
      (e: unknown) => {
        if (!live) return;
        setError(e);
        setLoading(false);
      },
    );
    return () => {
      live = false;
    };
  }, [inView, range, loadKey]);

  // Build or update the uPlot instance when data arrives.
  useEffect(() => {
    const el = plotRef.current;
    if (!el || !lines) return;
    const built = build(lines, band, colorsRef.current);
    const struct = `${band}|${built.series.map((s) => `${String(s.label)}:${String(s.stroke)}`).join(",")}`;
    if (uplotRef.current && structRef.current === struct) {
      uplotRef.current.setData(built.data, true);
      return;
    }
    uplotRef.current?.destroy();
    structRef.current = struct;
    const width = Math.max(200, el.clientWidth || 400);
    const opts: uPlot.Options = {
      width,
      height,
      scales: { x: { time: false } },
      series: built.series,
      bands: built.bands,
      legend: { show: true, live: true },
      cursor: { drag: { x: true, y: false, setScale: false }, points: { size: 6 } },
      axes: [
        { size: 32, stroke: "#5b6472", grid: { stroke: "#eef0f3", width: 1 }, ticks: { stroke: "#dfe3e8", width: 1 }, values: (_u, ticks) => ticks.map(formatTick) },
        { size: 52, stroke: "#5b6472", grid: { stroke: "#eef0f3", width: 1 }, ticks: { stroke: "#dfe3e8", width: 1 }, values: (_u, ticks) => ticks.map(formatTick) },
      ],
      hooks: {
        setSelect: [
          (u) => {
            const { left, width: w } = u.select;
            if (w < 3) return;
            const min = Math.floor(u.posToVal(left, "x"));
            const max = Math.ceil(u.posToVal(left + w, "x"));
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            if (max <= min) return;
            u.setScale("x", { min, max });
            setRangeRef.current({ min, max });
          },
        ],
      },
    };
    const u = new uPlot(opts, built.data, el);
    u.over.addEventListener("dblclick", () => setRangeRef.current(undefined));
    uplotRef.current = u;
  }, [lines, band, height]);

  useEffect(() => {
    const el = plotRef.current;
    if (!el || typeof ResizeObserver === "undefined") return;
    const ro = new ResizeObserver(() => {
      const u = uplotRef.current;
      if (u && el.clientWidth > 0 && Math.abs(u.width - el.clientWidth) > 1) u.setSize({ width: el.clientWidth, height });
    });
    ro.observe(el);
    return () => ro.disconnect();
  }, [height]);

  useEffect(
    () => () => {
      uplotRef.current?.destroy();
      uplotRef.current = null;
    },
    [],
  );

  const points = lines?.reduce((n, l) => n + (l.totalPoints ?? 0), 0) ?? 0;
  const empty = lines !== undefined && lines.every((l) => l.buckets.length === 0);
  return (
    <div className="chart-card" ref={containerRef} data-testid="metric-chart" data-metric={title} data-loading={loading ? "true" : "false"}>
      <div className="chart-head">
        <span className="chart-title" title={title}>
          {title}
        </span>
        <span className="chart-meta">
          {loading && <span className="spinner" aria-label="loading" />}
          {range ? (
            <>
              steps {formatNumber(range.min)}–{formatNumber(range.max)}{" "}
              <button type="button" className="link-btn" onClick={() => setRange(undefined)}>
                reset zoom
              </button>
            </>
          ) : (
            points > 0 && <span title="Raw points in range; drag across the chart to zoom, double-click to reset">{formatNumber(points)} pts</span>
          )}
        </span>
      </div>
      {error !== undefined && <ErrorBanner error={error} title={`Could not load ${title}`} />}
      {empty && <div className="muted small chart-empty">No points in this range.</div>}
      <div className="chart-plot" ref={plotRef} style={{ minHeight: lines ? undefined : height + 28 }} />
    </div>
  );
}
