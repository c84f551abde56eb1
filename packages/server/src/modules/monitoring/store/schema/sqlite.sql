-- Generated from migrations.ts (monitoringSchemaDdl("sqlite")); do not edit.
create table monitoring_feedback (
  deployment text not null,
  request_id text not null,
  model text not null,
  label text not null,
  time integer not null,
  created_at integer not null,
  updated_at integer not null,
  primary key (deployment, request_id)
);

create table monitoring_label_types (
  deployment text primary key,
  label_type text not null
);
