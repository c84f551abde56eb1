-- Generated from migrations.ts (datasetSchemaDdl("postgres")); do not edit.
create table ds_datasets (
  name text collate "C" primary key,
  description text collate "C" not null,
  created_at bigint not null,
  updated_at bigint not null,
  next_version bigint not null default 1,
  expectations text collate "C" not null
);

create table ds_labels (
  name text collate "C" not null references ds_datasets (name) on delete cascade,
  key text collate "C" not null,
  value text collate "C" not null,
  primary key (name, key)
);

create table ds_versions (
  id text collate "C" primary key,
  name text collate "C" not null references ds_datasets (name) on delete cascade,
  number bigint not null,
  digest text collate "C" not null,
  message text collate "C" not null,
  author text collate "C" not null,
  created_at bigint not null,
  file_count bigint not null,
  total_bytes bigint not null,
  external_count bigint not null,
  validation text collate "C" not null,
  source_run_id text collate "C",
  constraint ds_versions_name_number unique (name, number)
);

create index ds_versions_digest on ds_versions (name, digest);

create table ds_files (
  version_id text collate "C" not null references ds_versions (id) on delete cascade,
  path text collate "C" not null,
  size bigint not null,
  mode bigint not null,
  sha256 text collate "C",
  uri text collate "C",
  etag text collate "C",
  primary key (version_id, path)
);

create table ds_version_tags (
  name text collate "C" not null references ds_datasets (name) on delete cascade,
  tag text collate "C" not null,
  version_id text collate "C" not null references ds_versions (id) on delete cascade,
  primary key (name, tag)
);

create table ds_blobs (
  sha256 text collate "C" primary key,
  size bigint not null,
  created_at bigint not null,
  touched_at bigint not null
);

create table ds_blob_claims (
  sha256 text collate "C" not null references ds_blobs (sha256) on delete cascade,
  project text collate "C" not null,
  primary key (sha256, project)
);

create table ds_profiles (
  sha256 text collate "C" not null,
  format text collate "C" not null,
  profile text collate "C" not null,
  primary key (sha256, format)
);

create table ds_run_links (
  run_id text collate "C" not null,
  version_id text collate "C" not null references ds_versions (id) on delete cascade,
  direction text collate "C" not null,
  context text collate "C",
  created_at bigint not null,
  primary key (run_id, version_id, direction)
);

create index ds_run_links_version on ds_run_links (version_id);
