import { describe, expect, it } from "vitest";
import { DeploymentSpec } from "@cairn/contract";
import type { ChangeNote, DeploymentStore } from "./deployment-store.js";

const spec = (primary: string, extra: Record<string, unknown> = {}) => DeploymentSpec.parse({ model: "scorer", primary: { version: primary }, ...extra });
const note = (action: ChangeNote["action"], time: number, actor = "alice"): ChangeNote => ({ time, actor, action, message: `${action} at ${time}` });
const versions = (primary: string, canary: string | null = null) => ({ primary, canary, shadow: null });

/** The deployment store's behaviour, run against every backend. */
export function describeDeploymentStore(name: string, open: () => Promise<{ store: DeploymentStore; cleanup(): Promise<void> }>): void {
  describe(`DeploymentStore (${name})`, () => {
    it("creates, reads, lists by model, and refuses a second deployment of the same name", async () => {
      const { store, cleanup } = await open();
      try {
        const row = await store.create({ name: "fraud", description: "d", spec: spec("1"), aliasSeen: {}, versions: versions("1"), createdAt: 10, updatedAt: 10, createdBy: "alice" }, note("create", 10));
        expect(row.revision).toBe(1);
        await store.create({ name: "other", description: "", spec: { ...spec("2"), model: "m2" }, aliasSeen: {}, versions: versions("2"), createdAt: 11, updatedAt: 11, createdBy: "bob" }, note("create", 11, "bob"));
        expect(await store.get("fraud")).toEqual(row);
        expect(await store.get("nope")).toBeUndefined();
        expect((await store.list()).map((d) => d.name)).toEqual(["fraud", "other"]);
        expect((await store.list("m2")).map((d) => d.name)).toEqual(["other"]);
        await expect(store.create({ name: "fraud", description: "", spec: spec("3"), aliasSeen: {}, versions: versions("3"), createdAt: 12, updatedAt: 12, createdBy: "x" }, note("create", 12))).rejects.toMatchObject({ code: "RESOURCE_ALREADY_EXISTS" });
        expect((await store.get("fraud"))!.spec.primary).toEqual({ version: "1" });
      } finally {
        await cleanup();
      }
    });

    it("updates by compare-and-set on the revision and records from → to in the history", async () => {
      const { store, cleanup } = await open();
      try {
        await store.create({ name: "fraud", description: "", spec: spec("1"), aliasSeen: {}, versions: versions("1"), createdAt: 10, updatedAt: 10, createdBy: "alice" }, note("create", 10));
        const next = spec("1", { canary: { version: "2", percent: 10 } });
        const updated = await store.update("fraud", 1, { description: "with canary", spec: next, aliasSeen: {}, versions: versions("1", "2") }, note("update", 20, "bob"));
        expect(updated).toMatchObject({ revision: 2, description: "with canary", updatedAt: 20, createdAt: 10, aliasSeen: {}, versions: versions("1", "2") });
        // A change computed from revision 1 is stale now: nothing is written.
        expect(await store.update("fraud", 1, { description: "", spec: spec("9"), aliasSeen: {}, versions: versions("9") }, note("update", 21))).toBeUndefined();
        expect(await store.update("nope", 1, { description: "", spec: spec("9"), aliasSeen: {}, versions: versions("9") }, note("update", 21))).toBeUndefined();
        const history = await store.history("fraud", { limit: 10 });
        expect(history.map((h) => [h.revision, h.action, h.actor])).toEqual([[2, "update", "bob"], [1, "create", "alice"]]);
        expect(history[0]!.from).toEqual({ spec: spec("1"), versions: versions("1") });
        expect(history[0]!.to).toEqual({ spec: next, versions: versions("1", "2") });
        expect(history[1]!.from).toBeNull();
        expect(await store.historyEntry("fraud", 1)).toEqual(history[1]);
        expect(await store.historyEntry("fraud", 7)).toBeUndefined();
        expect((await store.history("fraud", { limit: 10, before: 2 })).map((h) => h.revision)).toEqual([1]);
        expect((await store.history("fraud", { limit: 1 })).map((h) => h.revision)).toEqual([2]);
      } finally {
        await cleanup();
      }
    });

    it("deletes by compare-and-set, keeps the history, and a new deployment of the name continues its numbering", async () => {
      const { store, cleanup } = await open();
      try {
        await store.create({ name: "fraud", description: "", spec: spec("1"), aliasSeen: {}, versions: versions("1"), createdAt: 10, updatedAt: 10, createdBy: "alice" }, note("create", 10));
        expect(await store.delete("fraud", 5, note("delete", 20))).toBe(false);
        expect(await store.delete("fraud", 1, note("delete", 20))).toBe(true);
        expect(await store.get("fraud")).toBeUndefined();
        expect(await store.delete("fraud", 1, note("delete", 21))).toBe(false);
        const again = await store.create({ name: "fraud", description: "", spec: spec("4"), aliasSeen: {}, versions: versions("4"), createdAt: 30, updatedAt: 30, createdBy: "carol" }, note("create", 30, "carol"));
        expect([again.revision, again.firstRevision]).toEqual([3, 3]);
        expect((await store.history("fraud", { limit: 10, from: 3 })).map((h) => h.revision)).toEqual([3]);
        expect((await store.history("fraud", { limit: 10 })).map((h) => [h.revision, h.action])).toEqual([[3, "create"], [2, "delete"], [1, "create"]]);
      } finally {
        await cleanup();
      }
    });

    it("lets exactly one of two concurrent changes from the same revision win", async () => {
      const { store, cleanup } = await open();
      try {
        await store.create({ name: "fraud", description: "", spec: spec("1"), aliasSeen: {}, versions: versions("1"), createdAt: 10, updatedAt: 10, createdBy: "alice" }, note("create", 10));
        const results = await Promise.all(["2", "3", "4"].map((v) => store.update("fraud", 1, { description: "", spec: spec(v), aliasSeen: {}, versions: versions(v) }, note("update", 20))));
        expect(results.filter((r) => r !== undefined)).toHaveLength(1);
        expect((await store.get("fraud"))!.revision).toBe(2);
        expect(await store.history("fraud", { limit: 10 })).toHaveLength(2);
      } finally {
        await cleanup();
      }
    });
  });
}
