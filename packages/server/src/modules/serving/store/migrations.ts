import type { Migration } from "kysely";
import { execStatements, isPostgres } from "../../../platform/db/database.js";

/**
 * The inference log (`il_records`), one DDL text per backend from the same template.
 *
 * - A record is keyed by (model, request id): a retried append of the same batch keeps the first copy.
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

/** The serving module's DDL for one backend, for the checked-in schema dumps (`schema/*.sql`). */
export function servingSchemaDdl(backend: "sqlite" | "postgres"): string[] {
  return ddl(backend === "postgres");
}


/** The serving module's migrations, prefixed `serving_` so they apply beside other modules'. */
export const servingMigrations: Record<string, Migration> = {
  serving_0001_inference_log: { up: async (k) => execStatements(k, ddl(isPostgres(k))) },
};
