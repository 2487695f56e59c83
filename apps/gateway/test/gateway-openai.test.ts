import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generationJobSchema, generationResultSchema } from '@dfleet/queue';
import { eventually, TestFleet, type GatewayProcess } from '@dfleet/test-support';
import OpenAI from 'openai';
import { heldoutPrompt } from './support/heldout.ts';
import { sdkError } from './support/sdk-error.ts';

// The shipped model, one real worker, and the official OpenAI client against the gateway process.
const MODEL = 'jsfunc-mdm';
const fleet = new TestFleet();
let gateway: GatewayProcess;
let openai: OpenAI;

beforeAll(async () => {
  gateway = await fleet.startGateway('openai-gateway');
  await fleet.startWorker('openai-worker');
  openai = new OpenAI({ baseURL: `${gateway.httpUrl}/v1`, apiKey: 'not-checked', maxRetries: 0 });
}, 180_000);

afterAll(() => fleet.close(), 60_000);

/** Request fields the SDK's types do not know (`dfleet`), sent as they are. */
function withDfleet<T extends object>(params: T, dfleet: Record<string, unknown>): T {
  return { ...params, dfleet } as T;
}

/** Runs `task` for every item, at most `limit` at a time, results in item order. */
async function inBatches<T, R>(items: readonly T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (let start = 0; start < items.length; start += limit) {
    results.push(...(await Promise.all(items.slice(start, start + limit).map(task))));
  }
  return results;
}

describe('completions through the openai client', () => {
  it('streams text whose chunks concatenate to the non-streamed answer, then finish_reason, usage and [DONE]', async () => {
    for (const prompt of [heldoutPrompt(0), heldoutPrompt(1)]) {
      const whole = await openai.completions.create({ model: MODEL, prompt });
      expect(whole.object).toBe('text_completion');
      expect(whole.choices[0]?.text.length).toBeGreaterThan(0);

      const { data: stream, response } = await openai.completions
        .create({ model: MODEL, prompt, stream: true, stream_options: { include_usage: true } })
        .withResponse();
      expect(response.headers.get('content-type')).toContain('text/event-stream');
      expect(response.headers.get('cache-control')).toBe('no-cache');
      const chunks = [];
      for await (const chunk of stream) chunks.push(chunk);
      const text = chunks.map((chunk) => chunk.choices[0]?.text ?? '').join('');
      expect(text).toBe(whole.choices[0]?.text);
      const withChoice = chunks.filter((chunk) => chunk.choices.length > 0);
      expect(withChoice.slice(0, -1).every((chunk) => chunk.choices[0]?.finish_reason === null)).toBe(true);
      expect(withChoice.at(-1)?.choices[0]?.finish_reason).toBe(whole.choices[0]?.finish_reason);
      const usage = chunks.at(-1);
      expect(usage?.choices).toEqual([]);
      expect(usage?.usage?.completion_tokens).toBe(whole.usage?.completion_tokens);
      // Every chunk carries the stream's id, which is its job's id and the response's x-request-id.
      expect(new Set(chunks.map((chunk) => chunk.id))).toEqual(new Set([response.headers.get('x-request-id')]));
    }
  });

  it('answers logprobs in the legacy shape: a token, its logprob and up to N alternatives per answer token', async () => {
    const body = await openai.completions.create({ model: MODEL, prompt: heldoutPrompt(2), logprobs: 3 });
    const choice = body.choices[0];
    const logprobs = choice?.logprobs;
    expect(logprobs?.tokens?.length).toBe(body.usage?.completion_tokens);
    expect(logprobs?.tokens?.join('')).toBe(choice?.text);
    expect(logprobs?.token_logprobs?.every((logprob) => logprob <= 0)).toBe(true);
    for (const [index, alternatives] of (logprobs?.top_logprobs ?? []).entries()) {
      const entries = Object.entries(alternatives);
      expect(entries.length).toBeGreaterThan(0);
      expect(entries.length).toBeLessThanOrEqual(3);
      // The token committed at its step is that step's best candidate at temperature 0.
      expect(Math.max(...entries.map(([, logprob]) => logprob))).toBeCloseTo(logprobs?.token_logprobs?.[index] ?? 1, 6);
    }
    const offsets = logprobs?.text_offset ?? [];
    expect(offsets[0]).toBe(0);
    expect(offsets.every((offset, index) => index === 0 || offset > (offsets[index - 1] as number))).toBe(true);
  });

  it('decodes n choices as jobs with seeds seed, seed+1, ..., each choice indexed', async () => {
    const prompt = heldoutPrompt(3);
    const { data: body, response } = await openai.completions
      .create({ model: MODEL, prompt, n: 3, seed: 11, temperature: 0.8 })
      .withResponse();
    expect(body.choices.map((choice) => choice.index)).toEqual([0, 1, 2]);
    expect(response.headers.get('x-request-id')).toBe(body.id);
    const jobIds = (body as unknown as { dfleet: { job_ids: string[] } }).dfleet.job_ids;
    expect(jobIds).toHaveLength(3);
    const seeds = await Promise.all(
      jobIds.map(async (id) => generationJobSchema.parse((await fleet.queue.getJob(id))?.data).options.seed),
    );
    expect(seeds).toEqual([11, 12, 13]);
    // One sample is the n = 1 answer for that seed.
    const single = await openai.completions.create({ model: MODEL, prompt, seed: 12, temperature: 0.8 });
    expect(body.choices[1]?.text).toBe(single.choices[0]?.text);
  });

  it('streams n choices interleaved, each with its own index and finish', async () => {
    const stream = await openai.completions.create({ model: MODEL, prompt: heldoutPrompt(4), n: 2, stream: true });
    const texts = ['', ''];
    const finishes: (string | null)[] = [null, null];
    for await (const chunk of stream) {
      for (const choice of chunk.choices) {
        texts[choice.index] += choice.text;
        if (choice.finish_reason !== null) finishes[choice.index] = choice.finish_reason;
      }
    }
    const whole = await openai.completions.create({ model: MODEL, prompt: heldoutPrompt(4), n: 2 });
    expect(texts).toEqual(whole.choices.map((choice) => choice.text));
    expect(finishes.every((finish) => finish !== null)).toBe(true);
  });

  it('echoes the prompt before the answer, streamed or not', async () => {
    const prompt = heldoutPrompt(5);
    const plain = await openai.completions.create({ model: MODEL, prompt });
    const echoed = await openai.completions.create({ model: MODEL, prompt, echo: true });
    expect(echoed.choices[0]?.text).toBe(prompt + plain.choices[0]?.text);
    let streamed = '';
    for await (const chunk of await openai.completions.create({ model: MODEL, prompt, echo: true, stream: true })) {
      streamed += chunk.choices[0]?.text ?? '';
    }
    expect(streamed).toBe(echoed.choices[0]?.text);
  });

  it('arrives as typed SDK errors: BadRequestError with param and code, NotFoundError for an unknown model', async () => {
    const cap = await sdkError(openai.completions.create({ model: MODEL, prompt: 'x', max_tokens: 0 }));
    expect(cap).toBeInstanceOf(OpenAI.BadRequestError);
    expect(cap.param).toBe('max_tokens');
    expect(cap.code).toBe('invalid_request');
    const canvas = await sdkError(
      openai.completions.create(withDfleet({ model: MODEL, prompt: 'x' }, { gen_length: 10_000 })),
    );
    expect(canvas.param).toBe('dfleet.gen_length');
    const model = await sdkError(openai.completions.create({ model: 'gpt-4o', prompt: 'x' }));
    expect(model).toBeInstanceOf(OpenAI.NotFoundError);
    expect(model.code).toBe('model_not_found');
  });
});

describe('max_tokens is a cap on the answer', () => {
  it('gives, for every max_tokens 1..256, the default answer cut to that many tokens, "length" exactly when cut', async () => {
    for (const prompt of [heldoutPrompt(6), heldoutPrompt(7)]) {
      const whole = await openai.completions.create({ model: MODEL, prompt, logprobs: 0 });
      const tokens = whole.choices[0]?.logprobs?.tokens ?? [];
      expect(tokens.join('')).toBe(whole.choices[0]?.text);
      expect(whole.choices[0]?.finish_reason).toBe('stop');
      const caps = Array.from({ length: 256 }, (_, index) => index + 1);
      const answers = await inBatches(caps, 16, (max_tokens) =>
        openai.completions.create({ model: MODEL, prompt, max_tokens }),
      );
      for (const [index, answer] of answers.entries()) {
        const cap = caps[index] as number;
        const cut = cap < tokens.length;
        expect({ cap, text: answer.choices[0]?.text, finish: answer.choices[0]?.finish_reason }).toEqual({
          cap,
          text: tokens.slice(0, cap).join(''),
          finish: cut ? 'length' : 'stop',
        });
        expect((answer as unknown as { dfleet: { finish_reason: string } }).dfleet.finish_reason).toBe(
          cut ? 'length' : 'eos',
        );
      }
    }
  });
});

describe('chat completions through the openai client', () => {
  it('answers a held-out spec as the completion of the same prompt, streamed or not', async () => {
    const prompt = heldoutPrompt(8);
    const completion = await openai.completions.create({ model: MODEL, prompt });
    const messages = [
      { role: 'system' as const, content: 'You write JavaScript.' },
      { role: 'user' as const, content: prompt },
    ];
    const { data: chat, response } = await openai.chat.completions.create({ model: MODEL, messages }).withResponse();
    expect(chat.object).toBe('chat.completion');
    expect(chat.choices[0]?.message).toMatchObject({ role: 'assistant', content: completion.choices[0]?.text });
    expect(chat.choices[0]?.finish_reason).toBe(completion.choices[0]?.finish_reason);
    expect(response.headers.get('x-request-id')).toBe(chat.id);

    const stream = await openai.chat.completions.create({
      model: MODEL,
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.every((chunk) => chunk.object === 'chat.completion.chunk')).toBe(true);
    expect(chunks[0]?.choices[0]?.delta.role).toBe('assistant');
    expect(chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('')).toBe(
      chat.choices[0]?.message.content,
    );
    expect(chunks.at(-2)?.choices[0]?.finish_reason).toBe(chat.choices[0]?.finish_reason);
    expect(chunks.at(-1)?.usage?.completion_tokens).toBe(chat.usage?.completion_tokens);
  });

  it('answers logprobs and top_logprobs in the chat shape, streamed or not', async () => {
    const messages = [{ role: 'user' as const, content: heldoutPrompt(9) }];
    const chat = await openai.chat.completions.create({ model: MODEL, messages, logprobs: true, top_logprobs: 2 });
    const content = chat.choices[0]?.logprobs?.content ?? [];
    expect(content.map((entry) => entry.token).join('')).toBe(chat.choices[0]?.message.content);
    for (const entry of content) {
      expect(entry.bytes).toEqual([...Buffer.from(entry.token, 'utf8')]);
      expect(entry.logprob).toBeLessThanOrEqual(0);
      expect(entry.top_logprobs.length).toBeGreaterThan(0);
      expect(entry.top_logprobs.length).toBeLessThanOrEqual(2);
    }
    const streamed = [];
    for await (const chunk of await openai.chat.completions.create({
      model: MODEL,
      messages,
      logprobs: true,
      top_logprobs: 2,
      stream: true,
    })) {
      streamed.push(...(chunk.choices[0]?.logprobs?.content ?? []));
    }
    expect(streamed).toEqual(content);
  });
});

interface CanvasState {
  object: 'dfleet.canvas_state';
  step: number;
  nfe: number;
  tokens: (string | null)[];
  token_steps: number[];
  masked_positions: number[];
  committed_positions: number[];
  final_prefix: number;
}

describe('dfleet.stream_states', () => {
  it('sends the canvas after every step: masks only ever committed, in step order, beside the standard deltas', async () => {
    const prompt = heldoutPrompt(10);
    // Reference decoding commits one token per step: a state for each of many steps.
    const decoding = { strategy: 'reference' };
    const stream = await openai.completions.create(
      withDfleet({ model: MODEL, prompt, stream: true as const }, { ...decoding, stream_states: true }),
    );
    const states: CanvasState[] = [];
    let text = '';
    let steps = 0;
    // The SDK yields every event's data; the dfleet events are told apart by their object.
    for await (const chunk of stream) {
      const event = chunk as unknown as
        | CanvasState
        | (OpenAI.Completion & { choices: { dfleet?: { steps: number } }[] });
      if (event.object === 'dfleet.canvas_state') {
        states.push(event);
        continue;
      }
      text += event.choices[0]?.text ?? '';
      steps = event.choices[0]?.dfleet?.steps ?? steps;
    }
    expect(steps).toBeGreaterThan(1);
    expect(states.map((state) => state.step)).toEqual(Array.from({ length: steps }, (_, index) => index + 1));
    for (const [index, state] of states.entries()) {
      expect(state.masked_positions.length + state.committed_positions.length).toBe(state.tokens.length);
      const previous = states[index - 1];
      if (previous === undefined) continue;
      expect(state.masked_positions.length).toBeLessThan(previous.masked_positions.length);
      // A committed token never changes.
      for (const position of previous.committed_positions) {
        expect(state.tokens[position]).toBe(previous.tokens[position]);
      }
      expect(state.final_prefix).toBeGreaterThanOrEqual(previous.final_prefix);
    }
    const plain = await openai.completions.create(withDfleet({ model: MODEL, prompt }, decoding));
    expect(text).toBe(plain.choices[0]?.text);
  });
});

describe('client disconnect', () => {
  it('cancels the streaming job when the client stops reading and hangs up', async () => {
    const controller = new AbortController();
    const { data: stream, response } = await openai.completions
      .create(
        withDfleet(
          { model: MODEL, prompt: heldoutPrompt(11), stream: true as const },
          // One token per step over a long canvas: the job is still decoding when the client leaves.
          { strategy: 'reference', gen_length: 96, block_length: 96 },
        ),
        { signal: controller.signal },
      )
      .withResponse();
    const jobId = response.headers.get('x-request-id') as string;
    for await (const _chunk of stream) break;
    controller.abort();
    const finishReason = await eventually('the abandoned job to finish', async () => {
      const job = await fleet.queue.getJob(jobId);
      return job?.returnvalue ? generationResultSchema.parse(job.returnvalue).finishReason : undefined;
    });
    expect(finishReason).toBe('cancelled');
  });
});

describe('SDK retries', () => {
  let impatient: GatewayProcess;
  beforeAll(async () => {
    // Answers 504 almost at once, as a gateway does when decoding outlasts DFLEET_REQUEST_TIMEOUT_MS.
    impatient = await fleet.startGateway('impatient-gateway', { DFLEET_REQUEST_TIMEOUT_MS: '1' });
  }, 60_000);

  const jobsFor = async (prompt: string) =>
    (await fleet.queue.getJobs(['completed', 'active', 'waiting', 'prioritized', 'failed'])).filter(
      (job) => generationJobSchema.parse(job.data).prompt === prompt,
    );

  it('reach the job they retry when the request carries an Idempotency-Key: one job, and its answer', async () => {
    const prompt = heldoutPrompt(12);
    const retrying = new OpenAI({ baseURL: `${impatient.httpUrl}/v1`, apiKey: 'not-checked', maxRetries: 5 });
    const answer = await retrying.completions.create(
      { model: MODEL, prompt },
      { headers: { 'Idempotency-Key': `retry-test-${fleet.prefix}` } },
    );
    expect(answer.choices[0]?.text.length).toBeGreaterThan(0);
    expect(await jobsFor(prompt)).toHaveLength(1);
  });

  it('are told not to retry a timeout without a key (a retry would decode it again): one job, a 504', async () => {
    const prompt = heldoutPrompt(13);
    const retrying = new OpenAI({ baseURL: `${impatient.httpUrl}/v1`, apiKey: 'not-checked', maxRetries: 5 });
    const error = await sdkError(retrying.completions.create({ model: MODEL, prompt }));
    expect(error).toBeInstanceOf(OpenAI.InternalServerError);
    expect(error.status).toBe(504);
    expect(error.headers?.get('x-should-retry')).toBe('false');
    const jobs = await jobsFor(prompt);
    expect(jobs).toHaveLength(1);
    // The 504 names the job that runs on, in its message and as its x-request-id.
    expect(error.requestID).toBe(jobs[0]?.id);
    expect(error.message).toContain(`GET /v1/jobs/${jobs[0]?.id}`);
  });
});
