/**
 * A tiny in-process HTTP server for SDK unit tests: it records every request (method, path,
 * query, body bytes and the parsed JSON) and answers with a minimal in-memory tracking API.
 * `intercept` can answer a request first (to inject 4xx/5xx answers or delays).
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface Recorded {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage["headers"];
  raw: Buffer;
  json: any;
}

export interface Reply {
  status: number;
  body?: unknown;
  /** Raw bytes instead of JSON. */
  bytes?: Buffer;
  delayMs?: number;
}

export interface FakeServer {
  url: string;
  requests: Recorded[];
  /** Requests to one path suffix, e.g. `/log`. */
  logRequests(): Recorded[];
  /** Answer before the default handler; return undefined to fall through. */
  intercept: ((r: Recorded) => Reply | undefined) | undefined;
  artifacts: Map<string, Buffer>;
  close(): Promise<void>;
}

const runInfo = (id: string, extra: Record<string, unknown> = {}) => ({
  runId: id,
  runName: `run-${id}`,
  experimentId: "1",
  userId: "u",
  status: "RUNNING",
  startTime: 1,
  endTime: null,
  artifactUri: `mlflow-artifacts:/1/${id}/artifacts`,
  lifecycleStage: "active",
  ...extra,
});

export async function startFakeServer(): Promise<FakeServer> {
  const requests: Recorded[] = [];
  const artifacts = new Map<string, Buffer>();
  const runs = new Map<string, Record<string, unknown>>();
  let runSeq = 0;
  const experiments = new Map<string, { experimentId: string; name: string }>();
  let expSeq = 0;

  const experiment = (e: { experimentId: string; name: string }) => ({
    ...e,
    artifactLocation: `mlflow-artifacts:/${e.experimentId}`,
    lifecycleStage: "active",
    creationTime: 1,
    lastUpdateTime: 1,
    tags: {},
  });

  const fallback = (r: Recorded): Reply => {
    const p = r.path;
    let m: RegExpMatchArray | null;
    if (r.method === "POST" && p === "/api/v1/experiments") {
      const e = { experimentId: String(++expSeq), name: r.json.name };
      experiments.set(e.experimentId, e);
      return { status: 201, body: { experiment: experiment(e) } };
    }
    if (r.method === "GET" && (m = p.match(/^\/api\/v1\/experiments-by-name\/(.+)$/))) {
      const name = decodeURIComponent(m[1]!);
      const e = [...experiments.values()].find((x) => x.name === name);
      return e ? { status: 200, body: { experiment: experiment(e) } } : { status: 404, body: { error_code: "RESOURCE_DOES_NOT_EXIST", message: `No experiment '${name}'` } };
    }
    if (r.method === "GET" && (m = p.match(/^\/api\/v1\/experiments\/([^/]+)$/))) {
      const e = experiments.get(decodeURIComponent(m[1]!));
      return e ? { status: 200, body: { experiment: experiment(e) } } : { status: 404, body: { error_code: "RESOURCE_DOES_NOT_EXIST", message: "no experiment" } };
    }
    if (r.method === "POST" && p === "/api/v1/runs") {
      const id = `r${++runSeq}`;
      const info = runInfo(id, { experimentId: r.json.experimentId, runName: r.json.runName ?? `run-${id}` });
      runs.set(id, info);
      return { status: 201, body: { run: { info, data: { metrics: [], params: {}, tags: r.json.tags ?? {} }, inputs: { datasetInputs: [] } } } };
    }
    if (r.method === "PATCH" && (m = p.match(/^\/api\/v1\/runs\/([^/]+)$/))) {
      const info = { ...(runs.get(m[1]!) ?? runInfo(m[1]!)), ...r.json };
      runs.set(m[1]!, info);
      return { status: 200, body: { run: { info, data: { metrics: [], params: {}, tags: {} }, inputs: { datasetInputs: [] } } } };
    }
    if (r.method === "POST" && /^\/api\/v1\/runs\/[^/]+\/log$/.test(p)) return { status: 200, body: {} };
    if (r.method === "PUT" && (m = p.match(/^\/api\/v1\/runs\/[^/]+\/artifacts\/(.+)$/))) {
      const path = m[1]!.split("/").map(decodeURIComponent).join("/");
      artifacts.set(path, r.raw);
      return { status: 201, body: { path, fileSize: r.raw.length } };
    }
    if (r.method === "GET" && /^\/api\/v1\/runs\/[^/]+\/artifacts$/.test(p)) {
      const dir = r.query.get("path") ?? "";
      const prefix = dir ? `${dir}/` : "";
      const children = new Map<string, { path: string; isDir: boolean; fileSize?: number }>();
      for (const [k, v] of artifacts) {
        if (!k.startsWith(prefix)) continue;
        const rest = k.slice(prefix.length);
        const [head, ...tail] = rest.split("/");
        const full = prefix + head;
        children.set(full, tail.length ? { path: full, isDir: true } : { path: full, isDir: false, fileSize: v.length });
      }
      return { status: 200, body: { rootUri: "x", files: [...children.values()].sort((a, b) => a.path.localeCompare(b.path)) } };
    }
    if (r.method === "GET" && (m = p.match(/^\/api\/v1\/runs\/[^/]+\/artifacts\/(.+)$/))) {
      const path = m[1]!.split("/").map(decodeURIComponent).join("/");
      const b = artifacts.get(path);
      return b ? { status: 200, bytes: b } : { status: 404, body: { error_code: "RESOURCE_DOES_NOT_EXIST", message: `No artifact '${path}'` } };
    }
    return { status: 404, body: { error_code: "ENDPOINT_NOT_FOUND", message: `${r.method} ${p}` } };
  };

  const fake: FakeServer = {
    url: "",
    requests,
    logRequests: () => requests.filter((r) => r.method === "POST" && r.path.endsWith("/log")),
    intercept: undefined,
    artifacts,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const u = new URL(req.url ?? "/", "http://x");
      const raw = Buffer.concat(chunks);
      let json: unknown;
      if ((req.headers["content-type"] ?? "").includes("json")) {
        try {
          json = JSON.parse(raw.toString("utf8"));
        } catch {
          json = undefined;
        }
      }
      const rec: Recorded = { method: req.method ?? "GET", path: u.pathname, query: u.searchParams, headers: req.headers, raw, json };
      requests.push(rec);
      const reply = fake.intercept?.(rec) ?? fallback(rec);
      const send = () => {
        if (reply.bytes) {
          res.writeHead(reply.status, { "content-type": "application/octet-stream", "content-length": reply.bytes.length });
          res.end(reply.bytes);
        } else {
          const body = JSON.stringify(reply.body ?? {});
          res.writeHead(reply.status, { "content-type": "application/json" });
          res.end(body);
        }
      };
      if (reply.delayMs) setTimeout(send, reply.delayMs);
      else send();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return fake;
}
