import { describe, expect, it } from "vitest";
import { driftReportHtml } from "./drift-html.js";

describe("driftReportHtml", () => {
  const report = {
    columns: [
      { column: "age<script>", kind: "numeric" as const, test: "ks" as const, statistic: 0.31, pValue: 1e-40, threshold: 0.05, drifted: true, nRef: 800, nCur: 600, histogram: { edges: [0, 5, 10], ref: [400, 400], cur: [100, 500] } },
      { column: "tier", kind: "categorical" as const, test: "chisquare" as const, statistic: 1.2, pValue: 0.55, threshold: 0.05, drifted: false, nRef: 800, nCur: 600, histogram: { labels: ["a", "b"], ref: [400, 400], cur: [290, 310] } },
      { column: "empty", kind: "numeric" as const, noData: true, nRef: 800, nCur: 0 },
    ],
    dataset: { driftedColumns: 1, totalColumns: 2, share: 0.5, driftShare: 0.5, datasetDrift: true, noData: false },
    reference: { rows: 800, truncated: false, source: "credit@v3/ref.csv" },
    current: { rows: 600, truncated: false, from: 0, to: 3600_000 },
  };

  it("writes one self-contained page: verdict, a row per column, a chart per column with data, names escaped", () => {
    const html = driftReportHtml(report, "Drift of fraud");
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain("Dataset drift</strong>: 1 of 2 columns drifted");
    expect(html).toContain("age&lt;script&gt;");
    expect(html).not.toContain("<script>");
    expect(html).not.toMatch(/src=|href="http/);
    expect((html.match(/<tr class=/g) ?? []).length).toBe(3);
    expect((html.match(/<svg /g) ?? []).length).toBe(2);
    // Bars are shares of each side: the reference's two equal bins are drawn at the same height.
    const refBars = [...html.matchAll(/<rect class="ref"[^>]*height="([\d.]+)"/g)].slice(0, 2).map((m) => m[1]);
    expect(refBars[0]).toBe(refBars[1]);
    expect(html).toContain("no data");
  });
});
