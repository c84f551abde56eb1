import type { CompatibilityFinding, ModelSignature, TensorDType, TensorSpec } from "@cairn/contract";

/** Dtype changes a consumer of the old signature cannot notice: each value still fits. */
const SAFE_WIDENINGS = new Set(["int32>int64", "float32>float64", "int32>float64"]);

const fmtShape = (s: number[]) => `[${s.map((d) => (d === -1 ? "-1" : String(d))).join(", ")}]`;
const sameShape = (a: number[], b: number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

/** Whether a dtype change `from` → `to` is a safe widening (int32→int64, float32→float64, int32→float64). */
export function isSafeWidening(from: TensorDType, to: TensorDType): boolean {
  return SAFE_WIDENINGS.has(`${from}>${to}`);
}

/**
 * Whether a shape change keeps old callers working: same rank, and each dimension either equal or
 * relaxed from a fixed size to -1 (dynamic) in the same position.
 */
export function isSafeShapeChange(from: number[], to: number[]): boolean {
  return from.length === to.length && from.every((d, i) => d === to[i] || to[i] === -1);
}

/**
 * The findings between two signatures, `a` the older and `b` the newer; `compatible` is true only
 * when both exist and no finding is breaking. Rules:
 * - an input or output that disappears is breaking (`input_removed`, `output_removed`);
 * - a removed and an added input with the same dtype and shape, when each has exactly one such
 *   partner, is one `input_renamed` finding (breaking: callers send the old name);
 * - an added required input is breaking, an added optional one is not; an added output is not;
 * - an input that turns required is breaking, one that turns optional is not;
 * - a dtype change is breaking unless a safe widening (int32→int64, float32→float64, int32→float64);
 * - a shape change is breaking unless every changed dimension went from a fixed size to -1.
 * The same dtype and shape rules apply to outputs.
 * Without a signature on either side there is one non-breaking `no_signature` finding and
 * `compatible` is false: compatibility cannot be shown, though nothing is known to break.
 * @example diffSignatures(v1.signature, v2.signature).compatible
 */
export function diffSignatures(a: ModelSignature | null | undefined, b: ModelSignature | null | undefined): { compatible: boolean; findings: CompatibilityFinding[] } {
  if (!a || !b) {
    const which = !a && !b ? "Neither version has" : !a ? "The 'from' version has no signature; only the 'to' version has" : "The 'to' version has no signature; only the 'from' version has";
    return { compatible: false, findings: [{ kind: "no_signature", field: "signature", breaking: false, message: `${which} a signature, so compatibility cannot be checked` }] };
  }
  const findings: CompatibilityFinding[] = [];
  diffSide("inputs", a.inputs, b.inputs, findings);
  diffSide("outputs", a.outputs, b.outputs, findings);
  return { compatible: !findings.some((f) => f.breaking), findings };
}

function diffSide(side: "inputs" | "outputs", from: TensorSpec[], to: TensorSpec[], out: CompatibilityFinding[]): void {
  const noun = side === "inputs" ? "input" : "output";
  const toByName = new Map(to.map((t) => [t.name, t]));
  const fromByName = new Map(from.map((t) => [t.name, t]));
  const removed = from.filter((t) => !toByName.has(t.name));
  const added = to.filter((t) => !fromByName.has(t.name));

  // Renames (inputs only): a removed/added pair with equal dtype and shape, each the other's only match.
  const renamedFrom = new Set<string>();
  const renamedTo = new Set<string>();
  if (side === "inputs") {
    const like = (x: TensorSpec, y: TensorSpec) => x.dtype === y.dtype && sameShape(x.shape, y.shape);
    for (const r of removed) {
      const matches = added.filter((t) => like(r, t));
      if (matches.length !== 1) continue;
      const m = matches[0]!;
      if (removed.filter((t) => like(t, m)).length !== 1) continue;
      renamedFrom.add(r.name);
      renamedTo.add(m.name);
      out.push({ kind: "input_renamed", field: `inputs.${r.name}`, from: r.name, to: m.name, breaking: true, message: `Input '${r.name}' appears renamed to '${m.name}' (same dtype and shape); callers sending '${r.name}' break` });
    }
  }

  for (const t of from) {
    const n = toByName.get(t.name);
    const field = `${side}.${t.name}`;
    if (!n) {
      if (renamedFrom.has(t.name)) continue;
      out.push({ kind: side === "inputs" ? "input_removed" : "output_removed", field, from: t.name, breaking: true, message: `${cap(noun)} '${t.name}' was removed` });
      continue;
    }
    if (t.dtype !== n.dtype) {
      const safe = isSafeWidening(t.dtype, n.dtype);
      out.push({ kind: "dtype_changed", field, from: t.dtype, to: n.dtype, breaking: !safe, message: `${cap(noun)} '${t.name}' dtype ${t.dtype} → ${n.dtype}${safe ? " (safe widening)" : ""}` });
    }
    if (!sameShape(t.shape, n.shape)) {
      const safe = isSafeShapeChange(t.shape, n.shape);
      out.push({ kind: "shape_changed", field, from: fmtShape(t.shape), to: fmtShape(n.shape), breaking: !safe, message: `${cap(noun)} '${t.name}' shape ${fmtShape(t.shape)} → ${fmtShape(n.shape)}${safe ? " (fixed dimensions made dynamic)" : ""}` });
    }
    if (side === "inputs" && !!t.optional !== !!n.optional) {
      out.push(
        n.optional
          ? { kind: "input_became_optional", field, breaking: false, message: `Input '${t.name}' is now optional` }
          : { kind: "input_became_required", field, breaking: true, message: `Input '${t.name}' is now required` },
      );
    }
  }
  for (const t of added) {
    if (renamedTo.has(t.name)) continue;
    const field = `${side}.${t.name}`;
    if (side === "outputs") out.push({ kind: "output_added", field, to: t.name, breaking: false, message: `Output '${t.name}' was added` });
    else if (t.optional) out.push({ kind: "input_added_optional", field, to: t.name, breaking: false, message: `Optional input '${t.name}' was added` });
    else out.push({ kind: "input_added_required", field, to: t.name, breaking: true, message: `Required input '${t.name}' was added; callers that do not send it break` });
  }
}

const cap = (s: string) => s[0]!.toUpperCase() + s.slice(1);
