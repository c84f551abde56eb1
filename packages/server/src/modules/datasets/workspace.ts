import fs from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { defaultCacheDir } from "@cairn/sdk";

/**
 * The CLI's local state for `cairn data`: kept in the local cache directory (`$CAIRN_CACHE_DIR`,
 * else `~/.cache/cairn`, the same one `materialize` keeps blobs in). The stat cache lets `add` and
 * `status` skip rehashing unchanged files; `paths.json` remembers which dataset each local path was
 * added as, so `cairn data status PATH` needs no `--name`.
 */

/** What `cairn data add` remembers about a local path. */
export interface TrackedPath {
  /** The dataset it was added as. */
  name: string;
  /** The server it was added to. */
  url: string;
  /** The version the last `add` created. */
  version: number;
  updatedAt: number;
}

/** The local cache directory (blobs, stat cache, tracked paths). */
export function localCacheDir(): string {
  return path.resolve(defaultCacheDir());
}

/** The directory the stat cache database lives in. */
export function statCacheDir(cacheDir = localCacheDir()): string {
  return path.join(cacheDir, "stat-cache");
}

function recordFile(cacheDir: string): string {
  return path.join(cacheDir, "paths.json");
}

function readAll(cacheDir: string): Record<string, TrackedPath> {
  try {
    const v = JSON.parse(fs.readFileSync(recordFile(cacheDir), "utf8")) as unknown;
    return v && typeof v === "object" ? (v as Record<string, TrackedPath>) : {};
  } catch {
    // Missing or unreadable: nothing is tracked yet (the record is a convenience, never the truth).
    return {};
  }
}

/** What `add` recorded for an absolute path, if anything. */
export function trackedPath(abs: string, cacheDir = localCacheDir()): TrackedPath | undefined {
  return readAll(cacheDir)[abs];
}

/** Records that `abs` was added as `rec.name`; written via a temp file and rename so a crash leaves the old record. */
export function trackPath(abs: string, rec: TrackedPath, cacheDir = localCacheDir()): void {
  const all = readAll(cacheDir);
  all[abs] = rec;
  fs.mkdirSync(cacheDir, { recursive: true });
  const file = recordFile(cacheDir);
  const tmp = `${file}.${randomBytes(4).toString("hex")}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(all, null, 2)}\n`);
  fs.renameSync(tmp, file);
}

function manifestFile(cacheDir: string, versionId: string): string {
  return path.join(cacheDir, "manifests", `${versionId.replace(/[^0-9a-zA-Z-]/g, "_")}.json`);
}

/**
 * A version's manifest as cached locally, by version id (versions are immutable, so the copy never
 * goes stale); undefined when not cached. It spares `add` and `status` fetching 100k entries.
 */
export function cachedManifest<E>(versionId: string, cacheDir = localCacheDir()): E[] | undefined {
  try {
    return JSON.parse(fs.readFileSync(manifestFile(cacheDir, versionId), "utf8")) as E[];
  } catch {
    // Missing or unreadable: fetch it from the server instead.
    return undefined;
  }
}

/** Caches a version's manifest locally (temp file and rename: a crash leaves no half file). */
export function cacheManifest(versionId: string, entries: readonly unknown[], cacheDir = localCacheDir()): void {
  const file = manifestFile(cacheDir, versionId);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${randomBytes(4).toString("hex")}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(entries));
  fs.renameSync(tmp, file);
}
