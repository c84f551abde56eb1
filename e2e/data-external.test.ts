/**
 * External data through the CLI: `cairn data add s3://… --external` records S3 objects (ETag and size,
 * bytes left in place) and `cairn data get` fetches them back, refusing an object that changed since.
 * Runs against s3rver, a local S3-compatible server.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer } from "../packages/server/src/server.js";
import { S3RVER_CREDENTIALS, startS3rver } from "../packages/server/test/s3rver.js";
import { runCli } from "./processes.js";

const BUCKET = "lake";
let s3: Awaited<ReturnType<typeof startS3rver>>;
let server: Awaited<ReturnType<typeof startServer>>;
let client: S3Client;
let tmp: string;
let env: Record<string, string>;

const put = (key: string, body: string) => client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
const cli = async (args: string[], code = 0) => {
  const r = await runCli(server.url, args, { env });
  if (r.code !== code) throw new Error(`cairn ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r;
};

beforeAll(async () => {
  s3 = await startS3rver(BUCKET);
  client = new S3Client({ endpoint: s3.endpoint, region: "us-east-1", forcePathStyle: true, credentials: S3RVER_CREDENTIALS });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-data-ext-"));
  server = await startServer({ port: 0, dataDir: path.join(tmp, "server"), logLevel: "silent" });
  env = { CAIRN_CACHE_DIR: path.join(tmp, "cache"), CAIRN_S3_ENDPOINT: s3.endpoint, AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER", AWS_REGION: "us-east-1" };
});
afterAll(async () => {
  client?.destroy();
  await server?.close();
  await s3?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe("external data in S3", () => {
  it("records objects in place and fetches them back, checking they did not change", async () => {
    await put("credit/2026-11/part-0.csv", "id,amount\n1,10\n");
    await put("credit/2026-11/part-1.csv", "id,amount\n2,20\n");
    const added = JSON.parse((await cli(["--json", "data", "add", `s3://${BUCKET}/credit/2026-11/`, "--external", "--name", "raw"])).stdout);
    expect(added.version).toMatchObject({ number: 1, fileCount: 2, externalCount: 2, totalBytes: 30 });
    const files = JSON.parse((await cli(["--json", "data", "show", "raw@v1", "--files"])).stdout);
    const listed = (files.files ?? files.version?.files ?? []) as { path: string; uri: string; etag: string }[];
    expect(listed.map((f) => [f.path, f.uri])).toEqual([
      ["2026-11/part-0.csv", `s3://${BUCKET}/credit/2026-11/part-0.csv`],
      ["2026-11/part-1.csv", `s3://${BUCKET}/credit/2026-11/part-1.csv`],
    ]);
    expect(listed.every((f) => /^[0-9a-f]{32}$/.test(f.etag))).toBe(true);
    // Nothing was copied into Cairn's blob store.
    expect(fs.existsSync(path.join(tmp, "server", "artifacts", "datasets"))).toBe(false);

    const out = path.join(tmp, "out");
    await cli(["data", "get", "raw@v1", out]);
    expect(fs.readFileSync(path.join(out, "2026-11", "part-1.csv"), "utf8")).toBe("id,amount\n2,20\n");

    await put("credit/2026-11/part-1.csv", "id,amount\n2,999\n");
    const changed = await cli(["data", "get", "raw@v1", path.join(tmp, "out2")], 1);
    expect(changed.stderr).toMatch(/CHECKSUM_MISMATCH.*part-1\.csv.*changed since the version was recorded/);
  });
});
