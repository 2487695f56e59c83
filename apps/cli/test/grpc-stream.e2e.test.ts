import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createGenerationClient,
  grpc,
  type GenerateEvent__Output,
  type GenerateRequest,
  type GenerateResponse__Output,
  type GenerationServiceClient,
} from '@dfleet/proto';
import type { GenerationResult } from '@dfleet/queue';
import { TestFleet, eventually, prompt, type GatewayProcess } from '@dfleet/test-support';

// The shipped model on a real worker process, behind a real gateway process.
const fleet = new TestFleet();
let gateway: GatewayProcess;
let client: GenerationServiceClient;

beforeAll(async () => {
  [gateway] = await Promise.all([fleet.startGateway(), fleet.startWorker('grpc-stream-worker')]);
  client = createGenerationClient(gateway.grpcAddress);
}, 180_000);

afterAll(async () => {
  client?.close();
  await fleet.close();
}, 60_000);

function generateStream(
  request: GenerateRequest,
  onEvent: (event: GenerateEvent__Output, call: grpc.ClientReadableStream<GenerateEvent__Output>) => void = () => {},
): Promise<{ events: GenerateEvent__Output[]; error: grpc.ServiceError | null }> {
  const call = client.GenerateStream(request);
  const events: GenerateEvent__Output[] = [];
  return new Promise((resolve) => {
    call.on('data', (event: GenerateEvent__Output) => {
      events.push(event);
      onEvent(event, call);
    });
    call.on('error', (error: grpc.ServiceError) => resolve({ events, error }));
    call.on('end', () => resolve({ events, error: null }));
  });
}

function generate(request: GenerateRequest): Promise<GenerateResponse__Output> {
  return new Promise((resolve, reject) =>
    client.Generate(request, (error, response) => (error || !response ? reject(error) : resolve(response))),
  );
}

describe('GenerateStream against a worker decoding the shipped model', () => {
  it('streams deltas that concatenate to the answer Generate gives for the same request', async () => {
    for (const n of [1, 2, 3]) {
      const request = { model: 'jsfunc-mdm', prompt: prompt(n) };
      const { events, error } = await generateStream(request);
      const unary = await generate(request);

      expect(error).toBeNull();
      const done = events.at(-1)?.done;
      expect(done?.text).toBe(unary.text);
      const deltas = events.flatMap((event) => (event.delta ? [event.delta] : []));
      expect(deltas.length).toBeGreaterThan(0);
      expect(deltas.map((delta) => delta.text).join('')).toBe(done?.text);
      expect(deltas.flatMap((delta) => delta.tokenIds)).toEqual(done?.tokenIds);
    }
  }, 120_000);

  it('with stream_states shows the canvas unmasking: fewer masked positions after every step', async () => {
    // One token per step, so there are many steps to see.
    const { events, error } = await generateStream({
      model: 'jsfunc-mdm',
      prompt: prompt(4),
      streamStates: true,
      decoding: { strategy: 'reference', steps: 48 },
    });

    expect(error).toBeNull();
    const states = events.flatMap((event) => (event.state ? [event.state] : []));
    const done = events.at(-1)?.done;
    expect(states.length).toBe(done?.usage?.steps);
    expect(states.map((state) => state.step)).toEqual(states.map((_, index) => index + 1));
    const masked = states.map((state) => state.maskedPositions.length);
    expect(masked[0]).toBeGreaterThan(0);
    for (let i = 1; i < masked.length; i++) expect(masked[i]).toBeLessThan(masked[i - 1] as number);
    for (const state of states) {
      expect(state.tokenIds.filter((id) => id === -1)).toHaveLength(state.maskedPositions.length);
      expect(state.finalPrefix).toBeLessThanOrEqual(state.tokenIds.length);
    }
    const deltas = events.flatMap((event) => (event.delta ? [event.delta] : []));
    expect(deltas.map((delta) => delta.text).join('')).toBe(done?.text);
  }, 120_000);

  it('with logprobs sends each token its log-probability and alternatives, in the delta and in done', async () => {
    const request = { model: 'jsfunc-mdm', prompt: prompt(6), logprobs: 2 };
    const { events, error } = await generateStream(request);
    const unary = await generate(request);

    expect(error).toBeNull();
    const done = events.at(-1)?.done;
    const deltas = events.flatMap((event) => (event.delta ? [event.delta] : []));
    const streamed = deltas.flatMap((delta) => delta.logprobs);
    expect(streamed.map((entry) => entry.tokenId)).toEqual(done?.tokenIds);
    expect(done?.logprobs).toEqual(streamed);
    expect(unary.logprobs).toEqual(streamed);
    for (const entry of streamed) {
      expect(entry.logprob).toBeLessThanOrEqual(0);
      expect(entry.top.length).toBeGreaterThan(0);
      expect(entry.top.length).toBeLessThanOrEqual(2);
      expect(entry.token).not.toBe('');
    }
    expect(streamed.map((entry) => entry.token).join('')).toContain(done?.text.trim().slice(0, 5));
  }, 120_000);

  it('cancelling the call mid-stream cancels the job: the worker stops it before its last step', async () => {
    // A long decode (one token per step over a 96-token canvas) outlasts the worker's cancel poll.
    const steps = 96;
    const { events, error } = await generateStream(
      {
        model: 'jsfunc-mdm',
        prompt: prompt(5),
        genLength: steps,
        streamStates: true,
        decoding: { strategy: 'reference', steps },
      },
      (event, call) => {
        if (event.state?.step === 2) call.cancel();
      },
    );

    expect(error?.code).toBe(grpc.status.CANCELLED);
    expect(events.some((event) => event.done)).toBe(false);
    const job = await eventually('the job to end as cancelled', async () => {
      const jobs = await fleet.queue.getJobs(['completed', 'active']);
      const found = jobs.find((job) => (job.data as { prompt: string }).prompt === prompt(5));
      // A job listed while active holds no return value: read it again once it completed.
      const state = await found?.getState();
      return state === 'completed' && found?.id ? await fleet.queue.getJob(found.id) : undefined;
    });
    const result = job?.returnvalue as GenerationResult;
    expect(result.finishReason).toBe('cancelled');
    expect(result.steps).toBeLessThan(steps);
  }, 120_000);
});
