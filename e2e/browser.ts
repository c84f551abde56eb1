/**
 * Shared harness for the web UI e2e tests: finds Debian's Chromium (skipping with a printed reason,
 * or failing under CAIRN_REQUIRE_SERVICES=1), builds the UI when it is stale, and launches the
 * browser with the flags this closed network needs.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";

export const CHROMIUM = process.env.CAIRN_CHROMIUM ?? "/usr/bin/chromium";
const ROOT = path.resolve(import.meta.dirname, "..");
const WEB_ROOT = path.join(ROOT, "packages/web");
export const WEB_DIST = path.join(WEB_ROOT, "dist");
export const SHOTS = "/tmp";

/** Whether Chromium is installed; when it is not, says why the caller's tests skip (or throws when required). */
export function chromiumAvailable(what: string): boolean {
  if (fs.existsSync(CHROMIUM)) return true;
  if (process.env.CAIRN_REQUIRE_SERVICES === "1") throw new Error(`Chromium is required (CAIRN_REQUIRE_SERVICES=1) but ${CHROMIUM} does not exist`);
  console.warn(`[skip] Chromium not found at ${CHROMIUM}; skipping the ${what} (apt-get install chromium)`);
  return false;
}

/** Newest modification time under a directory (for a stale-build check). */
function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : fs.statSync(p).mtimeMs);
  }
  return newest;
}

/** Builds the UI when dist/ is missing or older than its sources (`npm test` builds first anyway). */
export function ensureUiBuilt(): void {
  const index = path.join(WEB_DIST, "index.html");
  const builtAt = fs.existsSync(index) ? fs.statSync(index).mtimeMs : 0;
  const sourcesAt = Math.max(newestMtime(path.join(WEB_ROOT, "src")), fs.statSync(path.join(WEB_ROOT, "index.html")).mtimeMs);
  if (builtAt >= sourcesAt) return;
  const vite = path.join(ROOT, "node_modules/vite/bin/vite.js");
  // vitest sets NODE_ENV=test, which would bundle React's development build.
  execFileSync(process.execPath, [vite, "build", "--logLevel", "warn"], { cwd: WEB_ROOT, stdio: "inherit", env: { ...process.env, NODE_ENV: "production" } });
}

/** Launches headless Chromium; without the background-networking flags it keeps dialling out and failing. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

/** A page at the UI tests' viewport and timeout that records every uncaught page error into `errors`. */
export async function openPage(browser: Browser, errors: string[]): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.setDefaultTimeout(15_000);
  page.on("pageerror", (e) => errors.push(e.message));
  return page;
}
