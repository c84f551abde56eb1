import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Cairn } from "./cairn.js";
import { joinArtifactPath } from "./artifacts.js";
import { startFakeServer, type FakeServer } from "../test/fake-server.js";

let fake: FakeServer;
let cairn: Cairn;
let tmp: string;

beforeEach(async () => {
  fake = await startFakeServer();
  cairn = new Cairn({ url: fake.url, retry: { minDelayMs: 5, maxDelayMs: 20 }, handleExit: false });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-art-"));
});
afterEach(async () => {
  await fake.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe("artifacts", () => {
  it("streams a file upload with the exact bytes and reports progress", async () => {
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const file = path.join(tmp, "weights.bin");
    fs.writeFileSync(file, data);
    const progress: [number, number][] = [];
    const run = await cairn.startRun({ captureContext: false });
    const res = await run.logArtifact(file, "model", { onProgress: (d, t) => progress.push([d, t]) });
    await run.end();

    expect(res).toEqual([{ path: "model/weights.bin", fileSize: data.length }]);
    const put = fake.requests.find((r) => r.method === "PUT")!;
    expect(put.path).toBe(`/api/v1/runs/${run.id}/artifacts/model/weights.bin`);
    expect(put.headers["content-type"]).toBe("application/octet-stream");
    // Streamed: no content-length, chunked transfer.
    expect(put.headers["transfer-encoding"]).toBe("chunked");
    expect(Buffer.compare(put.raw, data)).toBe(0);
    expect(progress.length).toBeGreaterThan(2);
    expect(progress.at(-1)).toEqual([data.length, data.length]);
    for (let i = 1; i < progress.length; i++) expect(progress[i]![0]).toBeGreaterThanOrEqual(progress[i - 1]![0]);
  });

  it("uploads a directory recursively and downloads it back byte for byte", async () => {
    const src = path.join(tmp, "out");
    fs.mkdirSync(path.join(src, "sub/deeper"), { recursive: true });
    const files: Record<string, Buffer> = {
      "a.txt": Buffer.from("hello"),
      "sub/b.bin": randomBytes(200_000),
      "sub/deeper/c name.json": Buffer.from("{}"),
      "empty.txt": Buffer.alloc(0),
    };
    for (const [rel, b] of Object.entries(files)) fs.writeFileSync(path.join(src, rel), b);

    const uploaded = await cairn.artifacts.upload("r9", src, "outputs");
    expect(uploaded.map((u) => u.path)).toEqual(["outputs/a.txt", "outputs/empty.txt", "outputs/sub/b.bin", "outputs/sub/deeper/c name.json"]);
    expect([...fake.artifacts.keys()].sort()).toEqual(uploaded.map((u) => u.path));

    const listed = await cairn.artifacts.list("r9", "outputs", { recursive: true });
    expect(listed.filter((e) => !e.isDir).map((e) => e.path).sort()).toEqual(uploaded.map((u) => u.path));

    const dest = path.join(tmp, "dl");
    let last: [number, number] = [0, 0];
    const local = await cairn.artifacts.download("r9", "outputs", dest, { onProgress: (d, t) => (last = [d, t]) });
    expect(local).toBe(path.join(dest, "outputs"));
    for (const [rel, b] of Object.entries(files)) expect(Buffer.compare(fs.readFileSync(path.join(local, rel)), b)).toBe(0);
    const total = Object.values(files).reduce((n, b) => n + b.length, 0);
    expect(last).toEqual([total, total]);
    // No temp files left behind.
    const all = fs.readdirSync(dest, { recursive: true }) as string[];
    expect(all.some((f) => f.includes(".tmp"))).toBe(false);

    // A single file keeps its artifact path under the destination.
    const one = await cairn.artifacts.download("r9", "outputs/sub/b.bin", path.join(tmp, "one"));
    expect(one).toBe(path.join(tmp, "one/outputs/sub/b.bin"));
    expect(Buffer.compare(fs.readFileSync(one), files["sub/b.bin"]!)).toBe(0);
  });

  it("a missing artifact is RESOURCE_DOES_NOT_EXIST and leaves no file", async () => {
    const dest = path.join(tmp, "dl");
    await expect(cairn.artifacts.download("r1", "nope.txt", dest)).rejects.toMatchObject({ code: "RESOURCE_DOES_NOT_EXIST" });
    expect(fs.existsSync(path.join(dest, "nope.txt"))).toBe(false);
  });

  it("a missing local path is a typed error", async () => {
    await expect(cairn.artifacts.upload("r1", path.join(tmp, "missing"))).rejects.toMatchObject({ name: "CairnError", code: "RESOURCE_DOES_NOT_EXIST" });
  });

  it("retries an upload that got a 503", async () => {
    const file = path.join(tmp, "f.txt");
    fs.writeFileSync(file, "payload");
    let fail = 1;
    fake.intercept = (r) => (r.method === "PUT" && fail-- > 0 ? { status: 503, body: { error_code: "TEMPORARILY_UNAVAILABLE", message: "busy" } } : undefined);
    await cairn.artifacts.upload("r1", file);
    expect(fake.requests.filter((r) => r.method === "PUT")).toHaveLength(2);
    expect(fake.artifacts.get("f.txt")?.toString()).toBe("payload");
  });

  it("refuses artifact paths that escape", () => {
    expect(joinArtifactPath("a/", "./b", "c")).toBe("a/b/c");
    expect(() => joinArtifactPath("../x")).toThrow(/\.\./);
  });
});
