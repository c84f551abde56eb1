/**
 * Data versioning through the `cairn data` CLI and `cairn.datasets` against real servers: add a
 * tree, status through the stat cache, a second version uploading only the changed blob, a tabular
 * diff, get (byte-for-byte, by tag, hard-linked), a corrupted server blob refused with
 * CHECKSUM_MISMATCH, push/pull between two servers moving only missing blobs, log, gc dry run,
 * `use` inside an active run and `cairn lineage`.
 */
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cairn } from "@cairn/sdk";
import { startServer } from "../packages/server/src/server.js";
import { runCli, type Exit } from "./processes.js";

let a: { url: string; close(): Promise<void> };
let b: { url: string; close(): Promise<void> };
let dataDirA: string;
let dataDirB: string;
let tmp: string;
let env: Record<string, string>;

const sha = (buf: Buffer) => createHash("sha256").update(buf).digest("hex");

const csv = (rows: [number, string, number][]) => Buffer.from(`id,city,income\n${rows.map((r) => r.join(",")).join("\n")}\n`);
const rows1: [number, string, number][] = Array.from({ length: 40 }, (_, i) => [i + 1, i % 3 === 0 ? "Oslo" : "Bergen", 1000 + i * 10]);
const rows2: [number, string, number][] = [...rows1.slice(5), ...Array.from({ length: 15 }, (_, i): [number, string, number] => [100 + i, "Tromsø", 5000 + i * 100])];

const v1Files: Record<string, Buffer> = {
  "train.csv": csv(rows1),
  "images/a.bin": randomBytes(200_000),
  "images/b.bin": randomBytes(50_000),
  "README.txt": Buffer.from("credit data\n"),
};
const v2Files: Record<string, Buffer> = { ...v1Files, "train.csv": csv(rows2) };

/** `cairn --url URL …` with the test's cache directory; fails the test on an unexpected exit code. */
async function cli(args: string[], opts: { url?: string; code?: number; env?: Record<string, string> } = {}): Promise<Exit> {
  const res = await runCli(opts.url ?? a.url, args, { env: { ...env, ...opts.env } });
  if (res.code !== (opts.code ?? 0)) throw new Error(`cairn ${args.join(" ")} exited ${res.code}\nstdout: ${res.stdout}\nstderr: ${res.stderr}`);
  return res;
}

async function cliJson<T = Record<string, unknown>>(args: string[], opts: { url?: string; env?: Record<string, string> } = {}): Promise<T> {
  return JSON.parse((await cli(["--json", ...args], opts)).stdout) as T;
}

function writeTree(dir: string, files: Record<string, Buffer>): void {
  for (const [rel, buf] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), buf);
  }
}

function expectTree(dir: string, files: Record<string, Buffer>): void {
  for (const [rel, buf] of Object.entries(files)) expect(Buffer.compare(fs.readFileSync(path.join(dir, rel)), buf), rel).toBe(0);
}

beforeAll(async () => {
  dataDirA = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-e2e-data-a-"));
  dataDirB = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-e2e-data-b-"));
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-e2e-data-"));
  [a, b] = await Promise.all([startServer({ port: 0, dataDir: dataDirA, logLevel: "silent" }), startServer({ port: 0, dataDir: dataDirB, logLevel: "silent" })]);
  env = { CAIRN_CACHE_DIR: path.join(tmp, "cache") };
  writeTree(path.join(tmp, "credit"), v1Files);
});

afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
  for (const d of [dataDirA, dataDirB, tmp]) if (d) fs.rmSync(d, { recursive: true, force: true });
});

describe("cairn data against real servers", () => {
  const tree = () => path.join(tmp, "credit");

  it("adds a tree, sees no change, then a change, and adds v2 uploading only the changed blob", async () => {
    const add1 = await cliJson<{ version: { number: number; fileCount: number; totalBytes: number; tags: string[] }; blobsUploaded: number; hashedFiles: number; datasetCreated: boolean }>(["data", "add", tree(), "--name", "credit", "-m", "first cut", "--tag", "baseline"]);
    expect(add1).toMatchObject({ datasetCreated: true, blobsUploaded: 4, hashedFiles: 4, version: { number: 1, fileCount: 4, tags: ["baseline"] } });
    expect(add1.version.totalBytes).toBe(Object.values(v1Files).reduce((n, f) => n + f.length, 0));

    // No --name: the path remembers its dataset; nothing is rehashed.
    const clean = await cli(["data", "status", tree()]);
    expect(clean.stdout).toMatch(/up to date with credit@v1 \(4 files; 0 hashed, 4 from the stat cache\)/);

    fs.writeFileSync(path.join(tree(), "train.csv"), v2Files["train.csv"]!);
    const dirty = await cliJson<{ modified: { path: string }[]; added: unknown[]; removed: unknown[]; hashedFiles: number }>(["data", "status", tree()]);
    expect(dirty).toMatchObject({ added: [], removed: [], hashedFiles: 1 });
    expect(dirty.modified.map((m) => m.path)).toEqual(["train.csv"]);

    const add2 = await cli(["data", "add", tree(), "-m", "more rows"]);
    expect(add2.stdout).toMatch(/added credit@v2/);
    expect(add2.stdout).toMatch(/1 new blobs, .* \(0 already on the server\)/);
    // Sent as changes to v1: the three unchanged files travel neither as blobs nor as manifest rows.
    expect(add2.stdout).toMatch(/changes to credit@v1: 1 added or modified, 0 removed, 3 unchanged \(not sent\)/);
    const same = await cli(["data", "add", tree()]);
    expect(same.stdout).toMatch(/nothing changed: .* matches credit@v2; no version created/);
    expect(add2.stdout).toMatch(/0 files hashed, 4 from the stat cache|1 files hashed, 3 from the stat cache/);
    expect(add2.stdout).toMatch(/validation\s+none/);
  });

  it("diffs v1 and v2 with a tabular row-count and statistics change", async () => {
    const [human, json] = await Promise.all([cli(["data", "diff", "credit@v1", "v2"]), cliJson<{ modified: { path: string }[]; tabular: { path: string; rows: { from: number; to: number; delta: number } }[] }>(["data", "diff", "credit@v1", "credit@v2"])]);
    expect(json.modified.map((m) => m.path)).toEqual(["train.csv"]);
    expect(json.tabular).toHaveLength(1);
    expect(json.tabular[0]).toMatchObject({ path: "train.csv", rows: { from: 40, to: 50, delta: 10 } });
    expect(human.stdout).toMatch(/credit@v1 → credit@v2: 0 added, 0 removed, 1 modified, 3 unchanged/);
    expect(human.stdout).toMatch(/train\.csv: rows 40 → 50 \(\+10\)/);
    expect(human.stdout).toMatch(/COLUMN\s+STAT\s+FROM\s+TO/);
  });

  it("gets versions byte for byte, by tag and hard-linked from the cache, and shows log and details", async () => {
    const out = path.join(tmp, "out-v2");
    const got = await cliJson<{ files: number; downloaded: number; fromCache: number }>(["data", "get", "credit@v2", out]);
    expect(got).toMatchObject({ files: 4, downloaded: 4, fromCache: 0 });
    expectTree(out, v2Files);

    await cli(["data", "tag", "credit@v1", "prod"]);
    const outProd = path.join(tmp, "out-prod");
    const [byTag, log, show] = await Promise.all([
      cli(["data", "get", "credit@prod", outProd, "--link", "hardlink"]),
      cli(["data", "log", "credit"]),
      cliJson<{ version: { number: number; tags: string[] } }>(["data", "show", "credit@prod"]),
    ]);
    expect(byTag.stdout).toMatch(/credit@v1 → .*out-prod: 4 files .*, 1 downloaded .*, 3 from cache/);
    expectTree(outProd, v1Files);
    expect(fs.statSync(path.join(outProd, "images/a.bin")).nlink).toBeGreaterThan(1);
    expect(log.stdout).toMatch(/^VERSION\s+TAGS\s+DIGEST/);
    expect(log.stdout.split("\n")[1]).toMatch(/^v2\s/);
    expect(log.stdout).toMatch(/v1\s+baseline, prod|v1\s+prod, baseline/);
    expect(show.version).toMatchObject({ number: 1 });
    expect(show.version.tags.sort()).toEqual(["baseline", "prod"]);

    // Usage errors exit 2.
    const [bad1, bad2] = await Promise.all([cli(["data", "get", "credit@@x", out], { code: 2 }), cli(["data", "status", path.join(tmp, "never-added")], { code: 2 })]);
    expect(bad1.stderr).toMatch(/Invalid dataset reference/);
    expect(bad2.stderr).toMatch(/--name is required/);
  });

  it("pushes and pulls between two servers moving only missing blobs", async () => {
    const push1 = await cliJson<{ blobsSent: number; blobsSkipped: number; datasetCreated: boolean; version: { id: string; number: number } }>(["data", "push", "credit@v1", "--remote", b.url]);
    expect(push1).toMatchObject({ blobsSent: 4, blobsSkipped: 0, datasetCreated: true, version: { number: 1 } });
    const push2 = await cli(["data", "push", "credit@v2", "--remote", b.url]);
    expect(push2.stdout).toMatch(/pushed credit@v2 → .* as credit@v2: 1 blobs sent .*, 3 skipped/);
    const again = await cli(["data", "push", "credit@v2", "--remote", b.url]);
    expect(again.stdout).toMatch(/already has credit@v2/);

    // A third version made on B comes back with its one new blob.
    const tree3 = path.join(tmp, "credit-b");
    writeTree(tree3, { ...v2Files, "extra.txt": Buffer.from("added on B\n") });
    await cli(["data", "add", tree3, "--name", "credit", "-m", "from B"], { url: b.url });
    const pull = await cliJson<{ blobsSent: number; blobsSkipped: number; version: { number: number; message: string; id: string } }>(["data", "pull", "credit@v3", "--remote", b.url]);
    expect(pull).toMatchObject({ blobsSent: 1, blobsSkipped: 4, version: { number: 3, message: "from B" } });
    const onB = await new Cairn({ url: b.url, handleExit: false }).datasets.getVersion("credit", "v3");
    expect(pull.version.id).toBe(onB.id);
  });

  it("records `use` inside an active run as lineage and prints it with `cairn lineage`", async () => {
    const cairn = new Cairn({ url: a.url, handleExit: false });
    const run = await cairn.startRun({ experiment: "e2e-data", runName: "train", captureContext: false });
    const dir = path.join(tmp, "use");
    const v = await cairn.datasets.use("credit@v2", dir, { cacheDir: path.join(tmp, "cache-sdk"), context: "training" });
    await run.end();
    expect(v.number).toBe(2);
    expectTree(dir, v2Files);
    const graph = await cairn.datasets.lineage(`runs:/${run.id}`, { direction: "upstream" });
    expect(graph.edges).toContainEqual(expect.objectContaining({ from: "dataset:credit@v2", to: `run:${run.id}`, kind: "input" }));

    const [up, down] = await Promise.all([cli(["lineage", `run:${run.id}`, "--upstream"]), cliJson<{ edges: { from: string; to: string }[] }>(["lineage", "credit@v2", "--downstream", "--depth", "2"])]);
    expect(up.stdout).toMatch(new RegExp(`^run:${run.id}`));
    expect(up.stdout).toMatch(/└─ ← dataset:credit@v2 .*\(input, training\)/);
    expect(down.edges).toContainEqual(expect.objectContaining({ from: "dataset:credit@v2", to: `run:${run.id}` }));
  });

  it("refuses a corrupted server blob with CHECKSUM_MISMATCH and runs a gc dry run", async () => {
    const hash = sha(v2Files["images/b.bin"]!);
    const blob = path.join(dataDirA, "artifacts", "datasets", "blobs", "sha256", hash.slice(0, 2), hash);
    const bytes = fs.readFileSync(blob);
    bytes[0] = bytes[0]! ^ 0xff;
    fs.chmodSync(blob, 0o644);
    fs.writeFileSync(blob, bytes);
    const out = path.join(tmp, "out-corrupt");
    const [bad, gc] = await Promise.all([
      cli(["data", "get", "credit@v2", out], { code: 1, env: { CAIRN_CACHE_DIR: path.join(tmp, "cache-fresh") } }),
      cliJson<{ dryRun: boolean; deleted: number; referenced: number }>(["data", "gc", "--dry-run", "--grace", "0"]),
    ]);
    expect(bad.stderr).toMatch(/^error: CHECKSUM_MISMATCH: .*images\/b\.bin/);
    expect(bad.stderr).toContain(hash);
    expect(fs.existsSync(path.join(out, "images/b.bin"))).toBe(false);
    expect(fs.existsSync(path.join(tmp, "cache-fresh", "blobs", "sha256", hash.slice(0, 2), hash))).toBe(false);

    expect(gc).toMatchObject({ dryRun: true, deleted: 0 });
    expect(gc.referenced).toBeGreaterThanOrEqual(6);
  });
});
