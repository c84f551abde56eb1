import type { Expectation, ValidationReport, ValidationStatus } from "@cairn/contract";
import { formatDate, formatNumber } from "../lib/format.js";

const BADGE: Record<ValidationStatus, { cls: string; text: string; title: string }> = {
  passed: { cls: "green", text: "passed", title: "Every expectation passed" },
  failed: { cls: "red", text: "failed", title: "At least one expectation failed" },
  none: { cls: "gray", text: "no checks", title: "The dataset declares no expectations (or no file matched them)" },
};

/** A version's validation status as a small colored badge. */
export function ValidationBadge({ status }: { status: ValidationStatus }) {
  const b = BADGE[status] ?? BADGE.none;
  return (
    <span className={`badge ${b.cls} ds-validation-badge`} title={b.title} data-testid="validation-badge" data-status={status}>
      {b.text}
    </span>
  );
}

function bound(v: number | undefined): string {
  return v === undefined ? "" : formatNumber(v);
}

/** A one-line description of an expectation, e.g. `0 ≤ amount ≤ 100`. */
export function describeExpectation(e: Expectation): string {
  switch (e.type) {
    case "column_exists":
      return `column ${e.column} exists`;
    case "column_type":
      return `${e.column} is ${e.dtype}`;
    case "not_null":
      return `${e.column} has no nulls`;
    case "range":
      if (e.min !== undefined && e.max !== undefined) return `${bound(e.min)} ≤ ${e.column} ≤ ${bound(e.max)}`;
      if (e.min !== undefined) return `${e.column} ≥ ${bound(e.min)}`;
      if (e.max !== undefined) return `${e.column} ≤ ${bound(e.max)}`;
      return `${e.column} in range`;
    case "allowed_values": {
      const shown = e.values.slice(0, 6).map((v) => JSON.stringify(v)).join(", ");
      return `${e.column} in {${shown}${e.values.length > 6 ? `, … ${e.values.length - 6} more` : ""}}`;
    }
    case "unique":
      return `${e.columns.length === 1 ? e.columns[0] : `(${e.columns.join(", ")})`} unique`;
    case "row_count":
      if (e.min !== undefined && e.max !== undefined) return `${bound(e.min)} ≤ rows ≤ ${bound(e.max)}`;
      if (e.min !== undefined) return `rows ≥ ${bound(e.min)}`;
      if (e.max !== undefined) return `rows ≤ ${bound(e.max)}`;
      return "row count";
  }
}

/** Every expectation result of a version's validation: expectation, file, passed/failed, observed. */
export function ValidationReportView({ report }: { report: ValidationReport }) {
  const failed = report.results.filter((r) => !r.passed).length;
  // Failures first, then the rest in the server's order.
  const rows = report.results.map((r, i) => ({ r, i })).sort((a, b) => Number(a.r.passed) - Number(b.r.passed) || a.i - b.i);
  return (
    <div data-testid="validation-report" data-status={report.status}>
      <div className="ds-validation-summary">
        <ValidationBadge status={report.status} />
        <span className="muted small">
          {report.results.length === 0
            ? "No expectation applied to this version."
            : `${report.results.length - failed} of ${report.results.length} check${report.results.length === 1 ? "" : "s"} passed`}
          {report.checkedAt > 0 && ` · checked ${formatDate(report.checkedAt)}`}
        </span>
      </div>
      {report.results.length > 0 && (
        <div className="table-wrap">
          <table className="table ds-validation-table" data-testid="validation-table">
            <thead>
              <tr>
                <th>Result</th>
                <th>Expectation</th>
                <th>File</th>
                <th>Observed</th>
              </tr>
            </thead>
            <tbody>
              {rows.map(({ r, i }) => (
                <tr key={i} className={r.passed ? "" : "ds-failed-row"} data-testid="validation-result" data-passed={r.passed ? "true" : "false"} data-type={r.expectation.type}>
                  <td>
                    <span className={`badge ${r.passed ? "green" : "red"}`}>{r.passed ? "passed" : "failed"}</span>
                  </td>
                  <td className="mono-ish" title={r.expectation.file ? `files matching ${r.expectation.file}` : undefined}>
                    {describeExpectation(r.expectation)}
                  </td>
                  <td className="mono-ish">{r.file}</td>
                  <td className="mono-ish" data-testid="validation-observed">
                    {r.observed}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
