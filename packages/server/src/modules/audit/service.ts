import { Readable } from "node:stream";
import { AUTH_LIMITS, type AuditRecord, type AuditVerifyResponse } from "@cairn/contract";
import { GENESIS_HASH, toAuditRecord, verifyRun, type NewAuditRecord } from "./chain.js";
import type { AuditFilter, AuditStore } from "./store/audit-store.js";

const SCAN_PAGE = 2000;

/**
 * The audit log: appends records (several requests' records share one transaction, so the log
 * keeps up with the write path), queries them and verifies the hash chain. A record's promise
 * resolves only once it is committed; the HTTP layer waits for it before acknowledging a request.
 */
export class AuditLog {
  readonly #store: AuditStore;
  #queue: { record: NewAuditRecord; resolve: () => void; reject: (e: unknown) => void }[] = [];
  #scheduled = false;

  constructor(store: AuditStore) {
    this.#store = store;
  }

  /** Appends one record; resolves once it is committed (with the others queued in the same turn). */
  append(record: NewAuditRecord): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ record, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => void this.#flush());
      }
    });
  }

  async #flush(): Promise<void> {
    const batch = this.#queue;
    this.#queue = [];
    this.#scheduled = false;
    try {
      await this.#store.append(batch.map((b) => b.record));
      for (const b of batch) b.resolve();
    } catch (e) {
      for (const b of batch) b.reject(e);
    }
  }

  /** Records newest first; `nextBefore` continues to older ones. */
  async list(filter: AuditFilter, before?: number, limit: number = AUTH_LIMITS.auditPageDefault): Promise<{ records: AuditRecord[]; nextBefore?: number }> {
    const rows = await this.#store.list(filter, before, limit + 1);
    const page = rows.slice(0, limit);
    return { records: page.map(toAuditRecord), ...(rows.length > limit ? { nextBefore: page[page.length - 1]!.seq } : {}) };
  }

  /** The log (matching `filter`), oldest first, as JSON lines, read page by page. */
  exportJsonl(filter: AuditFilter = {}): Readable {
    const store = this.#store;
    let after = 0;
    let done = false;
    return new Readable({
      async read() {
        if (done) return;
        try {
          const rows = await store.scan(after, SCAN_PAGE, filter);
          if (rows.length === 0) {
            done = true;
            this.push(null);
            return;
          }
          after = rows[rows.length - 1]!.seq;
          this.push(rows.map((r) => JSON.stringify(toAuditRecord(r))).join("\n") + "\n");
        } catch (e) {
          this.destroy(e as Error);
        }
      },
    });
  }

  /** Walks the whole chain, oldest first, and reports the first record that does not verify. */
  async verify(): Promise<AuditVerifyResponse> {
    let head = { seq: 0, hash: GENESIS_HASH };
    for (;;) {
      const rows = await this.#store.scan(head.seq, SCAN_PAGE);
      if (rows.length === 0) return { ok: true, records: head.seq, headHash: head.hash };
      const res = verifyRun(head, rows);
      if (!res.ok) return { ok: false, records: res.verified, headHash: res.head.hash, firstBadSeq: res.seq, problem: res.problem };
      head = res.head;
    }
  }
}
