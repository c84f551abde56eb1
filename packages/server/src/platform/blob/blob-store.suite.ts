import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { isCairnError } from "@cairn/contract";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BlobStore } from "./blob-store.js";

/** What a backend's test file hands to `describeBlobStore`. */
export interface BlobStoreFixture {
  store: BlobStore;
  cleanup(): Promise<void>;
}

/** Options for `generatedStream`. */
export interface GeneratedStreamOptions {
  /** Total bytes to produce. */
  size: number;
  /** Bytes per chunk (default 256 KiB). */
  chunkSize?: number;
  /** Destroy the stream with this error once `size` bytes were produced, instead of ending it. */
  failWith?: Error;
  /** Awaited before producing each chunk, to slow the stream down or hold it at a point. */
  beforeChunk?: (produced: number) => Promise<void> | void;
}

/**
 * A stream of `size` random bytes, produced on demand (never held whole), with the sha256 of
 * everything it produced available once it ends.
 */
export function generatedStream(opts: GeneratedStreamOptions): { stream: Readable; sha256: () => string } {
  const chunkSize = opts.chunkSize ?? 256 * 1024;
  const hash = createHash("sha256");
  let produced = 0;
  let digest: string | undefined;
  const stream = new Readable({
    read() {
      void (async () => {
        if (opts.beforeChunk) await opts.beforeChunk(produced);
        if (produced >= opts.size) {
          if (opts.failWith) {
            this.destroy(opts.failWith);
          } else {
            this.push(null);
          }
          return;
        }
        const chunk = randomBytes(Math.min(chunkSize, opts.size - produced));
        produced += chunk.length;
        hash.update(chunk);
        this.push(chunk);
      })().catch((e: unknown) => this.destroy(e as Error));
    },
  });
  return { stream, sha256: () => (digest ??= hash.digest("hex")) };
}

/** Reads a stream to its end, returning its sha256 and byte count (never buffering it whole). */
export async function hashStream(stream: Readable): Promise<{ sha256: string; size: number }> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of stream) {
    const buf = chunk as Buffer;
    hash.update(buf);
    size += buf.length;
  }
  return { sha256: hash.digest("hex"), size };
}

async function readText(store: BlobStore, key: string): Promise<string> {
  const { stream } = await store.get(key);
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts).toString("utf8");
}

async function expectCode(p: Promise<unknown>, code: string): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected CairnError ${code}`).toBeDefined();
  expect(isCairnError(err) ? err.code : err).toBe(code);
}

let forcedGc: (() => void) | undefined;

/**
 * Live heap + ArrayBuffer bytes after forcing GC and letting V8's background sweeper catch up,
 * so freed buffers are not counted.
 */
async function settledLiveMemory(): Promise<number> {
  if (!forcedGc) {
    setFlagsFromString("--expose-gc");
    forcedGc = runInNewContext("gc") as () => void;
  }
  for (let i = 0; i < 3; i++) {
    forcedGc();
    await new Promise((r) => setTimeout(r, 30));
  }
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

const HOSTILE_KEYS = [
  "",
  "../escape.txt",
  "a/../../escape.txt",
  "a/./b.txt",
  "..",
  "/etc/passwd",
  "a//b.txt",
  "a/",
  "a\\..\\b.txt",
  "C:/windows/win.ini",
  "a/%2e%2e/b.txt",
  "a/%2E%2E%2Fb",
  "a%00.txt",
  "a/\u0000b",
  "a/b\nc",
  "a/\uff0e\uff0e/b.txt",
  "a/\u2025/b.txt",
];

const MiB = 1024 * 1024;

/**
 * The shared behaviour tests every `BlobStore` backend must pass. `make` is called once, in
 * `beforeAll`; each test works under its own key prefix.
 */
export function describeBlobStore(name: string, make: () => Promise<BlobStoreFixture>): void {
  describe(`BlobStore contract: ${name}`, () => {
    let fixture: BlobStoreFixture;
    let store: BlobStore;

    beforeAll(async () => {
      fixture = await make();
      store = fixture.store;
    });
    afterAll(async () => {
      await fixture?.store.close();
      await fixture?.cleanup();
    });

    it("puts, gets and stats a string and a Buffer", async () => {
      expect(await store.put("basic/hello.txt", "hello, world")).toEqual({ size: 12 });
      expect(await store.put("basic/bytes.bin", Buffer.from([0, 1, 2, 255]))).toEqual({ size: 4 });
      expect(await readText(store, "basic/hello.txt")).toBe("hello, world");
      const { stream, size } = await store.get("basic/bytes.bin");
      expect(size).toBe(4);
      const parts: Buffer[] = [];
      for await (const c of stream) parts.push(c as Buffer);
      expect([...Buffer.concat(parts)]).toEqual([0, 1, 2, 255]);
      expect(await store.stat("basic/hello.txt")).toEqual({ isDir: false, size: 12 });
      expect(await store.stat("basic")).toEqual({ isDir: true });
      expect(store.uri).toMatch(/^(file|s3):\/\//);
    });

    it("round-trips unusual but safe names", async () => {
      const key = "odd/sp ace/ünï cödé+&=;@,'()[]{}~!$%20x.txt";
      await store.put(key, "ok");
      expect(await readText(store, key)).toBe("ok");
      expect(await store.list("odd/sp ace")).toEqual([{ path: "ünï cödé+&=;@,'()[]{}~!$%20x.txt", isDir: false, size: 2 }]);
    });

    it("lists immediate children of nested directories, sorted, with sizes", async () => {
      await store.put("tree/b.txt", "bb");
      await store.put("tree/a/deep/x.txt", "x");
      await store.put("tree/a/y.txt", "yyy");
      await store.put("tree/c/z.txt", "z");
      await store.put("tree/A.txt", "");
      expect(await store.list("tree")).toEqual([
        { path: "A.txt", isDir: false, size: 0 },
        { path: "a", isDir: true },
        { path: "b.txt", isDir: false, size: 2 },
        { path: "c", isDir: true },
      ]);
      expect(await store.list("tree/a")).toEqual([
        { path: "deep", isDir: true },
        { path: "y.txt", isDir: false, size: 3 },
      ]);
      expect(await store.list("tree/a/deep")).toEqual([{ path: "x.txt", isDir: false, size: 1 }]);
      expect((await store.list("")).map((e) => e.path)).toContain("tree");
      expect(await store.stat("tree/a/deep")).toEqual({ isDir: true });
      expect(await store.list("tree/b.txt")).toEqual([]);
      expect(await store.list("tree/missing")).toEqual([]);
    });

    it("overwrites a key", async () => {
      await store.put("over/k.txt", "first version, longer");
      expect(await store.put("over/k.txt", "second")).toEqual({ size: 6 });
      expect(await readText(store, "over/k.txt")).toBe("second");
      expect(await store.stat("over/k.txt")).toEqual({ isDir: false, size: 6 });
      expect(await store.list("over")).toEqual([{ path: "k.txt", isDir: false, size: 6 }]);
    });

    it("stores an empty file, from a string and from an empty stream", async () => {
      expect(await store.put("empty/s.txt", "")).toEqual({ size: 0 });
      expect(await store.put("empty/r.txt", Readable.from([]))).toEqual({ size: 0 });
      for (const key of ["empty/s.txt", "empty/r.txt"]) {
        const { stream, size } = await store.get(key);
        expect(size).toBe(0);
        expect((await hashStream(stream)).size).toBe(0);
        expect(await store.stat(key)).toEqual({ isDir: false, size: 0 });
      }
    });

    it("streams a 64 MiB body in and out without holding it in memory", async () => {
      // Memory is measured while the stream is held open near its end: a store that buffered
      // the body would hold 48–64 MiB then, a streaming one a few parts (S3: about 15 MiB).
      const size = 64 * MiB;
      const baseline = await settledLiveMemory();
      let putGrowth = 0;
      const body = generatedStream({
        size,
        chunkSize: MiB,
        beforeChunk: async (produced) => {
          if (produced === 48 * MiB || produced === size) {
            putGrowth = Math.max(putGrowth, (await settledLiveMemory()) - baseline);
          }
        },
      });
      expect(await store.put("big/blob.bin", body.stream)).toEqual({ size });
      expect(putGrowth).toBeLessThan(32 * MiB);

      const { stream, size: reported } = await store.get("big/blob.bin");
      expect(reported).toBe(size);
      const hash = createHash("sha256");
      let read = 0;
      let getGrowth = 0;
      for await (const chunk of stream) {
        const buf = chunk as Buffer;
        if (read < 32 * MiB && read + buf.length >= 32 * MiB) {
          // Give a buffering reader time to pull everything before measuring.
          await new Promise((r) => setTimeout(r, 100));
          getGrowth = (await settledLiveMemory()) - baseline;
        }
        hash.update(buf);
        read += buf.length;
      }
      expect(read).toBe(size);
      expect(hash.digest("hex")).toBe(body.sha256());
      expect(getGrowth).toBeLessThan(32 * MiB);
      await store.delete("big");
    });

    it("readers see the old content while a new one is being written", async () => {
      await store.put("atomic/k.bin", "old");
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      let reachedHold!: () => void;
      const atHold = new Promise<void>((r) => (reachedHold = r));
      const body = generatedStream({
        size: 2 * MiB,
        chunkSize: 256 * 1024,
        beforeChunk: async (produced) => {
          if (produced === MiB) {
            reachedHold();
            await held;
          }
        },
      });
      const pending = store.put("atomic/k.bin", body.stream);
      await atHold;
      expect(await readText(store, "atomic/k.bin")).toBe("old");
      expect(await store.stat("atomic/k.bin")).toEqual({ isDir: false, size: 3 });
      expect(await store.list("atomic")).toEqual([{ path: "k.bin", isDir: false, size: 3 }]);
      release();
      expect(await pending).toEqual({ size: 2 * MiB });
      const { stream } = await store.get("atomic/k.bin");
      expect((await hashStream(stream)).sha256).toBe(body.sha256());
    });

    it("a failing source stream leaves nothing behind and keeps the old content", async () => {
      const boom = new Error("client went away");
      // 7 MiB: past one 5 MiB part, so an S3 multipart upload has really started.
      const fresh = generatedStream({ size: 7 * MiB, chunkSize: MiB, failWith: boom });
      await expect(store.put("fail/new.bin", fresh.stream)).rejects.toBe(boom);
      expect(await store.stat("fail/new.bin")).toBeUndefined();
      expect(await store.list("fail")).toEqual([]);
      await expectCode(store.get("fail/new.bin"), "RESOURCE_DOES_NOT_EXIST");

      await store.put("fail/old.bin", "keep me");
      const over = generatedStream({ size: 64 * 1024, failWith: boom });
      await expect(store.put("fail/old.bin", over.stream)).rejects.toBe(boom);
      expect(await readText(store, "fail/old.bin")).toBe("keep me");
      expect(await store.list("fail")).toEqual([{ path: "old.bin", isDir: false, size: 7 }]);
    });

    it("reports missing keys", async () => {
      await expectCode(store.get("missing/nope.txt"), "RESOURCE_DOES_NOT_EXIST");
      expect(await store.stat("missing/nope.txt")).toBeUndefined();
      expect(await store.list("missing")).toEqual([]);
      await store.delete("missing/nope.txt");
      await store.put("missing/dir/file.txt", "x");
      await expectCode(store.get("missing/dir"), "RESOURCE_DOES_NOT_EXIST");
    });

    it("deletes a file, and a directory recursively without touching siblings", async () => {
      await store.put("del/one.txt", "1");
      await store.put("del/dir/a.txt", "a");
      await store.put("del/dir/sub/b.txt", "b");
      await store.put("del/dir.txt", "sibling sharing the name prefix");
      await store.put("del/dirx/c.txt", "c");

      await store.delete("del/one.txt");
      expect(await store.stat("del/one.txt")).toBeUndefined();

      await store.delete("del/dir");
      expect(await store.stat("del/dir/a.txt")).toBeUndefined();
      expect(await store.stat("del/dir/sub/b.txt")).toBeUndefined();
      expect(await store.list("del/dir")).toEqual([]);
      expect(await readText(store, "del/dir.txt")).toBe("sibling sharing the name prefix");
      expect(await readText(store, "del/dirx/c.txt")).toBe("c");
      const names = (await store.list("del")).map((e) => e.path);
      expect(names).toEqual(expect.arrayContaining(["dir.txt", "dirx"]));
      expect(names).not.toContain("one.txt");
    });

    it("rejects hostile keys on every operation", async () => {
      for (const key of HOSTILE_KEYS) {
        await expectCode(store.put(key, "x"), "INVALID_PARAMETER_VALUE");
        await expectCode(store.get(key), "INVALID_PARAMETER_VALUE");
        await expectCode(store.stat(key), "INVALID_PARAMETER_VALUE");
        await expectCode(store.delete(key), "INVALID_PARAMETER_VALUE");
        if (key !== "") await expectCode(store.list(key), "INVALID_PARAMETER_VALUE");
      }
    });
  });
}
