import { createHash } from "node:crypto";
import { hashFiles } from "./hashing.js";
import type { StatCache } from "./stat-cache.js";
import { walkTree, type TreeFile } from "./tree.js";

/** One file of a dataset version. */
export interface ManifestEntry {
  path: string;
  size: number;
  mode: number;
  sha256: string;
}

/** What building a manifest did: files and bytes seen, and how many were read versus taken from the stat cache. */
export interface ManifestStats {
  files: number;
  bytes: number;
  hashedFiles: number;
  hashedBytes: number;
  cachedFiles: number;
}

/**
 * The manifest of a file or directory tree: every file's path, size, mode and SHA-256, sorted by
 * path. Files whose size, mtime and inode match the stat cache are not read again; the rest are
 * hashed (streamed, several at once) and recorded in the cache.
 * @throws CairnError as `walkTree` and `hashFile`
 */
export async function buildManifest(root: string, opts: { cache?: StatCache; concurrency?: number; onProgress?: (bytes: number, totalToHash: number) => void } = {}): Promise<{ entries: ManifestEntry[]; stats: ManifestStats }> {
  const files = walkTree(root);
  const hashes = new Array<string | undefined>(files.length);
  const toHash: { i: number; f: TreeFile }[] = [];
  files.forEach((f, i) => {
    const hit = opts.cache?.lookup(f.abs, f);
    if (hit) hashes[i] = hit;
    else toHash.push({ i, f });
  });
  const totalToHash = toHash.reduce((n, x) => n + x.f.size, 0);
  let done = 0;
  const fresh = await hashFiles(
    toHash.map((x) => x.f),
    { concurrency: opts.concurrency, onDone: (b) => opts.onProgress?.((done += b), totalToHash) },
  );
  toHash.forEach((x, k) => (hashes[x.i] = fresh[k]));
  opts.cache?.store(toHash.map((x, k) => ({ abs: x.f.abs, size: x.f.size, mtimeNs: x.f.mtimeNs, ino: x.f.ino, sha256: fresh[k]! })));
  const entries = files.map((f, i) => ({ path: f.path, size: f.size, mode: f.mode, sha256: hashes[i]! }));
  return {
    entries,
    stats: { files: files.length, bytes: files.reduce((n, f) => n + f.size, 0), hashedFiles: toHash.length, hashedBytes: totalToHash, cachedFiles: files.length - toHash.length },
  };
}

/**
 * A manifest's own content hash over entries sorted by path: equal trees (paths, modes and
 * contents) give equal digests. An external entry also hashes its URI and etag.
 */
export function manifestDigest(entries: readonly { path: string; size: number; mode: number; sha256?: string; uri?: string; etag?: string }[]): string {
  const h = createHash("sha256");
  for (const e of entries) h.update(`${e.sha256 ?? "-"} ${e.mode.toString(8)} ${e.size} ${e.path}${e.uri === undefined ? "" : ` ${e.uri} ${e.etag ?? "-"}`}\n`);
  return h.digest("hex");
}

/** What changed between two manifests, by path. */
export function diffManifests(from: readonly ManifestEntry[], to: readonly ManifestEntry[]): { added: ManifestEntry[]; removed: ManifestEntry[]; modified: { from: ManifestEntry; to: ManifestEntry }[] } {
  const before = new Map(from.map((e) => [e.path, e]));
  const added: ManifestEntry[] = [];
  const modified: { from: ManifestEntry; to: ManifestEntry }[] = [];
  for (const e of to) {
    const old = before.get(e.path);
    if (!old) added.push(e);
    else if (old.sha256 !== e.sha256 || old.mode !== e.mode) modified.push({ from: old, to: e });
    before.delete(e.path);
  }
  return { added, removed: [...before.values()], modified };
}
