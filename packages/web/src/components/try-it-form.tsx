import { useState } from "react";
import { DTYPE_TO_OIP_DATATYPE, type TensorDType, type TensorSpec } from "@cairn/contract";
import { api } from "../lib/api.js";
import { formatNumber } from "../lib/format.js";
import { useAsync } from "../lib/use-async.js";
import { ErrorBanner } from "./error-banner.js";
import { formatShape } from "./governance.js";
import { JsonView } from "./json-diff.js";

/** A signature dtype as the Open Inference Protocol's datatype (as the server maps it). */
export const OIP_DATATYPE: Record<TensorDType, string> = DTYPE_TO_OIP_DATATYPE;

const NUMERIC = new Set<TensorDType>(["float32", "float64", "float16", "int32", "int64", "int8", "uint8"]);
/** The widest row that still gets one number field per column (wider rows get a JSON box). */
const MAX_FIELDS = 64;
/** The most elements a prefilled JSON example spells out. */
const MAX_EXAMPLE = 256;

/** Whether a tensor gets a row of number fields: numeric, 2-D, `[-1, N]` with a small fixed N. */
export function isRowTensor(t: TensorSpec): boolean {
  return NUMERIC.has(t.dtype) && t.shape.length === 2 && t.shape[0] === -1 && t.shape[1]! > 0 && t.shape[1]! <= MAX_FIELDS;
}

/** An example value of a tensor for its JSON box: zeros (or "" / false) in its shape, one row for a dynamic dimension. */
export function exampleValue(t: TensorSpec): string {
  const dims = t.shape.map((d) => (d === -1 ? 1 : d));
  const count = dims.reduce((n, d) => n * d, 1);
  if (count > MAX_EXAMPLE) return "[]";
  const leaf = t.dtype === "string" ? "" : t.dtype === "bool" ? false : 0;
  const build = (i: number): unknown => (i >= dims.length ? leaf : Array.from({ length: dims[i]! }, () => build(i + 1)));
  const v = dims.length === 0 ? [leaf] : build(0);
  return JSON.stringify(v);
}

/** A nested JSON array as OIP's shape and flat data (`[[1,2],[3,4]]` → [2, 2], [1,2,3,4]); a scalar is shape [1]. */
export function toTensor(value: unknown): { shape: number[]; data: unknown[] } {
  if (!Array.isArray(value)) return { shape: [1], data: [value] };
  const shape: number[] = [];
  let cur: unknown = value;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    if (cur.length === 0) break;
    cur = cur[0];
  }
  const data: unknown[] = [];
  const walk = (v: unknown, depth: number) => {
    if (depth < shape.length) {
      if (!Array.isArray(v) || v.length !== shape[depth]) throw new Error("a ragged array (every row must have the same length)");
      for (const x of v) walk(x, depth + 1);
    } else if (Array.isArray(v)) throw new Error("a ragged array (mixed nesting depth)");
    else data.push(v);
  };
  walk(value, 0);
  return { shape, data };
}

/** A tensor of an infer response. */
interface OutputTensor {
  name: string;
  shape?: number[];
  datatype?: string;
  data?: unknown;
}

/** What one Send produced: the answer (outputs, id, arm, version) or the error. */
type TryResult =
  | { ok: true; status: number; requestId: string; arm: string; version: string; latencyMs: number; outputs: OutputTensor[]; body: unknown }
  | { ok: false; status: number; requestId: string; code: string; message: string; latencyMs: number };

function shortData(data: unknown): string {
  const s = JSON.stringify(data) ?? "";
  return s.length > 160 ? `${s.slice(0, 157)}…` : s;
}

/**
 * "Try it": a form generated from a model version's signature that posts an Open Inference
 * Protocol v2 request to a deployment (`/deployments/{name}/v2/models/{model}/infer`, with the
 * session cookie) and shows the outputs, the request id, the arm and version that answered, and
 * the latency; a 4xx shows the server's message and code.
 */
export function TryItForm({
  deployment,
  model,
  version,
  stickyHeader,
  onAnswered,
}: {
  deployment: string;
  model: string;
  /** The version whose signature shapes the form (the primary's). */
  version: string;
  /** When the deployment pins callers by a header, a field for its value. */
  stickyHeader?: string | null;
  /** Called after every answer (e.g. to refresh live stats at once). */
  onAnswered?: () => void;
}) {
  const sig = useAsync(() => api.getModelVersion({ params: { name: model, version } }).then((r) => r.modelVersion.signature), [model, version]);
  const [rows, setRows] = useState<Record<string, string[]>>({});
  const [texts, setTexts] = useState<Record<string, string>>({});
  const [sticky, setSticky] = useState("");
  const [busy, setBusy] = useState(false);
  const [formError, setFormError] = useState<string | undefined>(undefined);
  const [result, setResult] = useState<TryResult | undefined>(undefined);

  const inputs = sig.data?.inputs ?? [];
  const rowOf = (t: TensorSpec) => rows[t.name] ?? Array.from({ length: t.shape[1]! }, () => "0");
  const textOf = (t: TensorSpec) => texts[t.name] ?? (t.optional ? "" : exampleValue(t));

  const buildBody = (): { inputs: { name: string; shape: number[]; datatype: string; data: unknown[] }[] } => {
    const out: { name: string; shape: number[]; datatype: string; data: unknown[] }[] = [];
    for (const t of inputs) {
      const datatype = OIP_DATATYPE[t.dtype];
      if (isRowTensor(t)) {
        const values = rowOf(t).map((s, i) => {
          const n = s.trim() === "" ? Number.NaN : Number(s);
          if (!Number.isFinite(n)) throw new Error(`input '${t.name}': field ${i + 1} is not a number`);
          return n;
        });
        out.push({ name: t.name, shape: [1, values.length], datatype, data: values });
        continue;
      }
      const text = textOf(t).trim();
      if (text === "" && t.optional) continue;
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (e) {
        throw new Error(`input '${t.name}': not valid JSON (${e instanceof Error ? e.message : String(e)})`);
      }
      try {
        out.push({ name: t.name, datatype, ...toTensor(parsed) });
      } catch (e) {
        throw new Error(`input '${t.name}': ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    return { inputs: out };
  };

  const send = async () => {
    setFormError(undefined);
    let body: ReturnType<typeof buildBody>;
    try {
      body = buildBody();
    } catch (e) {
      setFormError(e instanceof Error ? e.message : String(e));
      return;
    }
    setBusy(true);
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (stickyHeader && sticky.trim()) headers[stickyHeader] = sticky.trim();
    const t0 = performance.now();
    try {
      const res = await fetch(`/deployments/${encodeURIComponent(deployment)}/v2/models/${encodeURIComponent(model)}/infer`, { method: "POST", credentials: "same-origin", headers, body: JSON.stringify(body) });
      const text = await res.text();
      const latencyMs = performance.now() - t0;
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(text) as Record<string, unknown>;
      } catch {
        // not JSON: shown as the message below
      }
      const requestId = res.headers.get("x-request-id") ?? (typeof json.id === "string" ? json.id : "");
      if (res.ok) {
        setResult({
          ok: true,
          status: res.status,
          requestId,
          arm: res.headers.get("x-cairn-arm") ?? "",
          version: res.headers.get("x-cairn-model-version") ?? String(json.model_version ?? ""),
          latencyMs,
          outputs: Array.isArray(json.outputs) ? (json.outputs as OutputTensor[]) : [],
          body: json,
        });
      } else {
        const str = (v: unknown) => (typeof v === "string" ? v : "");
        setResult({
          ok: false,
          status: res.status,
          requestId,
          code: str(json.code) || str(json.error_code) || `HTTP ${res.status}`,
          message: str(json.message) || str(json.error) || text || res.statusText,
          latencyMs,
        });
      }
      onAnswered?.();
    } catch (e) {
      setFormError(`The request failed: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="dep-try" data-testid="try-it">
      {sig.loading && !sig.data && <span className="spinner" />}
      <ErrorBanner error={sig.error} title={`Could not load the signature of ${model} v${version}`} onRetry={sig.reload} />
      {!sig.loading && !sig.error && !sig.data && (
        <p className="muted" data-testid="try-no-signature">
          Version {version} of {model} has no signature, so there is no form to fill in. Post an Open Inference Protocol request to{" "}
          <code>
            /deployments/{deployment}/v2/models/{model}/infer
          </code>{" "}
          instead.
        </p>
      )}
      {sig.data && (
        <form
          className="dep-try-form"
          data-testid="try-form"
          onSubmit={(e) => {
            e.preventDefault();
            void send();
          }}
        >
          <div className="muted small">
            Inputs of {model} v{version} (the primary&apos;s signature); sent to <code>POST /deployments/{deployment}/v2/models/{model}/infer</code>.
          </div>
          {inputs.map((t) => (
            <div key={t.name} className="dep-try-input" data-testid="try-input" data-input={t.name}>
              <div className="dep-try-label">
                <span className="mono dep-try-name">{t.name}</span>
                <span className="badge gray" data-testid="try-input-datatype">
                  {OIP_DATATYPE[t.dtype]}
                </span>
                <span className="mono muted" data-testid="try-input-shape">
                  {formatShape(t.shape)}
                </span>
                {t.optional && <span className="muted small">optional</span>}
              </div>
              {isRowTensor(t) ? (
                <div className="dep-try-row">
                  {rowOf(t).map((v, i) => (
                    <input
                      key={i}
                      type="number"
                      step="any"
                      className="filter-input small dep-try-num"
                      aria-label={`${t.name}[${i}]`}
                      data-testid="try-field"
                      data-index={i}
                      value={v}
                      onChange={(e) => {
                        const next = [...rowOf(t)];
                        next[i] = e.target.value;
                        setRows((r) => ({ ...r, [t.name]: next }));
                      }}
                    />
                  ))}
                </div>
              ) : (
                <textarea
                  className="filter-input dep-try-json"
                  data-testid="try-json"
                  spellCheck={false}
                  rows={Math.min(8, Math.max(2, textOf(t).split("\n").length))}
                  value={textOf(t)}
                  placeholder="JSON: a value or a nested array in the tensor's shape"
                  onChange={(e) => setTexts((x) => ({ ...x, [t.name]: e.target.value }))}
                />
              )}
            </div>
          ))}
          {stickyHeader && (
            <label className="dep-try-label">
              <span className="mono">{stickyHeader}</span>
              <input className="filter-input small" value={sticky} placeholder="sticky routing value (optional)" onChange={(e) => setSticky(e.target.value)} data-testid="try-sticky" />
            </label>
          )}
          <div className="toolbar">
            <button type="submit" className="btn primary" disabled={busy} data-testid="try-send">
              {busy ? "Sending…" : "Send"}
            </button>
            {formError && (
              <span className="filter-error" data-testid="try-form-error">
                {formError}
              </span>
            )}
          </div>
        </form>
      )}
      {result && <TryResultView result={result} />}
    </div>
  );
}

function TryResultView({ result: r }: { result: TryResult }) {
  if (!r.ok) {
    return (
      <div className="error-banner dep-try-result" role="alert" data-testid="try-error" data-status={r.status} data-code={r.code}>
        <div>
          <strong>HTTP {r.status}</strong>
          <span className="error-code" data-testid="try-error-code">
            {r.code}
          </span>
        </div>
        <div className="error-message" data-testid="try-error-message">
          {r.message}
        </div>
        {r.requestId && <div className="muted small">request id {r.requestId}</div>}
      </div>
    );
  }
  return (
    <div className="dep-try-result" data-testid="try-result">
      <dl className="facts">
        <div>
          <dt>Arm</dt>
          <dd>
            <span className={`badge dep-arm-${r.arm || "primary"}`} data-testid="try-arm" data-arm={r.arm}>
              {r.arm || "?"}
            </span>
          </dd>
        </div>
        <div>
          <dt>Version</dt>
          <dd className="mono" data-testid="try-version">
            {r.version ? `v${r.version}` : "—"}
          </dd>
        </div>
        <div>
          <dt>Latency</dt>
          <dd data-testid="try-latency">{formatNumber(Number(r.latencyMs.toFixed(1)))} ms</dd>
        </div>
        <div>
          <dt>Request id</dt>
          <dd className="mono" data-testid="try-request-id">
            {r.requestId}
          </dd>
        </div>
      </dl>
      <div className="table-wrap">
        <table className="table" data-testid="try-outputs">
          <thead>
            <tr>
              <th>Output</th>
              <th>Datatype</th>
              <th>Shape</th>
              <th>Data</th>
            </tr>
          </thead>
          <tbody>
            {r.outputs.map((o) => (
              <tr key={o.name} data-testid="try-output" data-output={o.name}>
                <td className="mono">{o.name}</td>
                <td>{o.datatype}</td>
                <td className="mono">{o.shape ? formatShape(o.shape) : ""}</td>
                <td className="mono-ish" data-testid="try-output-data">
                  {shortData(o.data)}
                </td>
              </tr>
            ))}
            {r.outputs.length === 0 && (
              <tr>
                <td colSpan={4} className="empty">
                  No outputs.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <details className="dep-raw">
        <summary className="muted small">Response body</summary>
        <JsonView value={r.body} />
      </details>
    </div>
  );
}
