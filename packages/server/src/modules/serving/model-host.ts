import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { Cairn } from "@cairn/sdk";
import { CairnError, type ModelSignature } from "@cairn/contract";
import { MicroBatcher } from "./batcher.js";
import { loadModelPackage, warmupInputs, type LoadedModel, type RuntimeOptions } from "./runtime.js";
import type { Tensor } from "./tensor.js";

/** Requests that may wait for a batch per served version. */
export const MAX_QUEUED_REQUESTS = 4096;

/** Micro-batching of one served model: requests arriving while the model is busy are run together. */
export interface BatchingOptions {
  /** Rows per batch; 0 or 1 turns batching off. */
  maxBatchSize: number;
  /** The longest a queued request waits for others (a lone request never waits). */
  maxLatencyMs: number;
}

/** A loaded version with the batcher in front of it and a count of requests still using it. */
interface Slot {
  model: LoadedModel;
  batcher: MicroBatcher | undefined;
  inFlight: number;
  retired: boolean;
  /** Retired by a batching change: the next slot runs the same model, so only the batcher closes. */
  keepModel?: boolean;
}

/** Where {@link ModelHost.load} finds versions: the registry through the SDK, or the server's own registry. */
export interface PackageSource {
  /** The version a `models:/` URI names. @throws CairnError RESOURCE_DOES_NOT_EXIST, INVALID_PARAMETER_VALUE */
  resolve(uri: string): Promise<{ name: string; version: string; signature: ModelSignature | null; /** When the version was registered: part of its cache key, so a model deleted and created again never reuses old files. */ created: number }>;
  /** Writes the version's package files into `dir` (created; may be left partial on failure). */
  download(name: string, version: string, dir: string): Promise<void>;
}

/** A package source over a Cairn server's API (for `cairn serve`). */
export function sdkPackageSource(cairn: Cairn): PackageSource {
  return {
    async resolve(uri) {
      const v = await cairn.models.resolve(uri);
      return { name: v.name, version: String(v.version), signature: v.signature, created: v.creationTimestamp };
    },
    async download(name, version, dir) {
      await cairn.models.download(`models:/${name}/${version}`, dir);
    },
  };
}

export interface ModelHostOptions {
  /** The registry client {@link ModelHost.load} resolves and downloads through (or give `source`); not needed by {@link ModelHost.loadDirectory}. */
  cairn?: Cairn;
  /** Where {@link ModelHost.load} resolves and downloads versions (default: through `cairn`). */
  source?: PackageSource;
  /** Where model packages are downloaded (one directory per name and version). */
  cacheDir: string;
  runtime?: RuntimeOptions;
  batching?: BatchingOptions;
  /** How long a warm-up may take before the version counts as failed (default 2 minutes). */
  warmupTimeoutMs?: number;
}

/**
 * Serves one registry model at a time (`cairn serve`): downloads a version's package, loads it,
 * warms it up with a sample built from its signature, and only then makes it current, so a swap
 * to another version never fails a request. The version it replaces closes once its last request
 * finished. A version that fails to load leaves the current one serving.
 */
export class ModelHost {
  readonly #o: ModelHostOptions;
  #slot: Slot | undefined;
  #lastError: string | undefined;

  constructor(opts: ModelHostOptions) {
    this.#o = opts;
  }

  /** The version being served, when one is. */
  get current(): LoadedModel | undefined {
    return this.#slot?.model;
  }

  /** Why the last load failed, when it did. */
  get lastError(): string | undefined {
    return this.#lastError;
  }

  /**
   * Loads the version a `models:/` URI names and makes it current once it answered a warm-up batch.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST (model, version, alias), INVALID_PARAMETER_VALUE (not servable, fails to load or to warm up), INVALID_STATE (no Cairn client)
   */
  async load(uri: string): Promise<LoadedModel> {
    try {
      const source = this.#o.source ?? (this.#o.cairn ? sdkPackageSource(this.#o.cairn) : undefined);
      if (!source) throw new CairnError("INVALID_STATE", `Cannot load ${uri}: this model host has no Cairn client (it serves a local package directory)`);
      const version = await source.resolve(uri);
      const dir = cacheDirOf(this.#o.cacheDir, version);
      await fetchOnce(dir, () => source.download(version.name, version.version, dir));
      return await this.#loadWarmSwap(dir, version);
    } catch (e) {
      this.#lastError = e instanceof Error ? e.message : String(e);
      throw e;
    }
  }

  /**
   * Loads a model package already on disk (a directory as `models.download` writes it, e.g. baked
   * into an image by `cairn model dockerfile`) and makes it current once it answered a warm-up batch,
   * exactly as {@link load} does after its download. No Cairn server is contacted.
   * @throws CairnError INVALID_PARAMETER_VALUE (not servable, fails to load or to warm up)
   */
  async loadDirectory(dir: string, meta: { name: string; version: string; signature: ModelSignature | null }): Promise<LoadedModel> {
    try {
      return await this.#loadWarmSwap(path.resolve(dir), meta);
    } catch (e) {
      this.#lastError = e instanceof Error ? e.message : String(e);
      throw e;
    }
  }

  async #loadWarmSwap(dir: string, meta: { name: string; version: string; signature: ModelSignature | null }): Promise<LoadedModel> {
    const model = await loadModelPackage(dir, meta, this.#o.runtime ?? {});
    try {
      if (model.signature) await withTimeout(model.infer(warmupInputs(model.signature)), this.#o.warmupTimeoutMs ?? 120_000, "did not answer within the warm-up time limit");
    } catch (e) {
      void model.close().catch(() => undefined);
      throw new CairnError("INVALID_PARAMETER_VALUE", `Model ${meta.name} version ${meta.version} failed its warm-up: ${(e as Error).message}`);
    }
    this.#swap(model);
    this.#lastError = undefined;
    return model;
  }

  #swap(model: LoadedModel, keepModel = false): void {
    const b = this.#o.batching;
    // A bounded queue: a slow model answers RESOURCE_EXHAUSTED instead of piling up requests in memory.
    const batcher = b && b.maxBatchSize > 1 ? new MicroBatcher({ run: (inputs: Tensor[]) => model.infer(inputs), maxBatchSize: b.maxBatchSize, maxLatencyMs: b.maxLatencyMs, maxQueue: MAX_QUEUED_REQUESTS }) : undefined;
    const old = this.#slot;
    this.#slot = { model, batcher, inFlight: 0, retired: false };
    if (old) {
      old.retired = true;
      old.keepModel = keepModel;
      if (old.inFlight === 0) void closeSlot(old);
    }
  }

  /** The batching in force. */
  get batching(): BatchingOptions | undefined {
    return this.#o.batching;
  }

  /**
   * Changes micro-batching: the current version gets a new batcher at once (requests already queued
   * finish on the old one), and later loads use it too.
   */
  setBatching(batching: BatchingOptions): void {
    this.#o.batching = batching;
    if (this.#slot) this.#swap(this.#slot.model, true);
  }

  /**
   * Runs a request on the current version (through the batcher when batching is on and every
   * output is wanted). Returns the outputs and the version that computed them.
   * @throws CairnError TEMPORARILY_UNAVAILABLE when no version is loaded; the runtime's errors
   */
  async infer(inputs: Tensor[], outputs?: string[]): Promise<{ outputs: Tensor[]; model: LoadedModel }> {
    const slot = this.#slot;
    if (!slot) throw new CairnError("TEMPORARILY_UNAVAILABLE", `No model is loaded yet${this.#lastError ? `: ${this.#lastError}` : ""}`);
    slot.inFlight += 1;
    try {
      const result = slot.batcher && !(outputs && outputs.length > 0) ? await slot.batcher.submit(inputs) : await slot.model.infer(inputs, outputs);
      return { outputs: result, model: slot.model };
    } finally {
      slot.inFlight -= 1;
      if (slot.retired && slot.inFlight === 0) void closeSlot(slot);
    }
  }

  /** Batching counters of the current version, for /metrics. */
  batchStats(): ReturnType<MicroBatcher["stats"]> | undefined {
    return this.#slot?.batcher?.stats();
  }

  /** Stops serving: the current version closes once the requests it took have finished. */
  async close(): Promise<void> {
    const slot = this.#slot;
    this.#slot = undefined;
    if (!slot) return;
    slot.retired = true;
    if (slot.inFlight === 0) await closeSlot(slot);
  }
}

/** Frees a retired version; never throws (a model's close is its own code). */
async function closeSlot(slot: Slot): Promise<void> {
  try {
    await slot.batcher?.close();
    if (!slot.keepModel) await slot.model.close();
  } catch {
    // ignored: the version is out of service either way
  }
}

/** Rejects with INVALID_PARAMETER_VALUE `message` when `p` takes longer than `ms`. */
function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CairnError("INVALID_PARAMETER_VALUE", `${message} (${ms} ms)`)), ms);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

/**
 * A version's cache directory: the model name hashed (names may hold any character, and `a/b` and
 * `a_b` must not share files) with a readable prefix, then the version and its registration time.
 */
function cacheDirOf(root: string, v: { name: string; version: string; created: number }): string {
  const hash = createHash("sha256").update(v.name).digest("hex").slice(0, 16);
  return path.join(root, `${safe(v.name).slice(0, 40)}-${hash}`, `${safe(v.version)}-${v.created}`);
}

const safe = (s: string) => s.replace(/[^\w-]/g, "_");

/** Downloads in progress by directory: hosts sharing a cache (a deployment's arms) fetch a version once. */
const fetching = new Map<string, Promise<void>>();

/** Fills `dir` unless a finished download is there (marked `.complete` only after the whole download). */
function fetchOnce(dir: string, download: () => Promise<void>): Promise<void> {
  if (fs.existsSync(path.join(dir, ".complete"))) return Promise.resolve();
  let p = fetching.get(dir);
  if (!p) {
    p = (async () => {
      fs.rmSync(dir, { recursive: true, force: true });
      await download();
      fs.writeFileSync(path.join(dir, ".complete"), "");
    })().finally(() => fetching.delete(dir));
    fetching.set(dir, p);
  }
  return p;
}
