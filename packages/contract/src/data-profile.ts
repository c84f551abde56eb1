import { z } from "zod";

/**
 * Profiles of tabular files (CSV, Parquet, JSON lines), expectations over them, validation reports
 * and tabular diffs. Profiles are stored with each dataset version; monitoring later reads them as
 * drift references, so numeric columns carry fixed-edge histograms and quantiles, and categorical
 * columns their top values with counts.
 */

/** The tabular formats Cairn profiles, chosen by file extension. */
export const TabularFormat = z.enum(["csv", "parquet", "jsonl"]);
export type TabularFormat = z.infer<typeof TabularFormat>;

/** How a column is summarized: numbers get moments, quantiles and a histogram; the rest top-k values. */
export const ColumnKind = z.enum(["numeric", "categorical", "boolean", "temporal", "other"]);
export type ColumnKind = z.infer<typeof ColumnKind>;

/** The quantiles every numeric column stores. */
export const PROFILE_QUANTILES = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99] as const;
/** Histogram bins per numeric column (equal width between min and max). */
export const PROFILE_HISTOGRAM_BINS = 20;
/** Top values kept per categorical column. */
export const PROFILE_TOP_K = 20;

export const ColumnProfile = z.object({
  name: z.string(),
  /** The engine's type name, e.g. BIGINT, DOUBLE, VARCHAR, DATE. */
  type: z.string(),
  kind: ColumnKind,
  /** Non-null values. */
  count: z.number(),
  missing: z.number(),
  /** Distinct non-null values (approximate, HyperLogLog, on large tables). */
  distinct: z.number(),
  /** Numbers for numeric columns; ISO strings for temporal ones; strings compare lexically. */
  min: z.union([z.number(), z.string()]).nullable().optional(),
  max: z.union([z.number(), z.string()]).nullable().optional(),
  mean: z.number().nullable().optional(),
  std: z.number().nullable().optional(),
  /** `PROFILE_QUANTILES`, in order (approximate on large tables). */
  quantiles: z.array(z.object({ q: z.number(), value: z.number() })).optional(),
  /** `edges` has one more element than `counts`; the last bin includes the maximum. */
  histogram: z.object({ edges: z.array(z.number()), counts: z.array(z.number()) }).optional(),
  /** Most frequent values, most frequent first; `other` counts the non-null rest. */
  topK: z.object({ values: z.array(z.object({ value: z.string(), count: z.number() })), other: z.number() }).optional(),
});
export type ColumnProfile = z.infer<typeof ColumnProfile>;

export const FileProfile = z.object({
  format: TabularFormat,
  rows: z.number(),
  columns: z.array(ColumnProfile),
  /** e.g. `duckdb v1.5.0`. */
  engine: z.string(),
});
export type FileProfile = z.infer<typeof FileProfile>;

/** A column data type an expectation can require. */
export const ExpectedType = z.enum(["integer", "float", "numeric", "string", "boolean", "date", "timestamp"]);
export type ExpectedType = z.infer<typeof ExpectedType>;

const ColumnName = z.string().min(1).max(256);
const Scalar = z.union([z.string().max(1000), z.number(), z.boolean()]);
/** Which files an expectation applies to: a glob over manifest paths (`*` within a segment, `**` across). Default: every tabular file. */
const FileGlob = z.string().min(1).max(1000).optional();

/** One declared expectation. */
export const Expectation = z.discriminatedUnion("type", [
  z.object({ type: z.literal("column_exists"), column: ColumnName, file: FileGlob }),
  z.object({ type: z.literal("column_type"), column: ColumnName, dtype: ExpectedType, file: FileGlob }),
  z.object({ type: z.literal("not_null"), column: ColumnName, file: FileGlob }),
  z.object({ type: z.literal("range"), column: ColumnName, min: z.number().optional(), max: z.number().optional(), file: FileGlob }),
  z.object({ type: z.literal("allowed_values"), column: ColumnName, values: z.array(Scalar).min(1).max(10000), file: FileGlob }),
  z.object({ type: z.literal("unique"), columns: z.array(ColumnName).min(1).max(32), file: FileGlob }),
  z.object({ type: z.literal("row_count"), min: z.number().int().min(0).optional(), max: z.number().int().min(0).optional(), file: FileGlob }),
]);
export type Expectation = z.infer<typeof Expectation>;

export const Expectations = z.array(Expectation).max(1000);

export const ExpectationResult = z.object({
  expectation: Expectation,
  /** The manifest path the check ran on. */
  file: z.string(),
  passed: z.boolean(),
  /** What was found, e.g. `3 nulls`, `max 120 > 100`, `type VARCHAR`. */
  observed: z.string(),
});
export type ExpectationResult = z.infer<typeof ExpectationResult>;

/**
 * `passed`: every check passed; `failed`: at least one did not; `none`: the dataset declares no
 * expectations (or no file matched them).
 */
export const ValidationStatus = z.enum(["passed", "failed", "none"]);
export type ValidationStatus = z.infer<typeof ValidationStatus>;

export const ValidationReport = z.object({
  status: ValidationStatus,
  checkedAt: z.number(),
  results: z.array(ExpectationResult),
});
export type ValidationReport = z.infer<typeof ValidationReport>;

const Shift = z.object({ from: z.union([z.number(), z.string()]).nullable(), to: z.union([z.number(), z.string()]).nullable() });

/** How one tabular file changed between two versions, from their profiles. */
export const TabularDiff = z.object({
  path: z.string(),
  schema: z.object({
    added: z.array(z.object({ name: z.string(), type: z.string() })),
    removed: z.array(z.object({ name: z.string(), type: z.string() })),
    typeChanged: z.array(z.object({ name: z.string(), from: z.string(), to: z.string() })),
  }),
  rows: z.object({ from: z.number(), to: z.number(), delta: z.number() }),
  /** Columns in both versions whose statistics moved; only the statistics that changed are present. */
  columns: z.array(
    z.object({
      name: z.string(),
      shifts: z.object({ count: Shift, missing: Shift, distinct: Shift, min: Shift, max: Shift, mean: Shift, std: Shift }).partial(),
    }),
  ),
});
export type TabularDiff = z.infer<typeof TabularDiff>;
