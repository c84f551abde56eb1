import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { isCairnError } from "@cairn/contract";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeBlobStore, generatedStream } from "./blob-store.suite.js";
import { LOCAL_TEMP_FILE, LocalBlobStore } from "./local-blob-store.js";

async function codeOf(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => "resolved",
    (e: unknown) => (isCairnError(e) ? e.code : e),
  );
}

describeBlobStore("LocalBlobStore", async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "cairn-blob-"));
  return { store: new LocalBlobStore(path.join(dir, "root")), cleanup: () => fs.rm(dir, { recursive: true, force: true }) };
});

describe("LocalBlobStore specifics", () => {
  let dir: string;
  let root: string;
  let outside: string;
  let store: LocalBlobStore;

  beforeAll(async () => {
    dir = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), "cairn-blob-local-")));
    root = path.join(dir, "not", "yet", "there");
    outside = path.join(dir, "outside");
    await fs.mkdir(outside);
    await fs.writeFile(path.join(outside, "secret.txt"), "secret");
    store = new LocalBlobStore(root);
  });
  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("creates the root and names it with a file:// URI", async () => {
    await store.put("x.txt", "x");
    expect((await fs.stat(root)).isDirectory()).toBe(true);
    expect(store.uri).toBe(pathToFileURL(root).href);
  });

  it("streams into a hidden temp file beside the target, then renames it into place", async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let reachedHold!: () => void;
    const atHold = new Promise<void>((r) => (reachedHold = r));
    const body = generatedStream({
      size: 4 * 1024 * 1024,
      chunkSize: 512 * 1024,
      beforeChunk: async (produced) => {
        if (produced === 2 * 1024 * 1024) {
          reachedHold();
          await held;
        }
      },
    });
    const pending = store.put("slow/file.bin", body.stream);
    await atHold;
    // Half the body is already on disk while the stream is still open: it is not buffered.
    const names = await fs.readdir(path.join(root, "slow"));
    expect(names).toHaveLength(1);
    const tmp = names[0] ?? "";
    expect(tmp).toMatch(LOCAL_TEMP_FILE);
    expect(tmp.startsWith(".file.bin.")).toBe(true);
    await expect.poll(async () => (await fs.stat(path.join(root, "slow", tmp))).size).toBeGreaterThanOrEqual(1024 * 1024);
    expect(await store.stat("slow/file.bin")).toBeUndefined();
    expect(await store.list("slow")).toEqual([]);
    release();
    expect(await pending).toEqual({ size: 4 * 1024 * 1024 });
    expect(await fs.readdir(path.join(root, "slow"))).toEqual(["file.bin"]);
  });

  it("removes the temp file when the body fails", async () => {
    const boom = new Error("boom");
    await expect(store.put("failing/f.bin", generatedStream({ size: 1024 * 1024, failWith: boom }).stream)).rejects.toBe(boom);
    expect(await fs.readdir(path.join(root, "failing"))).toEqual([]);
  });

  it("does not follow symlinks out of the root", async () => {
    await fs.symlink(outside, path.join(root, "link-dir"));
    await fs.symlink(path.join(outside, "secret.txt"), path.join(root, "link-file.txt"));
    expect(await codeOf(store.get("link-dir/secret.txt"))).toBe("INVALID_PARAMETER_VALUE");
    expect(await codeOf(store.get("link-file.txt"))).toBe("INVALID_PARAMETER_VALUE");
    expect(await codeOf(store.stat("link-dir"))).toBe("INVALID_PARAMETER_VALUE");
    expect(await codeOf(store.list("link-dir"))).toBe("INVALID_PARAMETER_VALUE");
    expect(await codeOf(store.put("link-dir/planted.txt", "x"))).toBe("INVALID_PARAMETER_VALUE");
    expect(await codeOf(store.put("link-dir/new/deeper.txt", "x"))).toBe("INVALID_PARAMETER_VALUE");
    expect(await codeOf(store.delete("link-dir"))).toBe("INVALID_PARAMETER_VALUE");
    expect((await fs.readdir(outside)).sort()).toEqual(["secret.txt"]);
    // The listing leaves out links that lead outside.
    expect((await store.list("")).map((e) => e.path)).not.toContain("link-dir");
    // Overwriting a symlinked key replaces the link, never the file it points to.
    await store.put("link-file.txt", "replaced");
    expect(await fs.readFile(path.join(outside, "secret.txt"), "utf8")).toBe("secret");
    expect((await fs.lstat(path.join(root, "link-file.txt"))).isSymbolicLink()).toBe(false);
  });

  it("follows symlinks that stay inside the root", async () => {
    await store.put("real/inner.txt", "inner");
    await fs.symlink(path.join(root, "real"), path.join(root, "alias"));
    expect(await store.stat("alias/inner.txt")).toEqual({ isDir: false, size: 5 });
    expect(await store.list("")).toContainEqual({ path: "alias", isDir: true });
  });

  it("refuses a file over a directory and a file under a file", async () => {
    await store.put("conflict/dir/f.txt", "f");
    await store.put("conflict/file.txt", "f");
    expect(await codeOf(store.put("conflict/dir", "x"))).toBe("INVALID_PARAMETER_VALUE");
    expect(await codeOf(store.put("conflict/file.txt/child.txt", "x"))).toBe("INVALID_PARAMETER_VALUE");
    expect(await fs.readdir(path.join(root, "conflict", "dir"))).toEqual(["f.txt"]);
  });

  it("ignores stale temp files in listings", async () => {
    await store.put("stale/a.txt", "a");
    await fs.writeFile(path.join(root, "stale", ".a.txt.0123456789abcdef.tmp"), "partial");
    expect(await store.list("stale")).toEqual([{ path: "a.txt", isDir: false, size: 1 }]);
  });
});
