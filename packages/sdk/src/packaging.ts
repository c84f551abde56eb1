import { randomBytes } from "node:crypto";
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join, relative, resolve, sep } from "node:path";
import { CairnError, ModelSignature, type ModelFlavor } from "@cairn/contract";
import { jsModuleFlavors, MLMODEL_FILE, onnxFlavors, renderMLmodel, signatureFromMlflow } from "@cairn/contract/mlmodel";
import { joinArtifactPath, localError, type Artifacts, type TransferOptions } from "./artifacts.js";

/**
 * What a model package holds: an ONNX file (`onnx` flavor, loadable by MLflow's `mlflow.onnx` too),
 * or a JS module directory (Cairn's `cairn_js` flavor) whose `entry` (default `index.mjs`) is the
 * module to import, relative to the directory.
 */
export type ModelSource = { onnx: string } | { jsModule: string; entry?: string };

/** Options for `writeModelPackage` and `renderModelManifest`. */
export interface PackageOptions {
  /** Written as the MLmodel's signature (tensor-based, as MLflow writes it). */
  signature?: ModelSignature;
  /** Recorded as the MLmodel's `run_id` and `artifact_path`. */
  runId?: string;
  artifactPath?: string;
}

/** The local files of a package-to-be: where the model file(s) are and the path the flavor names. */
export interface ResolvedModelSource {
  /** The file (ONNX) or directory (JS module) to package. */
  path: string;
  isDir: boolean;
  /** The model file's path inside the package, as the flavor names it. */
  file: string;
  flavors: ModelFlavor[];
}

const localStat = (p: string) =>
  stat(p).catch((e: unknown) => {
    throw localError(e, p);
  });

/**
 * Checks a model source on disk: the ONNX file exists (and is a file), or the JS module directory
 * exists and holds its entry.
 * @throws CairnError RESOURCE_DOES_NOT_EXIST for a missing path, INVALID_PARAMETER_VALUE for the wrong kind of path
 */
export async function resolveModelSource(model: ModelSource): Promise<ResolvedModelSource> {
  if ("onnx" in model) {
    const path = resolve(model.onnx);
    if (!(await localStat(path)).isFile()) throw new CairnError("INVALID_PARAMETER_VALUE", `ONNX model '${model.onnx}' is not a file`);
    const file = basename(path);
    return { path, isDir: false, file, flavors: onnxFlavors(file) };
  }
  const path = resolve(model.jsModule);
  if (!(await localStat(path)).isDirectory()) throw new CairnError("INVALID_PARAMETER_VALUE", `JS module '${model.jsModule}' must be a directory holding the module and its files`);
  const entry = (model.entry ?? "index.mjs").split(/[/\\]+/).filter(Boolean).join("/");
  const entryPath = resolve(path, entry);
  if (!entryPath.startsWith(path + sep)) throw new CairnError("INVALID_PARAMETER_VALUE", `JS module entry '${model.entry}' must be inside '${model.jsModule}'`);
  if (!(await localStat(entryPath)).isFile()) throw new CairnError("INVALID_PARAMETER_VALUE", `JS module entry '${entry}' is not a file`);
  return { path, isDir: true, file: entry, flavors: jsModuleFlavors(entry) };
}

/** An MLmodel's text for `flavors` with a fresh model UUID and the current time. */
export function renderModelManifest(flavors: ModelFlavor[], opts: PackageOptions = {}): string {
  const input: Parameters<typeof renderMLmodel>[0] = { flavors, modelUuid: randomBytes(16).toString("hex"), cairn: { created_by: "cairn-sdk" } };
  if (opts.signature) input.signature = ModelSignature.parse(opts.signature);
  if (opts.runId !== undefined) input.runId = opts.runId;
  if (opts.artifactPath !== undefined) input.artifactPath = opts.artifactPath;
  return renderMLmodel(input);
}

/**
 * Writes a model package into `dir` (created when missing): the `MLmodel` file and, for an ONNX
 * model outside `dir`, a copy of the model file. A JS module's directory is the package itself, so
 * `dir` must be that directory (or omitted for it). Returns the package directory and its flavors.
 * @throws CairnError RESOURCE_DOES_NOT_EXIST, INVALID_PARAMETER_VALUE (see `resolveModelSource`), or a local I/O error
 * @example await writeModelPackage("./pkg", { onnx: "./model.onnx" }, { signature })
 */
export async function writeModelPackage(dir: string | undefined, model: ModelSource, opts: PackageOptions = {}): Promise<{ dir: string; flavors: ModelFlavor[] }> {
  const src = await resolveModelSource(model);
  let root: string;
  let flavors = src.flavors;
  if (src.isDir) {
    root = src.path;
    if (dir !== undefined && resolve(dir) !== root) throw new CairnError("INVALID_PARAMETER_VALUE", `A JS module is packaged in place: the package directory must be the module's directory '${src.path}'`);
  } else {
    root = resolve(dir ?? ".");
    await mkdir(root, { recursive: true }).catch((e: unknown) => {
      throw localError(e, root);
    });
    const inside = relative(root, src.path);
    if (inside && !inside.startsWith("..") && !inside.startsWith(sep) && !/^[a-zA-Z]:/.test(inside)) {
      flavors = onnxFlavors(inside.split(sep).join("/"));
    } else {
      await copyFile(src.path, resolve(root, src.file)).catch((e: unknown) => {
        throw localError(e, src.path);
      });
    }
  }
  const manifest = resolve(root, MLMODEL_FILE);
  await writeFile(manifest, renderModelManifest(flavors, opts)).catch((e: unknown) => {
    throw localError(e, manifest);
  });
  return { dir: root, flavors };
}

/**
 * Reads a signature file: Cairn's JSON (`{inputs: [{name, dtype, shape}], outputs: […]}`) or MLflow's
 * (`inputs`/`outputs` as JSON strings of column or tensor specs).
 * @throws CairnError INVALID_PARAMETER_VALUE for a malformed file, RESOURCE_DOES_NOT_EXIST for a missing one
 */
export async function readSignatureFile(path: string): Promise<ModelSignature> {
  const text = await readFile(path, "utf8").catch((e: unknown) => {
    throw localError(e, path);
  });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new CairnError("INVALID_PARAMETER_VALUE", `Signature file '${path}' is not valid JSON`);
  }
  const raw = json as { inputs?: unknown; outputs?: unknown } | null;
  if (raw && (typeof raw.inputs === "string" || typeof raw.outputs === "string")) {
    const conv = signatureFromMlflow(raw);
    if ("dropped" in conv) throw new CairnError("INVALID_PARAMETER_VALUE", `Signature file '${path}': ${conv.dropped}`);
    return conv.signature;
  }
  const parsed = ModelSignature.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new CairnError("INVALID_PARAMETER_VALUE", `Signature file '${path}': ${issue.path.join(".") || "signature"}: ${issue.message}`);
  }
  return parsed.data;
}

/** Options for `models.logModel`. */
export interface LogModelOptions extends TransferOptions {
  /** Where in the run's artifacts the package goes (default `model`). */
  artifactPath?: string;
  /** Written into the MLmodel; without one, the server derives an ONNX model's signature from the model. */
  signature?: ModelSignature;
}

/** What `models.logModel` logged. */
export interface LoggedModel {
  /** `runs:/<run_id>/<artifactPath>`: the source to register. */
  source: string;
  runId: string;
  artifactPath: string;
  flavors: ModelFlavor[];
}

/**
 * @internal Uploads a model's files and then its MLmodel (written to a temporary file) under
 * `artifactPath` of the run. The model's own files are never modified.
 */
export async function logModelPackage(artifacts: Artifacts, runId: string, model: ModelSource, opts: LogModelOptions = {}): Promise<LoggedModel> {
  const artifactPath = joinArtifactPath(opts.artifactPath ?? "model");
  if (!artifactPath) throw new CairnError("INVALID_PARAMETER_VALUE", "artifactPath must name a directory: a package cannot be the run's artifact root");
  const src = await resolveModelSource(model);
  const transfer: TransferOptions = {};
  if (opts.onProgress) transfer.onProgress = opts.onProgress;
  if (opts.concurrency !== undefined) transfer.concurrency = opts.concurrency;
  await artifacts.upload(runId, src.path, artifactPath, transfer);
  const manifestOpts: PackageOptions = { runId, artifactPath };
  if (opts.signature) manifestOpts.signature = opts.signature;
  const text = renderModelManifest(src.flavors, manifestOpts);
  const tmp = await mkdtemp(join(tmpdir(), "cairn-mlmodel-")).catch((e: unknown) => {
    throw localError(e, tmpdir());
  });
  try {
    // Last, so the package is complete once its MLmodel is there.
    await writeFile(join(tmp, MLMODEL_FILE), text);
    await artifacts.upload(runId, join(tmp, MLMODEL_FILE), artifactPath);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return { source: `runs:/${runId}/${artifactPath}`, runId, artifactPath, flavors: src.flavors };
}
