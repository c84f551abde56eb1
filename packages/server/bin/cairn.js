#!/usr/bin/env node
// Entry point for `npx cairn`: runs the built CLI, building it first on a fresh checkout.
import { existsSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const entry = path.join(here, "..", "dist", "cli", "main.js");
if (!existsSync(entry)) {
  process.stderr.write("cairn: first run, building the TypeScript sources (npm run build)...\n");
  execFileSync("npm", ["run", "build"], { cwd: path.join(here, "..", "..", ".."), stdio: ["ignore", "inherit", "inherit"] });
}
const { main } = await import(entry);
await main(process.argv);
