import { useState } from "react";
import { formatNumber, formatTick } from "../lib/format.js";

/** One line of the chart: a trial's params and its objective (undefined when it has none, e.g. failed). */
export interface PcTrial {
  id: string;
  label: string;
  params: Record<string, string>;
  objective: number | undefined;
}

/** An axis: numeric (linear or log) or categorical (values as evenly spaced points). */
interface Axis {
  key: string;
  label: string;
  kind: "linear" | "log" | "category";
  min: number;
  max: number;
  categories: string[];
}

const W = 960;
const H = 320;
const M = { top: 34, right: 70, bottom: 22, left: 60 };

function isNumeric(v: string): boolean {
  return v.trim() !== "" && Number.isFinite(Number(v));
}

/** Numeric axes span their values; ones over more than two decades (all positive) are logarithmic. */
function numericAxis(key: string, label: string, values: number[]): Axis {
  const finite = values.filter(Number.isFinite);
  let min = finite.length ? Math.min(...finite) : 0;
  let max = finite.length ? Math.max(...finite) : 1;
  const log = min > 0 && max / min > 100;
  if (min === max) {
    const d = log ? min * 0.5 : Math.abs(min) * 0.1 || 1;
    min -= d;
    max += d;
  }
  return { key, label, kind: log ? "log" : "linear", min, max, categories: [] };
}

function buildAxes(trials: PcTrial[], params: string[], objective: string): Axis[] {
  const axes = params.map((p) => {
    const vals = trials.map((t) => t.params[p]).filter((v): v is string => v !== undefined);
    if (vals.length > 0 && vals.every(isNumeric)) return numericAxis(p, p, vals.map(Number));
    const categories = [...new Set(vals)].sort((a, b) => a.localeCompare(b));
    return { key: p, label: p, kind: "category" as const, min: 0, max: Math.max(categories.length - 1, 1), categories };
  });
  axes.push(numericAxis("\u0000objective", objective, trials.map((t) => t.objective).filter((v): v is number => v !== undefined)));
  return axes;
}

/** 0 at the bottom, 1 at the top; undefined when the trial has no value on this axis. */
function position(a: Axis, raw: string | number | undefined): number | undefined {
  if (raw === undefined) return undefined;
  if (a.kind === "category") {
    const i = a.categories.indexOf(String(raw));
    if (i < 0) return undefined;
    return a.categories.length === 1 ? 0.5 : i / (a.categories.length - 1);
  }
  const v = typeof raw === "number" ? raw : Number(raw);
  if (!Number.isFinite(v)) return undefined;
  if (a.kind === "log") return v > 0 ? (Math.log10(v) - Math.log10(a.min)) / (Math.log10(a.max) - Math.log10(a.min)) : undefined;
  return (v - a.min) / (a.max - a.min);
}

/** Tick values for an axis: powers of ten (log), about five round numbers (linear), or every category. */
function ticks(a: Axis): { at: number; label: string }[] {
  if (a.kind === "category") return a.categories.map((c, i) => ({ at: a.categories.length === 1 ? 0.5 : i / (a.categories.length - 1), label: c }));
  if (a.kind === "log") {
    const out: { at: number; label: string }[] = [];
    for (let e = Math.ceil(Math.log10(a.min)); e <= Math.floor(Math.log10(a.max)); e++) out.push({ at: position(a, 10 ** e)!, label: formatTick(10 ** e) });
    return out;
  }
  const span = a.max - a.min;
  const raw = span / 4;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: { at: number; label: string }[] = [];
  for (let v = Math.ceil(a.min / step) * step; v <= a.max + step * 1e-9; v += step) out.push({ at: (v - a.min) / span, label: formatTick(Number(v.toPrecision(12))) });
  return out;
}

/** Objective color: `t` = 1 for the best value, 0 for the worst (orange → blue). */
function rampColor(t: number): string {
  return `hsl(${Math.round(28 + t * 182)}, 68%, ${Math.round(52 - t * 10)}%)`;
}

/**
 * A parallel-coordinates chart of sweep trials: one vertical axis per param (linear, log when the
 * values span more than two decades, or categorical points) and the objective as the last axis; lines
 * are colored by objective (blue = better), the best trial is drawn bold. Hovering a line highlights
 * it; clicking pins it (`onSelect`), and the highlighted trial's params show under the chart.
 */
export function ParallelCoordinates({
  trials,
  params,
  objective,
  direction,
  bestId,
  selectedId,
  onSelect,
}: {
  trials: PcTrial[];
  params: string[];
  objective: string;
  direction: "minimize" | "maximize";
  bestId: string | undefined;
  selectedId: string | undefined;
  onSelect: (id: string | undefined) => void;
}) {
  const [hover, setHover] = useState<string | undefined>(undefined);
  const axes = buildAxes(trials, params, objective);
  const objAxis = axes[axes.length - 1]!;
  const innerW = W - M.left - M.right;
  const innerH = H - M.top - M.bottom;
  const xOf = (i: number) => M.left + (axes.length === 1 ? innerW / 2 : (i * innerW) / (axes.length - 1));
  const yOf = (p: number) => M.top + (1 - p) * innerH;
  const focus = hover ?? selectedId;

  const lineOf = (t: PcTrial): string => {
    let d = "";
    let pen = false;
    axes.forEach((a, i) => {
      const p = position(a, i === axes.length - 1 ? t.objective : t.params[a.key]);
      if (p === undefined) {
        pen = false;
        return;
      }
      d += `${pen ? "L" : "M"} ${xOf(i).toFixed(1)} ${yOf(p).toFixed(1)} `;
      pen = true;
    });
    return d.trim();
  };
  const colorOf = (t: PcTrial): string => {
    if (t.objective === undefined || !Number.isFinite(t.objective)) return "#b8bec8";
    const p = position(objAxis, t.objective) ?? 0.5;
    return rampColor(direction === "minimize" ? 1 - p : p);
  };
  // Dim lines first, then the best, then the focused one, so the emphasized lines sit on top.
  const order = [...trials].sort((a, b) => rank(a) - rank(b));
  function rank(t: PcTrial): number {
    return t.id === focus ? 2 : t.id === bestId ? 1 : 0;
  }
  const focused = trials.find((t) => t.id === focus);

  return (
    <div className="pc" data-testid="parallel-coordinates">
      <svg className="pc-svg" viewBox={`0 0 ${W} ${H}`} width="100%" preserveAspectRatio="xMidYMid meet" onMouseLeave={() => setHover(undefined)} role="img" aria-label={`Parallel coordinates of ${trials.length} trials`}>
        {/* Lines first: the axes and their labels stay readable on top. */}
        {order.map((t) => {
          const d = lineOf(t);
          const cls = ["pc-line", t.id === bestId ? "pc-best" : "", t.id === focus ? "pc-focus" : "", focus && t.id !== focus && t.id !== bestId ? "pc-dim" : ""].filter(Boolean).join(" ");
          return (
            <g key={t.id}>
              <path className={cls} d={d} stroke={colorOf(t)} data-testid="pc-line" data-trial={t.id} data-best={t.id === bestId ? "true" : "false"} data-focus={t.id === focus ? "true" : "false"} />
              <path
                className="pc-hit"
                d={d}
                onMouseEnter={() => setHover(t.id)}
                onClick={() => onSelect(t.id === selectedId ? undefined : t.id)}
                data-testid="pc-hit"
                data-trial={t.id}
              >
                <title>{`${t.label}: ${objective} ${t.objective === undefined ? "—" : formatNumber(t.objective)}`}</title>
              </path>
            </g>
          );
        })}
        {axes.map((a, i) => (
          <g key={a.key} className="pc-axis" data-testid="pc-axis" data-axis={i === axes.length - 1 ? "objective" : a.key} data-scale={a.kind}>
            <line x1={xOf(i)} x2={xOf(i)} y1={M.top} y2={M.top + innerH} />
            <text className="pc-axis-label" x={xOf(i)} y={M.top - 16} textAnchor="middle">
              {a.label}
              {a.kind === "log" ? " (log)" : ""}
            </text>
            {ticks(a).map((t) => (
              <g key={`${t.label}-${t.at}`}>
                <line x1={xOf(i) - 3} x2={xOf(i)} y1={yOf(t.at)} y2={yOf(t.at)} />
                <text className="pc-tick" x={xOf(i) - 6} y={yOf(t.at) + 3.5} textAnchor="end">
                  {t.label}
                </text>
              </g>
            ))}
          </g>
        ))}
      </svg>
      <div className="pc-detail" data-testid="pc-detail">
        {focused ? (
          <>
            <strong>{focused.label}</strong>
            {focused.id === bestId && <span className="badge green">best</span>}
            {params.map((p) => (
              <span key={p} className="tag-chip">
                <span className="tag-key">{p}</span>
                <span className="tag-value">{focused.params[p] ?? "—"}</span>
              </span>
            ))}
            <span className="tag-chip">
              <span className="tag-key">{objective}</span>
              <span className="tag-value">{focused.objective === undefined ? "—" : formatNumber(focused.objective)}</span>
            </span>
          </>
        ) : (
          <span className="muted">Hover or click a line to see its trial. Blue lines are better, the bold one is the best trial.</span>
        )}
      </div>
    </div>
  );
}
