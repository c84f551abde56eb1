/**
 * Open Inference Protocol (KServe v2) REST codecs: the infer request decoded into {@link Tensor}s,
 * output tensors encoded into the infer response, and model metadata from a signature. Pure
 * functions; the value helpers (JSON values ↔ typed arrays, nesting, FP16 bits) are shared with the
 * MLflow scoring codec.
 */
import { z } from "zod";
import { CairnError, type ModelSignature, type TensorSpec } from "@cairn/contract";
import { DATATYPES, DTYPE_TO_DATATYPE, elementCount, type Datatype, type Tensor, type TensorData } from "./tensor.js";

/** Most values one request may carry, all inputs together (bounds decoding work and memory). */
export const MAX_REQUEST_ELEMENTS = 16 * 1024 * 1024;
/** Most dimensions a tensor may have (the registry's limit on signature tensors). */
export const MAX_TENSOR_RANK = 32;

const DATATYPE_SET: ReadonlySet<string> = new Set(DATATYPES);

/** Whether a string is one of the protocol's datatypes. */
export function isDatatype(s: string): s is Datatype {
  return DATATYPE_SET.has(s);
}

/** A shape as messages print it: `[2, 3]`. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

const invalid = (message: string) => new CairnError("INVALID_PARAMETER_VALUE", message);

// ---------- FP16 ----------

function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * The IEEE 754 half-precision bit pattern nearest to `x` (round half to even, straight from the
 * double so there is no double rounding). Values of magnitude 65520 or more become ±Infinity
 * (0x7c00/0xfc00), values below the smallest subnormal (2^-24) round to ±0, NaN becomes 0x7e00.
 * @example floatToHalfBits(1) === 0x3c00
 */
export function floatToHalfBits(x: number): number {
  if (Number.isNaN(x)) return 0x7e00;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a === 0) return sign;
  // 65520 is halfway between 65504 (odd mantissa) and 2^16, so it and anything above round to Infinity.
  if (a >= 65520) return sign | 0x7c00;
  if (a < 2 ** -14) {
    // Subnormal: a multiple of 2^-24. Scaling by a power of two is exact; a rounded-up 1024 is the
    // smallest normal's bit pattern, so no special case is needed.
    return sign | roundHalfEven(a * 2 ** 24);
  }
  let e = Math.floor(Math.log2(a));
  // log2 may be off by one near powers of two.
  if (2 ** e > a) e -= 1;
  else if (2 ** (e + 1) <= a) e += 1;
  const m = roundHalfEven((a / 2 ** e - 1) * 1024);
  // A mantissa that rounds up to 1024 carries into the exponent, which the addition does by itself.
  return sign | (((e + 15) << 10) + m);
}

/** The number a half-precision bit pattern holds (exact: every half is a double). */
export function halfBitsToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

// ---------- JSON values → typed arrays ----------

const INT_RANGES = {
  INT8: [-128, 127, Int8Array],
  INT16: [-32768, 32767, Int16Array],
  INT32: [-2147483648, 2147483647, Int32Array],
  UINT8: [0, 255, Uint8Array],
  UINT16: [0, 65535, Uint16Array],
  UINT32: [0, 4294967295, Uint32Array],
} as const;

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
const BIGINT_TEXT = /^[+-]?\d{1,40}$/;

/** Options for {@link toTensorData}. */
export interface ValueOptions {
  /** Read `null` as NaN in FP inputs (pandas writes missing floats as null). Off for OIP. */
  nullAsNaN?: boolean;
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === "object") return "an object";
  return String(v);
}

function floatValue(label: string, datatype: Datatype, v: unknown, i: number, opts: ValueOptions): number {
  if (typeof v === "number") return v;
  if (v === "NaN") return NaN;
  if (v === "Infinity") return Infinity;
  if (v === "-Infinity") return -Infinity;
  if (v === null && opts.nullAsNaN) return NaN;
  throw invalid(`${label}: value ${i} is ${describe(v)}, expected a number (or "NaN", "Infinity", "-Infinity") for ${datatype}`);
}

function bigintValue(label: string, datatype: "INT64" | "UINT64", v: unknown, i: number): bigint {
  let b: bigint;
  if (typeof v === "number") {
    if (!Number.isInteger(v)) throw invalid(`${label}: value ${i} is ${describe(v)}, expected an integer for ${datatype}`);
    // A JSON number past 2^53 was already rounded by the parser; the caller must send a string.
    if (!Number.isSafeInteger(v)) throw invalid(`${label}: value ${i} (${v}) is beyond ±2^53 and lost precision in JSON; send it as a string for ${datatype}`);
    b = BigInt(v);
  } else if (typeof v === "string" && BIGINT_TEXT.test(v)) {
    b = BigInt(v);
  } else {
    throw invalid(`${label}: value ${i} is ${describe(v)}, expected an integer (number or numeric string) for ${datatype}`);
  }
  const [lo, hi] = datatype === "INT64" ? [INT64_MIN, INT64_MAX] : [0n, UINT64_MAX];
  if (b < lo || b > hi) throw invalid(`${label}: value ${i} (${b}) is out of range for ${datatype} (${lo}..${hi})`);
  return b;
}

/**
 * Converts flat row-major JSON values into the typed array of `datatype`:
 * - BOOL: `true`/`false` (also `0`/`1`) → Uint8Array of 0/1;
 * - INT8…INT32, UINT8…UINT32: integer numbers within the type's range;
 * - INT64/UINT64: safe-integer numbers or decimal strings (for values past 2^53), range-checked;
 * - FP16/FP32/FP64: numbers or the strings `"NaN"`, `"Infinity"`, `"-Infinity"` (JSON has no
 *   literal for them); a finite value too large for FP16/FP32 is an error; FP16 is stored as bits;
 * - BYTES: strings.
 * `label` starts every message (`input 'x'`).
 * @throws CairnError INVALID_PARAMETER_VALUE naming the value's index when a value does not fit.
 */
export function toTensorData(label: string, datatype: Datatype, values: readonly unknown[], opts: ValueOptions = {}): TensorData {
  const n = values.length;
  switch (datatype) {
    case "BOOL": {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (v === true || v === 1) out[i] = 1;
        else if (v === false || v === 0) out[i] = 0;
        else throw invalid(`${label}: value ${i} is ${describe(v)}, expected true or false for BOOL`);
      }
      return out;
    }
    case "INT8":
    case "INT16":
    case "INT32":
    case "UINT8":
    case "UINT16":
    case "UINT32": {
      const [lo, hi, Ctor] = INT_RANGES[datatype];
      const out = new Ctor(n);
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (typeof v !== "number" || !Number.isInteger(v)) throw invalid(`${label}: value ${i} is ${describe(v)}, expected an integer for ${datatype}`);
        if (v < lo || v > hi) throw invalid(`${label}: value ${i} (${v}) is out of range for ${datatype} (${lo}..${hi})`);
        out[i] = v;
      }
      return out;
    }
    case "INT64":
    case "UINT64": {
      const out = datatype === "INT64" ? new BigInt64Array(n) : new BigUint64Array(n);
      for (let i = 0; i < n; i++) out[i] = bigintValue(label, datatype, values[i], i);
      return out;
    }
    case "FP16": {
      const out = new Uint16Array(n);
      for (let i = 0; i < n; i++) {
        const x = floatValue(label, datatype, values[i], i, opts);
        const bits = floatToHalfBits(x);
        if (Number.isFinite(x) && (bits & 0x7fff) === 0x7c00) throw invalid(`${label}: value ${i} (${x}) is out of range for FP16 (±65504)`);
        out[i] = bits;
      }
      return out;
    }
    case "FP32": {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const x = floatValue(label, datatype, values[i], i, opts);
        const f = Math.fround(x);
        if (Number.isFinite(x) && !Number.isFinite(f)) throw invalid(`${label}: value ${i} (${x}) is out of range for FP32`);
        out[i] = f;
      }
      return out;
    }
    case "FP64": {
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) out[i] = floatValue(label, datatype, values[i], i, opts);
      return out;
    }
    case "BYTES": {
      const out: string[] = new Array<string>(n);
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (typeof v !== "string") throw invalid(`${label}: value ${i} is ${describe(v)}, expected a string for BYTES`);
        out[i] = v;
      }
      return out;
    }
  }
}

// ---------- nesting ----------

/**
 * Checks a shape: at most {@link MAX_TENSOR_RANK} dimensions, each a non-negative safe integer, and
 * at most `limit` elements. Returns the element count.
 * @throws CairnError INVALID_PARAMETER_VALUE naming `label`.
 */
export function checkShape(label: string, shape: readonly number[], limit: number = MAX_REQUEST_ELEMENTS): number {
  if (shape.length > MAX_TENSOR_RANK) throw invalid(`${label}: shape has ${shape.length} dimensions, at most ${MAX_TENSOR_RANK} are allowed`);
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw invalid(`${label}: shape ${formatShape(shape)} has an invalid dimension ${d}; dimensions must be integers >= 0`);
  }
  if (shape.includes(0)) return 0;
  let count = 1;
  for (const d of shape) {
    count *= d;
    if (count > limit) throw invalid(`${label}: shape ${formatShape(shape)} holds more than ${limit} values, the most one request may carry`);
  }
  return count;
}

/**
 * Appends the leaves of `value`, nested exactly as `shape` (a list of `shape[0]` lists of
 * `shape[1]` … values; a bare value for rank 0), to `out` in row-major order.
 * `where` names the value in messages (`data`, `instances`).
 * @throws CairnError INVALID_PARAMETER_VALUE at the first list whose length or depth differs.
 */
export function collectNested(label: string, value: unknown, shape: readonly number[], out: unknown[], where = "data"): void {
  const walk = (v: unknown, depth: number, path: string): void => {
    if (depth === shape.length) {
      if (Array.isArray(v)) throw invalid(`${label}: ${path} is nested deeper than shape ${formatShape(shape)}`);
      out.push(v);
      return;
    }
    if (!Array.isArray(v)) throw invalid(`${label}: ${path} is ${describe(v)} where shape ${formatShape(shape)} expects a list of ${shape[depth]}`);
    if (v.length !== shape[depth]) throw invalid(`${label}: ${path} has ${v.length} values where shape ${formatShape(shape)} expects ${shape[depth]}`);
    for (let i = 0; i < v.length; i++) walk(v[i], depth + 1, `${path}[${i}]`);
  };
  walk(value, 0, where);
}

/**
 * The shape a nested list has, read along its first elements (`[[1,2],[3,4],[5,6]]` → `[3, 2]`,
 * a bare value → `[]`). Raggedness is found later by {@link collectNested}.
 * @throws CairnError INVALID_PARAMETER_VALUE when nested deeper than {@link MAX_TENSOR_RANK}.
 */
export function inferNestedShape(label: string, value: unknown): number[] {
  const shape: number[] = [];
  let v = value;
  while (Array.isArray(v)) {
    if (shape.length === MAX_TENSOR_RANK) throw invalid(`${label}: lists nested more than ${MAX_TENSOR_RANK} deep`);
    shape.push(v.length);
    if (v.length === 0) break;
    v = v[0];
  }
  return shape;
}

/**
 * Row-major flat data from OIP `data`, flat (exactly product(shape) values) or nested to match
 * `shape` exactly.
 * @throws CairnError INVALID_PARAMETER_VALUE on a count or nesting mismatch, naming `label`.
 */
export function flattenData(label: string, data: readonly unknown[], shape: readonly number[], count: number): readonly unknown[] {
  if (data.some(Array.isArray)) {
    const out: unknown[] = [];
    collectNested(label, data, shape, out);
    return out;
  }
  if (data.length !== count) throw invalid(`${label}: expected ${count} values for shape ${formatShape(shape)}, got ${data.length}`);
  return data;
}

/**
 * Reshapes flat row-major values into nested lists (`[]` shape → the single value).
 * `values.length` must equal product(shape).
 */
export function nest(values: readonly unknown[], shape: readonly number[]): unknown {
  if (shape.length === 0) return values[0];
  let pos = 0;
  const build = (depth: number): unknown[] => {
    const n = shape[depth] ?? 0;
    const list = new Array<unknown>(n);
    if (depth === shape.length - 1) {
      for (let i = 0; i < n; i++) list[i] = values[pos++];
    } else {
      for (let i = 0; i < n; i++) list[i] = build(depth + 1);
    }
    return list;
  };
  return build(0);
}

// ---------- typed arrays → JSON values ----------

function jsonFloat(x: number): number | string {
  if (Number.isFinite(x)) return x;
  return Number.isNaN(x) ? "NaN" : x > 0 ? "Infinity" : "-Infinity";
}

/**
 * A tensor's data as flat JSON values: FP16 bits → numbers; BOOL → booleans; INT64/UINT64 → numbers
 * when within ±2^53, else decimal strings (JSON numbers past 2^53 lose precision in most parsers);
 * NaN/±Infinity → the strings `"NaN"`, `"Infinity"`, `"-Infinity"` (JSON has no literal for them,
 * and Triton/KServe clients read these strings).
 * @throws CairnError INTERNAL_ERROR when the data's length does not match the shape (a runtime bug).
 */
export function tensorToJsonValues(t: Tensor): unknown[] {
  const { data } = t;
  if (data.length !== elementCount(t.shape)) {
    throw new CairnError("INTERNAL_ERROR", `output '${t.name}': ${data.length} values do not fill shape ${formatShape(t.shape)}`);
  }
  if (Array.isArray(data)) return data.slice();
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
    return Array.from(data, (b) => (b >= -9007199254740991n && b <= 9007199254740991n ? Number(b) : b.toString()));
  }
  if (t.datatype === "FP16") return Array.from(data, (h) => jsonFloat(halfBitsToFloat(h)));
  if (t.datatype === "BOOL") return Array.from(data, (v) => v !== 0);
  return Array.from(data, jsonFloat);
}

// ---------- infer request / response ----------

const Params = z.record(z.string(), z.unknown());

const InferRequestSchema = z.object({
  // It is echoed in the x-request-id header and keys the inference log (where labels join on it).
  id: z.string().regex(/^[\x21-\x7e]{1,128}$/, "must be 1 to 128 printable ASCII characters without spaces").optional(),
  parameters: Params.optional(),
  inputs: z.array(
    z.object({
      name: z.string().min(1, "must not be empty"),
      shape: z.array(z.number()),
      datatype: z.string(),
      parameters: Params.optional(),
      data: z.array(z.unknown()),
    }),
  ),
  outputs: z.array(z.object({ name: z.string().min(1, "must not be empty"), parameters: Params.optional() })).optional(),
});

/** A decoded infer request. */
export interface InferRequest {
  id?: string;
  parameters?: Record<string, unknown>;
  inputs: Tensor[];
  /** The outputs asked for by name; absent means all. */
  outputs?: string[];
}

/**
 * Decodes and checks an OIP v2 infer request body (`{id?, parameters?, inputs: [{name, shape,
 * datatype, parameters?, data}], outputs?: [{name, parameters?}]}`) into tensors. `data` may be flat
 * (product(shape) values) or nested exactly as `shape`; values are converted as
 * {@link toTensorData} describes. Per-input `parameters` are dropped, except that Triton's binary
 * data extension (`binary_data_size`) is refused since only JSON data is read.
 * @throws CairnError MALFORMED_REQUEST when the body does not have the request's structure;
 *   INVALID_PARAMETER_VALUE (the message names the input) for an unknown datatype, a bad shape, data
 *   that does not fill the shape, a value that does not fit its datatype, a duplicate input or output
 *   name, or more than {@link MAX_REQUEST_ELEMENTS} values in all.
 */
export function decodeInferRequest(body: unknown): InferRequest {
  const parsed = InferRequestSchema.safeParse(body);
  if (!parsed.success) {
    const details = parsed.error.issues.map((i) => ({ path: i.path.map(String).join("."), message: i.message }));
    const first = details[0];
    const where = first && first.path ? `${first.path}: ` : "";
    throw new CairnError("MALFORMED_REQUEST", `Malformed infer request: ${where}${first?.message ?? "invalid body"}`, { details });
  }
  const req = parsed.data;
  const seen = new Set<string>();
  let total = 0;
  const inputs: Tensor[] = req.inputs.map((inp) => {
    const label = `input '${inp.name}'`;
    if (seen.has(inp.name)) throw invalid(`${label} appears more than once`);
    seen.add(inp.name);
    if (!isDatatype(inp.datatype)) throw invalid(`${label}: unknown datatype '${inp.datatype}'; expected one of ${DATATYPES.join(", ")}`);
    if (inp.parameters && "binary_data_size" in inp.parameters) throw invalid(`${label}: binary tensor data is not supported; send the values in 'data'`);
    const count = checkShape(label, inp.shape, MAX_REQUEST_ELEMENTS - total);
    total += count;
    const values = flattenData(label, inp.data, inp.shape, count);
    return { name: inp.name, datatype: inp.datatype, shape: [...inp.shape], data: toTensorData(label, inp.datatype, values) };
  });
  const out: InferRequest = { inputs };
  if (req.id !== undefined) out.id = req.id;
  if (req.parameters !== undefined) out.parameters = req.parameters;
  if (req.outputs !== undefined) {
    const names = req.outputs.map((o) => o.name);
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup !== undefined) throw invalid(`output '${dup}' is requested more than once`);
    out.outputs = names;
  }
  return out;
}

/** An encoded infer response output. */
export interface InferResponseOutput {
  name: string;
  datatype: Datatype;
  shape: number[];
  data: unknown[];
}

/** An encoded infer response, ready for JSON. */
export interface InferResponse {
  model_name: string;
  model_version?: string;
  id: string;
  parameters?: Record<string, unknown>;
  outputs: InferResponseOutput[];
}

/**
 * The OIP v2 infer response body. Each output's `data` is flat row-major (the protocol allows flat)
 * and converted as {@link tensorToJsonValues} describes: in particular NaN and ±Infinity are sent as
 * the strings `"NaN"`, `"Infinity"`, `"-Infinity"` because JSON cannot hold them, and 64-bit integers
 * beyond ±2^53 as decimal strings.
 * @throws CairnError INTERNAL_ERROR when an output's data does not fill its shape.
 */
export function encodeInferResponse(opts: { modelName: string; modelVersion?: string; id: string; parameters?: Record<string, unknown>; outputs: Tensor[] }): InferResponse {
  const res: InferResponse = { model_name: opts.modelName, id: opts.id, outputs: [] };
  if (opts.modelVersion !== undefined) res.model_version = opts.modelVersion;
  if (opts.parameters !== undefined) res.parameters = opts.parameters;
  res.outputs = opts.outputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: [...t.shape], data: tensorToJsonValues(t) }));
  return res;
}

/** One tensor in model metadata. */
export interface TensorMetadata {
  name: string;
  datatype: Datatype;
  /** `-1` marks a variable dimension. */
  shape: number[];
}

/** The OIP model metadata body. */
export interface ModelMetadata {
  name: string;
  versions?: string[];
  platform: string;
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
}

const specMetadata = (s: TensorSpec): TensorMetadata => ({ name: s.name, datatype: DTYPE_TO_DATATYPE[s.dtype], shape: [...s.shape] });

/**
 * The OIP model metadata body (`GET /v2/models/{model}`) from a signature: each tensor's dtype as
 * its datatype (`DTYPE_TO_DATATYPE`), `-1` dimensions kept as variable. Without a signature the
 * input and output lists are empty. `versions` is left out when not given.
 */
export function modelMetadata(opts: { name: string; versions?: string[]; platform: string; signature?: ModelSignature | null }): ModelMetadata {
  return {
    name: opts.name,
    ...(opts.versions !== undefined ? { versions: [...opts.versions] } : {}),
    platform: opts.platform,
    inputs: opts.signature?.inputs.map(specMetadata) ?? [],
    outputs: opts.signature?.outputs.map(specMetadata) ?? [],
  };
}
