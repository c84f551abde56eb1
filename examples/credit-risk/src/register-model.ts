/**
 * Logs the pipeline's results to a Cairn server and registers the ONNX model with its signature.
 *
 * `cairn run` gives a step only `CAIRN_PIPELINE`, `CAIRN_STEP` and `CAIRN_STEP_ATTEMPT` (not the
 * id of the step's tracking run), so by default this creates its own run in the pipeline's
 * experiment (`pipeline:<name>`, the one `cairn run` records into), named `<model>-training`, and
 * registers the model from it. When `CAIRN_RUN_ID` is set (the SDK's convention for "the run this
 * process belongs to"), it logs into that run instead and leaves ending it to its owner. The server
 * is `CAIRN_URL` (default http://127.0.0.1:5005).
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { Cairn, isCairnError, type ModelSignature, type ModelVersion } from "@cairn/sdk";

/** The version tag holding the SHA-256 of the registered ONNX file. */
export const ONNX_DIGEST_TAG = "onnx_sha256";

/** Everything the register step logs. */
export interface RegistrationInput {
  modelName: string;
  pipeline: string;
  onnxPath: string;
  signature: ModelSignature;
  params: Record<string, string | number | boolean>;
  metrics: Record<string, number>;
  /** Per-fold metrics, logged as metric series with step = fold number. */
  foldMetrics: Record<string, number[]>;
  /** Dataset versions the model was trained on, recorded as inputs of the run (lineage). */
  inputs?: { dataset: string; version: number }[];
  /** Local files logged as run artifacts, each into an artifact directory. */
  artifacts: { local: string; dir: string }[];
  description: string;
}

/** What happened: registered, found already registered, or skipped with the reason. */
export type RegistrationResult =
  | {
      registered: true;
      existing: false;
      url: string;
      runId: string;
      experimentId: string;
      /** Whether the run was `CAIRN_RUN_ID`'s (logged into) rather than created here. */
      attached: boolean;
      model: string;
      version: string;
      status: string;
      signature: ModelSignature | null;
    }
  | {
      /** An existing version already holds this exact ONNX file, so none was created. */
      registered: true;
      existing: true;
      url: string;
      runId: string;
      model: string;
      version: string;
      status: string;
      signature: ModelSignature | null;
    }
  | { registered: false; url: string; reason: string };

/**
 * Whether a Cairn server answers at `url`, asked once without retries. Returns why not when it is
 * unreachable; a server that answers with an error (for example a missing token) is not skipped.
 * @throws CairnError when the server answers but refuses the request (e.g. UNAUTHENTICATED)
 */
export async function probeServer(url: string): Promise<string | undefined> {
  try {
    await new Cairn({ url, handleExit: false, retry: { retries: 0 }, timeoutMs: 5_000 }).experiments.search({ maxResults: 1 });
    return undefined;
  } catch (e) {
    if (isCairnError(e) && e.code !== "TEMPORARILY_UNAVAILABLE") throw e;
    return isCairnError(e) ? e.message : e instanceof Error ? e.message : String(e);
  }
}

/**
 * Logs params, metrics and artifacts into a new run (or `CAIRN_RUN_ID`'s) and registers the ONNX
 * model as a new version of `modelName`, with its signature. Skips (returns `registered: false`)
 * when no server is reachable.
 * @throws CairnError when the server answers but refuses a call (a run created here is then ended FAILED)
 * @example const result = await registerModel(input, process.env.CAIRN_URL ?? DEFAULT_URL);
 */
export async function registerModel(input: RegistrationInput, url: string): Promise<RegistrationResult> {
  const unreachable = await probeServer(url);
  if (unreachable !== undefined) return { registered: false, url, reason: `no Cairn server reachable at ${url} (${unreachable})` };

  const cairn = new Cairn({ url, handleExit: false });
  // The register step runs on every `cairn run` (it is not cached); registering the byte-identical
  // model again would only add duplicate versions, so an existing one is reported instead.
  const digest = createHash("sha256").update(readFileSync(input.onnxPath)).digest("hex");
  const same = await findVersionWithDigest(cairn, input.modelName, digest);
  if (same) {
    return {
      registered: true,
      url,
      existing: true,
      runId: same.runId,
      model: same.name,
      version: same.version,
      status: same.status,
      signature: same.signature,
    };
  }
  const attachTo = process.env.CAIRN_RUN_ID || undefined;
  const run = attachTo
    ? await cairn.attachRun(attachTo)
    : await cairn.startRun({
        experiment: `pipeline:${input.pipeline}`,
        runName: `${input.modelName}-training`,
        tags: { "cairn.pipeline": input.pipeline, "cairn.step": process.env.CAIRN_STEP ?? "register", "cairn.model": input.modelName },
      });
  let version: ModelVersion;
  try {
    run.log({ params: input.params, metrics: input.metrics });
    for (const [key, values] of Object.entries(input.foldMetrics)) run.logMetrics(key, values.map((value, i) => ({ value, step: i + 1 })));
    for (const a of input.artifacts) await run.logArtifact(a.local, a.dir);
    for (const d of input.inputs ?? []) await cairn.datasets.linkRun(run.id, { dataset: d.dataset, version: d.version, direction: "input", context: "training" });
    await run.flush();
    version = await cairn.models.register(input.modelName, {
      runId: run.id,
      model: { onnx: input.onnxPath },
      signature: input.signature,
      description: input.description,
      tags: { pipeline: input.pipeline, [ONNX_DIGEST_TAG]: digest },
    });
  } catch (e) {
    if (!attachTo) await run.end("FAILED").catch(() => undefined);
    throw e;
  }
  if (attachTo) await run.flush();
  else await run.end("FINISHED");
  return {
    registered: true,
    url,
    runId: run.id,
    experimentId: run.experimentId,
    attached: attachTo !== undefined,
    existing: false,
    model: version.name,
    version: String(version.version),
    status: version.status,
    signature: version.signature ?? null,
  };
}

/** A READY version of `name` tagged with this ONNX digest, if any (none when the model does not exist). */
async function findVersionWithDigest(cairn: Cairn, name: string, digest: string): Promise<ModelVersion | undefined> {
  const page = await cairn.models.searchVersions({ filter: `name = '${name.replace(/'/g, "''")}' and tags.${ONNX_DIGEST_TAG} = '${digest}'`, maxResults: 10 });
  return page.modelVersions.find((v) => v.status === "READY" && v.retirement === null);
}
