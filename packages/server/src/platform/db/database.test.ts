import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { afterAll, describe, expect, it } from "vitest";
import { migrate, openDatabase, sqlitePathFromUri } from "./database.js";
import type { Migration } from "./database.js";

const dir = mkdtempSync(join(tmpdir(), "cairn-db-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const table = (name: string): Migration => ({ up: async (db) => void (await sql`create table ${sql.id(name)} (id integer)`.execute(db)) });

describe("openDatabase (sqlite)", () => {
  it("parses sqlite URIs", () => {
    expect(sqlitePathFromUri("sqlite:///abs/path.db")).toBe("/abs/path.db");
    expect(sqlitePathFromUri("sqlite::memory:")).toBe(":memory:");
    expect(sqlitePathFromUri("sqlite:rel.db")).toBe("rel.db");
  });

  it("creates parent directories and sets the pragmas", async () => {
    const db = await openDatabase(`sqlite://${join(dir, "a", "b", "c.db")}`);
    expect(db.kind).toBe("sqlite");
    expect(db.sqlite!.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(db.sqlite!.pragma("synchronous", { simple: true })).toBe(1);
    expect(db.sqlite!.pragma("foreign_keys", { simple: true })).toBe(1);
    expect(db.sqlite!.pragma("busy_timeout", { simple: true })).toBeGreaterThan(0);
    expect(db.sqlite!.prepare("SELECT 'A' LIKE 'a' AS x").get()).toEqual({ x: 0 });
    await db.close();
    await db.close();
  });

  it("rejects unknown schemes", async () => {
    await expect(openDatabase("mysql://x")).rejects.toThrow(/Unsupported database URI/);
    const err = await openDatabase("mysql://user:secret@host/db").catch((e: Error) => e);
    expect((err as Error).message).toContain("user:***@host");
    expect((err as Error).message).not.toContain("secret");
  });
});

describe("migrate", () => {
  it("applies modules separately, in name order, once", async () => {
    const db = await openDatabase(`sqlite://${join(dir, "m.db")}`);
    const order: string[] = [];
    const track = (name: string): Migration => ({ up: async (k) => { order.push(name); await table(name).up(k); } });
    await migrate(db, { tracking_0002_b: track("tracking_b"), tracking_0001_a: track("tracking_a") });
    // Another module, named before "tracking", migrates later on its own.
    await migrate(db, { registry_0001_a: track("registry_a") });
    await migrate(db, { tracking_0001_a: track("tracking_a"), tracking_0002_b: track("tracking_b"), tracking_0003_c: track("tracking_c") });
    expect(order).toEqual(["tracking_a", "tracking_b", "registry_a", "tracking_c"]);
    await db.close();
  });

  it("reports a failing migration", async () => {
    const db = await openDatabase("sqlite::memory:");
    await expect(migrate(db, { x_0001: { up: async () => { throw new Error("boom"); } } })).rejects.toThrow(/boom/);
    await db.close();
  });
});

describe("migrate atomicity", () => {
  it("rolls back a failing SQLite migration", async () => {
    const db = await openDatabase("sqlite::memory:");
    await expect(
      migrate(db, {
        y_0001: {
          up: async (k) => {
            await sql`create table half (id integer)`.execute(k);
            throw new Error("fails after DDL");
          },
        },
      }),
    ).rejects.toThrow(/fails after DDL/);
    expect(db.sqlite!.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'half'").get()).toEqual({ n: 0 });
    await db.close();
  });
});
