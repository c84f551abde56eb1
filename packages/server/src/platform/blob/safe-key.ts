import { CairnError } from "@cairn/contract";

/** Longest accepted segment, in UTF-8 bytes (the usual filesystem name limit). */
export const MAX_BLOB_SEGMENT_BYTES = 255;

/** Longest accepted key, in UTF-8 bytes (S3's key limit). */
export const MAX_BLOB_KEY_BYTES = 1024;

// C0 controls, DEL and C1 controls: none belong in a file name, and NUL truncates paths in C APIs.
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;
// Lone surrogates cannot be encoded as UTF-8, so filesystems and S3 would each mangle them differently.
const LONE_SURROGATE = /\p{Cs}/u;
// Still-encoded dot, slash, backslash or NUL after the HTTP layer decoded once: a double-encoding attempt.
const ENCODED_TRICK = /%(2e|2f|5c|00)/i;
const DRIVE_LETTER = /^[a-zA-Z]:/;

function reject(key: string, why: string): never {
  const shown = key.length > 200 ? `${key.slice(0, 200)}…` : key;
  throw new CairnError("INVALID_PARAMETER_VALUE", `Invalid artifact path ${JSON.stringify(shown)}: ${why}`);
}

function checkSegment(key: string, segment: string): void {
  if (segment === "") reject(key, "empty path segment (absolute path or '//')");
  if (segment === "." || segment === "..") reject(key, "'.' and '..' segments are not allowed");
  if (segment.includes("\\")) reject(key, "backslashes are not allowed");
  if (CONTROL_CHARS.test(segment)) reject(key, "control characters are not allowed");
  if (LONE_SURROGATE.test(segment)) reject(key, "invalid Unicode");
  if (DRIVE_LETTER.test(segment)) reject(key, "drive letters are not allowed");
  if (ENCODED_TRICK.test(segment)) reject(key, "percent-encoded '.', '/', '\\' or NUL is not allowed");
  // Compatibility forms such as U+FF0E (fullwidth '.'), U+2025 ('‥') or U+FF0F (fullwidth '/')
  // become '.', '..' or '/' if any layer below applies NFKC; refuse them rather than trust every layer.
  const folded = segment.normalize("NFKC");
  if (folded !== segment) {
    if (folded === "." || folded === ".." || /[/\\]/.test(folded) || CONTROL_CHARS.test(folded)) {
      reject(key, "Unicode look-alikes of '.', '/' or '\\' are not allowed");
    }
  }
  if (Buffer.byteLength(segment, "utf8") > MAX_BLOB_SEGMENT_BYTES) {
    reject(key, `a path segment is longer than ${MAX_BLOB_SEGMENT_BYTES} bytes`);
  }
}

function checkJoined(joined: string): string {
  for (const segment of joined.split("/")) checkSegment(joined, segment);
  if (Buffer.byteLength(joined, "utf8") > MAX_BLOB_KEY_BYTES) {
    reject(joined, `longer than ${MAX_BLOB_KEY_BYTES} bytes`);
  }
  return joined;
}

/**
 * Joins relative path parts with `/` into a blob key that cannot escape the store root.
 * Each part may itself contain `/`. Every segment must be non-empty and must not be `.` or `..`,
 * contain a backslash, a control character, a lone surrogate, a drive letter (`C:`), a still
 * percent-encoded `.`/`/`/`\`/NUL (`%2e`, `%2f`, `%5c`, `%00`: double encoding), or a Unicode
 * compatibility form of `.`, `..`, `/` or `\`. A leading `/` or a `//` is an empty segment.
 *
 * @throws CairnError INVALID_PARAMETER_VALUE when any part is unsafe or the key is empty.
 * @example safeBlobKey("runs/abc/artifacts", "model/model.pkl") // "runs/abc/artifacts/model/model.pkl"
 */
export function safeBlobKey(...parts: string[]): string {
  const joined = parts.join("/");
  if (joined === "") reject(joined, "empty path");
  return checkJoined(joined);
}

/**
 * Like `safeBlobKey`, but for a prefix to list under: empty parts are skipped, and when every
 * part is empty the result is `""`, the root.
 *
 * @throws CairnError INVALID_PARAMETER_VALUE when a non-empty part is unsafe.
 * @example safeBlobPrefix("runs/abc/artifacts", "") // "runs/abc/artifacts"; safeBlobPrefix("") // ""
 */
export function safeBlobPrefix(...parts: string[]): string {
  const joined = parts.filter((p) => p !== "").join("/");
  return joined === "" ? "" : checkJoined(joined);
}
