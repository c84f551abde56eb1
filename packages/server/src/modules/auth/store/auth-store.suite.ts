import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { TestDb } from "../../../../test/db.js";
import { createAuthStore } from "./sql-auth-store.js";
import type { AuthStore } from "./auth-store.js";

/** The auth store's behaviour, run unchanged on every backend. */
export function describeAuthStore(backend: string, open: () => Promise<TestDb>): void {
  describe(`AuthStore (${backend})`, () => {
    let t: TestDb;
    let store: AuthStore;
    beforeEach(async () => {
      t = await open();
      store = await createAuthStore(t.db);
    });
    afterEach(async () => {
      await store.close();
      await t.cleanup();
    });

    it("creates users, refuses duplicates and reads them back with their roles", async () => {
      const u = await store.createUser({ name: "ana", admin: false, time: 1 });
      expect(u).toEqual({ name: "ana", admin: false, createdAt: 1, disabledAt: null, roles: {} });
      await expect(store.createUser({ name: "ana", admin: true, time: 2 })).rejects.toMatchObject({ code: "RESOURCE_ALREADY_EXISTS" });
      await store.setMember("default", "ana", "editor");
      expect((await store.getUser("ana"))!.roles).toEqual({ default: "editor" });
      expect(await store.getUser("nobody")).toBeUndefined();
      const updated = await store.updateUser("ana", { admin: true, disabledAt: 5 });
      expect(updated).toMatchObject({ admin: true, disabledAt: 5 });
      await expect(store.updateUser("nobody", { admin: true })).rejects.toMatchObject({ code: "RESOURCE_DOES_NOT_EXIST" });
      expect((await store.listUsers()).map((x) => x.name)).toEqual(["ana"]);
    });

    it("stores tokens by hash, revokes once and reports live admin tokens", async () => {
      await store.createUser({ name: "root", admin: true, time: 1 });
      expect(await store.hasLiveAdminToken(10)).toBe(false);
      const t1 = await store.createToken({ id: "aaaaaaaaaaaa", user: "root", name: "ci", secretHash: "ab".repeat(32), time: 2, expiresAt: 100 });
      expect(t1).toEqual({ id: "aaaaaaaaaaaa", user: "root", name: "ci", createdAt: 2, expiresAt: 100, revokedAt: null, lastUsedAt: null });
      expect((await store.getToken("aaaaaaaaaaaa"))!.secretHash).toBe("ab".repeat(32));
      expect(await store.hasLiveAdminToken(50)).toBe(true);
      expect(await store.hasLiveAdminToken(100)).toBe(false);
      expect((await store.revokeToken("aaaaaaaaaaaa", 7)).revokedAt).toBe(7);
      expect((await store.revokeToken("aaaaaaaaaaaa", 9)).revokedAt).toBe(7);
      expect(await store.hasLiveAdminToken(50)).toBe(false);
      await expect(store.revokeToken("bbbbbbbbbbbb", 1)).rejects.toMatchObject({ code: "RESOURCE_DOES_NOT_EXIST" });
      await expect(store.createToken({ id: "cccccccccccc", user: "ghost", name: "x", secretHash: "00", time: 1, expiresAt: null })).rejects.toMatchObject({ code: "RESOURCE_DOES_NOT_EXIST" });
      await store.touchToken("aaaaaaaaaaaa", 42);
      expect((await store.listTokens("root"))[0]!.lastUsedAt).toBe(42);
      expect(await store.listTokens("nobody")).toEqual([]);
    });

    it("has a default project; manages projects and members atomically", async () => {
      expect((await store.listProjects()).map((p) => p.name)).toEqual(["default"]);
      await store.createProject({ name: "risk", description: "credit risk", time: 3 });
      await expect(store.createProject({ name: "risk", description: "", time: 4 })).rejects.toMatchObject({ code: "RESOURCE_ALREADY_EXISTS" });
      expect((await store.listProjects(["risk", "nope"])).map((p) => p.name)).toEqual(["risk"]);
      expect(await store.listProjects([])).toEqual([]);
      await store.createUser({ name: "bo", admin: false, time: 1 });
      await store.setMember("risk", "bo", "viewer");
      await store.setMember("risk", "bo", "owner");
      expect(await store.listMembers("risk")).toEqual([{ user: "bo", role: "owner" }]);
      await expect(store.setMember("nope", "bo", "viewer")).rejects.toMatchObject({ code: "RESOURCE_DOES_NOT_EXIST" });
      await expect(store.setMember("risk", "ghost", "viewer")).rejects.toMatchObject({ code: "RESOURCE_DOES_NOT_EXIST" });
      await store.removeMember("risk", "bo");
      expect(await store.listMembers("risk")).toEqual([]);
      await expect(store.removeMember("risk", "bo")).rejects.toMatchObject({ code: "RESOURCE_DOES_NOT_EXIST" });
      await expect(store.listMembers("nope")).rejects.toMatchObject({ code: "RESOURCE_DOES_NOT_EXIST" });
    });
  });
}
