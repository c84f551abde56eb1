import fs from "node:fs";
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
