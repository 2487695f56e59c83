import { describe, expect, it } from 'vitest';
import type { DecodeSession } from '@dfleet/decoder';
import type { BatchReport } from '@dfleet/scheduler';
import { BatchRowsObserver } from '../src/batch-rows.ts';

/** Sessions are only identities here: the observer never reads them. */
const session = () => ({}) as DecodeSession;

function pass(sessions: DecodeSession[]): BatchReport {
  return {
    step: 1,
    kind: 'full',
    cachedPositions: 0,
    sessions,
    sequenceLength: 16,
    paddedTokens: 16 * sessions.length,
    realTokens: 16 * sessions.length,
    deferred: 0,
    denoiseMs: 1,
    applyMs: 0,
  };
}

describe('BatchRowsObserver', () => {
  it('keeps, per decode, the fewest, mean and most rows of the passes it ran in', () => {
    const [a, b, c] = [session(), session(), session()];
    const observer = new BatchRowsObserver();
    observer.observe(pass([a, b, c]));
    observer.observe(pass([a, b]));
    observer.observe(pass([a]));
    expect(observer.of(a)).toEqual({ passes: 3, min: 1, max: 3, mean: 2 });
    expect(observer.of(b)).toEqual({ passes: 2, min: 2, max: 3, mean: 2.5 });
    expect(observer.of(c)).toEqual({ passes: 1, min: 3, max: 3, mean: 3 });
  });

  it('knows nothing of a decode that ran in no pass', () => {
    const observer = new BatchRowsObserver();
    observer.observe(pass([session()]));
    expect(observer.of(session())).toBeUndefined();
  });
});
