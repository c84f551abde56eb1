import type { Migration } from "kysely";
import { execStatements, isPostgres } from "../../../platform/db/database.js";

/**
 * The inference log (`il_records`), one DDL text per backend from the same template.
 *
 * - A record is keyed by (model, request id, arm): a retried append of the same batch keeps the first
 *   copy, and a shadow's answer to a request is logged beside the primary's under the same request id.
 * - `seq` orders records and pages the log; `time` is the prediction's time (range queries use it).
 * - Inputs and outputs are JSON text: the protocol's named tensors, as served.
 * - PostgreSQL text columns use the "C" collation so ordering matches SQLite byte for byte.
 */
function ddl(pg: boolean): string[] {
  const T = pg ? `text collate "C"` : "text";
  const BIG = pg ? "bigint" : "integer";
  const REAL = pg ? "double precision" : "real";
  const SEQ = pg ? "bigserial primary key" : "integer primary key autoincrement";
  return [
    `create table il_records (
      seq ${SEQ},
      model ${T} not null,
      request_id ${T} not null,
      version ${T} not null,
      deployment ${T} not null,
      arm ${T} not null,
      inputs ${T} not null,
      outputs ${T} not null,
      latency_ms ${REAL} not null,
      status ${BIG} not null,
      time ${BIG} not null,
      constraint il_records_request unique (model, request_id)
    )`,
    `create index il_records_time on il_records (model, time)`,
  ];
}

/**
 * 0002: the key gains the arm. SQLite cannot drop a table constraint, so the table is rebuilt there
 * (rows and their sequence numbers are copied); PostgreSQL swaps the constraint in place.
 */
function armKeyDdl(pg: boolean): string[] {
  if (pg) return [`alter table il_records drop constraint il_records_request`, `alter table il_records add constraint il_records_request unique (model, request_id, arm)`];
  const [create, index] = ddl(false);
  return [
    create!.replace("create table il_records (", "create table il_records_v2 (").replace("unique (model, request_id)", "unique (model, request_id, arm)"),
    `insert into il_records_v2 select * from il_records`,
    `drop table il_records`,
    `alter table il_records_v2 rename to il_records`,
    index!,
  ];
}

/** The serving module's DDL for one backend, for the checked-in schema dumps (`schema/*.sql`). */
export function servingSchemaDdl(backend: "sqlite" | "postgres"): string[] {
  return [...ddl(backend === "postgres"), ...armKeyDdl(backend === "postgres")];
}


/** The serving module's migrations, prefixed `serving_` so they apply beside other modules'. */
export const servingMigrations: Record<string, Migration> = {
  serving_0001_inference_log: { up: async (k) => execStatements(k, ddl(isPostgres(k))) },
  serving_0002_inference_log_arm_key: { up: async (k) => execStatements(k, armKeyDdl(isPostgres(k))) },
};
