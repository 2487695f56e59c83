import { describe, expect, it } from 'vitest';
import type { GenerationJob, GenerationResult } from '@dfleet/queue';
import { toChatCompletionResponseBody } from '../src/chat-response.ts';
import {
  type FinishedGeneration,
  toChoicesCompletionResponseBody,
  toCompletionResponseBody,
} from '../src/completion-response.ts';
import type { TokenTexts } from '../src/openai-logprobs.ts';
import { OpenAiStreamChunks } from '../src/openai-stream-chunks.ts';

// A stand-in tokenizer: id 9 is eos (decodes to nothing), every other id is one character.
const ALPHABET = 'abcd¢';
const EOS = 9;
const texts: TokenTexts = {
  tokenText: (id) => (id === EOS ? '<|eos|>' : (ALPHABET[id] ?? '?')),
  decodeTokens: (ids) =>
    Array.from(ids)
      .filter((id) => id !== EOS)
      .map((id) => ALPHABET[id] ?? '?')
      .join(''),
};

function jobWith(options: Partial<GenerationJob['options']> = {}): GenerationJob {
  return {
    requestId: 'cmpl-1',
    tenant: 't',
    model: 'm',
    prompt: 'PROMPT',
    options: {
      maxNewTokens: 8,
      blockLength: 8,
      strategy: { name: 'threshold', threshold: 0.9 },
      temperature: 0,
      seed: 0,
      stop: [],
      streamSteps: false,
      ...options,
    },
    priority: 'interactive',
    callback: { address: '127.0.0.1:1', token: 'x'.repeat(32) },
    traceContext: {},
    acceptedAt: 1_000,
  };
}

// Two tokens, 'a' and 'd' (ids 0 and 3), cut by max_tokens.
const twoTokens: GenerationResult = {
  text: 'ad',
  tokenIds: [0, 3],
  finishReason: 'length',
  steps: 2,
  nfe: 2,
  promptTokens: 6,
  queueMs: 1,
  decodeMs: 2,
  workerId: 'w',
  tokenSteps: [1, 2],
  tokenLogprobs: [
    {
      logprob: -0.1,
      top: [
        { id: 0, logprob: -0.1 },
        { id: 1, logprob: -2.5 },
        { id: 4, logprob: -3 },
      ],
    },
    { logprob: -0.7, top: [{ id: 3, logprob: -0.7 }] },
  ],
};

function finished(job: GenerationJob, outcome: GenerationResult = twoTokens, jobId = 'cmpl-1'): FinishedGeneration {
  return { jobId, job, result: outcome, finishedAt: 2_000 };
}

describe('completion logprobs', () => {
  it('give each token, its logprob at the committing step, that many alternatives and its text offset', () => {
    const body = toCompletionResponseBody(finished(jobWith({ logprobs: 2 })), { echo: false, texts });
    expect(body.choices[0].logprobs).toEqual({
      tokens: ['a', 'd'],
      token_logprobs: [-0.1, -0.7],
      top_logprobs: [{ a: -0.1, b: -2.5 }, { d: -0.7 }],
      text_offset: [0, 1],
    });
  });

  it('are null when the request did not ask for them', () => {
    expect(toCompletionResponseBody(finished(jobWith()), { echo: false, texts }).choices[0].logprobs).toBeNull();
  });

  it('reports a cut answer as finish_reason "length", in dfleet.finish_reason too', () => {
    const body = toCompletionResponseBody(finished(jobWith()), { echo: false, texts });
    expect(body.choices[0].finish_reason).toBe('length');
    expect(body.dfleet.finish_reason).toBe('length');
  });
});

describe('echo', () => {
  it('puts the prompt before the answer', () => {
    const body = toCompletionResponseBody(finished(jobWith()), { echo: true, texts });
    expect(body.choices[0].text).toBe('PROMPTad');
  });
});

describe('n choices', () => {
  it('answer one indexed choice per job and count the shared prompt once', () => {
    const jobs = [finished(jobWith(), twoTokens, 'j0'), finished(jobWith({ seed: 1 }), twoTokens, 'j1')];
    const body = toChoicesCompletionResponseBody(jobs, { echo: false, texts });
    expect(body.choices.map((choice) => [choice.index, choice.dfleet.job_id])).toEqual([
      [0, 'j0'],
      [1, 'j1'],
    ]);
    expect(body.usage.prompt_tokens).toBe(6);
    expect(body.usage.completion_tokens).toBe(4);
    expect(body.usage.total_tokens).toBe(10);
  });
});

describe('chat completion bodies', () => {
  it('carry the answer as the assistant message and logprobs with bytes and top_logprobs', () => {
    const body = toChatCompletionResponseBody([finished(jobWith({ logprobs: 1 }))], texts);
    expect(body.object).toBe('chat.completion');
    expect(body.choices[0]?.message).toEqual({ role: 'assistant', content: 'ad', refusal: null });
    expect(body.choices[0]?.logprobs?.content).toEqual([
      { token: 'a', logprob: -0.1, bytes: [97], top_logprobs: [{ token: 'a', logprob: -0.1, bytes: [97] }] },
      { token: 'd', logprob: -0.7, bytes: [100], top_logprobs: [{ token: 'd', logprob: -0.7, bytes: [100] }] },
    ]);
  });

  it('give a multi-byte token its UTF-8 bytes', () => {
    const cent = { ...twoTokens, text: '¢', tokenIds: [4], tokenLogprobs: [{ logprob: -1, top: [] }] };
    const body = toChatCompletionResponseBody([finished(jobWith({ logprobs: 0 }), cent)], texts);
    expect(body.choices[0]?.logprobs?.content[0]).toEqual({
      token: '¢',
      logprob: -1,
      bytes: [0xc2, 0xa2],
      top_logprobs: [],
    });
  });
});

describe('stream chunks', () => {
  const base = { id: 'j0', model: 'm', created: 1, texts, echo: null, logprobs: null, includeUsage: true } as const;

  it('open a chat choice with the assistant role, then send content deltas, a finish chunk and usage', () => {
    const chunks = new OpenAiStreamChunks({ ...base, kind: 'chat' });
    const sent = [
      ...chunks.start(0),
      ...chunks.chunksFor(0, { kind: 'delta', tokenIds: [0], text: 'a' }),
      ...chunks.chunksFor(0, { kind: 'delta', tokenIds: [3], text: 'd' }),
      ...chunks.chunksFor(0, { kind: 'done', finished: finished(jobWith()) }),
    ] as { object: string; usage: null; choices: { delta: unknown; finish_reason: string | null }[] }[];
    expect(sent.map((chunk) => chunk.choices[0]?.delta)).toEqual([
      { role: 'assistant', content: '' },
      { content: 'a' },
      { content: 'd' },
      {},
    ]);
    expect(sent.map((chunk) => chunk.choices[0]?.finish_reason)).toEqual([null, null, null, 'length']);
    expect(sent.every((chunk) => chunk.object === 'chat.completion.chunk' && chunk.usage === null)).toBe(true);
    expect(chunks.usageChunk()).toMatchObject({ choices: [], usage: { prompt_tokens: 6, completion_tokens: 2 } });
  });

  it('send the echoed prompt first and logprobs whose offsets follow the text already streamed', () => {
    const chunks = new OpenAiStreamChunks({ ...base, kind: 'completion', echo: 'PROMPT', logprobs: 1 });
    const [echoed] = chunks.start(0) as { choices: { text: string }[] }[];
    expect(echoed?.choices[0]?.text).toBe('PROMPT');
    chunks.chunksFor(0, { kind: 'delta', tokenIds: [0], text: 'a', logprobs: twoTokens.tokenLogprobs?.slice(0, 1) });
    const [second] = chunks.chunksFor(0, {
      kind: 'delta',
      tokenIds: [3],
      text: 'd',
      logprobs: twoTokens.tokenLogprobs?.slice(1),
    }) as { choices: { logprobs: { text_offset: number[]; tokens: string[] } }[] }[];
    expect(second?.choices[0]?.logprobs).toMatchObject({ tokens: ['d'], text_offset: [7] });
  });

  it('leave usage out unless include_usage', () => {
    expect(new OpenAiStreamChunks({ ...base, kind: 'completion', includeUsage: false }).usageChunk()).toBeNull();
  });

  it('describe a canvas state with masked and committed positions and token texts', () => {
    const chunks = new OpenAiStreamChunks({ ...base, kind: 'completion' });
    expect(
      chunks.canvasState(1, {
        kind: 'state',
        step: 2,
        nfe: 2,
        tokenIds: [0, null, 3, null],
        tokenSteps: [1, 0, 2, 0],
        committedPositions: [2],
        finalPrefix: 1,
        decodeMs: 5,
      }),
    ).toEqual({
      object: 'dfleet.canvas_state',
      id: 'j0',
      index: 1,
      step: 2,
      nfe: 2,
      tokens: ['a', null, 'd', null],
      token_ids: [0, null, 3, null],
      token_steps: [1, 0, 2, 0],
      masked_positions: [1, 3],
      committed_positions: [0, 2],
      final_prefix: 1,
      decode_ms: 5,
    });
  });
});
