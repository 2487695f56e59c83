import { createWorkerCallbackClient, type grpc, type ResultReport } from '@dfleet/proto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCallbackServer } from '../src/callback-server.ts';
import { PendingResults } from '../src/pending-results.ts';

const pending = new PendingResults();
let server: grpc.Server;
let address: string;

beforeAll(async () => {
  const started = await startCallbackServer(pending, pino({ level: 'silent' }), '127.0.0.1', 0);
  server = started.server;
  address = `127.0.0.1:${started.port}`;
});

afterAll(() => {
  server.forceShutdown();
  pending.close();
});

/** Sends one ResultReport over a real report stream, as a worker does, and resolves with the gateway's answer. */
async function report(result: ResultReport): Promise<{ accepted: boolean }> {
  const client = createWorkerCallbackClient(address);
  const call = client.Report();
  const ack = new Promise<{ accepted: boolean }>((resolve) => call.once('data', resolve));
  call.write({ result });
  const answer = await ack;
  // Half-close and wait for the server to end the stream, so closing the client cancels nothing.
  const ended = new Promise((resolve) => call.on('status', resolve));
  call.end();
  await ended;
  client.close();
  return answer;
}

function resultReport(jobId: string, token: string, extra: Partial<ResultReport>): ResultReport {
  return {
    jobId,
    attempt: 1,
    callbackToken: token,
    workerId: 'w1',
    text: 'ab',
    tokenIds: [10, 11],
    finishReason: 'length',
    steps: 2,
    nfe: 2,
    promptTokens: 3,
    queueMs: 1,
    decodeMs: 2,
    ...extra,
  };
}

describe('the callback server reads token steps and logprobs from a ResultReport', () => {
  it('puts token_steps and token_logprobs into the job result', async () => {
    const { token } = pending.track('job-logprobs');
    const tokenLogprobs = [
      { logprob: -0.25, top: [{ id: 10, logprob: -0.25 }] },
      { logprob: -1.5, top: [{ id: 12, logprob: -0.5 }] },
    ];
    const waiting = pending.wait('job-logprobs', { timeoutMs: 30_000 });
    await expect(
      report(resultReport('job-logprobs', token, { tokenSteps: [1, 2], tokenLogprobs })),
    ).resolves.toMatchObject({
      accepted: true,
    });
    expect(await waiting).toMatchObject({ kind: 'completed', result: { tokenSteps: [1, 2], tokenLogprobs } });
  });

  it('leaves tokenLogprobs out when the job did not ask for them', async () => {
    const { token } = pending.track('job-plain');
    const waiting = pending.wait('job-plain', { timeoutMs: 30_000 });
    await report(resultReport('job-plain', token, { tokenSteps: [1, 1] }));
    const outcome = await waiting;
    expect(outcome.kind === 'completed' && outcome.result.tokenLogprobs).toBeUndefined();
    expect(outcome).toMatchObject({ result: { tokenSteps: [1, 1] } });
  });
});
