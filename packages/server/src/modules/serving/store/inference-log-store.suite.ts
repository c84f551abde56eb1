import { describe, expect, it } from "vitest";
import type { InferenceRecord } from "@cairn/contract";
import type { InferenceLogStore } from "./inference-log-store.js";

function record(i: number, extra: Partial<InferenceRecord> = {}): InferenceRecord {
  return {
    requestId: `req-${i}`,
    version: "1",
    deployment: "serve:scorer",
    arm: "primary",
    inputs: [{ name: "features", datatype: "FP32", shape: [1, 2], data: [i, i + 0.5] }],
    outputs: [{ name: "probability", datatype: "FP32", shape: [1, 1], data: [i / 100] }],
    latencyMs: 1.5,
    status: 200,
    time: 1_000_000 + i * 1000,
    ...extra,
  };
}

/** The inference log store's behaviour, run against every backend. */
export function describeInferenceLogStore(name: string, open: () => Promise<{ store: InferenceLogStore; cleanup(): Promise<void> }>): void {
  describe(`InferenceLogStore (${name})`, () => {
    it("appends a batch atomically, skips request ids already logged, and reads it back oldest first", async () => {
      const { store, cleanup } = await open();
      try {
        expect(await store.append("scorer", [record(1), record(2), record(3)])).toBe(3);
        // A retried batch: nothing doubles, and the first copy stays.
        expect(await store.append("scorer", [record(2, { latencyMs: 99 }), record(4)])).toBe(1);
        const all = await store.query({ model: "scorer", limit: 100 });
        expect(all.map((r) => r.requestId)).toEqual(["req-1", "req-2", "req-3", "req-4"]);
        expect(all[1]).toMatchObject({ model: "scorer", latencyMs: 1.5, inputs: record(2).inputs, outputs: record(2).outputs, status: 200, arm: "primary" });
        // Another model's log is separate, even with the same request ids.
        expect(await store.append("other", [record(1)])).toBe(1);
        expect((await store.query({ model: "other", limit: 10 })).length).toBe(1);
        // A shadow's answer to the same request is its own record.
        expect(await store.append("scorer", [record(1, { arm: "shadow", version: "2" })])).toBe(1);
        expect((await store.query({ model: "scorer", arm: "shadow", limit: 10 })).map((r) => [r.requestId, r.version])).toEqual([["req-1", "2"]]);
      } finally {
        await cleanup();
      }
    });

    it("filters by time range, version, deployment and arm, and pages by sequence", async () => {
      const { store, cleanup } = await open();
      try {
        const batch = Array.from({ length: 30 }, (_, i) => record(i, { version: i < 20 ? "1" : "2", arm: i % 10 === 0 ? "canary" : "primary", deployment: i % 2 ? "a" : "b" }));
        await store.append("m", batch);
        expect((await store.query({ model: "m", version: "2", limit: 100 })).length).toBe(10);
        expect((await store.query({ model: "m", arm: "canary", limit: 100 })).map((r) => r.requestId)).toEqual(["req-0", "req-10", "req-20"]);
        expect((await store.query({ model: "m", deployment: "a", limit: 100 })).length).toBe(15);
        const window = await store.query({ model: "m", from: 1_000_000 + 5000, to: 1_000_000 + 9000, limit: 100 });
        expect(window.map((r) => r.requestId)).toEqual(["req-5", "req-6", "req-7", "req-8"]);
        const first = await store.query({ model: "m", limit: 12 });
        const second = await store.query({ model: "m", limit: 100, afterSeq: first[first.length - 1]!.seq });
        expect([...first, ...second].map((r) => r.requestId)).toEqual(batch.map((r) => r.requestId));
      } finally {
        await cleanup();
      }
    });

    it("writes large batches whole", async () => {
      const { store, cleanup } = await open();
      try {
        const big = Array.from({ length: 2500 }, (_, i) => record(i));
        expect(await store.append("big", big)).toBe(2500);
        expect((await store.query({ model: "big", limit: 10_000 })).length).toBe(2500);
      } finally {
        await cleanup();
      }
    });
  });
}
