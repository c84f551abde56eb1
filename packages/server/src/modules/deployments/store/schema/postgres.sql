-- Generated from migrations.ts (deploymentsSchemaDdl("postgres")); do not edit.
create table dep_deployments (
  name text collate "C" primary key,
  model text collate "C" not null,
  description text collate "C" not null,
  spec text collate "C" not null,
  versions text collate "C" not null,
  alias_seen text collate "C" not null,
  revision bigint not null,
  first_revision bigint not null,
  created_at bigint not null,
  updated_at bigint not null,
  created_by text collate "C" not null
);

create index dep_deployments_model on dep_deployments (model);

create table dep_history (
  name text collate "C" not null,
  revision bigint not null,
  time bigint not null,
  actor text collate "C" not null,
  action text collate "C" not null,
  message text collate "C" not null,
  from_state text collate "C",
  to_state text collate "C" not null,
  primary key (name, revision)
);
