import { describe, expect, it } from "vitest";
import { isCairnError } from "@cairn/contract";
import { parseRegistryFilter, parseRegistryOrderBy } from "./search.js";

const codeOf = (f: () => unknown) => {
  try {
    f();
    return "ok";
  } catch (e) {
    return isCairnError(e) ? e.code : String(e);
  }
};

describe("registry filter grammar", () => {
  it("parses name, tags and version terms joined by AND", () => {
    expect(parseRegistryFilter(" name ILIKE 'Fr%' and tags.`my key` = \"it's\" AND tags.team != 'a''b' ", "model")).toEqual([
      { field: "name", op: "ILIKE", value: "Fr%" },
      { field: "tag", key: "my key", op: "=", value: "it's" },
      { field: "tag", key: "team", op: "!=", value: "a'b" },
    ]);
    expect(parseRegistryFilter("run_id = 'r1' and source_path LIKE 'mlflow-artifacts:/%' and version_number >= 2", "version")).toEqual([
      { field: "run_id", op: "=", value: "r1" },
      { field: "source_path", op: "LIKE", value: "mlflow-artifacts:/%" },
      { field: "version_number", op: ">=", value: 2 },
    ]);
    expect(parseRegistryFilter("", "model")).toEqual([]);
    expect(parseRegistryFilter(undefined, "version")).toEqual([]);
  });

  it("rejects what it does not support with INVALID_PARAMETER_VALUE", () => {
    for (const [f, kind] of [
      ["run_id = 'x'", "model"],
      ["name = x", "model"],
      ["name > 'x'", "model"],
      ["name = 'x' or name = 'y'", "model"],
      ["name = 'x", "model"],
      ["tags. = 'x'", "version"],
      ["version_number LIKE '1'", "version"],
      ["metrics.acc > 1", "version"],
    ] as const) {
      expect([f, codeOf(() => parseRegistryFilter(f, kind))]).toEqual([f, "INVALID_PARAMETER_VALUE"]);
    }
  });

  it("parses order_by clauses", () => {
    expect(parseRegistryOrderBy(["name", "last_updated_timestamp DESC"], "model")).toEqual([
      { field: "name", asc: true },
      { field: "last_updated_timestamp", asc: false },
    ]);
    expect(parseRegistryOrderBy(["version_number desc", "timestamp ASC"], "version")).toEqual([
      { field: "version_number", asc: false },
      { field: "last_updated_timestamp", asc: true },
    ]);
    expect(codeOf(() => parseRegistryOrderBy(["version_number DESC"], "model"))).toBe("INVALID_PARAMETER_VALUE");
    expect(codeOf(() => parseRegistryOrderBy(["name UP"], "model"))).toBe("INVALID_PARAMETER_VALUE");
    expect(codeOf(() => parseRegistryOrderBy(["name", "name DESC"], "model"))).toBe("INVALID_PARAMETER_VALUE");
  });
});
