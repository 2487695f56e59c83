/** The count and the p50 and p99 of a set of durations, in milliseconds; undefined when empty. */
export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
}

/**
 * The nearest-rank percentile (the smallest value at least p% of the values are not above): it
 * is always one of the values seen, so a p99 of fewer than 100 jobs is their slowest.
 * @param sorted ascending, not empty
 */
export function percentile(sorted: readonly number[], p: number): number {
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}

export function summarizeLatencies(durations: readonly number[]): LatencySummary | undefined {
  if (durations.length === 0) return undefined;
  const sorted = [...durations].sort((a, b) => a - b);
  return { count: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
}
