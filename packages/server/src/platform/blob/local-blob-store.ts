import { randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { pathToFileURL } from "node:url";
import { CairnError } from "@cairn/contract";
import type { BlobEntry, BlobStore } from "./blob-store.js";
import { safeBlobKey, safeBlobPrefix } from "./safe-key.js";

/** Matches the temp files `put` writes (`.<name>.<16 hex>.tmp`); listings hide them. */
export const LOCAL_TEMP_FILE = /^\..*\.[0-9a-f]{16}\.tmp$/;

// Enough stats in flight to hide latency on a big directory without exhausting file descriptors.
const STAT_CONCURRENCY = 32;

function errno(e: unknown): string | undefined {
  return typeof e === "object" && e !== null ? (e as NodeJS.ErrnoException).code : undefined;
}

function notFound(key: string): CairnError {
  return new CairnError("RESOURCE_DOES_NOT_EXIST", `Artifact '${key}' does not exist`);
}

function tempName(base: string): string {
  // Keep the temp name under the 255-byte name limit even when `base` is at it.
  const short = Array.from(base).slice(0, 48).join("");
  return `.${short}.${randomBytes(8).toString("hex")}.tmp`;
}

async function writeAll(fh: FileHandle, chunk: Buffer): Promise<void> {
  let offset = 0;
  while (offset < chunk.length) {
    const { bytesWritten } = await fh.write(chunk, offset, chunk.length - offset);
    offset += bytesWritten;
  }
}

async function fsyncDir(dir: string): Promise<void> {
  let dh: FileHandle | undefined;
  try {
    dh = await fs.open(dir, "r");
    await dh.sync();
  } catch (e) {
    // Some platforms and filesystems cannot fsync a directory; the rename is still atomic there.
    if (!["EINVAL", "EISDIR", "EPERM", "EBADF", "ENOTSUP"].includes(errno(e) ?? "")) throw e;
  } finally {
    await dh?.close();
  }
}

/**
 * A `BlobStore` on a local directory (`file:///path`).
 *
 * - `put` streams into `.<name>.<random>.tmp` beside the target, fsyncs it, renames it over the
 *   target and fsyncs the directory: readers see the old file or the whole new one, and an
 *   acknowledged write survives a crash. If the body fails, the temp file is removed.
 * - Every key is checked with `safeBlobKey`, then the resolved path is checked with `realpath`
 *   to stay under the root, so a symlink inside the root cannot lead outside it.
 * - Unlike S3, a directory stays (empty) after its last file is deleted, and a name cannot be
 *   both a file and a directory.
 *
 * @example const store = new LocalBlobStore("/var/lib/cairn/artifacts");
 */
export class LocalBlobStore implements BlobStore {
  readonly uri: string;
  readonly #root: string;
  #realRoot: Promise<string> | undefined;

  /** `root` is made absolute against the working directory; it is created on first use. */
  constructor(root: string) {
    this.#root = path.resolve(root);
    this.uri = pathToFileURL(this.#root).href;
  }

  /**
   * Creates the root directory if it is missing and resolves its real path.
   * Every operation calls it; call it directly to surface configuration errors early.
   * @throws the filesystem error when the root cannot be created.
   */
  init(): Promise<string> {
    this.#realRoot ??= (async () => {
      await fs.mkdir(this.#root, { recursive: true });
      return fs.realpath(this.#root);
    })();
    // A failed init (e.g. EACCES) should be retried by the next call, not cached forever.
    this.#realRoot.catch(() => {
      this.#realRoot = undefined;
    });
    return this.#realRoot;
  }

  /**
   * Writes `body` at `key`, atomically, streaming a `Readable` to disk chunk by chunk.
   * An error from `body` is rethrown unchanged, and nothing is left behind.
   * @throws CairnError INVALID_PARAMETER_VALUE for an unsafe key, a key that is a directory, or
   *   a key under a file.
   */
  async put(key: string, body: Readable | Buffer | string): Promise<{ size: number }> {
    const safe = safeBlobKey(key);
    const realRoot = await this.init();
    const target = path.join(realRoot, ...safe.split("/"));
    const dir = await this.#ensureDir(realRoot, path.dirname(target), safe);
    const base = path.basename(target);
    const finalPath = path.join(dir.real, base);
    const tmp = path.join(dir.real, tempName(base));

    let fh: FileHandle | undefined;
    let size = 0;
    try {
      fh = await fs.open(tmp, "wx", 0o666);
      if (typeof body === "string" || Buffer.isBuffer(body)) {
        const buf = typeof body === "string" ? Buffer.from(body, "utf8") : body;
        await writeAll(fh, buf);
        size = buf.length;
      } else {
        // Pulling with for-await gives backpressure for free: the next chunk is read only after
        // the previous one is on disk, so memory stays at one chunk whatever the body's size.
        for await (const chunk of body) {
          const buf = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : (chunk as Buffer);
          await writeAll(fh, buf);
          size += buf.length;
        }
      }
      await fh.sync();
      await fh.close();
      fh = undefined;
      try {
        await fs.rename(tmp, finalPath);
      } catch (e) {
        if (errno(e) === "EISDIR" || errno(e) === "ENOTEMPTY" || errno(e) === "EEXIST") {
          throw new CairnError("INVALID_PARAMETER_VALUE", `Artifact path '${safe}' is a directory`);
        }
        throw e;
      }
    } catch (e) {
      await fh?.close().catch(() => undefined);
      await fs.rm(tmp, { force: true }).catch(() => undefined);
      throw e;
    }
    await fsyncDir(dir.real);
    // New directories are durable only once their own entries are synced in their parents.
    for (const created of dir.created) await fsyncDir(path.dirname(created));
    return { size };
  }

  /**
   * Opens `key` for streaming; `size` is that of the opened file, so it matches the stream even
   * if the key is overwritten meanwhile.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST when the key is missing or is a directory;
   *   INVALID_PARAMETER_VALUE for an unsafe key.
   */
  async get(key: string): Promise<{ stream: Readable; size: number }> {
    const safe = safeBlobKey(key);
    const real = await this.#resolveExisting(safe);
    if (real === undefined) throw notFound(safe);
    let fh: FileHandle;
    try {
      fh = await fs.open(real, "r");
    } catch (e) {
      if (errno(e) === "ENOENT" || errno(e) === "ENOTDIR") throw notFound(safe);
      throw e;
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw notFound(safe);
      return { stream: fh.createReadStream(), size: st.size };
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  /**
   * Metadata of `key`: `{ isDir: false, size }` for a file, `{ isDir: true }` for a directory,
   * undefined when absent.
   * @throws CairnError INVALID_PARAMETER_VALUE for an unsafe key.
   */
  async stat(key: string): Promise<{ isDir: boolean; size?: number } | undefined> {
    const safe = safeBlobKey(key);
    const real = await this.#resolveExisting(safe);
    if (real === undefined) return undefined;
    const st = await fs.stat(real).catch((e: unknown) => {
      if (errno(e) === "ENOENT") return undefined;
      throw e;
    });
    if (st === undefined) return undefined;
    return st.isDirectory() ? { isDir: true } : { isDir: false, size: st.size };
  }

  /**
   * Immediate children of the directory `prefix` ("" is the root), sorted by name; in-progress
   * temp files and symlinks that lead outside the root are left out. Empty when `prefix` is
   * absent or is a file.
   * @throws CairnError INVALID_PARAMETER_VALUE for an unsafe prefix.
   */
  async list(prefix: string): Promise<BlobEntry[]> {
    const safe = safeBlobPrefix(prefix);
    const real = safe === "" ? await this.init() : await this.#resolveExisting(safe);
    if (real === undefined) return [];
    let names: string[];
    try {
      names = await fs.readdir(real);
    } catch (e) {
      if (errno(e) === "ENOENT" || errno(e) === "ENOTDIR") return [];
      throw e;
    }
    names = names.filter((n) => !LOCAL_TEMP_FILE.test(n));
    const entries: BlobEntry[] = [];
    for (let i = 0; i < names.length; i += STAT_CONCURRENCY) {
      const batch = names.slice(i, i + STAT_CONCURRENCY);
      const stats = await Promise.all(batch.map((n) => this.#statChild(path.join(real, n))));
      batch.forEach((name, j) => {
        const st = stats[j];
        if (st) entries.push(st.isDir ? { path: name, isDir: true } : { path: name, isDir: false, size: st.size });
      });
    }
    return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  /**
   * Deletes the file or directory (recursively) at `key`. A symlink is removed, never followed.
   * Deleting something absent is not an error.
   * @throws CairnError INVALID_PARAMETER_VALUE for an unsafe key (the root itself cannot be deleted).
   */
  async delete(key: string): Promise<void> {
    const safe = safeBlobKey(key);
    const realRoot = await this.init();
    const real = await this.#resolveExisting(safe);
    if (real === undefined || real === realRoot) return;
    // Remove the path as named, not its realpath: for a symlink, that removes the link itself.
    await fs.rm(path.join(realRoot, ...safe.split("/")), { recursive: true, force: true });
  }

  /** Nothing to release; present for the interface. */
  /** The real path of a stored file, checked to be under the root; undefined when missing or a directory. */
  async localPath(key: string): Promise<string | undefined> {
    const real = await this.#resolveExisting(safeBlobKey(key));
    if (real === undefined) return undefined;
    return (await fs.stat(real)).isFile() ? real : undefined;
  }

  async close(): Promise<void> {}

  #isUnder(realRoot: string, real: string): boolean {
    return real === realRoot || real.startsWith(realRoot.endsWith(path.sep) ? realRoot : realRoot + path.sep);
  }

  #escape(key: string): CairnError {
    return new CairnError("INVALID_PARAMETER_VALUE", `Artifact path '${key}' resolves outside the artifact root`);
  }

  /** The real path of an existing key, checked to be under the root; undefined when missing. */
  async #resolveExisting(safe: string): Promise<string | undefined> {
    const realRoot = await this.init();
    let real: string;
    try {
      real = await fs.realpath(path.join(realRoot, ...safe.split("/")));
    } catch (e) {
      if (errno(e) === "ENOENT" || errno(e) === "ENOTDIR" || errno(e) === "ELOOP") return undefined;
      throw e;
    }
    if (!this.#isUnder(realRoot, real)) throw this.#escape(safe);
    return real;
  }

  /**
   * Creates `dir` (under the root) if needed and returns its real path plus the directories
   * created. The deepest existing ancestor is checked before creating anything, so `mkdir`
   * never follows a symlink out of the root.
   */
  async #ensureDir(realRoot: string, dir: string, key: string): Promise<{ real: string; created: string[] }> {
    let existingReal: string | undefined;
    for (let existing = dir; existingReal === undefined; existing = path.dirname(existing)) {
      try {
        existingReal = await fs.realpath(existing);
      } catch (e) {
        if (errno(e) === "ENOTDIR") throw this.#underFile(key);
        if (errno(e) !== "ENOENT") throw e;
      }
    }
    if (!this.#isUnder(realRoot, existingReal)) throw this.#escape(key);
    let first: string | undefined;
    try {
      first = await fs.mkdir(dir, { recursive: true });
    } catch (e) {
      if (errno(e) === "EEXIST" || errno(e) === "ENOTDIR") throw this.#underFile(key);
      throw e;
    }
    const real = await fs.realpath(dir);
    if (!this.#isUnder(realRoot, real)) throw this.#escape(key);
    const created: string[] = [];
    if (first !== undefined) {
      for (let d = dir; d.length >= first.length; d = path.dirname(d)) created.push(d);
    }
    return { real, created };
  }

  #underFile(key: string): CairnError {
    return new CairnError("INVALID_PARAMETER_VALUE", `A parent of artifact path '${key}' is a file`);
  }

  async #statChild(p: string): Promise<{ isDir: boolean; size: number } | undefined> {
    try {
      const lst = await fs.lstat(p);
      if (lst.isSymbolicLink()) {
        const real = await fs.realpath(p);
        if (!this.#isUnder(await this.init(), real)) return undefined;
        const st = await fs.stat(real);
        return { isDir: st.isDirectory(), size: st.size };
      }
      return { isDir: lst.isDirectory(), size: lst.size };
    } catch (e) {
      // Deleted between readdir and stat, or a dangling symlink: leave it out.
      if (errno(e) === "ENOENT" || errno(e) === "ELOOP") return undefined;
      throw e;
    }
  }
}
