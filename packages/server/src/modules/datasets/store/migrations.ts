import type { Migration } from "kysely";
import { execStatements, isPostgres } from "../../../platform/db/database.js";

/**
 * Dataset tables (prefixed `ds_`: tracking already has MLflow's `datasets`), one DDL text per backend from the same template.
 *
 * - `ds_datasets.next_version` is the per-dataset version counter: a create increments it with an
 *   UPDATE, whose row lock serialises concurrent creates on PostgreSQL (SQLite has one writer).
 * - A version's files are rows of `ds_files`, written in the version's own transaction, so a
 *   version is visible whole or not at all. Deleting a dataset cascades to versions, files, tags
 *   and run links; blobs stay until `gc`.
 * - `ds_files` has no index on `sha256`: maintaining one costs more than copying a 100k-file version's
 *   rows, and the only reader, gc, answers "referenced?" for all blobs with one scan.
 * - `ds_blobs` lists the content-addressed blobs in the blob store (`touched_at`: the last time an
 *   upload or a "missing?" check vouched for it, which starts its gc grace period).
 * - `ds_blob_claims` says which projects proved they hold a blob's bytes (by uploading them): a version
 *   may only name blobs its dataset's project claims, so knowing a hash does not open another project's
 *   content, and "which are missing?" answers per project. The bytes are still stored once.
 * - `ds_profiles` caches a profile per (content hash, format): equal content is profiled once.
 * - PostgreSQL text columns use the "C" collation so ordering and LIKE match SQLite byte for byte.
 */
function ddl(pg: boolean): string[] {
  const T = pg ? `text collate "C"` : "text";
  const BIG = pg ? "bigint" : "integer";
  return [
    `create table ds_datasets (
      name ${T} primary key,
      description ${T} not null,
      created_at ${BIG} not null,
      updated_at ${BIG} not null,
      next_version ${BIG} not null default 1,
      expectations ${T} not null
    )`,
    `create table ds_labels (
      name ${T} not null references ds_datasets (name) on delete cascade,
      key ${T} not null,
      value ${T} not null,
      primary key (name, key)
    )`,
    `create table ds_versions (
      id ${T} primary key,
      name ${T} not null references ds_datasets (name) on delete cascade,
      number ${BIG} not null,
      digest ${T} not null,
      message ${T} not null,
      author ${T} not null,
      created_at ${BIG} not null,
      file_count ${BIG} not null,
      total_bytes ${BIG} not null,
      external_count ${BIG} not null,
      validation ${T} not null,
      source_run_id ${T},
      constraint ds_versions_name_number unique (name, number)
    )`,
    `create index ds_versions_digest on ds_versions (name, digest)`,
    `create table ds_files (
      version_id ${T} not null references ds_versions (id) on delete cascade,
      path ${T} not null,
      size ${BIG} not null,
      mode ${BIG} not null,
      sha256 ${T},
      uri ${T},
      etag ${T},
      primary key (version_id, path)
    )`,
    `create table ds_version_tags (
      name ${T} not null references ds_datasets (name) on delete cascade,
      tag ${T} not null,
      version_id ${T} not null references ds_versions (id) on delete cascade,
      primary key (name, tag)
    )`,
    `create table ds_blobs (
      sha256 ${T} primary key,
      size ${BIG} not null,
      created_at ${BIG} not null,
      touched_at ${BIG} not null
    )`,
    `create table ds_blob_claims (
      sha256 ${T} not null references ds_blobs (sha256) on delete cascade,
      project ${T} not null,
      primary key (sha256, project)
    )`,
    `create table ds_profiles (
      sha256 ${T} not null,
      format ${T} not null,
      profile ${T} not null,
      primary key (sha256, format)
    )`,
    `create table ds_run_links (
      run_id ${T} not null,
      version_id ${T} not null references ds_versions (id) on delete cascade,
      direction ${T} not null,
      context ${T},
      created_at ${BIG} not null,
      primary key (run_id, version_id, direction)
    )`,
    `create index ds_run_links_version on ds_run_links (version_id)`,
  ];
}

/** The datasets module's DDL for one backend (every migration in order), for the checked-in schema dumps (`schema/*.sql`). */
export function datasetSchemaDdl(backend: "sqlite" | "postgres"): string[] {
  return ddl(backend === "postgres");
}


/** The datasets module's migrations, prefixed `datasets_` so they apply beside other modules'. */
export const datasetMigrations: Record<string, Migration> = {
  datasets_0001_init: { up: async (k) => execStatements(k, ddl(isPostgres(k))) },
};
