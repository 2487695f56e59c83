/**
 * Answers per second over the answers' own span, from the first answer to the last (times in ms).
 * A worker that keeps up answers as fast as requests are sent, whatever each one's latency; one
 * that does not answers at its own rate, and the span stretches. Measured from the first send
 * instead, every request's latency would stretch the span once: 600 requests at 200/s of about
 * 130 ms would read 192/s, under the 97% that marks a phase saturated, though none waited.
 * NaN for fewer than two answers.
 */
export function servedRatePerS(doneAt: readonly number[]): number {
  if (doneAt.length < 2) return Number.NaN;
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  for (const at of doneAt) {
    first = Math.min(first, at);
    last = Math.max(last, at);
  }
  return ((doneAt.length - 1) * 1000) / (last - first);
}
