import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { CairnError } from "./errors.js";
import { ModelSignature, type ModelFlavor, type TensorDType, type TensorSpec } from "./registry.js";

/**
 * Model packages (`@cairn/contract/mlmodel`, a subpath so that browser bundles of the contract do not
 * carry the YAML library): a directory with an MLflow-compatible `MLmodel` YAML file at its root that names
 * the package's flavors (how a runtime loads it) and its signature. Pure and browser-safe: the SDK
 * writes packages with `renderMLmodel`, the server reads them with `parseMLmodel`.
 */

/** The manifest's file name, at the package root (as in MLflow). */
export const MLMODEL_FILE = "MLmodel";
/** MLflow's ONNX flavor: `onnx: {data: model.onnx}` (MLflow names the model file `data`). */
export const ONNX_FLAVOR = "onnx";
/** Cairn's JS-module flavor: `cairn_js: {entry: index.mjs}`, an ES module inside the package. */
export const JS_FLAVOR = "cairn_js";
/** The version of Cairn's additions to the format (the `cairn` key). */
export const PACKAGE_FORMAT_VERSION = 1;

export const PACKAGE_LIMITS = {
  /** Largest MLmodel file read; a bigger one fails registration (real ones are a few KB). */
  mlmodelBytes: 1024 * 1024,
} as const;

/** What `parseMLmodel` reads from an MLmodel file. */
export interface MLmodel {
  /** In file order. */
  flavors: ModelFlavor[];
  /** The declared signature, converted to tensors; null when none is declared or it cannot be represented. */
  signature: ModelSignature | null;
  /** Why a declared signature was dropped (a type Cairn's tensors cannot hold); absent otherwise. */
  signatureDropped?: string;
  modelUuid?: string;
  utcTimeCreated?: string;
  runId?: string;
  artifactPath?: string;
  /** Cairn's own metadata (`cairn:` key), when the package was written by Cairn. */
  cairn?: Record<string, unknown>;
}

const bad = (msg: string) => new CairnError("INVALID_PARAMETER_VALUE", `MLmodel: ${msg}`);
const isMap = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

// numpy dtype names (tensor-based signatures) → Cairn dtypes. `object` and `str` hold strings in MLflow.
const TENSOR_DTYPES: Record<string, TensorDType> = {
  float16: "float16",
  float32: "float32",
  float64: "float64",
  int8: "int8",
  int32: "int32",
  int64: "int64",
  uint8: "uint8",
  bool: "bool",
  str: "string",
  object: "string",
};
// MLflow's column types (column-based signatures) → Cairn dtypes; each column becomes a `[-1]` tensor.
const COLUMN_DTYPES: Record<string, TensorDType> = {
  boolean: "bool",
  integer: "int32",
  long: "int64",
  float: "float32",
  double: "float64",
  string: "string",
};

/** A type the JSON names but Cairn cannot represent: the signature is dropped, not the package failed. */
class Unrepresentable extends Error {}

function specsFromMlflow(raw: unknown, side: "inputs" | "outputs"): TensorSpec[] {
  if (raw === undefined || raw === null) return [];
  let list: unknown = raw;
  if (typeof raw === "string") {
    try {
      list = JSON.parse(raw);
    } catch {
      throw bad(`signature.${side} is not valid JSON`);
    }
  }
  if (!Array.isArray(list)) throw bad(`signature.${side} must be a JSON list of column or tensor specs`);
  return list.map((s, i): TensorSpec => {
    const where = `signature.${side}[${i}]`;
    if (!isMap(s) || typeof s.type !== "string") throw bad(`${where} must be an object with a 'type'`);
    if (s.name !== undefined && s.name !== null && typeof s.name !== "string") throw bad(`${where}.name must be a string`);
    // Unnamed specs are positional in MLflow; their index is the name here.
    const name = typeof s.name === "string" && s.name !== "" ? s.name : String(i);
    const optional = s.required === false ? { optional: true } : {};
    if (s.type === "tensor") {
      const t = s["tensor-spec"];
      if (!isMap(t) || typeof t.dtype !== "string" || !Array.isArray(t.shape)) throw bad(`${where} is a tensor without a 'tensor-spec' {dtype, shape}`);
      if (!t.shape.every((d) => Number.isInteger(d) && (d as number) >= -1)) throw bad(`${where}.tensor-spec.shape must hold integers >= -1`);
      const dtype = TENSOR_DTYPES[t.dtype];
      if (!dtype) throw new Unrepresentable(`${where} ('${name}') has tensor dtype '${t.dtype}'`);
      return { name, dtype, shape: t.shape as number[], ...optional };
    }
    const dtype = COLUMN_DTYPES[s.type];
    if (!dtype) throw new Unrepresentable(`${where} ('${name}') has column type '${s.type}'`);
    return { name, dtype, shape: [-1], ...optional };
  });
}

/**
 * Converts an MLflow signature (`{inputs, outputs}`, each a JSON string or list of specs) to
 * Cairn's tensors: tensor specs keep dtype and shape; each column becomes a `[-1]` tensor of the
 * column's type (`double` → float64, `long` → int64, …); `required: false` becomes `optional`.
 * Returns `{dropped}` instead when a spec uses a type Cairn cannot hold (`binary`, `datetime`, `int16`, …).
 * @throws CairnError INVALID_PARAMETER_VALUE for malformed JSON or specs, or duplicate names
 * @example signatureFromMlflow({ inputs: '[{"type": "double", "name": "x"}]' }) // { signature: { inputs: [{ name: "x", dtype: "float64", shape: [-1] }], outputs: [] } }
 */
export function signatureFromMlflow(sig: { inputs?: unknown; outputs?: unknown }): { signature: ModelSignature } | { dropped: string } {
  let inputs: TensorSpec[];
  let outputs: TensorSpec[];
  try {
    inputs = specsFromMlflow(sig.inputs, "inputs");
    outputs = specsFromMlflow(sig.outputs, "outputs");
  } catch (e) {
    if (e instanceof Unrepresentable) return { dropped: `${e.message}, which Cairn signatures cannot represent` };
    throw e;
  }
  const parsed = ModelSignature.safeParse({ inputs, outputs });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw bad(`signature.${issue.path.join(".")}: ${issue.message}`);
  }
  return { signature: parsed.data };
}

/** Cairn's signature in MLflow's tensor-based form: `inputs` and `outputs` as JSON strings. */
export function signatureToMlflow(sig: ModelSignature): { inputs: string; outputs: string } {
  const specs = (list: TensorSpec[]) =>
    JSON.stringify(list.map((t) => ({ type: "tensor", "tensor-spec": { dtype: t.dtype === "string" ? "str" : t.dtype, shape: t.shape }, name: t.name, ...(t.optional ? { required: false } : {}) })));
  return { inputs: specs(sig.inputs), outputs: specs(sig.outputs) };
}

const str = (m: Record<string, unknown>, key: string): string | undefined => {
  const v = m[key];
  if (v === undefined || v === null) return undefined;
  // YAML may read an unquoted hex uuid or a date as a number or Date; keep their text.
  if (v instanceof Date) return v.toISOString();
  if (typeof v === "string" || typeof v === "number") return String(v);
  throw bad(`'${key}' must be a string`);
};

/**
 * Parses an MLmodel file (MLflow's or Cairn's). It must be a YAML mapping with a non-empty
 * `flavors` mapping (each flavor's settings a mapping); `signature`, `model_uuid`,
 * `utc_time_created`, `run_id`, `artifact_path` and `cairn` are read when present, other keys ignored.
 * @throws CairnError INVALID_PARAMETER_VALUE, its message starting `MLmodel:`, for invalid YAML or structure
 * @example parseMLmodel("flavors:\n  onnx:\n    data: model.onnx\n").flavors // [{ name: "onnx", details: { data: "model.onnx" } }]
 */
export function parseMLmodel(text: string): MLmodel {
  let doc: unknown;
  try {
    // maxAliasCount bounds alias expansion ("billion laughs"); the file size is bounded by the reader.
    doc = parseYaml(text, { maxAliasCount: 100, prettyErrors: false });
  } catch (e) {
    throw bad(`not valid YAML: ${(e as Error).message.split("\n")[0]}`);
  }
  if (!isMap(doc)) throw bad("must be a YAML mapping with a 'flavors' key");
  if (!isMap(doc.flavors) || Object.keys(doc.flavors).length === 0) throw bad("'flavors' must be a non-empty mapping of flavor names to their settings");
  const flavors: ModelFlavor[] = Object.entries(doc.flavors).map(([name, details]) => {
    if (details === null) return { name, details: {} };
    if (!isMap(details)) throw bad(`flavor '${name}' must be a mapping of settings`);
    return { name, details: details as Record<string, unknown> };
  });
  const out: MLmodel = { flavors, signature: null };
  if (doc.signature !== undefined && doc.signature !== null) {
    if (!isMap(doc.signature)) throw bad("'signature' must be a mapping with 'inputs' and 'outputs'");
    if (doc.signature.inputs !== undefined && doc.signature.inputs !== null) {
      const conv = signatureFromMlflow(doc.signature);
      if ("signature" in conv) out.signature = conv.signature;
      else out.signatureDropped = conv.dropped;
    }
  }
  const fields = [["model_uuid", "modelUuid"], ["utc_time_created", "utcTimeCreated"], ["run_id", "runId"], ["artifact_path", "artifactPath"]] as const;
  for (const [key, prop] of fields) {
    const v = str(doc, key);
    if (v !== undefined) out[prop] = v;
  }
  if (doc.cairn !== undefined && doc.cairn !== null) {
    if (!isMap(doc.cairn)) throw bad("'cairn' must be a mapping");
    out.cairn = doc.cairn;
  }
  return out;
}

/** What `renderMLmodel` writes. */
export interface MLmodelInput {
  flavors: ModelFlavor[];
  signature?: ModelSignature | null;
  /** 32 hex digits, as MLflow writes it. */
  modelUuid: string;
  /** Default: now. */
  time?: Date;
  runId?: string;
  artifactPath?: string;
  /** Extra Cairn metadata, written under `cairn:` beside `format_version`. */
  cairn?: Record<string, unknown>;
}

/** MLflow's `utc_time_created` form: `2026-01-31 12:34:56.789000`. */
function mlflowTime(d: Date): string {
  return `${d.toISOString().replace("T", " ").replace("Z", "")}000`;
}

/**
 * Renders an MLmodel file MLflow can read: `artifact_path`, `flavors`, `model_uuid`, `run_id`,
 * `signature` (tensor-based, JSON strings as MLflow writes them), `utc_time_created`, and Cairn's
 * `cairn: {format_version, …}`. `parseMLmodel(renderMLmodel(x))` gives back the flavors and signature.
 * @example renderMLmodel({ flavors: onnxFlavors("model.onnx"), modelUuid: "0123456789abcdef0123456789abcdef" })
 */
export function renderMLmodel(m: MLmodelInput): string {
  const doc: Record<string, unknown> = {};
  if (m.artifactPath !== undefined) doc.artifact_path = m.artifactPath;
  doc.flavors = Object.fromEntries(m.flavors.map((f) => [f.name, f.details]));
  doc.model_uuid = m.modelUuid;
  if (m.runId !== undefined) doc.run_id = m.runId;
  if (m.signature) doc.signature = signatureToMlflow(m.signature);
  doc.utc_time_created = mlflowTime(m.time ?? new Date());
  doc.cairn = { format_version: PACKAGE_FORMAT_VERSION, ...(m.cairn ?? {}) };
  return stringifyYaml(doc, { lineWidth: 0 });
}

/**
 * The flavors of an ONNX package whose model file is `file` (relative to the package root): MLflow's
 * `onnx` flavor and a `python_function` flavor, so `mlflow.pyfunc.load_model` can load it too.
 */
export function onnxFlavors(file: string): ModelFlavor[] {
  return [
    { name: ONNX_FLAVOR, details: { data: file, providers: ["CPUExecutionProvider"] } },
    { name: "python_function", details: { loader_module: "mlflow.onnx", data: file } },
  ];
}

/** The flavor of a JS-module package whose entry module is `entry` (relative to the package root). */
export function jsModuleFlavors(entry: string): ModelFlavor[] {
  return [{ name: JS_FLAVOR, details: { entry } }];
}
