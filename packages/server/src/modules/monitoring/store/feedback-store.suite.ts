import { describe, expect, it } from "vitest";
import type { InferenceRecord } from "@cairn/contract";
import type { InferenceLogStore } from "../../serving/store/inference-log-store.js";
import type { FeedbackStore } from "./feedback-store.js";

export interface FeedbackStores {
  feedback: FeedbackStore;
  log: InferenceLogStore;
}

const rec = (requestId: string, time: number, extra: Partial<InferenceRecord> = {}): InferenceRecord => ({
  requestId,
  version: "1",
  deployment: "fraud",
  arm: "primary",
  inputs: [],
  outputs: [{ name: "p", datatype: "FP32", shape: [1, 1], data: [time / 1000] }],
  latencyMs: 1,
  status: 200,
  time,
  ...extra,
});

/** The feedback store's behaviour, run against every backend. */
export function describeFeedbackStore(name: string, open: () => Promise<{ store: FeedbackStores; cleanup(): Promise<void> }>): void {
  describe(`FeedbackStore (${name})`, () => {
    it("stores labels, replaces a label for the same request, and fixes the label type with the first post", async () => {
      const { store, cleanup } = await open();
      const { feedback } = store;
      try {
        expect(await feedback.labelType("fraud")).toBeUndefined();
        expect(await feedback.upsert("fraud", "scorer", "boolean", [{ requestId: "a", label: true, time: 5 }, { requestId: "b", label: false, time: 6 }], 100)).toEqual({ accepted: 2, updated: 0 });
        expect(await feedback.labelType("fraud")).toBe("boolean");
        expect(await feedback.upsert("fraud", "scorer", "boolean", [{ requestId: "b", label: true, time: 7 }, { requestId: "c", label: false, time: 8 }], 200)).toEqual({ accepted: 1, updated: 1 });
        // Another type: nothing is written.
        expect(await feedback.upsert("fraud", "scorer", "number", [{ requestId: "d", label: 1, time: 9 }], 300)).toEqual({ mismatch: "boolean" });
        // Another deployment has its own type.
        expect(await feedback.upsert("other", "scorer", "number", [{ requestId: "a", label: 2.5, time: 9 }], 300)).toEqual({ accepted: 1, updated: 0 });
        expect(await feedback.labelType("other")).toBe("number");
        // Many at once (several statements).
        const many = Array.from({ length: 2500 }, (_, i) => ({ requestId: `m${i}`, label: i % 2 === 0, time: i }));
        expect(await feedback.upsert("fraud", "scorer", "boolean", many, 400)).toEqual({ accepted: 2500, updated: 0 });
        expect(await feedback.upsert("fraud", "scorer", "boolean", many.slice(0, 1500), 500)).toEqual({ accepted: 0, updated: 1500 });
      } finally {
        await cleanup();
      }
    });

    it("tells which request ids have a logged prediction of the deployment", async () => {
      const { store, cleanup } = await open();
      try {
        await store.log.append("scorer", [rec("a", 1000), rec("b", 2000), rec("b", 2000, { arm: "shadow", version: "2" }), rec("x", 3000, { deployment: "other" })]);
        const ids = ["a", "b", "x", "nope", ...Array.from({ length: 1500 }, (_, i) => `z${i}`)];
        expect([...(await store.feedback.loggedRequestIds("scorer", "fraud", ids))].sort()).toEqual(["a", "b"]);
        expect([...(await store.feedback.loggedRequestIds("scorer", "other", ids))]).toEqual(["x"]);
        expect((await store.feedback.loggedRequestIds("elsewhere", "fraud", ids)).size).toBe(0);
      } finally {
        await cleanup();
      }
    });

    it("joins labels to successful predictions of the deployment, per version, arm and window, and pages them", async () => {
      const { store, cleanup } = await open();
      const { feedback, log } = store;
      try {
        await log.append("scorer", [
          rec("a", 1000),
          rec("b", 1500),
          rec("c", 2500),
          rec("c", 2500, { arm: "shadow", version: "2" }),
          rec("d", 2600, { arm: "canary", version: "2" }),
          rec("e", 2700, { status: 500, outputs: null }),
          rec("f", 2800, { deployment: "other" }),
          rec("g", 9000),
          rec("h", 3000),
        ]);
        await feedback.upsert("fraud", "scorer", "boolean", ["a", "b", "c", "d", "e", "f", "g"].map((requestId, i) => ({ requestId, label: i % 2 === 0, time: 50 })), 100);
        // A label posted for the same request id of another model does not join.
        await feedback.upsert("fraud2", "other-model", "boolean", [{ requestId: "a", label: true, time: 1 }], 100);
        const scope = { model: "scorer", deployment: "fraud", from: 1000, to: 5000 };
        const counts = (await feedback.joinedCounts({ ...scope, windowMs: 1000 })).sort((x, y) => `${x.version}${x.arm}${x.bucket}`.localeCompare(`${y.version}${y.arm}${y.bucket}`));
        expect(counts).toEqual([
          { version: "1", arm: "primary", bucket: 0, count: 2 },
          { version: "1", arm: "primary", bucket: 1, count: 1 },
          { version: "2", arm: "canary", bucket: 1, count: 1 },
          { version: "2", arm: "shadow", bucket: 1, count: 1 },
        ]);
        const page = await feedback.joinedPage({ ...scope, version: "1", arm: "primary", limit: 2 });
        expect(page.map((r) => r.label)).toEqual([true, false]);
        expect(JSON.parse(page[0]!.outputs)).toEqual([{ name: "p", datatype: "FP32", shape: [1, 1], data: [1] }]);
        const rest = await feedback.joinedPage({ ...scope, version: "1", arm: "primary", after: { time: page[1]!.time, seq: page[1]!.seq }, limit: 2 });
        expect(rest.map((r) => r.label)).toEqual([true]);
        expect(await feedback.joinedPage({ ...scope, version: "1", arm: "primary", after: { time: rest[0]!.time, seq: rest[0]!.seq }, limit: 2 })).toEqual([]);
        expect((await feedback.joinedPage({ ...scope, version: "2", arm: "shadow", limit: 10 })).map((r) => r.label)).toEqual([true]);
        // A label that is corrected joins with its new value.
        await feedback.upsert("fraud", "scorer", "boolean", [{ requestId: "c", label: false, time: 60 }], 200);
        expect((await feedback.joinedPage({ ...scope, version: "2", arm: "shadow", limit: 10 })).map((r) => r.label)).toEqual([false]);
      } finally {
        await cleanup();
      }
    });

    it("counts and pages every successful prediction, labelled or not (for label-free estimates)", async () => {
      const { store, cleanup } = await open();
      const { feedback, log } = store;
      try {
        await log.append("scorer", [rec("a", 1000), rec("b", 1500), rec("b2", 1500), rec("c", 2500), rec("c", 2500, { arm: "shadow", version: "2" }), rec("e", 2700, { status: 500, outputs: null }), rec("f", 2800, { deployment: "other" }), rec("g", 9000)]);
        await feedback.upsert("fraud", "scorer", "boolean", [{ requestId: "a", label: true, time: 1 }], 100);
        const scope = { model: "scorer", deployment: "fraud", from: 1000, to: 5000 };
        const counts = (await feedback.loggedCounts({ ...scope, windowMs: 1000 })).sort((x, y) => `${x.version}${x.arm}${x.bucket}`.localeCompare(`${y.version}${y.arm}${y.bucket}`));
        expect(counts).toEqual([
          { version: "1", arm: "primary", bucket: 0, count: 3 },
          { version: "1", arm: "primary", bucket: 1, count: 1 },
          { version: "2", arm: "shadow", bucket: 1, count: 1 },
        ]);
        // Keyset pages: two rows share a time, so the page boundary falls between them.
        const first = await feedback.loggedPage({ ...scope, version: "1", arm: "primary", limit: 2 });
        const rest = await feedback.loggedPage({ ...scope, version: "1", arm: "primary", after: { time: first[1]!.time, seq: first[1]!.seq }, limit: 10 });
        expect([...first, ...rest].map((r) => r.time)).toEqual([1000, 1500, 1500, 2500]);
        expect(new Set([...first, ...rest].map((r) => r.seq)).size).toBe(4);
        expect(JSON.parse(rest[rest.length - 1]!.outputs)).toEqual([{ name: "p", datatype: "FP32", shape: [1, 1], data: [2.5] }]);
      } finally {
        await cleanup();
      }
    });
  });
}
