import type { Migration } from "kysely";
import { execStatements, isPostgres } from "../../../platform/db/database.js";

/**
 * Ground truth for deployments' predictions (`monitoring_feedback`) and each deployment's label type
 * (`monitoring_label_types`), one DDL text per backend.
 *
 * - A label is keyed by (deployment, request id): a later label for the same request replaces it
 *   (`updated_at` says when; `created_at` when the first arrived). `time` is when the label was
 *   observed, as the poster says. It joins the inference log (`il_records`) on (model, request id,
 *   deployment): `model` is the deployment's model when the label was posted.
 * - `label` is the label as JSON text (a number, boolean or string); its type is fixed per deployment
 *   by the first label posted, in `monitoring_label_types` (one row per deployment: concurrent first
 *   posts of different types cannot both win).
 * - PostgreSQL text columns use the "C" collation so ordering matches SQLite byte for byte.
 */
function ddl(pg: boolean): string[] {
  const T = pg ? `text collate "C"` : "text";
  const BIG = pg ? "bigint" : "integer";
  return [
    `create table monitoring_feedback (
      deployment ${T} not null,
      request_id ${T} not null,
      model ${T} not null,
      label ${T} not null,
      time ${BIG} not null,
      created_at ${BIG} not null,
      updated_at ${BIG} not null,
      primary key (deployment, request_id)
    )`,
    `create table monitoring_label_types (
      deployment ${T} primary key,
      label_type ${T} not null
    )`,
  ];
}

/**
 * 0002: monitors (`monitoring_monitors`: spec as JSON, and `next_run_at`, claimed by compare-and-set
 * so one server runs each window), their points (`monitoring_points`, one per window end and series;
 * a re-run of a window replaces its points), alert rule states (`monitoring_rule_states`) and alert
 * events (`monitoring_alert_events`, append-only, with what their actions did).
 */
function monitorsDdl(pg: boolean): string[] {
  const T = pg ? `text collate "C"` : "text";
  const BIG = pg ? "bigint" : "integer";
  const REAL = pg ? "double precision" : "real";
  const SEQ = pg ? "bigserial primary key" : "integer primary key autoincrement";
  return [
    `create table monitoring_monitors (
      deployment ${T} not null,
      name ${T} not null,
      spec ${T} not null,
      created_at ${BIG} not null,
      created_by ${T} not null,
      last_run_at ${BIG},
      next_run_at ${BIG} not null,
      primary key (deployment, name)
    )`,
    `create table monitoring_points (
      deployment ${T} not null,
      monitor ${T} not null,
      time ${BIG} not null,
      series ${T} not null,
      value ${REAL},
      primary key (deployment, monitor, series, time)
    )`,
    `create table monitoring_rule_states (
      deployment ${T} not null,
      monitor ${T} not null,
      rule ${T} not null,
      state ${T} not null,
      primary key (deployment, monitor, rule)
    )`,
    `create table monitoring_alert_events (
      seq ${SEQ},
      deployment ${T} not null,
      monitor ${T} not null,
      rule ${T} not null,
      kind ${T} not null,
      time ${BIG} not null,
      value ${REAL} not null,
      actions ${T} not null
    )`,
    `create index monitoring_alert_events_deployment on monitoring_alert_events (deployment, seq)`,
  ];
}

/** The monitoring module's DDL for one backend, for the checked-in schema dumps (`schema/*.sql`). */
export function monitoringSchemaDdl(backend: "sqlite" | "postgres"): string[] {
  return [...ddl(backend === "postgres"), ...monitorsDdl(backend === "postgres")];
}

/** The monitoring module's migrations, prefixed `monitoring_` so they apply beside other modules'. */
export const monitoringMigrations: Record<string, Migration> = {
  monitoring_0001_feedback: { up: async (k) => execStatements(k, ddl(isPostgres(k))) },
  monitoring_0002_monitors: { up: async (k) => execStatements(k, monitorsDdl(isPostgres(k))) },
};
