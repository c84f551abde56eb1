/**
 * Checks decoded input tensors against a model's signature before they reach a runtime. Pure
 * functions.
 */
import { CairnError, type ModelSignature, type TensorSpec } from "@cairn/contract";
import { formatShape } from "./oip.js";
import { DTYPE_TO_DATATYPE, elementCount, type Tensor } from "./tensor.js";

const invalid = (message: string) => new CairnError("INVALID_PARAMETER_VALUE", message);

const specText = (s: TensorSpec) => `${s.dtype} ${formatShape(s.shape)}`;

/** The index of the first NaN in a float tensor's data, or -1. FP16 NaN is exponent 0x1f with a non-zero fraction. */
function firstNaN(t: Tensor): number {
  const { data } = t;
  if (data instanceof Float32Array || data instanceof Float64Array) return data.findIndex(Number.isNaN);
  if (t.datatype === "FP16" && data instanceof Uint16Array) return data.findIndex((h) => (h & 0x7c00) === 0x7c00 && (h & 0x03ff) !== 0);
  return -1;
}

/** Whether an input's first dimension is its batch: the spec leaves it dynamic (-1). */
const isBatched = (spec: TensorSpec | undefined) => spec !== undefined && spec.shape.length > 0 && spec.shape[0] === -1;

/**
 * The batch size of a request: the first dimension shared by its inputs. With a signature only the
 * inputs whose spec's first dimension is -1 count (a fixed first dimension is not a batch); without
 * one every input of rank ≥ 1 does. `undefined` when no input counts.
 * @throws CairnError INVALID_PARAMETER_VALUE when the counted inputs disagree.
 */
export function batchSize(inputs: readonly Tensor[], signature?: ModelSignature): number | undefined {
  let size: number | undefined;
  let from = "";
  for (const t of inputs) {
    if (t.shape.length === 0) continue;
    if (signature && !isBatched(signature.inputs.find((s) => s.name === t.name))) continue;
    const n = t.shape[0];
    if (size === undefined) {
      size = n;
      from = t.name;
    } else if (n !== size) {
      throw invalid(`inputs disagree on the batch size (first dimension): '${from}' has ${size}, '${t.name}' has ${n}`);
    }
  }
  return size;
}

/**
 * Checks inputs against a signature and returns them in the signature's order (absent optional
 * inputs left out). The rules:
 * - every input the signature does not mark `optional` must be present, and every input must be in
 *   the signature, once;
 * - the datatype must be exactly the spec dtype's (`DTYPE_TO_DATATYPE`): no widening, so an INT64
 *   value is never silently read as FP32 and the runtime gets the array type it declared;
 * - the rank must match, and each dimension must equal the spec's unless the spec has -1 there;
 * - the data must fill the shape;
 * - float inputs (FP16/FP32/FP64) must not hold NaN unless `opts.allowNaN` (±Infinity passes);
 * - inputs whose spec's first dimension is -1 must agree on it (the batch size).
 * @throws CairnError INVALID_PARAMETER_VALUE naming the input and what was expected.
 */
export function checkInputs(inputs: Tensor[], signature: ModelSignature, opts: { allowNaN?: boolean } = {}): Tensor[] {
  const byName = new Map<string, Tensor>();
  const known = signature.inputs.map((s) => `'${s.name}'`).join(", ") || "none";
  for (const t of inputs) {
    if (byName.has(t.name)) throw invalid(`input '${t.name}' appears more than once`);
    if (!signature.inputs.some((s) => s.name === t.name)) throw invalid(`unknown input '${t.name}'; the signature's inputs are: ${known}`);
    byName.set(t.name, t);
  }
  const ordered: Tensor[] = [];
  for (const spec of signature.inputs) {
    const t = byName.get(spec.name);
    if (!t) {
      if (spec.optional) continue;
      throw invalid(`missing required input '${spec.name}' (${specText(spec)})`);
    }
    const label = `input '${spec.name}'`;
    const want = DTYPE_TO_DATATYPE[spec.dtype];
    if (t.datatype !== want) throw invalid(`${label}: expected datatype ${want} (${spec.dtype}), got ${t.datatype}`);
    if (t.shape.length !== spec.shape.length) {
      throw invalid(`${label}: expected ${spec.shape.length} dimensions (shape ${formatShape(spec.shape)}), got shape ${formatShape(t.shape)}`);
    }
    spec.shape.forEach((d, i) => {
      if (d !== -1 && t.shape[i] !== d) throw invalid(`${label}: dimension ${i} must be ${d} (shape ${formatShape(spec.shape)}), got shape ${formatShape(t.shape)}`);
    });
    if (t.data.length !== elementCount(t.shape)) throw invalid(`${label}: ${t.data.length} values do not fill shape ${formatShape(t.shape)}`);
    if (!opts.allowNaN) {
      const at = firstNaN(t);
      if (at >= 0) throw invalid(`${label}: value ${at} is NaN, which this model does not accept`);
    }
    ordered.push(t);
  }
  batchSize(ordered, signature);
  return ordered;
}
