import { hash as digest } from "node:crypto";
import type { AuditRecord } from "@cairn/contract";

/** The `prevHash` of the first record. */
export const GENESIS_HASH = "0".repeat(64);

/** An audit record as stored: `before`/`after` as JSON text (hashed as stored, so no re-serialization can change a hash). */
export interface StoredAuditRecord {
  seq: number;
  time: number;
  actor: string;
  action: string;
  resource: string;
  beforeJson: string | null;
  afterJson: string | null;
  status: number;
  requestId: string;
  client: string;
  prevHash: string;
  hash: string;
}

/** A record before it is chained: the store assigns `seq`, `prevHash` and `hash`. */
export type NewAuditRecord = Omit<StoredAuditRecord, "seq" | "prevHash" | "hash">;

/** SHA-256 (hex) over the previous hash and every field of the record, in a fixed order. */
export function recordHash(r: Omit<StoredAuditRecord, "hash">): string {
  const canonical = JSON.stringify([r.seq, r.time, r.actor, r.action, r.resource, r.beforeJson, r.afterJson, r.status, r.requestId, r.client, r.prevHash]);
  return digest("sha256", canonical, "hex");
}

/** Chains new records after a head (`seq`, `hash` of the newest stored record). */
export function chain(head: { seq: number; hash: string }, records: NewAuditRecord[]): StoredAuditRecord[] {
  let { seq, hash } = head;
  return records.map((r) => {
    const out = { ...r, seq: ++seq, prevHash: hash, hash: "" };
    out.hash = hash = recordHash(out);
    return out;
  });
}

/** The API form of a stored record. */
export function toAuditRecord(r: StoredAuditRecord): AuditRecord {
  const { beforeJson, afterJson, ...rest } = r;
  return { ...rest, before: beforeJson === null ? null : JSON.parse(beforeJson), after: afterJson === null ? null : JSON.parse(afterJson) };
}

/**
 * Checks a run of records, oldest first, continuing from `head`: contiguous `seq`, each `prevHash`
 * equal to the previous hash, each hash recomputed. Returns the first problem, or the new head.
 */
export function verifyRun(
  head: { seq: number; hash: string },
  records: StoredAuditRecord[],
): { ok: true; head: { seq: number; hash: string } } | { ok: false; seq: number; problem: string; verified: number; head: { seq: number; hash: string } } {
  let cur = head;
  const bad = (seq: number, problem: string) => ({ ok: false as const, seq, problem, verified: cur.seq, head: cur });
  for (const r of records) {
    if (r.seq !== cur.seq + 1) return bad(r.seq, `record ${cur.seq + 1} is missing (next is ${r.seq})`);
    if (r.prevHash !== cur.hash) return bad(r.seq, `record ${r.seq} does not link to record ${cur.seq}`);
    const { hash, ...rest } = r;
    if (recordHash(rest) !== hash) return bad(r.seq, `record ${r.seq} was altered (its hash does not match its contents)`);
    cur = { seq: r.seq, hash };
  }
  return { ok: true, head: cur };
}
