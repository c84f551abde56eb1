import { sql } from "kysely";
import type { Kysely, Migration } from "kysely";
import { isPostgres } from "../../../platform/db/database.js";

/**
 * The audit log: one row per record, `seq` dense from 1. Triggers refuse UPDATE and DELETE, so
 * the application cannot rewrite history; someone with direct database access can, and the hash
 * chain (`cairn audit verify`) shows it.
 */
function ddl(pg: boolean): string[] {
  const T = pg ? `text collate "C"` : "text";
  const BIG = pg ? "bigint" : "integer";
  const common = [
    `create table audit_log (
      seq ${BIG} primary key,
      time ${BIG} not null,
      actor ${T} not null,
      action ${T} not null,
      resource ${T} not null,
      before_json ${T},
      after_json ${T},
      status integer not null,
      request_id ${T} not null,
      client ${T} not null,
      prev_hash ${T} not null,
      hash ${T} not null
    )`,
    `create index audit_log_resource on audit_log (resource, seq)`,
    `create index audit_log_actor on audit_log (actor, seq)`,
    `create index audit_log_time on audit_log (time)`,
  ];
  if (pg) {
    return [
      ...common,
      `create function audit_log_append_only() returns trigger language plpgsql as $$ begin raise exception 'the audit log is append-only'; end $$`,
      `create trigger audit_log_no_change before update or delete on audit_log for each row execute function audit_log_append_only()`,
    ];
  }
  return [
    ...common,
    `create trigger audit_log_no_update before update on audit_log begin select raise(abort, 'the audit log is append-only'); end`,
    `create trigger audit_log_no_delete before delete on audit_log begin select raise(abort, 'the audit log is append-only'); end`,
  ];
}

/** The audit module's migrations, prefixed `audit_`. */
export const auditMigrations: Record<string, Migration> = {
  audit_0001_init: {
    up: async (k: Kysely<any>) => {
      for (const s of ddl(isPostgres(k))) await sql.raw(s).execute(k);
    },
  },
};
