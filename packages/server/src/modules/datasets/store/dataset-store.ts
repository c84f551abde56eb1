import type { Dataset, DatasetVersion, Expectation, FileProfile, LinkDirection, ManifestEntry, TabularFormat, ValidationReport } from "@cairn/contract";

/** A dataset to create. */
export interface NewDataset {
  name: string;
  description: string;
  tags: Record<string, string>;
  expectations: Expectation[];
  time: number;
}

/** A version to create: its files (sorted by path, paths unique) and what the service computed. */
export interface NewVersion {
  id: string;
  name: string;
  /** The dataset's project: every new stored file's blob must be claimed by it. */
  project: string;
  digest: string;
  message: string;
  author: string;
  createdAt: number;
  validation: ValidationReport;
  tags: string[];
  sourceRunId?: string;
  /** Refuse unless the dataset's latest version number is still this. */
  expectedLatest?: number;
}

/**
 * A version built on another: its files are the base's minus `changed` paths, plus `upsert`.
 * The store copies the base's rows in the database instead of receiving them all.
 */
export interface VersionBase {
  versionId: string;
  /** Paths removed or replaced. */
  changed: readonly string[];
  /** Files added or replaced. */
  upsert: readonly ManifestEntry[];
}

/** A run's link to a dataset version. */
export interface RunLink {
  runId: string;
  versionId: string;
  direction: LinkDirection;
  context?: string;
}

/**
 * Storage of datasets, versions and their manifests, blob bookkeeping, profiles and run links.
 * Every write is one transaction. Errors are CairnError: RESOURCE_DOES_NOT_EXIST for a missing
 * dataset, RESOURCE_ALREADY_EXISTS for a duplicate name.
 */
export interface DatasetStore {
  readonly backend: "sqlite" | "postgres";

  createDataset(d: NewDataset): Promise<Dataset>;
  getDataset(name: string): Promise<Dataset | undefined>;
  /** Datasets by name, after `after` (exclusive); `q` a case-insensitive substring; `projects` restricts to those projects. */
  searchDatasets(q: { q?: string; projects?: readonly string[]; after?: string; limit: number }): Promise<Dataset[]>;
  updateDataset(name: string, patch: { description?: string; expectations?: Expectation[]; time: number }): Promise<Dataset>;
  deleteDataset(name: string): Promise<void>;

  /**
   * Creates a version with its files in one transaction, numbered next for its dataset. `files` is
   * the whole manifest; with `base`, the rows are copied from the base version and only
   * `base.upsert` is written. Every new stored file's blob must be claimed by `v.project` (else INVALID_STATE
   * naming it); `expectedLatest` that no longer holds is RESOURCE_CONFLICT. A version whose id
   * exists is returned with `created: false`.
   */
  createVersion(v: NewVersion, files: readonly ManifestEntry[], base?: VersionBase): Promise<{ version: DatasetVersion; created: boolean }>;
  /** A version by number, tag, `latest`, id or digest prefix; undefined when none matches. @throws INVALID_PARAMETER_VALUE for an ambiguous digest prefix */
  resolveVersion(name: string, ref: string): Promise<DatasetVersion | undefined>;
  getVersionById(id: string): Promise<DatasetVersion | undefined>;
  /** Versions newest first, numbered below `before` when given. */
  listVersions(name: string, q: { before?: number; limit: number }): Promise<DatasetVersion[]>;
  /** A version's files by path, after `after` (exclusive), under `prefix/` when given. */
  listFiles(versionId: string, q: { prefix?: string; after?: string; limit: number }): Promise<ManifestEntry[]>;
  getFile(versionId: string, path: string): Promise<ManifestEntry | undefined>;
  setVersionTag(name: string, tag: string, versionId: string): Promise<void>;
  deleteVersionTag(name: string, tag: string): Promise<void>;

  /** Of `hashes`, those `project` has not claimed (uploaded); the claimed ones are touched (their gc grace restarts). */
  missingBlobs(hashes: readonly string[], project: string, time: number): Promise<string[]>;
  /** Of `hashes`, those with a recorded blob (read-only: nothing is touched). */
  recordedBlobs(hashes: readonly string[]): Promise<Set<string>>;
  /** Records (or touches) a blob that is now in the blob store, claimed by `project`. */
  recordBlob(sha256: string, size: number, project: string, time: number): Promise<void>;
  /** Records (or touches) blobs now in the blob store, claimed by `project`, in one transaction; a hash listed twice is recorded once. */
  recordBlobs(blobs: readonly { sha256: string; size: number }[], project: string, time: number): Promise<void>;
  /** Blobs no version references and untouched since `before`, with the number of referenced and in-grace ones. */
  gcCandidates(before: number): Promise<{ candidates: { sha256: string; size: number }[]; referenced: number; inGrace: number }>;
  /** Forgets the blobs still unreferenced and untouched since `before`, in one transaction; returns those forgotten (the caller then deletes their bytes). */
  forgetBlobs(hashes: readonly string[], before: number): Promise<string[]>;

  getProfiles(keys: readonly { sha256: string; format: TabularFormat }[]): Promise<Map<string, FileProfile>>;
  putProfile(sha256: string, format: TabularFormat, profile: FileProfile): Promise<void>;

  /** Records a run link (again: no change). */
  linkRun(link: RunLink, time: number): Promise<void>;
  /** Links of these versions and of these runs. */
  runLinks(q: { versionIds?: readonly string[]; runIds?: readonly string[] }): Promise<RunLink[]>;

  close(): Promise<void>;
}

/** The key a profile is cached under in `getProfiles`' answer. */
export const profileKey = (sha256: string, format: TabularFormat) => `${format}:${sha256}`;
