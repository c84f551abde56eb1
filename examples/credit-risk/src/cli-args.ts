/**
 * Command-line flags for the step scripts: `--name value` pairs, read with types and clear errors.
 */

/** Parsed `--name value` flags. */
export class Args {
  readonly #values = new Map<string, string>();

  /**
   * Parses `argv` (without the node and script words).
   * @throws Error for a word that is not a `--flag` followed by a value
   */
  constructor(argv: readonly string[]) {
    for (let i = 0; i < argv.length; i += 2) {
      const flag = argv[i] ?? "";
      const value = argv[i + 1];
      if (!flag.startsWith("--") || value === undefined) throw new Error(`expected --flag value pairs, got ${JSON.stringify(argv.slice(i))}`);
      this.#values.set(flag.slice(2), value);
    }
  }

  /** Whether the flag was given. */
  has(name: string): boolean {
    return this.#values.has(name);
  }

  /** A string flag, or `fallback` when absent. @throws Error when absent without a fallback */
  string(name: string, fallback?: string): string {
    const v = this.#values.get(name) ?? fallback;
    if (v === undefined) throw new Error(`missing required flag --${name}`);
    return v;
  }

  /** A numeric flag. @throws Error when absent without a fallback, or not a finite number */
  number(name: string, fallback?: number): number {
    const raw = this.#values.get(name);
    if (raw === undefined) {
      if (fallback === undefined) throw new Error(`missing required flag --${name}`);
      return fallback;
    }
    const v = Number(raw);
    if (raw.trim() === "" || !Number.isFinite(v)) throw new Error(`--${name} must be a number, got "${raw}"`);
    return v;
  }

  /** A whole-number flag at least `min`. @throws Error as `number` does, or when not a whole number ≥ min */
  integer(name: string, min: number, fallback?: number): number {
    const v = this.number(name, fallback);
    if (!Number.isInteger(v) || v < min) throw new Error(`--${name} must be a whole number >= ${min}, got ${v}`);
    return v;
  }
}

/**
 * Runs a step's main function, printing an error as one clear line and exiting 1 on failure, so
 * the pipeline log shows why the step failed rather than a stack trace.
 */
export function runStep(name: string, main: () => Promise<void> | void): void {
  Promise.resolve()
    .then(main)
    .catch((e: unknown) => {
      process.stderr.write(`${name}: error: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    });
}
