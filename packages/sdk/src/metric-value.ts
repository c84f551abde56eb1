import type { Metric, Run as RunData } from "@cairn/contract";

/** A metric value on the JSON wire: a finite number, or "NaN" / "Infinity" / "-Infinity". */
export type WireMetricValue = number | "NaN" | "Infinity" | "-Infinity";

/** Encodes a metric value for JSON (where NaN and ±Infinity would otherwise become `null`). */
export function encodeMetricValue(v: number): WireMetricValue {
  if (Number.isFinite(v)) return v;
  if (Number.isNaN(v)) return "NaN";
  return v > 0 ? "Infinity" : "-Infinity";
}

/** Decodes a metric value read from the wire (numbers pass through). */
export function decodeMetricValue(v: unknown): number {
  if (typeof v === "number") return v;
  if (typeof v === "string") {
    const s = v.toLowerCase();
    if (s === "nan") return NaN;
    if (s === "infinity" || s === "inf") return Infinity;
    if (s === "-infinity" || s === "-inf") return -Infinity;
    return Number(v);
  }
  return NaN;
}

/** Decodes every metric value of a list in place and returns it. */
export function decodeMetrics<M extends Metric>(metrics: M[]): M[] {
  for (const m of metrics) m.value = decodeMetricValue(m.value);
  return metrics;
}

/** Decodes the latest-metric values of a run in place and returns it. */
export function decodeRun(run: RunData): RunData {
  decodeMetrics(run.data.metrics);
  return run;
}
