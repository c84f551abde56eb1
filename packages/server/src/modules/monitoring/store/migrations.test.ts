import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { monitoringSchemaDdl } from "./migrations.js";

const here = dirname(fileURLToPath(import.meta.url));

/** The checked-in schema dumps show every schema change in review. Regenerate with CAIRN_UPDATE_SCHEMA_DUMP=1. */
describe("monitoring schema dumps", () => {
  for (const backend of ["sqlite", "postgres"] as const) {
    it(`matches schema/${backend}.sql`, () => {
      const file = join(here, "schema", `${backend}.sql`);
      const dump = `-- Generated from migrations.ts (monitoringSchemaDdl("${backend}")); do not edit.\n${monitoringSchemaDdl(backend).map((s) => `${s.replace(/\n\s+/g, "\n  ").replace(/\n\s*\)/g, "\n)")};`).join("\n\n")}\n`;
      if (process.env.CAIRN_UPDATE_SCHEMA_DUMP === "1") writeFileSync(file, dump);
      expect(readFileSync(file, "utf8")).toBe(dump);
    });
  }
});
