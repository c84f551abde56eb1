import type { CompatibilityFinding, ModelSignature, Retirement, TensorSpec } from "@cairn/contract";
import { formatAgo, formatDate } from "../lib/format.js";

/** A tensor shape such as `[?, 28, 28]`: `-1` (a dynamic dimension) shows as `?`. */
export function formatShape(shape: number[]): string {
  return `[${shape.map((d) => (d === -1 ? "?" : String(d))).join(", ")}]`;
}

/** A version's retirement as a badge: `deprecated` (orange) or `archived` (gray), the reason as its tooltip. */
export function RetirementBadge({ retirement }: { retirement: Retirement | null }) {
  if (!retirement) return null;
  const when = formatDate(retirement.time);
  return (
    <span
      className={`badge retired ${retirement.state === "archived" ? "gray" : "orange"}`}
      title={`${retirement.state}${when ? ` ${when} (${formatAgo(retirement.time)})` : ""}: ${retirement.reason}`}
      data-testid="retirement-badge"
      data-state={retirement.state}
    >
      {retirement.state}
    </span>
  );
}

/** A short summary of a signature, `2 in · 1 out`. */
export function signatureSummary(sig: ModelSignature): string {
  return `${sig.inputs.length} in · ${sig.outputs.length} out`;
}

function TensorTable({ title, tensors, testId }: { title: string; tensors: TensorSpec[]; testId: string }) {
  return (
    <div className="sig-side">
      <div className="sig-title">
        {title} <span className="count">{tensors.length}</span>
      </div>
      <table className="table sig-table" data-testid={testId}>
        <thead>
          <tr>
            <th>Name</th>
            <th>Type</th>
            <th>Shape</th>
          </tr>
        </thead>
        <tbody>
          {tensors.map((t) => (
            <tr key={t.name} data-testid="tensor-row" data-name={t.name}>
              <td className="mono" title={t.name}>
                {t.name}
                {t.optional && <span className="muted small"> (optional)</span>}
              </td>
              <td className="mono">{t.dtype}</td>
              <td className="mono">{formatShape(t.shape)}</td>
            </tr>
          ))}
          {tensors.length === 0 && (
            <tr>
              <td colSpan={3} className="empty">
                None.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}

/** A signature's inputs and outputs side by side. */
export function SignatureView({ signature }: { signature: ModelSignature }) {
  return (
    <div className="sig-view" data-testid="signature-view">
      <TensorTable title="Inputs" tensors={signature.inputs} testId="signature-inputs" />
      <TensorTable title="Outputs" tensors={signature.outputs} testId="signature-outputs" />
    </div>
  );
}

/** Compatibility findings: kind, field, from → to and a red badge on breaking ones. */
export function FindingsTable({ findings }: { findings: CompatibilityFinding[] }) {
  return (
    <div className="table-wrap">
      <table className="table" data-testid="compatibility-findings">
        <thead>
          <tr>
            <th>Kind</th>
            <th>Field</th>
            <th>From → to</th>
            <th>Impact</th>
          </tr>
        </thead>
        <tbody>
          {findings.map((f, i) => (
            <tr key={i} data-testid="compatibility-finding" data-kind={f.kind} data-breaking={f.breaking ? "true" : "false"} title={f.message}>
              <td className="mono">{f.kind.replace(/_/g, " ")}</td>
              <td className="mono">{f.field}</td>
              <td className="mono-ish">
                {f.from === undefined && f.to === undefined ? (
                  <span className="muted">—</span>
                ) : (
                  <>
                    {f.from ?? <span className="muted">none</span>} <span className="muted">→</span> {f.to ?? <span className="muted">none</span>}
                  </>
                )}
              </td>
              <td>
                {f.breaking ? (
                  <span className="badge red" data-testid="breaking-badge">
                    breaking
                  </span>
                ) : (
                  <span className="badge gray">non-breaking</span>
                )}
              </td>
            </tr>
          ))}
          {findings.length === 0 && (
            <tr>
              <td colSpan={4} className="empty">
                The signatures are identical.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}
