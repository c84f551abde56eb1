import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readdir, realpath, rename, stat, unlink } from "node:fs/promises";
import { basename, dirname, join, resolve, sep } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { randomBytes } from "node:crypto";
import { CairnError, apiRoutes, isCairnError, type ArtifactEntry } from "@cairn/contract";
import type { ApiClient } from "./core.js";
import { withRetry, type RetryOptions } from "./retry.js";

/** Progress and parallelism for uploads and downloads. */
export interface TransferOptions {
  /** Called as bytes move: bytes done so far and the total for the whole transfer. */
  onProgress?: (bytesDone: number, bytesTotal: number) => void;
  /** Files transferred at once for a directory (default 4). */
  concurrency?: number;
}

/** One uploaded file. */
export interface UploadedArtifact {
  /** Path within the run's artifacts. */
  path: string;
  fileSize: number;
}

/**
 * Joins artifact path segments into a clean relative path (`/`-separated, no `.` or empty segments).
 * @throws CairnError INVALID_PARAMETER_VALUE for a `..` segment
 */
export function joinArtifactPath(...parts: (string | undefined)[]): string {
  const segs: string[] = [];
  for (const part of parts) {
    if (!part) continue;
    for (const s of part.split(/[/\\]+/)) {
      if (s === "" || s === ".") continue;
      if (s === "..") throw new CairnError("INVALID_PARAMETER_VALUE", `Artifact path '${part}' must not contain '..'`);
      segs.push(s);
    }
  }
  return segs.join("/");
}

/** @internal Turns a local filesystem error into a CairnError naming the path. */
export function localError(e: unknown, path: string): CairnError {
  if (isCairnError(e)) return e;
  const code = (e as { code?: string }).code;
  const msg = (e as Error).message ?? String(e);
  if (code === "ENOENT") return new CairnError("RESOURCE_DOES_NOT_EXIST", `Local path '${path}' does not exist`, { cause: e });
  if (code === "EACCES" || code === "EPERM") return new CairnError("PERMISSION_DENIED", `Cannot access local path '${path}': ${msg}`, { cause: e });
  return new CairnError("INVALID_PARAMETER_VALUE", `Local path '${path}': ${msg}`, { cause: e });
}

/** @internal Runs `fn` over `items` with at most `n` at a time; the first failure rejects (after the running ones settle). */
export async function eachLimit<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: unknown;
  const worker = async () => {
    while (failed === undefined && next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (e) {
        failed ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(n, items.length)) }, worker));
  if (failed !== undefined) throw failed;
}

/** @internal Aborts when no bytes moved for `ms`: a stalled transfer fails, a long healthy one does not. */
export function idleTimeout(ms: number): { signal: AbortSignal; touch: () => void; clear: () => void } {
  const ctl = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const touch = () => {
    clearTimeout(timer);
    timer = setTimeout(() => ctl.abort(new Error(`no data moved for ${ms} ms`)), ms);
  };
  touch();
  return { signal: ctl.signal, touch, clear: () => clearTimeout(timer) };
}

function counter(onBytes: (n: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      onBytes(chunk.length);
      cb(null, chunk);
    },
  });
}

/**
 * @internal PUTs one byte stream (one attempt: callers wrap it in `withRetry`) with an idle timeout,
 * reporting each chunk to `onBytes` and taking the attempt's bytes back (a negative count) when it
 * fails. A failure reading `src` is thrown as `readError(e)`; anything else as it came.
 * @returns the answer's JSON body and the bytes sent
 */
export async function putStream(client: ApiClient, url: string, open: () => Readable | Promise<Readable>, opts: { idleMs: number; onBytes?: (n: number) => void; readError: (e: unknown) => unknown }): Promise<{ body: unknown; sent: number }> {
  let sent = 0;
  const idle = idleTimeout(opts.idleMs);
  const count = counter((n) => {
    sent += n;
    opts.onBytes?.(n);
    idle.touch();
  });
  let src: Readable | undefined;
  let readFailure: unknown;
  try {
    src = await open();
    src.on("error", (e) => {
      readFailure = e;
      count.destroy(e);
    });
    src.pipe(count);
    const res = await client.fetchRaw(url, {
      method: "PUT",
      headers: { "content-type": "application/octet-stream" },
      body: Readable.toWeb(count) as unknown as ReadableStream<Uint8Array>,
      duplex: "half",
      signal: idle.signal,
    });
    return { body: await res.json(), sent };
  } catch (e) {
    // Progress restarts with the retried attempt.
    if (sent > 0) opts.onBytes?.(-sent);
    throw readFailure !== undefined ? opts.readError(readFailure) : e;
  } finally {
    idle.clear();
    src?.destroy();
  }
}

/**
 * @internal Streams one GET answer to `local` via a temp file renamed into place (with retries and an
 * idle timeout); returns its size. `onBytes` gets each chunk's size and the total when known, and a
 * negative count when a failed attempt's bytes are taken back.
 */
export async function downloadToFile(
  client: ApiClient,
  url: string,
  label: string,
  local: string,
  onBytes: (n: number, total: number | undefined) => void,
  opts: { retry?: Partial<RetryOptions>; idleTimeoutMs?: number } = {},
): Promise<number> {
  const idleMs = opts.idleTimeoutMs ?? 60_000;
  return withRetry(async () => {
    const tmp = `${local}.cairn-${randomBytes(6).toString("hex")}.tmp`;
    const idle = idleTimeout(idleMs);
    let got = 0;
    try {
      const res = await client.fetchRaw(url, { signal: idle.signal });
      const lenHeader = res.headers.get("content-length");
      const expected = lenHeader !== null ? Number(lenHeader) : undefined;
      if (!res.body) throw new CairnError("INTERNAL_ERROR", `Empty response body for artifact '${label}'`);
      // Only once the server has the file, so a missing artifact leaves no empty directories behind.
      await mkdir(dirname(local), { recursive: true }).catch((e: unknown) => {
        throw localError(e, dirname(local));
      });
      const count = counter((n) => {
        got += n;
        onBytes(n, expected);
        idle.touch();
      });
      try {
        await pipeline(Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>), count, createWriteStream(tmp));
      } catch (e) {
        const code = (e as { code?: string }).code;
        if (code && /^E[A-Z]+$/.test(code) && code !== "ECONNRESET") throw localError(e, tmp);
        throw new CairnError("TEMPORARILY_UNAVAILABLE", `Download of '${label}' was interrupted: ${(e as Error).message}`, { cause: e });
      }
      if (expected !== undefined && Number.isFinite(expected) && got !== expected) {
        throw new CairnError("TEMPORARILY_UNAVAILABLE", `Download of '${label}' ended after ${got} of ${expected} bytes`);
      }
      await rename(tmp, local).catch((e: unknown) => {
        throw localError(e, local);
      });
      return got;
    } catch (e) {
      await unlink(tmp).catch(() => undefined);
      if (got > 0) onBytes(-got, undefined);
      throw e;
    } finally {
      idle.clear();
    }
  }, opts.retry ?? {});
}

interface LocalFile {
  abs: string;
  /** Path relative to the uploaded directory, `/`-separated. */
  rel: string;
  size: number;
}

async function walk(root: string): Promise<LocalFile[]> {
  const out: LocalFile[] = [];
  const seen = new Set<string>();
  const visit = async (dir: string, rel: string) => {
    const real = await realpath(dir);
    if (seen.has(real)) return; // a symlink loop
    seen.add(real);
    const entries = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const ent of entries) {
      const abs = join(dir, ent.name);
      const r = rel ? `${rel}/${ent.name}` : ent.name;
      const st = ent.isSymbolicLink() ? await stat(abs).catch(() => undefined) : undefined;
      if (ent.isDirectory() || st?.isDirectory()) await visit(abs, r);
      else if (ent.isFile() || st?.isFile()) out.push({ abs, rel: r, size: st?.size ?? (await stat(abs)).size });
    }
  };
  await visit(root, "");
  return out;
}

/**
 * Run artifacts: `cairn.artifacts`. Uploads and downloads stream: a file is never held whole in memory.
 * Every method throws `CairnError`.
 * @example
 * await cairn.artifacts.upload(runId, "./model", "model", { onProgress: (d, t) => console.log(d, t) });
 * const entries = await cairn.artifacts.list(runId, "model");
 * await cairn.artifacts.download(runId, "model", "./restored");
 */
export class Artifacts {
  readonly #client: ApiClient;
  readonly #retry: Partial<RetryOptions>;
  readonly #idleMs: number;

  constructor(client: ApiClient, opts: { retry?: Partial<RetryOptions>; idleTimeoutMs?: number } = {}) {
    this.#client = client;
    this.#retry = opts.retry ?? {};
    this.#idleMs = opts.idleTimeoutMs ?? 60_000;
  }

  /**
   * Uploads a local file or directory, as MLflow's `log_artifact` / `log_artifacts` do:
   * a file lands at `<artifactPath>/<file name>`; a directory's contents land under `artifactPath`
   * (the artifact root when omitted), recursively. An existing artifact with the same path is replaced.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST (run or local path), INVALID_PARAMETER_VALUE, INVALID_STATE (run not active)
   * @example await cairn.artifacts.upload(runId, "confusion.png", "plots"); // → plots/confusion.png
   */
  async upload(runId: string, localPath: string, artifactPath?: string, opts: TransferOptions = {}): Promise<UploadedArtifact[]> {
    const st = await stat(localPath).catch((e: unknown) => {
      throw localError(e, localPath);
    });
    const base = joinArtifactPath(artifactPath);
    const files: LocalFile[] = st.isDirectory()
      ? await walk(localPath).catch((e: unknown) => {
          throw localError(e, localPath);
        })
      : [{ abs: localPath, rel: basename(localPath), size: st.size }];
    const total = files.reduce((n, f) => n + f.size, 0);
    let done = 0;
    opts.onProgress?.(0, total);
    const uploaded: UploadedArtifact[] = [];
    await eachLimit(files, opts.concurrency ?? 4, async (f) => {
      const path = joinArtifactPath(base, f.rel);
      const res = await this.#uploadFile(runId, f.abs, path, (n) => {
        done += n;
        opts.onProgress?.(done, total);
      });
      uploaded.push(res);
    });
    uploaded.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    return uploaded;
  }

  async #uploadFile(runId: string, abs: string, path: string, onBytes: (n: number) => void): Promise<UploadedArtifact> {
    const url = this.#client.url(apiRoutes.uploadArtifact, { id: runId, "*": path });
    return withRetry(async () => {
      const { body, sent } = await putStream(this.#client, url, () => createReadStream(abs), { idleMs: this.#idleMs, onBytes, readError: (e) => localError(e, abs) });
      const b = body as { path?: string; fileSize?: number };
      return { path: b.path ?? path, fileSize: b.fileSize ?? sent };
    }, this.#retry);
  }

  /**
   * Lists artifacts under a path (the root by default). Paths are relative to the run's artifact root.
   * With `recursive`, lists every file and directory below.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST for an unknown run
   */
  async list(runId: string, path = "", opts: { recursive?: boolean } = {}): Promise<ArtifactEntry[]> {
    const norm = joinArtifactPath(path);
    const query = norm ? { path: norm } : {};
    const res = await withRetry(() => this.#client.api.listArtifacts({ params: { id: runId }, query }), this.#retry);
    const entries = res.files
      .map((f) => ({ ...f, path: this.#rooted(norm, f.path) }))
      // Some servers list a file path as the file itself; that is not a child.
      .filter((f) => f.path !== norm || norm === "");
    if (!opts.recursive) return entries;
    const out: ArtifactEntry[] = [];
    for (const e of entries) {
      out.push(e);
      if (e.isDir) out.push(...(await this.list(runId, e.path, { recursive: true })));
    }
    return out;
  }

  /** Entry paths may come relative to the listed directory (immediate children have no `/`) or to the root. */
  #rooted(dir: string, p: string): string {
    const clean = joinArtifactPath(p);
    if (!dir || clean === dir || clean.startsWith(`${dir}/`)) return clean;
    return `${dir}/${clean}`;
  }

  /**
   * Downloads an artifact file or directory (recursively) into `destDir`, keeping its path:
   * `download(id, "model/weights.bin", "out")` writes `out/model/weights.bin`. Each file is
   * streamed to a temporary file and renamed into place, so a failed download leaves no partial file.
   * Returns the local path of the file or directory.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST for an unknown run or path
   * @example const dir = await cairn.artifacts.download(runId, "model", "/tmp/restore");
   */
  async download(runId: string, path = "", destDir = ".", opts: TransferOptions = {}): Promise<string> {
    const norm = joinArtifactPath(path);
    const root = resolve(destDir);
    let files: { path: string; size: number | undefined }[] | undefined;
    let emptyDir = false;
    if (norm === "") {
      files = await this.#filesUnder(runId, "");
      emptyDir = files.length === 0;
    } else {
      let children: ArtifactEntry[] | undefined;
      try {
        children = await this.list(runId, norm);
      } catch (e) {
        // A server may refuse to list a file path; then it is a file (or nothing, which GET will say).
        if (!isCairnError(e) || e.status >= 500 || e.status === 401 || e.status === 403) throw e;
      }
      if (children && children.length > 0) {
        files = await this.#filesUnder(runId, norm, children);
      }
    }

    if (!files) {
      // A single file (or an empty directory listing for a path that is not there: the GET says which).
      const local = this.#target(root, norm);
      let done = 0;
      const size = await this.#downloadFile(runId, norm, local, (n, total) => {
        done += n;
        opts.onProgress?.(done, total ?? done);
      });
      opts.onProgress?.(size, size);
      return local;
    }

    const local = this.#target(root, norm);
    if (emptyDir || files.length === 0) await mkdir(local, { recursive: true });
    const total = files.reduce((n, f) => n + (f.size ?? 0), 0);
    let done = 0;
    opts.onProgress?.(0, total);
    await eachLimit(files, opts.concurrency ?? 4, async (f) => {
      await this.#downloadFile(runId, f.path, this.#target(root, f.path), (n) => {
        done += n;
        opts.onProgress?.(done, Math.max(total, done));
      });
    });
    return local;
  }

  async #filesUnder(runId: string, dir: string, children?: ArtifactEntry[]): Promise<{ path: string; size: number | undefined }[]> {
    const out: { path: string; size: number | undefined }[] = [];
    for (const e of children ?? (await this.list(runId, dir))) {
      if (e.isDir) out.push(...(await this.#filesUnder(runId, e.path)));
      else out.push({ path: e.path, size: e.fileSize });
    }
    return out;
  }

  /** The local path for an artifact path, refusing anything that would land outside `root`. */
  #target(root: string, artifactPath: string): string {
    const p = resolve(root, ...joinArtifactPath(artifactPath).split("/").filter(Boolean));
    if (p !== root && !p.startsWith(root + sep)) {
      throw new CairnError("INVALID_PARAMETER_VALUE", `Artifact path '${artifactPath}' would be written outside '${root}'`);
    }
    return p;
  }

  /** Streams one file to `local` via a temp file; returns its size. `onBytes` gets each chunk's size and the total when known. */
  async #downloadFile(runId: string, path: string, local: string, onBytes: (n: number, total: number | undefined) => void): Promise<number> {
    const url = this.#client.url(apiRoutes.downloadArtifact, { id: runId, "*": path });
    return downloadToFile(this.#client, url, path, local, onBytes, { retry: this.#retry, idleTimeoutMs: this.#idleMs });
  }

  /** Deletes an artifact file or directory. @throws CairnError RESOURCE_DOES_NOT_EXIST for an unknown run */
  async delete(runId: string, path: string): Promise<void> {
    const norm = joinArtifactPath(path);
    if (!norm) throw new CairnError("INVALID_PARAMETER_VALUE", "Artifact path must not be empty");
    await withRetry(() => this.#client.api.deleteArtifact({ params: { id: runId, "*": norm } }), this.#retry);
  }
}
