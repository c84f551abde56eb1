import type { Readable } from "node:stream";

/** One entry of a blob listing, relative to the listed prefix. */
export interface BlobEntry {
  /** Path relative to the listed prefix, using `/`. */
  path: string;
  isDir: boolean;
  /** Size in bytes, for files. */
  size?: number;
}

/**
 * Storage for artifact bytes: local filesystem (`file:///path`) or S3 (`s3://bucket/prefix`).
 * Keys are `/`-separated relative paths already checked by `safeBlobKey`.
 *
 * - `put` streams and is atomic: readers see the old object or the whole new one, never a part.
 * - `get` streams; a file is never held whole in memory.
 * - Errors are `CairnError`: RESOURCE_DOES_NOT_EXIST for a missing key,
 *   INVALID_PARAMETER_VALUE for a key that escapes the root.
 */
export interface BlobStore {
  /** The root URI, e.g. `file:///data/artifacts` or `s3://bucket/prefix`. */
  readonly uri: string;
  put(key: string, body: Readable | Buffer | string): Promise<{ size: number }>;
  get(key: string): Promise<{ stream: Readable; size: number }>;
  /** File metadata, `{ isDir: true }` for a prefix with children, undefined when absent. */
  stat(key: string): Promise<{ isDir: boolean; size?: number } | undefined>;
  /** Immediate children of a prefix ("" is the root), sorted by path. Empty when absent. */
  list(prefix: string): Promise<BlobEntry[]>;
  /** Deletes a file, or a whole prefix recursively. Deleting something absent is not an error. */
  delete(key: string): Promise<void>;
  /**
   * The local file holding a key, for readers that need a path (DuckDB); undefined when the key is
   * missing or the store is not on the local file system (then `get` it into a temporary file).
   */
  localPath?(key: string): Promise<string | undefined>;
  close(): Promise<void>;
}
