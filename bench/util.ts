import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Starts a Node script in its own process and waits until `url + readyPath` answers 200. */
export async function startProcess(args: string[], url: string, readyPath = "/health", env: NodeJS.ProcessEnv = {}): Promise<ChildProcess> {
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "inherit"] });
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`process exited with ${child.exitCode}: ${args.join(" ")}`);
    try {
      const r = await fetch(url + readyPath);
      if (r.ok) return child;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill("SIGKILL");
  throw new Error(`timed out waiting for ${url}${readyPath}`);
}

export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
    setTimeout(() => child.kill("SIGKILL"), 5000).unref();
  });
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export interface Figure {
  name: string;
  value: number;
  unit: string;
  baseline?: { name: string; value: number; unit: string };
  /** ratio of value to baseline, when both measure the same unit */
  ratio?: number;
  target?: string;
  pass?: boolean;
}

/** Prints figures as a table (or one JSON object with --json). */
export function report(area: string, figures: Figure[], extra: Record<string, unknown>, json: boolean): void {
  if (json) {
    process.stdout.write(JSON.stringify({ area, figures, ...extra }, null, 2) + "\n");
    return;
  }
  const fmt = (v: number, unit: string) => `${v >= 100 ? Math.round(v).toLocaleString("en-US") : v.toFixed(v >= 10 ? 1 : 2)} ${unit}`;
  const rows = figures.map((f) => [
    f.name,
    fmt(f.value, f.unit),
    f.baseline ? `${fmt(f.baseline.value, f.baseline.unit)} (${f.baseline.name})` : "",
    f.ratio !== undefined ? `${(f.ratio * 100).toFixed(0)}%` : "",
    f.target ?? "",
    f.pass === undefined ? "" : f.pass ? "ok" : "MISSED",
  ]);
  const head = ["figure", "value", "baseline (same run)", "ratio", "target", ""];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ");
  process.stdout.write(`\nCairn benchmark: ${area}\n${Object.entries(extra).map(([k, v]) => `  ${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`).join("\n")}\n\n`);
  process.stdout.write(line(head) + "\n" + widths.map((w) => "-".repeat(w)).join("  ") + "\n");
  for (const r of rows) process.stdout.write(line(r) + "\n");
  process.stdout.write("\n");
}
