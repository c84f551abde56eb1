import { sql } from "kysely";
import type { Kysely, Migration } from "kysely";
import { isPostgres } from "../../../platform/db/database.js";

/**
 * Auth tables. Users are keyed by name (names never change). A token row holds only the SHA-256 of
 * its secret. `project_members` holds one role per user and project; the `default` project always exists.
 */
function ddl(pg: boolean): string[] {
  const T = pg ? `text collate "C"` : "text";
  const BIG = pg ? "bigint" : "integer";
  const BOOL = pg ? "boolean" : "integer";
  return [
    `create table auth_users (
      name ${T} primary key,
      admin ${BOOL} not null,
      created_at ${BIG} not null,
      disabled_at ${BIG}
    )`,
    `create table auth_tokens (
      id ${T} primary key,
      user_name ${T} not null references auth_users (name) on delete cascade,
      name ${T} not null,
      secret_hash ${T} not null,
      created_at ${BIG} not null,
      expires_at ${BIG},
      revoked_at ${BIG},
      last_used_at ${BIG}
    )`,
    `create index auth_tokens_user on auth_tokens (user_name)`,
    `create table auth_projects (
      name ${T} primary key,
      description ${T} not null,
      created_at ${BIG} not null
    )`,
    `create table auth_project_members (
      project ${T} not null references auth_projects (name) on delete cascade,
      user_name ${T} not null references auth_users (name) on delete cascade,
      role ${T} not null,
      primary key (project, user_name)
    )`,
    `create index auth_project_members_user on auth_project_members (user_name)`,
    `insert into auth_projects (name, description, created_at) values ('default', 'The default project', 0)`,
  ];
}

/** The auth module's migrations, prefixed `auth_` so they apply beside other modules'. */
export const authMigrations: Record<string, Migration> = {
  auth_0001_init: {
    up: async (k: Kysely<any>) => {
      for (const s of ddl(isPostgres(k))) await sql.raw(s).execute(k);
    },
  },
};
