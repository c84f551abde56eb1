import { useSyncExternalStore } from "react";
import { DEFAULT_PROJECT, PROJECT_TAG, roleGrants, type WhoAmIResponse } from "@cairn/contract";
import { api } from "./api.js";

/** What the UI asks about before it offers an action; the server decides either way. */
export type UiPermission = "read" | "write" | "approve" | "manage" | "admin";

/** Who the UI acts as (GET /api/v1/auth/whoami, fetched once per page load), and what they may do. */
export interface Session {
  /** The whoami answer; undefined while loading or when it failed. */
  who: WhoAmIResponse | undefined;
  loading: boolean;
  error: unknown;
  /**
   * Whether the signed-in user holds `permission` in `project`: admins (and everyone when auth is
   * off) hold all; otherwise read/write/approve/manage need a viewer/editor/approver/owner role
   * there. False while whoami is loading or failed. A convenience for showing actions only.
   */
  can(permission: UiPermission, project: string): boolean;
  /** Whether `user` (a requester, an author; "" means anonymous) is the signed-in user. */
  isMe(user: string): boolean;
}

/** `permission` in `project` for a whoami answer (the rule the server applies). */
export function permits(who: WhoAmIResponse | undefined, permission: UiPermission, project: string): boolean {
  if (!who) return false;
  return who.admin || roleGrants(who.roles[project], permission);
}

/** The project of an experiment or registered model: its `cairn.project` tag, else `default`. */
export function projectOf(tags: Record<string, string> | undefined): string {
  return tags?.[PROJECT_TAG] || DEFAULT_PROJECT;
}

function makeSession(who: WhoAmIResponse | undefined, loading: boolean, error: unknown): Session {
  return {
    who,
    loading,
    error,
    can: (permission, project) => permits(who, permission, project),
    isMe: (user) => who !== undefined && (user || "anonymous") === who.user,
  };
}

let current: Session = makeSession(undefined, true, undefined);
let started = false;
const listeners = new Set<() => void>();

function load(): void {
  if (started) return;
  started = true;
  const done = (s: Session) => {
    current = s;
    for (const l of listeners) l();
  };
  api.whoAmI({}).then(
    (who) => done(makeSession(who, false, undefined)),
    (error: unknown) => done(makeSession(undefined, false, error)),
  );
}

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  load();
  return () => listeners.delete(listener);
}

const snapshot = () => current;

/** The shared session: one whoami request for the whole app (signing in or out reloads the page). */
export function useSession(): Session {
  return useSyncExternalStore(subscribe, snapshot, snapshot);
}
