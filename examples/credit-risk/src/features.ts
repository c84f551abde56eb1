/**
 * Feature encoding: numeric columns as they are, then each categorical column one-hot (in the
 * category order fitted on the training rows; an unseen category encodes as all zeros). The
 * standardization (`(x - offset) / scale`, offset 0 and scale 1 for one-hot columns) is fitted on
 * the training rows only and kept in the spec, which both the TypeScript model and the ONNX graph
 * apply.
 */
import type { CsvTable } from "./csv.js";
import { Rng } from "./rng.js";
import { CATEGORICAL_COLUMNS, ID_COLUMN, LABEL_COLUMN, NUMERIC_COLUMNS } from "./schema.js";

/** The fitted preprocessing: written as `preprocessing.json` and embedded in the ONNX graph. */
export interface PreprocessingSpec {
  format: "credit-risk-preprocessing/v1";
  numeric: { name: string; mean: number; std: number }[];
  categorical: { name: string; categories: string[] }[];
  /** The encoded feature names, in column order: numerics, then `<column>=<category>`. */
  featureNames: string[];
  /** Per encoded feature: subtracted first (the training mean; 0 for one-hot). */
  offset: number[];
  /** Per encoded feature: divided by next (the training standard deviation; 1 for one-hot). */
  scale: number[];
  label: string;
}

/** A dense row-major matrix with labels and row ids. */
export interface Dataset {
  ids: number[];
  /** n × d, row-major. */
  x: Float64Array;
  y: Uint8Array;
  n: number;
  d: number;
}

/** A raw row as a name → cell map. */
export type RawRow = Record<string, string>;

/** The table's rows as name → cell maps. */
export function rowsOf(table: CsvTable): RawRow[] {
  return table.rows.map((r) => Object.fromEntries(table.header.map((h, i) => [h, r[i] ?? ""])));
}

/**
 * Splits row indices into train and holdout, stratified by label (each class shuffled with the
 * seed, the first `fraction` of each going to the holdout).
 * @throws Error when the fraction is not in (0, 1)
 */
export function stratifiedHoldout(labels: ArrayLike<number>, fraction: number, seed: number): { train: number[]; holdout: number[] } {
  if (!(fraction > 0 && fraction < 1)) throw new Error(`the holdout fraction must be in (0, 1), got ${fraction}`);
  const rng = new Rng(seed);
  const train: number[] = [];
  const holdout: number[] = [];
  for (const cls of [0, 1]) {
    const idx: number[] = [];
    for (let i = 0; i < labels.length; i++) if (labels[i] === cls) idx.push(i);
    rng.shuffle(idx);
    const cut = Math.round(idx.length * fraction);
    holdout.push(...idx.slice(0, cut));
    train.push(...idx.slice(cut));
  }
  const byIndex = (a: number, b: number) => a - b;
  return { train: train.sort(byIndex), holdout: holdout.sort(byIndex) };
}

/**
 * Fits the preprocessing on training rows: numeric means and (population) standard deviations,
 * and the sorted categories seen per categorical column.
 * @throws Error when there are no rows or a numeric cell is not a number
 */
export function fitPreprocessing(rows: readonly RawRow[]): PreprocessingSpec {
  if (rows.length === 0) throw new Error("cannot fit preprocessing on zero rows");
  const numeric = NUMERIC_COLUMNS.map((c) => {
    let sum = 0;
    let sq = 0;
    for (const r of rows) {
      const v = numberCell(r, c.name);
      sum += v;
      sq += v * v;
    }
    const mean = sum / rows.length;
    const variance = Math.max(0, sq / rows.length - mean * mean);
    // A constant column would divide by zero; scale 1 keeps it (as 0 after centering).
    const std = Math.sqrt(variance) > 1e-12 ? Math.sqrt(variance) : 1;
    return { name: c.name, mean, std };
  });
  const categorical = CATEGORICAL_COLUMNS.map((c) => ({ name: c.name, categories: [...new Set(rows.map((r) => r[c.name] ?? ""))].sort() }));
  const featureNames = [...numeric.map((c) => c.name), ...categorical.flatMap((c) => c.categories.map((v) => `${c.name}=${v}`))];
  const oneHots = featureNames.length - numeric.length;
  return {
    format: "credit-risk-preprocessing/v1",
    numeric,
    categorical,
    featureNames,
    offset: [...numeric.map((c) => c.mean), ...new Array<number>(oneHots).fill(0)],
    scale: [...numeric.map((c) => c.std), ...new Array<number>(oneHots).fill(1)],
    label: LABEL_COLUMN,
  };
}

function numberCell(r: RawRow, name: string): number {
  const v = Number(r[name]);
  if (r[name] === undefined || r[name] === "" || !Number.isFinite(v)) throw new Error(`column ${name}: "${r[name] ?? ""}" is not a number`);
  return v;
}

/**
 * Encodes one raw row as the ONNX model's input: numerics unscaled, then one-hots. This is the
 * model's input contract (see the README).
 * @throws Error when a numeric cell is not a number
 */
export function encodeRow(spec: PreprocessingSpec, row: RawRow, out: Float64Array = new Float64Array(spec.featureNames.length)): Float64Array {
  let j = 0;
  for (const c of spec.numeric) out[j++] = numberCell(row, c.name);
  for (const c of spec.categorical) {
    const v = row[c.name];
    for (const cat of c.categories) out[j++] = v === cat ? 1 : 0;
  }
  return out;
}

/** Standardizes an encoded row in place with the spec's offset and scale. */
export function standardizeInPlace(spec: PreprocessingSpec, row: Float64Array): Float64Array {
  for (let j = 0; j < row.length; j++) row[j] = ((row[j] ?? 0) - (spec.offset[j] ?? 0)) / (spec.scale[j] ?? 1);
  return row;
}

/**
 * Encodes rows into a matrix: standardized when `standardize` is true (the training input),
 * else unscaled (the ONNX input).
 * @throws Error as `encodeRow` does, or for a label that is not 0/1
 */
export function encodeRows(spec: PreprocessingSpec, rows: readonly RawRow[], standardize: boolean): Dataset {
  const d = spec.featureNames.length;
  const x = new Float64Array(rows.length * d);
  const y = new Uint8Array(rows.length);
  const ids: number[] = [];
  rows.forEach((r, i) => {
    const view = x.subarray(i * d, (i + 1) * d);
    encodeRow(spec, r, view);
    if (standardize) standardizeInPlace(spec, view);
    const label = r[spec.label];
    if (label !== "0" && label !== "1") throw new Error(`row ${i + 1}: label "${label ?? ""}" is not 0 or 1`);
    y[i] = label === "1" ? 1 : 0;
    ids.push(Number(r[ID_COLUMN]));
  });
  return { ids, x, y, n: rows.length, d };
}

/** The header of a features CSV: id, label, then the feature names. */
export function featureHeader(spec: PreprocessingSpec): string[] {
  return [ID_COLUMN, spec.label, ...spec.featureNames];
}

/** A dataset as CSV cells (`featureHeader` order). */
export function datasetCells(ds: Dataset): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < ds.n; i++) out.push([ds.ids[i] ?? 0, ds.y[i] ?? 0, ...ds.x.subarray(i * ds.d, (i + 1) * ds.d)]);
  return out;
}

/**
 * Reads a features CSV (as written from `datasetCells`) back into a dataset.
 * @throws Error when the header does not match the spec or a cell is not a number
 */
export function datasetFromCsv(spec: PreprocessingSpec, table: CsvTable): Dataset {
  const expected = featureHeader(spec);
  if (table.header.join(",") !== expected.join(",")) throw new Error(`features header does not match the preprocessing spec (got ${table.header.length} columns, expected ${expected.length})`);
  const d = spec.featureNames.length;
  const x = new Float64Array(table.rows.length * d);
  const y = new Uint8Array(table.rows.length);
  const ids: number[] = [];
  table.rows.forEach((r, i) => {
    ids.push(Number(r[0]));
    y[i] = r[1] === "1" ? 1 : 0;
    for (let j = 0; j < d; j++) {
      const v = Number(r[j + 2]);
      if (!Number.isFinite(v)) throw new Error(`features row ${i + 1}, column ${expected[j + 2]}: "${r[j + 2]}" is not a number`);
      x[i * d + j] = v;
    }
  });
  return { ids, x, y, n: table.rows.length, d };
}

/** The rows of `ds` at `indices`, as a new dataset. */
export function subset(ds: Dataset, indices: readonly number[]): Dataset {
  const x = new Float64Array(indices.length * ds.d);
  const y = new Uint8Array(indices.length);
  const ids: number[] = [];
  indices.forEach((src, i) => {
    x.set(ds.x.subarray(src * ds.d, (src + 1) * ds.d), i * ds.d);
    y[i] = ds.y[src] ?? 0;
    ids.push(ds.ids[src] ?? 0);
  });
  return { ids, x, y, n: indices.length, d: ds.d };
}
