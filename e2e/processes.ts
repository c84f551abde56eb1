/** Child processes for the end-to-end tests: a TypeScript entry point or the `cairn` CLI, run from sources through tsx. */
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

export const ROOT = path.resolve(import.meta.dirname, "..");
export const CLI = path.join(ROOT, "packages/server/src/cli/main.ts");

/** How a child process ended, with everything it printed. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Added to the environment; an undefined value removes the variable. */
  env?: Record<string, string | undefined>;
  /** Called with all stdout so far on each chunk; `kill` signals the child. */
  onStdout?: (text: string, kill: (s: NodeJS.Signals) => void) => void;
}

/** Runs a TypeScript entry point in a fresh Node process (sources resolved through tsx), colours off. */
export function runNode(script: string, args: string[], opts: RunOptions = {}): Promise<Exit> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env, FORCE_COLOR: "0" };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--conditions=@cairn/source", "--import", "tsx", script, ...args], {
      cwd: ROOT,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      opts.onStdout?.(stdout, (s) => child.kill(s));
    });
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("exit", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Runs `cairn --url <url> ...args`. */
export function runCli(url: string, args: string[], opts: RunOptions = {}): Promise<Exit> {
  return runNode(CLI, ["--url", url, ...args], opts);
}

/** Runs `cairn --url <url> ...args` and throws, with everything it printed, unless it exits with `code`. */
export async function runCliExpect(url: string, args: string[], code: number, opts: RunOptions = {}): Promise<Exit> {
  const res = await runCli(url, args, opts);
  if (res.code !== code) throw new Error(`cairn ${args.join(" ")} exited ${res.code} (wanted ${code})\nstdout:\n${res.stdout}\nstderr:\n${res.stderr}`);
  return res;
}

/** Writes files (path relative to `root` → text), creating their directories. */
export function writeFiles(root: string, files: Record<string, string>): void {
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text);
  }
}
