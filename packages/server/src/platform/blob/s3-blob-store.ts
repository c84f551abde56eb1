import { Readable, Transform } from "node:stream";
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import type { S3ClientConfig } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { CairnError } from "@cairn/contract";
import type { BlobEntry, BlobStore } from "./blob-store.js";
import { safeBlobKey, safeBlobPrefix } from "./safe-key.js";

/** Client settings read from the environment by `s3ConfigFromEnv`. */
export interface S3EnvConfig {
  endpoint?: string;
  region: string;
  forcePathStyle: boolean;
}

/** Options for `S3BlobStore`. Anything left out comes from `s3ConfigFromEnv` and the AWS credential chain. */
export interface S3BlobStoreOptions {
  bucket: string;
  /** Key prefix inside the bucket, without leading or trailing `/`; "" for the bucket root. */
  prefix?: string;
  /** A ready client; the store then neither configures nor destroys it. */
  client?: S3Client;
  endpoint?: string;
  region?: string;
  forcePathStyle?: boolean;
  credentials?: S3ClientConfig["credentials"];
  /** Multipart part size in bytes (minimum and default 5 MiB). */
  partSize?: number;
  /** Parts uploaded in parallel; memory use of a streamed put is about `partSize × (queueSize + 1)`. */
  queueSize?: number;
  /** Keys per ListObjectsV2 / DeleteObjects request (1–1000, default 1000). Small values are for tests. */
  pageSize?: number;
  /** Environment to read configuration from (default `process.env`). */
  env?: NodeJS.ProcessEnv;
}

const MIN_PART_SIZE = 5 * 1024 * 1024;

function truthy(v: string | undefined): boolean | undefined {
  if (v === undefined || v === "") return undefined;
  return ["1", "true", "yes", "on"].includes(v.toLowerCase());
}

/**
 * Reads S3 client settings from the environment: the endpoint from `CAIRN_S3_ENDPOINT`,
 * `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL` (first set wins); the region from `AWS_REGION`,
 * `AWS_DEFAULT_REGION` or `us-east-1`; path-style addressing when an endpoint is set, unless
 * `CAIRN_S3_FORCE_PATH_STYLE` says otherwise (`1`/`true` or `0`/`false`).
 * Credentials are not read here: the AWS SDK's default chain finds them.
 * @example s3ConfigFromEnv({ CAIRN_S3_ENDPOINT: "http://127.0.0.1:9000" })
 */
export function s3ConfigFromEnv(env: NodeJS.ProcessEnv = process.env): S3EnvConfig {
  const endpoint = env.CAIRN_S3_ENDPOINT || env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined;
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION || "us-east-1";
  const forcePathStyle = truthy(env.CAIRN_S3_FORCE_PATH_STYLE) ?? endpoint !== undefined;
  return endpoint === undefined ? { region, forcePathStyle } : { endpoint, region, forcePathStyle };
}

/**
 * Splits `s3://bucket/prefix` into bucket and prefix (trailing `/` dropped).
 * @throws CairnError INVALID_PARAMETER_VALUE when the URI is not `s3://`, has no bucket, or its
 *   prefix is unsafe.
 * @example parseS3Uri("s3://my-bucket/cairn/artifacts") // { bucket: "my-bucket", prefix: "cairn/artifacts" }
 */
export function parseS3Uri(uri: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([^/?#]+)(?:\/([^?#]*))?$/i.exec(uri);
  if (!m?.[1]) throw new CairnError("INVALID_PARAMETER_VALUE", `Invalid S3 URI '${uri}': expected s3://bucket/prefix`);
  const prefix = (m[2] ?? "").replace(/\/+$/, "");
  return { bucket: m[1], prefix: safeBlobPrefix(prefix) };
}

function s3ErrorName(e: unknown): string | undefined {
  return typeof e === "object" && e !== null ? (e as { name?: string }).name : undefined;
}

function isNotFound(e: unknown): boolean {
  const name = s3ErrorName(e);
  const status = (e as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
  return name === "NoSuchKey" || name === "NotFound" || status === 404;
}

function byPath(a: BlobEntry, b: BlobEntry): number {
  if (a.path !== b.path) return a.path < b.path ? -1 : 1;
  return a.isDir === b.isDir ? 0 : a.isDir ? -1 : 1;
}

/**
 * A `BlobStore` on S3 or an S3-compatible server (`s3://bucket/prefix`).
 *
 * - `put` of a Buffer or string is one PutObject; of a stream, a lib-storage `Upload`: one
 *   PutObject when the body fits in a part, else a multipart upload that only becomes visible
 *   on completion. Both are atomic, and a stream is never held whole in memory.
 * - Directories are key prefixes: `list` uses ListObjectsV2 with Delimiter "/", `delete`
 *   removes the key and every key under `key/` in DeleteObjects batches.
 * - S3 errors other than a missing key propagate unchanged (the HTTP layer reports them as
 *   internal errors).
 *
 * @example const store = new S3BlobStore({ bucket: "ml", prefix: "cairn" });
 */
export class S3BlobStore implements BlobStore {
  readonly uri: string;
  readonly #client: S3Client;
  readonly #ownsClient: boolean;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #partSize: number;
  readonly #queueSize: number;
  readonly #pageSize: number;

  /** @throws CairnError INVALID_PARAMETER_VALUE for an empty bucket or unsafe prefix. */
  constructor(opts: S3BlobStoreOptions) {
    if (!opts.bucket || opts.bucket.includes("/")) {
      throw new CairnError("INVALID_PARAMETER_VALUE", `Invalid S3 bucket name '${opts.bucket}'`);
    }
    this.#bucket = opts.bucket;
    this.#prefix = safeBlobPrefix((opts.prefix ?? "").replace(/^\/+|\/+$/g, ""));
    this.uri = `s3://${this.#bucket}${this.#prefix ? `/${this.#prefix}` : ""}`;
    this.#partSize = Math.max(MIN_PART_SIZE, opts.partSize ?? MIN_PART_SIZE);
    this.#queueSize = Math.max(1, opts.queueSize ?? 2);
    this.#pageSize = Math.min(1000, Math.max(1, opts.pageSize ?? 1000));
    if (opts.client) {
      this.#client = opts.client;
      this.#ownsClient = false;
    } else {
      const env = s3ConfigFromEnv(opts.env);
      const endpoint = opts.endpoint ?? env.endpoint;
      const config: S3ClientConfig = {
        region: opts.region ?? env.region,
        forcePathStyle: opts.forcePathStyle ?? (opts.endpoint !== undefined ? true : env.forcePathStyle),
      };
      if (endpoint !== undefined) config.endpoint = endpoint;
      if (opts.credentials !== undefined) config.credentials = opts.credentials;
      this.#client = new S3Client(config);
      this.#ownsClient = true;
    }
  }

  /**
   * Builds a store from `s3://bucket/prefix`; `opts` adds client settings.
   * @throws CairnError INVALID_PARAMETER_VALUE for a malformed URI.
   */
  static fromUri(uri: string, opts: Omit<S3BlobStoreOptions, "bucket" | "prefix"> = {}): S3BlobStore {
    return new S3BlobStore({ ...opts, ...parseS3Uri(uri) });
  }

  /**
   * Writes `body` at `key` atomically, streaming a `Readable` in parts.
   * An error from `body` is rethrown unchanged, and no object is created or changed.
   * @throws CairnError INVALID_PARAMETER_VALUE for an unsafe key.
   */
  async put(key: string, body: Readable | Buffer | string): Promise<{ size: number }> {
    const Key = this.#key(safeBlobKey(key));
    if (typeof body === "string" || Buffer.isBuffer(body)) {
      const buf = typeof body === "string" ? Buffer.from(body, "utf8") : body;
      await this.#client.send(new PutObjectCommand({ Bucket: this.#bucket, Key, Body: buf, ContentLength: buf.length }));
      return { size: buf.length };
    }

    let size = 0;
    let sourceError: unknown;
    const counter = new Transform({
      transform(chunk: Buffer | string, _enc, cb) {
        size += typeof chunk === "string" ? Buffer.byteLength(chunk) : chunk.length;
        cb(null, chunk);
      },
    });
    body.on("error", (e) => {
      sourceError = e;
      counter.destroy(e);
    });
    body.pipe(counter);
    const upload = new Upload({
      client: this.#client,
      params: { Bucket: this.#bucket, Key, Body: counter },
      partSize: this.#partSize,
      queueSize: this.#queueSize,
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (e) {
      body.unpipe(counter);
      body.destroy();
      // When the body fails mid-multipart, Upload aborts the upload; if the abort itself fails
      // (s3rver has no AbortMultipartUpload) that error would hide the caller's real one.
      throw sourceError ?? e;
    }
    return { size };
  }

  /**
   * Streams the object at `key`.
   * @throws CairnError RESOURCE_DOES_NOT_EXIST when no object has that key (a prefix is not an
   *   object); INVALID_PARAMETER_VALUE for an unsafe key.
   */
  async get(key: string): Promise<{ stream: Readable; size: number }> {
    const safe = safeBlobKey(key);
    try {
      const out = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: this.#key(safe) }));
      if (!(out.Body instanceof Readable)) throw new Error("S3 GetObject returned no Node.js stream body");
      return { stream: out.Body, size: out.ContentLength ?? 0 };
    } catch (e) {
      if (isNotFound(e)) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `Artifact '${safe}' does not exist`);
      throw e;
    }
  }

  /**
   * `{ isDir: false, size }` for an object, `{ isDir: true }` for a prefix with objects under it,
   * undefined otherwise. An object wins over a prefix of the same name.
   * @throws CairnError INVALID_PARAMETER_VALUE for an unsafe key.
   */
  async stat(key: string): Promise<{ isDir: boolean; size?: number } | undefined> {
    const full = this.#key(safeBlobKey(key));
    try {
      const head = await this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: full }));
      return { isDir: false, size: head.ContentLength ?? 0 };
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    const out = await this.#client.send(
      new ListObjectsV2Command({ Bucket: this.#bucket, Prefix: `${full}/`, MaxKeys: 1 }),
    );
    return (out.KeyCount ?? out.Contents?.length ?? 0) > 0 ? { isDir: true } : undefined;
  }

  /**
   * Immediate children of `prefix` ("" is the root), sorted by path, following every page of
   * ListObjectsV2. Keys that no safe key could address (such as `a//b`) are left out.
   * @throws CairnError INVALID_PARAMETER_VALUE for an unsafe prefix.
   */
  async list(prefix: string): Promise<BlobEntry[]> {
    const safe = safeBlobPrefix(prefix);
    const full = safe === "" ? this.#prefix : this.#key(safe);
    const listPrefix = full === "" ? "" : `${full}/`;
    // A Map, because some S3-compatible servers repeat common prefixes on every page.
    const entries = new Map<string, BlobEntry>();
    let token: string | undefined;
    do {
      const out = await this.#client.send(
        new ListObjectsV2Command({
          Bucket: this.#bucket,
          Prefix: listPrefix,
          Delimiter: "/",
          MaxKeys: this.#pageSize,
          ContinuationToken: token,
        }),
      );
      for (const cp of out.CommonPrefixes ?? []) {
        const name = cp.Prefix?.slice(listPrefix.length, -1);
        if (name !== undefined && isAddressable(name)) entries.set(`d:${name}`, { path: name, isDir: true });
      }
      for (const obj of out.Contents ?? []) {
        const name = obj.Key?.slice(listPrefix.length);
        if (name !== undefined && isAddressable(name)) entries.set(`f:${name}`, { path: name, isDir: false, size: obj.Size ?? 0 });
      }
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
    return [...entries.values()].sort(byPath);
  }

  /**
   * Deletes the object at `key` and every object under `key/`. Deleting something absent is
   * not an error.
   * @throws CairnError INVALID_PARAMETER_VALUE for an unsafe key; INTERNAL_ERROR when S3
   *   reports that some keys could not be deleted.
   */
  async delete(key: string): Promise<void> {
    const full = this.#key(safeBlobKey(key));
    await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: full }));
    let token: string | undefined;
    do {
      const out = await this.#client.send(
        new ListObjectsV2Command({ Bucket: this.#bucket, Prefix: `${full}/`, MaxKeys: this.#pageSize, ContinuationToken: token }),
      );
      const keys = (out.Contents ?? []).flatMap((o) => (o.Key === undefined ? [] : [{ Key: o.Key }]));
      if (keys.length > 0) {
        const res = await this.#client.send(
          new DeleteObjectsCommand({ Bucket: this.#bucket, Delete: { Objects: keys, Quiet: true } }),
        );
        if (res.Errors?.length) {
          const first = res.Errors[0];
          throw new CairnError(
            "INTERNAL_ERROR",
            `Could not delete ${res.Errors.length} object(s) under '${key}' (${first?.Code ?? "unknown"}: ${first?.Key ?? "?"})`,
          );
        }
      }
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
  }

  /** Destroys the S3 client, unless it was passed in. */
  async close(): Promise<void> {
    if (this.#ownsClient) this.#client.destroy();
  }

  #key(safe: string): string {
    return this.#prefix === "" ? safe : `${this.#prefix}/${safe}`;
  }
}

function isAddressable(name: string): boolean {
  try {
    safeBlobKey(name);
    return true;
  } catch {
    return false;
  }
}
