import type { Migration } from "kysely";
import { execStatements, isPostgres } from "../../../platform/db/database.js";

/**
 * Deployments (`dep_deployments`) and their history (`dep_history`), one DDL text per backend.
 *
 * - A deployment row holds its current spec and the versions its arms resolved to, as JSON, and a
 *   revision: every change is a compare-and-set on it, so two servers never both apply a change.
 * - `alias_seen` is, per arm that follows an alias, the version the alias pointed to when last looked
 *   at: the deployment rolls forward when the alias moves from it, not whenever the served version
 *   differs (a rollback would otherwise be undone at once).
 * - History is keyed by (name, revision) and outlives the deployment: a deployment created again
 *   under the same name continues its numbering, and `first_revision` marks where it began (its
 *   history and rollbacks never reach into the earlier deployment's, which may be another project's).
 * - PostgreSQL text columns use the "C" collation so ordering matches SQLite byte for byte.
 */
function ddl(pg: boolean): string[] {
  const T = pg ? `text collate "C"` : "text";
  const BIG = pg ? "bigint" : "integer";
  return [
    `create table dep_deployments (
      name ${T} primary key,
      model ${T} not null,
      description ${T} not null,
      spec ${T} not null,
      versions ${T} not null,
      alias_seen ${T} not null,
      revision ${BIG} not null,
      first_revision ${BIG} not null,
      created_at ${BIG} not null,
      updated_at ${BIG} not null,
      created_by ${T} not null
    )`,
    `create index dep_deployments_model on dep_deployments (model)`,
    `create table dep_history (
      name ${T} not null,
      revision ${BIG} not null,
      time ${BIG} not null,
      actor ${T} not null,
      action ${T} not null,
      message ${T} not null,
      from_state ${T},
      to_state ${T} not null,
      primary key (name, revision)
    )`,
  ];
}

/** The deployments module's DDL for one backend, for the checked-in schema dumps (`schema/*.sql`). */
export function deploymentsSchemaDdl(backend: "sqlite" | "postgres"): string[] {
  return ddl(backend === "postgres");
}

/** The deployments module's migrations, prefixed `deployments_` so they apply beside other modules'. */
export const deploymentsMigrations: Record<string, Migration> = {
  deployments_0001: { up: async (k) => execStatements(k, ddl(isPostgres(k))) },
};
