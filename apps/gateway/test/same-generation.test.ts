import { describe, expect, it } from 'vitest';
import type { GenerationJob } from '@dfleet/queue';
import { sameGeneration } from '../src/same-generation.ts';

const job: GenerationJob = {
  requestId: 'idem-abc',
  tenant: 'default',
  model: 'jsfunc-mdm',
  prompt: 'function add(a, b) {',
  options: {
    maxNewTokens: 8,
    blockLength: 8,
    strategy: { name: 'threshold', threshold: 0.9 },
    temperature: 0,
    seed: 0,
    stop: [],
    streamSteps: false,
  },
  priority: 'interactive',
  callback: { address: '127.0.0.1:50052', token: 'a'.repeat(64) },
  traceContext: {},
  acceptedAt: 1_800_000_000_000,
};

describe('sameGeneration', () => {
  it('holds for the same request built with its keys in another order, another token and another deadline', () => {
    const reordered: GenerationJob = {
      acceptedAt: 1_800_000_000_500,
      callback: { token: 'b'.repeat(64), address: '127.0.0.1:50053' },
      options: {
        stop: [],
        seed: 0,
        temperature: 0,
        strategy: { threshold: 0.9, name: 'threshold' },
        blockLength: 8,
        maxNewTokens: 8,
        deadlineAt: 1_800_000_009_000,
        streamSteps: false,
      },
      priority: 'interactive',
      prompt: 'function add(a, b) {',
      model: 'jsfunc-mdm',
      tenant: 'default',
      requestId: 'idem-abc',
      traceContext: {},
    };
    expect(sameGeneration(job, reordered)).toBe(true);
  });

  it('holds for a streaming retry of a plain request: step reports change nothing the job generates', () => {
    expect(sameGeneration(job, { ...job, options: { ...job.options, streamSteps: true } })).toBe(true);
  });

  it('fails for another prompt, option, strategy knob or priority', () => {
    expect(sameGeneration(job, { ...job, prompt: 'function sub(a, b) {' })).toBe(false);
    expect(sameGeneration(job, { ...job, options: { ...job.options, seed: 1 } })).toBe(false);
    expect(
      sameGeneration(job, { ...job, options: { ...job.options, strategy: { name: 'threshold', threshold: 0.8 } } }),
    ).toBe(false);
    expect(sameGeneration(job, { ...job, priority: 'batch' })).toBe(false);
  });
});
