import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { isCairnError } from "@cairn/contract";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalBlobStore } from "./local-blob-store.js";
import { openBlobStore } from "./open-blob-store.js";
import { S3BlobStore } from "./s3-blob-store.js";

describe("openBlobStore", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), "cairn-open-")));
  });
  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("opens file:/// URIs and creates the directory", async () => {
    const root = path.join(dir, "from-url", "nested");
    const store = await openBlobStore(pathToFileURL(root).href);
    expect(store).toBeInstanceOf(LocalBlobStore);
    expect(store.uri).toBe(pathToFileURL(root).href);
    expect((await fs.stat(root)).isDirectory()).toBe(true);
    await store.put("a.txt", "a");
    expect(await fs.readFile(path.join(root, "a.txt"), "utf8")).toBe("a");
  });

  it("opens plain absolute and relative paths", async () => {
    const abs = await openBlobStore(path.join(dir, "plain"));
    expect(abs.uri).toBe(pathToFileURL(path.join(dir, "plain")).href);
    const rel = await openBlobStore("rel/artifacts", { cwd: dir });
    expect(rel.uri).toBe(pathToFileURL(path.join(dir, "rel", "artifacts")).href);
    expect((await fs.stat(path.join(dir, "rel", "artifacts"))).isDirectory()).toBe(true);
  });

  it("opens s3:// URIs without contacting S3", async () => {
    const store = await openBlobStore("s3://my-bucket/cairn/artifacts/", { s3: { region: "us-east-1", endpoint: "http://127.0.0.1:1" } });
    expect(store).toBeInstanceOf(S3BlobStore);
    expect(store.uri).toBe("s3://my-bucket/cairn/artifacts");
    await store.close();
  });

  it.each(["", "   ", "gs://bucket/x", "wasbs://c@a.blob.core.windows.net/x", "http://example.com/x", "mlflow-artifacts:/x", "file://host/share/x", "s3://", "s3://bkt/../x"])(
    "rejects %j",
    async (uri) => {
      const err = await openBlobStore(uri).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isCairnError(err) ? err.code : err).toBe("INVALID_PARAMETER_VALUE");
    },
  );
});
