/**
 * `cairn auth …` and `cairn audit …` against a real server with auth on: users, projects, roles and
 * tokens through the CLI, then the audit log listed, exported, verified over the API and verified
 * straight on the database after tampering.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer } from "../packages/server/src/server.js";
import { runCli } from "./processes.js";

let server: Awaited<ReturnType<typeof startServer>>;
let dataDir: string;
let admin: string;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-e2e-auth-cli-"));
  server = await startServer({ port: 0, dataDir, logLevel: "silent", auth: true });
  admin = server.bootstrapToken!;
});

afterAll(async () => {
  await server?.close();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

const as = (token: string, ...args: string[]) => runCli(server.url, ["--token", token, ...args], { env: { CAIRN_TOKEN: undefined } });

describe("cairn auth and cairn audit", () => {
  it("manages users, projects, roles and tokens", async () => {
    expect((await as(admin, "auth", "user", "create", "ana")).stdout).toMatch(/Created user 'ana'/);
    expect((await as(admin, "auth", "project", "create", "risk", "--description", "credit risk")).code).toBe(0);
    expect((await as(admin, "auth", "project", "grant", "risk", "ana", "editor")).stdout).toMatch(/'ana' is now editor in 'risk'/);
    const bad = await as(admin, "auth", "project", "grant", "risk", "ana", "boss");
    expect(bad.code).toBe(2);
    const created = await as(admin, "--json", "auth", "token", "create", "--user", "ana", "--name", "laptop", "--expires", "30d");
    expect(created.code).toBe(0);
    const { token, info } = JSON.parse(created.stdout);
    expect(info.expiresAt - info.createdAt).toBe(30 * 86400 * 1000);

    const me = await as(token, "--json", "auth", "whoami");
    expect(JSON.parse(me.stdout)).toEqual({ authEnabled: true, user: "ana", admin: false, roles: { risk: "editor" } });
    const users = await as(admin, "auth", "user", "list");
    expect(users.stdout).toMatch(/^NAME\s+ADMIN\s+ROLES/);
    expect(users.stdout).toMatch(/ana\s+-\s+risk:editor/);
    // A non-admin cannot create users: the CLI prints the server's code and exits 1.
    const denied = await as(token, "auth", "user", "create", "eve");
    expect([denied.code, denied.stderr]).toEqual([1, expect.stringMatching(/^error: PERMISSION_DENIED: /)]);

    expect((await as(token, "auth", "token", "revoke", info.id)).stdout).toMatch(/Revoked token/);
    const after = await as(token, "auth", "whoami");
    expect([after.code, after.stderr]).toEqual([1, expect.stringMatching(/UNAUTHENTICATED: Token revoked/)]);
  });

  it("lists, exports and verifies the audit log, and verify finds tampering in the database", async () => {
    const list = await as(admin, "audit", "list", "--resource", "user:*");
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^SEQ\s+TIME\s+ACTOR\s+ACTION\s+RESOURCE\s+STATUS/);
    expect(list.stdout).toMatch(/admin\s+createUser\s+user:ana\s+201/);
    expect(list.stdout).toMatch(/createUser\s+user:eve\s+403/);

    const ok = await as(admin, "audit", "verify");
    expect([ok.code, ok.stdout]).toEqual([0, expect.stringMatching(/^OK: \d+ records, chain intact/)]);
    const out = path.join(dataDir, "audit.jsonl");
    expect((await as(admin, "audit", "export", "--actor", "admin", "--out", out)).code).toBe(0);
    const lines = fs.readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.length).toBeGreaterThan(3);
    expect(lines.every((l) => l.actor === "admin")).toBe(true);

    const db = new Database(path.join(dataDir, "cairn.db"));
    try {
      db.exec("drop trigger audit_log_no_update");
      db.prepare("update audit_log set actor = 'mallory' where seq = 2").run();
    } finally {
      db.close();
    }
    const broken = await runCli(server.url, ["audit", "verify", "--backend-store-uri", `sqlite://${path.join(dataDir, "cairn.db")}`]);
    expect([broken.code, broken.stdout]).toEqual([1, expect.stringMatching(/^TAMPERED: record 2 was altered/)]);
    const viaApi = await as(admin, "--json", "audit", "verify");
    expect(JSON.parse(viaApi.stdout)).toMatchObject({ ok: false, firstBadSeq: 2, records: 1 });
  });
});
