import type { Readable } from "node:stream";
import { isCairnError, type ModelFlavor, type ModelSignature, type ModelVersionStatus, type TensorDType, type TensorSpec } from "@cairn/contract";
import { JS_FLAVOR, MLMODEL_FILE, ONNX_FLAVOR, PACKAGE_LIMITS, parseMLmodel } from "@cairn/contract/mlmodel";
import type { BlobStore } from "../../platform/blob/blob-store.js";
import { safeBlobKey } from "../../platform/blob/safe-key.js";

/**
 * Reading a model package at registration: the `MLmodel` at the root of a version's source
 * directory, its flavors, its signature and the model files its flavors name.
 */

export const PACKAGING_LIMITS = {
  ...PACKAGE_LIMITS,
  /**
   * Largest ONNX file loaded into onnxruntime to check it. A bigger one is only checked to exist:
   * loading it would hold the whole model in the server's memory during a registration request.
   */
  onnxLoadBytes: 64 * 1024 * 1024,
} as const;

/** What registration learned from a package: stored on the version. */
export interface PackageReport {
  flavors: ModelFlavor[];
  /** The MLmodel's signature, else one derived from the ONNX model's inputs and outputs; null: none. */
  signature: ModelSignature | null;
  status: Extract<ModelVersionStatus, "READY" | "FAILED_REGISTRATION">;
  /** Why registration failed; for a READY version, a note on what could not be checked (else ""). */
  statusMessage: string;
}

/** A package problem: the version is registered as FAILED_REGISTRATION with this message. */
class PackageError extends Error {}

const ready = (flavors: ModelFlavor[] = [], signature: ModelSignature | null = null, note = ""): PackageReport => ({ flavors, signature, status: "READY", statusMessage: note });

const mib = (n: number) => `${Math.round((n / (1024 * 1024)) * 10) / 10} MiB`;

/** Reads a blob whole, refusing (before reading on) anything over `max` bytes. */
async function readBounded(blobs: BlobStore, key: string, max: number): Promise<Buffer> {
  const { stream, size } = await blobs.get(key);
  if (size > max) {
    stream.destroy();
    throw new PackageError(`'${key.split("/").pop()}' is ${size} bytes, over the ${max}-byte limit`);
  }
  const chunks: Buffer[] = [];
  let got = 0;
  for await (const c of stream as Readable) {
    got += (c as Buffer).length;
    if (got > max) {
      stream.destroy();
      throw new PackageError(`'${key.split("/").pop()}' is over the ${max}-byte limit`);
    }
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

/** The blob key of a file a flavor names, relative to the package root. */
function fileKey(dirKey: string, flavor: string, setting: string, value: unknown): string {
  if (typeof value !== "string" || value === "") throw new PackageError(`flavor '${flavor}' needs '${setting}', the path of its model file in the package`);
  try {
    return dirKey ? safeBlobKey(dirKey, value) : safeBlobKey(value);
  } catch (e) {
    if (isCairnError(e)) throw new PackageError(`flavor '${flavor}': ${setting} '${value}' is not a path inside the package (${e.message})`);
    throw e;
  }
}

async function requireFile(blobs: BlobStore, key: string, flavor: string, rel: string): Promise<number> {
  const st = await blobs.stat(key);
  if (!st) throw new PackageError(`flavor '${flavor}': model file '${rel}' is missing from the package`);
  if (st.isDir) throw new PackageError(`flavor '${flavor}': '${rel}' is a directory, not a model file`);
  return st.size ?? 0;
}

const ORT_DTYPES: Record<string, TensorDType> = { float16: "float16", float32: "float32", float64: "float64", int8: "int8", int32: "int32", int64: "int64", uint8: "uint8", bool: "bool", string: "string" };

export interface OrtValueMetadata {
  name: string;
  isTensor: boolean;
  type?: string;
  shape?: readonly (number | string)[];
}

/** Tensors from onnxruntime's metadata; undefined when one is not a tensor or has a type Cairn cannot hold. */
export function tensorsFromOrt(meta: readonly OrtValueMetadata[] | undefined): TensorSpec[] | undefined {
  if (!meta) return undefined;
  const out: TensorSpec[] = [];
  for (const m of meta) {
    const dtype = m.isTensor && m.type ? ORT_DTYPES[m.type] : undefined;
    if (!dtype) return undefined;
    // Symbolic dimensions ("batch") are dynamic.
    out.push({ name: m.name, dtype, shape: (m.shape ?? []).map((d) => (typeof d === "number" && d >= 0 ? d : -1)) });
  }
  return out;
}

export type Ort = typeof import("onnxruntime-node");
let ort: Promise<Ort | undefined> | undefined;
/** onnxruntime, loaded on first use (its native library is large); undefined when it cannot load here. */
export function loadOrt(): Promise<Ort | undefined> {
  ort ??= import("onnxruntime-node").catch(() => undefined);
  return ort;
}

let onnxChecks: Promise<unknown> = Promise.resolve();
/** Runs ONNX checks one at a time, so their memory is bounded by one model however many registrations arrive. */
function oneAtATime<T>(fn: () => Promise<T>): Promise<T> {
  const run = onnxChecks.then(fn, fn);
  onnxChecks = run.catch(() => undefined);
  return run;
}

/** Loads an ONNX model to check it; answers the signature its inputs and outputs describe, when representable. */
async function checkOnnx(bytes: Buffer, rel: string): Promise<{ signature: ModelSignature | null; note: string }> {
  const rt = await loadOrt();
  if (!rt) return { signature: null, note: `onnxruntime is not available on this server; only the presence of '${rel}' was checked` };
  let session: Awaited<ReturnType<Ort["InferenceSession"]["create"]>>;
  try {
    session = await rt.InferenceSession.create(bytes, { intraOpNumThreads: 1, graphOptimizationLevel: "disabled" });
  } catch (e) {
    throw new PackageError(`flavor 'onnx': '${rel}' is not a loadable ONNX model: ${String((e as Error).message ?? e).slice(0, 500)}`);
  }
  try {
    const s = session as unknown as { inputMetadata?: readonly OrtValueMetadata[]; outputMetadata?: readonly OrtValueMetadata[] };
    const inputs = tensorsFromOrt(s.inputMetadata);
    const outputs = tensorsFromOrt(s.outputMetadata);
    return { signature: inputs && outputs ? { inputs, outputs } : null, note: "" };
  } finally {
    await session.release().catch(() => undefined);
  }
}

/**
 * Reads the model package at `dirKey` in the blob store. No `MLmodel` there (or the source is a
 * single file): READY, no flavors. Otherwise the MLmodel is parsed and each flavor Cairn runs is
 * checked: `onnx` (its `data` file exists and, up to `onnxLoadBytes`, loads in onnxruntime) and
 * `cairn_js` (its `entry` file exists; the module is never run on the server). Other flavors
 * (`python_function`, `sklearn`, …) are recorded as they are. The signature is the MLmodel's, else
 * the one the ONNX model's inputs and outputs describe. Any problem with the package (malformed or
 * oversized MLmodel, a missing or unloadable model file) is a FAILED_REGISTRATION report with a
 * message, never an exception.
 * @throws only what the blob store throws for reasons other than a missing file (e.g. S3 unavailable)
 * @example const report = await inspectModelPackage(blobs, "1/abc/artifacts/model");
 */
export async function inspectModelPackage(blobs: BlobStore, dirKey: string, limits: { mlmodelBytes: number; onnxLoadBytes: number } = PACKAGING_LIMITS): Promise<PackageReport> {
  const manifestKey = dirKey ? `${dirKey}/${MLMODEL_FILE}` : MLMODEL_FILE;
  const st = await blobs.stat(manifestKey);
  if (!st || st.isDir) return ready();
  let flavors: ModelFlavor[] = [];
  try {
    const text = (await readBounded(blobs, manifestKey, limits.mlmodelBytes)).toString("utf8");
    let manifest;
    try {
      manifest = parseMLmodel(text);
    } catch (e) {
      if (isCairnError(e)) throw new PackageError(e.message);
      throw e;
    }
    flavors = manifest.flavors;
    let signature = manifest.signature;
    const notes: string[] = [];
    if (manifest.signatureDropped) notes.push(`signature not stored: ${manifest.signatureDropped}`);
    for (const f of flavors) {
      if (f.name === ONNX_FLAVOR) {
        const key = fileKey(dirKey, f.name, "data", f.details.data);
        const rel = String(f.details.data);
        const size = await requireFile(blobs, key, f.name, rel);
        if (size > limits.onnxLoadBytes) {
          notes.push(`'${rel}' is ${mib(size)}, over the ${mib(limits.onnxLoadBytes)} load-check limit: only its presence was checked`);
          continue;
        }
        const checked = await oneAtATime(async () => checkOnnx(await readBounded(blobs, key, limits.onnxLoadBytes), rel));
        if (checked.note) notes.push(checked.note);
        signature ??= checked.signature;
      } else if (f.name === JS_FLAVOR) {
        const key = fileKey(dirKey, f.name, "entry", f.details.entry);
        await requireFile(blobs, key, f.name, String(f.details.entry));
      }
    }
    return ready(flavors, signature, notes.join("; "));
  } catch (e) {
    if (e instanceof PackageError) return { flavors, signature: null, status: "FAILED_REGISTRATION", statusMessage: `Invalid model package: ${e.message}` };
    // The MLmodel or a model file vanished between stat and read: the package is incomplete.
    if (isCairnError(e) && e.code === "RESOURCE_DOES_NOT_EXIST") return { flavors, signature: null, status: "FAILED_REGISTRATION", statusMessage: `Invalid model package: ${e.message}` };
    throw e;
  }
}
