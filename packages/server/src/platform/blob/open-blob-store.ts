import path from "node:path";
import { fileURLToPath } from "node:url";
import { CairnError } from "@cairn/contract";
import type { BlobStore } from "./blob-store.js";
import { LocalBlobStore } from "./local-blob-store.js";
import { S3BlobStore } from "./s3-blob-store.js";
import type { S3BlobStoreOptions } from "./s3-blob-store.js";

/** Options for `openBlobStore`. */
export interface OpenBlobStoreOptions {
  /** Extra S3 client settings (endpoint, credentials, part size…) for `s3://` URIs. */
  s3?: Omit<S3BlobStoreOptions, "bucket" | "prefix">;
  /** Directory that a relative plain path is resolved against (default: the working directory). */
  cwd?: string;
}

// Two or more characters, so that a Windows drive letter (`C:\…`) is not taken for a scheme.
const SCHEME = /^([a-zA-Z][a-zA-Z0-9+.-]+):/;

/**
 * Opens the blob store that a URI names: `file:///abs/path` or a plain path (absolute, or
 * relative to `opts.cwd`) gives a `LocalBlobStore`, whose directory is created now;
 * `s3://bucket/prefix` gives an `S3BlobStore` (no request is made until first use).
 *
 * @throws CairnError INVALID_PARAMETER_VALUE for an empty URI, an unknown scheme, a `file:` URI
 *   with a host, or a malformed `s3:` URI.
 * @example const store = await openBlobStore("s3://ml-artifacts/cairn");
 */
export async function openBlobStore(uri: string, opts: OpenBlobStoreOptions = {}): Promise<BlobStore> {
  if (uri.trim() === "") throw new CairnError("INVALID_PARAMETER_VALUE", "Artifact store URI is empty");
  const scheme = SCHEME.exec(uri)?.[1]?.toLowerCase();
  if (scheme === undefined) return openLocal(path.resolve(opts.cwd ?? process.cwd(), uri));
  if (scheme === "file") {
    let dir: string;
    try {
      dir = fileURLToPath(uri);
    } catch (e) {
      throw new CairnError("INVALID_PARAMETER_VALUE", `Invalid file URI '${uri}': expected file:///absolute/path`, { cause: e });
    }
    return openLocal(dir);
  }
  if (scheme === "s3") return S3BlobStore.fromUri(uri, opts.s3);
  throw new CairnError(
    "INVALID_PARAMETER_VALUE",
    `Unsupported artifact store URI scheme '${scheme}:' (supported: file://, s3://, or a plain path)`,
  );
}

async function openLocal(dir: string): Promise<LocalBlobStore> {
  const store = new LocalBlobStore(dir);
  await store.init();
  return store;
}
