import { describe, expect, it } from 'vitest';
import type { GenerationJob, GenerationResult } from '@dfleet/queue';
import { toCompletionResponseBody, toGenerateResponse } from '../src/completion-response.ts';

const job = {
  requestId: 'cmpl-1',
  tenant: 't',
  model: 'jsfunc-mdm',
  prompt: 'p',
  options: {
    maxNewTokens: 8,
    blockLength: 8,
    strategy: { name: 'threshold', threshold: 0.9, minThreshold: 0.6 },
    temperature: 0,
    seed: 0,
    stop: [],
    streamSteps: false,
  },
  priority: 'interactive',
  callback: { address: '127.0.0.1:1', token: 'x'.repeat(32) },
  traceContext: {},
  acceptedAt: 1_000,
} satisfies GenerationJob;

const result: GenerationResult = {
  text: 'return 1;',
  tokenIds: [5, 6],
  finishReason: 'eos',
  steps: 3,
  nfe: 3,
  promptTokens: 1,
  queueMs: 700,
  decodeMs: 20,
  workerId: 'w',
  tokenSteps: [1, 3],
};

describe('completion responses', () => {
  it('show the threshold the worker decoded with when load-adaptive decoding lowered it', () => {
    const finished = { jobId: 'cmpl-1', job, result: { ...result, effectiveThreshold: 0.75 }, finishedAt: 2_000 };
    expect(toCompletionResponseBody(finished).dfleet.effective_threshold).toBe(0.75);
    expect(toGenerateResponse(finished).effectiveThreshold).toBe(0.75);
  });

  it('leave it out when the worker reported none (other strategies)', () => {
    const finished = { jobId: 'cmpl-1', job, result, finishedAt: 2_000 };
    expect(toCompletionResponseBody(finished).dfleet).not.toHaveProperty('effective_threshold');
    expect(toGenerateResponse(finished)).not.toHaveProperty('effectiveThreshold');
  });
});
