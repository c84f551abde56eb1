import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import autocannon from "autocannon";
import { openDatabase } from "../packages/server/src/platform/db/database.js";
import { createRegistryStore } from "../packages/server/src/modules/registry/store/sql-registry-store.js";
import { freePort, percentile, report, ROOT, startProcess, stopProcess, type Figure } from "./util.js";

const MODELS = Number(process.env.BENCH_MODELS ?? 10_000);
const VERSIONS_PER_MODEL = Number(process.env.BENCH_VERSIONS_PER_MODEL ?? 10);
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 5);
const LATENCY_N = Number(process.env.BENCH_LATENCY_N ?? 2000);
const ADMIN_TOKEN = "bench-admin-token";

function log(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

const modelName = (i: number) => `model-${String(i).padStart(5, "0")}`;

/** Seeds models, versions, tags and a `champion` alias per model through the registry store (one transaction each). */
async function seed(dataDir: string): Promise<number> {
  const db = await openDatabase(`sqlite://${path.join(dataDir, "cairn.db")}`);
  const store = await createRegistryStore(db);
  const t0 = performance.now();
  try {
    for (let i = 0; i < MODELS; i++) {
      const name = modelName(i);
      await store.createRegisteredModel({ name, description: `bench model ${i}`, tags: { team: `team-${i % 20}` }, userId: "bench", time: 1_700_000_000_000 + i });
      for (let v = 1; v <= VERSIONS_PER_MODEL; v++) {
        await store.createModelVersion({ name, source: `mlflow-artifacts:/1/run${i}_${v}/artifacts/model`, runId: "", runLink: "", description: "", tags: { stage: v % 2 ? "a" : "b" }, userId: "bench", time: 1_700_000_000_000 + v, signature: null });
      }
      await store.setAlias(name, "champion", VERSIONS_PER_MODEL, { actor: "bench", time: 1_700_000_000_000 });
      if (i % 2000 === 1999) log(`seeded ${i + 1} models`);
    }
  } finally {
    await store.close();
    await db.close();
  }
  return (performance.now() - t0) / 1000;
}

async function latencies(n: number, fn: (i: number) => Promise<void>): Promise<number[]> {
  for (let i = 0; i < Math.min(200, n); i++) await fn(i);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn(i);
    out.push(performance.now() - t0);
  }
  return out.sort((a, b) => a - b);
}

async function expectOk(res: Response, what: string): Promise<void> {
  if (!res.ok) throw new Error(`${what} failed: ${res.status} ${await res.text()}`);
  await res.arrayBuffer();
}

async function throughput(url: string, method: "GET" | "PUT", headers: Record<string, string>, body?: (i: number) => string): Promise<number> {
  let i = 0;
  const result = await autocannon({
    url,
    method,
    connections: 16,
    duration: DURATION_S,
    headers,
    requests: body ? [{ setupRequest: (req: Record<string, unknown>) => ({ ...req, body: body(i++) }) }] : undefined,
  });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`load test saw ${result.non2xx} non-2xx answers and ${result.errors} errors`);
  return result.requests.average;
}

/** A request against one server, and what it is called in the report. */
interface Target {
  url: string;
  headers: Record<string, string>;
}

const aliasUrl = (t: Target, i: number) => `${t.url}/api/v1/models/${modelName(i % MODELS)}/aliases/champion`;
// Each server writes to its own models, so the two never touch the same rows.
const tagUrl = (t: Target, i: number, offset: number) => `${t.url}/api/v1/models/${modelName(offset + (i % 100))}/tags`;

async function getAlias(t: Target, i: number): Promise<void> {
  await expectOk(await fetch(aliasUrl(t, i), { headers: t.headers }), "get alias");
}

async function setTag(t: Target, i: number, offset: number): Promise<void> {
  await expectOk(await fetch(tagUrl(t, i, offset), { method: "PUT", headers: { ...t.headers, "content-type": "application/json" }, body: JSON.stringify({ key: "note", value: `v${i}` }) }), "set tag");
}

/**
 * Latency of the same request on two servers, interleaved (a, b, b, a, …) so that the machine's
 * drift during the run weighs on both alike. Returns sorted latencies of each.
 */
async function interleaved(n: number, a: (i: number) => Promise<void>, b: (i: number) => Promise<void>): Promise<[number[], number[]]> {
  for (let i = 0; i < 200; i++) await Promise.all([a(i), b(i)]);
  const la: number[] = [];
  const lb: number[] = [];
  const timed = async (fn: (i: number) => Promise<void>, i: number, out: number[]) => {
    const t0 = performance.now();
    await fn(i);
    out.push(performance.now() - t0);
  };
  for (let i = 0; i < n; i++) {
    if (i % 2) {
      await timed(a, i, la);
      await timed(b, i, lb);
    } else {
      await timed(b, i, lb);
      await timed(a, i, la);
    }
  }
  return [la.sort((x, y) => x - y), lb.sort((x, y) => x - y)];
}

async function startServer(dataDir: string, extra: string[], env: NodeJS.ProcessEnv): Promise<{ url: string; child: Awaited<ReturnType<typeof startProcess>> }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = await startProcess(["packages/server/bin/cairn.js", "server", "--port", String(port), "--data-dir", dataDir, "--log-level", "warn", ...extra], url, "/health", env);
  return { url, child };
}

export async function run({ json }: { json: boolean }): Promise<void> {
  if (!fs.existsSync(path.join(ROOT, "packages/server/dist/cli/main.js"))) throw new Error("build first: npm run build");
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-bench-registry-"));
  const dataDir = path.join(tmp, "data");
  fs.mkdirSync(dataDir, { recursive: true });
  const figures: Figure[] = [];
  try {
    log(`seeding ${MODELS} models × ${VERSIONS_PER_MODEL} versions`);
    const seedSeconds = await seed(dataDir);
    log(`seeded in ${seedSeconds.toFixed(1)} s`);

    const barePort = await freePort();
    const bareUrl = `http://127.0.0.1:${barePort}`;
    const bare = await startProcess(["--import", "tsx", "bench/bare-server.ts", String(barePort)], bareUrl);
    let bareLat: number[];
    try {
      bareLat = await latencies(LATENCY_N, async () => expectOk(await fetch(`${bareUrl}/health`), "bare"));
    } finally {
      await stopProcess(bare);
    }

    // Both servers run at once over the same data: one with auth and audit off, one with both on,
    // used with a project editor's token (so authorization resolves the model's project).
    const off = await startServer(dataDir, ["--no-audit"], {});
    const on = await startServer(dataDir, [], { CAIRN_AUTH_TOKENS: ADMIN_TOKEN });
    let auditRecords = 0;
    try {
      const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" };
      await expectOk(await fetch(`${on.url}/api/v1/auth/users`, { method: "POST", headers: admin, body: JSON.stringify({ name: "bench-editor" }) }), "create user");
      await expectOk(await fetch(`${on.url}/api/v1/projects/default/members/bench-editor`, { method: "PUT", headers: admin, body: JSON.stringify({ role: "editor" }) }), "grant");
      const tok = await (await fetch(`${on.url}/api/v1/auth/tokens`, { method: "POST", headers: admin, body: JSON.stringify({ user: "bench-editor", name: "bench" }) })).json();
      const A: Target = { url: off.url, headers: {} };
      const B: Target = { url: on.url, headers: { authorization: `Bearer ${tok.token}` } };

      log("searches");
      const post = (p: string, body: unknown) => fetch(`${off.url}${p}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      const q: [string, string, unknown][] = [
        ["models: name LIKE prefix, 100 results", "/api/v1/models/search", { filter: "name LIKE 'model-12%'", maxResults: 100 }],
        ["models: tag filter, order by name, 100 results", "/api/v1/models/search", { filter: "tags.team = 'team-7'", maxResults: 100 }],
        ["versions: one model's versions", "/api/v1/model-versions/search", { filter: `name = '${modelName(4321)}'` }],
        ["versions: tag filter across all, 1000 results", "/api/v1/model-versions/search", { filter: "tags.stage = 'b'", maxResults: 1000 }],
      ];
      for (const [label, p, body] of q) {
        const lat = await latencies(50, async () => expectOk(await post(p, body), label));
        figures.push({ name: `search ${label} p50 (${MODELS} models, ${MODELS * VERSIONS_PER_MODEL} versions)`, value: percentile(lat, 50), unit: "ms", target: "<= 50 ms", pass: percentile(lat, 50) <= 50 });
      }

      log("get-by-alias and set-tag, interleaved between the two servers");
      const [aliasOff, aliasOn] = await interleaved(LATENCY_N, (i) => getAlias(A, i), (i) => getAlias(B, i));
      const [tagOff, tagOn] = await interleaved(Math.min(LATENCY_N, 1000), (i) => setTag(A, i, 0), (i) => setTag(B, i, 100));
      log("throughput");
      const jsonTag = (i: number) => JSON.stringify({ key: "note", value: `v${i}` });
      const aliasRpsOff = await throughput(aliasUrl(A, 1234), "GET", A.headers);
      const aliasRpsOn = await throughput(aliasUrl(B, 1234), "GET", B.headers);
      const tagRpsOff = await throughput(tagUrl(A, 7, 0), "PUT", { "content-type": "application/json" }, jsonTag);
      const tagRpsOn = await throughput(tagUrl(B, 7, 100), "PUT", { ...B.headers, "content-type": "application/json" }, jsonTag);
      const verify = await (await fetch(`${on.url}/api/v1/audit/verify`, { headers: admin })).json();
      if (!verify.ok) throw new Error(`audit chain broken: ${JSON.stringify(verify)}`);
      auditRecords = verify.records;

      const p50 = (l: number[]) => percentile(l, 50);
      figures.push({ name: `get-by-alias p50 (${MODELS} models, one client)`, value: p50(aliasOff), unit: "ms", baseline: { name: "bare Fastify route", value: percentile(bareLat, 50), unit: "ms" }, target: "<= 5 ms", pass: p50(aliasOff) <= 5 });
      figures.push({ name: "get-by-alias p95", value: percentile(aliasOff, 95), unit: "ms" });
      figures.push({ name: "get-by-alias throughput (16 connections)", value: aliasRpsOff, unit: "req/s" });
      const over = (a: number, b: number) => a / b - 1;
      figures.push({ name: "get-by-alias p50, auth on (editor token)", value: p50(aliasOn), unit: "ms", baseline: { name: "auth and audit off", value: p50(aliasOff), unit: "ms" }, ratio: p50(aliasOn) / p50(aliasOff), target: "<= +15%", pass: over(p50(aliasOn), p50(aliasOff)) <= 0.15 });
      figures.push({ name: "get-by-alias throughput, auth on", value: aliasRpsOn, unit: "req/s", baseline: { name: "auth and audit off", value: aliasRpsOff, unit: "req/s" }, ratio: aliasRpsOn / aliasRpsOff });
      figures.push({ name: "set model tag p50, auth + audit on", value: p50(tagOn), unit: "ms", baseline: { name: "auth and audit off", value: p50(tagOff), unit: "ms" }, ratio: p50(tagOn) / p50(tagOff), target: "<= +15%", pass: over(p50(tagOn), p50(tagOff)) <= 0.15 });
      figures.push({ name: "set model tag throughput, auth + audit on", value: tagRpsOn, unit: "req/s", baseline: { name: "auth and audit off", value: tagRpsOff, unit: "req/s" }, ratio: tagRpsOn / tagRpsOff });
    } finally {
      await stopProcess(off.child);
      await stopProcess(on.child);
    }
    report("registry", figures, { machine: `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`, seedSeconds: Number(seedSeconds.toFixed(1)), auditRecordsVerified: auditRecords }, json);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
