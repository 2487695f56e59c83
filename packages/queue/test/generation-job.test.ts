import { describe, expect, it } from 'vitest';
import { STRATEGY_CONTRACT } from '@dfleet/decoder';
import { generationJobSchema, requestIdSchema, strategySchema } from '../src/index.ts';

const validJob = {
  requestId: 'cmpl-0b7c',
  tenant: 'default',
  model: 'jsfunc-mdm',
  prompt: '// return x plus 1\nfunction f(x) {\n',
  options: {
    maxNewTokens: 48,
    blockLength: 48,
    strategy: { name: 'threshold', threshold: 0.9 },
    temperature: 0,
    seed: 0,
  },
  priority: 'interactive',
  callback: { address: '127.0.0.1:50052', token: 'a'.repeat(32) },
  acceptedAt: Date.now(),
};

describe('generation job schema', () => {
  it('accepts a complete job and fills defaults', () => {
    const job = generationJobSchema.parse(validJob);
    expect(job.options.stop).toEqual([]);
    expect(job.traceContext).toEqual({});
  });

  it('rejects request ids BullMQ cannot use as job ids', () => {
    expect(requestIdSchema.safeParse('a:b').success).toBe(false);
    expect(requestIdSchema.safeParse('12345').success).toBe(false);
    expect(requestIdSchema.safeParse('cmpl-123').success).toBe(true);
  });

  it('names the offending field of a strategy', () => {
    const result = generationJobSchema.safeParse({
      ...validJob,
      options: { ...validJob.options, strategy: { name: 'threshold', threshold: 1.5 } },
    });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(['options', 'strategy', 'threshold']);
  });

  it('takes an optional floor for load-adaptive thresholds, at most the threshold', () => {
    const withFloor = (minThreshold: number) =>
      generationJobSchema.safeParse({
        ...validJob,
        options: { ...validJob.options, strategy: { name: 'threshold', threshold: 0.9, minThreshold } },
      });
    expect(withFloor(0.6).data?.options.strategy).toEqual({ name: 'threshold', threshold: 0.9, minThreshold: 0.6 });
    expect(withFloor(0.9).success).toBe(true);
    const above = withFloor(0.95);
    expect(above.success).toBe(false);
    expect(above.error?.issues[0]?.path).toEqual(['options', 'strategy', 'minThreshold']);
    expect(withFloor(-0.1).success).toBe(false);
  });

  it("takes the strategy knobs' defaults and ranges from the decoder's contract", () => {
    const { gamma } = STRATEGY_CONTRACT['entropy-bounded'].knobs;
    expect(strategySchema.parse({ name: 'entropy-bounded' })).toEqual({
      name: 'entropy-bounded',
      gamma: gamma.default,
    });
    expect(strategySchema.safeParse({ name: 'threshold', threshold: 0 }).success).toBe(false);
    expect(strategySchema.safeParse({ name: 'threshold', threshold: 0.9, minThreshold: 0 }).success).toBe(false);
  });
});
