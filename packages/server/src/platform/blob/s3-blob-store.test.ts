import { randomBytes } from "node:crypto";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { isCairnError } from "@cairn/contract";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { describeBlobStore } from "./blob-store.suite.js";
import { openBlobStore } from "./open-blob-store.js";
import { S3BlobStore, parseS3Uri, s3ConfigFromEnv } from "./s3-blob-store.js";
import { S3RVER_CREDENTIALS, startS3rver } from "../../../test/s3rver.js";

const BUCKET = "cairn-test";
const credentials = S3RVER_CREDENTIALS;

let s3rver: Awaited<ReturnType<typeof startS3rver>>;
let endpoint: string;

function makeStore(prefix: string, extra: { pageSize?: number } = {}): S3BlobStore {
  return new S3BlobStore({ bucket: BUCKET, prefix, endpoint, region: "us-east-1", credentials, ...extra });
}

function uniquePrefix(label: string): string {
  return `${label}-${randomBytes(4).toString("hex")}`;
}

beforeAll(async () => {
  s3rver = await startS3rver(BUCKET);
  endpoint = s3rver.endpoint;
});
afterAll(async () => {
  await s3rver?.stop();
});

describeBlobStore("S3BlobStore (s3rver)", async () => ({
  store: makeStore(uniquePrefix("suite")),
  cleanup: async () => {},
}));

describe("S3BlobStore specifics", () => {
  it("follows ListObjectsV2 and DeleteObjects pagination", async () => {
    const store = makeStore(uniquePrefix("pages"), { pageSize: 2 });
    const files = ["f0.txt", "f1.txt", "f2.txt", "f3.txt", "f4.txt"];
    const dirs = ["d0", "d1", "d2"];
    await Promise.all([
      ...files.map((f) => store.put(`p/${f}`, f)),
      ...dirs.flatMap((d) => [store.put(`p/${d}/a.txt`, "a"), store.put(`p/${d}/b.txt`, "b")]),
    ]);
    expect(await store.list("p")).toEqual([
      ...dirs.map((d) => ({ path: d, isDir: true })),
      ...files.map((f) => ({ path: f, isDir: false, size: 6 })),
    ]);
    await store.delete("p");
    expect(await store.list("p")).toEqual([]);
    expect(await store.list("")).toEqual([]);
    await store.close();
  });

  it("lists and deletes more than 1000 keys with the real page size", async () => {
    const store = makeStore(uniquePrefix("many"));
    const names = Array.from({ length: 1005 }, (_, i) => `k${String(i).padStart(4, "0")}`);
    for (let i = 0; i < names.length; i += 50) {
      await Promise.all(names.slice(i, i + 50).map((n) => store.put(`m/${n}`, "")));
    }
    const listed = await store.list("m");
    expect(listed).toHaveLength(1005);
    expect(listed.map((e) => e.path)).toEqual(names);
    await store.delete("m");
    expect(await store.list("m")).toEqual([]);
    await store.close();
  });

  it("keeps stores with neighbouring prefixes apart", async () => {
    const base = uniquePrefix("iso");
    const a = makeStore(`${base}/a`);
    const ab = makeStore(`${base}/ab`);
    await a.put("x.txt", "a");
    await ab.put("y.txt", "ab");
    expect(await a.list("")).toEqual([{ path: "x.txt", isDir: false, size: 1 }]);
    expect(await ab.list("")).toEqual([{ path: "y.txt", isDir: false, size: 2 }]);
    expect(await makeStore(base).list("")).toEqual([
      { path: "a", isDir: true },
      { path: "ab", isDir: true },
    ]);
    await a.close();
    await ab.close();
  });

  it("leaves out keys written by other tools that no safe key could address", async () => {
    const prefix = uniquePrefix("foreign");
    const client = new S3Client({ endpoint, region: "us-east-1", forcePathStyle: true, credentials });
    // A directory marker ("dir/") as the S3 console makes, and names safeBlobKey refuses.
    for (const key of [`${prefix}/ok.txt`, `${prefix}/dir/`, `${prefix}/back\\slash.txt`, `${prefix}/a%2fb.txt`]) {
      await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: "x" }));
    }
    client.destroy();
    const store = makeStore(prefix);
    expect(await store.list("")).toEqual([
      { path: "dir", isDir: true },
      { path: "ok.txt", isDir: false, size: 1 },
    ]);
    expect(await store.list("dir")).toEqual([]);
    await store.close();
  });

  it("an object and a prefix may share a name; stat prefers the object", async () => {
    const store = makeStore(uniquePrefix("both"));
    await store.put("n", "file");
    await store.put("n/child.txt", "c");
    expect(await store.stat("n")).toEqual({ isDir: false, size: 4 });
    expect(await store.list("")).toEqual([
      { path: "n", isDir: true },
      { path: "n", isDir: false, size: 4 },
    ]);
    await store.delete("n");
    expect(await store.list("")).toEqual([]);
    await store.close();
  });

  it("opens from an s3:// URI configured by environment variables", async () => {
    vi.stubEnv("CAIRN_S3_ENDPOINT", endpoint);
    vi.stubEnv("AWS_ACCESS_KEY_ID", credentials.accessKeyId);
    vi.stubEnv("AWS_SECRET_ACCESS_KEY", credentials.secretAccessKey);
    vi.stubEnv("AWS_REGION", "us-east-1");
    try {
      const prefix = uniquePrefix("env");
      const store = await openBlobStore(`s3://${BUCKET}/${prefix}/`);
      expect(store).toBeInstanceOf(S3BlobStore);
      expect(store.uri).toBe(`s3://${BUCKET}/${prefix}`);
      await store.put("e.txt", "env");
      expect(await store.stat("e.txt")).toEqual({ isDir: false, size: 3 });
      await store.close();
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it("fails a put to a missing bucket with the S3 error, not a hang", async () => {
    const store = new S3BlobStore({ bucket: "no-such-bucket", endpoint, region: "us-east-1", credentials });
    await expect(store.put("k", "x")).rejects.toMatchObject({ name: "NoSuchBucket" });
    await store.close();
  });
});

describe("S3 configuration", () => {
  it.each([
    [{}, { region: "us-east-1", forcePathStyle: false }],
    [{ AWS_REGION: "eu-west-1" }, { region: "eu-west-1", forcePathStyle: false }],
    [{ AWS_DEFAULT_REGION: "eu-west-2" }, { region: "eu-west-2", forcePathStyle: false }],
    [{ CAIRN_S3_ENDPOINT: "http://minio:9000" }, { endpoint: "http://minio:9000", region: "us-east-1", forcePathStyle: true }],
    [
      { CAIRN_S3_ENDPOINT: "http://a:1", AWS_ENDPOINT_URL_S3: "http://b:2", AWS_ENDPOINT_URL: "http://c:3" },
      { endpoint: "http://a:1", region: "us-east-1", forcePathStyle: true },
    ],
    [{ AWS_ENDPOINT_URL_S3: "http://b:2", AWS_ENDPOINT_URL: "http://c:3" }, { endpoint: "http://b:2", region: "us-east-1", forcePathStyle: true }],
    [{ AWS_ENDPOINT_URL: "http://c:3" }, { endpoint: "http://c:3", region: "us-east-1", forcePathStyle: true }],
    [{ CAIRN_S3_FORCE_PATH_STYLE: "1" }, { region: "us-east-1", forcePathStyle: true }],
    [{ AWS_ENDPOINT_URL: "http://c:3", CAIRN_S3_FORCE_PATH_STYLE: "false" }, { endpoint: "http://c:3", region: "us-east-1", forcePathStyle: false }],
  ])("s3ConfigFromEnv(%j)", (env, expected) => {
    expect(s3ConfigFromEnv(env)).toEqual(expected);
  });

  it("parses s3:// URIs", () => {
    expect(parseS3Uri("s3://bkt")).toEqual({ bucket: "bkt", prefix: "" });
    expect(parseS3Uri("s3://bkt/")).toEqual({ bucket: "bkt", prefix: "" });
    expect(parseS3Uri("s3://bkt/a/b/")).toEqual({ bucket: "bkt", prefix: "a/b" });
    for (const bad of ["s3://", "s3:///x", "s3://bkt/a/../b", "s3://bkt//a", "gs://bkt/a"]) {
      let code: unknown;
      try {
        parseS3Uri(bad);
      } catch (e) {
        code = isCairnError(e) ? e.code : e;
      }
      expect(code, bad).toBe("INVALID_PARAMETER_VALUE");
    }
    expect(S3BlobStore.fromUri("s3://bkt/x/y", { region: "us-east-1" }).uri).toBe("s3://bkt/x/y");
  });
});
