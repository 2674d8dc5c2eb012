import { createHash, type Hash } from 'node:crypto';

/**
 * The readable record of a run: one line per event, hashed as it goes (the hash of two runs of
 * one seed must match), the last lines kept for the failure report.
 */
export class Trace {
  readonly #hash: Hash = createHash('sha256');
  readonly #tail: string[] = [];
  readonly #keep: number;
  readonly #all: string[] | null;
  #lines = 0;

  constructor(options: { keep: number; full?: boolean }) {
    this.#keep = Math.max(1, options.keep);
    this.#all = options.full ? [] : null;
  }

  /** Appends a line. */
  line(text: string): void {
    this.#lines++;
    this.#hash.update(text);
    this.#hash.update('\n');
    this.#tail.push(text);
    if (this.#tail.length > this.#keep) this.#tail.shift();
    this.#all?.push(text);
  }

  /** How many lines were written. */
  get length(): number {
    return this.#lines;
  }

  /** The last lines (up to `keep`). */
  tail(): string[] {
    return [...this.#tail];
  }

  /** Every line, when the trace was made with `full`. */
  all(): string[] | null {
    return this.#all ? [...this.#all] : null;
  }

  /** The hex sha-256 of every line so far. */
  digest(): string {
    return this.#hash.copy().digest('hex');
  }
}
