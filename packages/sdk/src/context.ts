import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, existsSync, realpathSync } from "node:fs";
import { hostname, userInfo } from "node:os";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";

/** Tag keys set by `captureRunContext` (MLflow's where they exist, Cairn's otherwise). */
export const CONTEXT_TAGS = {
  gitCommit: "mlflow.source.git.commit",
  gitBranch: "mlflow.source.git.branch",
  gitRepoUrl: "mlflow.source.git.repoURL",
  gitDirty: "cairn.source.git.dirty",
  sourceName: "mlflow.source.name",
  sourceType: "mlflow.source.type",
  user: "mlflow.user",
  host: "cairn.host",
  nodeVersion: "cairn.node.version",
  platform: "cairn.platform",
  lockfileSha256: "cairn.lockfile.sha256",
} as const;

export interface CaptureContextOptions {
  /** Where to look for the lockfile, and for git when there is no entry point (default `process.cwd()`). */
  cwd?: string;
  /** The program's entry point (default `process.argv[1]`); git runs in its directory. */
  entryPoint?: string | undefined;
  /** Timeout for each git command (default 3 s). */
  gitTimeoutMs?: number;
}

const LOCKFILES = ["package-lock.json", "pnpm-lock.yaml", "yarn.lock"];

function git(args: string[], cwd: string, timeout: number): Promise<string | undefined> {
  return new Promise((done) => {
    try {
      execFile("git", args, { cwd, timeout, windowsHide: true, maxBuffer: 4 * 1024 * 1024 }, (err, stdout) => {
        done(err ? undefined : stdout.toString().trim());
      });
    } catch {
      done(undefined);
    }
  });
}

/** Removes credentials from a remote URL (`https://user:token@host/x` → `https://host/x`). */
export function redactRemoteUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.username || u.password) {
      u.username = "";
      u.password = "";
    }
    return u.toString();
  } catch {
    // scp-like `git@host:org/repo.git` is not a URL and carries no secret.
    return url;
  }
}

/** The nearest lockfile walking up from `dir`, or undefined. */
export function findLockfile(dir: string): string | undefined {
  let cur = resolve(dir);
  for (;;) {
    for (const name of LOCKFILES) {
      const p = join(cur, name);
      if (existsSync(p)) return p;
    }
    const parent = dirname(cur);
    if (parent === cur) return undefined;
    cur = parent;
  }
}

function sha256File(path: string): Promise<string | undefined> {
  return new Promise((done) => {
    const h = createHash("sha256");
    createReadStream(path)
      .on("data", (chunk) => h.update(chunk))
      .on("end", () => done(h.digest("hex")))
      .on("error", () => done(undefined));
  });
}

function currentUser(): string | undefined {
  try {
    return userInfo().username || undefined;
  } catch {
    // No passwd entry (some containers): fall back to the environment.
    return process.env.USER ?? process.env.LOGNAME ?? process.env.USERNAME;
  }
}

async function gitContext(dir: string, timeout: number): Promise<{ root: string; tags: Record<string, string> } | undefined> {
  const root = await git(["rev-parse", "--show-toplevel"], dir, timeout);
  if (!root) return undefined;
  const [commit, branch, status, remotes] = await Promise.all([
    git(["rev-parse", "--verify", "-q", "HEAD"], dir, timeout),
    git(["symbolic-ref", "--short", "-q", "HEAD"], dir, timeout),
    // Untracked files do not make the tree dirty (GitPython's is_dirty(), which MLflow uses, agrees).
    git(["status", "--porcelain", "--untracked-files=no"], dir, timeout),
    git(["remote"], dir, timeout),
  ]);
  const tags: Record<string, string> = {};
  if (commit) tags[CONTEXT_TAGS.gitCommit] = commit;
  if (branch) tags[CONTEXT_TAGS.gitBranch] = branch;
  if (status !== undefined) tags[CONTEXT_TAGS.gitDirty] = status.length > 0 ? "true" : "false";
  const names = remotes ? remotes.split(/\r?\n/).filter(Boolean) : [];
  const remote = names.includes("origin") ? "origin" : names[0];
  if (remote) {
    const url = await git(["remote", "get-url", remote], dir, timeout);
    if (url) tags[CONTEXT_TAGS.gitRepoUrl] = redactRemoteUrl(url);
  }
  return { root, tags };
}

/**
 * Describes where a run comes from, as run tags: git commit, branch, dirty flag and remote,
 * entry point, user, host, Node version, platform and the SHA-256 of the nearest lockfile.
 * Never throws: whatever cannot be found (no git, not a repository, no lockfile) is left out.
 * Node-only.
 * @example
 * const tags = await captureRunContext();
 * tags["mlflow.source.git.commit"]; // "3f2c…"
 */
export async function captureRunContext(opts: CaptureContextOptions = {}): Promise<Record<string, string>> {
  const cwd = resolve(opts.cwd ?? process.cwd());
  const entry = opts.entryPoint === undefined ? process.argv[1] : opts.entryPoint;
  const entryPath = entry ? resolve(cwd, entry) : undefined;
  const gitDir = entryPath && existsSync(dirname(entryPath)) ? dirname(entryPath) : cwd;
  const timeout = opts.gitTimeoutMs ?? 3000;

  const lockfile = findLockfile(cwd);
  const [g, lockHash] = await Promise.all([gitContext(gitDir, timeout), lockfile ? sha256File(lockfile) : undefined]);

  const tags: Record<string, string> = { [CONTEXT_TAGS.sourceType]: "LOCAL", ...g?.tags };
  if (entryPath) {
    let name = entryPath;
    if (g) {
      // git prints the resolved root (/private/var/… on macOS), so compare resolved paths.
      let real = entryPath;
      try {
        real = realpathSync(entryPath);
      } catch {
        // The entry point may not exist on disk (a REPL, an eval'd script): keep it as given.
      }
      const rel = relative(g.root, real);
      if (rel && !rel.startsWith("..") && !isAbsolute(rel)) name = rel;
    }
    tags[CONTEXT_TAGS.sourceName] = name.split(sep).join("/");
  }
  const user = currentUser();
  if (user) tags[CONTEXT_TAGS.user] = user;
  tags[CONTEXT_TAGS.host] = hostname();
  tags[CONTEXT_TAGS.nodeVersion] = process.version;
  tags[CONTEXT_TAGS.platform] = `${process.platform}/${process.arch}`;
  if (lockHash) tags[CONTEXT_TAGS.lockfileSha256] = lockHash;
  return tags;
}
