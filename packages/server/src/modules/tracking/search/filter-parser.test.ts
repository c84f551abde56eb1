import { describe, expect, it } from "vitest";
import { CairnError } from "@cairn/contract";
import { decodePageToken, encodePageToken, parseExperimentFilter, parseOrderBy, parseRunFilter } from "./filter-parser.js";

function invalid(fn: () => unknown, message?: RegExp): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CairnError);
    expect((e as CairnError).code).toBe("INVALID_PARAMETER_VALUE");
    if (message) expect((e as CairnError).message).toMatch(message);
    return;
  }
  throw new Error("expected INVALID_PARAMETER_VALUE");
}

describe("parseRunFilter", () => {
  it("returns no terms for an empty or absent filter", () => {
    expect(parseRunFilter(undefined)).toEqual([]);
    expect(parseRunFilter("   ")).toEqual([]);
  });

  it("parses every entity prefix and its aliases", () => {
    expect(parseRunFilter("metrics.acc > 0.9")).toEqual([{ type: "metric", key: "acc", comparator: ">", value: 0.9 }]);
    expect(parseRunFilter("metric.acc <= -1e-3")).toEqual([{ type: "metric", key: "acc", comparator: "<=", value: -0.001 }]);
    for (const p of ["params", "param", "parameter"]) {
      expect(parseRunFilter(`${p}.lr = '0.01'`)).toEqual([{ type: "param", key: "lr", comparator: "=", value: "0.01" }]);
    }
    for (const p of ["tags", "tag"]) {
      expect(parseRunFilter(`${p}.team != "vision"`)).toEqual([{ type: "tag", key: "team", comparator: "!=", value: "vision" }]);
    }
    for (const p of ["attributes", "attribute", "attr", "run"]) {
      expect(parseRunFilter(`${p}.status = 'FINISHED'`)).toEqual([{ type: "attribute", key: "status", comparator: "=", value: "FINISHED" }]);
    }
    for (const p of ["datasets", "dataset"]) {
      expect(parseRunFilter(`${p}.digest = 'abc'`)).toEqual([{ type: "dataset", key: "digest", comparator: "=", value: "abc" }]);
    }
  });

  it("joins terms with AND in any case", () => {
    const f = parseRunFilter("metrics.a >= 1 and params.b = 'x' AND tags.c LIKE 'y%' aNd attributes.start_time < 100");
    expect(f.map((t) => [t.type, t.key, t.comparator])).toEqual([
      ["metric", "a", ">="],
      ["param", "b", "="],
      ["tag", "c", "LIKE"],
      ["attribute", "start_time", "<"],
    ]);
  });

  it("reads quoted keys with backticks or double quotes, and dotted unquoted keys", () => {
    expect(parseRunFilter("metrics.`my key` > 1")[0]).toMatchObject({ key: "my key" });
    expect(parseRunFilter('tags."mlflow.user" = \'alice\'')[0]).toMatchObject({ type: "tag", key: "mlflow.user", value: "alice" });
    expect(parseRunFilter("tags.mlflow.source.type = 'LOCAL'")[0]).toMatchObject({ key: "mlflow.source.type" });
    expect(parseRunFilter("metrics.val/loss<0.5")[0]).toMatchObject({ key: "val/loss", comparator: "<", value: 0.5 });
    expect(parseRunFilter("params.`a``b` = 'x'")[0]).toMatchObject({ key: "a`b" });
  });

  it("unescapes quotes inside string values", () => {
    expect(parseRunFilter("params.p = 'it''s'")[0]!.value).toBe("it's");
    expect(parseRunFilter("params.p = 'it\\'s'")[0]!.value).toBe("it's");
    expect(parseRunFilter('params.p = "say \\"hi\\""')[0]!.value).toBe('say "hi"');
    expect(parseRunFilter("params.p = 'a and b'")).toHaveLength(1);
  });

  it("parses every comparator", () => {
    expect(parseRunFilter("tags.t like '%a'")[0]!.comparator).toBe("LIKE");
    expect(parseRunFilter("tags.t ILIKE '%a'")[0]!.comparator).toBe("ILIKE");
    expect(parseRunFilter("tags.t IN ('a', \"b\")")[0]).toMatchObject({ comparator: "IN", value: ["a", "b"] });
    expect(parseRunFilter("tags.t not in ('a')")[0]).toMatchObject({ comparator: "NOT IN", value: ["a"] });
    expect(parseRunFilter("tags.t IS NULL")[0]).toMatchObject({ comparator: "IS NULL", value: null });
    expect(parseRunFilter("params.p is not null")[0]).toMatchObject({ comparator: "IS NOT NULL", value: null });
    for (const op of ["=", "!=", "<", "<=", ">", ">="]) expect(parseRunFilter(`metrics.m ${op} 3`)[0]!.comparator).toBe(op);
  });

  it("maps run attribute aliases", () => {
    expect(parseRunFilter("attributes.created > 5")[0]).toMatchObject({ type: "attribute", key: "start_time" });
    expect(parseRunFilter("run_name = 'x'")[0]).toMatchObject({ type: "attribute", key: "run_name" });
    expect(parseRunFilter("tags.mlflow.runName = 'x'")[0]).toMatchObject({ type: "attribute", key: "run_name", value: "x" });
    expect(parseRunFilter("tags.`mlflow.runName` IS NULL")[0]).toMatchObject({ type: "tag", key: "mlflow.runName" });
    expect(parseRunFilter("attributes.run_id IN ('a', 'b')")[0]).toMatchObject({ key: "run_id", value: ["a", "b"] });
    expect(parseRunFilter("end_time >= 0")[0]).toMatchObject({ key: "end_time" });
    expect(parseRunFilter("attributes.lifecycle_stage = 'deleted'")[0]).toMatchObject({ key: "lifecycle_stage" });
  });

  it("rejects illegal combinations with clear messages", () => {
    invalid(() => parseRunFilter("params.lr < '1'"), /comparator '<' is not allowed for param 'lr'/);
    invalid(() => parseRunFilter("metrics.acc = 'high'"), /metric 'acc' must be compared with a number/);
    invalid(() => parseRunFilter("metrics.acc LIKE '1%'"), /LIKE/);
    invalid(() => parseRunFilter("tags.t = 5"), /quoted strings/);
    invalid(() => parseRunFilter("attributes.color = 'red'"), /unknown attribute 'color'/);
    invalid(() => parseRunFilter("attributes.start_time > '5'"), /number/);
    invalid(() => parseRunFilter("attributes.run_id LIKE 'a%'"), /not allowed/);
    invalid(() => parseRunFilter("attributes.status IS NULL"), /not allowed/);
    invalid(() => parseRunFilter("foo.bar = 1"), /unknown entity type 'foo'/);
    invalid(() => parseRunFilter("datasets.size = 'x'"), /unknown dataset field/);
    invalid(() => parseRunFilter("metrics.a > 1 or metrics.b > 2"), /OR is not supported/);
    invalid(() => parseRunFilter("metrics.a > 1 metrics.b > 2"), /expected AND/);
    invalid(() => parseRunFilter("metrics.a >"), /expected a value/);
    invalid(() => parseRunFilter("metrics.a"), /expected a comparator/);
    invalid(() => parseRunFilter("params.p = 'open"), /unterminated/);
    invalid(() => parseRunFilter("tags.t IN ()"), /empty/);
    invalid(() => parseRunFilter("tags.t IN ('a' 'b')"), /expected ','/);
    invalid(() => parseRunFilter("tags.t = `x`"), /backticks quote keys/);
    invalid(() => parseRunFilter("params. = 'x'"), /expected a key/);
    invalid(() => parseRunFilter("= 'x'"), /expected an identifier/);
  });
});

describe("parseExperimentFilter", () => {
  it("parses attributes and tags", () => {
    expect(parseExperimentFilter("name LIKE 'prod-%' and tags.team = 'vision' and creation_time > 10")).toEqual([
      { type: "attribute", key: "name", comparator: "LIKE", value: "prod-%" },
      { type: "tag", key: "team", comparator: "=", value: "vision" },
      { type: "attribute", key: "creation_time", comparator: ">", value: 10 },
    ]);
    expect(parseExperimentFilter("attributes.name ILIKE '%X%'")[0]).toMatchObject({ comparator: "ILIKE" });
    expect(parseExperimentFilter("experiment_id IN (1, '2')")[0]).toMatchObject({ key: "experiment_id", value: ["1", "2"] });
    expect(parseExperimentFilter("last_update_time <= 5")[0]).toMatchObject({ key: "last_update_time" });
  });

  it("rejects run-only entities and unknown attributes", () => {
    invalid(() => parseExperimentFilter("metrics.acc > 1"), /cannot be filtered on metrics/);
    invalid(() => parseExperimentFilter("params.a = 'x'"), /params/);
    invalid(() => parseExperimentFilter("attributes.status = 'x'"), /unknown attribute 'status'/);
    invalid(() => parseExperimentFilter("name > 'a'"), /not allowed/);
  });
});

describe("parseOrderBy", () => {
  it("parses keys and directions", () => {
    expect(parseOrderBy(["metrics.acc DESC", "attributes.start_time", "params.lr ASC", "tags.x", "start_time desc", "metrics.`a b` asc"], "run")).toEqual([
      { type: "metric", key: "acc", ascending: false },
      { type: "attribute", key: "start_time", ascending: true },
      { type: "param", key: "lr", ascending: true },
      { type: "tag", key: "x", ascending: true },
      { type: "attribute", key: "start_time", ascending: false },
      { type: "metric", key: "a b", ascending: true },
    ]);
    expect(parseOrderBy(["run_name", "created DESC", "tags.mlflow.runName"], "run")).toEqual([
      { type: "attribute", key: "run_name", ascending: true },
      { type: "attribute", key: "start_time", ascending: false },
      { type: "attribute", key: "run_name", ascending: true },
    ]);
    expect(parseOrderBy(undefined, "run")).toEqual([]);
    expect(parseOrderBy(["name", "creation_time DESC"], "experiment")).toEqual([
      { type: "attribute", key: "name", ascending: true },
      { type: "attribute", key: "creation_time", ascending: false },
    ]);
  });

  it("rejects bad clauses", () => {
    invalid(() => parseOrderBy(["metrics.acc DOWN"], "run"), /expected ASC, DESC/);
    invalid(() => parseOrderBy(["attributes.color"], "run"), /unknown attribute/);
    invalid(() => parseOrderBy(["datasets.name"], "run"), /cannot order runs by datasets/);
    invalid(() => parseOrderBy(["metrics.acc"], "experiment"), /cannot order experiments by metrics/);
  });
});

describe("page tokens", () => {
  it("round-trips offsets", () => {
    for (const o of [0, 1, 100, 49_999]) expect(decodePageToken(encodePageToken(o))).toBe(o);
    expect(decodePageToken(undefined)).toBe(0);
    expect(decodePageToken("")).toBe(0);
  });

  it("rejects tokens it did not make", () => {
    invalid(() => decodePageToken("not a token!"), /Invalid page token/);
    invalid(() => decodePageToken(Buffer.from("[1,2]").toString("base64url")), /Invalid page token/);
    invalid(() => decodePageToken(Buffer.from('{"o":-1}').toString("base64url")), /Invalid page token/);
    invalid(() => decodePageToken(Buffer.from('{"o":1.5}').toString("base64url")), /Invalid page token/);
    invalid(() => decodePageToken("abc"), /Invalid page token/);
  });
});
