import { createHash, randomBytes, randomUUID } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DATASET_LIMITS } from "@cairn/contract";
import { Cairn } from "./cairn.js";
import { cachedBlobPath, copyVersion, parseDatasetRef } from "./datasets.js";

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

interface FakeVersion {
  version: Record<string, unknown> & { id: string; number: number; tags: string[] };
  files: { path: string; size: number; mode: number; sha256?: string; uri?: string }[];
}

/** A tiny in-memory stand-in for the datasets routes the SDK's transfer code calls. */
async function startFake() {
  const blobs = new Map<string, Buffer>();
  const datasets = new Map<string, { dataset: Record<string, unknown>; versions: FakeVersion[] }>();
  const links: unknown[] = [];
  /** Blobs stored, by a single PUT or a batch. */
  const puts: string[] = [];
  /** The frames of each batch upload. */
  const batches: { sha256: string; size: number }[][] = [];
  let pageSize = 2;
  const send = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  const fail = (res: http.ServerResponse, status: number, code: string, message: string) => send(res, status, { error_code: code, message });
  const resolveRef = (name: string, ref: string): FakeVersion | undefined => {
    const vs = datasets.get(name)?.versions ?? [];
    if (ref === "latest") return vs.at(-1);
    const m = /^v?(\d+)$/.exec(ref);
    if (m) return vs.find((v) => v.version.number === Number(m[1]));
    return vs.find((v) => v.version.id === ref || v.version.tags.includes(ref));
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const raw = Buffer.concat(chunks);
      const url = new URL(req.url!, "http://x");
      const p = decodeURI(url.pathname);
      const json = () => JSON.parse(raw.toString() || "{}") as Record<string, unknown>;
      let m: RegExpExecArray | null;
      if (req.method === "POST" && /^\/api\/v1\/datasets\/[^/]+\/blobs\/missing$/.test(p)) {
        return send(res, 200, { missing: (json().hashes as string[]).filter((h) => !blobs.has(h)) });
      }
      if (req.method === "PUT" && (m = /^\/api\/v1\/datasets\/[^/]+\/blobs\/([0-9a-f]{64})$/.exec(p))) {
        if (sha(raw) !== m[1]) return fail(res, 422, "CHECKSUM_MISMATCH", `bytes hash to ${sha(raw)}, not ${m[1]}`);
        puts.push(m[1]!);
        const existed = blobs.has(m[1]!);
        blobs.set(m[1]!, raw);
        return send(res, 201, { sha256: m[1], size: raw.length, existed });
      }
      if (req.method === "POST" && /^\/api\/v1\/datasets\/[^/]+\/blobs\/batch$/.test(p)) {
        const got: { sha256: string; bytes: Buffer }[] = [];
        for (let pos = 0; pos < raw.length; ) {
          const nl = raw.indexOf(10, pos);
          const h = /^([0-9a-f]{64}) (\d+)$/.exec(raw.subarray(pos, nl < 0 ? raw.length : nl).toString("latin1"));
          if (nl < 0 || !h || nl + 1 + Number(h[2]) > raw.length) return fail(res, 400, "INVALID_PARAMETER_VALUE", "bad frame");
          got.push({ sha256: h[1]!, bytes: raw.subarray(nl + 1, nl + 1 + Number(h[2])) });
          pos = nl + 1 + Number(h[2]);
        }
        const bad = got.find((g) => sha(g.bytes) !== g.sha256);
        if (bad) return fail(res, 422, "CHECKSUM_MISMATCH", `blob ${bad.sha256} does not match`);
        batches.push(got.map((g) => ({ sha256: g.sha256, size: g.bytes.length })));
        let stored = 0;
        let existed = 0;
        let bytes = 0;
        for (const g of got) {
          if (blobs.has(g.sha256)) existed++;
          else {
            blobs.set(g.sha256, Buffer.from(g.bytes));
            puts.push(g.sha256);
            stored++;
            bytes += g.bytes.length;
          }
        }
        return send(res, 201, { stored, existed, bytes });
      }
      if (req.method === "POST" && p === "/api/v1/datasets") {
        const b = json();
        if (datasets.has(b.name as string)) return fail(res, 409, "RESOURCE_ALREADY_EXISTS", "exists");
        const dataset = { name: b.name, description: b.description ?? "", tags: b.tags ?? {}, createdAt: 1, updatedAt: 1, latestVersion: 0, versionCount: 0, expectations: b.expectations ?? [] };
        datasets.set(b.name as string, { dataset, versions: [] });
        return send(res, 201, { dataset });
      }
      if ((m = /^\/api\/v1\/datasets\/([^/]+)$/.exec(p)) && req.method === "GET") {
        const d = datasets.get(m[1]!);
        return d ? send(res, 200, { dataset: d.dataset }) : fail(res, 404, "RESOURCE_DOES_NOT_EXIST", "no dataset");
      }
      if ((m = /^\/api\/v1\/datasets\/([^/]+)\/versions$/.exec(p)) && req.method === "POST") {
        const d = datasets.get(m[1]!);
        if (!d) return fail(res, 404, "RESOURCE_DOES_NOT_EXIST", "no dataset");
        const b = json() as { files: FakeVersion["files"]; id?: string; message?: string; tags?: string[]; author?: string; createdAt?: number };
        const same = b.id ? d.versions.find((v) => v.version.id === b.id) : undefined;
        if (same) return send(res, 201, { version: same.version });
        for (const f of b.files) if (f.sha256 && !f.uri && !blobs.has(f.sha256)) return fail(res, 400, "INVALID_PARAMETER_VALUE", `blob ${f.sha256} missing`);
        const number = d.versions.length + 1;
        const version = { id: b.id ?? randomUUID(), dataset: m[1], number, digest: "d".repeat(64), message: b.message ?? "", author: b.author ?? "me", createdAt: b.createdAt ?? Date.now(), fileCount: b.files.length, totalBytes: b.files.reduce((n, f) => n + f.size, 0), externalCount: 0, tags: b.tags ?? [], validation: { status: "none", checkedAt: 0, results: [] } };
        d.versions.push({ version, files: [...b.files].sort((x, y) => (x.path < y.path ? -1 : 1)).map((f) => ({ mode: 0o644, ...f })) });
        d.dataset.latestVersion = number;
        return send(res, 201, { version });
      }
      if ((m = /^\/api\/v1\/datasets\/([^/]+)\/versions\/([^/]+)(\/files(?:\/(.*))?)?$/.exec(p)) && req.method === "GET") {
        const v = resolveRef(m[1]!, m[2]!);
        if (!v) return fail(res, 404, "RESOURCE_DOES_NOT_EXIST", "no version");
        if (!m[3]) return send(res, 200, { version: v.version });
        if (m[4] === undefined) {
          const start = Number(url.searchParams.get("pageToken") ?? 0);
          const files = v.files.slice(start, start + pageSize);
          return send(res, 200, start + pageSize < v.files.length ? { files, nextPageToken: String(start + pageSize) } : { files });
        }
        const f = v.files.find((x) => x.path === m![4]);
        if (!f?.sha256) return fail(res, 404, "RESOURCE_DOES_NOT_EXIST", "no file");
        const b = blobs.get(f.sha256)!;
        res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(b.length) });
        return res.end(b);
      }
      if ((m = /^\/api\/v1\/runs\/([^/]+)\/datasets$/.exec(p)) && req.method === "POST") {
        const b = json();
        links.push({ run: m[1], ...b });
        return send(res, 200, { version: resolveRef(b.dataset as string, b.version as string)!.version });
      }
      fail(res, 404, "ENDPOINT_NOT_FOUND", `${req.method} ${p}`);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const addr = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${addr.port}`,
    blobs,
    datasets,
    links,
    puts,
    batches,
    setPageSize: (n: number) => (pageSize = n),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

let fake: Awaited<ReturnType<typeof startFake>>;
let cairn: Cairn;
let tmp: string;

beforeEach(async () => {
  fake = await startFake();
  cairn = new Cairn({ url: fake.url, retry: { retries: 1, minDelayMs: 5, maxDelayMs: 10 }, handleExit: false });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-ds-"));
});
afterEach(async () => {
  await fake.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Uploads `files` as a version of `name` (creating it) and returns the entries. */
async function upload(name: string, files: Record<string, Buffer>, c: Cairn = cairn) {
  await c.datasets.getOrCreate(name);
  const entries = Object.entries(files).map(([p, b]) => ({ path: p, size: b.length, mode: 0o644, sha256: sha(b) }));
  return c.datasets.uploadVersion(name, { entries, readFile: (p) => Readable.from([files[p]!]) });
}

describe("parseDatasetRef", () => {
  it("parses names, versions, tags and datasets:/ URIs", () => {
    expect(parseDatasetRef("credit")).toEqual({ name: "credit", ref: "latest" });
    expect(parseDatasetRef("credit@v3")).toEqual({ name: "credit", ref: "v3" });
    expect(parseDatasetRef("credit@prod")).toEqual({ name: "credit", ref: "prod" });
    expect(parseDatasetRef("credit@latest")).toEqual({ name: "credit", ref: "latest" });
    expect(parseDatasetRef("datasets:/credit.v2_x@7")).toEqual({ name: "credit.v2_x", ref: "7" });
    for (const bad of ["", "@v3", "credit@", "a/b@v1", "credit@v1@v2", "-x"]) expect(() => parseDatasetRef(bad), bad).toThrow(/Invalid dataset reference/);
  });
});

describe("datasets transfers", () => {
  it("uploads only missing blobs, once per hash, and then nothing on a repeat", async () => {
    const same = randomBytes(1000);
    const files = { "a.bin": same, "dup/a.bin": same, "b.txt": Buffer.from("hello") };
    const first = await upload("ds", files);
    expect(first).toMatchObject({ blobsUploaded: 2, blobsSkipped: 0, bytesUploaded: 1005 });
    expect(fake.puts.length).toBe(2);
    const second = await upload("ds", { ...files, "c.txt": Buffer.from("new") });
    expect(second).toMatchObject({ blobsUploaded: 1, blobsSkipped: 2, bytesUploaded: 3 });
    expect(second.version.number).toBe(2);
    expect(fake.puts.length).toBe(3);
  });

  it("batches small blobs within the limits, streams big ones alone, and keeps counts and progress", async () => {
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 2100; i++) files[`small/${i}.txt`] = Buffer.from(`small file ${i}`);
    for (let i = 0; i < 20; i++) files[`mid/${i}.bin`] = randomBytes(600 * 1024);
    files["big.bin"] = randomBytes(DATASET_LIMITS.batchBlobMaxBytes + 1);
    files["dup.txt"] = files["small/7.txt"]!;
    await cairn.datasets.getOrCreate("many");
    const entries = Object.entries(files).map(([p, b]) => ({ path: p, size: b.length, mode: 0o644, sha256: sha(b) }));
    const progress: [number, number][] = [];
    const total = Object.entries(files).reduce((n, [p, b]) => n + (p === "dup.txt" ? 0 : b.length), 0);
    const r = await cairn.datasets.uploadVersion("many", { entries, readFile: (p) => Readable.from([files[p]!]), onProgress: (d, t) => progress.push([d, t]) });
    expect(r).toMatchObject({ blobsUploaded: 2121, blobsSkipped: 0, bytesUploaded: total });
    expect(progress.at(0)).toEqual([0, total]);
    expect(progress.at(-1)).toEqual([total, total]);
    expect(new Set(fake.puts).size).toBe(2121);
    expect(fake.batches.flat().map((b) => b.sha256)).not.toContain(sha(files["big.bin"]!));
    for (const b of fake.batches) {
      expect(b.length).toBeLessThanOrEqual(DATASET_LIMITS.batchMaxBlobs);
      expect(b.reduce((n, f) => n + f.size, 0)).toBeLessThanOrEqual(DATASET_LIMITS.batchMaxBytes);
    }
    expect(fake.batches.length).toBeLessThan(10);
    for (const [p, b] of Object.entries(files)) expect(Buffer.compare(fake.blobs.get(sha(b))!, b), p).toBe(0);
  });

  it("uploads a batch directly, refusing all of it when one blob does not match its hash", async () => {
    const a = Buffer.from("batch a");
    const b = Buffer.alloc(0);
    expect(await cairn.datasets.uploadBlobs("d", [{ sha256: sha(a), open: () => Readable.from([a]) }, { sha256: sha(b), open: () => Readable.from([]) }])).toEqual({ stored: 2, existed: 0, bytes: a.length });
    expect(fake.blobs.get(sha(b))).toEqual(b);
    const c = Buffer.from("batch c");
    await expect(cairn.datasets.uploadBlobs("d", [{ sha256: sha(c), open: () => Readable.from([c]) }, { sha256: sha(a), open: () => Readable.from([Buffer.from("not a")]) }])).rejects.toMatchObject({ code: "CHECKSUM_MISMATCH" });
    expect(fake.blobs.has(sha(c))).toBe(false);
    await expect(cairn.datasets.uploadBlobs("d", [{ sha256: "nope", open: () => Readable.from([c]) }])).rejects.toMatchObject({ code: "INVALID_PARAMETER_VALUE" });
    await expect(cairn.datasets.uploadBlobs("d", [{ sha256: sha(c), open: () => fs.createReadStream(path.join(tmp, "gone.txt")), label: "gone.txt" }])).rejects.toMatchObject({ code: "RESOURCE_DOES_NOT_EXIST", message: expect.stringContaining("gone.txt") });
  });

  it("materializes through the cache (paged manifest), with modes, and reuses cached blobs", async () => {
    const files = { "x/a.bin": randomBytes(70_000), "x/b.bin": randomBytes(10), "c.txt": Buffer.from("c"), "same.txt": Buffer.from("c"), "empty": Buffer.alloc(0) };
    await upload("ds", files);
    const cacheDir = path.join(tmp, "cache");
    const out = path.join(tmp, "out");
    const r = await cairn.datasets.materialize("ds@v1", out, { cacheDir });
    expect(r).toMatchObject({ files: 5, downloaded: 4, fromCache: 1, bytes: 70_012 });
    for (const [p, b] of Object.entries(files)) expect(Buffer.compare(fs.readFileSync(path.join(out, p)), b), p).toBe(0);
    expect(fs.statSync(path.join(out, "c.txt")).mode & 0o777).toBe(0o644);
    expect(fs.statSync(cachedBlobPath(cacheDir, sha(files["c.txt"]))).mode & 0o777).toBe(0o444);
    // No temp files are left behind.
    expect(fs.readdirSync(out).filter((n) => n.includes(".cairn-"))).toEqual([]);

    const out2 = path.join(tmp, "out2");
    const r2 = await cairn.datasets.materialize("datasets:/ds", out2, { cacheDir, link: "hardlink" });
    expect(r2).toMatchObject({ files: 5, downloaded: 0, fromCache: 5 });
    expect(fs.statSync(path.join(out2, "x/a.bin")).ino).toBe(fs.statSync(cachedBlobPath(cacheDir, sha(files["x/a.bin"]))).ino);
    const r3 = await cairn.datasets.materialize("ds@1", path.join(tmp, "out3"), { cacheDir, link: "copy" });
    expect(r3.fromCache).toBe(5);
    // Duplicates within one page share a download too.
    fake.setPageSize(100);
    const r4 = await cairn.datasets.materialize("ds", path.join(tmp, "out4"), { cacheDir: path.join(tmp, "cache4") });
    expect(r4).toMatchObject({ downloaded: 4, fromCache: 1 });
  });

  it("refuses a corrupt blob with CHECKSUM_MISMATCH and caches and places nothing for it", async () => {
    const good = Buffer.from("good bytes");
    await upload("ds", { "f.txt": good });
    fake.blobs.set(sha(good), Buffer.from("evil bytes"));
    const cacheDir = path.join(tmp, "cache");
    const out = path.join(tmp, "out");
    await expect(cairn.datasets.materialize("ds@v1", out, { cacheDir })).rejects.toMatchObject({ code: "CHECKSUM_MISMATCH", message: expect.stringContaining(sha(good)) });
    expect(fs.existsSync(path.join(out, "f.txt"))).toBe(false);
    expect(fs.existsSync(cachedBlobPath(cacheDir, sha(good)))).toBe(false);
    expect(fs.readdirSync(path.dirname(cachedBlobPath(cacheDir, sha(good))))).toEqual([]);
  });

  it("copies file:// external entries checking their hash and refuses s3:// without fetchExternal", async () => {
    const ext = path.join(tmp, "ext.csv");
    fs.writeFileSync(ext, "a,b\n1,2\n");
    await cairn.datasets.getOrCreate("ext");
    await cairn.datasets.createVersion("ext", { files: [{ path: "ext.csv", size: 8, sha256: sha(fs.readFileSync(ext)), uri: `file://${ext}` }] });
    const r = await cairn.datasets.materialize("ext", path.join(tmp, "o"), { cacheDir: path.join(tmp, "c") });
    expect(r).toMatchObject({ files: 1, external: 1, downloaded: 0 });
    fs.writeFileSync(ext, "a,b\n1,3\n");
    await expect(cairn.datasets.materialize("ext", path.join(tmp, "o2"), { cacheDir: path.join(tmp, "c") })).rejects.toMatchObject({ code: "CHECKSUM_MISMATCH" });

    await cairn.datasets.createVersion("ext", { files: [{ path: "s.bin", size: 3, etag: "abc", uri: "s3://bucket/s.bin" }] });
    await expect(cairn.datasets.materialize("ext@v2", path.join(tmp, "o3"))).rejects.toMatchObject({ code: "INVALID_PARAMETER_VALUE", message: expect.stringContaining("fetchExternal") });
    const r3 = await cairn.datasets.materialize("ext@v2", path.join(tmp, "o4"), { cacheDir: path.join(tmp, "c"), fetchExternal: async () => Readable.from([Buffer.from("xyz")]) });
    expect(r3.external).toBe(1);
    expect(fs.readFileSync(path.join(tmp, "o4/s.bin"), "utf8")).toBe("xyz");
  });

  /** Adds a version with these raw manifest entries straight into the fake (as a malicious or corrupt server would serve it). */
  function rawVersion(name: string, files: FakeVersion["files"]): void {
    const d = fake.datasets.get(name) ?? { dataset: { name, description: "", tags: {}, createdAt: 1, updatedAt: 1, latestVersion: 0, versionCount: 0, expectations: [] }, versions: [] };
    fake.datasets.set(name, d);
    const number = d.versions.length + 1;
    const version = { id: randomUUID(), dataset: name, number, digest: "d".repeat(64), message: "", author: "me", createdAt: 1, fileCount: files.length, totalBytes: files.reduce((n, f) => n + f.size, 0), externalCount: 0, tags: [], validation: { status: "none", checkedAt: 0, results: [] } };
    d.versions.push({ version, files });
    d.dataset.latestVersion = number;
  }

  it("refuses manifest entries whose sha256 or path would escape the cache or the target, writing nothing outside them", async () => {
    const secret = path.join(tmp, "secret");
    fs.writeFileSync(secret, "top secret key");
    const cacheDir = path.join(tmp, "cache");
    const out = path.join(tmp, "out");
    // cacheDir/blobs/sha256/<first two characters: "..">/../../secret = tmp/secret: before the fix, a "cache hit" of the right size.
    const hit = "../../secret";
    expect(path.resolve(cacheDir, "blobs", "sha256", hit.slice(0, 2), hit)).toBe(secret);
    rawVersion("evil", [{ path: "stolen.txt", size: 14, mode: 0o644, sha256: hit }]);
    await expect(cairn.datasets.materialize("evil@v1", out, { cacheDir, link: "hardlink" })).rejects.toMatchObject({ code: "INVALID_PARAMETER_VALUE", message: expect.stringContaining("stolen.txt") });
    expect(fs.existsSync(path.join(out, "stolen.txt"))).toBe(false);
    // A miss would have created directories (and a temp file) wherever the hash pointed.
    rawVersion("evil", [{ path: "a.txt", size: 3, mode: 0o644, sha256: "../../evil/dir/x" }]);
    await expect(cairn.datasets.materialize("evil@v2", out, { cacheDir })).rejects.toMatchObject({ code: "INVALID_PARAMETER_VALUE", message: expect.stringContaining("a.txt") });
    expect(fs.existsSync(path.join(tmp, "..", "evil"))).toBe(false);
    expect(fs.existsSync(path.join(tmp, "evil"))).toBe(false);
    // Upper-case or short hashes, bad paths, bad URIs and stored files without a hash are refused too, by files() as well.
    for (const bad of [
      { path: "u.txt", size: 1, mode: 0o644, sha256: "A".repeat(64) },
      { path: "../up.txt", size: 1, mode: 0o644, sha256: "a".repeat(64) },
      { path: "a/./b.txt", size: 1, mode: 0o644, sha256: "a".repeat(64) },
      { path: "/abs.txt", size: 1, mode: 0o644, sha256: "a".repeat(64) },
      { path: "nohash.txt", size: 1, mode: 0o644 },
      { path: "web.txt", size: 1, mode: 0o644, sha256: "a".repeat(64), uri: "http://example.com/x" },
    ]) {
      rawVersion("bad", [bad]);
      const ref = `v${fake.datasets.get("bad")!.versions.length}`;
      await expect(cairn.datasets.materialize(`bad@${ref}`, out, { cacheDir }), bad.path).rejects.toMatchObject({ code: "INVALID_PARAMETER_VALUE" });
      await expect((async () => { for await (const _ of cairn.datasets.files("bad", ref)); })(), bad.path).rejects.toMatchObject({ code: "INVALID_PARAMETER_VALUE" });
    }
    expect(() => cachedBlobPath(cacheDir, hit)).toThrow(/SHA-256/);
    // Nothing at all outside out/ and cache/: only the secret and those two directories (if any) in tmp.
    expect(fs.readdirSync(tmp).sort()).toEqual(fs.readdirSync(tmp).filter((n) => ["cache", "out", "secret"].includes(n)).sort());
    expect(fs.readdirSync(out)).toEqual([]);
    expect(fs.readFileSync(secret, "utf8")).toBe("top secret key");
  });

  it("re-verifies cache hits: a tampered cached blob (same size) is detected, replaced and re-downloaded", async () => {
    const good = randomBytes(5000);
    const other = Buffer.from("other file");
    await upload("ds", { "f.bin": good, "dup.bin": good, "o.txt": other });
    const cacheDir = path.join(tmp, "cache");
    const out1 = path.join(tmp, "out1");
    expect(await cairn.datasets.materialize("ds@v1", out1, { cacheDir, link: "hardlink" })).toMatchObject({ downloaded: 2, fromCache: 1 });
    const cached = cachedBlobPath(cacheDir, sha(good));
    expect(fs.statSync(path.join(out1, "f.bin")).ino).toBe(fs.statSync(cached).ino);
    // An in-place write through the hard link (after a chmod) corrupts the cached blob: same size, other bytes.
    const placed = fs.statSync(path.join(out1, "f.bin")).ino === fs.statSync(path.join(out1, "dup.bin")).ino ? "f.bin" : "dup.bin";
    fs.chmodSync(path.join(out1, placed), 0o644);
    const fd = fs.openSync(path.join(out1, placed), "r+");
    fs.writeSync(fd, Buffer.from("EVIL"), 0, 4, 100);
    fs.closeSync(fd);
    expect(fs.statSync(cached).size).toBe(good.length);
    expect(sha(fs.readFileSync(cached))).not.toBe(sha(good));

    const out2 = path.join(tmp, "out2");
    // One page of two entries, then one more: the tampered blob appears on the first page twice.
    const r = await cairn.datasets.materialize("ds@v1", out2, { cacheDir, link: "hardlink" });
    expect(r).toMatchObject({ files: 3, downloaded: 1, fromCache: 2 });
    for (const p of ["f.bin", "dup.bin"]) expect(Buffer.compare(fs.readFileSync(path.join(out2, p)), good), p).toBe(0);
    expect(fs.readFileSync(path.join(out2, "o.txt"))).toEqual(other);
    expect(sha(fs.readFileSync(cached))).toBe(sha(good));
    expect(fs.statSync(cached).mode & 0o777).toBe(0o444);
    // The fresh cache file is a new inode: the altered file in out1 keeps its own bytes, out2 shares the good one.
    expect(fs.statSync(path.join(out2, "f.bin")).ino).toBe(fs.statSync(cached).ino);
    expect(fs.statSync(path.join(out1, placed)).ino).not.toBe(fs.statSync(cached).ino);
    expect(fs.readdirSync(path.dirname(cached)).filter((n) => n.includes(".cairn-"))).toEqual([]);

    // A plain copy-mode cache hit is verified too.
    fs.chmodSync(cached, 0o644);
    fs.writeFileSync(cached, Buffer.alloc(good.length, 7));
    const out3 = path.join(tmp, "out3");
    expect(await cairn.datasets.materialize("ds@v1", out3, { cacheDir, link: "copy" })).toMatchObject({ downloaded: 1, fromCache: 2 });
    expect(Buffer.compare(fs.readFileSync(path.join(out3, "f.bin")), good)).toBe(0);
    // An intact cache is still used as is.
    expect(await cairn.datasets.materialize("ds@v1", path.join(tmp, "out4"), { cacheDir })).toMatchObject({ downloaded: 0, fromCache: 3 });
  });

  it("refuses a file:// external entry without sha256 instead of trusting its size", async () => {
    const local = path.join(tmp, "private.key");
    fs.writeFileSync(local, "0123456789");
    rawVersion("ext", [{ path: "k.txt", size: 10, mode: 0o644, etag: "x", uri: `file://${local}` } as FakeVersion["files"][number]]);
    const out = path.join(tmp, "o");
    await expect(cairn.datasets.materialize("ext@v1", out, { cacheDir: path.join(tmp, "c") })).rejects.toMatchObject({ code: "INVALID_PARAMETER_VALUE", message: expect.stringContaining("k.txt") });
    expect(fs.existsSync(path.join(out, "k.txt"))).toBe(false);
    expect(fs.readdirSync(out)).toEqual([]);
  });

  it("use() records the version as the run's input (explicit run, CAIRN_RUN_ID, or none)", async () => {
    await upload("ds", { "a.txt": Buffer.from("a") });
    const v = await cairn.datasets.use("ds@v1", path.join(tmp, "u"), { cacheDir: path.join(tmp, "c"), run: "run1", context: "training" });
    expect(v.number).toBe(1);
    expect(fake.links).toEqual([{ run: "run1", dataset: "ds", version: "v1", direction: "input", context: "training" }]);
    process.env.CAIRN_RUN_ID = "run2";
    try {
      await cairn.datasets.use("ds", path.join(tmp, "u"), { cacheDir: path.join(tmp, "c") });
      await cairn.datasets.use("ds", path.join(tmp, "u"), { cacheDir: path.join(tmp, "c"), run: false });
    } finally {
      delete process.env.CAIRN_RUN_ID;
    }
    expect(fake.links).toHaveLength(2);
    expect(fake.links[1]).toMatchObject({ run: "run2" });
  });

  it("copyVersion sends only missing blobs, keeps the id, and is idempotent", async () => {
    const other = await startFake();
    try {
      const target = new Cairn({ url: other.url, retry: { retries: 0 }, handleExit: false });
      const shared = Buffer.from("shared");
      await upload("ds", { "a.txt": shared, "b.txt": Buffer.from("only here"), "c.txt": Buffer.from("third") });
      await upload("ds", { "a.txt": shared }, target);
      const res = await copyVersion(cairn, target, "ds", "latest");
      expect(res).toMatchObject({ existed: false, datasetCreated: false, blobsSent: 2, blobsSkipped: 1 });
      const src = fake.datasets.get("ds")!.versions[0]!.version;
      expect(res.version).toMatchObject({ id: src.id, number: 2, createdAt: src.createdAt, author: src.author });
      const again = await copyVersion(cairn, target, "ds", "v1");
      expect(again).toMatchObject({ existed: true, blobsSent: 0 });
      expect(other.datasets.get("ds")!.versions).toHaveLength(2);
      // A corrupt source blob is refused by the target.
      const bad = Buffer.from("will rot");
      await upload("rot", { "r.txt": bad });
      fake.blobs.set(sha(bad), Buffer.from("rotten!!"));
      await expect(copyVersion(cairn, target, "rot", "v1")).rejects.toMatchObject({ code: "CHECKSUM_MISMATCH" });
    } finally {
      await other.close();
    }
  });
});
