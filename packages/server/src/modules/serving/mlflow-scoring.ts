/**
 * MLflow scoring-server codecs (`POST /invocations`): the four JSON request formats decoded into
 * tensors shaped for a model's signature, and output tensors encoded as `{predictions}`. Pure
 * functions.
 */
import { CairnError, type ModelSignature, type TensorSpec } from "@cairn/contract";
import { checkShape, collectNested, inferNestedShape, MAX_REQUEST_ELEMENTS, nest, tensorToJsonValues, toTensorData } from "./oip.js";
import { DTYPE_TO_DATATYPE, type Tensor } from "./tensor.js";

const FORMATS = ["dataframe_split", "dataframe_records", "instances", "inputs"] as const;

const invalid = (message: string) => new CairnError("INVALID_PARAMETER_VALUE", message);
const malformed = (message: string) => new CairnError("MALFORMED_REQUEST", message);

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Tracks the values decoded so far so one request stays within {@link MAX_REQUEST_ELEMENTS}. */
class Budget {
  used = 0;
  take(label: string, shape: readonly number[]): number {
    const n = checkShape(label, shape, MAX_REQUEST_ELEMENTS - this.used);
    this.used += n;
    return n;
  }
}

function specFor(signature: ModelSignature, name: string): TensorSpec {
  const spec = signature.inputs.find((s) => s.name === name);
  if (!spec) {
    const names = signature.inputs.map((s) => `'${s.name}'`).join(", ") || "none";
    throw invalid(`unknown input '${name}'; the signature's inputs are: ${names}`);
  }
  return spec;
}

/**
 * A scalar-per-row tensor fitted to a spec that keeps a trailing unit dimension: `[n]` becomes
 * `[n, 1]` when the spec is `[-1, 1]`. Other mismatches are left for the signature check to report.
 */
function fitToSpec(shape: number[], spec: TensorSpec): number[] {
  if (shape.length === spec.shape.length - 1 && spec.shape[spec.shape.length - 1] === 1) return [...shape, 1];
  return shape;
}

function buildTensor(spec: TensorSpec, shape: number[], values: readonly unknown[]): Tensor {
  const datatype = DTYPE_TO_DATATYPE[spec.dtype];
  // pandas writes missing floats as null, so null reads as NaN here; the signature check decides whether NaN is allowed.
  return { name: spec.name, datatype, shape: fitToSpec(shape, spec), data: toTensorData(`input '${spec.name}'`, datatype, values, { nullAsNaN: true }) };
}

/** A tensor from a nested value whose shape is read from the value itself (ragged lists are errors). */
function tensorFromNested(spec: TensorSpec, value: unknown, where: string, budget: Budget): Tensor {
  const label = `input '${spec.name}'`;
  const shape = inferNestedShape(label, value);
  budget.take(label, shape);
  const values: unknown[] = [];
  collectNested(label, value, shape, values, where);
  return buildTensor(spec, shape, values);
}

/** A tensor stacking one value per row (`[n, ...shape of the first value]`). */
function tensorFromRows(spec: TensorSpec, rows: readonly unknown[], where: string, budget: Budget): Tensor {
  const label = `input '${spec.name}'`;
  const shape = [rows.length, ...(rows.length ? inferNestedShape(label, rows[0]) : [])];
  budget.take(label, shape);
  const values: unknown[] = [];
  collectNested(label, rows, shape, values, where);
  return buildTensor(spec, shape, values);
}

interface Frame {
  columns: string[];
  rows: unknown[][];
}

function frameFromSplit(v: unknown): Frame {
  if (!isPlainObject(v)) throw malformed("dataframe_split must be an object {columns, data, index?}");
  const { data, columns } = v;
  if (!Array.isArray(data)) throw malformed("dataframe_split.data must be a list of rows");
  const rows: unknown[][] = [];
  for (let i = 0; i < data.length; i++) {
    const row: unknown = data[i];
    if (!Array.isArray(row)) throw malformed(`dataframe_split.data[${i}] must be a list of values`);
    rows.push(row);
  }
  let cols: string[];
  if (columns === undefined) {
    // pandas' split orient without columns numbers them by position.
    cols = Array.from({ length: rows[0]?.length ?? 0 }, (_, i) => String(i));
  } else {
    if (!Array.isArray(columns) || !columns.every((c) => typeof c === "string" || typeof c === "number")) throw malformed("dataframe_split.columns must be a list of column names");
    cols = columns.map(String);
  }
  const dup = cols.find((c, i) => cols.indexOf(c) !== i);
  if (dup !== undefined) throw invalid(`dataframe_split: column '${dup}' appears more than once`);
  rows.forEach((row, i) => {
    if (row.length !== cols.length) throw invalid(`dataframe_split: row ${i} has ${row.length} values but there are ${cols.length} columns`);
  });
  return { columns: cols, rows };
}

function frameFromRecords(v: unknown): Frame {
  if (!Array.isArray(v)) throw malformed("dataframe_records must be a list of {column: value} objects");
  const index = new Map<string, number>();
  const columns: string[] = [];
  v.forEach((rec: unknown, i) => {
    if (!isPlainObject(rec)) throw malformed(`dataframe_records[${i}] must be an object {column: value}`);
    for (const k of Object.keys(rec)) {
      if (!index.has(k)) {
        index.set(k, columns.length);
        columns.push(k);
      }
    }
  });
  // A record without some column leaves a gap, as pandas does (null, read as NaN in float inputs).
  const rows = (v as Record<string, unknown>[]).map((rec) => columns.map((c) => (Object.hasOwn(rec, c) ? rec[c] : null)));
  return { columns, rows };
}

function decodeFrame(frame: Frame, signature: ModelSignature, budget: Budget, format: string): Tensor[] {
  const { columns, rows } = frame;
  const names = new Set(signature.inputs.map((s) => s.name));
  if (columns.length > 0 && columns.every((c) => names.has(c))) {
    return columns.map((c, j) => tensorFromRows(specFor(signature, c), rows.map((r) => r[j]), `${format} column '${c}'`, budget));
  }
  const [only] = signature.inputs;
  if (signature.inputs.length === 1 && only) {
    if (only.shape.length === 1 && columns.length === 1) return [tensorFromRows(only, rows.map((r) => r[0]), `${format} column '${columns[0]}'`, budget)];
    return [tensorFromRows(only, rows, `${format} rows`, budget)];
  }
  const unknown = columns.filter((c) => !names.has(c));
  throw invalid(
    `${format}: columns ${unknown.map((c) => `'${c}'`).join(", ") || "(none)"} do not name inputs of the signature (${[...names].map((n) => `'${n}'`).join(", ") || "none"}); ` +
      "with several inputs each column must be named like one",
  );
}

function decodeInstances(v: unknown, signature: ModelSignature, budget: Budget): Tensor[] {
  if (!Array.isArray(v)) throw malformed("instances must be a list");
  if (v.length === 0) throw invalid("instances is empty");
  if (isPlainObject(v[0])) {
    const names: string[] = [];
    v.forEach((inst: unknown, i) => {
      if (!isPlainObject(inst)) throw malformed(`instances[${i}] must be an object like instances[0]`);
      for (const k of Object.keys(inst)) if (!names.includes(k)) names.push(k);
    });
    const objs = v as Record<string, unknown>[];
    return names.map((name) => {
      const spec = specFor(signature, name);
      const column = objs.map((inst, i) => {
        if (!Object.hasOwn(inst, name)) throw invalid(`instances[${i}] has no value for input '${name}'`);
        return inst[name];
      });
      return tensorFromRows(spec, column, `instances.${name}`, budget);
    });
  }
  return [tensorFromRows(singleInput(signature, "instances"), v, "instances", budget)];
}

function decodeInputs(v: unknown, signature: ModelSignature, budget: Budget): Tensor[] {
  if (isPlainObject(v)) {
    return Object.entries(v).map(([name, value]) => tensorFromNested(specFor(signature, name), value, `inputs.${name}`, budget));
  }
  if (!Array.isArray(v)) throw malformed("inputs must be an object {name: values} or a list of values");
  return [tensorFromNested(singleInput(signature, "inputs"), v, "inputs", budget)];
}

function singleInput(signature: ModelSignature, format: string): TensorSpec {
  const [only] = signature.inputs;
  if (signature.inputs.length !== 1 || !only) {
    throw invalid(`${format} as a list of rows needs a signature with exactly one input, this one has ${signature.inputs.length}; name the inputs (${format === "instances" ? "a list of {name: value} objects" : "an object {name: values}"})`);
  }
  return only;
}

/**
 * Decodes an MLflow scoring request (`POST /invocations`) into tensors, using the signature for
 * names, dtypes and layout. The body holds exactly one of (an extra `params` key is accepted and
 * ignored):
 * - `dataframe_split`: `{columns?, data: [[...]], index?}` (pandas "split" orient; `index` ignored,
 *   columns default to "0", "1", …);
 * - `dataframe_records`: `[{column: value}, ...]` (columns in order of first appearance; a record
 *   lacking a column gets null);
 * - `instances`: a list of rows for a single-input signature (`[n, ...row shape]`), or a list of
 *   `{name: value}` objects (one tensor per name, stacked over the instances);
 * - `inputs`: an object `{name: nested list}` (each value's shape read from its nesting), or a
 *   nested list for a single-input signature.
 *
 * Dataframes map onto the signature by these rules, in order:
 * 1. every column names a signature input: each column becomes its tensor, `[n]` for scalar cells
 *    or `[n, ...cell shape]` for list cells;
 * 2. otherwise, with a single input: the columns in their order become that tensor's second
 *    dimension (`[n, columns]`, as for a `[-1, D]` input), or its only values when the input has
 *    rank 1 and there is one column;
 * 3. otherwise the request is refused.
 * In every format the dtype comes from the input's spec, `null` reads as NaN in float inputs (as
 * pandas writes missing floats), and a tensor of one rank less than a spec ending in `1` gets that
 * trailing dimension (`[n]` → `[n, 1]`). Everything else (missing inputs, dimensions) is left to the
 * signature check.
 * @throws CairnError MALFORMED_REQUEST when the body has none or several formats, or a format's
 *   structure is wrong; INVALID_PARAMETER_VALUE for unknown inputs, ragged lists, values that do
 *   not fit the input's dtype, columns that cannot be mapped, or more than
 *   {@link MAX_REQUEST_ELEMENTS} values in all.
 */
export function decodeScoringRequest(body: unknown, signature: ModelSignature): Tensor[] {
  if (!isPlainObject(body)) throw malformed(`The scoring request must be a JSON object with one of ${FORMATS.join(", ")}`);
  const present = FORMATS.filter((f) => Object.hasOwn(body, f));
  const extra = Object.keys(body).filter((k) => k !== "params" && !(FORMATS as readonly string[]).includes(k));
  if (present.length !== 1 || extra.length > 0) {
    const got = Object.keys(body).map((k) => `'${k}'`).join(", ") || "no keys";
    throw malformed(`The scoring request must have exactly one of ${FORMATS.join(", ")} (and optionally params); got ${got}`);
  }
  const budget = new Budget();
  const format = present[0];
  switch (format) {
    case "dataframe_split":
      return decodeFrame(frameFromSplit(body.dataframe_split), signature, budget, format);
    case "dataframe_records":
      return decodeFrame(frameFromRecords(body.dataframe_records), signature, budget, format);
    case "instances":
      return decodeInstances(body.instances, signature, budget);
    default:
      return decodeInputs(body.inputs, signature, budget);
  }
}

function rowValue(values: readonly unknown[], row: number, rest: readonly number[]): unknown {
  const size = rest.reduce((n, d) => n * d, 1);
  const slice = values.slice(row * size, (row + 1) * size);
  // A per-row [1] is a column's scalar, as a DataFrame holds it.
  if (rest.length === 1 && rest[0] === 1) return slice[0];
  return nest(slice, rest);
}

/**
 * The MLflow scoring response. Values are converted as `tensorToJsonValues` describes (NaN and
 * ±Infinity as strings, 64-bit integers past 2^53 as strings).
 * - one output: its values nested by its shape (`[n, 1]` → `[[a], [b], …]`, as numpy's `tolist`);
 * - several outputs sharing a first dimension n: a list of n objects `{name: row value}`, like a
 *   DataFrame output's records; a row value of shape `[1]` is given as its scalar;
 * - several outputs without a shared first dimension: an object `{name: nested values}`, as MLflow
 *   answers for a dict of arrays;
 * - no outputs: an empty list.
 * @throws CairnError INTERNAL_ERROR when an output's data does not fill its shape.
 */
export function encodeScoringResponse(outputs: Tensor[]): { predictions: unknown } {
  const [first] = outputs;
  if (!first) return { predictions: [] };
  if (outputs.length === 1) return { predictions: nest(tensorToJsonValues(first), first.shape) };
  const values = outputs.map(tensorToJsonValues);
  const n = first.shape[0];
  if (n === undefined || !outputs.every((t) => t.shape.length > 0 && t.shape[0] === n)) {
    return { predictions: Object.fromEntries(outputs.map((t, i) => [t.name, nest(values[i] ?? [], t.shape)])) };
  }
  const rows: Record<string, unknown>[] = [];
  for (let r = 0; r < n; r++) {
    const row: Record<string, unknown> = {};
    outputs.forEach((t, i) => {
      row[t.name] = rowValue(values[i] ?? [], r, t.shape.slice(1));
    });
    rows.push(row);
  }
  return { predictions: rows };
}
