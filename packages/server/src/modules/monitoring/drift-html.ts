import type { DriftReportResponse } from "@cairn/contract";

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
const fmt = (x: number | undefined) => (x === undefined ? "–" : Math.abs(x) >= 1e-3 && Math.abs(x) < 1e6 ? x.toFixed(4) : x.toExponential(3));

type Column = DriftReportResponse["columns"][number];

/** Overlaid reference and current distributions as SVG bars, each side as shares of its own rows. */
function chart(c: Column): string {
  const h = c.histogram;
  if (!h || h.ref.length === 0) return `<p class="muted">No distribution to draw.</p>`;
  const W = 520;
  const H = 150;
  const n = h.ref.length;
  const refTotal = h.ref.reduce((a, b) => a + b, 0) || 1;
  const curTotal = h.cur.reduce((a, b) => a + b, 0) || 1;
  const ref = h.ref.map((v) => v / refTotal);
  const cur = h.cur.map((v) => v / curTotal);
  const top = Math.max(...ref, ...cur) || 1;
  const bw = W / n;
  const bars = (xs: number[], cls: string, inset: number) =>
    xs.map((v, i) => `<rect class="${cls}" x="${(i * bw + inset).toFixed(1)}" y="${(H - (v / top) * H).toFixed(1)}" width="${Math.max(1, bw / 2 - 1).toFixed(1)}" height="${((v / top) * H).toFixed(1)}"><title>${esc(label(h, i))}: ${(v * 100).toFixed(1)}%</title></rect>`).join("");
  const axis = h.edges ? `<text x="0" y="${H + 14}">${fmt(h.edges[0])}</text><text x="${W}" y="${H + 14}" text-anchor="end">${fmt(h.edges[h.edges.length - 1])}</text>` : h.labels!.map((l, i) => `<text x="${(i * bw + bw / 2).toFixed(1)}" y="${H + 14}" text-anchor="middle">${esc(l.length > 10 ? `${l.slice(0, 9)}…` : l)}</text>`).join("");
  return `<svg viewBox="0 -4 ${W} ${H + 22}" width="${W}" height="${H + 22}" role="img" aria-label="${esc(c.column)}: reference and current distributions">${bars(ref, "ref", 0)}${bars(cur, "cur", bw / 2)}${axis}</svg>`;
}

function label(h: NonNullable<Column["histogram"]>, i: number): string {
  return h.edges ? `[${fmt(h.edges[i])}, ${fmt(h.edges[i + 1])}${i === h.edges.length - 2 ? "]" : ")"}` : h.labels![i]!;
}

/**
 * A drift report as one self-contained HTML page (inline CSS and SVG, nothing fetched): the dataset
 * verdict, a table of every column's test, statistic, p-value, threshold and verdict, and each
 * column's reference and current distributions overlaid.
 */
export function driftReportHtml(r: DriftReportResponse, title: string): string {
  const rows = r.columns
    .map((c) => `<tr class="${c.noData ? "nodata" : c.drifted ? "drift" : ""}"><td><a href="#col-${encodeURIComponent(c.column)}">${esc(c.column)}</a></td><td>${c.kind}</td><td>${c.noData ? "no data" : esc(c.test ?? "")}</td><td>${fmt(c.statistic)}</td><td>${fmt(c.pValue)}</td><td>${fmt(c.threshold)}</td><td>${c.noData ? "–" : c.drifted ? "drift" : "ok"}</td><td>${c.nRef}</td><td>${c.nCur}</td></tr>`)
    .join("\n");
  const charts = r.columns
    .filter((c) => !c.noData)
    .map((c) => `<section id="col-${encodeURIComponent(c.column)}"><h3>${esc(c.column)} <span class="${c.drifted ? "badge drift" : "badge"}">${c.drifted ? "drift" : "ok"}</span></h3><p class="muted">${esc(c.test ?? "")} ${fmt(c.statistic)}${c.pValue !== undefined ? `, p = ${fmt(c.pValue)}` : ""} (threshold ${fmt(c.threshold)})</p>${chart(c)}</section>`)
    .join("\n");
  const d = r.dataset;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#1d2430;padding:0 16px}
h1{font-size:20px}table{border-collapse:collapse;width:100%;margin:12px 0 24px}th,td{padding:5px 8px;border-bottom:1px solid #e3e7ee;text-align:left}
tr.drift td{background:#fdecec}tr.nodata td{color:#8a94a3}.muted{color:#5b6577}.badge{font-size:12px;padding:1px 6px;border-radius:8px;background:#e6f5ec;color:#1f6b3d}
.badge.drift{background:#fdecec;color:#a12828}section{display:inline-block;vertical-align:top;width:540px;margin:0 12px 18px 0}
rect.ref{fill:#8a94a3}rect.cur{fill:#3b6fd8}svg text{font-size:10px;fill:#5b6577}.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px}
</style></head><body>
<h1>${esc(title)}</h1>
<p><strong>${d.noData ? "No data in the current window" : d.datasetDrift ? "Dataset drift" : "No dataset drift"}</strong>: ${d.driftedColumns} of ${d.totalColumns} columns drifted (share ${fmt(d.share)}, threshold ${fmt(d.driftShare)}).</p>
<p class="muted">Reference: ${esc(r.reference.source)} (${r.reference.rows} rows${r.reference.truncated ? ", truncated" : ""}). Current: ${r.current.from !== undefined && r.current.to !== undefined ? `${new Date(r.current.from).toISOString()} – ${new Date(r.current.to).toISOString()}` : esc(r.current.source ?? "")} (${r.current.rows} rows${r.current.truncated ? ", truncated" : ""}).</p>
<table><thead><tr><th>column</th><th>kind</th><th>test</th><th>statistic</th><th>p-value</th><th>threshold</th><th>verdict</th><th>reference rows</th><th>current rows</th></tr></thead><tbody>
${rows}
</tbody></table>
<p class="legend"><span style="background:#8a94a3"></span>reference<span style="background:#3b6fd8"></span>current (shares of each side's rows)</p>
${charts}
</body></html>
`;
}
