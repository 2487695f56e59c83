import { describe, expect, it } from 'vitest';
import { AdaptiveThresholdPolicy, ADAPTIVE_THRESHOLD_DEFAULTS } from '../src/index.ts';

/** Feeds `count` observations of `waitMs`, `everyMs` apart, starting at `from`; returns the next time. */
function feed(policy: AdaptiveThresholdPolicy, waitMs: number, count: number, from: number, everyMs = 100): number {
  let now = from;
  for (let i = 0; i < count; i++, now += everyMs) policy.observeQueueWait(waitMs, now);
  return now;
}

describe('AdaptiveThresholdPolicy', () => {
  it('leaves the requested threshold alone while the queue wait stays under the target', () => {
    const policy = new AdaptiveThresholdPolicy({ targetWaitMs: 500 });
    feed(policy, 400, 50, 0);
    expect(policy.state.level).toBe(0);
    expect(policy.thresholdFor(0.9)).toBe(0.9);
    // Returned as asked, to the last digit: never raised by rounding.
    expect(policy.thresholdFor(0.1234567891)).toBe(0.1234567891);
  });

  it('lowers the threshold one step per dwell time while the wait stays above the target', () => {
    const policy = new AdaptiveThresholdPolicy({ targetWaitMs: 500, stepSize: 0.05, minDwellMs: 500 });
    // 2 s of claims every 100 ms: at most one change per 500 ms -> 4 levels (t = 0, 500, 1000, 1500).
    feed(policy, 5_000, 20, 0);
    expect(policy.state.level).toBe(4);
    expect(policy.thresholdFor(0.9)).toBe(0.7);
  });

  it('never lowers a job below its own floor, nor below the default floor when it sets none', () => {
    const policy = new AdaptiveThresholdPolicy({ targetWaitMs: 100, minDwellMs: 0, maxOffset: 1, defaultFloor: 0.5 });
    feed(policy, 60_000, 100, 0);
    expect(policy.state.offset).toBeGreaterThan(0.9);
    expect(policy.thresholdFor(0.9, 0.8)).toBe(0.8);
    expect(policy.thresholdFor(0.9)).toBe(0.5);
    expect(policy.thresholdFor(0.9, 0)).toBeGreaterThanOrEqual(0);
  });

  it('never raises a threshold the client asked to be below the floor', () => {
    const policy = new AdaptiveThresholdPolicy({ targetWaitMs: 100, minDwellMs: 0 });
    feed(policy, 60_000, 20, 0);
    expect(policy.thresholdFor(0.3)).toBe(0.3);
    expect(policy.thresholdFor(0.6, 0.7)).toBe(0.6);
  });

  it('stops at maxOffset however long the overload lasts', () => {
    const policy = new AdaptiveThresholdPolicy({ targetWaitMs: 100, minDwellMs: 0, stepSize: 0.05, maxOffset: 0.2 });
    feed(policy, 60_000, 100, 0);
    expect(policy.state.level).toBe(4);
    expect(policy.thresholdFor(0.9, 0)).toBe(0.7);
  });

  it('restores the threshold step by step as the queue drains', () => {
    const policy = new AdaptiveThresholdPolicy({ targetWaitMs: 500, minDwellMs: 500 });
    let now = feed(policy, 5_000, 30, 0);
    expect(policy.state.level).toBeGreaterThan(2);
    // The moving average lags: it lowers a little more before it falls under target x restoreFraction.
    let peak = 0;
    for (let i = 0; i < 20; i++, now += 100) {
      policy.observeQueueWait(0, now);
      peak = Math.max(peak, policy.state.level);
    }
    expect(policy.state.level).toBeLessThan(peak);
    expect(policy.state.level).toBeGreaterThan(0);
    feed(policy, 0, 50, now);
    expect(policy.state.level).toBe(0);
    expect(policy.thresholdFor(0.9)).toBe(0.9);
  });

  it('gives the whole threshold back to the first job claimed without waiting after a quiet spell', () => {
    const policy = new AdaptiveThresholdPolicy({ targetWaitMs: 500, minDwellMs: 500, memoryMs: 2_000 });
    const now = feed(policy, 5_000, 30, 0);
    expect(policy.state.level).toBeGreaterThan(3);
    // A minute without claims: the queue was empty. The next job waited 20 ms.
    policy.observeQueueWait(20, now + 60_000);
    expect(policy.state.level).toBe(0);
    expect(policy.thresholdFor(0.9)).toBe(0.9);
  });

  it('still lowers after a quiet spell when the job claimed then had waited long', () => {
    const policy = new AdaptiveThresholdPolicy({ targetWaitMs: 500, minDwellMs: 500 });
    feed(policy, 50, 10, 0);
    policy.observeQueueWait(8_000, 60_000);
    expect(policy.state.level).toBe(1);
  });

  it('holds its level while the wait sits between the restore mark and the target (no flapping)', () => {
    const policy = new AdaptiveThresholdPolicy({ targetWaitMs: 500, restoreFraction: 0.5, minDwellMs: 0 });
    let now = feed(policy, 5_000, 3, 0);
    expect(policy.state.level).toBe(3);
    const levels: number[] = [];
    // Waits alternating around 375 ms: above the restore mark (250), below the target (500).
    for (let i = 0; i < 40; i++, now += 100) {
      policy.observeQueueWait(i % 2 === 0 ? 300 : 450, now);
      levels.push(policy.state.level);
    }
    const settled = levels.slice(20);
    expect(new Set(settled).size).toBe(1);
    // It came down only while the average was still falling from 5 s through the target.
    expect(settled[0]).toBeGreaterThan(0);
  });

  it('changes level at most once per dwell time under a burst of claims', () => {
    const policy = new AdaptiveThresholdPolicy({ targetWaitMs: 500, minDwellMs: 500 });
    // 16 jobs claimed in the same millisecond, all after a long wait.
    for (let i = 0; i < 16; i++) policy.observeQueueWait(10_000, 1_000);
    expect(policy.state.level).toBe(1);
  });

  it('smooths the signal: one long wait among short ones does not lower the threshold', () => {
    const policy = new AdaptiveThresholdPolicy({ targetWaitMs: 500, smoothing: 0.3, minDwellMs: 0 });
    let now = feed(policy, 50, 20, 0);
    policy.observeQueueWait(1_000, now);
    now += 100;
    feed(policy, 50, 20, now);
    expect(policy.state.level).toBe(0);
  });

  it('refuses options outside their range, naming them', () => {
    expect(() => new AdaptiveThresholdPolicy({ targetWaitMs: 0 })).toThrow(/targetWaitMs/);
    expect(() => new AdaptiveThresholdPolicy({ restoreFraction: 1 })).toThrow(/restoreFraction/);
    expect(() => new AdaptiveThresholdPolicy({ stepSize: 0 })).toThrow(/stepSize/);
    expect(() => new AdaptiveThresholdPolicy({ smoothing: Number.NaN })).toThrow(/smoothing/);
    expect(() => new AdaptiveThresholdPolicy({ defaultFloor: 0 })).toThrow(/defaultFloor/);
    expect(ADAPTIVE_THRESHOLD_DEFAULTS.defaultFloor).toBe(0.5);
  });
});
