import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { captureRunContext, findLockfile, redactRemoteUrl } from "./context.js";

let hasGit = true;
try {
  execFileSync("git", ["--version"], { stdio: "ignore" });
} catch {
  hasGit = false;
  console.warn("[skip] git is not installed; skipping the git context tests");
}

let tmp: string;
const git = (...args: string[]) => execFileSync("git", args, { cwd: tmp, stdio: "pipe" }).toString().trim();

beforeAll(() => {
  tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "cairn-ctx-")));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("captureRunContext", () => {
  it.skipIf(!hasGit)("records commit, branch, dirty flag, remote, entry point and lockfile hash", async () => {
    git("init", "-q", "-b", "feature/x");
    git("config", "user.email", "t@example.com");
    git("config", "user.name", "T");
    fs.mkdirSync(path.join(tmp, "scripts"));
    fs.writeFileSync(path.join(tmp, "scripts/train.js"), "console.log(1)\n");
    const lock = JSON.stringify({ name: "x", lockfileVersion: 3 });
    fs.writeFileSync(path.join(tmp, "package-lock.json"), lock);
    git("add", ".");
    git("commit", "-q", "-m", "init");
    git("remote", "add", "origin", "https://alice:tok3n@example.com/org/repo.git");
    const commit = git("rev-parse", "HEAD");

    const opts = { cwd: path.join(tmp, "scripts"), entryPoint: path.join(tmp, "scripts/train.js") };
    let tags = await captureRunContext(opts);
    expect(tags["mlflow.source.git.commit"]).toBe(commit);
    expect(tags["mlflow.source.git.branch"]).toBe("feature/x");
    expect(tags["cairn.source.git.dirty"]).toBe("false");
    expect(tags["mlflow.source.git.repoURL"]).toBe("https://example.com/org/repo.git");
    expect(tags["mlflow.source.name"]).toBe("scripts/train.js");
    expect(tags["mlflow.source.type"]).toBe("LOCAL");
    expect(tags["cairn.lockfile.sha256"]).toBe(createHash("sha256").update(lock).digest("hex"));
    expect(tags["cairn.node.version"]).toBe(process.version);
    expect(tags["cairn.platform"]).toBe(`${process.platform}/${process.arch}`);
    expect(tags["cairn.host"]).toBe(os.hostname());
    expect(tags["mlflow.user"]).toBeTruthy();

    // Untracked files do not count; a modified tracked file does.
    fs.writeFileSync(path.join(tmp, "untracked.txt"), "x");
    expect((await captureRunContext(opts))["cairn.source.git.dirty"]).toBe("false");
    fs.appendFileSync(path.join(tmp, "scripts/train.js"), "console.log(2)\n");
    tags = await captureRunContext(opts);
    expect(tags["cairn.source.git.dirty"]).toBe("true");
  });

  it("leaves git tags out outside a repository, without failing", async () => {
    const plain = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-nogit-"));
    try {
      const tags = await captureRunContext({ cwd: plain, entryPoint: path.join(plain, "x.js") });
      expect(tags["mlflow.source.git.commit"]).toBeUndefined();
      expect(tags["cairn.source.git.dirty"]).toBeUndefined();
      expect(tags["mlflow.source.type"]).toBe("LOCAL");
      expect(tags["mlflow.source.name"]).toBe(path.join(plain, "x.js").split(path.sep).join("/"));
    } finally {
      fs.rmSync(plain, { recursive: true, force: true });
    }
  });

  it("finds the nearest lockfile walking up", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-lock-"));
    try {
      fs.writeFileSync(path.join(root, "yarn.lock"), "");
      fs.mkdirSync(path.join(root, "a/b"), { recursive: true });
      expect(findLockfile(path.join(root, "a/b"))).toBe(path.join(root, "yarn.lock"));
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("strips credentials from remote URLs", () => {
    expect(redactRemoteUrl("https://user:pw@github.com/a/b.git")).toBe("https://github.com/a/b.git");
    expect(redactRemoteUrl("git@github.com:a/b.git")).toBe("git@github.com:a/b.git");
  });
});
