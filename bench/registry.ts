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

interface Measured {
  aliasP50: number;
  aliasP95: number;
  aliasRps: number;
  tagP50: number;
  tagRps: number;
}

/** Get-by-alias and a mutating request (set a model tag), as one client and under load, against one server. */
async function measure(url: string, headers: Record<string, string>): Promise<Measured> {
  const alias = (i: number) => `${url}/api/v1/models/${modelName(i % MODELS)}/aliases/champion`;
  const aliasLat = await latencies(LATENCY_N, async (i) => expectOk(await fetch(alias(i), { headers }), "get alias"));
  const tagUrl = (i: number) => `${url}/api/v1/models/${modelName(i % 100)}/tags`;
  const json = { ...headers, "content-type": "application/json" };
  const tagLat = await latencies(Math.min(LATENCY_N, 1000), async (i) => expectOk(await fetch(tagUrl(i), { method: "PUT", headers: json, body: JSON.stringify({ key: "note", value: `v${i}` }) }), "set tag"));
  const aliasRps = await throughput(alias(1234), "GET", headers);
  const tagRps = await throughput(tagUrl(7), "PUT", json, (i) => JSON.stringify({ key: "note", value: `v${i}` }));
  return { aliasP50: percentile(aliasLat, 50), aliasP95: percentile(aliasLat, 95), aliasRps, tagP50: percentile(tagLat, 50), tagRps };
}

async function withServer<T>(dataDir: string, extra: string[], env: NodeJS.ProcessEnv, fn: (url: string) => Promise<T>): Promise<T> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = await startProcess(["packages/server/bin/cairn.js", "server", "--port", String(port), "--data-dir", dataDir, "--log-level", "warn", ...extra], url, "/health", env);
  try {
    return await fn(url);
  } finally {
    await stopProcess(child);
  }
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

    log("auth and audit off");
    const off = await withServer(dataDir, ["--no-audit"], {}, async (url) => {
      const searches: Record<string, number[]> = {};
      const post = (p: string, body: unknown) => fetch(`${url}${p}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      const q: [string, string, unknown][] = [
        ["models: name LIKE prefix, 100 results", "/api/v1/models/search", { filter: "name LIKE 'model-12%'", maxResults: 100 }],
        ["models: tag filter, order by name, 100 results", "/api/v1/models/search", { filter: "tags.team = 'team-7'", maxResults: 100 }],
        ["versions: one model's versions", "/api/v1/model-versions/search", { filter: `name = '${modelName(4321)}'` }],
        ["versions: tag filter across all, 1000 results", "/api/v1/model-versions/search", { filter: "tags.stage = 'b'", maxResults: 1000 }],
      ];
      for (const [label, p, body] of q) searches[label] = await latencies(50, async () => expectOk(await post(p, body), label));
      return { m: await measure(url, {}), searches };
    });

    log("auth and audit on (a project editor's token)");
    const on = await withServer(dataDir, [], { CAIRN_AUTH_TOKENS: ADMIN_TOKEN }, async (url) => {
      const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" };
      await expectOk(await fetch(`${url}/api/v1/auth/users`, { method: "POST", headers: admin, body: JSON.stringify({ name: "bench-editor" }) }), "create user");
      await expectOk(await fetch(`${url}/api/v1/projects/default/members/bench-editor`, { method: "PUT", headers: admin, body: JSON.stringify({ role: "editor" }) }), "grant");
      const tok = await (await fetch(`${url}/api/v1/auth/tokens`, { method: "POST", headers: admin, body: JSON.stringify({ user: "bench-editor", name: "bench" }) })).json();
      const m = await measure(url, { authorization: `Bearer ${tok.token}` });
      const verify = await (await fetch(`${url}/api/v1/audit/verify`, { headers: admin })).json();
      if (!verify.ok) throw new Error(`audit chain broken: ${JSON.stringify(verify)}`);
      return { m, auditRecords: verify.records as number };
    });

    const bareP50 = percentile(bareLat, 50);
    figures.push({ name: "get-by-alias p50 (10k models, one client)", value: off.m.aliasP50, unit: "ms", baseline: { name: "bare Fastify route", value: bareP50, unit: "ms" }, target: "<= 5 ms", pass: off.m.aliasP50 <= 5 });
    figures.push({ name: "get-by-alias p95", value: off.m.aliasP95, unit: "ms" });
    figures.push({ name: "get-by-alias throughput (16 connections)", value: off.m.aliasRps, unit: "req/s" });
    for (const [label, lat] of Object.entries(off.searches)) {
      figures.push({ name: `search ${label} p50 (${MODELS} models, ${MODELS * VERSIONS_PER_MODEL} versions)`, value: percentile(lat, 50), unit: "ms", target: "<= 50 ms", pass: percentile(lat, 50) <= 50 });
    }
    const overhead = (onV: number, offV: number) => onV / offV - 1;
    const ovAlias = overhead(on.m.aliasP50, off.m.aliasP50);
    const ovTag = overhead(on.m.tagP50, off.m.tagP50);
    figures.push({ name: "get-by-alias p50, auth on (editor token)", value: on.m.aliasP50, unit: "ms", baseline: { name: "auth and audit off", value: off.m.aliasP50, unit: "ms" }, ratio: 1 + ovAlias, target: "<= +15%", pass: ovAlias <= 0.15 });
    figures.push({ name: "get-by-alias throughput, auth on", value: on.m.aliasRps, unit: "req/s", baseline: { name: "auth and audit off", value: off.m.aliasRps, unit: "req/s" }, ratio: on.m.aliasRps / off.m.aliasRps });
    figures.push({ name: "set model tag p50, auth + audit on", value: on.m.tagP50, unit: "ms", baseline: { name: "auth and audit off", value: off.m.tagP50, unit: "ms" }, ratio: 1 + ovTag, target: "<= +15%", pass: ovTag <= 0.15 });
    figures.push({ name: "set model tag throughput, auth + audit on", value: on.m.tagRps, unit: "req/s", baseline: { name: "auth and audit off", value: off.m.tagRps, unit: "req/s" }, ratio: on.m.tagRps / off.m.tagRps });
    report("registry", figures, { machine: `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`, seedSeconds: Number(seedSeconds.toFixed(1)), auditRecordsVerified: on.auditRecords }, json);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
