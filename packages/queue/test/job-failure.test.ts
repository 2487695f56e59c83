import { describe, expect, it } from 'vitest';
import { describeJobFailure, STALLED_TOO_OFTEN_REASON } from '../src/index.ts';

describe('describeJobFailure', () => {
  it("explains BullMQ's stall limit with its own code and the setting that bounds it", () => {
    const failure = describeJobFailure(STALLED_TOO_OFTEN_REASON);
    expect(failure.errorCode).toBe('stalled_too_often');
    expect(failure.errorMessage).toMatch(
      /^job stalled more than allowable limit: .*crashed or were killed.*DFLEET_MAX_STALLED_COUNT/,
    );
  });

  it('passes any other reason through as generation_failed', () => {
    expect(describeJobFailure('onnxruntime: out of memory')).toEqual({
      errorCode: 'generation_failed',
      errorMessage: 'onnxruntime: out of memory',
    });
  });
});
