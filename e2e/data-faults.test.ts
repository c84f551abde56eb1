/**
 * Faults in data versioning, through the real CLI against real servers: an `add` and a `push`
 * killed with SIGKILL half-way through their uploads leave no version and resume on the next run;
 * a corrupted blob is refused by `pull`; a missing path and a symlink leaving the tree are clear
 * errors with codes.
 */
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATASET_LIMITS } from "@cairn/contract";
import { startServer } from "../packages/server/src/server.js";
import { CLI, ROOT, runCli } from "./processes.js";

type Server = Awaited<ReturnType<typeof startServer>>;
let a: Server;
let b: Server;
let tmp: string;
let env: Record<string, string>;

const sha = (buf: Buffer) => createHash("sha256").update(buf).digest("hex");

/**
 * A pass-through proxy to `target` that answers the first `allow` single-blob uploads (`PUT`; batches
 * pass) and then holds every further one open forever, so a client can be killed mid-upload at a known point.
 */
async function stallingProxy(target: string, allow: number): Promise<{ url: string; stalled: Promise<void>; close(): void }> {
  let uploads = 0;
  let onStall!: () => void;
  const stalled = new Promise<void>((r) => (onStall = r));
  const held: http.ServerResponse[] = [];
  const server = http.createServer((req, res) => {
    // The client is killed mid-request on purpose: its aborted request is no failure of the proxy.
    forward(req, res).catch(() => res.destroy());
  });
  const forward = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (req.method === "PUT" && /^\/api\/v1\/datasets\/[^/]+\/blobs\/[0-9a-f]{64}$/.test(req.url ?? "") && ++uploads > allow) {
      held.push(res);
      onStall();
      return;
    }
    const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !["host", "connection", "content-length", "transfer-encoding"].includes(k))) as Record<string, string>;
    const up = await fetch(target + req.url, { method: req.method, headers, ...(chunks.length ? { body: Buffer.concat(chunks) } : {}) });
    res.writeHead(up.status, Object.fromEntries([...up.headers].filter(([k]) => k !== "content-encoding" && k !== "transfer-encoding")));
    res.end(Buffer.from(await up.arrayBuffer()));
  };
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    stalled,
    close: () => {
      for (const r of held) r.destroy();
      server.close();
    },
  };
}

/** Starts the CLI and kills it with SIGKILL once `when` resolves. */
async function killWhen(url: string, args: string[], when: Promise<void>): Promise<NodeJS.Signals | null> {
  const child = spawn(process.execPath, ["--conditions=@cairn/source", "--import", "tsx", CLI, "--url", url, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: "ignore" });
  const exited = new Promise<NodeJS.Signals | null>((r) => child.on("exit", (_code, signal) => r(signal)));
  await Promise.race([when, exited]);
  child.kill("SIGKILL");
  return exited;
}

const cli = (url: string, args: string[]) => runCli(url, args, { env });
const json = async <T>(url: string, args: string[]): Promise<T> => {
  const r = await cli(url, ["--json", ...args]);
  if (r.code !== 0) throw new Error(`cairn ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
};
const versionsOf = async (s: Server, name: string) => {
  const r = await fetch(`${s.url}/api/v1/datasets/${name}/versions`);
  return r.status === 404 ? [] : ((await r.json()) as { versions: { number: number; fileCount: number }[] }).versions;
};

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-data-faults-"));
  env = { CAIRN_CACHE_DIR: path.join(tmp, "cache"), FORCE_COLOR: "0" };
  a = await startServer({ port: 0, dataDir: path.join(tmp, "a"), logLevel: "silent" });
  b = await startServer({ port: 0, dataDir: path.join(tmp, "b"), logLevel: "silent" });
});
afterAll(async () => {
  await a?.close();
  await b?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe("cairn data under faults", () => {
  const files = 12;
  const tree = () => path.join(tmp, "tree");

  it("resumes an add killed mid-upload, and no half version ever shows", async () => {
    for (let i = 0; i < files; i++) {
      fs.mkdirSync(tree(), { recursive: true });
      // Over the batch limit, so each file is its own PUT and the proxy can stall after a known number.
      fs.writeFileSync(path.join(tree(), `f${String(i).padStart(2, "0")}.bin`), randomBytes(DATASET_LIMITS.batchBlobMaxBytes + 1024));
    }
    const proxy = await stallingProxy(a.url, 5);
    try {
      const signal = await killWhen(proxy.url, ["data", "add", tree(), "--name", "resume"], proxy.stalled);
      expect(signal).toBe("SIGKILL");
    } finally {
      proxy.close();
    }
    expect(await versionsOf(a, "resume")).toEqual([]);
    const again = await json<{ blobsUploaded: number; blobsSkipped: number; version: { number: number; fileCount: number } }>(a.url, ["data", "add", tree(), "--name", "resume"]);
    expect(again.version).toMatchObject({ number: 1, fileCount: files });
    // The five blobs that landed before the kill were not sent again.
    expect(again.blobsSkipped).toBe(5);
    expect(again.blobsUploaded).toBe(files - 5);
  });

  it("resumes a push killed mid-copy; the remote shows the version only once whole", async () => {
    const proxy = await stallingProxy(b.url, 4);
    try {
      const signal = await killWhen(a.url, ["data", "push", "resume@v1", "--remote", proxy.url], proxy.stalled);
      expect(signal).toBe("SIGKILL");
    } finally {
      proxy.close();
    }
    expect(await versionsOf(b, "resume")).toEqual([]);
    const pushed = await json<{ blobsSent: number; blobsSkipped: number; version: { number: number; fileCount: number } }>(a.url, ["data", "push", "resume@v1", "--remote", b.url]);
    expect(pushed).toMatchObject({ blobsSent: files - 4, blobsSkipped: 4, version: { number: 1, fileCount: files } });
  });

  it("refuses a pull whose source blob does not match its hash, and lands nothing", async () => {
    const one = path.join(tmp, "one");
    fs.mkdirSync(one);
    const content = randomBytes(1000);
    fs.writeFileSync(path.join(one, "x.bin"), content);
    await json(b.url, ["data", "add", one, "--name", "corrupt-me"]);
    const blob = path.join(tmp, "b", "artifacts", "datasets", "blobs", "sha256", sha(content).slice(0, 2), sha(content));
    fs.writeFileSync(blob, Buffer.from("tampered"));
    const pull = await cli(a.url, ["data", "pull", "corrupt-me@v1", "--remote", b.url]);
    expect(pull.code).toBe(1);
    expect(pull.stderr).toMatch(/CHECKSUM_MISMATCH/);
    expect(await versionsOf(a, "corrupt-me")).toEqual([]);
  });

  it("answers a missing path and a symlink leaving the tree with clear errors", async () => {
    const missing = await cli(a.url, ["data", "add", path.join(tmp, "nope"), "--name", "x"]);
    expect([missing.code, missing.stderr]).toEqual([1, expect.stringMatching(/RESOURCE_DOES_NOT_EXIST/)]);
    const leaky = path.join(tmp, "leaky");
    fs.mkdirSync(leaky);
    fs.writeFileSync(path.join(leaky, "ok.txt"), "ok");
    fs.symlinkSync("/etc/hostname", path.join(leaky, "escape"));
    const sym = await cli(a.url, ["data", "add", leaky, "--name", "leaky"]);
    expect([sym.code, sym.stderr]).toEqual([1, expect.stringMatching(/INVALID_PARAMETER_VALUE.*escape/)]);
    expect(await versionsOf(a, "leaky")).toEqual([]);
  });
});
