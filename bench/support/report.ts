/**
 * Helpers for bench files: one JSON line per result, with the process's peak RSS.
 */

/** A benchmark result; `bench`, `n`, `wall_ms`, `rows_per_s` are required, more keys may follow. */
export interface BenchResult {
  readonly bench: string;
  readonly n: number;
  readonly wall_ms: number;
  readonly rows_per_s: number;
  readonly [key: string]: unknown;
}

/** Peak resident set size of this process so far, in MB. */
export function peakRssMb(): number {
  return round(process.resourceUsage().maxRSS / 1024);
}

/** Prints one result line (peak_rss_mb added unless given). */
export function report(result: BenchResult): void {
  console.log(JSON.stringify({ ...result, peak_rss_mb: result.peak_rss_mb ?? peakRssMb() }));
}

/** Times `fn` and returns its result with the wall time in ms. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; wallMs: number }> {
  const started = performance.now();
  const value = await fn();
  return { value, wallMs: round(performance.now() - started) };
}

/** Rows per second of `n` rows in `wallMs`. */
export function perSecond(n: number, wallMs: number): number {
  return Math.round((n / wallMs) * 1000);
}

export function round(value: number): number {
  return Math.round(value * 100) / 100;
}

/** The bench size: BENCH_ROWS or the default. */
export function benchRows(fallback = 100_000): number {
  return Number(process.env.BENCH_ROWS ?? fallback);
}
