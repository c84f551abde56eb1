import fs from "node:fs";
import { expect } from "vitest";
import os from "node:os";
import path from "node:path";
import { PG_URL, pgUnreachable } from "./pg.js";
import { startServer, type RunningServer } from "../src/server.js";
import type { ServerConfig } from "../src/platform/config.js";

/** A fresh temporary directory, removed by the returned cleanup. */
export function tempDir(prefix = "cairn-test-"): { dir: string; cleanup(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Starts a server on a random port over a fresh data directory. */
export async function testServer(config: Partial<ServerConfig> = {}): Promise<RunningServer & { dataDir: string; stop(): Promise<void> }> {
  const tmp = tempDir();
  const server = await startServer({ port: 0, dataDir: tmp.dir, logLevel: "silent", ...config });
  return {
    ...server,
    dataDir: tmp.dir,
    stop: async () => {
      await server.close();
      tmp.cleanup();
    },
  };
}

/** JSON request helper: returns status and parsed body. */
export async function http(base: string, method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === "string" ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)["content-type"] ??= "application/json";
  }
  const res = await fetch(base + url, init);
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // keep text
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

export { PG_URL } from "./pg.js";

/**
 * Whether PostgreSQL is reachable. When it is not, service tests skip with a printed reason,
 * unless CAIRN_REQUIRE_SERVICES=1, in which case they fail.
 */
export async function pgAvailable(): Promise<boolean> {
  const reason = await pgUnreachable();
  if (!reason) return true;
  if (process.env.CAIRN_REQUIRE_SERVICES === "1") throw new Error(`PostgreSQL at ${PG_URL} is required (CAIRN_REQUIRE_SERVICES=1) but unreachable: ${reason}`);
  console.warn(`[skip] PostgreSQL at ${PG_URL} is unreachable (${reason}); skipping PostgreSQL tests`);
  return false;
}

/**
 * With auth on: `ac` calls as the bootstrap admin (or with the given headers), and `tokenOf` creates a
 * user with roles in projects and returns its token as an Authorization header.
 */
export function authAdmin(server: { url: string; bootstrapToken?: string | undefined }) {
  const admin: Record<string, string> = { authorization: `Bearer ${server.bootstrapToken!}` };
  const ac = (method: string, url: string, body?: unknown, headers: Record<string, string> = admin) => http(server.url, method, url, body, headers);
  const tokenOf = async (user: string, roles: Record<string, string>): Promise<Record<string, string>> => {
    expect((await ac("POST", "/api/v1/auth/users", { name: user })).status).toBe(201);
    for (const [p, role] of Object.entries(roles)) expect((await ac("PUT", `/api/v1/projects/${p}/members/${user}`, { role })).status).toBe(200);
    return { authorization: `Bearer ${(await ac("POST", "/api/v1/auth/tokens", { user, name: "t" })).body.token}` };
  };
  return { admin, ac, tokenOf };
}

/**
 * Polls `read` every 50 ms until `ok` accepts its value, and returns that value.
 * @throws Error naming `what` and the last value read when `ms` pass first
 */
export async function waitFor<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, ms = 15_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
