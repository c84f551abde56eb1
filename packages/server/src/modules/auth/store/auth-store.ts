import type { ApiToken, Project, ProjectMember, ProjectRole, User } from "@cairn/contract";

/** A token row as the authenticator needs it. */
export interface StoredToken extends ApiToken {
  secretHash: string;
}

/** A user with what authorization needs: admin flag, disabled time and project roles. */
export type StoredUser = User;

/**
 * Storage of users, API tokens, projects and project roles. Every write is one transaction.
 * Methods throw `CairnError` RESOURCE_ALREADY_EXISTS for duplicates and RESOURCE_DOES_NOT_EXIST for
 * unknown users, tokens and projects.
 */
export interface AuthStore {
  createUser(input: { name: string; admin: boolean; time: number }): Promise<StoredUser>;
  getUser(name: string): Promise<StoredUser | undefined>;
  listUsers(): Promise<StoredUser[]>;
  updateUser(name: string, patch: { admin?: boolean; disabledAt?: number | null }): Promise<StoredUser>;
  /** Whether any enabled admin user holds a live token (for `--auth` bootstrap). */
  hasLiveAdminToken(now: number): Promise<boolean>;

  createToken(input: { id: string; user: string; name: string; secretHash: string; time: number; expiresAt: number | null }): Promise<ApiToken>;
  getToken(id: string): Promise<StoredToken | undefined>;
  listTokens(user?: string): Promise<ApiToken[]>;
  revokeToken(id: string, time: number): Promise<ApiToken>;
  touchToken(id: string, time: number): Promise<void>;

  createProject(input: { name: string; description: string; time: number }): Promise<Project>;
  getProject(name: string): Promise<Project | undefined>;
  listProjects(names?: string[]): Promise<Project[]>;
  listMembers(project: string): Promise<ProjectMember[]>;
  setMember(project: string, user: string, role: ProjectRole): Promise<void>;
  removeMember(project: string, user: string): Promise<void>;
  close(): Promise<void>;
}
