import fs from "node:fs";
import path from "node:path";
import { pathToFileURL, fileURLToPath } from "node:url";
import { Readable } from "node:stream";
import { InvalidArgumentError, Option, type Command } from "commander";
import type { S3Client } from "@aws-sdk/client-s3";
import {
  Cairn,
  CairnError,
  copyVersion,
  isCairnError,
  parseDatasetRef,
  versionRefOf,
  type Dataset,
  type DatasetRef,
  type DatasetVersion,
  type LineageGraph,
  type LinkMode,
  type ManifestEntry,
  type ManifestEntryInput,
  type VersionDiff,
} from "@cairn/sdk";
import {
  action,
  clientFor,
  createProgress,
  formatBytes,
  formatTime,
  globalOptions,
  printHeading,
  printJson,
  printKeyValues,
  printTable,
  usageErrorsExit2,
  wantsJson,
  type Cell,
} from "../../cli/output.js";
import { collect, positiveInt, nonNegativeInt } from "../../cli/parsers.js";
import { hashFile } from "./hashing.js";
import { buildManifest, diffManifests, type ManifestEntry as LocalEntry, type ManifestStats } from "./manifest.js";
import { StatCache } from "./stat-cache.js";
import { walkTree } from "./tree.js";
import { cachedManifest, cacheManifest, localCacheDir, statCacheDir, trackedPath, trackPath } from "./workspace.js";

const usage = (cmd: Command, msg: string): never => cmd.error(`error: ${msg}`, { exitCode: 2, code: "cairn.usage" });

/** A `NAME[@REF]` / `datasets:/…` argument (a malformed one is a usage error: exit 2). */
function datasetRefArg(v: string): DatasetRef {
  try {
    return parseDatasetRef(v);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

function linkModeArg(v: string): LinkMode {
  if (v !== "reflink" && v !== "hardlink" && v !== "copy") throw new InvalidArgumentError("must be reflink, hardlink or copy");
  return v;
}


const short = (digest: string) => digest.slice(0, 12);

/** A manifest entry as a table row's location: its path, or `path → uri` for an external file. */
const where = (e: { path: string; uri?: string | undefined }) => (e.uri ? `${e.path} → ${e.uri}` : e.path);

/** `PASSED` / `FAILED (2 of 5 checks)` / `none`. */
function validationLabel(v: DatasetVersion): string {
  const r = v.validation;
  if (r.status === "failed") return `FAILED (${r.results.filter((x) => !x.passed).length} of ${r.results.length} checks)`;
  if (r.status === "passed") return `passed (${r.results.length} checks)`;
  return "none";
}

function printValidation(v: DatasetVersion): void {
  if (v.validation.results.length === 0) return;
  printHeading("Validation");
  printTable(
    ["RESULT", "FILE", "EXPECTATION", "OBSERVED"],
    v.validation.results.map((r) => [r.passed ? "pass" : "FAIL", r.file, describeExpectation(r.expectation), r.observed]),
    { maxCell: 80 },
  );
}

function describeExpectation(x: DatasetVersion["validation"]["results"][number]["expectation"]): string {
  switch (x.type) {
    case "column_exists":
      return `column_exists ${x.column}`;
    case "column_type":
      return `column_type ${x.column} ${x.dtype}`;
    case "not_null":
      return `not_null ${x.column}`;
    case "range":
      return `range ${x.column} [${x.min ?? "-∞"}, ${x.max ?? "∞"}]`;
    case "allowed_values":
      return `allowed_values ${x.column} (${x.values.length})`;
    case "unique":
      return `unique ${x.columns.join(", ")}`;
    case "row_count":
      return `row_count [${x.min ?? 0}, ${x.max ?? "∞"}]`;
  }
}

/** Builds a local tree's manifest, with the stat cache in the local cache directory. */
async function localManifest(abs: string, json: boolean): Promise<{ entries: LocalEntry[]; stats: ManifestStats }> {
  const cache = new StatCache(statCacheDir());
  const bar = createProgress("hash  ", json);
  try {
    return await buildManifest(abs, { cache, onProgress: (d, t) => bar.update(d, t) });
  } finally {
    bar.stop();
    cache.close();
  }
}

/** Every entry of a version's manifest (by path). */
async function manifestOf(cairn: Cairn, name: string, ref: string): Promise<ManifestEntry[]> {
  const out: ManifestEntry[] = [];
  for await (const f of cairn.datasets.files(name, ref)) out.push(f);
  return out;
}

/** A version's manifest from the local manifest cache, else from the server (then cached). */
async function versionManifest(cairn: Cairn, v: DatasetVersion): Promise<ManifestEntry[]> {
  const hit = cachedManifest<ManifestEntry>(v.id);
  if (hit && hit.length === v.fileCount) return hit;
  const entries = await manifestOf(cairn, v.dataset, v.id);
  cacheManifest(v.id, entries);
  return entries;
}

/** What turns `base` into `local`: files added or changed, and paths removed. */
function changesFrom(base: readonly ManifestEntry[], local: readonly LocalEntry[]): { upsert: LocalEntry[]; remove: string[] } {
  const before = new Map(base.map((e) => [e.path, e]));
  const upsert: LocalEntry[] = [];
  for (const e of local) {
    const old = before.get(e.path);
    before.delete(e.path);
    if (!old || old.uri !== undefined || old.sha256 !== e.sha256 || old.mode !== e.mode || old.size !== e.size) upsert.push(e);
  }
  return { upsert, remove: [...before.keys()] };
}

/** The AWS SDK, loaded on first use: it adds about 120 ms to every command's start otherwise. */
async function aws() {
  const [sdk, { s3ConfigFromEnv }] = await Promise.all([import("@aws-sdk/client-s3"), import("../../platform/blob/s3-blob-store.js")]);
  return { sdk, client: () => new sdk.S3Client(s3ConfigFromEnv()) };
}

function splitS3(uri: string): { bucket: string; key: string } {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(uri);
  if (!m?.[1]) throw new CairnError("INVALID_PARAMETER_VALUE", `Invalid S3 URI '${uri}': expected s3://bucket/key`);
  return { bucket: m[1], key: m[2] ?? "" };
}

/**
 * Manifest entries for external data: a `file://` file or directory (hashed locally, SHA-256) or an
 * `s3://` object or prefix (ending in `/`; HeadObject/ListObjectsV2 ETag and size, not downloaded).
 */
async function externalEntries(uris: string[]): Promise<ManifestEntryInput[]> {
  const out: ManifestEntryInput[] = [];
  let s3: S3Client | undefined;
  const { sdk, client } = await aws();
  try {
    for (const uri of uris) {
      if (uri.startsWith("file://")) {
        const abs = fileURLToPath(uri);
        const isDir = fs.statSync(abs, { throwIfNoEntry: false })?.isDirectory() ?? false;
        for (const f of walkTree(abs)) {
          out.push({ path: isDir ? `${path.basename(abs)}/${f.path}` : f.path, size: f.size, mode: f.mode, sha256: await hashFile(f.abs), uri: pathToFileURL(isDir ? path.join(abs, ...f.path.split("/")) : abs).href });
        }
      } else if (uri.startsWith("s3://")) {
        s3 ??= client();
        const { bucket, key } = splitS3(uri);
        if (key === "" || key.endsWith("/")) {
          const base = key.replace(/\/+$/, "").split("/").pop() || bucket;
          let token: string | undefined;
          do {
            const page = await s3.send(new sdk.ListObjectsV2Command({ Bucket: bucket, Prefix: key, ContinuationToken: token }));
            for (const o of page.Contents ?? []) {
              if (!o.Key || o.Key.endsWith("/")) continue;
              out.push({ path: `${base}/${o.Key.slice(key.length)}`, size: o.Size ?? 0, mode: 0o644, uri: `s3://${bucket}/${o.Key}`, etag: (o.ETag ?? "").replace(/"/g, "") });
            }
            token = page.IsTruncated ? page.NextContinuationToken : undefined;
          } while (token);
        } else {
          const head = await s3.send(new sdk.HeadObjectCommand({ Bucket: bucket, Key: key }));
          out.push({ path: key.split("/").pop()!, size: head.ContentLength ?? 0, mode: 0o644, uri, etag: (head.ETag ?? "").replace(/"/g, "") });
        }
      } else {
        throw new CairnError("INVALID_PARAMETER_VALUE", `--external takes file:// or s3:// URIs, got '${uri}'`);
      }
    }
  } catch (e) {
    if (isCairnError(e)) throw e;
    const name = (e as { name?: string }).name;
    if (name === "NotFound" || name === "NoSuchKey" || (e as { code?: string }).code === "ENOENT") throw new CairnError("RESOURCE_DOES_NOT_EXIST", `External data not found: ${(e as Error).message}`);
    throw e;
  } finally {
    s3?.destroy();
  }
  out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return out;
}

/**
 * Streams an `s3://` external entry with the server's S3 settings (`CAIRN_S3_ENDPOINT`, `AWS_*`).
 * The GET is conditional on the recorded ETag, so an object changed since the version was recorded
 * is a CHECKSUM_MISMATCH rather than silently different data.
 */
function s3Fetcher(): { fetch: (e: ManifestEntry) => Promise<Readable>; close: () => void } {
  let s3: S3Client | undefined;
  return {
    fetch: async (e) => {
      const { sdk, client } = await aws();
      s3 ??= client();
      const { bucket, key } = splitS3(e.uri!);
      try {
        const res = await s3.send(new sdk.GetObjectCommand({ Bucket: bucket, Key: key, ...(e.etag ? { IfMatch: `"${e.etag}"` } : {}) }));
        return res.Body as Readable;
      } catch (err) {
        const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        if (status === 412) throw new CairnError("CHECKSUM_MISMATCH", `External file '${e.path}' at ${e.uri} changed since the version was recorded (its ETag is no longer ${e.etag})`);
        if (status === 404) throw new CairnError("RESOURCE_DOES_NOT_EXIST", `External file '${e.path}' at ${e.uri} no longer exists`);
        throw err;
      }
    },
    close: () => s3?.destroy(),
  };
}

/** Version rows for `data log`. */
function versionRows(list: DatasetVersion[]): Cell[][] {
  return list.map((v) => [`v${v.number}`, v.tags.join(", "), short(v.digest), v.fileCount, formatBytes(v.totalBytes), v.validation.status, v.author, formatTime(v.createdAt), v.message]);
}

function printDiff(d: VersionDiff): void {
  process.stdout.write(`${versionRefOf(d.from)} → ${versionRefOf(d.to)}: ${d.counts.added} added, ${d.counts.removed} removed, ${d.counts.modified} modified, ${d.unchanged} unchanged\n`);
  const cut = d.counts.added + d.counts.removed + d.counts.modified - d.added.length - d.removed.length - d.modified.length;
  if (cut > 0) process.stdout.write(`(the file lists below stop at ${d.added.length + d.removed.length + d.modified.length}; ${cut} more changes are not listed)\n`);
  const rows: Cell[][] = [
    ...d.added.map((e) => ["added", where(e), "-", formatBytes(e.size)]),
    ...d.removed.map((e) => ["removed", where(e), formatBytes(e.size), "-"]),
    ...d.modified.map((m) => ["modified", m.path, formatBytes(m.from.size), formatBytes(m.to.size)]),
  ];
  if (rows.length) {
    printHeading("Files");
    printTable(["CHANGE", "PATH", "FROM", "TO"], rows, { maxCell: 100 });
  }
  for (const t of d.tabular) {
    const sign = t.rows.delta > 0 ? "+" : "";
    printHeading(`${t.path}: rows ${t.rows.from} → ${t.rows.to} (${sign}${t.rows.delta})`);
    const schema: Cell[][] = [
      ...t.schema.added.map((c) => ["added", c.name, "-", c.type]),
      ...t.schema.removed.map((c) => ["removed", c.name, c.type, "-"]),
      ...t.schema.typeChanged.map((c) => ["type changed", c.name, c.from, c.to]),
    ];
    if (schema.length) printTable(["SCHEMA", "COLUMN", "FROM", "TO"], schema);
    const shifts: Cell[][] = [];
    for (const c of t.columns) {
      for (const [stat, s] of Object.entries(c.shifts)) {
        if (!s) continue;
        const delta = typeof s.from === "number" && typeof s.to === "number" ? s.to - s.from : null;
        shifts.push([c.name, stat, s.from, s.to, delta]);
      }
    }
    if (shifts.length) printTable(["COLUMN", "STAT", "FROM", "TO", "DELTA"], shifts);
    if (!schema.length && !shifts.length) process.stdout.write("no schema or statistic changes\n");
  }
}

/** A lineage graph as an indented tree from its root, following edges in one direction. */
export function lineageTree(g: LineageGraph, direction: "upstream" | "downstream"): string[] {
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  const next = new Map<string, { id: string; edge: string }[]>();
  for (const e of g.edges) {
    const [a, b] = direction === "downstream" ? [e.from, e.to] : [e.to, e.from];
    const label = e.context ? `${e.kind}, ${e.context}` : e.kind;
    next.set(a, [...(next.get(a) ?? []), { id: b, edge: label }]);
  }
  const describe = (id: string) => {
    const n = byId.get(id);
    if (!n) return id;
    const extra = n.kind === "run" && n.attrs.status ? ` [${n.attrs.status}]` : "";
    return n.label && n.label !== id ? `${id} (${n.label})${extra}` : `${id}${extra}`;
  };
  const lines = [describe(g.root)];
  const walk = (id: string, prefix: string, seen: Set<string>) => {
    const kids = [...(next.get(id) ?? [])].sort((x, y) => x.id.localeCompare(y.id));
    kids.forEach((k, i) => {
      const last = i === kids.length - 1;
      const arrow = direction === "downstream" ? "→" : "←";
      const cycle = seen.has(k.id);
      lines.push(`${prefix}${last ? "└─" : "├─"} ${arrow} ${describe(k.id)} (${k.edge})${cycle ? " …" : ""}`);
      if (!cycle) walk(k.id, prefix + (last ? "   " : "│  "), new Set([...seen, k.id]));
    });
  };
  walk(g.root, "", new Set([g.root]));
  return lines;
}

/** A lineage argument as the API's node id: `NAME@REF` → `dataset:NAME@REF`; `runs:/`, `run:`, `models:/`, `model:`, `dataset:`, `datasets:/` as is. */
export function lineageNode(ref: string): string {
  if (/^(runs:\/|run:|models:\/|model:|datasets:\/|dataset:)/.test(ref)) return ref;
  const r = parseDatasetRef(ref);
  return `dataset:${r.name}@${r.ref}`;
}

/**
 * Adds `cairn data …` (add, status, diff, get, push, pull, log, tag, gc, ls, show, profile, expect)
 * and `cairn lineage` to the program. They read the root program's `--url`, `--token` and `--json`;
 * server errors print `error: CODE: message` and exit 1, usage errors exit 2.
 */
export function registerDataCommands(program: Command): void {
  const data = usageErrorsExit2(program.command("data").description("version datasets: add, status, diff, get, push/pull, tag, log, validate and profile"));

  data
    .command("add")
    .description("add a file or directory as a new version of a dataset (only blobs the server lacks are uploaded)")
    .argument("<path...>", "a file or directory (with --external: file:// or s3:// URIs)")
    .option("--name <name>", "the dataset (default: the one PATH was last added as)")
    .option("-m, --message <text>", "what changed")
    .option("--tag <tag>", "point a version tag at the new version (repeatable)", collect)
    .option("--strict", "refuse the version when an expectation fails (exit 1)")
    .option("--run <id>", "the run that produced this data (recorded as its output)")
    .option("--external", "record the URIs as external files (their bytes stay where they are)")
    .option("--description <text>", "the dataset's description, when it is created")
    .action(
      action(async (paths: string[], opts: { name?: string; message?: string; tag?: string[]; strict?: boolean; run?: string; external?: boolean; description?: string }, cmd: Command) => {
        if (!opts.external && paths.length !== 1) usage(cmd, "give one PATH (several only with --external)");
        const json = wantsJson(cmd);
        const cairn = clientFor(cmd);
        const abs = opts.external ? undefined : path.resolve(paths[0]!);
        const name = opts.name ?? (abs ? trackedPath(abs)?.name : undefined);
        if (!name) usage(cmd, `--name is required: ${abs ? `'${paths[0]}' was never added` : "external data"}`);
        let entries: ManifestEntryInput[];
        let stats: ManifestStats | undefined;
        if (abs) {
          const built = await localManifest(abs, json);
          entries = built.entries;
          stats = built.stats;
        } else {
          entries = await externalEntries(paths);
        }
        const createOpts = opts.description === undefined ? {} : { description: opts.description };
        const { dataset, created } = await cairn.datasets.getOrCreate(name!, createOpts);
        const isFile = abs !== undefined && fs.statSync(abs).isFile();
        // A tree added before is sent as changes to the latest version: a few changed files among
        // 100k cost only their own hashes, uploads and rows.
        let delta: { base: DatasetVersion; upsert: ManifestEntryInput[]; remove: string[] } | undefined;
        if (abs && dataset.latestVersion > 0) {
          const base = await cairn.datasets.getVersion(name!, "latest");
          const changes = changesFrom(await versionManifest(cairn, base), entries as LocalEntry[]);
          if (changes.upsert.length === 0 && changes.remove.length === 0) {
            for (const t of opts.tag ?? []) await cairn.datasets.tag(name!, t, base.id);
            // The run still produced this data: record it as the existing version's producer.
            if (opts.run !== undefined) await cairn.datasets.linkRun(opts.run, { dataset: name!, version: base.number, direction: "output" });
            const same = opts.tag?.length ? await cairn.datasets.getVersion(name!, base.id) : base;
            trackPath(abs, { name: name!, url: cairn.url, version: same.number, updatedAt: Date.now() });
            if (json) return printJson({ version: same, unchanged: true, datasetCreated: false, blobsUploaded: 0, bytesUploaded: 0, blobsSkipped: 0, hashedFiles: stats?.hashedFiles ?? 0, cachedFiles: stats?.cachedFiles ?? 0 });
            process.stdout.write(`nothing changed: ${paths[0]} matches ${versionRefOf(same)}${opts.tag?.length ? ` (tagged ${opts.tag.join(", ")})` : ""}; no version created\n`);
            return;
          }
          delta = { base, ...changes };
        }
        const bar = createProgress("upload", json);
        let up: Awaited<ReturnType<typeof cairn.datasets.uploadVersion>>;
        try {
          const req: Parameters<typeof cairn.datasets.uploadVersion>[1] = {
            entries: delta ? delta.upsert : entries,
            ...(delta ? { base: delta.base.id, remove: delta.remove } : {}),
            readFile: (p) => fs.createReadStream(isFile ? abs! : path.join(abs!, ...p.split("/"))),
            onProgress: (d, t) => bar.update(d, t),
          };
          if (opts.message !== undefined) req.message = opts.message;
          if (opts.tag?.length) req.tags = opts.tag;
          if (opts.strict) req.strict = true;
          if (opts.run !== undefined) req.runId = opts.run;
          up = await cairn.datasets.uploadVersion(name!, req);
        } finally {
          bar.stop();
        }
        const v = up.version;
        if (abs) {
          trackPath(abs, { name: name!, url: cairn.url, version: v.number, updatedAt: Date.now() });
          cacheManifest(v.id, entries);
        }
        if (json) {
          return printJson({ version: v, datasetCreated: created, base: delta ? { version: delta.base.number, upserted: delta.upsert.length, removed: delta.remove.length } : null, blobsUploaded: up.blobsUploaded, bytesUploaded: up.bytesUploaded, blobsSkipped: up.blobsSkipped, hashedFiles: stats?.hashedFiles ?? entries.length, cachedFiles: stats?.cachedFiles ?? 0 });
        }
        process.stdout.write(`${created ? `created dataset ${name}\n` : ""}added ${versionRefOf(v)}${v.tags.length ? ` (${v.tags.join(", ")})` : ""}\n`);
        printKeyValues([
          ["version", `v${v.number}`],
          ["id", v.id],
          ["digest", v.digest],
          ["files", v.fileCount],
          ["bytes", `${formatBytes(v.totalBytes)} (${v.totalBytes})`],
          ["external", v.externalCount],
          ["uploaded", `${up.blobsUploaded} new blobs, ${formatBytes(up.bytesUploaded)} (${up.blobsSkipped} already on the server)`],
          ...(delta ? ([["sent", `changes to ${versionRefOf(delta.base)}: ${delta.upsert.length} added or modified, ${delta.remove.length} removed, ${entries.length - delta.upsert.length} unchanged (not sent)`]] as [string, Cell][]) : []),
          ["hashed", stats ? `${stats.hashedFiles} files hashed, ${stats.cachedFiles} from the stat cache` : `${entries.length} external`],
          ["validation", validationLabel(v)],
        ]);
        if (v.validation.status === "failed") {
          printValidation(v);
          process.stderr.write(`warning: ${versionRefOf(v)} FAILED validation (recorded; use --strict to refuse such versions)\n`);
        }
      }),
    );

  data
    .command("status")
    .description("what changed in a local file or directory since the dataset's latest version")
    .argument("<path>", "the file or directory")
    .option("--name <name>", "the dataset (default: the one PATH was last added as)")
    .action(
      action(async (p: string, opts: { name?: string }, cmd: Command) => {
        const json = wantsJson(cmd);
        const abs = path.resolve(p);
        const name = opts.name ?? trackedPath(abs)?.name;
        if (!name) usage(cmd, `--name is required: '${p}' was never added`);
        const cairn = clientFor(cmd);
        const dataset = await cairn.datasets.get(name!);
        const { entries: local, stats } = await localManifest(abs, json);
        let latest: DatasetVersion | undefined;
        let remote: ManifestEntry[] = [];
        if (dataset.latestVersion > 0) {
          latest = await cairn.datasets.getVersion(name!, `v${dataset.latestVersion}`);
          remote = await versionManifest(cairn, latest);
        }
        // External entries have no local counterpart to compare; they are not part of the tree.
        const stored = remote.filter((e): e is ManifestEntry & { sha256: string } => e.uri === undefined && e.sha256 !== undefined);
        const d = diffManifests(stored, local);
        const unchanged = local.length - d.added.length - d.modified.length;
        if (json) return printJson({ dataset: name, version: latest ?? null, added: d.added, removed: d.removed, modified: d.modified.map((m) => ({ path: m.to.path, from: m.from, to: m.to })), unchanged, hashedFiles: stats.hashedFiles, cachedFiles: stats.cachedFiles });
        const against = latest ? versionRefOf(latest) : `${name} (no versions yet)`;
        const clean = d.added.length + d.removed.length + d.modified.length === 0;
        process.stdout.write(clean ? `up to date with ${against} (${local.length} files; ${stats.hashedFiles} hashed, ${stats.cachedFiles} from the stat cache)\n` : `changes against ${against}: ${d.added.length} added, ${d.removed.length} removed, ${d.modified.length} modified, ${unchanged} unchanged (${stats.hashedFiles} hashed, ${stats.cachedFiles} from the stat cache)\n`);
        if (!clean) {
          printTable(
            ["CHANGE", "PATH", "SIZE"],
            [...d.added.map((e) => ["added", e.path, formatBytes(e.size)]), ...d.removed.map((e) => ["removed", e.path, formatBytes(e.size)]), ...d.modified.map((m) => ["modified", m.to.path, `${formatBytes(m.from.size)} → ${formatBytes(m.to.size)}`])] as Cell[][],
            { maxCell: 100 },
          );
        }
      }),
    );

  data
    .command("diff")
    .description("files added, removed and modified between two versions, with tabular schema, row-count and statistic changes")
    .argument("<from>", "NAME@REF", datasetRefArg)
    .argument("<to>", "NAME@REF, or just REF of the same dataset")
    .action(
      action(async (from: DatasetRef, toArg: string, _opts: unknown, cmd: Command) => {
        let to: DatasetRef;
        if (toArg.includes("@") || toArg.startsWith("datasets:/")) {
          to = datasetRefArg(toArg);
          if (to.name !== from.name) usage(cmd, `both versions must be of one dataset ('${from.name}' vs '${to.name}')`);
        } else {
          to = { name: from.name, ref: toArg };
        }
        const d = await clientFor(cmd).datasets.diff(from.name, from.ref, to.ref);
        if (wantsJson(cmd)) return printJson(d);
        printDiff(d);
      }),
    );

  data
    .command("get")
    .description("write a version's files into DIR (blobs cached locally; reflinked, hard-linked or copied from the cache)")
    .argument("<ref>", "NAME@REF (NAME = latest)", datasetRefArg)
    .argument("<dir>", "target directory (created when missing)")
    .addOption(new Option("--link <mode>", "reflink (copy-on-write where supported, else copy), hardlink (read-only files) or copy").argParser(linkModeArg).default("reflink"))
    .option("--cache-dir <dir>", "the local blob cache (default $CAIRN_CACHE_DIR or ~/.cache/cairn)")
    .action(
      action(async (ref: DatasetRef, dir: string, opts: { link: LinkMode; cacheDir?: string }, cmd: Command) => {
        const json = wantsJson(cmd);
        const cairn = clientFor(cmd);
        const bar = createProgress("get   ", json);
        const s3 = s3Fetcher();
        let res: Awaited<ReturnType<typeof cairn.datasets.materialize>>;
        try {
          res = await cairn.datasets.materialize(`${ref.name}@${ref.ref}`, dir, { link: opts.link, cacheDir: opts.cacheDir ?? localCacheDir(), fetchExternal: s3.fetch, onProgress: (d, t) => bar.update(d, t) });
        } finally {
          bar.stop();
          s3.close();
        }
        if (json) return printJson(res);
        process.stdout.write(`${versionRefOf(res.version)} → ${res.dir}: ${res.files} files (${formatBytes(res.bytes)}), ${res.downloaded} downloaded (${formatBytes(res.downloadedBytes)}), ${res.fromCache} from cache${res.external ? `, ${res.external} external` : ""}\n`);
      }),
    );

  const transfer = (verb: "push" | "pull") =>
    data
      .command(verb)
      .description(verb === "push" ? "copy a version from this server (--url) to another (--remote); only missing blobs travel" : "copy a version from another server (--remote) to this one (--url); only missing blobs travel")
      .argument("<ref>", "NAME@REF", datasetRefArg)
      .requiredOption("--remote <url>", "the other server's URL")
      .option("--remote-token <token>", "bearer token for the other server (default: $CAIRN_REMOTE_TOKEN)")
      .action(
        action(async (ref: DatasetRef, opts: { remote: string; remoteToken?: string }, cmd: Command) => {
          const json = wantsJson(cmd);
          const here = clientFor(cmd);
          const there = new Cairn({ url: opts.remote, token: opts.remoteToken ?? (process.env.CAIRN_REMOTE_TOKEN || undefined), handleExit: false });
          const [src, dst] = verb === "push" ? [here, there] : [there, here];
          const bar = createProgress(verb.padEnd(6), json);
          let res: Awaited<ReturnType<typeof copyVersion>>;
          try {
            res = await copyVersion(src, dst, ref.name, ref.ref, { onProgress: (d, t) => bar.update(d, t) });
          } finally {
            bar.stop();
          }
          if (json) return printJson({ ...res, from: src.url, to: dst.url });
          const v = res.version;
          if (res.existed) process.stdout.write(`${dst.url} already has ${versionRefOf(v)} (id ${v.id}); nothing sent\n`);
          else process.stdout.write(`${verb === "push" ? "pushed" : "pulled"} ${ref.name}@${ref.ref} → ${dst.url} as ${versionRefOf(v)}: ${res.blobsSent} blobs sent (${formatBytes(res.bytesSent)}), ${res.blobsSkipped} skipped (already there)${res.datasetCreated ? "; dataset created" : ""}\n`);
        }),
      );
  transfer("push");
  transfer("pull");

  data
    .command("log")
    .description("a dataset's versions, newest first")
    .argument("<name>", "dataset name")
    .option("--max <n>", "show at most N versions", positiveInt, 100)
    .action(
      action(async (name: string, opts: { max: number }, cmd: Command) => {
        const list: DatasetVersion[] = [];
        for await (const v of clientFor(cmd).datasets.versions(name, { limit: opts.max, maxResults: Math.min(opts.max, 1000) })) list.push(v);
        if (wantsJson(cmd)) return printJson({ versions: list });
        printTable(["VERSION", "TAGS", "DIGEST", "FILES", "SIZE", "VALIDATION", "AUTHOR", "CREATED", "MESSAGE"], versionRows(list));
      }),
    );

  data
    .command("tag")
    .description("point a tag at a version (moving it), or delete it with --delete")
    .argument("<ref>", "NAME@REF", datasetRefArg)
    .argument("<tag>", "the tag")
    .option("--delete", "delete the tag (REF's version part is ignored)")
    .action(
      action(async (ref: DatasetRef, tag: string, opts: { delete?: boolean }, cmd: Command) => {
        const cairn = clientFor(cmd);
        if (opts.delete) {
          await cairn.datasets.untag(ref.name, tag);
          if (wantsJson(cmd)) return printJson({ deleted: tag });
          process.stdout.write(`deleted tag ${ref.name}@${tag}\n`);
          return;
        }
        const v = await cairn.datasets.tag(ref.name, tag, ref.ref);
        if (wantsJson(cmd)) return printJson({ version: v });
        process.stdout.write(`${ref.name}@${tag} → ${versionRefOf(v)}\n`);
      }),
    );

  data
    .command("gc")
    .description("delete blobs no version references (admin); recently unreferenced ones stay for the grace period")
    .option("--grace <seconds>", "keep blobs unreferenced for less than this (default: 86400)", nonNegativeInt)
    .option("--dry-run", "count what would be deleted, delete nothing")
    .action(
      action(async (opts: { grace?: number; dryRun?: boolean }, cmd: Command) => {
        const req: { graceSeconds?: number; dryRun?: boolean } = { dryRun: opts.dryRun === true };
        if (opts.grace !== undefined) req.graceSeconds = opts.grace;
        const r = await clientFor(cmd).datasets.gc(req);
        if (wantsJson(cmd)) return printJson(r);
        process.stdout.write(`${r.dryRun ? "dry run: would delete" : "deleted"} ${r.deleted} blobs (${formatBytes(r.deletedBytes)}); ${r.referenced} referenced, ${r.inGrace} unreferenced but within the grace period\n`);
      }),
    );

  data
    .command("ls")
    .description("list datasets")
    .option("--q <text>", "only names containing TEXT")
    .option("--max <n>", "show at most N datasets", positiveInt, 1000)
    .action(
      action(async (opts: { q?: string; max: number }, cmd: Command) => {
        const list: Dataset[] = [];
        const it = clientFor(cmd).datasets.iterate(opts.q === undefined ? { limit: opts.max } : { q: opts.q, limit: opts.max });
        for await (const d of it) list.push(d);
        if (wantsJson(cmd)) return printJson({ datasets: list });
        printTable(["NAME", "LATEST", "VERSIONS", "EXPECTATIONS", "UPDATED", "DESCRIPTION"], list.map((d) => [d.name, d.latestVersion ? `v${d.latestVersion}` : "-", d.versionCount, d.expectations.length, formatTime(d.updatedAt), d.description]));
      }),
    );

  data
    .command("show")
    .description("a version's details and validation report")
    .argument("<ref>", "NAME@REF (NAME = latest)", datasetRefArg)
    .option("--files", "also list the version's files")
    .action(
      action(async (ref: DatasetRef, opts: { files?: boolean }, cmd: Command) => {
        const cairn = clientFor(cmd);
        const v = await cairn.datasets.getVersion(ref.name, ref.ref);
        const files = opts.files ? await manifestOf(cairn, ref.name, `v${v.number}`) : undefined;
        if (wantsJson(cmd)) return printJson(files ? { version: v, files } : { version: v });
        printKeyValues([
          ["dataset", v.dataset],
          ["version", `v${v.number}`],
          ["id", v.id],
          ["digest", v.digest],
          ["tags", v.tags.join(", ")],
          ["message", v.message],
          ["author", v.author],
          ["created", formatTime(v.createdAt)],
          ["files", v.fileCount],
          ["bytes", `${formatBytes(v.totalBytes)} (${v.totalBytes})`],
          ["external", v.externalCount],
          ["source run", v.sourceRunId],
          ["validation", validationLabel(v)],
        ]);
        printValidation(v);
        if (files) {
          printHeading("Files");
          printTable(["PATH", "SIZE", "MODE", "SHA256"], files.map((f) => [where(f), f.size, f.mode.toString(8), f.sha256 ? short(f.sha256) : f.etag ? `etag ${f.etag}` : "-"]), { maxCell: 100 });
        }
      }),
    );

  data
    .command("profile")
    .description("per-column profiles of a version's tabular files")
    .argument("<ref>", "NAME@REF (NAME = latest)", datasetRefArg)
    .action(
      action(async (ref: DatasetRef, _opts: unknown, cmd: Command) => {
        const files = await clientFor(cmd).datasets.profile(ref.name, ref.ref);
        if (wantsJson(cmd)) return printJson({ files });
        if (!files.length) process.stdout.write("no tabular files\n");
        for (const f of files) {
          printHeading(`${f.path} (${f.profile.format}, ${f.profile.rows} rows, ${f.profile.columns.length} columns)`);
          printTable(
            ["COLUMN", "TYPE", "KIND", "COUNT", "MISSING", "DISTINCT", "MIN", "MAX", "MEAN", "STD"],
            f.profile.columns.map((c) => [c.name, c.type, c.kind, c.count, c.missing, c.distinct, c.min, c.max, c.mean, c.std]),
          );
        }
      }),
    );

  data
    .command("expect")
    .description("declare (replace) the expectations new versions of a dataset are validated against")
    .argument("<name>", "dataset name")
    .requiredOption("--file <path>", "a JSON file: an array of expectations, or { \"expectations\": [...] }")
    .action(
      action(async (name: string, opts: { file: string }, cmd: Command) => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(fs.readFileSync(opts.file, "utf8"));
        } catch (e) {
          throw new CairnError("INVALID_PARAMETER_VALUE", `Cannot read expectations from '${opts.file}': ${(e as Error).message}`);
        }
        const list = Array.isArray(parsed) ? parsed : (parsed as { expectations?: unknown })?.expectations;
        if (!Array.isArray(list)) throw new CairnError("INVALID_PARAMETER_VALUE", `'${opts.file}' must hold an array of expectations or { "expectations": [...] }`);
        const d = await clientFor(cmd).datasets.setExpectations(name, list as Parameters<Cairn["datasets"]["setExpectations"]>[1]);
        if (wantsJson(cmd)) return printJson({ dataset: d });
        process.stdout.write(`${name}: ${d.expectations.length} expectations; new versions are validated against them\n`);
      }),
    );

  program
    .command("lineage")
    .description("the lineage graph around a dataset version, run or model version, as a tree")
    .argument("<ref>", "NAME@REF (dataset version), runs:/ID or run:ID, models:/NAME/N or model:NAME/N")
    .addOption(new Option("--upstream", "only what it came from").conflicts("downstream"))
    .addOption(new Option("--downstream", "only what came from it"))
    .option("--depth <n>", "edges to follow (default 3, at most 20)", positiveInt)
    .action(
      action(async (ref: string, opts: { upstream?: boolean; downstream?: boolean; depth?: number }, cmd: Command) => {
        let node: string;
        try {
          node = lineageNode(ref);
        } catch (e) {
          return usage(cmd, (e as Error).message);
        }
        const direction: "upstream" | "downstream" | "both" = opts.upstream ? "upstream" : opts.downstream ? "downstream" : "both";
        const q: { direction: typeof direction; depth?: number } = { direction };
        if (opts.depth !== undefined) q.depth = opts.depth;
        const g = await clientFor(cmd).datasets.lineage(node, q);
        if (globalOptions(cmd).json) return printJson(g);
        const dirs: ("upstream" | "downstream")[] = direction === "both" ? ["upstream", "downstream"] : [direction];
        for (const dir of dirs) {
          if (direction === "both") process.stdout.write(`${dir}:\n`);
          process.stdout.write(`${lineageTree(g, dir).join("\n")}\n`);
        }
        if (g.truncated) process.stderr.write("(the graph was cut at the node limit; use --depth to see less)\n");
      }),
    );
}
