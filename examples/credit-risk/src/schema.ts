/**
 * The credit-default table's columns: what the generator writes, the validator checks and the
 * featurizer encodes. One place, so the three cannot drift apart.
 */

/** A numeric column with the range every value must fall in. */
export interface NumericColumn {
  name: string;
  kind: "numeric";
  min: number;
  max: number;
  /** Whole numbers only. */
  integer: boolean;
}

/** A categorical column with its allowed values. */
export interface CategoricalColumn {
  name: string;
  kind: "categorical";
  values: readonly string[];
}

export type Column = NumericColumn | CategoricalColumn;

/** The row identifier column (not a feature). */
export const ID_COLUMN = "id";
/** The label column: 1 when the borrower defaulted, else 0. */
export const LABEL_COLUMN = "default";

export const HOME_OWNERSHIP = ["RENT", "OWN", "MORTGAGE", "OTHER"] as const;
export const PURPOSES = ["debt_consolidation", "credit_card", "home_improvement", "small_business", "car", "medical", "other"] as const;
export const REGIONS = ["north", "south", "east", "west", "central"] as const;

/** The feature columns, in file order. All are required (no nulls). */
export const FEATURE_COLUMNS: readonly Column[] = [
  { name: "age", kind: "numeric", min: 18, max: 80, integer: true },
  { name: "income", kind: "numeric", min: 8_000, max: 500_000, integer: true },
  { name: "loan_amount", kind: "numeric", min: 1_000, max: 100_000, integer: true },
  { name: "term", kind: "numeric", min: 36, max: 60, integer: true },
  { name: "credit_score", kind: "numeric", min: 300, max: 850, integer: true },
  { name: "employment_years", kind: "numeric", min: 0, max: 50, integer: false },
  { name: "debt_to_income", kind: "numeric", min: 0, max: 1.5, integer: false },
  { name: "num_late_payments", kind: "numeric", min: 0, max: 30, integer: true },
  { name: "home_ownership", kind: "categorical", values: HOME_OWNERSHIP },
  { name: "purpose", kind: "categorical", values: PURPOSES },
  { name: "region", kind: "categorical", values: REGIONS },
];

/** Every column of the raw CSV, in order: id, the features, the label. */
export const RAW_HEADER: readonly string[] = [ID_COLUMN, ...FEATURE_COLUMNS.map((c) => c.name), LABEL_COLUMN];

/** The numeric feature columns, in file order. */
export const NUMERIC_COLUMNS = FEATURE_COLUMNS.filter((c): c is NumericColumn => c.kind === "numeric");
/** The categorical feature columns, in file order. */
export const CATEGORICAL_COLUMNS = FEATURE_COLUMNS.filter((c): c is CategoricalColumn => c.kind === "categorical");
