-- Generated from migrations.ts (monitoringSchemaDdl("postgres")); do not edit.
create table monitoring_feedback (
  deployment text collate "C" not null,
  request_id text collate "C" not null,
  model text collate "C" not null,
  label text collate "C" not null,
  time bigint not null,
  created_at bigint not null,
  updated_at bigint not null,
  primary key (deployment, request_id)
);

create table monitoring_label_types (
  deployment text collate "C" primary key,
  label_type text collate "C" not null
);
