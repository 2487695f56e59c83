import { loadModel, type LoadedModel } from '@dfleet/model';
import { generationJobSchema, type GenerationJobInput } from '@dfleet/queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidJobError, PromptTooLongError } from '../src/errors.ts';
import { planJobDecode, type ServedModel } from '../src/job-decode-plan.ts';
import { MODEL_DIR } from './default-model.ts';

let model: LoadedModel;
beforeAll(async () => {
  model = await loadModel(MODEL_DIR, { intraOpNumThreads: 1 });
});
afterAll(async () => {
  await model?.close();
});

function job(
  options: Partial<GenerationJobInput['options']>,
  prompt = 'function f(x) {\n',
): ReturnType<typeof generationJobSchema.parse> {
  return generationJobSchema.parse({
    requestId: 'cmpl-plan',
    tenant: 'test',
    model: 'jsfunc-mdm',
    prompt,
    options: {
      maxNewTokens: 48,
      blockLength: 16,
      strategy: { name: 'threshold' },
      temperature: 0,
      seed: 0,
      ...options,
    },
    priority: 'interactive',
    callback: { address: '127.0.0.1:1', token: 'x'.repeat(32) },
    acceptedAt: Date.now(),
  });
}

/** The shipped model as if its manifest declared these capabilities. */
function withCapabilities(capabilities: { continuation?: boolean; infill?: boolean }): ServedModel {
  return {
    manifest: { ...model.manifest, capabilities: { continuation: false, infill: false, ...capabilities } },
    tokenizer: model.tokenizer,
  };
}

describe('planJobDecode: the job options of max_tokens, logprobs, suffix and continuation', () => {
  it('passes the answer cap and logprobs through, and lets the canvas grow only on a model trained for continuation', () => {
    const plain = planJobDecode(job({ maxAnswerTokens: 256, logprobs: 3 }), model).request;
    expect(plain).toMatchObject({ maxNewTokens: 48, maxAnswerTokens: 256, logprobs: 3 });
    expect(plain.maxCanvasLength).toBeUndefined();
    const continued = planJobDecode(job({}), withCapabilities({ continuation: true })).request;
    expect(continued.maxCanvasLength).toBe(model.manifest.maxSequenceLength);
  });

  it('tokenizes the suffix for a model trained to infill and counts it against maxSequenceLength', () => {
    const infill = withCapabilities({ infill: true });
    const planned = planJobDecode(job({ suffix: '\n}' }), infill).request;
    expect(planned.suffixIds).toEqual(model.tokenizer.encode('\n}'));
    // A prompt that fits without the suffix, but not with it.
    const room = model.manifest.maxSequenceLength - 1 - 48;
    const prompt = 'x'.repeat(room);
    expect(model.tokenizer.encode(prompt)).toHaveLength(room);
    expect(() => planJobDecode(job({}, prompt), infill)).not.toThrow();
    expect(() => planJobDecode(job({ suffix: '\n}' }, prompt), infill)).toThrow(PromptTooLongError);
    expect(() => planJobDecode(job({ suffix: '\n}' }, prompt), infill)).toThrow(/-token suffix/);
  });

  it('refuses a suffix on a model not trained to infill, naming the field and the manifest capability', () => {
    expect(() => planJobDecode(job({ suffix: '\n}' }), model)).toThrow(InvalidJobError);
    expect(() => planJobDecode(job({ suffix: '\n}' }), model)).toThrow(/options\.suffix: .*capabilities\.infill/);
  });

  it('never grows the canvas of an infilling job, even on a model trained for both', () => {
    const both = withCapabilities({ infill: true, continuation: true });
    expect(planJobDecode(job({ suffix: '\n}' }), both).request.maxCanvasLength).toBeUndefined();
  });
});
