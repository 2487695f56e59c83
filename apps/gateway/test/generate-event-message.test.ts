import { beforeAll, describe, expect, it } from 'vitest';
import type { FinishedGeneration } from '../src/completion-response.ts';
import { toGenerateEvent } from '../src/generate-event-message.ts';
import { loadServedModel, type ServedModel } from '../src/model-catalog.ts';
import { FIXTURE_MODEL_DIR, generationResultFor } from './support/test-fleet.ts';

/** `<|eos|>` in the fixture's tokenizer.json. */
const FIXTURE_EOS_ID = 2;
let model: ServedModel;
beforeAll(async () => {
  model = await loadServedModel(FIXTURE_MODEL_DIR);
});

describe('toGenerateEvent', () => {
  it('sends a canvas state with -1 and "" for masked positions, and lists them', () => {
    const [a, b] = [40, 41];
    const event = toGenerateEvent(
      {
        kind: 'state',
        step: 2,
        nfe: 2,
        tokenIds: [a, null, b, null],
        tokenSteps: [1, 0, 2, 0],
        committedPositions: [2],
        finalPrefix: 1,
        decodeMs: 3.5,
      },
      model,
    );
    expect(event.state).toEqual({
      step: 2,
      nfe: 2,
      tokenIds: [a, -1, b, -1],
      tokens: [model.tokenText(a), '', model.tokenText(b), ''],
      tokenSteps: [1, 0, 2, 0],
      maskedPositions: [1, 3],
      finalPrefix: 1,
      decodeMs: 3.5,
    });
  });

  it("names each token and alternative of a delta's logprobs, special tokens by name", () => {
    const eos = FIXTURE_EOS_ID;
    const event = toGenerateEvent(
      {
        kind: 'delta',
        tokenIds: [40],
        text: model.decodeTokens([40]),
        logprobs: [
          {
            logprob: -0.25,
            top: [
              { id: 40, logprob: -0.25 },
              { id: eos, logprob: -1.5 },
            ],
          },
        ],
      },
      model,
    );
    expect(event.delta?.logprobs).toEqual([
      {
        token: model.tokenText(40),
        tokenId: 40,
        logprob: -0.25,
        top: [
          { token: model.tokenText(40), tokenId: 40, logprob: -0.25 },
          { token: '<|eos|>', tokenId: eos, logprob: -1.5 },
        ],
      },
    ]);
    expect(event.delta?.text).not.toBe('');
  });

  it('answers done with the response Generate gives, logprobs empty when none were asked for', () => {
    const finished = {
      jobId: 'cmpl-1',
      job: { model: 'tiny-test-model', acceptedAt: 1_000 },
      result: generationResultFor('ab'),
      finishedAt: 1_010,
    } as FinishedGeneration;
    const event = toGenerateEvent({ kind: 'done', finished }, model);
    expect(event.done).toMatchObject({ id: 'cmpl-1', text: 'ab', logprobs: [] });
  });
});
