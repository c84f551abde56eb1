import { CairnError, LogBatchRequest, parseCanonicalLogBatch } from "@cairn/contract";
import type { z } from "zod";

/**
 * Schemas with a hand-tuned parser for their common shape (same result as the schema for what it
 * accepts; undefined sends the input through the schema). Only the hottest requests have one.
 */
const FAST_PATHS = new Map<z.ZodType, (input: unknown) => unknown>([[LogBatchRequest, parseCanonicalLogBatch]]);

/**
 * Parses input with a zod schema, turning every problem into one INVALID_PARAMETER_VALUE
 * error that names each offending field.
 * @throws CairnError INVALID_PARAMETER_VALUE
 */
export function validate<S extends z.ZodType>(schema: S, input: unknown, where: string): z.output<S> {
  const fast = FAST_PATHS.get(schema)?.(input);
  if (fast !== undefined) return fast as z.output<S>;
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const details = r.error.issues.map((i) => ({ path: [where, ...i.path.map(String)].join("."), message: i.message }));
  const summary = details.slice(0, 3).map((d) => `${d.path}: ${d.message}`).join("; ");
  throw new CairnError("INVALID_PARAMETER_VALUE", `Invalid request: ${summary}${details.length > 3 ? ` (and ${details.length - 3} more)` : ""}`, { details });
}

