import { createHash, randomBytes, randomUUID } from "node:crypto";
import { constants as fsConstants, createReadStream, createWriteStream } from "node:fs";
import { chmod, copyFile, link, lstat, mkdir, rename, unlink } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join, resolve, sep } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { fileURLToPath } from "node:url";
import {
  apiRoutes,
  buildPath,
  batchFrameHeader,
  CairnError,
  DATASET_LIMITS,
  DATASET_URI_PREFIX,
  isCairnError,
  ManifestPath,
  Sha256,
  type BlobsUploaded,
  type CreateDatasetRequest,
  type CreateVersionRequest,
  type Dataset,
  type DatasetVersion,
  type Expectation,
  type GcRequest,
  type GcResponse,
  type LineageGraph,
  type LineageQuery,
  type LinkDirection,
  type ManifestEntry,
  type ManifestEntryInput,
  type ProfileResponse,
  type VersionDiff,
} from "@cairn/contract";
import { eachLimit, idleTimeout, localError, putStream } from "./artifacts.js";
import type { ApiClient } from "./core.js";
import { withRetry, type RetryOptions } from "./retry.js";

/** A parsed dataset reference: the dataset's name and a version reference (`latest` when none was given). */
export interface DatasetRef {
  name: string;
  /** `v3`, `3`, a tag, `latest`, a version id or a digest prefix. */
  ref: string;
}

const NAME_RE = /^[A-Za-z0-9][\w.-]*$/;

/**
 * Parses a dataset reference without asking the server: `name@v3`, `name@3`, `name@tag`,
 * `name@latest`, `name` (= latest) and the same behind the `datasets:/` URI prefix.
 * @throws CairnError INVALID_PARAMETER_VALUE for anything else
 * @example parseDatasetRef("datasets:/credit@v3") // { name: "credit", ref: "v3" }
 */
export function parseDatasetRef(s: string): DatasetRef {
  const body = s.startsWith(DATASET_URI_PREFIX) ? s.slice(DATASET_URI_PREFIX.length) : s;
  const at = body.indexOf("@");
  const name = at < 0 ? body : body.slice(0, at);
  const ref = at < 0 ? "latest" : body.slice(at + 1);
  if (!NAME_RE.test(name) || name.length > DATASET_LIMITS.nameLength) {
    throw new CairnError("INVALID_PARAMETER_VALUE", `Invalid dataset reference '${s}': expected NAME, NAME@VERSION (v3), NAME@TAG, NAME@latest or ${DATASET_URI_PREFIX}NAME@…`);
  }
  if (ref === "" || ref.length > 128 || /[@/\s]/.test(ref)) {
    throw new CairnError("INVALID_PARAMETER_VALUE", `Invalid dataset reference '${s}': '${ref}' is not a version, tag or 'latest'`);
  }
  return { name, ref };
}

/** `name@vN`: the stable reference of a version (tags and `latest` move; numbers do not). */
export function versionRefOf(v: Pick<DatasetVersion, "dataset" | "number">): string {
  return `${v.dataset}@v${v.number}`;
}

/** Options for `datasets.create` and `getOrCreate`. */
export interface CreateDatasetOptions {
  description?: string;
  tags?: Record<string, string>;
  expectations?: Expectation[];
}

/** One page of datasets. */
export interface DatasetsPage {
  datasets: Dataset[];
  nextPageToken?: string | undefined;
}

/** One page of versions, newest first. */
export interface DatasetVersionsPage {
  versions: DatasetVersion[];
  nextPageToken?: string | undefined;
}

/** One page of a version's manifest, by path. */
export interface DatasetFilesPage {
  files: ManifestEntry[];
  nextPageToken?: string | undefined;
}

/** What `datasets.uploadVersion` takes. */
export interface UploadVersionOptions {
  /**
   * The manifest: each stored file's path, size, mode and SHA-256, and any external (`uri`) entries.
   * With `base`, only the files added or changed since that version.
   */
  entries: ManifestEntryInput[];
  /**
   * A version (id or ref) of the same dataset the new one is built on: `entries` are then the
   * upserts and `remove` the paths dropped, so a few changes among many files send only themselves.
   */
  base?: string;
  /** With `base`: paths of the base that the new version no longer has. */
  remove?: string[];
  /** Opens a stored file's bytes by manifest path (called once per blob to upload, again on a retry). */
  readFile: (path: string) => Readable;
  message?: string;
  /** Version tags to point at the new version. */
  tags?: string[];
  /** Refuse the version (VALIDATION_FAILED) when an expectation fails. */
  strict?: boolean;
  /** The run that produced this version (its output in the lineage graph). */
  runId?: string;
  /** Refuse (RESOURCE_CONFLICT) unless the dataset's latest version number is still this. */
  expectedLatest?: number;
  /** Blobs over `DATASET_LIMITS.batchBlobMaxBytes` uploaded at once (default 8); smaller ones go many to a request, two requests at a time. */
  concurrency?: number;
  /** Bytes uploaded so far and the total of the blobs the server lacks. */
  onProgress?: (bytesDone: number, bytesTotal: number) => void;
}

/** What `datasets.uploadVersion` did. */
export interface UploadedVersion {
  version: DatasetVersion;
  /** Distinct blobs the server lacked, now uploaded. */
  blobsUploaded: number;
  bytesUploaded: number;
  /** Distinct blobs the server already had. */
  blobsSkipped: number;
}

/** How `materialize` places a file from the cache into the target directory. */
export type LinkMode = "reflink" | "hardlink" | "copy";

/** What `datasets.materialize` takes. */
export interface MaterializeOptions {
  /** The local content-addressed blob cache (default `$CAIRN_CACHE_DIR`, else `~/.cache/cairn`). */
  cacheDir?: string;
  /**
   * `reflink` (default): a copy-on-write clone where the file system supports it, else a copy;
   * `hardlink`: a hard link to the read-only cached blob (a copy across devices): the file in `dir`
   * *is* the cache's file (same inode, mode 0444, the manifest's mode is not applied), so never
   * write to it in place; `copy`: a plain copy.
   */
  link?: LinkMode;
  /** Files downloaded and placed at once (default 4). */
  concurrency?: number;
  /** Opens an `s3://` external entry's bytes (the SDK has no AWS dependency); without it such entries throw. */
  fetchExternal?: (entry: ManifestEntry) => Promise<Readable>;
  /** Bytes placed in the directory so far and the version's total bytes. */
  onProgress?: (bytesDone: number, bytesTotal: number) => void;
}

/** What `datasets.materialize` did. */
export interface MaterializedVersion {
  version: DatasetVersion;
  /** The absolute target directory. */
  dir: string;
  /** Files placed in `dir`. */
  files: number;
  /** Blobs downloaded from the server into the cache (stored files = downloaded + fromCache). */
  downloaded: number;
  downloadedBytes: number;
  /** Stored files whose blob was already in the cache (or downloaded for an earlier file of the same content). */
  fromCache: number;
  /** External (`file://`, `s3://`) files fetched. */
  external: number;
  /** Bytes placed in `dir`. */
  bytes: number;
}

/** What `datasets.use` takes: `materialize`'s options, and which run records the input. */
export interface UseOptions extends MaterializeOptions {
  /**
   * The run to record the version as input of: an id or a run handle. Default: the newest run this
   * client started or attached that has not ended, else `CAIRN_RUN_ID`; `false` records nothing.
   */
  run?: string | { id: string } | false;
  /** The input's context, e.g. `training` (MLflow's `mlflow.data.context`). */
  context?: string;
}

/** What `copyVersion` did. */
export interface CopiedVersion {
  /** The version on the target. */
  version: DatasetVersion;
  /** Whether the target already had this version (same id): nothing moved. */
  existed: boolean;
  /** Whether the dataset was created on the target. */
  datasetCreated: boolean;
  /** Distinct blobs sent, and those the target already had. */
  blobsSent: number;
  blobsSkipped: number;
  bytesSent: number;
}

/** Anything with a `datasets` client: a `Cairn`. */
export interface WithDatasets {
  readonly datasets: Datasets;
}

/** The default local blob cache: `$CAIRN_CACHE_DIR`, else `~/.cache/cairn`. */
export function defaultCacheDir(): string {
  return process.env.CAIRN_CACHE_DIR || join(homedir(), ".cache", "cairn");
}

const SHA256_RE = /^[0-9a-f]{64}$/;

/** Whether the absolute path `p` lies strictly inside the absolute directory `root` (lexically). */
function isInside(root: string, p: string): boolean {
  return p.startsWith(root.endsWith(sep) ? root : root + sep) && p !== root;
}

/**
 * Where a blob lives in a cache: `<cacheDir>/blobs/sha256/ab/<hash>`.
 * @throws CairnError INVALID_PARAMETER_VALUE when `sha256` is not a lowercase hex SHA-256 (which
 *   could otherwise name a path outside the cache)
 */
export function cachedBlobPath(cacheDir: string, sha256: string): string {
  if (!SHA256_RE.test(sha256)) throw new CairnError("INVALID_PARAMETER_VALUE", `'${sha256}' is not a lowercase hex SHA-256`);
  const p = join(cacheDir, "blobs", "sha256", sha256.slice(0, 2), sha256);
  if (!isInside(resolve(cacheDir), resolve(p))) throw new CairnError("INVALID_PARAMETER_VALUE", `Blob ${sha256} would be cached outside '${cacheDir}'`);
  return p;
}

/**
 * Checks one manifest entry received from a server before anything uses it: a path by the
 * contract's rules, a lowercase hex SHA-256 (required for a stored file), a `file://` or `s3://` URI,
 * a size and a mode. A malicious or corrupt server could otherwise make `materialize` read or write
 * outside the target directory or the cache (e.g. `sha256: "../../.ssh/id_rsa"`).
 * (`file://` entries without sha256 pass here, so old versions still list; `materialize` refuses them.)
 */
function checkEntry(e: unknown, where: string): ManifestEntry {
  const bad = (why: string): never => {
    const path = typeof (e as { path?: unknown } | null)?.path === "string" ? (e as { path: string }).path : JSON.stringify(e)?.slice(0, 200);
    throw new CairnError("INVALID_PARAMETER_VALUE", `The server sent an invalid manifest entry '${path}' for ${where}: ${why}; refusing it`);
  };
  if (typeof e !== "object" || e === null) return bad("not an object");
  const f = e as Record<string, unknown>;
  const path = ManifestPath.safeParse(f.path);
  if (!path.success) bad(`path ${path.error.issues.map((i) => i.message).join("; ")}`);
  if (typeof f.size !== "number" || !Number.isSafeInteger(f.size) || f.size < 0) bad(`size ${JSON.stringify(f.size)} is not a byte count`);
  if (f.mode !== undefined && (typeof f.mode !== "number" || !Number.isInteger(f.mode) || f.mode < 0 || f.mode > 0o777)) bad(`mode ${JSON.stringify(f.mode)} is not a permission mode`);
  if (f.sha256 !== undefined && !Sha256.safeParse(f.sha256).success) bad(`sha256 ${JSON.stringify(f.sha256)} is not a lowercase hex SHA-256`);
  if (f.uri !== undefined && (typeof f.uri !== "string" || !/^(file|s3):\/\//.test(f.uri))) bad(`uri ${JSON.stringify(f.uri)} is not a file:// or s3:// URI`);
  if (f.uri === undefined && f.sha256 === undefined) bad("a stored file needs sha256");
  if (f.etag !== undefined && typeof f.etag !== "string") bad("etag is not a string");
  return (f.mode === undefined ? { ...f, mode: 0o644 } : f) as ManifestEntry;
}

/** Streams a file through SHA-256. */
async function hashFile(path: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest("hex");
}

const notFound = (e: unknown) => isCairnError(e) && e.code === "RESOURCE_DOES_NOT_EXIST";

/** A pass-through stream that hashes and counts what flows through it. */
function hashing(onBytes?: (n: number) => void): Transform & { digest(): string; bytes(): number } {
  const h = createHash("sha256");
  let n = 0;
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      h.update(chunk);
      n += chunk.length;
      onBytes?.(chunk.length);
      cb(null, chunk);
    },
  }) as Transform & { digest(): string; bytes(): number };
  let hex: string | undefined;
  t.digest = () => (hex ??= h.digest("hex"));
  t.bytes = () => n;
  return t;
}

function tmpName(path: string): string {
  return `${path}.cairn-${randomBytes(6).toString("hex")}.tmp`;
}

/** The local path of a manifest path under `root`, refusing anything that would land outside it. */
function targetPath(root: string, path: string): string {
  const p = resolve(root, ...path.split("/"));
  if (!isInside(root, p)) throw new CairnError("INVALID_PARAMETER_VALUE", `Manifest path '${path}' would be written outside '${root}'`);
  return p;
}

function bodyStream(res: Response, label: string): Readable {
  if (!res.body) throw new CairnError("INTERNAL_ERROR", `Empty response body for '${label}'`);
  return Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>);
}

/** A transfer that broke mid-stream is worth retrying; a local file-system error is not. */
function transferError(e: unknown, label: string, local?: string): unknown {
  if (isCairnError(e)) return e;
  const code = (e as { code?: string }).code;
  if (local !== undefined && code && /^E[A-Z]+$/.test(code) && code !== "ECONNRESET" && code !== "EPIPE") return localError(e, local);
  return new CairnError("TEMPORARILY_UNAVAILABLE", `Transfer of '${label}' was interrupted: ${(e as Error).message}`, { cause: e });
}

/**
 * Datasets: `cairn.datasets`. Named datasets with numbered, immutable versions whose files are
 * content-addressed blobs (SHA-256); only blobs the server lacks are uploaded, and `materialize`
 * keeps a local cache so a blob is downloaded once per machine. Every method throws `CairnError`
 * (RESOURCE_DOES_NOT_EXIST, RESOURCE_ALREADY_EXISTS, INVALID_PARAMETER_VALUE, VALIDATION_FAILED,
 * CHECKSUM_MISMATCH, …).
 * @example
 * const ds = await cairn.datasets.use("credit@v3", "./data/credit");
 * for await (const v of cairn.datasets.versions("credit")) console.log(v.number, v.digest);
 */
export class Datasets {
  readonly #client: ApiClient;
  readonly #retry: Partial<RetryOptions>;
  readonly #idleMs: number;
  readonly #activeRun: () => string | undefined;

  /** @internal Use `cairn.datasets`. `activeRun` names the run `use()` records inputs on. */
  constructor(client: ApiClient, opts: { retry?: Partial<RetryOptions>; idleTimeoutMs?: number; activeRun?: () => string | undefined } = {}) {
    this.#client = client;
    this.#retry = opts.retry ?? {};
    this.#idleMs = opts.idleTimeoutMs ?? 60_000;
    this.#activeRun = opts.activeRun ?? (() => undefined);
  }

  /** The server URL this client talks to. */
  get url(): string {
    return this.#client.baseUrl;
  }

  // ---------- datasets ----------

  /**
   * Creates a dataset.
   * @throws CairnError RESOURCE_ALREADY_EXISTS when the name is taken, INVALID_PARAMETER_VALUE for a bad name
   * @example await cairn.datasets.create("credit", { description: "loan applications" });
   */
  async create(name: string, opts: CreateDatasetOptions = {}): Promise<Dataset> {
    const body: CreateDatasetRequest = { name };
    if (opts.description !== undefined) body.description = opts.description;
    if (opts.tags !== undefined) body.tags = opts.tags;
    if (opts.expectations !== undefined) body.expectations = opts.expectations;
    return (await this.#client.api.createDataset({ body })).dataset;
  }

  /** Gets a dataset. @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async get(name: string): Promise<Dataset> {
    return (await withRetry(() => this.#client.api.getDataset({ params: { name } }), this.#retry)).dataset;
  }

  /**
   * Gets a dataset, creating it (with `opts`) when it does not exist, also when another process creates it first.
   * @throws CairnError INVALID_PARAMETER_VALUE for a bad name
   */
  async getOrCreate(name: string, opts: CreateDatasetOptions = {}): Promise<{ dataset: Dataset; created: boolean }> {
    try {
      return { dataset: await this.get(name), created: false };
    } catch (e) {
      if (!notFound(e)) throw e;
    }
    try {
      return { dataset: await this.create(name, opts), created: true };
    } catch (e) {
      if (isCairnError(e) && e.code === "RESOURCE_ALREADY_EXISTS") return { dataset: await this.get(name), created: false };
      throw e;
    }
  }

  /** Sets a dataset's description. @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async update(name: string, patch: { description: string }): Promise<Dataset> {
    return (await withRetry(() => this.#client.api.updateDataset({ params: { name }, body: { description: patch.description } }), this.#retry)).dataset;
  }

  /** Deletes a dataset and its versions (their blobs go at the next gc). @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async delete(name: string): Promise<void> {
    await this.#client.api.deleteDataset({ params: { name } });
  }

  /**
   * One page of datasets, by name; `q` is a case-insensitive substring of the name.
   * @throws CairnError INVALID_PARAMETER_VALUE for a bad page token
   */
  async search(opts: { q?: string; maxResults?: number; pageToken?: string } = {}): Promise<DatasetsPage> {
    const query: { q?: string; maxResults?: number; pageToken?: string } = {};
    if (opts.q !== undefined) query.q = opts.q;
    if (opts.maxResults !== undefined) query.maxResults = opts.maxResults;
    if (opts.pageToken !== undefined) query.pageToken = opts.pageToken;
    return withRetry(() => this.#client.api.searchDatasets({ query }), this.#retry);
  }

  /**
   * Every matching dataset, fetching pages as it goes; `limit` stops after that many.
   * @example for await (const d of cairn.datasets.iterate({ q: "credit" })) console.log(d.name);
   */
  async *iterate(opts: { q?: string; maxResults?: number; limit?: number } = {}): AsyncGenerator<Dataset, void, undefined> {
    const { limit = Infinity, ...rest } = opts;
    let pageToken: string | undefined;
    let n = 0;
    do {
      const page = await this.search(pageToken === undefined ? rest : { ...rest, pageToken });
      for (const d of page.datasets) {
        if (n++ >= limit) return;
        yield d;
      }
      pageToken = page.nextPageToken || undefined;
    } while (pageToken !== undefined && n < limit);
  }

  /**
   * Declares (replaces) the expectations new versions are validated against.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST, INVALID_PARAMETER_VALUE for a malformed expectation
   * @example await cairn.datasets.setExpectations("credit", [{ type: "not_null", column: "income" }]);
   */
  async setExpectations(name: string, expectations: Expectation[]): Promise<Dataset> {
    return (await withRetry(() => this.#client.api.setExpectations({ params: { name }, body: { expectations } }), this.#retry)).dataset;
  }

  // ---------- versions ----------

  /** One page of a dataset's versions, newest first. @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async listVersions(name: string, opts: { maxResults?: number; pageToken?: string } = {}): Promise<DatasetVersionsPage> {
    const query: { maxResults?: number; pageToken?: string } = {};
    if (opts.maxResults !== undefined) query.maxResults = opts.maxResults;
    if (opts.pageToken !== undefined) query.pageToken = opts.pageToken;
    return withRetry(() => this.#client.api.listVersions({ params: { name }, query }), this.#retry);
  }

  /**
   * Every version of a dataset, newest first, fetching pages as it goes; `limit` stops after that many.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST
   * @example for await (const v of cairn.datasets.versions("credit", { limit: 5 })) console.log(v.number);
   */
  async *versions(name: string, opts: { maxResults?: number; limit?: number } = {}): AsyncGenerator<DatasetVersion, void, undefined> {
    const { limit = Infinity, ...rest } = opts;
    let pageToken: string | undefined;
    let n = 0;
    do {
      const page = await this.listVersions(name, pageToken === undefined ? rest : { ...rest, pageToken });
      for (const v of page.versions) {
        if (n++ >= limit) return;
        yield v;
      }
      pageToken = page.nextPageToken || undefined;
    } while (pageToken !== undefined && n < limit);
  }

  /**
   * A version by number (`v3` or `3`), tag, `latest`, id or digest prefix; `getVersion("credit@v3")` also works.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST
   */
  async getVersion(name: string, ref?: string): Promise<DatasetVersion> {
    const r = ref === undefined ? parseDatasetRef(name) : { name, ref };
    return (await withRetry(() => this.#client.api.getVersion({ params: { name: r.name, ref: r.ref } }), this.#retry)).version;
  }

  /**
   * One page of a version's manifest, by path; `prefix` lists one directory. Every entry is checked
   * (path, sha256, uri, size, mode) before it is returned.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST, INVALID_PARAMETER_VALUE when the server sent an invalid entry
   */
  async listFiles(name: string, ref: string, opts: { prefix?: string; maxResults?: number; pageToken?: string } = {}): Promise<DatasetFilesPage> {
    const query: { prefix?: string; maxResults?: number; pageToken?: string } = {};
    if (opts.prefix !== undefined) query.prefix = opts.prefix;
    if (opts.maxResults !== undefined) query.maxResults = opts.maxResults;
    if (opts.pageToken !== undefined) query.pageToken = opts.pageToken;
    const page = await withRetry(() => this.#client.api.listFiles({ params: { name, ref }, query }), this.#retry);
    const files: unknown = (page as { files?: unknown }).files;
    if (!Array.isArray(files)) throw new CairnError("INVALID_PARAMETER_VALUE", `The server sent a manifest page of ${name}@${ref} without a file list`);
    return { ...page, files: files.map((e) => checkEntry(e, `${name}@${ref}`)) };
  }

  /**
   * Every manifest entry of a version, by path, a page at a time (memory stays flat for millions of files).
   * @throws CairnError RESOURCE_DOES_NOT_EXIST, INVALID_PARAMETER_VALUE (the server sent an invalid entry)
   * @example for await (const f of cairn.datasets.files("credit", "v3")) console.log(f.path, f.size);
   */
  async *files(name: string, ref: string, opts: { prefix?: string; maxResults?: number } = {}): AsyncGenerator<ManifestEntry, void, undefined> {
    for await (const page of this.#filePages(name, ref, opts)) yield* page;
  }

  async *#filePages(name: string, ref: string, opts: { prefix?: string; maxResults?: number } = {}): AsyncGenerator<ManifestEntry[], void, undefined> {
    let pageToken: string | undefined;
    do {
      const page = await this.listFiles(name, ref, pageToken === undefined ? opts : { ...opts, pageToken });
      yield page.files;
      pageToken = page.nextPageToken || undefined;
    } while (pageToken !== undefined);
  }

  /** Profiles of a version's tabular files (rows, columns, statistics). @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async profile(name: string, ref: string): Promise<ProfileResponse["files"]> {
    return (await withRetry(() => this.#client.api.getProfile({ params: { name, ref } }), this.#retry)).files;
  }

  /**
   * Files added, removed and modified between two versions, with the schema, row-count and statistic
   * changes of modified tabular files.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST
   */
  async diff(name: string, from: string, to: string): Promise<VersionDiff> {
    return withRetry(() => this.#client.api.diffVersions({ params: { name }, query: { from, to } }), this.#retry);
  }

  /**
   * Points a tag at a version (moving it if it pointed elsewhere).
   * @throws CairnError RESOURCE_DOES_NOT_EXIST, INVALID_PARAMETER_VALUE for a reserved tag (`latest`, `v3`)
   */
  async tag(name: string, tag: string, version: string | number): Promise<DatasetVersion> {
    const ref = typeof version === "number" ? `v${version}` : version;
    return (await withRetry(() => this.#client.api.setVersionTag({ params: { name, tag }, body: { version: ref } }), this.#retry)).version;
  }

  /** Deletes a version tag. @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async untag(name: string, tag: string): Promise<void> {
    await withRetry(() => this.#client.api.deleteVersionTag({ params: { name, tag } }), this.#retry);
  }

  /**
   * Creates a version from a manifest whose blobs the server already has (see `uploadVersion`).
   * @throws CairnError INVALID_PARAMETER_VALUE (a blob is missing, a bad path), VALIDATION_FAILED (strict), RESOURCE_CONFLICT (expectedLatest)
   */
  async createVersion(name: string, req: CreateVersionRequest): Promise<DatasetVersion> {
    // With an id the server answers a repeat with the version it already made, so a retry cannot create two.
    const body = req.id === undefined ? { ...req, id: randomUUID() } : req;
    return (await withRetry(() => this.#client.api.createVersion({ params: { name }, body }), this.#retry)).version;
  }

  /** Blobs garbage collection (admin): deletes blobs unreferenced for longer than the grace period. */
  async gc(opts: GcRequest = {}): Promise<GcResponse> {
    return this.#client.api.collectGarbage({ body: opts });
  }

  // ---------- lineage ----------

  /**
   * Records a dataset version as a run's input or output.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST (run, dataset or version), INVALID_STATE (deleted run)
   */
  async linkRun(runId: string, link: { dataset: string; version: string | number; direction: LinkDirection; context?: string }): Promise<DatasetVersion> {
    const body: { dataset: string; version: string; direction: LinkDirection; context?: string } = {
      dataset: link.dataset,
      version: typeof link.version === "number" ? `v${link.version}` : link.version,
      direction: link.direction,
    };
    if (link.context !== undefined) body.context = link.context;
    return (await withRetry(() => this.#client.api.linkRunDataset({ params: { id: runId }, body }), this.#retry)).version;
  }

  /**
   * The lineage graph around a node: `dataset:NAME@REF` (or `datasets:/…`), `run:ID` (or `runs:/ID`),
   * `model:NAME/N` (or `models:/NAME/N`).
   * @throws CairnError RESOURCE_DOES_NOT_EXIST, INVALID_PARAMETER_VALUE for a malformed node
   */
  async lineage(node: string, opts: { direction?: LineageQuery["direction"]; depth?: number } = {}): Promise<LineageGraph> {
    const query: LineageQuery = { node };
    if (opts.direction !== undefined) query.direction = opts.direction;
    if (opts.depth !== undefined) query.depth = opts.depth;
    return withRetry(() => this.#client.api.getLineage({ query }), this.#retry);
  }

  // ---------- blobs ----------

  /** Which of these SHA-256 hashes the dataset's project has not uploaded, asked in batches. */
  async findMissingBlobs(name: string, hashes: readonly string[]): Promise<string[]> {
    const unique = [...new Set(hashes)];
    const missing: string[] = [];
    for (let i = 0; i < unique.length; i += DATASET_LIMITS.missingBatch) {
      const batch = unique.slice(i, i + DATASET_LIMITS.missingBatch);
      const res = await withRetry(() => this.#client.api.findMissingBlobs({ params: { name }, body: { hashes: batch } }), this.#retry);
      missing.push(...res.missing);
    }
    return missing;
  }

  /**
   * Uploads one blob, streamed from `open()` (called again for each retry); the server checks it
   * against `sha256`.
   * @throws CairnError CHECKSUM_MISMATCH when the bytes do not hash to `sha256`
   */
  async uploadBlob(name: string, sha256: string, open: () => Readable | Promise<Readable>, onBytes?: (n: number) => void): Promise<{ size: number; existed: boolean }> {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new CairnError("INVALID_PARAMETER_VALUE", `'${sha256}' is not a lowercase hex SHA-256`);
    const url = this.#client.baseUrl + buildPath(apiRoutes.uploadBlob.path, { name, sha256 });
    return withRetry(async () => {
      const { body, sent } = await putStream(this.#client, url, open, { idleMs: this.#idleMs, ...(onBytes ? { onBytes } : {}), readError: (e) => (isCairnError(e) ? e : transferError(e, sha256)) });
      const b = body as { size?: number; existed?: boolean };
      return { size: b.size ?? sent, existed: b.existed ?? false };
    }, this.#retry);
  }

  /**
   * Uploads many small blobs in one request (the `uploadBlobs` route): reads each from its `open()`
   * into memory (a few at a time), frames them as `<sha256> <size>\n` + bytes, and posts them; a
   * transient failure reads and sends them again. `label` (e.g. the local path) names a blob in errors. Keep a batch within `DATASET_LIMITS.batchMaxBlobs`
   * blobs of at most `batchBlobMaxBytes` each and `batchMaxBytes` in all (`uploadVersion` does).
   * `onBytes` gets the batch's bytes once the server has stored it.
   * @throws CairnError CHECKSUM_MISMATCH when a blob does not hash to its name (nothing of the batch
   *   is stored), INVALID_PARAMETER_VALUE for a bad hash or a blob over the limit, PAYLOAD_TOO_LARGE
   * @example await cairn.datasets.uploadBlobs("credit", [{ sha256, open: () => fs.createReadStream("a.txt") }]);
   */
  async uploadBlobs(name: string, blobs: readonly { sha256: string; open: () => Readable | Promise<Readable>; label?: string }[], onBytes?: (n: number) => void): Promise<BlobsUploaded> {
    for (const b of blobs) if (!/^[0-9a-f]{64}$/.test(b.sha256)) throw new CairnError("INVALID_PARAMETER_VALUE", `'${b.sha256}' is not a lowercase hex SHA-256`);
    const url = this.#client.baseUrl + buildPath(apiRoutes.uploadBlobs.path, { name });
    const { res, bytes } = await withRetry(async () => {
      const frames: Buffer[] = new Array(blobs.length * 2);
      let bytes = 0;
      await eachLimit([...blobs.keys()], BATCH_READ_CONCURRENCY, async (i) => {
        const b = blobs[i]!;
        const data = await readAll(await b.open(), b.label ?? b.sha256);
        if (data.length > DATASET_LIMITS.batchBlobMaxBytes) throw new CairnError("INVALID_PARAMETER_VALUE", `Blob ${b.sha256} has ${data.length} bytes, over the batch limit of ${DATASET_LIMITS.batchBlobMaxBytes}; upload it with uploadBlob`);
        frames[2 * i] = Buffer.from(batchFrameHeader(b.sha256, data.length), "latin1");
        frames[2 * i + 1] = data;
        bytes += data.length;
      });
      const body = Buffer.concat(frames);
      const r = await this.#client.fetchRaw(url, { method: "POST", headers: { "content-type": "application/octet-stream" }, body: new Uint8Array(body.buffer, body.byteOffset, body.length) });
      return { res: (await r.json()) as BlobsUploaded, bytes };
    }, this.#retry);
    onBytes?.(bytes);
    return res;
  }

  /**
   * Opens one stored file of a version for reading (streamed from the server).
   * @throws CairnError RESOURCE_DOES_NOT_EXIST
   */
  async openFile(name: string, ref: string, path: string, signal?: AbortSignal): Promise<Readable> {
    const url = this.#client.url(apiRoutes.downloadFile, { name, ref, "*": path });
    const res = await this.#client.fetchRaw(url, signal ? { signal } : {});
    return bodyStream(res, `${name}@${ref}/${path}`);
  }

  /**
   * Uploads a new version: asks the server which blobs it lacks (in batches), uploads only those
   * (each distinct hash once: small ones many to a request, bigger ones streamed `concurrency` at a
   * time), then creates the version. An interrupted
   * upload resumes by calling this again: blobs already uploaded are no longer missing.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST (dataset), CHECKSUM_MISMATCH (a file changed while being
   *   uploaded), VALIDATION_FAILED (`strict` and an expectation failed), INVALID_PARAMETER_VALUE
   * @example
   * await cairn.datasets.uploadVersion("credit", { entries, readFile: (p) => fs.createReadStream(join(root, p)), message: "May data" });
   */
  async uploadVersion(name: string, opts: UploadVersionOptions): Promise<UploadedVersion> {
    const sent = await this.uploadMissingBlobs(name, opts);
    const req: CreateVersionRequest = opts.base === undefined ? { files: opts.entries } : { base: opts.base, changes: { upsert: opts.entries, remove: opts.remove ?? [] } };
    if (opts.message !== undefined) req.message = opts.message;
    if (opts.tags !== undefined) req.tags = opts.tags;
    if (opts.strict !== undefined) req.strict = opts.strict;
    if (opts.runId !== undefined) req.runId = opts.runId;
    if (opts.expectedLatest !== undefined) req.expectedLatest = opts.expectedLatest;
    const version = await this.createVersion(name, req);
    return { version, ...sent };
  }

  /**
   * Uploads the blobs of these manifest entries that the dataset's project lacks (each distinct
   * hash once), without creating a version: for a caller that hands the manifest to the server
   * another way (a pipeline worker completing a step).
   * @throws CairnError RESOURCE_DOES_NOT_EXIST (dataset), CHECKSUM_MISMATCH (a file changed while being uploaded)
   */
  async uploadMissingBlobs(
    name: string,
    opts: Pick<UploadVersionOptions, "entries" | "readFile" | "onProgress" | "concurrency">,
  ): Promise<{ blobsUploaded: number; bytesUploaded: number; blobsSkipped: number }> {
    const byHash = new Map<string, ManifestEntryInput>();
    for (const e of opts.entries) if (e.uri === undefined && e.sha256 !== undefined && !byHash.has(e.sha256)) byHash.set(e.sha256, e);
    const missing = await this.findMissingBlobs(name, [...byHash.keys()]);
    const toUpload = missing.map((h) => byHash.get(h)).filter((e): e is ManifestEntryInput => e !== undefined);
    const total = toUpload.reduce((n, e) => n + e.size, 0);
    let done = 0;
    const onBytes = (n: number) => {
      done += n;
      opts.onProgress?.(done, total);
    };
    opts.onProgress?.(0, total);
    await uploadAll(this, name, toUpload, (e) => opts.readFile(e.path), opts.concurrency ?? 8, onBytes);
    return { blobsUploaded: toUpload.length, bytesUploaded: total, blobsSkipped: byHash.size - toUpload.length };
  }

  // ---------- materialize ----------

  /**
   * Writes a version's files into `dir`: blobs not yet in the local content-addressed cache are
   * downloaded (hashed while streaming, renamed into the cache only when the SHA-256 matches, then
   * made read-only), and each file is placed from the cache by reflink (default; a copy where the
   * file system cannot clone), hard link or copy, via a temp file and rename, so a file in `dir` is
   * whole or absent. A cache hit is re-verified (its SHA-256 recomputed, once per distinct blob per
   * call) before it is used; a cached blob whose bytes no longer match (e.g. written through a hard
   * link) is deleted and downloaded again. With `link: "hardlink"` the placed file shares the cache
   * file's inode: it stays read-only (0444, the manifest's mode is not applied), and writing to it in
   * place would change the cached blob (the next materialize then detects and replaces it, but earlier
   * hard links keep the altered bytes). Files in `dir` that the version lacks are left alone. Manifest
   * entries from the server are validated first (paths, hashes), so nothing is read or written
   * outside `dir` and the cache. External `file://` entries are copied and checked against their
   * sha256 (one without sha256 is refused); `s3://` ones need `fetchExternal`.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST, CHECKSUM_MISMATCH (a blob's bytes do not match its
   *   hash: nothing is cached or placed for it), INVALID_PARAMETER_VALUE (an invalid manifest entry,
   *   a `file://` entry without sha256, an `s3://` entry and no `fetchExternal`), PERMISSION_DENIED (local)
   * @example const { files, downloaded } = await cairn.datasets.materialize("credit@v3", "./data");
   */
  async materialize(ref: string, dir: string, opts: MaterializeOptions = {}): Promise<MaterializedVersion> {
    const r = parseDatasetRef(ref);
    const version = await this.getVersion(r.name, r.ref);
    const fixed = `v${version.number}`;
    const root = resolve(dir);
    const cacheDir = resolve(opts.cacheDir ?? defaultCacheDir());
    const mode: LinkMode = opts.link ?? "reflink";
    await mkdir(root, { recursive: true }).catch((e: unknown) => {
      throw localError(e, root);
    });
    const out: MaterializedVersion = { version, dir: root, files: 0, downloaded: 0, downloadedBytes: 0, fromCache: 0, external: 0, bytes: 0 };
    // Two paths with the same content share one download.
    const inFlight = new Map<string, Promise<string>>();
    // Blobs hashed (or downloaded) by this call: a cache hit is verified once per distinct blob.
    const verified = new Set<string>();
    const blob = (e: ManifestEntry): Promise<string> => {
      let p = inFlight.get(e.sha256!);
      // A second path with the same content counts as from the cache: downloaded + fromCache = stored files.
      if (p) out.fromCache++;
      else {
        p = this.#cacheBlob(r.name, fixed, e, cacheDir, out, verified);
        inFlight.set(e.sha256!, p);
      }
      return p;
    };
    opts.onProgress?.(0, version.totalBytes);
    for await (const page of this.#filePages(r.name, fixed)) {
      await eachLimit(page, opts.concurrency ?? 4, async (e) => {
        const target = targetPath(root, e.path);
        await mkdir(dirname(target), { recursive: true }).catch((err: unknown) => {
          throw localError(err, dirname(target));
        });
        if (e.uri !== undefined) {
          await this.#placeExternal(e, target, opts);
          out.external++;
        } else {
          const cached = await blob(e);
          await placeFromCache(cached, target, mode, e.mode);
        }
        out.files++;
        out.bytes += e.size;
        opts.onProgress?.(out.bytes, version.totalBytes);
      });
      // A page's entries are done; the next page's hashes rarely repeat enough to keep the map.
      inFlight.clear();
    }
    return out;
  }

  /**
   * The cached blob's path, downloading it first when the cache lacks it or its cached bytes no
   * longer hash to its name (hashed once per call: `verified`).
   */
  async #cacheBlob(name: string, ref: string, e: ManifestEntry, cacheDir: string, out: MaterializedVersion, verified: Set<string>): Promise<string> {
    const sha = e.sha256!;
    const path = cachedBlobPath(cacheDir, sha);
    // lstat: a symlink (or anything but a plain file) in the cache is never a hit; the download replaces it.
    const st = await lstat(path).catch(() => undefined);
    if (st?.isFile() && st.size === e.size) {
      if (verified.has(sha) || (await hashFile(path).catch(() => undefined)) === sha) {
        verified.add(sha);
        out.fromCache++;
        return path;
      }
      // Corrupted in the cache (e.g. written through a hard link): drop it and download it again. The
      // new copy gets a new inode, so files hard-linked to the bad one elsewhere are not touched.
      await unlink(path).catch(() => undefined);
    }
    await mkdir(dirname(path), { recursive: true }).catch((err: unknown) => {
      throw localError(err, dirname(path));
    });
    const label = `${name}@${ref}/${e.path}`;
    const size = await withRetry(async () => {
      const tmp = tmpName(path);
      const idle = idleTimeout(this.#idleMs);
      try {
        const src = await this.openFile(name, ref, e.path, idle.signal);
        const h = hashing(() => idle.touch());
        try {
          await pipeline(src, h, createWriteStream(tmp, { mode: 0o644 }));
        } catch (err) {
          throw transferError(err, label, tmp);
        }
        const got = h.digest();
        if (got !== sha) {
          throw new CairnError("CHECKSUM_MISMATCH", `Downloaded bytes of '${e.path}' (${name}@${ref}) hash to sha256 ${got}, but the manifest says ${sha}; the server's copy is corrupt. Nothing was written for it.`);
        }
        await chmod(tmp, 0o444);
        await rename(tmp, path).catch((err: unknown) => {
          throw localError(err, path);
        });
        return h.bytes();
      } catch (err) {
        await unlink(tmp).catch(() => undefined);
        throw err;
      } finally {
        idle.clear();
      }
    }, this.#retry);
    verified.add(sha);
    out.downloaded++;
    out.downloadedBytes += size;
    return path;
  }

  /**
   * Copies an external entry into `target`, checking its hash on the way (an `s3://` entry without
   * sha256: its size). A `file://` entry must have a sha256: a size alone would let a manifest copy
   * any local file of that size into `dir`.
   */
  async #placeExternal(e: ManifestEntry, target: string, opts: MaterializeOptions): Promise<void> {
    const uri = e.uri!;
    let src: Readable;
    if (uri.startsWith("file://")) {
      if (e.sha256 === undefined) {
        throw new CairnError("INVALID_PARAMETER_VALUE", `External file '${e.path}' at ${uri} has no sha256 to check it against; refusing to copy a local file on its size alone`);
      }
      let local: string;
      try {
        local = fileURLToPath(uri);
      } catch (err) {
        throw new CairnError("INVALID_PARAMETER_VALUE", `External file '${e.path}' has an unusable URI ${uri}: ${(err as Error).message}`);
      }
      src = createReadStream(local);
    } else if (opts.fetchExternal) {
      src = await opts.fetchExternal(e);
    } else {
      throw new CairnError(
        "INVALID_PARAMETER_VALUE",
        `'${e.path}' is stored outside Cairn at ${uri}; pass fetchExternal to materialize (for example a GetObject with @aws-sdk/client-s3), or fetch it with \`cairn data get\`, which reads S3 itself`,
      );
    }
    const tmp = tmpName(target);
    const h = hashing();
    try {
      try {
        await pipeline(src, h, createWriteStream(tmp));
      } catch (err) {
        throw uri.startsWith("file://") ? localError(err, fileURLToPath(uri)) : transferError(err, uri, tmp);
      }
      if (e.sha256 !== undefined ? h.digest() !== e.sha256 : h.bytes() !== e.size) {
        const what = e.sha256 !== undefined ? `sha256 ${h.digest()}, but the manifest says ${e.sha256}` : `${h.bytes()} bytes, but the manifest says ${e.size}`;
        throw new CairnError("CHECKSUM_MISMATCH", `External file '${e.path}' at ${uri} has ${what}; it changed since the version was recorded`);
      }
      await chmod(tmp, e.mode);
      await rename(tmp, target);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw isCairnError(err) ? err : localError(err, target);
    }
  }

  /**
   * Materializes a version into `dir` (see `materialize`) and, when a run is active, records the
   * version as that run's input. Returns the version.
   * @throws CairnError as `materialize` and `linkRun`
   * @example
   * const run = await cairn.startRun({ experiment: "credit" });
   * const ds = await cairn.datasets.use("credit@v3", "./data/credit"); // run ← input credit@v3
   */
  async use(ref: string, dir: string, opts: UseOptions = {}): Promise<DatasetVersion> {
    const { run, context, ...mat } = opts;
    const { version } = await this.materialize(ref, dir, mat);
    const runId = run === false ? undefined : typeof run === "string" ? run : (run?.id ?? this.#activeRun() ?? (process.env.CAIRN_RUN_ID || undefined));
    if (runId !== undefined) {
      const link: { dataset: string; version: number; direction: LinkDirection; context?: string } = { dataset: version.dataset, version: version.number, direction: "input" };
      if (context !== undefined) link.context = context;
      await this.linkRun(runId, link);
    }
    return version;
  }
}

/** Places a cached blob at `target` through a temp file and rename. */
async function placeFromCache(blob: string, target: string, how: LinkMode, mode: number): Promise<void> {
  const tmp = tmpName(target);
  try {
    let linked = false;
    if (how === "hardlink") {
      try {
        await link(blob, tmp);
        linked = true;
      } catch (e) {
        // Another device (or a file system without hard links): copy instead.
        const code = (e as { code?: string }).code;
        if (code !== "EXDEV" && code !== "EPERM" && code !== "ENOTSUP" && code !== "EMLINK") throw e;
      }
    }
    if (!linked) {
      await copyFile(blob, tmp, how === "copy" ? 0 : fsConstants.COPYFILE_FICLONE);
      await chmod(tmp, mode);
    }
    await rename(tmp, target);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw localError(e, target);
  }
}

/** Small blobs read into memory at once while a batch is assembled. */
const BATCH_READ_CONCURRENCY = 16;
/** Batch uploads in flight at once: one is sent while the next is read. */
const BATCHES_IN_FLIGHT = 2;

/** Reads a stream whole (a small blob of a batch); a local file error names `label`, anything else is a retryable transfer error. */
async function readAll(src: Readable, label: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  try {
    for await (const chunk of src) parts.push(typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer));
  } catch (e) {
    throw transferError(e, label, label);
  } finally {
    src.destroy();
  }
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

/**
 * Uploads these blobs: those up to `batchBlobMaxBytes` in batches (within `batchMaxBytes` and
 * `batchMaxBlobs`, `BATCHES_IN_FLIGHT` at once), bigger ones streamed one by one, `concurrency` at once.
 */
async function uploadAll<E extends { path: string; sha256?: string | undefined; size: number }>(
  datasets: Datasets,
  name: string,
  toUpload: readonly E[],
  open: (e: E) => Readable | Promise<Readable>,
  concurrency: number,
  onBytes: (n: number) => void,
): Promise<void> {
  const batches: E[][] = [];
  const big: E[] = [];
  let batch: E[] = [];
  let batchBytes = 0;
  for (const e of toUpload) {
    if (e.size > DATASET_LIMITS.batchBlobMaxBytes) {
      big.push(e);
      continue;
    }
    if (batch.length === DATASET_LIMITS.batchMaxBlobs || batchBytes + e.size > DATASET_LIMITS.batchMaxBytes) {
      batches.push(batch);
      batch = [];
      batchBytes = 0;
    }
    batch.push(e);
    batchBytes += e.size;
  }
  if (batch.length) batches.push(batch);
  // A lone small blob gains nothing from a batch.
  if (batches.length === 1 && batches[0]!.length === 1) big.unshift(batches.pop()![0]!);
  await eachLimit(batches, BATCHES_IN_FLIGHT, async (b) => {
    await datasets.uploadBlobs(name, b.map((e) => ({ sha256: e.sha256!, open: () => open(e), label: e.path })), onBytes);
  });
  await eachLimit(big, concurrency, async (e) => {
    await datasets.uploadBlob(name, e.sha256!, () => open(e), onBytes);
  });
}

/**
 * Copies one dataset version from one server to another (push and pull): creates the dataset on
 * the target when missing (same description, tags and expectations), asks the target which blobs it
 * lacks and streams only those from the source's file download into the target's blob upload (the
 * target checks each hash), then creates the version with the same id, message, author, creation
 * time and tags. A version whose id the target already has is answered as is, so a repeat is a no-op.
 * @throws CairnError RESOURCE_DOES_NOT_EXIST (source dataset or version), CHECKSUM_MISMATCH (a corrupt
 *   source blob, refused by the target), PERMISSION_DENIED
 * @example await copyVersion(local, remote, "credit", "v3");
 */
export async function copyVersion(
  from: WithDatasets,
  to: WithDatasets,
  name: string,
  ref: string,
  opts: { concurrency?: number; onProgress?: (bytesDone: number, bytesTotal: number) => void } = {},
): Promise<CopiedVersion> {
  const src = from.datasets;
  const dst = to.datasets;
  const version = await src.getVersion(name, ref);
  const fixed = `v${version.number}`;
  const ds = await src.get(name);
  const { created } = await dst.getOrCreate(name, { description: ds.description, tags: ds.tags, expectations: ds.expectations });
  if (!created) {
    try {
      const there = await dst.getVersion(name, version.id);
      if (there.id === version.id) return { version: there, existed: true, datasetCreated: false, blobsSent: 0, blobsSkipped: 0, bytesSent: 0 };
    } catch (e) {
      if (!notFound(e) && !(isCairnError(e) && e.code === "INVALID_PARAMETER_VALUE")) throw e;
    }
  }
  const files: ManifestEntry[] = [];
  for await (const f of src.files(name, fixed)) files.push(f);
  const byHash = new Map<string, ManifestEntry>();
  for (const f of files) if (f.uri === undefined && f.sha256 !== undefined && !byHash.has(f.sha256)) byHash.set(f.sha256, f);
  const missing = await dst.findMissingBlobs(name, [...byHash.keys()]);
  const toUpload = missing.map((h) => byHash.get(h)).filter((e): e is ManifestEntry => e !== undefined);
  const total = toUpload.reduce((n, e) => n + e.size, 0);
  let done = 0;
  opts.onProgress?.(0, total);
  await uploadAll(dst, name, toUpload, (e) => src.openFile(name, fixed, e.path), opts.concurrency ?? 4, (n) => {
    done += n;
    opts.onProgress?.(done, total);
  });
  const req: CreateVersionRequest = {
    files,
    message: version.message,
    id: version.id,
    author: version.author,
    createdAt: version.createdAt,
  };
  if (version.tags.length) req.tags = version.tags;
  const made = await dst.createVersion(name, req);
  return { version: made, existed: false, datasetCreated: created, blobsSent: toUpload.length, blobsSkipped: byHash.size - toUpload.length, bytesSent: total };
}
