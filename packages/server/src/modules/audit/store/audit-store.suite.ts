import { sql } from "kysely";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openDatabase } from "../../../platform/db/database.js";
import type { TestDb } from "../../../../test/db.js";
import { GENESIS_HASH, type NewAuditRecord } from "../chain.js";
import { AuditLog } from "../service.js";
import { createAuditStore, type AuditStore } from "./audit-store.js";

const rec = (i: number, over: Partial<NewAuditRecord> = {}): NewAuditRecord => ({
  time: 1000 + i,
  actor: i % 2 ? "ana" : "bo",
  action: i % 3 ? "setAlias" : "createRun",
  resource: `model:m_${i % 2}`,
  beforeJson: null,
  afterJson: JSON.stringify({ i }),
  status: 200,
  requestId: `r-${i}`,
  client: "127.0.0.1",
  ...over,
});

/** The audit store's behaviour (chaining, queries, append-only, concurrent appenders), on every backend. */
export function describeAuditStore(backend: string, open: () => Promise<TestDb>): void {
  describe(`AuditStore (${backend})`, () => {
    let t: TestDb;
    let store: AuditStore;
    beforeEach(async () => {
      t = await open();
      store = await createAuditStore(t.db);
    });
    afterEach(async () => {
      await store.close();
      await t.cleanup();
    });

    it("chains appended records from the genesis hash, with dense sequence numbers", async () => {
      const a = await store.append([rec(1), rec(2)]);
      const b = await store.append([rec(3)]);
      expect(a.map((r) => r.seq)).toEqual([1, 2]);
      expect(a[0]!.prevHash).toBe(GENESIS_HASH);
      expect(a[1]!.prevHash).toBe(a[0]!.hash);
      expect(b[0]!.prevHash).toBe(a[1]!.hash);
      expect(await new AuditLog(store).verify()).toEqual({ ok: true, records: 3, headHash: b[0]!.hash });
    });

    it("lists newest first with filters, prefix matches that treat _ and % literally, and paging", async () => {
      await store.append(Array.from({ length: 10 }, (_, i) => rec(i + 1)));
      await store.append([rec(11, { resource: "model:mX1" })]);
      const log = new AuditLog(store);
      const all = await log.list({}, undefined, 4);
      expect(all.records.map((r) => r.seq)).toEqual([11, 10, 9, 8]);
      expect(all.nextBefore).toBe(8);
      expect((await log.list({}, all.nextBefore, 100)).records.map((r) => r.seq)).toEqual([7, 6, 5, 4, 3, 2, 1]);
      expect((await log.list({ resource: "model:m_1" }, undefined, 100)).records.every((r) => r.resource === "model:m_1")).toBe(true);
      // `_` in a prefix is literal: model:m_* must not match model:mX1.
      expect((await log.list({ resource: "model:m_*" }, undefined, 100)).records).toHaveLength(10);
      expect((await log.list({ actor: "ana", action: "setAlias" }, undefined, 100)).records.every((r) => r.actor === "ana" && r.action === "setAlias")).toBe(true);
      expect((await log.list({ since: 1003, until: 1004 }, undefined, 100)).records.map((r) => r.seq)).toEqual([4, 3]);
      expect((await log.list({}, undefined, 1)).records[0]!.after).toEqual({ i: 11 });
    });

    it("refuses UPDATE and DELETE, and verify pinpoints a record altered behind the triggers' back", async () => {
      await store.append([rec(1), rec(2), rec(3)]);
      await expect(sql`update audit_log set actor = 'mallory' where seq = 2`.execute(t.db.kysely)).rejects.toThrow(/append-only/);
      await expect(sql`delete from audit_log where seq = 3`.execute(t.db.kysely)).rejects.toThrow(/append-only/);
      const dropUpdate = backend === "postgres" ? sql`drop trigger audit_log_no_change on audit_log` : sql`drop trigger audit_log_no_update`;
      await dropUpdate.execute(t.db.kysely);
      await sql`update audit_log set actor = 'mallory' where seq = 2`.execute(t.db.kysely);
      const v = await new AuditLog(store).verify();
      expect(v).toMatchObject({ ok: false, firstBadSeq: 2, records: 1 });
      expect(v.problem).toMatch(/altered/);
    });

    it("detects a deleted record in the middle", async () => {
      await store.append([rec(1), rec(2), rec(3)]);
      if (backend === "postgres") await sql`drop trigger audit_log_no_change on audit_log`.execute(t.db.kysely);
      else await sql`drop trigger audit_log_no_delete`.execute(t.db.kysely);
      await sql`delete from audit_log where seq = 2`.execute(t.db.kysely);
      expect(await new AuditLog(store).verify()).toMatchObject({ ok: false, firstBadSeq: 3, problem: "record 2 is missing (next is 3)" });
    });

    it("keeps one unbroken chain when two servers append to the same database at once", async () => {
      const other = await openDatabase(t.uri);
      try {
        const store2 = await createAuditStore(other);
        const logs = [new AuditLog(store), new AuditLog(store2)];
        await Promise.all(Array.from({ length: 200 }, (_, i) => logs[i % 2]!.append(rec(i))));
        const v = await logs[0]!.verify();
        expect(v).toMatchObject({ ok: true, records: 200 });
      } finally {
        await other.close();
      }
    });

    it("exports JSON lines oldest first", async () => {
      await store.append(Array.from({ length: 5 }, (_, i) => rec(i + 1)));
      const chunks: Buffer[] = [];
      for await (const c of new AuditLog(store).exportJsonl({ actor: "ana" })) chunks.push(Buffer.from(c));
      const lines = Buffer.concat(chunks).toString().trim().split("\n").map((l) => JSON.parse(l));
      expect(lines.map((l) => l.seq)).toEqual([1, 3, 5]);
      expect(lines[0]).toMatchObject({ actor: "ana", after: { i: 1 }, before: null });
    });
  });
}
