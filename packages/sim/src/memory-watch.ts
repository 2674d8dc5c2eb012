/**
 * Memory use of a simulating process, for long runs: a run of many seeds must stay in bounded
 * memory, and its summary says how much it took.
 */

/** What a process uses now and the most it has used, in bytes. */
export interface MemoryUse {
  /** Resident set size now. */
  readonly rssBytes: number;
  /** The highest resident set size of the process so far, as the OS counts it (ru_maxrss). */
  readonly peakRssBytes: number;
  /** V8 heap in use now (live objects and garbage not collected yet). */
  readonly heapUsedBytes: number;
  /** The highest `heapUsedBytes` of the samples so far. */
  readonly peakHeapUsedBytes: number;
}

/**
 * Samples this process's memory (after every seed). The peak resident set size comes from the
 * OS, so a spike between two samples counts too; the peak heap is the highest sample.
 */
export class MemoryWatch {
  #peakHeapUsed = 0;

  sample(): MemoryUse {
    const { rss, heapUsed } = process.memoryUsage();
    this.#peakHeapUsed = Math.max(this.#peakHeapUsed, heapUsed);
    return {
      rssBytes: rss,
      // ru_maxrss is in KiB on Linux and macOS alike (Node converts).
      peakRssBytes: Math.max(rss, process.resourceUsage().maxRSS * 1024),
      heapUsedBytes: heapUsed,
      peakHeapUsedBytes: this.#peakHeapUsed,
    };
  }
}

/** Bytes as MiB with one decimal, for summaries. */
export function mebibytes(bytes: number): number {
  return Math.round((bytes / 1_048_576) * 10) / 10;
}
