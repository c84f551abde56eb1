import { createHash, randomUUID } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import {
  CairnError,
  DATASET_LIMITS,
  DEFAULT_PROJECT,
  PROJECT_TAG,
  DATASET_URI_PREFIX,
  type Dataset,
  type DatasetVersion,
  type ExpectationResult,
  type FileProfile,
  type GcResponse,
  type ManifestEntry,
  type ProfileResponse,
  type TabularDiff,
  type TabularFormat,
  type ValidationReport,
  type VersionDiff,
  type BlobsUploaded,
} from "@cairn/contract";
import type { z } from "zod";
import type * as C from "@cairn/contract";
import type { BlobStore } from "../../platform/blob/blob-store.js";
import type { Logger } from "pino";
import { manifestDigest } from "./manifest.js";
import { formatOf, matchesGlob, type TabularEngine } from "./tabular.js";
import { diffProfiles } from "./tabular-diff.js";
import { profileKey, type DatasetStore, type VersionBase } from "./store/dataset-store.js";

type Out<S extends z.ZodType> = z.output<S>;

/** Changed paths up to which a version built on a base copies the base's rows in the database. */
const MAX_DELTA_PATHS = 5000;

/** Manifest entries the service keeps in memory across recent versions (about 200 bytes each). */
const MANIFEST_CACHE_ENTRIES = 500_000;

/**
 * The manifests of recently used versions, least recently used out first, bounded by their total
 * number of entries. Versions are immutable, so an entry never goes stale; with several servers on
 * one database, each simply misses more often.
 */
class ManifestCache {
  readonly #m = new Map<string, readonly ManifestEntry[]>();
  #entries = 0;
  constructor(readonly maxEntries: number) {}

  get(id: string): readonly ManifestEntry[] | undefined {
    const hit = this.#m.get(id);
    if (hit) {
      this.#m.delete(id);
      this.#m.set(id, hit);
    }
    return hit;
  }

  set(id: string, files: readonly ManifestEntry[]): void {
    if (files.length > this.maxEntries || this.#m.has(id)) return;
    this.#m.set(id, files);
    this.#entries += files.length;
    for (const [old, list] of this.#m) {
      if (this.#entries <= this.maxEntries) break;
      this.#m.delete(old);
      this.#entries -= list.length;
    }
  }
}

/**
 * A shared/exclusive lock within this process: uploads share it, gc takes it alone. Readers are
 * preferred (gc may wait behind a stream of uploads, never the other way round).
 */
class SharedExclusive {
  #shared = 0;
  #exclusive: Promise<void> | undefined;
  #idle: (() => void)[] = [];

  async shared<T>(fn: () => Promise<T>): Promise<T> {
    while (this.#exclusive) await this.#exclusive;
    this.#shared++;
    try {
      return await fn();
    } finally {
      if (--this.#shared === 0) for (const wake of this.#idle.splice(0)) wake();
    }
  }

  async exclusive(fn: () => Promise<void>): Promise<void> {
    while (this.#exclusive) await this.#exclusive;
    let release!: () => void;
    this.#exclusive = new Promise<void>((r) => (release = r));
    try {
      while (this.#shared > 0) await new Promise<void>((r) => this.#idle.push(r));
      await fn();
    } finally {
      this.#exclusive = undefined;
      release();
    }
  }
}

/** Where a blob's bytes live in the blob store: `datasets/blobs/sha256/ab/<hash>`. */
export function blobKey(sha256: string): string {
  return `datasets/blobs/sha256/${sha256.slice(0, 2)}/${sha256}`;
}

/** Blob-store writes (and existence checks) of one batch upload in flight at once. */
const PUT_CONCURRENCY = 16;
/** Longest frame header: 64 hex digits, a space, the size's digits and the newline. */
const MAX_HEADER = 64 + 1 + String(DATASET_LIMITS.batchBlobMaxBytes).length + 1;
const FRAME_HEADER = /^([0-9a-f]{64}) (0|[1-9][0-9]*)$/;

/** Runs `fn` over `items`, at most `limit` at once; the first failure is thrown once the running calls settle. */
async function eachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { e: unknown } | undefined;
  const worker = async () => {
    while (failure === undefined && next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (e) {
        failure ??= { e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.e;
}

/**
 * Parses a batch upload body into its blobs by hash (first occurrence wins), checking framing, limits
 * and every blob's SHA-256 as the bytes arrive.
 * @throws CairnError INVALID_PARAMETER_VALUE, PAYLOAD_TOO_LARGE, CHECKSUM_MISMATCH (see `uploadBlobs`)
 */
async function readBatch(body: Readable): Promise<Map<string, Buffer>> {
  const blobs = new Map<string, Buffer>();
  let frames = 0;
  let payload = 0;
  let header: Buffer[] = [];
  let headerLen = 0;
  // The frame being read: its name, bytes still due, the parts so far and their running hash.
  let frame: { sha256: string; left: number; parts: Buffer[]; hash: ReturnType<typeof createHash> } | undefined;
  const finish = (f: NonNullable<typeof frame>) => {
    const got = f.hash.digest("hex");
    if (got !== f.sha256) throw new CairnError("CHECKSUM_MISMATCH", `Blob ${f.sha256} (frame ${frames}) hashes to ${got}; nothing of this batch was stored`);
    if (!blobs.has(f.sha256)) blobs.set(f.sha256, f.parts.length === 1 ? f.parts[0]! : Buffer.concat(f.parts));
  };
  const startFrame = (line: string) => {
    const m = FRAME_HEADER.exec(line);
    if (!m) throw new CairnError("INVALID_PARAMETER_VALUE", `Frame ${frames + 1} has a malformed header '${line.slice(0, 100)}': expected '<64 lowercase hex sha256> <decimal size>'`);
    const size = Number(m[2]);
    if (size > DATASET_LIMITS.batchBlobMaxBytes) throw new CairnError("INVALID_PARAMETER_VALUE", `Blob ${m[1]} of ${size} bytes is over the batch limit of ${DATASET_LIMITS.batchBlobMaxBytes} bytes a blob; upload it on its own`);
    if (++frames > DATASET_LIMITS.batchMaxBlobs) throw new CairnError("PAYLOAD_TOO_LARGE", `A batch holds at most ${DATASET_LIMITS.batchMaxBlobs} blobs`);
    payload += size;
    if (payload > DATASET_LIMITS.batchMaxBytes) throw new CairnError("PAYLOAD_TOO_LARGE", `A batch holds at most ${DATASET_LIMITS.batchMaxBytes} bytes of blobs`);
    frame = { sha256: m[1]!, left: size, parts: [], hash: createHash("sha256") };
    if (size === 0) {
      finish(frame);
      frame = undefined;
    }
  };
  try {
    await parseFrames();
  } catch (e) {
    // The rest of the body is drained, not destroyed: destroying the request would cut the error
    // response, and leaving it unread would stall the next request on the kept-alive connection.
    body.resume();
    throw e;
  }
  if (frame) throw new CairnError("INVALID_PARAMETER_VALUE", `The batch ends inside blob ${frame.sha256}: ${frame.left} of its bytes are missing`);
  if (headerLen > 0) throw new CairnError("INVALID_PARAMETER_VALUE", `The batch ends inside a frame header (${headerLen} bytes after the last frame)`);
  return blobs;

  async function parseFrames(): Promise<void> {
    for await (const chunk of body.iterator({ destroyOnReturn: false })) {
      const buf = chunk as Buffer;
      let pos = 0;
      while (pos < buf.length) {
        if (frame) {
          const n = Math.min(frame.left, buf.length - pos);
          const part = buf.subarray(pos, pos + n);
          frame.hash.update(part);
          frame.parts.push(part);
          frame.left -= n;
          pos += n;
          if (frame.left === 0) {
            finish(frame);
            frame = undefined;
          }
          continue;
        }
        const nl = buf.indexOf(10, pos);
        const end = nl < 0 ? buf.length : nl;
        headerLen += end - pos;
        if (headerLen > MAX_HEADER) throw new CairnError("INVALID_PARAMETER_VALUE", `Frame ${frames + 1} has a malformed header: no newline within its first ${MAX_HEADER} bytes`);
        header.push(buf.subarray(pos, end));
        pos = end;
        if (nl >= 0) {
          pos++;
          const line = Buffer.concat(header).toString("latin1");
          header = [];
          headerLen = 0;
          startFrame(line);
        }
      }
    }
  }
}

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64url");
function unb64(token: string, what: string): string {
  const s = Buffer.from(token, "base64url").toString("utf8");
  // eslint-disable-next-line no-control-regex
  if (b64(s) !== token.replace(/=+$/, "") || /[\u0000-\u001f]/.test(s)) throw new CairnError("INVALID_PARAMETER_VALUE", `Invalid ${what} page token`);
  return s;
}

/** Who is acting, for authorship. */
export interface DataActor {
  /** The authenticated user, or (auth off) the name the client gave; `anonymous` otherwise. */
  name: string;
  /** Whether a copied version (push/pull) may keep its original author and time: with auth off, or for an admin. */
  keepsOrigin: boolean;
}

/**
 * Dataset versioning: datasets, immutable content-addressed versions, profiles and validation of
 * tabular files, diffs, tags, garbage collection and run links. Throws CairnError:
 * RESOURCE_DOES_NOT_EXIST for an unknown dataset, version, file or run; RESOURCE_ALREADY_EXISTS for
 * a duplicate dataset; INVALID_PARAMETER_VALUE for bad manifests and unreadable tabular files;
 * INVALID_STATE when a manifest names content not uploaded; CHECKSUM_MISMATCH when uploaded bytes
 * do not hash to their name; VALIDATION_FAILED for a strict create that fails its expectations.
 */
export class DatasetService {
  readonly #store: DatasetStore;
  readonly #blobs: BlobStore;
  readonly #tabular: TabularEngine;
  readonly #runExists: (runId: string) => Promise<boolean>;
  readonly #logInput: (runId: string, v: DatasetVersion, context: string | undefined) => Promise<void>;
  readonly #log: Logger | undefined;
  readonly #manifests = new ManifestCache(MANIFEST_CACHE_ENTRIES);
  readonly #gate = new SharedExclusive();
  readonly #matchInputsByDigest: boolean;

  constructor(opts: {
    store: DatasetStore;
    blobs: BlobStore;
    tabular: TabularEngine;
    /** Whether a run exists (links and source runs must name one). */
    runExists: (runId: string) => Promise<boolean>;
    /** Logs a version as an MLflow dataset input of a run (so MLflow's UI shows it too). */
    logInput: (runId: string, v: DatasetVersion, context: string | undefined) => Promise<void>;
    logger?: Logger;
    /**
     * Whether a logged input names a version by dataset name and digest alone. With auth on it does
     * not: only a `datasets:/` source, which the request guard checks the caller may read, is linked.
     */
    matchInputsByDigest?: boolean;
  }) {
    this.#matchInputsByDigest = opts.matchInputsByDigest ?? true;
    this.#store = opts.store;
    this.#blobs = opts.blobs;
    this.#tabular = opts.tabular;
    this.#runExists = opts.runExists;
    this.#logInput = opts.logInput;
    this.#log = opts.logger;
  }

  /** The store, for the lineage graph (same module). */
  get store(): DatasetStore {
    return this.#store;
  }

  // ---------- datasets ----------

  /** @throws CairnError RESOURCE_ALREADY_EXISTS */
  async createDataset(req: Out<typeof C.CreateDatasetRequest>): Promise<Dataset> {
    return this.#store.createDataset({ name: req.name, description: req.description ?? "", tags: req.tags ?? {}, expectations: req.expectations ?? [], time: Date.now() });
  }

  /** @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async getDataset(name: string): Promise<Dataset> {
    const d = await this.#store.getDataset(name);
    if (!d) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Dataset '${name}' not found`);
    return d;
  }

  /** Datasets by name, restricted to `projects` when given. @throws CairnError INVALID_PARAMETER_VALUE for a bad page token */
  async searchDatasets(q: Out<typeof C.SearchDatasetsQuery>, projects?: readonly string[]): Promise<{ datasets: Dataset[]; nextPageToken?: string }> {
    const limit = q.maxResults ?? DATASET_LIMITS.datasetsPageDefault;
    const after = q.pageToken ? unb64(q.pageToken, "dataset") : undefined;
    const rows = await this.#store.searchDatasets({ q: q.q, projects, after, limit: limit + 1 });
    const page = rows.slice(0, limit);
    return rows.length > limit ? { datasets: page, nextPageToken: b64(page[page.length - 1]!.name) } : { datasets: page };
  }

  /** @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async updateDataset(name: string, req: Out<typeof C.UpdateDatasetRequest>): Promise<Dataset> {
    return this.#store.updateDataset(name, { description: req.description, time: Date.now() });
  }

  /** Replaces the expectations later versions are validated against. @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async setExpectations(name: string, req: Out<typeof C.SetExpectationsRequest>): Promise<Dataset> {
    return this.#store.updateDataset(name, { expectations: req.expectations, time: Date.now() });
  }

  /** Deletes a dataset with its versions and tags; its blobs are left to `gc`. @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async deleteDataset(name: string): Promise<void> {
    await this.#store.deleteDataset(name);
  }

  // ---------- blobs ----------

  /**
   * Of these hashes, the ones the dataset's project has not uploaded (even when another project has:
   * sending the bytes is what proves a project holds them); the rest get a fresh gc grace period.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST for the dataset
   */
  async findMissingBlobs(name: string, hashes: readonly string[]): Promise<string[]> {
    return this.#store.missingBlobs(hashes, await this.#projectOf(name), Date.now());
  }

  /** A dataset's project: its `cairn.project` tag, else the default project. @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async #projectOf(name: string): Promise<string> {
    return (await this.getDataset(name)).tags[PROJECT_TAG] ?? DEFAULT_PROJECT;
  }

  /**
   * Stores uploaded bytes under their SHA-256, hashing them as they stream past: bytes that do not
   * hash to `sha256` fail the write before it becomes visible (CHECKSUM_MISMATCH), so the blob
   * store never holds a blob under a wrong name. Uploading known content again only drains the body
   * (and restarts the blob's gc grace period).
   * @throws CairnError CHECKSUM_MISMATCH
   */
  async uploadBlob(name: string, sha256: string, body: Readable): Promise<{ sha256: string; size: number; existed: boolean }> {
    const hash = createHash("sha256");
    let size = 0;
    const check = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        size += chunk.length;
        cb(null, chunk);
      },
      flush(cb) {
        const got = hash.digest("hex");
        cb(got === sha256 ? null : new CairnError("CHECKSUM_MISMATCH", `The uploaded bytes hash to ${got}, not ${sha256}; nothing was stored`));
      },
    });
    body.on("error", (e) => check.destroy(e));
    // `put` reads `check` and rethrows its error; this listener only keeps the emitter from also reporting it as unhandled.
    check.on("error", () => {});
    // Only now, with the body's errors handled: a client that hangs up while the project is looked up must not crash the server.
    const project = await this.#projectOf(name);
    return this.#gate.shared(async () => {
      // A read-only lookup: most uploads are of new content, and a write here would take SQLite's one writer lock twice per blob.
      const known = (await this.#store.recordedBlobs([sha256])).has(sha256);
      if (known && (await this.#blobs.stat(blobKey(sha256)))) {
        // Known content still has to be sent and to hash right: only proof of the bytes restarts its gc grace period.
        for await (const _ of body.pipe(check)) void _;
        await this.#store.recordBlob(sha256, size, project, Date.now());
        return { sha256, size, existed: true };
      }
      await this.#blobs.put(blobKey(sha256), body.pipe(check));
      await this.#store.recordBlob(sha256, size, project, Date.now());
      return { sha256, size, existed: false };
    });
  }

  /**
   * Stores a batch of small blobs sent as frames (`<sha256> <size>\n` and `size` bytes each, see the
   * `uploadBlobs` route). The body is parsed as it arrives and held in memory (at most
   * `batchMaxBytes`); every blob is checked before anything is written, so a batch with one bad blob
   * stores nothing. New blobs are written `PUT_CONCURRENCY` at a time, then all of the batch's blobs are
   * recorded (or touched) in one transaction. A hash sent twice is stored and counted once.
   * @throws CairnError INVALID_PARAMETER_VALUE for a malformed header, a frame over `batchBlobMaxBytes`
   *   or a truncated body; PAYLOAD_TOO_LARGE past `batchMaxBytes` or `batchMaxBlobs`; CHECKSUM_MISMATCH
   *   naming the first blob whose bytes do not hash to its name
   */
  async uploadBlobs(name: string, body: Readable): Promise<BlobsUploaded> {
    // Reading starts at once, so the body's errors are handled whatever the lookup does.
    const [project, blobs] = await Promise.all([this.#projectOf(name), readBatch(body)]);
    return this.#gate.shared(async () => {
      const known = await this.#store.recordedBlobs([...blobs.keys()]);
      const fresh: [string, Buffer][] = [];
      let existed = 0;
      await eachLimit([...blobs], PUT_CONCURRENCY, async ([sha256, bytes]) => {
        // Recorded but without bytes (a blob store restored without its database) is uploaded again, as in `uploadBlob`.
        if (known.has(sha256) && (await this.#blobs.stat(blobKey(sha256)))) existed++;
        else fresh.push([sha256, bytes]);
      });
      // Each local put fsyncs: many at once let the file system commit them together.
      await eachLimit(fresh, PUT_CONCURRENCY, async ([sha256, bytes]) => {
        await this.#blobs.put(blobKey(sha256), bytes);
      });
      await this.#store.recordBlobs([...blobs].map(([sha256, bytes]) => ({ sha256, size: bytes.length })), project, Date.now());
      return { stored: fresh.length, existed, bytes: fresh.reduce((n, [, b]) => n + b.length, 0) };
    });
  }

  /**
   * Deletes blobs no version references and nothing vouched for during the grace period. A blob is
   * forgotten in the database first (only if still unreferenced and out of grace), then deleted, so a
   * version created meanwhile either sees the blob recorded or re-uploads it.
   */
  async collectGarbage(req: Out<typeof C.GcRequest>): Promise<GcResponse> {
    const before = Date.now() - req.graceSeconds * 1000;
    const { candidates, referenced, inGrace } = await this.#store.gcCandidates(before);
    let deleted = 0;
    let deletedBytes = 0;
    const sizes = new Map(candidates.map((c) => [c.sha256, c.size]));
    if (req.dryRun) {
      for (const c of candidates) {
        deleted++;
        deletedBytes += c.size;
      }
      return { deleted, deletedBytes, referenced, inGrace, dryRun: true };
    }
    // Uploads wait while gc forgets and deletes: an upload of a blob gc just forgot must not have its fresh bytes deleted under it.
    await this.#gate.exclusive(async () => {
      for (const sha256 of await this.#store.forgetBlobs([...sizes.keys()], before)) {
        await this.#blobs.delete(blobKey(sha256));
        deleted++;
        deletedBytes += sizes.get(sha256) ?? 0;
      }
    });
    return { deleted, deletedBytes, referenced, inGrace, dryRun: req.dryRun };
  }

  // ---------- versions ----------

  /**
   * Creates a version from a manifest whose stored files are uploaded: the whole manifest, or a base
   * version and the changes to it (then only the changed files travel and are written). Tabular files are profiled
   * (once per content) and checked against the dataset's expectations; the version with its files,
   * tags and validation report is written in one transaction, numbered next.
   * @throws CairnError INVALID_PARAMETER_VALUE for duplicate paths or an unreadable tabular file;
   *   INVALID_STATE for content not uploaded; VALIDATION_FAILED with `strict`; RESOURCE_CONFLICT when
   *   `expectedLatest` no longer holds; RESOURCE_DOES_NOT_EXIST for the dataset or `runId`
   */
  async createVersion(name: string, req: Out<typeof C.CreateVersionRequest>, actor: DataActor): Promise<DatasetVersion> {
    const dataset = await this.getDataset(name);
    if (req.id) {
      const existing = await this.#store.getVersionById(req.id);
      if (existing && existing.dataset === name) return existing;
    }
    let files: ManifestEntry[];
    let base: VersionBase | undefined;
    if (req.files) files = [...req.files];
    else {
      const from = await this.getVersion(name, req.base!);
      const changes = req.changes!;
      const byPath = new Map((await this.#allFiles(from.id)).map((f) => [f.path, f]));
      for (const p of changes.remove) {
        if (!byPath.delete(p)) throw new CairnError("INVALID_PARAMETER_VALUE", `changes.remove names '${p}', which is not in version ${from.number}`);
      }
      const upserted = new Set<string>();
      for (const f of changes.upsert) {
        if (upserted.has(f.path)) throw new CairnError("INVALID_PARAMETER_VALUE", `Path '${f.path}' appears twice in the manifest`);
        upserted.add(f.path);
        byPath.set(f.path, f);
      }
      files = [...byPath.values()];
      const changed = [...new Set([...changes.remove, ...changes.upsert.map((f) => f.path)])];
      // Past a few thousand changed paths, writing every row is as cheap as excluding them from the copy.
      if (changed.length <= MAX_DELTA_PATHS) base = { versionId: from.id, changed, upsert: changes.upsert };
    }
    files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    for (let i = 1; i < files.length; i++) {
      if (files[i]!.path === files[i - 1]!.path) throw new CairnError("INVALID_PARAMETER_VALUE", `Path '${files[i]!.path}' appears twice in the manifest`);
      if (files[i]!.path.startsWith(`${files[i - 1]!.path}/`)) throw new CairnError("INVALID_PARAMETER_VALUE", `'${files[i - 1]!.path}' is both a file and a directory in the manifest`);
    }
    if (req.runId && !(await this.#runExists(req.runId))) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Run '${req.runId}' not found`);
    const project = dataset.tags[PROJECT_TAG] ?? DEFAULT_PROJECT;
    const missing = await this.#store.missingBlobs(
      (req.files ?? req.changes!.upsert).filter((f) => f.uri === undefined).map((f) => f.sha256!),
      project,
      Date.now(),
    );
    if (missing.length) {
      const first = files.find((f) => f.sha256 === missing[0])!;
      throw new CairnError("INVALID_STATE", `${missing.length} file(s) have no uploaded content, e.g. '${first.path}' (sha256 ${missing[0]}); upload the blobs first`);
    }
    const profiles = await this.#profiles(files);
    const validation = await this.#validate(dataset, files, profiles);
    if (validation.status === "failed" && req.strict) {
      const failed = validation.results.filter((r) => !r.passed);
      throw new CairnError("VALIDATION_FAILED", `${failed.length} expectation(s) failed, so the version was refused: ${failed.slice(0, 5).map((r) => `${r.file}: ${describeExpectation(r)} (${r.observed})`).join("; ")}`);
    }
    const { version } = await this.#store.createVersion(
      {
        id: req.id ?? randomUUID(),
        name,
        project,
        digest: manifestDigest(files),
        message: req.message ?? "",
        author: req.id && req.author && actor.keepsOrigin ? req.author : actor.name,
        createdAt: req.id && req.createdAt && actor.keepsOrigin ? req.createdAt : Date.now(),
        validation,
        tags: req.tags ?? [],
        ...(req.runId ? { sourceRunId: req.runId } : {}),
        ...(req.expectedLatest !== undefined ? { expectedLatest: req.expectedLatest } : {}),
      },
      files,
      base,
    );
    // The next version is most likely built on this one: keep its manifest at hand.
    this.#manifests.set(version.id, files);
    return version;
  }

  /** @throws CairnError RESOURCE_DOES_NOT_EXIST; INVALID_PARAMETER_VALUE for an ambiguous digest prefix */
  async getVersion(name: string, ref: string): Promise<DatasetVersion> {
    const v = await this.#store.resolveVersion(name, ref);
    if (v) return v;
    await this.getDataset(name);
    throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Dataset '${name}' has no version '${ref}'`);
  }

  /** Versions newest first. @throws CairnError RESOURCE_DOES_NOT_EXIST; INVALID_PARAMETER_VALUE for a bad page token */
  async listVersions(name: string, q: Out<typeof C.VersionsQuery>): Promise<{ versions: DatasetVersion[]; nextPageToken?: string }> {
    await this.getDataset(name);
    const limit = q.maxResults ?? DATASET_LIMITS.versionsPageDefault;
    let before: number | undefined;
    if (q.pageToken) {
      before = Number(unb64(q.pageToken, "version"));
      if (!Number.isSafeInteger(before) || before < 1) throw new CairnError("INVALID_PARAMETER_VALUE", "Invalid version page token");
    }
    const rows = await this.#store.listVersions(name, { before, limit: limit + 1 });
    const page = rows.slice(0, limit);
    return rows.length > limit ? { versions: page, nextPageToken: b64(String(page[page.length - 1]!.number)) } : { versions: page };
  }

  /** A version's manifest by path. @throws CairnError RESOURCE_DOES_NOT_EXIST; INVALID_PARAMETER_VALUE for a bad page token */
  async listFiles(name: string, ref: string, q: Out<typeof C.FilesQuery>): Promise<{ files: ManifestEntry[]; nextPageToken?: string }> {
    const v = await this.getVersion(name, ref);
    const limit = q.maxResults ?? DATASET_LIMITS.filesPageDefault;
    const after = q.pageToken ? unb64(q.pageToken, "file") : undefined;
    const prefix = q.prefix?.replace(/\/+$/, "") || undefined;
    const rows = await this.#store.listFiles(v.id, { prefix, after, limit: limit + 1 });
    const page = rows.slice(0, limit);
    return rows.length > limit ? { files: page, nextPageToken: b64(page[page.length - 1]!.path) } : { files: page };
  }

  /**
   * One stored file's bytes (streamed).
   * @throws CairnError RESOURCE_DOES_NOT_EXIST; INVALID_PARAMETER_VALUE for an external file (its bytes are at its URI)
   */
  async downloadFile(name: string, ref: string, filePath: string): Promise<{ stream: Readable; size: number; entry: ManifestEntry }> {
    const v = await this.getVersion(name, ref);
    const entry = await this.#store.getFile(v.id, filePath);
    if (!entry) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Version ${v.number} of '${name}' has no file '${filePath}'`);
    if (entry.uri !== undefined) throw new CairnError("INVALID_PARAMETER_VALUE", `'${filePath}' is external: read it from ${entry.uri}`);
    const blob = await this.#blobs.get(blobKey(entry.sha256!));
    return { ...blob, entry };
  }

  /** Profiles of a version's tabular files (those whose profile was computed at creation). @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async getProfile(name: string, ref: string): Promise<ProfileResponse> {
    const v = await this.getVersion(name, ref);
    const tabular = (await this.#allFiles(v.id)).filter((f) => f.uri === undefined && formatOf(f.path));
    const profiles = await this.#store.getProfiles(tabular.map((f) => ({ sha256: f.sha256!, format: formatOf(f.path)! })));
    const files: ProfileResponse["files"] = [];
    for (const f of tabular) {
      const p = profiles.get(profileKey(f.sha256!, formatOf(f.path)!));
      if (p) files.push({ path: f.path, sha256: f.sha256!, profile: p });
    }
    return { files };
  }

  /** Files added, removed and modified from one version to another, with tabular diffs of modified tabular files. @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async diff(name: string, fromRef: string, toRef: string): Promise<VersionDiff> {
    const [from, to] = await Promise.all([this.getVersion(name, fromRef), this.getVersion(name, toRef)]);
    const [a, b] = await Promise.all([this.#allFiles(from.id), this.#allFiles(to.id)]);
    const before = new Map(a.map((e) => [e.path, e]));
    const ref = (e: ManifestEntry) => ({ path: e.path, size: e.size, ...(e.sha256 ? { sha256: e.sha256 } : {}), ...(e.uri ? { uri: e.uri } : {}) });
    const added: VersionDiff["added"] = [];
    const modified: VersionDiff["modified"] = [];
    let unchanged = 0;
    for (const e of b) {
      const old = before.get(e.path);
      before.delete(e.path);
      if (!old) added.push(ref(e));
      else if (old.sha256 !== e.sha256 || old.mode !== e.mode || old.uri !== e.uri || old.etag !== e.etag) modified.push({ path: e.path, from: ref(old), to: ref(e) });
      else unchanged++;
    }
    const tabular: TabularDiff[] = [];
    const candidates = modified.filter((m) => m.from.sha256 && m.to.sha256 && formatOf(m.path));
    if (candidates.length) {
      const keys = candidates.flatMap((m) => [{ sha256: m.from.sha256!, format: formatOf(m.path)! }, { sha256: m.to.sha256!, format: formatOf(m.path)! }]);
      const profiles = await this.#store.getProfiles(keys);
      for (const m of candidates) {
        const fmt = formatOf(m.path)!;
        const p = profiles.get(profileKey(m.from.sha256!, fmt));
        const q = profiles.get(profileKey(m.to.sha256!, fmt));
        if (p && q) tabular.push(diffProfiles(m.path, p, q));
      }
    }
    const removed = [...before.values()].map(ref);
    const cap = DATASET_LIMITS.diffListMax;
    return { from, to, added: added.slice(0, cap), removed: removed.slice(0, cap), modified: modified.slice(0, cap), unchanged, counts: { added: added.length, removed: removed.length, modified: modified.length }, tabular };
  }

  /** Points a tag at a version (moving it when it exists). @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async setVersionTag(name: string, tag: string, ref: string): Promise<DatasetVersion> {
    const v = await this.getVersion(name, ref);
    await this.#store.setVersionTag(name, tag, v.id);
    return this.getVersion(name, v.id);
  }

  /** @throws CairnError RESOURCE_DOES_NOT_EXIST */
  async deleteVersionTag(name: string, tag: string): Promise<void> {
    await this.getDataset(name);
    await this.#store.deleteVersionTag(name, tag);
  }

  // ---------- run links ----------

  /**
   * Records a version as a run's input or output. An input is also logged as an MLflow dataset
   * input of the run (source `datasets:/NAME@vN`), so MLflow clients and UIs see it.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST for the run, dataset or version
   */
  async linkRun(runId: string, req: Out<typeof C.LinkRunDatasetRequest>): Promise<DatasetVersion> {
    if (!(await this.#runExists(runId))) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Run '${runId}' not found`);
    const v = await this.getVersion(req.dataset, req.version);
    if (req.direction === "input") await this.#logInput(runId, v, req.context);
    // Logging the input links it through `linkLoggedInputs`; an output (or a repeated input) is linked here.
    await this.#store.linkRun({ runId, versionId: v.id, direction: req.direction, ...(req.context ? { context: req.context } : {}) }, Date.now());
    return v;
  }

  /**
   * Links dataset inputs that MLflow clients (or the SDK) logged on a run when they name a Cairn
   * version: a source `datasets:/NAME@REF`, or a name and digest equal to a version's.
   */
  async linkLoggedInputs(runId: string, inputs: { dataset: { name: string; digest: string; source: string }; tags: Record<string, string> }[]): Promise<void> {
    for (const input of inputs) {
      const v = await this.#versionOfInput(input.dataset);
      if (!v) continue;
      const context = input.tags["mlflow.data.context"];
      await this.#store.linkRun({ runId, versionId: v.id, direction: "input", ...(context ? { context } : {}) }, Date.now());
    }
  }

  async #versionOfInput(d: { name: string; digest: string; source: string }): Promise<DatasetVersion | undefined> {
    let name = d.name;
    let ref = d.digest;
    const source = d.source.trim();
    if (source.startsWith(DATASET_URI_PREFIX)) {
      const m = /^([^@/]+)(?:@(.+))?$/.exec(source.slice(DATASET_URI_PREFIX.length));
      if (m) {
        name = m[1]!;
        ref = m[2] ?? "latest";
      }
    } else if (!this.#matchInputsByDigest || !/^[0-9a-f]{8,64}$/.test(ref)) return undefined;
    try {
      return await this.#store.resolveVersion(name, ref);
    } catch {
      return undefined;
    }
  }

  // ---------- internals ----------

  /** A version's whole manifest: from the in-memory cache of recent versions (versions never change), else the store. */
  async #allFiles(versionId: string): Promise<readonly ManifestEntry[]> {
    const hit = this.#manifests.get(versionId);
    if (hit) return hit;
    const out: ManifestEntry[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await this.#store.listFiles(versionId, { after, limit: DATASET_LIMITS.filesPageMax });
      out.push(...page);
      if (page.length < DATASET_LIMITS.filesPageMax) break;
      after = page[page.length - 1]!.path;
    }
    this.#manifests.set(versionId, out);
    return out;
  }

  /** Profiles of the stored tabular files, computing (and caching by content) the ones not seen before. */
  async #profiles(files: readonly ManifestEntry[]): Promise<Map<string, FileProfile>> {
    const tabular = files.filter((f) => f.uri === undefined && formatOf(f.path));
    const profiles = await this.#store.getProfiles(tabular.map((f) => ({ sha256: f.sha256!, format: formatOf(f.path)! })));
    for (const f of tabular) {
      const format = formatOf(f.path)!;
      const key = profileKey(f.sha256!, format);
      if (profiles.has(key)) continue;
      const profile = await this.#withLocalFile(f.sha256!, (file) => this.#tabular.profile(file, format, f.path));
      await this.#store.putProfile(f.sha256!, format, profile);
      profiles.set(key, profile);
    }
    return profiles;
  }

  async #validate(dataset: Dataset, files: readonly ManifestEntry[], profiles: Map<string, FileProfile>): Promise<ValidationReport> {
    const checkedAt = Date.now();
    if (dataset.expectations.length === 0) return { status: "none", checkedAt, results: [] };
    const results: ExpectationResult[] = [];
    const tabular = files.filter((f) => f.uri === undefined && formatOf(f.path));
    for (const f of tabular) {
      const format = formatOf(f.path) as TabularFormat;
      const applicable = dataset.expectations.filter((e) => e.file === undefined || matchesGlob(f.path, e.file));
      if (applicable.length === 0) continue;
      const profile = profiles.get(profileKey(f.sha256!, format))!;
      results.push(...(await this.#withLocalFile(f.sha256!, (file) => this.#tabular.validate(file, format, f.path, profile, applicable))));
    }
    // An expectation aimed at files by name that no file matches is a failure: the data it guards is absent.
    for (const e of dataset.expectations) {
      if (e.file !== undefined && !tabular.some((f) => matchesGlob(f.path, e.file!))) results.push({ expectation: e, file: e.file, passed: false, observed: "no tabular file matches" });
    }
    if (results.length === 0) return { status: "none", checkedAt, results };
    return { status: results.every((r) => r.passed) ? "passed" : "failed", checkedAt, results };
  }

  /**
   * Runs `fn` on a version's tabular file as a local path with its format: `filePath`, or the
   * version's only tabular file (for drift references).
   * @throws CairnError RESOURCE_DOES_NOT_EXIST (dataset, version, file), INVALID_PARAMETER_VALUE (not tabular; several tabular files and no path)
   */
  async withVersionFile<T>(name: string, ref: string, filePath: string | undefined, fn: (file: string, format: TabularFormat, label: string) => Promise<T>): Promise<T> {
    const v = await this.getVersion(name, ref);
    const tabular = (await this.#allFiles(v.id)).filter((f) => f.uri === undefined && formatOf(f.path) && (filePath === undefined || f.path === filePath));
    if (filePath !== undefined && tabular.length === 0) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Dataset ${name}@v${v.number} has no tabular file '${filePath}'`);
    if (tabular.length !== 1) throw new CairnError("INVALID_PARAMETER_VALUE", tabular.length === 0 ? `Dataset ${name}@v${v.number} has no tabular file (CSV, Parquet or JSON lines)` : `Dataset ${name}@v${v.number} has ${tabular.length} tabular files; name one (${tabular.slice(0, 5).map((f) => f.path).join(", ")}${tabular.length > 5 ? ", …" : ""})`);
    const f = tabular[0]!;
    return this.#withLocalFile(f.sha256!, (file) => fn(file, formatOf(f.path)!, `${name}@v${v.number}/${f.path}`));
  }

  /** Runs `fn` on a local file holding a blob: the blob store's own file when local, else a temporary copy. */
  async #withLocalFile<T>(sha256: string, fn: (file: string) => Promise<T>): Promise<T> {
    const key = blobKey(sha256);
    const local = await this.#blobs.localPath?.(key);
    if (local) return fn(local);
    const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), "cairn-blob-"));
    try {
      const file = path.join(dir, "blob");
      const { stream } = await this.#blobs.get(key);
      await pipeline(stream, fs.createWriteStream(file));
      return await fn(file);
    } finally {
      await fs.promises.rm(dir, { recursive: true, force: true }).catch((e) => this.#log?.warn({ err: e }, "could not remove a temporary blob copy"));
    }
  }
}

function describeExpectation(r: ExpectationResult): string {
  const e = r.expectation;
  switch (e.type) {
    case "unique":
      return `unique(${e.columns.join(", ")})`;
    case "row_count":
      return "row_count";
    default:
      return `${e.type}(${e.column})`;
  }
}
