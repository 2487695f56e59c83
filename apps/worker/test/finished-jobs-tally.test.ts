import { describe, expect, it } from 'vitest';
import { FinishedJobsTally } from '../src/finished-jobs-tally.ts';

const start = 1_000_000;

describe("a worker's tally of finished jobs", () => {
  it('rates answer tokens over the last minute', () => {
    const tally = new FinishedJobsTally(start);
    tally.add(600, start + 10_000);
    tally.add(600, start + 70_000);
    // At 80 s the first job is older than a minute: 600 tokens in 60 s.
    expect(tally.tokensPerSecond(start + 80_000)).toBe(10);
    expect(tally.completed).toBe(2);
  });

  it('rates a worker younger than a minute over its life, so it does not read slow', () => {
    const tally = new FinishedJobsTally(start);
    tally.add(40, start + 2_000);
    expect(tally.tokensPerSecond(start + 4_000)).toBe(10);
  });

  it('reads 0 tokens/s once a minute passed without a finished job, and keeps counting jobs', () => {
    const tally = new FinishedJobsTally(start);
    tally.add(48, start + 1_000);
    tally.add(48, start + 2_000);
    expect(tally.tokensPerSecond(start + 62_001)).toBe(0);
    expect(tally.completed).toBe(2);
  });

  it('reads 0 before anything happened', () => {
    expect(new FinishedJobsTally(start).tokensPerSecond(start)).toBe(0);
  });
});
