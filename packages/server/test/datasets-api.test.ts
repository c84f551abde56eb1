import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describePg, freshPgSchema } from "./pg.js";
import { DATASET_LIMITS } from "@cairn/contract";
import { http, testServer } from "./helpers.js";

const sha = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");
type Server = Awaited<ReturnType<typeof testServer>>;

/** The datasets API over HTTP, on one backend. */
function datasetsApi(backend: string, start: () => Promise<Server & { drop?: () => Promise<void> }>): void {
  describe(`datasets API (${backend})`, () => {
    let s: Server & { drop?: () => Promise<void> };
    const call = (method: string, url: string, body?: unknown) => http(s.url, method, url, body);
    const put = async (content: Buffer | string, as = sha(content)) => {
      const res = await fetch(`${s.url}/api/v1/datasets/blob-home/blobs/${as}`, { method: "PUT", body: typeof content === "string" ? content : new Uint8Array(content), headers: { "content-type": "application/octet-stream" } });
      return { status: res.status, body: (await res.json()) as any };
    };
    const entry = (p: string, content: string, mode = 0o644) => ({ path: p, size: Buffer.byteLength(content), mode, sha256: sha(content) });
    /** Uploads the files and creates a version from them. */
    const add = async (name: string, files: Record<string, string>, extra: Record<string, unknown> = {}) => {
      for (const c of Object.values(files)) expect((await put(c)).status).toBe(201);
      return call("POST", `/api/v1/datasets/${name}/versions`, { files: Object.entries(files).map(([p, c]) => entry(p, c)), ...extra });
    };
    const csv = (rows: number, f: (i: number) => string, header = "id,amount,city") => `${header}\n${Array.from({ length: rows }, (_, i) => f(i)).join("\n")}\n`;

    beforeAll(async () => {
      s = await start();
      // Blobs are uploaded for a dataset, and belong to its project (here `default`, as every dataset below).
      expect((await call("POST", "/api/v1/datasets", { name: "blob-home" })).status).toBe(201);
    });
    afterAll(async () => {
      await s?.stop();
      await s?.drop?.();
    });

    it("versions files by content, profiles CSVs, and diffs versions with tabular changes", async () => {
      expect((await call("POST", "/api/v1/datasets", { name: "credit", description: "loans" })).status).toBe(201);
      const v1csv = csv(100, (i) => `${i},${i * 2},${i % 2 ? "paris" : "oslo"}`);
      const r1 = await add("credit", { "train.csv": v1csv, "README.md": "# credit\n", "img/a.bin": "AAAA" }, { message: "first", tags: ["gold"] });
      expect(r1.status).toBe(201);
      expect(r1.body.version).toMatchObject({ dataset: "credit", number: 1, fileCount: 3, message: "first", tags: ["gold"], validation: { status: "none" } });
      expect(r1.body.version.digest).toMatch(/^[0-9a-f]{64}$/);

      const missing = await call("POST", "/api/v1/datasets/blob-home/blobs/missing", { hashes: [sha(v1csv), sha("not uploaded")] });
      expect(missing.body).toEqual({ missing: [sha("not uploaded")] });

      const prof = await call("GET", "/api/v1/datasets/credit/versions/v1/profile");
      expect(prof.status).toBe(200);
      const cols = prof.body.files[0].profile.columns;
      expect(prof.body.files[0]).toMatchObject({ path: "train.csv", profile: { format: "csv", rows: 100 } });
      expect(cols.find((c: any) => c.name === "amount")).toMatchObject({ kind: "numeric", count: 100, missing: 0, min: 0, max: 198, mean: 99 });
      expect(cols.find((c: any) => c.name === "city").topK.values.map((v: any) => v.value).sort()).toEqual(["oslo", "paris"]);

      const v2csv = csv(120, (i) => `${i},${i * 3},${i % 3 ? "paris" : "rome"},${i}`, "id,amount,city,score");
      const r2 = await add("credit", { "train.csv": v2csv, "README.md": "# credit\n", "new.txt": "n" });
      expect(r2.body.version.number).toBe(2);
      const d = await call("GET", "/api/v1/datasets/credit/diff?from=v1&to=latest");
      expect(d.status).toBe(200);
      expect(d.body.added.map((e: any) => e.path)).toEqual(["new.txt"]);
      expect(d.body.removed.map((e: any) => e.path)).toEqual(["img/a.bin"]);
      expect(d.body.modified.map((e: any) => e.path)).toEqual(["train.csv"]);
      expect(d.body.unchanged).toBe(1);
      expect(d.body.counts).toEqual({ added: 1, removed: 1, modified: 1 });
      expect(d.body.tabular[0]).toMatchObject({ path: "train.csv", rows: { from: 100, to: 120, delta: 20 }, schema: { added: [{ name: "score" }], removed: [] } });
      expect(d.body.tabular[0].columns.find((c: any) => c.name === "amount").shifts.max).toEqual({ from: 198, to: 357 });

      // Refs: number, tag, latest, digest prefix.
      expect((await call("GET", "/api/v1/datasets/credit/versions/gold")).body.version.number).toBe(1);
      expect((await call("GET", `/api/v1/datasets/credit/versions/${r2.body.version.digest.slice(0, 10)}`)).body.version.number).toBe(2);
      expect((await call("PUT", "/api/v1/datasets/credit/tags/gold", { version: "2" })).body.version.tags).toEqual(["gold"]);
      expect((await call("GET", "/api/v1/datasets/credit/versions/1")).body.version.tags).toEqual([]);
      expect((await call("PUT", "/api/v1/datasets/credit/tags/v7", { version: "2" })).status).toBe(400);
      expect((await call("GET", "/api/v1/datasets/credit/versions/v9")).body.error_code).toBe("RESOURCE_DOES_NOT_EXIST");

      const log = await call("GET", "/api/v1/datasets/credit/versions?maxResults=1");
      expect(log.body.versions.map((v: any) => v.number)).toEqual([2]);
      const log2 = await call("GET", `/api/v1/datasets/credit/versions?maxResults=1&pageToken=${log.body.nextPageToken}`);
      expect(log2.body.versions.map((v: any) => v.number)).toEqual([1]);
      expect(log2.body.nextPageToken).toBeUndefined();

      const files = await call("GET", "/api/v1/datasets/credit/versions/1/files?maxResults=2");
      expect(files.body.files.map((f: any) => f.path)).toEqual(["README.md", "img/a.bin"]);
      const rest = await call("GET", `/api/v1/datasets/credit/versions/1/files?maxResults=2&pageToken=${files.body.nextPageToken}`);
      expect(rest.body.files.map((f: any) => f.path)).toEqual(["train.csv"]);
      expect((await call("GET", "/api/v1/datasets/credit/versions/1/files?prefix=img")).body.files.map((f: any) => f.path)).toEqual(["img/a.bin"]);

      const dl = await fetch(`${s.url}/api/v1/datasets/credit/versions/1/files/train.csv`);
      expect(dl.status).toBe(200);
      expect(dl.headers.get("x-cairn-sha256")).toBe(sha(v1csv));
      expect(await dl.text()).toBe(v1csv);
      expect((await call("GET", "/api/v1/datasets/credit/versions/1/files/nope.csv")).status).toBe(404);

      const list = await call("GET", "/api/v1/datasets?q=CRED");
      expect(list.body.datasets.map((x: any) => [x.name, x.latestVersion, x.versionCount])).toEqual([["credit", 2, 2]]);
    });

    it("builds a version from a base and changes, equal to sending the whole manifest", async () => {
      await call("POST", "/api/v1/datasets", { name: "delta" });
      const v1 = await add("delta", { "a.txt": "a1", "b/c.txt": "c1", "d.txt": "d1" });
      expect(v1.status).toBe(201);
      await put("a2");
      await put("e1");
      const v2 = await call("POST", "/api/v1/datasets/delta/versions", { base: "v1", changes: { upsert: [entry("a.txt", "a2"), entry("e.txt", "e1")], remove: ["d.txt"] } });
      expect(v2.status).toBe(201);
      expect(v2.body.version).toMatchObject({ number: 2, fileCount: 3, totalBytes: 6 });
      expect((await call("GET", "/api/v1/datasets/delta/versions/2/files")).body.files).toEqual([entry("a.txt", "a2"), entry("b/c.txt", "c1"), entry("e.txt", "e1")]);
      const full = await add("delta", { "a.txt": "a2", "b/c.txt": "c1", "e.txt": "e1" });
      expect(full.body.version.digest).toBe(v2.body.version.digest);
      const bad = await call("POST", "/api/v1/datasets/delta/versions", { base: "v1", changes: { remove: ["nope"] } });
      expect([bad.status, bad.body.message]).toEqual([400, expect.stringContaining("nope")]);
      expect((await call("POST", "/api/v1/datasets/delta/versions", { base: "v1" })).status).toBe(400);
      expect((await call("POST", "/api/v1/datasets/delta/versions", { files: [], base: "v1", changes: {} })).status).toBe(400);
      const notUp = await call("POST", "/api/v1/datasets/delta/versions", { base: "v1", changes: { upsert: [entry("z.txt", "never uploaded here")] } });
      expect(notUp.body.error_code).toBe("INVALID_STATE");
    });

    it("stores equal content once across versions and datasets", async () => {
      const content = "same bytes everywhere";
      await call("POST", "/api/v1/datasets", { name: "dedup-a" });
      await call("POST", "/api/v1/datasets", { name: "dedup-b" });
      expect((await add("dedup-a", { "x.txt": content })).status).toBe(201);
      const again = await put(content);
      expect(again.body).toMatchObject({ existed: true });
      expect((await add("dedup-b", { "y/x.txt": content })).status).toBe(201);
      const blobDir = path.join(s.dataDir, "artifacts", "datasets", "blobs", "sha256", sha(content).slice(0, 2));
      if (backend === "sqlite") expect(fs.readdirSync(blobDir).filter((f) => f.startsWith(sha(content)))).toHaveLength(1);
    });

    it("uploads small blobs in batches: counts, dedup, all-or-nothing checksums and framing errors", async () => {
      const frame = (content: Buffer | string, as = sha(content), size = Buffer.byteLength(content)) => Buffer.concat([Buffer.from(`${as} ${size}\n`), Buffer.from(content)]);
      const batch = async (...frames: Buffer[]) => {
        const res = await fetch(`${s.url}/api/v1/datasets/blob-home/blobs/batch`, { method: "POST", body: new Uint8Array(Buffer.concat(frames)), headers: { "content-type": "application/octet-stream" } });
        return { status: res.status, body: (await res.json()) as any };
      };
      const missing = async (...cs: string[]) => (await call("POST", "/api/v1/datasets/blob-home/blobs/missing", { hashes: cs.map((c) => sha(c)) })).body.missing;
      const bin = Buffer.from([0, 10, 255, 10, 32]);
      expect((await put("batch known")).status).toBe(201);
      const first = await batch(frame("batch one"), frame("batch two\n"), frame(""), frame("batch one"), frame("batch known"), frame(bin));
      expect(first).toEqual({ status: 201, body: { stored: 4, existed: 1, bytes: "batch one".length + "batch two\n".length + bin.length } });
      expect(await missing("batch one", "batch two\n", "", "batch known")).toEqual([]);
      await call("POST", "/api/v1/datasets", { name: "batched" });
      const files = { "a.txt": "batch one", "b.txt": "batch two\n", "empty": "", "k.txt": "batch known" };
      const v = await call("POST", "/api/v1/datasets/batched/versions", { files: [...Object.entries(files).map(([p, c]) => entry(p, c)), { path: "c.bin", size: bin.length, sha256: sha(bin) }] });
      expect(v.status).toBe(201);
      for (const [p, c] of Object.entries(files)) expect(await (await fetch(`${s.url}/api/v1/datasets/batched/versions/v1/files/${p}`)).text()).toBe(c);
      expect(Buffer.from(await (await fetch(`${s.url}/api/v1/datasets/batched/versions/v1/files/c.bin`)).arrayBuffer())).toEqual(bin);
      expect((await batch(frame("batch one"))).body).toEqual({ stored: 0, existed: 1, bytes: 0 });

      // One blob that does not hash to its name refuses the whole batch.
      const bad = await batch(frame("good in bad batch"), frame("liar", sha("truth")), frame("also good in bad batch"));
      expect(bad.status).toBe(422);
      expect(bad.body.error_code).toBe("CHECKSUM_MISMATCH");
      expect(bad.body.message).toContain(sha("truth"));
      expect(await missing("good in bad batch", "also good in bad batch", "truth", "liar")).toHaveLength(4);

      const fails = async (status: number, code: string, ...frames: Buffer[]) => {
        const r = await batch(...frames);
        expect([r.status, r.body.error_code]).toEqual([status, code]);
      };
      await fails(400, "INVALID_PARAMETER_VALUE", frame("f1"), Buffer.from(`${sha("f2").toUpperCase()} 2\nf2`));
      await fails(400, "INVALID_PARAMETER_VALUE", Buffer.from(`${sha("f2")}  2\nf2`));
      await fails(400, "INVALID_PARAMETER_VALUE", Buffer.from(`${sha("f2")} 02\nf2`));
      await fails(400, "INVALID_PARAMETER_VALUE", Buffer.from("x".repeat(200)));
      // Truncated: the body ends inside a blob, or inside a header.
      await fails(400, "INVALID_PARAMETER_VALUE", frame("truncated", sha("truncated"), 20));
      await fails(400, "INVALID_PARAMETER_VALUE", frame("f1"), Buffer.from(sha("f3").slice(0, 10)));
      // Extra bytes after the last declared size read as a malformed header.
      await fails(400, "INVALID_PARAMETER_VALUE", frame("f1"), Buffer.from("trailing\n"));
      const big = Buffer.alloc(DATASET_LIMITS.batchBlobMaxBytes + 1, 7);
      await fails(400, "INVALID_PARAMETER_VALUE", frame(big));
      const most = Buffer.alloc(DATASET_LIMITS.batchBlobMaxBytes, 1);
      const over = Array.from({ length: DATASET_LIMITS.batchMaxBytes / most.length + 1 }, (_, i) => frame(Buffer.concat([most.subarray(0, most.length - 1), Buffer.from([i])])));
      await fails(413, "PAYLOAD_TOO_LARGE", ...over);
      expect(await missing("f1", "truncated")).toHaveLength(2);
    });

    it("validates against expectations: records failures, and refuses them with strict", async () => {
      await call("POST", "/api/v1/datasets", { name: "checked" });
      const exp = await call("PUT", "/api/v1/datasets/checked/expectations", {
        expectations: [
          { type: "not_null", column: "amount" },
          { type: "range", column: "amount", min: 0, max: 100 },
          { type: "allowed_values", column: "city", values: ["oslo", "paris"] },
          { type: "unique", columns: ["id"] },
          { type: "row_count", min: 1 },
        ],
      });
      expect(exp.status).toBe(200);
      const good = await add("checked", { "t.csv": csv(10, (i) => `${i},${i},oslo`) });
      expect(good.body.version.validation.status).toBe("passed");
      expect(good.body.version.validation.results).toHaveLength(5);
      const badRows = csv(10, (i) => `${i % 5},${i === 3 ? "" : i * 50},${i === 4 ? "rome" : "paris"}`);
      const bad = await add("checked", { "t.csv": badRows });
      expect(bad.status).toBe(201);
      expect(bad.body.version.validation.status).toBe("failed");
      const failed = bad.body.version.validation.results.filter((r: any) => !r.passed).map((r: any) => r.expectation.type).sort();
      expect(failed).toEqual(["allowed_values", "not_null", "range", "unique"]);
      const strict = await add("checked", { "t.csv": `${badRows}99,1,oslo\n` }, { strict: true });
      expect(strict.status).toBe(422);
      expect(strict.body.error_code).toBe("VALIDATION_FAILED");
      expect(strict.body.message).toMatch(/not_null\(amount\)/);
      expect((await call("GET", "/api/v1/datasets/checked")).body.dataset).toMatchObject({ latestVersion: 2, versionCount: 2 });
      expect((await call("PUT", "/api/v1/datasets/checked/expectations", { expectations: [{ type: "range", column: "a", min: "x" }] })).status).toBe(400);
    });

    it("refuses bad input with a 4xx and leaves no version behind", async () => {
      await call("POST", "/api/v1/datasets", { name: "bad" });
      expect((await call("POST", "/api/v1/datasets", { name: "bad" })).body.error_code).toBe("RESOURCE_ALREADY_EXISTS");
      expect((await call("POST", "/api/v1/datasets", { name: "no/slash" })).status).toBe(400);
      expect((await call("POST", "/api/v1/datasets/nope/versions", { files: [] })).status).toBe(404);

      // Content that was never uploaded.
      const notUp = await call("POST", "/api/v1/datasets/bad/versions", { files: [entry("a.txt", "never uploaded")] });
      expect([notUp.status, notUp.body.error_code]).toEqual([409, "INVALID_STATE"]);
      // Paths escaping the tree, duplicates, file-and-directory clashes.
      await put("x");
      for (const p of ["../x", "/abs", "a//b", "a/./b", "a\\b"]) {
        expect((await call("POST", "/api/v1/datasets/bad/versions", { files: [entry(p, "x")] })).status, p).toBe(400);
      }
      expect((await call("POST", "/api/v1/datasets/bad/versions", { files: [entry("a", "x"), entry("a", "x")] })).body.message).toMatch(/twice/);
      expect((await call("POST", "/api/v1/datasets/bad/versions", { files: [entry("a", "x"), entry("a/b", "x")] })).body.message).toMatch(/both a file and a directory/);
      // A CSV with ragged rows, and a Parquet file that is not Parquet.
      const ragged = await add("bad", { "r.csv": "a,b,c\n1,2,3\n4,5\n6,7,8\n" });
      expect([ragged.status, ragged.body.error_code]).toEqual([400, "INVALID_PARAMETER_VALUE"]);
      expect(ragged.body.message).toContain("r.csv");
      const fake = await add("bad", { "p.parquet": "this is not parquet at all" });
      expect([fake.status, fake.body.error_code]).toEqual([400, "INVALID_PARAMETER_VALUE"]);
      expect(fake.body.message).toContain("p.parquet");
      // Bytes that do not hash to their name are not stored.
      const liar = await put("real content", sha("claimed content"));
      expect([liar.status, liar.body.error_code]).toEqual([422, "CHECKSUM_MISMATCH"]);
      expect((await call("POST", "/api/v1/datasets/blob-home/blobs/missing", { hashes: [sha("claimed content")] })).body.missing).toEqual([sha("claimed content")]);
      expect((await fetch(`${s.url}/api/v1/datasets/blob-home/blobs/not-a-hash`, { method: "PUT", body: "x" })).status).toBe(400);
      expect((await call("POST", "/api/v1/datasets/blob-home/blobs/missing", { hashes: ["ABC"] })).status).toBe(400);

      // Control characters, page tokens that decode to them or overflow, setuid bits and unverifiable file:// entries.
      for (const url of ["/api/v1/datasets/bad/versions/v%00", "/api/v1/datasets?q=%00", `/api/v1/datasets?pageToken=AA`, `/api/v1/datasets/bad/versions?pageToken=${Buffer.from("99999999999999999999").toString("base64url")}`, "/api/v1/lineage?node=run:%00"]) {
        const r = await call("GET", url);
        expect([url, r.status, r.body.error_code]).toEqual([url, 400, "INVALID_PARAMETER_VALUE"]);
      }
      expect((await call("POST", "/api/v1/datasets/bad/versions", { files: [{ ...entry("s", "x"), mode: 0o4755 }] })).status).toBe(400);
      expect((await call("POST", "/api/v1/datasets/bad/versions", { files: [{ path: "f", size: 3, uri: "file:///etc/hostname", etag: "x" }] })).body.message).toMatch(/file:\/\/ file needs sha256/);

      expect((await call("GET", "/api/v1/datasets/bad")).body.dataset).toMatchObject({ latestVersion: 0, versionCount: 0 });
    });

    it("lands concurrent creates of one dataset as separate versions, and honours expectedLatest", async () => {
      await call("POST", "/api/v1/datasets", { name: "race" });
      await put("r1");
      await put("r2");
      const [a, b] = await Promise.all([
        call("POST", "/api/v1/datasets/race/versions", { files: [entry("f", "r1")] }),
        call("POST", "/api/v1/datasets/race/versions", { files: [entry("f", "r2")] }),
      ]);
      expect([a.status, b.status]).toEqual([201, 201]);
      expect([a.body.version.number, b.body.version.number].sort()).toEqual([1, 2]);
      const stale = await call("POST", "/api/v1/datasets/race/versions", { files: [entry("f", "r1")], expectedLatest: 1 });
      expect([stale.status, stale.body.error_code]).toEqual([409, "RESOURCE_CONFLICT"]);
    });

    it("keeps a pushed version's identity: the same id twice is one version", async () => {
      await call("POST", "/api/v1/datasets", { name: "pushed" });
      await put("p");
      const id = "6f1c2b1e-8d2a-4c39-9a77-5a4b3c2d1e0f";
      const body = { files: [entry("f", "p")], id, author: "ada", createdAt: 1_700_000_000_000, message: "from elsewhere" };
      const first = await call("POST", "/api/v1/datasets/pushed/versions", body);
      const second = await call("POST", "/api/v1/datasets/pushed/versions", body);
      expect(first.body.version).toMatchObject({ id, author: "ada", createdAt: 1_700_000_000_000, number: 1 });
      expect(second.body.version).toEqual(first.body.version);
    });

    it("collects only unreferenced blobs past their grace period", async () => {
      await call("POST", "/api/v1/datasets", { name: "gc" });
      expect((await add("gc", { "kept.txt": "kept for gc" })).status).toBe(201);
      await put("orphan for gc");
      const dry = await call("POST", "/api/v1/data/gc", { graceSeconds: 0, dryRun: true });
      expect(dry.body.dryRun).toBe(true);
      expect(dry.body.deleted).toBeGreaterThanOrEqual(1);
      const inGrace = await call("POST", "/api/v1/data/gc", {});
      expect(inGrace.body.deleted).toBe(0);
      await new Promise((r) => setTimeout(r, 5));
      const real = await call("POST", "/api/v1/data/gc", { graceSeconds: 0 });
      expect(real.body.deleted).toBeGreaterThanOrEqual(1);
      expect((await call("POST", "/api/v1/datasets/blob-home/blobs/missing", { hashes: [sha("orphan for gc"), sha("kept for gc")] })).body.missing).toEqual([sha("orphan for gc")]);
      const dl = await fetch(`${s.url}/api/v1/datasets/gc/versions/latest/files/kept.txt`);
      expect(await dl.text()).toBe("kept for gc");
    });

    it("links runs and model versions into one lineage graph", async () => {
      await call("POST", "/api/v1/datasets", { name: "lin" });
      await add("lin", { "d.csv": csv(5, (i) => `${i},${i},oslo`) });
      const exp = await call("POST", "/api/v1/experiments", { name: "lineage-exp" });
      const run = (await call("POST", "/api/v1/runs", { experimentId: exp.body.experiment.experimentId, runName: "train" })).body.run.info.runId;
      const link = await call("POST", `/api/v1/runs/${run}/datasets`, { dataset: "lin", version: "v1", direction: "input", context: "training" });
      expect(link.status).toBe(200);
      // Also an MLflow dataset input, so MLflow clients see it.
      const got = await call("GET", `/api/v1/runs/${run}`);
      expect(got.body.run.inputs.datasetInputs[0].dataset).toMatchObject({ name: "lin", sourceType: "cairn", source: "datasets:/lin@v1" });
      // The run produces a new version and a model.
      const out = await add("lin", { "d.csv": csv(6, (i) => `${i},${i},oslo`) }, { runId: run });
      expect(out.body.version.sourceRunId).toBe(run);
      await call("POST", "/api/v1/models", { name: "lin-model" });
      await call("POST", "/api/v1/models/lin-model/versions", { source: `runs:/${run}/model`, runId: run });

      const down = await call("GET", `/api/v1/lineage?node=${encodeURIComponent("dataset:lin@v1")}&direction=downstream&depth=3`);
      expect(down.status).toBe(200);
      expect(down.body.nodes.map((n: any) => n.id).sort()).toEqual(["dataset:lin@v1", "dataset:lin@v2", "model:lin-model/1", `run:${run}`].sort());
      expect(down.body.edges).toEqual(
        expect.arrayContaining([
          { from: "dataset:lin@v1", to: `run:${run}`, kind: "input", context: "training" },
          { from: `run:${run}`, to: "dataset:lin@v2", kind: "output" },
          { from: `run:${run}`, to: "model:lin-model/1", kind: "model" },
        ]),
      );
      const up = await call("GET", `/api/v1/lineage?node=${encodeURIComponent("models:/lin-model/1")}&direction=upstream`);
      expect(up.body.nodes.map((n: any) => n.id).sort()).toEqual(["dataset:lin@v1", "model:lin-model/1", `run:${run}`].sort());
      const shallow = await call("GET", `/api/v1/lineage?node=${encodeURIComponent("models:/lin-model/1")}&direction=upstream&depth=1`);
      expect(shallow.body.nodes).toHaveLength(2);
      expect((await call("GET", "/api/v1/lineage?node=bogus")).status).toBe(400);
      expect((await call("GET", "/api/v1/lineage?node=run:nope")).status).toBe(404);
      expect((await call("POST", `/api/v1/runs/nope/datasets`, { dataset: "lin", version: "v1", direction: "input" })).status).toBe(404);

      // An MLflow client logging the version as an input (by its datasets:/ source) links it too.
      const run2 = (await call("POST", "/api/v1/runs", { experimentId: exp.body.experiment.experimentId })).body.run.info.runId;
      const logged = await call("POST", "/api/2.0/mlflow/runs/log-inputs", { run_id: run2, datasets: [{ dataset: { name: "lin", digest: "x", source_type: "cairn", source: "datasets:/lin@v2" }, tags: [{ key: "mlflow.data.context", value: "eval" }] }] });
      expect(logged.status).toBe(200);
      const fromV2 = await call("GET", `/api/v1/lineage?node=${encodeURIComponent("dataset:lin@v2")}&direction=downstream&depth=1`);
      expect(fromV2.body.edges).toContainEqual({ from: "dataset:lin@v2", to: `run:${run2}`, kind: "input", context: "eval" });
    });
  });
}

datasetsApi("sqlite", () => testServer());
await describePg("datasets API (postgres)", () => {
  datasetsApi("postgres", async () => {
    const schema = await freshPgSchema();
    return { ...(await testServer({ backendStoreUri: schema.url })), drop: schema.drop };
  });
});

describe("datasets API with auth on: projects keep datasets and lineage apart", () => {
  let s: Server;
  const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
  afterAll(async () => s?.stop());

  it("lists, reads, links and walks only what the caller's projects hold", async () => {
    s = await testServer({ auth: true, authFailureLimit: 0 });
    const admin = bearer(s.bootstrapToken!);
    const call = (method: string, url: string, body: unknown, h: Record<string, string>) => http(s.url, method, url, body, h);
    await call("POST", "/api/v1/projects", { name: "risk" }, admin);
    await call("POST", "/api/v1/auth/users", { name: "rita" }, admin);
    await call("PUT", "/api/v1/projects/risk/members/rita", { role: "editor" }, admin);
    const rita = bearer((await call("POST", "/api/v1/auth/tokens", { user: "rita", name: "t" }, admin)).body.token);

    expect((await call("POST", "/api/v1/datasets", { name: "secret" }, rita)).status).toBe(403);
    expect((await call("POST", "/api/v1/datasets", { name: "mine", tags: { "cairn.project": "risk" } }, rita)).status).toBe(201);
    expect((await call("POST", "/api/v1/datasets", { name: "secret" }, admin)).status).toBe(201);
    const content = "hello";
    const up = await fetch(`${s.url}/api/v1/datasets/mine/blobs/${sha(content)}`, { method: "PUT", body: content, headers: { ...rita, "content-type": "application/octet-stream" } });
    expect(up.status).toBe(201);
    const files = [{ path: "a.txt", size: 5, sha256: sha(content) }];
    expect((await call("POST", "/api/v1/datasets/mine/versions", { files }, rita)).body.version.author).toBe("rita");
    // Knowing a hash is not having the bytes: content another project uploaded counts as missing here
    // until this project sends it (it is still stored once).
    const theirs = "only the default project has these bytes";
    expect((await fetch(`${s.url}/api/v1/datasets/secret/blobs/${sha(theirs)}`, { method: "PUT", body: theirs, headers: admin })).status).toBe(201);
    expect((await call("POST", "/api/v1/datasets/mine/blobs/missing", { hashes: [sha(theirs), sha(content)] }, rita)).body.missing).toEqual([sha(theirs)]);
    const borrowed = [{ path: "b.txt", size: theirs.length, sha256: sha(theirs) }];
    expect((await call("POST", "/api/v1/datasets/mine/versions", { files: borrowed }, rita)).body.error_code).toBe("INVALID_STATE");
    const proven = await fetch(`${s.url}/api/v1/datasets/mine/blobs/${sha(theirs)}`, { method: "PUT", body: theirs, headers: rita });
    expect(await proven.json()).toMatchObject({ existed: true });
    expect((await call("POST", "/api/v1/datasets/mine/versions", { files: borrowed }, rita)).status).toBe(201);
    expect((await call("POST", "/api/v1/datasets/secret/blobs/missing", { hashes: [sha(theirs)] }, rita)).status).toBe(404);
    expect((await fetch(`${s.url}/api/v1/datasets/secret/blobs/${sha(content)}`, { method: "PUT", body: content, headers: admin })).status).toBe(201);
    expect((await call("POST", "/api/v1/datasets/secret/versions", { files }, admin)).status).toBe(201);

    expect((await call("GET", "/api/v1/datasets", undefined, rita)).body.datasets.map((d: any) => d.name)).toEqual(["mine"]);
    expect((await call("GET", "/api/v1/datasets/secret", undefined, rita)).status).toBe(404);
    expect((await call("GET", "/api/v1/datasets/secret/versions/v1/files/a.txt", undefined, rita)).status).toBe(404);
    expect((await call("POST", "/api/v1/datasets/secret/versions", { files }, rita)).status).toBe(404);
    expect((await call("POST", "/api/v1/data/gc", {}, rita)).status).toBe(403);

    // Rita's run may consume her dataset, not the hidden one; the graph never shows the hidden one.
    const exp = (await call("POST", "/api/v1/experiments", { name: "risk-exp", tags: { "cairn.project": "risk" } }, rita)).body.experiment.experimentId;
    const run = (await call("POST", "/api/v1/runs", { experimentId: exp }, rita)).body.run.info.runId;
    expect((await call("POST", `/api/v1/runs/${run}/datasets`, { dataset: "secret", version: "1", direction: "input" }, rita)).status).toBe(404);
    expect((await call("POST", `/api/v1/runs/${run}/datasets`, { dataset: "mine", version: "1", direction: "input" }, rita)).status).toBe(200);
    expect((await call("POST", `/api/v1/runs/${run}/datasets`, { dataset: "secret", version: "1", direction: "input" }, admin)).status).toBe(200);
    const g = await call("GET", `/api/v1/lineage?node=run:${run}&direction=upstream`, undefined, rita);
    expect(g.body.nodes.map((n: any) => n.id).sort()).toEqual(["dataset:mine@v1", `run:${run}`]);
    const all = await call("GET", `/api/v1/lineage?node=run:${run}&direction=upstream`, undefined, admin);
    expect(all.body.nodes).toHaveLength(3);
    expect((await call("GET", "/api/v1/lineage?node=dataset:secret@v1", undefined, rita)).status).toBe(404);
    // Every way a hidden root fails reads the same: no oracle for names, versions or digests of other projects.
    const hiddenAnswers = await Promise.all(["dataset:secret@v1", "dataset:secret@v9", "dataset:nothing@v1", "dataset:secret@abcdef12"].map((n) => call("GET", `/api/v1/lineage?node=${encodeURIComponent(n)}`, undefined, rita)));
    expect(hiddenAnswers.map((r) => [r.status, r.body.error_code, r.body.message.replace(/dataset:\S+/, "NODE")])).toEqual(Array(4).fill([404, "RESOURCE_DOES_NOT_EXIST", "NODE not found"]));
    // An MLflow client cannot link a version of a project it cannot read through log-inputs either.
    const viaMlflow = await call("POST", "/api/2.0/mlflow/runs/log-inputs", { run_id: run, datasets: [{ dataset: { name: "secret", digest: "x", source_type: "cairn", source: "datasets:/secret@v1" } }] }, rita);
    expect(viaMlflow.status).toBe(404);
    // With auth on, a copied version keeps its origin only for an admin: others are recorded as themselves, now.
    const copied = await call("POST", "/api/v1/datasets/mine/versions", { files, id: "0b9f6c4e-1d2a-4e3b-8c5d-6e7f8a9b0c1d", author: "alice", createdAt: 1 }, rita);
    expect(copied.body.version).toMatchObject({ author: "rita" });
    expect(copied.body.version.createdAt).toBeGreaterThan(1_700_000_000_000);
    const byAdmin = await call("POST", "/api/v1/datasets/secret/versions", { files, id: "1c0a7d5f-2e3b-4f4c-9d6e-7f8a9b0c1d2e", author: "alice", createdAt: 1 }, admin);
    expect(byAdmin.body.version).toMatchObject({ author: "alice", createdAt: 1 });

    // Reading a project is not enough to record its runs as producers, or its datasets as products.
    await call("POST", "/api/v1/auth/users", { name: "vic" }, admin);
    await call("PUT", "/api/v1/projects/risk/members/vic", { role: "editor" }, admin);
    await call("PUT", "/api/v1/projects/default/members/vic", { role: "viewer" }, admin);
    const vic = bearer((await call("POST", "/api/v1/auth/tokens", { user: "vic", name: "t" }, admin)).body.token);
    expect((await call("POST", `/api/v1/runs/${run}/datasets`, { dataset: "secret", version: "1", direction: "input" }, vic)).status).toBe(200);
    expect((await call("POST", `/api/v1/runs/${run}/datasets`, { dataset: "secret", version: "1", direction: "output" }, vic)).status).toBe(403);
    const defaultRun = (await call("POST", "/api/v1/runs", { experimentId: "0" }, admin)).body.run.info.runId;
    expect((await call("POST", "/api/v1/datasets/mine/versions", { files, runId: defaultRun }, vic)).status).toBe(403);
    expect((await call("POST", "/api/v1/datasets/mine/versions", { files, runId: run }, vic)).status).toBe(201);
  });
});

describe("datasets in the audit log", () => {
  it("records dataset and version changes by resource, not the blob traffic", async () => {
    const s = await testServer();
    try {
      const call = (method: string, url: string, body?: unknown) => http(s.url, method, url, body);
      await call("POST", "/api/v1/datasets", { name: "audited" });
      await fetch(`${s.url}/api/v1/datasets/audited/blobs/${sha("a")}`, { method: "PUT", body: "a" });
      await call("POST", "/api/v1/datasets/audited/blobs/missing", { hashes: [sha("a")] });
      expect((await fetch(`${s.url}/api/v1/datasets/audited/blobs/batch`, { method: "POST", body: `${sha("b")} 1\nb` })).status).toBe(201);
      await call("POST", "/api/v1/datasets/audited/versions", { files: [{ path: "a", size: 1, sha256: sha("a") }] });
      await call("PUT", "/api/v1/datasets/audited/tags/gold", { version: "1" });
      const log = await call("GET", "/api/v1/audit?limit=50");
      const rows = log.body.records.map((e: any) => [e.action, e.resource]);
      expect(rows).toEqual(
        expect.arrayContaining([
          ["createDataset", "dataset:audited"],
          ["createVersion", "dataset:audited@v1"],
          ["setVersionTag", "dataset:audited@gold"],
        ]),
      );
      expect(rows.some((r: string[]) => r[0] === "uploadBlob" || r[0] === "uploadBlobs" || r[0] === "findMissingBlobs")).toBe(false);
    } finally {
      await s.stop();
    }
  });
});
