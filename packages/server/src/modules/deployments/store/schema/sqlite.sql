-- Generated from migrations.ts (deploymentsSchemaDdl("sqlite")); do not edit.
create table dep_deployments (
  name text primary key,
  model text not null,
  description text not null,
  spec text not null,
  versions text not null,
  alias_seen text not null,
  revision integer not null,
  first_revision integer not null,
  created_at integer not null,
  updated_at integer not null,
  created_by text not null
);

create index dep_deployments_model on dep_deployments (model);

create table dep_history (
  name text not null,
  revision integer not null,
  time integer not null,
  actor text not null,
  action text not null,
  message text not null,
  from_state text,
  to_state text not null,
  primary key (name, revision)
);
