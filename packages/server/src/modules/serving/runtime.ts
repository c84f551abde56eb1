import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { CairnError, type ModelFlavor, type ModelSignature } from "@cairn/contract";
import { JS_FLAVOR, MLMODEL_FILE, ONNX_FLAVOR, parseMLmodel } from "@cairn/contract/mlmodel";
import { loadOrt, tensorsFromOrt, type Ort, type OrtValueMetadata } from "../registry/packaging.js";
import { DTYPE_TO_DATATYPE, elementCount, type Datatype, type Tensor, type TensorData } from "./tensor.js";

/** A model loaded for serving: one registry version, ready to run. */
export interface LoadedModel {
  name: string;
  version: string;
  /** `onnxruntime` or `cairn_js`. */
  platform: string;
  /** The signature requests are checked against: the version's, else what the runtime reports. */
  signature: ModelSignature | null;
  /** Runs the model on a batch; `outputs` limits which outputs are computed and returned. */
  infer(inputs: Tensor[], outputs?: string[]): Promise<Tensor[]>;
  /** Frees the runtime's resources. */
  close(): Promise<void>;
}

export interface RuntimeOptions {
  /** onnxruntime's threads within an operator (default 1: requests run side by side). */
  intraOpThreads?: number;
  /** onnxruntime's threads across operators (default 1). */
  interOpThreads?: number;
  /**
   * Whether JS-module models may load (default true). A JS module runs its own code in this process,
   * so the main server refuses them unless an admin allows it (`CAIRN_DEPLOY_JS_MODELS`).
   */
  allowJsModules?: boolean;
}

const ORT_TYPE: Record<Datatype, string> = {
  BOOL: "bool",
  UINT8: "uint8",
  UINT16: "uint16",
  UINT32: "uint32",
  UINT64: "uint64",
  INT8: "int8",
  INT16: "int16",
  INT32: "int32",
  INT64: "int64",
  FP16: "float16",
  FP32: "float32",
  FP64: "float64",
  BYTES: "string",
};
const FROM_ORT: Record<string, Datatype> = Object.fromEntries(Object.entries(ORT_TYPE).map(([k, v]) => [v, k as Datatype]));

/** Why a JS-module model is refused where JS modules are not allowed. */
export const JS_REFUSED = (v: { name: string; version: string }) =>
  `Model ${v.name} version ${v.version} is a JS-module model: it would run its own code inside the Cairn server, which an admin must allow (CAIRN_DEPLOY_JS_MODELS=1); or serve it in its own process with \`cairn serve\``;

/** The flavor a package is served with: ONNX first, then the JS module. */
function pickFlavor(flavors: readonly ModelFlavor[]): ModelFlavor {
  const f = flavors.find((x) => x.name === ONNX_FLAVOR) ?? flavors.find((x) => x.name === JS_FLAVOR);
  if (!f) throw new CairnError("INVALID_PARAMETER_VALUE", `The model has no flavor Cairn can serve (${flavors.map((x) => x.name).join(", ") || "none"}); it needs '${ONNX_FLAVOR}' or '${JS_FLAVOR}'`);
  return f;
}

/** A file named by a flavor setting, inside the package directory. */
function packageFile(dir: string, rel: unknown, what: string): string {
  if (typeof rel !== "string" || rel === "") throw new CairnError("INVALID_PARAMETER_VALUE", `The model package names no ${what}`);
  const abs = path.resolve(dir, rel);
  if (abs !== dir && !abs.startsWith(dir + path.sep)) throw new CairnError("INVALID_PARAMETER_VALUE", `The model package's ${what} '${rel}' is outside the package`);
  if (!fs.existsSync(abs)) throw new CairnError("INVALID_PARAMETER_VALUE", `The model package's ${what} '${rel}' is missing`);
  return abs;
}

/**
 * Loads a model package directory (an `MLmodel` file and its model files, as `models.download`
 * writes it) for serving: the ONNX flavor through onnxruntime-node, or the JS-module flavor (an ES
 * module exporting `predict(inputs)`).
 * @throws CairnError INVALID_PARAMETER_VALUE when the package cannot be served (no servable flavor, a missing or corrupt model file)
 */
export async function loadModelPackage(dir: string, meta: { name: string; version: string; signature: ModelSignature | null }, opts: RuntimeOptions = {}): Promise<LoadedModel> {
  const root = path.resolve(dir);
  const mlmodelPath = path.join(root, MLMODEL_FILE);
  if (!fs.existsSync(mlmodelPath)) throw new CairnError("INVALID_PARAMETER_VALUE", `Model ${meta.name} version ${meta.version} has no MLmodel file; Cairn serves packaged models (onnx or cairn_js)`);
  const mlmodel = parseMLmodel(fs.readFileSync(mlmodelPath, "utf8"));
  const flavor = pickFlavor(mlmodel.flavors);
  const signature = meta.signature ?? mlmodel.signature;
  if (flavor.name === ONNX_FLAVOR) return loadOnnx(packageFile(root, flavor.details.data, "ONNX file ('data')"), { ...meta, signature }, opts);
  if (opts.allowJsModules === false) throw new CairnError("INVALID_PARAMETER_VALUE", JS_REFUSED(meta));
  return loadJsModule(packageFile(root, flavor.details.entry, "entry module ('entry')"), { ...meta, signature });
}

async function loadOnnx(file: string, meta: { name: string; version: string; signature: ModelSignature | null }, opts: RuntimeOptions): Promise<LoadedModel> {
  const ort = await loadOrt();
  if (!ort) throw new CairnError("TEMPORARILY_UNAVAILABLE", "onnxruntime-node cannot be loaded on this machine");
  let session: Awaited<ReturnType<Ort["InferenceSession"]["create"]>>;
  try {
    session = await ort.InferenceSession.create(file, { intraOpNumThreads: opts.intraOpThreads ?? 1, interOpNumThreads: opts.interOpThreads ?? 1, graphOptimizationLevel: "all" });
  } catch (e) {
    throw new CairnError("INVALID_PARAMETER_VALUE", `Model ${meta.name} version ${meta.version}: the ONNX file does not load: ${String((e as Error).message ?? e).slice(0, 500)}`);
  }
  const s = session as unknown as { inputMetadata?: readonly OrtValueMetadata[]; outputMetadata?: readonly OrtValueMetadata[] };
  const fromSession = (() => {
    const inputs = tensorsFromOrt(s.inputMetadata);
    const outputs = tensorsFromOrt(s.outputMetadata);
    return inputs && outputs ? { inputs, outputs } : null;
  })();
  const outputNames = session.outputNames;
  return {
    name: meta.name,
    version: meta.version,
    platform: "onnxruntime",
    signature: meta.signature ?? fromSession,
    async infer(inputs, outputs) {
      const feeds: Record<string, InstanceType<Ort["Tensor"]>> = {};
      for (const t of inputs) feeds[t.name] = new ort.Tensor(ORT_TYPE[t.datatype] as "float32", t.data as Float32Array, t.shape);
      const wanted = outputs && outputs.length > 0 ? outputs : outputNames;
      for (const o of wanted) if (!outputNames.includes(o)) throw new CairnError("INVALID_PARAMETER_VALUE", `Unknown output '${o}' (the model has ${outputNames.join(", ")})`);
      let result: Record<string, InstanceType<Ort["Tensor"]>>;
      try {
        result = (await session.run(feeds, wanted)) as Record<string, InstanceType<Ort["Tensor"]>>;
      } catch (e) {
        // onnxruntime rejects inputs the signature let through (e.g. a model without one): the caller's input.
        throw new CairnError("INVALID_PARAMETER_VALUE", `The model rejected the inputs: ${String((e as Error).message ?? e).slice(0, 500)}`);
      }
      return wanted.map((name) => {
        const t = result[name]!;
        const datatype = FROM_ORT[t.type];
        if (!datatype) throw new CairnError("INTERNAL_ERROR", `Output '${name}' has type ${t.type}, which the protocol cannot carry`);
        return { name, datatype, shape: [...t.dims].map(Number), data: t.data as TensorData };
      });
    },
    async close() {
      await session.release().catch(() => undefined);
    },
  };
}

/** What a JS-module model exports. */
interface JsModel {
  predict(inputs: Record<string, Tensor>): unknown;
  close?(): unknown;
}

async function loadJsModule(file: string, meta: { name: string; version: string; signature: ModelSignature | null }): Promise<LoadedModel> {
  let mod: Partial<JsModel> & { default?: Partial<JsModel> };
  try {
    mod = (await import(pathToFileURL(file).href)) as typeof mod;
  } catch (e) {
    throw new CairnError("INVALID_PARAMETER_VALUE", `Model ${meta.name} version ${meta.version}: its module does not load: ${String((e as Error).message ?? e).slice(0, 500)}`);
  }
  const impl = typeof mod.predict === "function" ? mod : mod.default;
  if (!impl || typeof impl.predict !== "function") throw new CairnError("INVALID_PARAMETER_VALUE", `Model ${meta.name} version ${meta.version}: its module exports no predict(inputs) function`);
  const predict = impl.predict.bind(impl);
  return {
    name: meta.name,
    version: meta.version,
    platform: JS_FLAVOR,
    signature: meta.signature,
    async infer(inputs, outputs) {
      const byName = Object.fromEntries(inputs.map((t) => [t.name, t]));
      let raw: unknown;
      try {
        raw = await predict(byName);
      } catch (e) {
        if (e instanceof CairnError) throw e;
        // As with ONNX: the module refused what it was given (without a signature nothing checked it first).
        throw new CairnError("INVALID_PARAMETER_VALUE", `The model rejected the inputs: ${String((e as Error)?.message ?? e).slice(0, 500)}`);
      }
      const list = Array.isArray(raw) ? (raw as Tensor[]) : Object.entries((raw ?? {}) as Record<string, Omit<Tensor, "name">>).map(([name, t]) => ({ ...t, name }));
      for (const t of list) {
        if (!t || typeof t.name !== "string" || !Array.isArray(t.shape) || elementCount(t.shape) !== t.data?.length) {
          throw new CairnError("INTERNAL_ERROR", `Model ${meta.name}'s predict() returned a malformed tensor${t && typeof t.name === "string" ? ` '${t.name}'` : ""}: each needs name, datatype, shape and data of matching length`);
        }
      }
      if (!outputs || outputs.length === 0) return list;
      for (const o of outputs) if (!list.some((t) => t.name === o)) throw new CairnError("INVALID_PARAMETER_VALUE", `Unknown output '${o}' (the model has ${list.map((t) => t.name).join(", ")})`);
      return list.filter((t) => outputs.includes(t.name));
    },
    async close() {
      // The module's own code: a failing close() must not take the server down.
      try {
        await impl.close?.();
      } catch {
        // ignored: the version is being dropped anyway
      }
    },
  };
}

/**
 * A sample batch of one row for a signature, for warming a model up before it takes traffic:
 * zeros (empty strings for BYTES), dynamic dimensions set to 1.
 */
export function warmupInputs(signature: ModelSignature): Tensor[] {
  return signature.inputs.map((spec) => {
    const shape = spec.shape.map((d) => (d < 0 ? 1 : d));
    const n = elementCount(shape);
    const datatype = DTYPE_TO_DATATYPE[spec.dtype];
    return { name: spec.name, datatype, shape, data: zeros(datatype, n) };
  });
}

function zeros(datatype: Datatype, n: number): TensorData {
  switch (datatype) {
    case "FP32":
      return new Float32Array(n);
    case "FP64":
      return new Float64Array(n);
    case "FP16":
    case "UINT16":
      return new Uint16Array(n);
    case "INT8":
      return new Int8Array(n);
    case "INT16":
      return new Int16Array(n);
    case "INT32":
      return new Int32Array(n);
    case "INT64":
      return new BigInt64Array(n);
    case "UINT32":
      return new Uint32Array(n);
    case "UINT64":
      return new BigUint64Array(n);
    case "BYTES":
      return new Array<string>(n).fill("");
    default:
      return new Uint8Array(n);
  }
}
