import { randomBytes, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isCairnError, type FileProfile, type ManifestEntry, type ValidationReport } from "@cairn/contract";
import type { DatasetStore, NewVersion } from "./dataset-store.js";

const sha = (s: string) => Buffer.from(s.padEnd(32, "0")).toString("hex").slice(0, 64).padEnd(64, "0");
const none: ValidationReport = { status: "none", checkedAt: 1, results: [] };

async function code(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    if (isCairnError(e)) return e.code;
    throw e;
  }
}

/**
 * The one behavioural suite every DatasetStore implementation must pass (SQLite, PostgreSQL).
 * @example describeDatasetStore("sqlite", () => storeOn(sqliteTestDb, createDatasetStore))
 */
export function describeDatasetStore(name: string, makeStore: () => Promise<{ store: DatasetStore; cleanup(): Promise<void> }>): void {
  describe(`DatasetStore (${name})`, () => {
    let store: DatasetStore;
    let cleanup: () => Promise<void>;
    const tag = randomBytes(3).toString("hex");
    let seq = 0;
    const uniq = (p: string) => `${p}-${tag}-${++seq}`;

    beforeAll(async () => {
      ({ store, cleanup } = await makeStore());
    });
    afterAll(async () => {
      await store?.close();
      await cleanup?.();
    });

    const newDataset = (n = uniq("ds"), tags: Record<string, string> = {}) => store.createDataset({ name: n, description: "d", tags, expectations: [], time: 1000 });
    const version = (n: string, over: Partial<NewVersion> = {}): NewVersion => ({ id: randomUUID(), name: n, project: "p", digest: randomBytes(32).toString("hex"), message: "m", author: "ada", createdAt: 2000, validation: none, tags: [], ...over });
    const file = (path: string, content = path): ManifestEntry => ({ path, size: content.length, mode: 0o644, sha256: sha(content) });
    const record = async (...files: ManifestEntry[]) => {
      for (const f of files) if (f.sha256) await store.recordBlob(f.sha256, f.size, "p", 1000);
    };

    it("creates, gets, searches and refuses duplicate datasets", async () => {
      const a = await newDataset(undefined, { "cairn.project": "p1" });
      expect(a).toMatchObject({ description: "d", latestVersion: 0, versionCount: 0, tags: { "cairn.project": "p1" } });
      expect(await code(newDataset(a.name))).toBe("RESOURCE_ALREADY_EXISTS");
      expect(await store.getDataset("nope")).toBeUndefined();
      const b = await newDataset(`${tag}-under_score`);
      const hits = await store.searchDatasets({ q: tag.toUpperCase(), limit: 100 });
      expect(hits.map((d) => d.name)).toEqual([a.name, b.name].sort());
      expect((await store.searchDatasets({ q: "_", limit: 100 })).map((d) => d.name)).toContain(b.name);
      expect((await store.searchDatasets({ q: `${tag}-`, projects: ["p1"], limit: 100 })).map((d) => d.name)).toEqual([a.name]);
      expect((await store.searchDatasets({ q: tag, projects: ["default"], limit: 100 })).map((d) => d.name)).toEqual([b.name]);
      expect(await store.searchDatasets({ q: tag, projects: [], limit: 100 })).toEqual([]);
      const page1 = await store.searchDatasets({ q: tag, limit: 1 });
      const page2 = await store.searchDatasets({ q: tag, limit: 1, after: page1[0]!.name });
      expect([...page1, ...page2].map((d) => d.name)).toEqual([a.name, b.name].sort());
    });

    it("numbers versions per dataset and writes their files atomically", async () => {
      const d = await newDataset();
      const files = [file("a.csv"), file("dir/b.txt"), file("dir_x/c.txt"), { path: "ext.parquet", size: 10, mode: 0o644, uri: "s3://bucket/k", etag: "abc" }];
      await record(...files);
      const v1 = await store.createVersion(version(d.name, { tags: ["gold"] }), files);
      expect(v1.created).toBe(true);
      expect(v1.version).toMatchObject({ number: 1, fileCount: 4, totalBytes: 5 + 9 + 11 + 10, externalCount: 1, tags: ["gold"] });
      const v2 = await store.createVersion(version(d.name), [files[0]!]);
      expect(v2.version.number).toBe(2);
      expect(await store.getDataset(d.name)).toMatchObject({ latestVersion: 2, versionCount: 2 });
      expect((await store.listFiles(v1.version.id, { limit: 10 })).map((f) => f.path)).toEqual(["a.csv", "dir/b.txt", "dir_x/c.txt", "ext.parquet"]);
      expect((await store.listFiles(v1.version.id, { limit: 10, prefix: "dir" })).map((f) => f.path)).toEqual(["dir/b.txt"]);
      expect((await store.listFiles(v1.version.id, { limit: 2, after: "a.csv" })).map((f) => f.path)).toEqual(["dir/b.txt", "dir_x/c.txt"]);
      expect(await store.getFile(v1.version.id, "ext.parquet")).toEqual({ path: "ext.parquet", size: 10, mode: 0o644, uri: "s3://bucket/k", etag: "abc" });
      expect((await store.listVersions(d.name, { limit: 10 })).map((v) => v.number)).toEqual([2, 1]);
      expect((await store.listVersions(d.name, { limit: 10, before: 2 })).map((v) => v.number)).toEqual([1]);
    });

    it("refuses a version whose content is not uploaded, leaving nothing behind", async () => {
      const d = await newDataset();
      const ok = file("ok.txt");
      await record(ok);
      const v = version(d.name);
      expect(await code(store.createVersion(v, [ok, file("missing.txt", "never uploaded")]))).toBe("INVALID_STATE");
      expect(await store.getVersionById(v.id)).toBeUndefined();
      expect(await store.getDataset(d.name)).toMatchObject({ latestVersion: 0, versionCount: 0 });
      // The counter rolled back with the transaction: the next version is still 1.
      expect((await store.createVersion(version(d.name), [ok])).version.number).toBe(1);
    });

    it("answers a repeated id as is, refuses it with other content, and checks expectedLatest", async () => {
      const d = await newDataset();
      const f = file("x");
      await record(f);
      const v = version(d.name);
      await store.createVersion(v, [f]);
      const again = await store.createVersion(v, [f]);
      expect(again.created).toBe(false);
      expect(again.version.number).toBe(1);
      expect(await code(store.createVersion({ ...v, digest: "0".repeat(64) }, [f]))).toBe("RESOURCE_ALREADY_EXISTS");
      expect(await code(store.createVersion(version(d.name, { expectedLatest: 0 }), [f]))).toBe("RESOURCE_CONFLICT");
      expect((await store.createVersion(version(d.name, { expectedLatest: 1 }), [f])).version.number).toBe(2);
      expect(await code(store.createVersion(version("no-such-dataset"), [f]))).toBe("RESOURCE_DOES_NOT_EXIST");
    });

    it("lands concurrent creates of one dataset as consecutive versions", async () => {
      const d = await newDataset();
      const f = file("c");
      await record(f);
      const made = await Promise.all(Array.from({ length: 8 }, () => store.createVersion(version(d.name), [f])));
      expect(made.map((m) => m.version.number).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    });

    it("resolves numbers, latest, tags, ids and digest prefixes", async () => {
      const d = await newDataset();
      const f = file("r");
      await record(f);
      const v1 = (await store.createVersion(version(d.name, { digest: `aaaa1111${"0".repeat(56)}` }), [f])).version;
      const v2 = (await store.createVersion(version(d.name, { digest: `aaaa2222${"0".repeat(56)}` }), [f])).version;
      await store.setVersionTag(d.name, "prod", v1.id);
      expect((await store.resolveVersion(d.name, "v1"))?.id).toBe(v1.id);
      expect((await store.resolveVersion(d.name, "2"))?.id).toBe(v2.id);
      expect((await store.resolveVersion(d.name, "latest"))?.id).toBe(v2.id);
      expect((await store.resolveVersion(d.name, "prod"))?.id).toBe(v1.id);
      expect((await store.resolveVersion(d.name, v2.id))?.number).toBe(2);
      expect((await store.resolveVersion(d.name, "aaaa2222"))?.number).toBe(2);
      expect(await code(store.resolveVersion(d.name, "aaaa"))).toBeUndefined();
      expect(await code(store.resolveVersion(d.name, "aaaa0000"))).toBeUndefined();
      expect(await store.resolveVersion(d.name, "v9")).toBeUndefined();
      expect((await store.getVersionById(v1.id))?.tags).toEqual(["prod"]);
      await store.setVersionTag(d.name, "prod", v2.id);
      expect((await store.resolveVersion(d.name, "prod"))?.id).toBe(v2.id);
      await store.deleteVersionTag(d.name, "prod");
      expect(await store.resolveVersion(d.name, "prod")).toBeUndefined();
      expect(await code(store.deleteVersionTag(d.name, "prod"))).toBe("RESOURCE_DOES_NOT_EXIST");
      const v3 = (await store.createVersion(version(d.name, { digest: `aaaa2222${"1".repeat(56)}` }), [f])).version;
      expect(v3.number).toBe(3);
      expect(await code(store.resolveVersion(d.name, "aaaa2222"))).toBe("INVALID_PARAMETER_VALUE");
    });

    it("tracks blobs: missing, touched, and collectable only when unreferenced and out of grace", async () => {
      const d = await newDataset();
      const kept = file("kept", `kept-${tag}`);
      const loose = file("loose", `loose-${tag}`);
      const fresh = file("fresh", `fresh-${tag}`);
      expect((await store.missingBlobs([kept.sha256!, loose.sha256!, kept.sha256!], "p", 100)).sort()).toEqual([kept.sha256!, loose.sha256!].sort());
      await store.recordBlob(kept.sha256!, kept.size, "p", 100);
      await store.recordBlob(loose.sha256!, loose.size, "p", 100);
      await store.recordBlob(fresh.sha256!, fresh.size, "p", 5000);
      expect(await store.missingBlobs([kept.sha256!, loose.sha256!], "p", 200)).toEqual([]);
      await store.createVersion(version(d.name), [kept]);
      const gc = await store.gcCandidates(1000);
      const names = gc.candidates.map((c) => c.sha256);
      expect(names).toContain(loose.sha256);
      expect(names).not.toContain(kept.sha256);
      expect(names).not.toContain(fresh.sha256);
      expect(gc.referenced).toBeGreaterThanOrEqual(1);
      expect(gc.inGrace).toBeGreaterThanOrEqual(1);
      expect(await store.forgetBlobs([kept.sha256!], 1000)).toEqual([]);
      // Touched after the gc listed it: the blob stays.
      await store.missingBlobs([loose.sha256!], "p", 3000);
      expect(await store.forgetBlobs([loose.sha256!], 1000)).toEqual([]);
      expect(await store.forgetBlobs([loose.sha256!, kept.sha256!], 4000)).toEqual([loose.sha256]);
      expect(await store.missingBlobs([loose.sha256!], "p", 5000)).toEqual([loose.sha256]);
      await store.deleteDataset(d.name);
      // Creating the version touched its blobs (now): past that, the blob is unreferenced and collectable.
      expect((await store.gcCandidates(1000)).candidates.map((c) => c.sha256)).not.toContain(kept.sha256);
      expect((await store.gcCandidates(Date.now() + 1000)).candidates.map((c) => c.sha256)).toContain(kept.sha256);
    });

    it("records blobs in bulk, once per hash, and looks them up without touching them", async () => {
      const a = file("a", `bulk-a-${tag}`);
      const b = file("b", `bulk-b-${tag}`);
      const c = file("c", `bulk-c-${tag}`);
      expect(await store.recordedBlobs([a.sha256!, b.sha256!])).toEqual(new Set());
      await store.recordBlobs([], "p", 100);
      await store.recordBlobs([{ sha256: a.sha256!, size: a.size }, { sha256: b.sha256!, size: b.size }, { sha256: a.sha256!, size: a.size }], "p", 100);
      expect(await store.recordedBlobs([a.sha256!, b.sha256!, c.sha256!, a.sha256!])).toEqual(new Set([a.sha256, b.sha256]));
      // A looked-up blob keeps its old touch time, so it stays collectable.
      expect((await store.gcCandidates(150)).candidates).toEqual(expect.arrayContaining([{ sha256: a.sha256, size: a.size }, { sha256: b.sha256, size: b.size }]));
      // Recording again touches the known blob and adds the new one.
      await store.recordBlobs([{ sha256: a.sha256!, size: a.size }, { sha256: c.sha256!, size: c.size }], "p", 200);
      const names = (await store.gcCandidates(150)).candidates.map((x) => x.sha256);
      expect(names).toContain(b.sha256);
      expect(names).not.toContain(a.sha256);
      expect(names).not.toContain(c.sha256);
      expect(await store.missingBlobs([a.sha256!, b.sha256!, c.sha256!], "p", 300)).toEqual([]);
      expect(await store.forgetBlobs([a.sha256!, b.sha256!, c.sha256!], 1000)).toEqual(expect.arrayContaining([a.sha256, b.sha256, c.sha256]));
    });

    it("lets a version name only blobs its project claimed, storing each blob once", async () => {
      const d = await newDataset();
      const f = file("claimed", `claimed-${tag}`);
      await store.recordBlob(f.sha256!, f.size, "other", 1000);
      expect(await store.missingBlobs([f.sha256!], "p", 1000)).toEqual([f.sha256]);
      expect(await store.missingBlobs([f.sha256!], "other", 1000)).toEqual([]);
      expect(await code(store.createVersion(version(d.name), [f]))).toBe("INVALID_STATE");
      await store.recordBlob(f.sha256!, f.size, "p", 1000);
      expect(await store.missingBlobs([f.sha256!], "p", 1000)).toEqual([]);
      expect((await store.createVersion(version(d.name), [f])).created).toBe(true);
      expect(await store.recordedBlobs([f.sha256!])).toEqual(new Set([f.sha256]));
    });

    it("caches profiles by content and format", async () => {
      const p: FileProfile = { format: "csv", rows: 2, columns: [{ name: "a", type: "BIGINT", kind: "numeric", count: 2, missing: 0, distinct: 2, min: 1, max: 2, mean: 1.5, std: 0.7 }], engine: "duckdb" };
      const h = sha(`profile-${tag}`);
      await store.putProfile(h, "csv", p);
      await store.putProfile(h, "csv", p);
      const got = await store.getProfiles([{ sha256: h, format: "csv" }, { sha256: h, format: "parquet" }]);
      expect([...got.keys()]).toEqual([`csv:${h}`]);
      expect(got.get(`csv:${h}`)).toEqual(p);
    });

    it("records run links once, by run and by version, and removes them with the dataset", async () => {
      const d = await newDataset();
      const f = file("l");
      await record(f);
      const v = (await store.createVersion(version(d.name, { sourceRunId: "run-out" }), [f])).version;
      expect(v.sourceRunId).toBe("run-out");
      await store.linkRun({ runId: "run-in", versionId: v.id, direction: "input", context: "training" }, 1);
      await store.linkRun({ runId: "run-in", versionId: v.id, direction: "input", context: "training" }, 2);
      const byVersion = await store.runLinks({ versionIds: [v.id] });
      expect(byVersion).toEqual(expect.arrayContaining([{ runId: "run-out", versionId: v.id, direction: "output" }, { runId: "run-in", versionId: v.id, direction: "input", context: "training" }]));
      expect(byVersion).toHaveLength(2);
      expect(await store.runLinks({ runIds: ["run-in"] })).toEqual([{ runId: "run-in", versionId: v.id, direction: "input", context: "training" }]);
      await store.deleteDataset(d.name);
      expect(await store.runLinks({ runIds: ["run-in", "run-out"] })).toEqual([]);
      expect(await code(store.deleteDataset(d.name))).toBe("RESOURCE_DOES_NOT_EXIST");
    });

    it("updates description and expectations", async () => {
      const d = await newDataset();
      const u = await store.updateDataset(d.name, { description: "new", expectations: [{ type: "not_null", column: "a" }], time: 5000 });
      expect(u).toMatchObject({ description: "new", updatedAt: 5000, expectations: [{ type: "not_null", column: "a" }] });
      expect(await code(store.updateDataset("nope", { time: 1 }))).toBe("RESOURCE_DOES_NOT_EXIST");
    });
  });
}
