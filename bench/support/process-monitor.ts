/**
 * Samples this process every 5 ms: its RSS peak, and the longest gap between two ticks of the
 * sampling timer (how long the event loop did not turn; a GC pause counts too). `restart()`
 * begins a new measured phase.
 */
export function monitorProcess() {
  let peakRss = process.memoryUsage().rss;
  let lastTick = performance.now();
  let longestGap = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    longestGap = Math.max(longestGap, now - lastTick);
    lastTick = now;
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 5);
  return {
    restart(): void {
      peakRss = process.memoryUsage().rss;
      lastTick = performance.now();
      longestGap = 0;
    },
    /** Since the last restart: the RSS peak in bytes, the longest block in ms. */
    read(): { peakRss: number; longestBlockMs: number } {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
      return { peakRss, longestBlockMs: Math.max(longestGap, performance.now() - lastTick) };
    },
    stop(): void {
      clearInterval(timer);
    },
  };
}
