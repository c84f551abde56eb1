-- Generated from migrations.ts (datasetSchemaDdl("sqlite")); do not edit.
create table ds_datasets (
  name text primary key,
  description text not null,
  created_at integer not null,
  updated_at integer not null,
  next_version integer not null default 1,
  expectations text not null
);

create table ds_labels (
  name text not null references ds_datasets (name) on delete cascade,
  key text not null,
  value text not null,
  primary key (name, key)
);

create table ds_versions (
  id text primary key,
  name text not null references ds_datasets (name) on delete cascade,
  number integer not null,
  digest text not null,
  message text not null,
  author text not null,
  created_at integer not null,
  file_count integer not null,
  total_bytes integer not null,
  external_count integer not null,
  validation text not null,
  source_run_id text,
  constraint ds_versions_name_number unique (name, number)
);

create index ds_versions_digest on ds_versions (name, digest);

create table ds_files (
  version_id text not null references ds_versions (id) on delete cascade,
  path text not null,
  size integer not null,
  mode integer not null,
  sha256 text,
  uri text,
  etag text,
  primary key (version_id, path)
);

create table ds_version_tags (
  name text not null references ds_datasets (name) on delete cascade,
  tag text not null,
  version_id text not null references ds_versions (id) on delete cascade,
  primary key (name, tag)
);

create table ds_blobs (
  sha256 text primary key,
  size integer not null,
  created_at integer not null,
  touched_at integer not null
);

create table ds_blob_claims (
  sha256 text not null references ds_blobs (sha256) on delete cascade,
  project text not null,
  primary key (sha256, project)
);

create table ds_profiles (
  sha256 text not null,
  format text not null,
  profile text not null,
  primary key (sha256, format)
);

create table ds_run_links (
  run_id text not null,
  version_id text not null references ds_versions (id) on delete cascade,
  direction text not null,
  context text,
  created_at integer not null,
  primary key (run_id, version_id, direction)
);

create index ds_run_links_version on ds_run_links (version_id);
