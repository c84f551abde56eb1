import { spawn } from "node:child_process";
import path from "node:path";
import net from "node:net";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { http, pgAvailable, tempDir, testServer } from "./helpers.js";
import { freshPgSchema } from "./pg.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const CLI = path.join(ROOT, "packages/server/src/cli/main.ts");

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

async function spawnServer(dataDir: string, port: number) {
  const child = spawn(process.execPath, ["--conditions=@cairn/source", "--import", "tsx", CLI, "server", "--port", String(port), "--data-dir", dataDir, "--log-level", "error"], {
    cwd: ROOT,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`server exited: ${stderr}`);
    try {
      if ((await fetch(`${url}/health`)).ok) return { child, url };
    } catch {
      // not ready yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill("SIGKILL");
  throw new Error(`server did not start: ${stderr}`);
}

describe("durability and concurrency", () => {
  it("keeps every acknowledged write across kill -9", async () => {
    const tmp = tempDir();
    try {
      const port = await freePort();
      const first = await spawnServer(tmp.dir, port);
      const run = await http(first.url, "POST", "/api/2.0/mlflow/runs/create", { experiment_id: "0" });
      const runId = run.body.run.info.run_id;
      let acked = 0;
      let stop = false;
      const writer = (async () => {
        for (let b = 0; !stop; b++) {
          try {
            const r = await http(first.url, "POST", "/api/2.0/mlflow/runs/log-batch", {
              run_id: runId,
              metrics: Array.from({ length: 100 }, (_, i) => ({ key: "m", value: i, timestamp: 1, step: b * 100 + i })),
            });
            if (r.status === 200) acked += 100;
          } catch {
            return;
          }
        }
      })();
      await new Promise((r) => setTimeout(r, 1500));
      const exited = new Promise((r) => first.child.once("exit", r));
      first.child.kill("SIGKILL");
      stop = true;
      await writer;
      await exited;
      expect(acked).toBeGreaterThan(0);

      const second = await spawnServer(tmp.dir, port);
      try {
        let total = 0;
        let token: string | undefined;
        do {
          const page = await http(second.url, "GET", `/api/2.0/mlflow/metrics/get-history?run_id=${runId}&metric_key=m&max_results=25000${token ? `&page_token=${token}` : ""}`);
          total += page.body.metrics.length;
          token = page.body.next_page_token;
        } while (token);
        // Every acknowledged batch survived; at most the one in flight at the kill may also have landed.
        expect(total).toBeGreaterThanOrEqual(acked);
        expect(total - acked).toBeLessThanOrEqual(100);
        expect(total % 100).toBe(0);
        // Each acknowledged batch was acknowledged only after its audit record committed, and the chain survived the kill.
        let audited = 0;
        for (let before: number | undefined, page; ; before = page.body.nextBefore) {
          page = await http(second.url, "GET", `/api/v1/audit?action=mlflow:runs/log-batch&limit=1000${before ? `&before=${before}` : ""}`);
          audited += page.body.records.filter((r: { status: number }) => r.status === 200).length;
          if (page.body.nextBefore === undefined) break;
        }
        expect(audited * 100).toBeGreaterThanOrEqual(acked);
        expect((await http(second.url, "GET", "/api/v1/audit/verify")).body.ok).toBe(true);
      } finally {
        second.child.kill("SIGKILL");
      }
    } finally {
      tmp.cleanup();
    }
  });

  for (const backend of ["sqlite", "postgres"] as const) {
    it(`loses nothing with 8 concurrent writers (${backend})`, async (ctx) => {
      if (backend === "postgres" && !(await pgAvailable())) return ctx.skip();
      let cleanupPg = async () => {};
      const cfg: Record<string, unknown> = {};
      if (backend === "postgres") {
        const schema = await freshPgSchema();
        cfg.backendStoreUri = schema.url;
        cleanupPg = schema.drop;
      }
      const s = await testServer(cfg);
      try {
        const run = await http(s.url, "POST", "/api/v1/runs", { experimentId: "0" });
        const runId = run.body.run.info.runId;
        const writers = 8;
        const batches = 20;
        await Promise.all(
          Array.from({ length: writers }, async (_, w) => {
            for (let b = 0; b < batches; b++) {
              const r = await http(s.url, "POST", `/api/v1/runs/${runId}/log`, {
                metrics: Array.from({ length: 50 }, (_, i) => ({ key: `w${w}`, value: i, timestamp: 1, step: b * 50 + i })),
                params: [{ key: `p${w}_${b}`, value: String(b) }],
                tags: [{ key: "shared", value: `w${w}` }],
              });
              expect(r.status).toBe(200);
            }
          }),
        );
        const got = await http(s.url, "GET", `/api/v1/runs/${runId}`);
        expect(Object.keys(got.body.run.data.params)).toHaveLength(writers * batches);
        for (let w = 0; w < writers; w++) {
          const h = await http(s.url, "GET", `/api/v1/runs/${runId}/metrics/w${w}/history`);
          expect(h.body.metrics).toHaveLength(batches * 50);
          const ds = await http(s.url, "GET", `/api/v1/runs/${runId}/metrics/w${w}/downsampled?buckets=7`);
          expect(ds.body.totalPoints).toBe(batches * 50);
        }
      } finally {
        await s.stop();
        await cleanupPg();
      }
    });
  }
});

describe("two servers on one SQLite file", () => {
  it("serialise registry writes and audit appends instead of failing (no SQLITE_BUSY, one audit chain)", async () => {
    const tmp = tempDir();
    // Two processes, so their transactions really overlap.
    const a = await spawnServer(tmp.dir, await freePort());
    const b = await spawnServer(tmp.dir, await freePort());
    try {
      const exp = await http(a.url, "POST", "/api/v1/experiments", { name: "two-servers" });
      const run = await http(a.url, "POST", "/api/v1/runs", { experimentId: exp.body.experiment.experimentId });
      const source = `runs:/${run.body.run.info.runId}/model`;
      await http(a.url, "POST", "/api/v1/models", { name: "shared" });
      const results = await Promise.all(
        Array.from({ length: 40 }, async (_, i) => {
          const s = i % 2 ? a : b;
          return i % 4 < 2 ? http(s.url, "POST", "/api/v1/models/shared/versions", { source }) : http(s.url, "PUT", "/api/v1/models/shared/tags", { key: `k${i}`, value: "v" });
        }),
      );
      expect(results.map((r) => r.status).filter((st) => st >= 300)).toEqual([]);
      const versions = await http(b.url, "POST", "/api/v1/model-versions/search", { filter: "name = 'shared'" });
      expect(versions.body.modelVersions.map((v: { version: string }) => Number(v.version)).sort((x: number, y: number) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      expect((await http(a.url, "GET", "/api/v1/audit/verify")).body).toMatchObject({ ok: true, records: 43 });
    } finally {
      a.child.kill("SIGKILL");
      b.child.kill("SIGKILL");
      tmp.cleanup();
    }
  });
});
