import { describe, expect, it } from 'vitest';
import { servedRatePerS } from '../src/served-rate.ts';

/** Sends `count` requests `intervalMs` apart, each answered `latencyMs` later or at `serviceMs` a job. */
function answersOf(count: number, intervalMs: number, latencyMs: number, serviceMs = 0): number[] {
  const doneAt: number[] = [];
  let free = 0;
  for (let i = 0; i < count; i++) {
    const sent = i * intervalMs;
    const start = Math.max(sent, free);
    free = start + serviceMs;
    doneAt.push(start + latencyMs);
  }
  return doneAt;
}

describe('servedRatePerS', () => {
  it('reads the offered rate when every answer takes the same latency, however long', () => {
    const interval = 1000 / 200;
    for (const latency of [1, 130, 2_000]) {
      expect(servedRatePerS(answersOf(600, interval, latency))).toBeCloseTo(200, 6);
    }
  });

  it("reads the worker's own rate when it cannot keep up with the sends", () => {
    const serviceMs = 1000 / 150;
    expect(servedRatePerS(answersOf(600, 1000 / 200, 100, serviceMs))).toBeCloseTo(150, 6);
  });

  it('does not depend on the order the answers were recorded in', () => {
    const answers = answersOf(50, 10, 30);
    expect(servedRatePerS([...answers].reverse())).toBe(servedRatePerS(answers));
  });

  it('is NaN for fewer than two answers', () => {
    expect(servedRatePerS([])).toBeNaN();
    expect(servedRatePerS([5])).toBeNaN();
  });
});
