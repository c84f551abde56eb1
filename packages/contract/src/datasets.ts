import { z } from "zod";
import { Empty, Id, Int64 } from "./tracking.js";
import { Expectations, FileProfile, TabularDiff, ValidationReport } from "./data-profile.js";
import type { RouteDef } from "./routes.js";

/** `BINARY` from routes.ts, repeated here: routes.ts imports this module. */
const BINARY = "binary" as const;

/** Limits on dataset data. */
export const DATASET_LIMITS = {
  nameLength: 128,
  descriptionLength: 65536,
  messageLength: 10000,
  tagLength: 128,
  tagsPerVersion: 20,
  pathLength: 4096,
  uriLength: 4096,
  /** Files per version. */
  filesPerVersion: 1_000_000,
  /** Entries of each list (added, removed, modified) a diff answers with; `counts` has the totals. */
  diffListMax: 10_000,
  /** Hashes per "which blobs are missing" call. */
  missingBatch: 10_000,
  /** Largest blob sent in a batch upload (`uploadBlobs`); bigger blobs go one by one (`uploadBlob`). */
  batchBlobMaxBytes: 1024 * 1024,
  /** Blob bytes per batch upload, frame headers not counted. */
  batchMaxBytes: 8 * 1024 * 1024,
  /** Blobs (frames) per batch upload. */
  batchMaxBlobs: 2000,
  /** Manifest entries per page of a version's file listing. */
  filesPageDefault: 10_000,
  filesPageMax: 50_000,
  versionsPageDefault: 100,
  versionsPageMax: 1000,
  datasetsPageDefault: 100,
  datasetsPageMax: 1000,
  lineageDepthDefault: 3,
  lineageDepthMax: 20,
  lineageNodesMax: 2000,
  /** Largest version-create request body (a manifest of hundreds of thousands of entries). */
  manifestBodyBytes: 256 * 1024 * 1024,
  /** Default grace period of `gc`: blobs unreferenced for less than this stay. */
  gcGraceSecondsDefault: 86_400,
} as const;

// eslint-disable-next-line no-control-regex
const NO_CONTROL = /^[^\u0000-\u001f\u007f]*$/;

/** The URI scheme that names a dataset version: `datasets:/credit@v3`. */
export const DATASET_URI_PREFIX = "datasets:/";

/** A dataset's name: starts with a letter or digit; then letters, digits, `_`, `-` and `.` (no `@` or `/`). */
export const DatasetName = z
  .string()
  .min(1, "must not be empty")
  .max(DATASET_LIMITS.nameLength, `must be at most ${DATASET_LIMITS.nameLength} characters`)
  .regex(/^[A-Za-z0-9][\w.-]*$/, "must start with a letter or digit and contain only letters, digits, '_', '-' and '.'");

/** A version tag: like a dataset name, but not `latest` and not version-like (`3`, `v3`). */
export const DatasetTag = z
  .string()
  .min(1, "must not be empty")
  .max(DATASET_LIMITS.tagLength, `must be at most ${DATASET_LIMITS.tagLength} characters`)
  .regex(/^[A-Za-z0-9][\w.-]*$/, "must start with a letter or digit and contain only letters, digits, '_', '-' and '.'")
  .refine((t) => !/^v?\d+$/i.test(t) && t.toLowerCase() !== "latest", "is reserved ('latest' and version-like names such as 'v3')");

/**
 * A version reference inside a dataset: `v3` or `3` (number), a tag, `latest`, a version id, or
 * a digest prefix of at least 8 hex characters.
 */
export const VersionRef = z.string().min(1).max(128).regex(NO_CONTROL, "must not contain control characters");

/** A lowercase hex SHA-256. */
export const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, "must be a lowercase hex SHA-256 (64 characters)");

/** A manifest path: `/`-separated, relative, no `.`/`..`/empty segments, no backslash or control characters. */
export const ManifestPath = z
  .string()
  .min(1)
  .max(DATASET_LIMITS.pathLength)
  .refine((p) => !p.startsWith("/") && !p.endsWith("/") && p.split("/").every((s) => s !== "" && s !== "." && s !== ".."), "must be a relative path without empty, '.' or '..' segments")
  // eslint-disable-next-line no-control-regex
  .refine((p) => !/[\\\u0000-\u001f\u007f]/.test(p), "must not contain backslashes or control characters");

/**
 * One file of a version. A stored file has `sha256` and its bytes in the blob store. An external
 * file has a `uri` (`file://` or `s3://`) and at least one of `sha256` or `etag` to check it
 * against; its bytes stay where they are.
 */
export const ManifestEntry = z
  .object({
    path: ManifestPath,
    size: z.number().int().min(0),
    /** Unix permission bits (e.g. 0o644 = 420); setuid, setgid and sticky bits are refused. */
    mode: z.number().int().min(0).max(0o777, "must be permission bits (at most 0o777: no setuid, setgid or sticky bit)").default(0o644),
    sha256: Sha256.optional(),
    uri: z.string().max(DATASET_LIMITS.uriLength).regex(/^(file|s3):\/\//, "must be a file:// or s3:// URI").optional(),
    etag: z.string().max(256).optional(),
  })
  .refine((e) => e.uri !== undefined || e.sha256 !== undefined, { message: "a stored file needs sha256", path: ["sha256"] })
  .refine((e) => e.uri === undefined || e.sha256 !== undefined || e.etag !== undefined, { message: "an external file needs sha256 or etag", path: ["etag"] })
  // A size alone would let a version make its readers copy whatever local file of that size sits at the path.
  .refine((e) => e.uri === undefined || !e.uri.startsWith("file://") || e.sha256 !== undefined, { message: "a file:// file needs sha256", path: ["sha256"] });
export type ManifestEntry = z.output<typeof ManifestEntry>;
export type ManifestEntryInput = z.input<typeof ManifestEntry>;

export const Dataset = z.object({
  name: z.string(),
  description: z.string(),
  /** Tags of the dataset itself; `cairn.project` is its project. */
  tags: z.record(z.string(), z.string()),
  createdAt: z.number(),
  updatedAt: z.number(),
  /** The highest version number, 0 before the first version. */
  latestVersion: z.number(),
  versionCount: z.number(),
  expectations: Expectations,
});
export type Dataset = z.infer<typeof Dataset>;

export const DatasetVersion = z.object({
  /** Globally unique; kept when the version is pushed to or pulled from another server. */
  id: z.string(),
  dataset: z.string(),
  /** 1, 2, … per dataset. */
  number: z.number(),
  /** SHA-256 over the sorted manifest: equal file trees have equal digests. */
  digest: z.string(),
  message: z.string(),
  author: z.string(),
  createdAt: z.number(),
  fileCount: z.number(),
  totalBytes: z.number(),
  externalCount: z.number(),
  /** Tags pointing at this version. */
  tags: z.array(z.string()),
  validation: ValidationReport,
  /** The run that produced this version, when one was recorded. */
  sourceRunId: z.string().optional(),
});
export type DatasetVersion = z.infer<typeof DatasetVersion>;

// ---------- requests ----------

export const CreateDatasetRequest = z.object({
  name: DatasetName,
  description: z.string().max(DATASET_LIMITS.descriptionLength).optional(),
  tags: z.record(z.string().min(1).max(250), z.string().max(5000)).optional(),
  expectations: Expectations.optional(),
});
export type CreateDatasetRequest = z.input<typeof CreateDatasetRequest>;

export const UpdateDatasetRequest = z.object({
  description: z.string().max(DATASET_LIMITS.descriptionLength).optional(),
});

export const SetExpectationsRequest = z.object({ expectations: Expectations });
export type SetExpectationsRequest = z.input<typeof SetExpectationsRequest>;

export const SearchDatasetsQuery = z.object({
  /** Case-insensitive substring of the name. */
  q: z.string().max(256).regex(NO_CONTROL, "must not contain control characters").optional(),
  maxResults: Int64.pipe(z.number().int().min(1).max(DATASET_LIMITS.datasetsPageMax)).optional(),
  pageToken: z.string().max(1000).optional(),
});

export const CreateVersionRequest = z
  .object({
    /** The whole manifest. Or give `base` and `changes` instead. */
    files: z.array(ManifestEntry).max(DATASET_LIMITS.filesPerVersion).optional(),
    /** A version of this dataset the new one starts from, with `changes` applied: a few changed files among many cost only their own rows. */
    base: VersionRef.optional(),
    changes: z
      .object({
        /** Files added or replaced. */
        upsert: z.array(ManifestEntry).max(DATASET_LIMITS.filesPerVersion).default([]),
        /** Paths removed (each must be in the base). */
        remove: z.array(ManifestPath).max(DATASET_LIMITS.filesPerVersion).default([]),
      })
      .optional(),
    message: z.string().max(DATASET_LIMITS.messageLength).optional(),
    tags: z.array(DatasetTag).max(DATASET_LIMITS.tagsPerVersion).optional(),
    /** Refuse the version (VALIDATION_FAILED) when an expectation fails, instead of recording it as failed validation. */
    strict: z.boolean().optional(),
    /** The run that produced this version (recorded as the run's output in the lineage graph). */
    runId: Id.optional(),
    /** Set by push/pull to keep a version's identity across servers; a version with this id already here is answered as is. */
    id: z.string().uuid().optional(),
    /** With `id`: the original author and time. */
    author: z.string().max(256).optional(),
    createdAt: Int64.optional(),
    /** Refuse (RESOURCE_CONFLICT) unless the dataset's latest version number is still this (optimistic concurrency; 0 = no version yet). */
    expectedLatest: z.number().int().min(0).optional(),
  })
  .refine((r) => (r.files !== undefined) !== (r.base !== undefined && r.changes !== undefined), { message: "give either files, or base and changes", path: ["files"] })
  .refine((r) => (r.base === undefined) === (r.changes === undefined), { message: "base and changes go together", path: ["base"] });
export type CreateVersionRequest = z.input<typeof CreateVersionRequest>;

export const MissingBlobsRequest = z.object({ hashes: z.array(Sha256).max(DATASET_LIMITS.missingBatch) });
export const MissingBlobsResponse = z.object({ missing: z.array(z.string()) });
export const BlobUploaded = z.object({ sha256: z.string(), size: z.number(), existed: z.boolean() });
/** What a batch upload did: blobs newly stored, blobs the server already had (each distinct hash counted once), and the bytes of the stored ones. */
export const BlobsUploaded = z.object({ stored: z.number(), existed: z.number(), bytes: z.number() });
export type BlobsUploaded = z.infer<typeof BlobsUploaded>;

/**
 * The frame header of a batch upload (`uploadBlobs`): `<64 lowercase hex sha256> <decimal size>\n`,
 * followed by exactly `size` bytes of the blob.
 * @example batchFrameHeader("ab…", 12) // "ab… 12\n"
 */
export function batchFrameHeader(sha256: string, size: number): string {
  return `${sha256} ${size}\n`;
}

export const VersionsQuery = z.object({
  maxResults: Int64.pipe(z.number().int().min(1).max(DATASET_LIMITS.versionsPageMax)).optional(),
  pageToken: z.string().max(1000).optional(),
});
export const FilesQuery = z.object({
  /** Only paths under this directory (`a/b` lists `a/b/...`). */
  prefix: z.string().max(DATASET_LIMITS.pathLength).regex(NO_CONTROL, "must not contain control characters").optional(),
  maxResults: Int64.pipe(z.number().int().min(1).max(DATASET_LIMITS.filesPageMax)).optional(),
  pageToken: z.string().max(DATASET_LIMITS.pathLength + 10).optional(),
});
export const DiffQuery = z.object({ from: VersionRef, to: VersionRef });
export const SetVersionTagRequest = z.object({ version: VersionRef });

export const GcRequest = z.object({
  graceSeconds: z.number().int().min(0).max(10 * 365 * 86_400).default(DATASET_LIMITS.gcGraceSecondsDefault),
  dryRun: z.boolean().default(false),
});
export type GcRequest = z.input<typeof GcRequest>;
export const GcResponse = z.object({ deleted: z.number(), deletedBytes: z.number(), referenced: z.number(), inGrace: z.number(), dryRun: z.boolean() });
export type GcResponse = z.infer<typeof GcResponse>;

/** A run's link to a dataset version: consumed (`input`) or produced (`output`). */
export const LinkDirection = z.enum(["input", "output"]);
export type LinkDirection = z.infer<typeof LinkDirection>;
export const LinkRunDatasetRequest = z.object({
  dataset: DatasetName,
  version: VersionRef,
  direction: LinkDirection,
  /** e.g. `training`, `evaluation` (MLflow's `mlflow.data.context`). */
  context: z.string().max(250).optional(),
});
export type LinkRunDatasetRequest = z.input<typeof LinkRunDatasetRequest>;

// ---------- responses ----------

export const DatasetResponse = z.object({ dataset: Dataset });
export const DatasetsPage = z.object({ datasets: z.array(Dataset), nextPageToken: z.string().optional() });
export const VersionResponse = z.object({ version: DatasetVersion });
export const VersionsPage = z.object({ versions: z.array(DatasetVersion), nextPageToken: z.string().optional() });
export const FilesPage = z.object({ files: z.array(ManifestEntry), nextPageToken: z.string().optional() });
export const ProfileResponse = z.object({ files: z.array(z.object({ path: z.string(), sha256: z.string(), profile: FileProfile })) });
export type ProfileResponse = z.infer<typeof ProfileResponse>;

const EntryRef = z.object({ path: z.string(), size: z.number(), sha256: z.string().optional(), uri: z.string().optional() });
export const VersionDiff = z.object({
  from: DatasetVersion,
  to: DatasetVersion,
  added: z.array(EntryRef),
  removed: z.array(EntryRef),
  modified: z.array(z.object({ path: z.string(), from: EntryRef, to: EntryRef })),
  unchanged: z.number(),
  /** How many files were added, removed and modified; the lists stop at `DATASET_LIMITS.diffListMax` each. */
  counts: z.object({ added: z.number(), removed: z.number(), modified: z.number() }),
  /** Modified tabular files with a profile on both sides. */
  tabular: z.array(TabularDiff),
});
export type VersionDiff = z.infer<typeof VersionDiff>;

/** A node of the lineage graph. Ids: `dataset:NAME@vN`, `run:RUN_ID`, `model:NAME/N`. */
export const LineageNode = z.object({
  id: z.string(),
  kind: z.enum(["dataset", "run", "model", "deployment"]),
  label: z.string(),
  /** Kind-specific details: dataset name and version, run name and status, model name and version. */
  attrs: z.record(z.string(), z.string()),
});
export type LineageNode = z.infer<typeof LineageNode>;
export const LineageEdge = z.object({
  from: z.string(),
  to: z.string(),
  /** `input`: dataset → run; `output`: run → dataset; `model`: run → model version; `deployment`: model version → deployment (context: the arm). */
  kind: z.enum(["input", "output", "model", "deployment"]),
  context: z.string().optional(),
});
export type LineageEdge = z.infer<typeof LineageEdge>;
export const LineageQuery = z.object({
  /** `dataset:NAME@REF`, `run:RUN_ID`, `model:NAME/VERSION` or `deployment:NAME` (also `datasets:/NAME@REF`, `runs:/ID`, `models:/NAME/VERSION`). */
  node: z.string().min(1).max(600).regex(NO_CONTROL, "must not contain control characters"),
  direction: z.enum(["upstream", "downstream", "both"]).default("both"),
  depth: Int64.pipe(z.number().int().min(1).max(DATASET_LIMITS.lineageDepthMax)).default(DATASET_LIMITS.lineageDepthDefault),
});
export type LineageQuery = z.input<typeof LineageQuery>;
export const LineageGraph = z.object({
  root: z.string(),
  nodes: z.array(LineageNode),
  edges: z.array(LineageEdge),
  /** True when the node limit cut the walk short. */
  truncated: z.boolean(),
});
export type LineageGraph = z.infer<typeof LineageGraph>;

function route<const R extends RouteDef>(r: R): R {
  return r;
}

const NameParams = z.object({ name: DatasetName });
const RefParams = z.object({ name: DatasetName, ref: VersionRef });
const TagParams = z.object({ name: DatasetName, tag: DatasetTag });
const FileParams = z.object({ name: DatasetName, ref: VersionRef, "*": z.string().min(1).max(DATASET_LIMITS.pathLength).regex(NO_CONTROL, "must not contain control characters") });

/** The native datasets and lineage API, under /api/v1. */
export const datasetRoutes = {
  createDataset: route({ method: "POST", path: "/api/v1/datasets", summary: "Create a dataset", tag: "datasets", body: CreateDatasetRequest, response: DatasetResponse, status: 201 }),
  searchDatasets: route({ method: "GET", path: "/api/v1/datasets", summary: "List datasets (those in the caller's projects), by name", tag: "datasets", query: SearchDatasetsQuery, response: DatasetsPage }),
  getDataset: route({ method: "GET", path: "/api/v1/datasets/:name", summary: "Get a dataset", tag: "datasets", params: NameParams, response: DatasetResponse }),
  updateDataset: route({ method: "PATCH", path: "/api/v1/datasets/:name", summary: "Update a dataset's description", tag: "datasets", params: NameParams, body: UpdateDatasetRequest, response: DatasetResponse }),
  deleteDataset: route({ method: "DELETE", path: "/api/v1/datasets/:name", summary: "Delete a dataset and its versions (their blobs go at the next gc)", tag: "datasets", params: NameParams, response: Empty, permission: "manage" }),
  setExpectations: route({ method: "PUT", path: "/api/v1/datasets/:name/expectations", summary: "Declare (replace) the expectations new versions are validated against", tag: "datasets", params: NameParams, body: SetExpectationsRequest, response: DatasetResponse }),

  findMissingBlobs: route({ method: "POST", path: "/api/v1/datasets/:name/blobs/missing", summary: "Which of these content hashes the dataset's project has not uploaded (and keeps the rest from gc for the grace period)", tag: "data-blobs", params: NameParams, body: MissingBlobsRequest, response: MissingBlobsResponse }),
  uploadBlob: route({ method: "PUT", path: "/api/v1/datasets/:name/blobs/:sha256", summary: "Upload one file's bytes for a dataset, checked against its SHA-256 (streamed; idempotent; stored once across projects)", tag: "data-blobs", params: z.object({ name: DatasetName, sha256: Sha256 }), body: BINARY, response: BlobUploaded, status: 201 }),
  /**
   * Many small blobs in one request. The body is repeated frames, each an ASCII header line
   * `<64 lowercase hex sha256> <decimal size>\n` followed by exactly `size` bytes; at most
   * `batchMaxBlobs` frames of at most `batchBlobMaxBytes` each, `batchMaxBytes` in all. All-or-nothing
   * on checksums: one blob that does not hash to its name (CHECKSUM_MISMATCH) stores none of the batch.
   */
  uploadBlobs: route({ method: "POST", path: "/api/v1/datasets/:name/blobs/batch", params: NameParams, summary: `Upload many small blobs in one request: repeated frames of an ASCII header line \`<64 lowercase hex sha256> <decimal size>\\n\` and exactly \`size\` bytes (at most ${DATASET_LIMITS.batchMaxBlobs} frames of up to ${DATASET_LIMITS.batchBlobMaxBytes} bytes, ${DATASET_LIMITS.batchMaxBytes} bytes in all); every blob is checked against its SHA-256 and a mismatch stores none of the batch`, tag: "data-blobs", body: BINARY, response: BlobsUploaded, status: 201 }),
  collectGarbage: route({ method: "POST", path: "/api/v1/data/gc", summary: "Delete blobs no version references, once unreferenced for the grace period", tag: "data-blobs", body: GcRequest, response: GcResponse, permission: "admin" }),

  createVersion: route({ method: "POST", path: "/api/v1/datasets/:name/versions", summary: "Create a version from a manifest whose blobs are uploaded (atomic; profiles and validates tabular files)", tag: "dataset-versions", params: NameParams, body: CreateVersionRequest, response: VersionResponse, status: 201 }),
  listVersions: route({ method: "GET", path: "/api/v1/datasets/:name/versions", summary: "A dataset's versions, newest first", tag: "dataset-versions", params: NameParams, query: VersionsQuery, response: VersionsPage }),
  getVersion: route({ method: "GET", path: "/api/v1/datasets/:name/versions/:ref", summary: "Get a version by number (v3), tag, `latest`, id or digest prefix", tag: "dataset-versions", params: RefParams, response: VersionResponse }),
  listFiles: route({ method: "GET", path: "/api/v1/datasets/:name/versions/:ref/files", summary: "A version's manifest, by path, paged", tag: "dataset-versions", params: RefParams, query: FilesQuery, response: FilesPage }),
  downloadFile: route({ method: "GET", path: "/api/v1/datasets/:name/versions/:ref/files/*", summary: "Download one stored file of a version (streamed)", tag: "dataset-versions", params: FileParams, response: BINARY }),
  getProfile: route({ method: "GET", path: "/api/v1/datasets/:name/versions/:ref/profile", summary: "Profiles of a version's tabular files", tag: "dataset-versions", params: RefParams, response: ProfileResponse }),
  diffVersions: route({ method: "GET", path: "/api/v1/datasets/:name/diff", summary: "Files added, removed and modified between two versions, with schema, row-count and statistic changes of tabular files", tag: "dataset-versions", params: NameParams, query: DiffQuery, response: VersionDiff }),
  setVersionTag: route({ method: "PUT", path: "/api/v1/datasets/:name/tags/:tag", summary: "Point a tag at a version (moves it if it exists)", tag: "dataset-versions", params: TagParams, body: SetVersionTagRequest, response: VersionResponse }),
  deleteVersionTag: route({ method: "DELETE", path: "/api/v1/datasets/:name/tags/:tag", summary: "Delete a version tag", tag: "dataset-versions", params: TagParams, response: Empty }),

  linkRunDataset: route({ method: "POST", path: "/api/v1/runs/:id/datasets", summary: "Record a dataset version as a run's input (also logged as an MLflow dataset input) or output", tag: "lineage", params: z.object({ id: Id }), body: LinkRunDatasetRequest, response: VersionResponse }),
  getLineage: route({ method: "GET", path: "/api/v1/lineage", summary: "The lineage graph around a dataset version, run or model version", tag: "lineage", query: LineageQuery, response: LineageGraph, permission: "authenticated" }),
} as const satisfies Record<string, RouteDef>;

export type DatasetRoutes = typeof datasetRoutes;
