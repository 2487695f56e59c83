import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deletePrefix, eventually, uniquePrefix } from '@dfleet/test-support';
import { startGateway, type RunningGateway } from '../src/gateway.ts';
import { REQUEST_COMPLETED } from '../src/log-messages.ts';
import {
  FIXTURE_MODEL,
  generationResultFor,
  postCompletion,
  reportResult,
  resultReportFor,
  startTestWorker,
  testGatewayConfig,
  type TestWorker,
} from './support/test-fleet.ts';

const prefix = uniquePrefix();
const ANSWER = 'return a * 41 - b;';
const PROMPT = 'function distinctive_subtract_41(a, b) {\n';
/** Every line the gateway logged at info and above, parsed. */
const lines: Record<string, unknown>[] = [];
let gateway: RunningGateway;
let worker: TestWorker;

const requestLines = () => lines.filter((line) => line['msg'] === REQUEST_COMPLETED);

beforeAll(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line));
      done();
    },
  });
  gateway = await startGateway(testGatewayConfig({ DFLEET_REDIS_PREFIX: prefix }), {
    logger: pino({ level: 'info', base: { service: 'gateway' } }, sink),
  });
  worker = await startTestWorker(prefix, async (job) => {
    await reportResult(job.data.callback.address, resultReportFor(job, ANSWER));
    return generationResultFor(ANSWER);
  });
});

afterAll(async () => {
  await worker?.close();
  await gateway?.close(1_000);
  await deletePrefix(prefix);
});

describe('the gateway request log', () => {
  it('writes one line per completion, naming the job, its tokens and steps, and neither prompt nor answer', async () => {
    const answer = await postCompletion(gateway, { model: FIXTURE_MODEL, prompt: PROMPT });
    expect(answer.status).toBe(200);
    const jobId = answer.body.id as string;
    const [line] = await eventually('the request line', () => {
      const found = requestLines().filter((entry) => entry['jobId'] === jobId);
      return found.length > 0 && found;
    });
    expect(requestLines().filter((entry) => entry['jobId'] === jobId)).toHaveLength(1);
    expect(line).toMatchObject({
      method: 'POST',
      route: '/v1/completions',
      status: 200,
      tokens: answer.body.usage.completion_tokens,
      steps: answer.body.usage.steps,
    });
    expect(line!['durationMs']).toBeGreaterThanOrEqual(0);
    // Fastify's own pair (incoming request, request completed) is off.
    expect(lines.filter((entry) => entry['msg'] === 'incoming request')).toEqual([]);
    for (const entry of lines) {
      expect(JSON.stringify(entry)).not.toContain('distinctive_subtract_41');
      expect(JSON.stringify(entry)).not.toContain(ANSWER);
    }
  });

  it('gives a streamed completion the same line once its stream ends', async () => {
    const response = await fetch(`${gateway.httpUrl}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: FIXTURE_MODEL, prompt: PROMPT, stream: true }),
    });
    expect(response.status).toBe(200);
    const events = await response.text();
    expect(events).toContain('data: [DONE]');
    const jobId = response.headers.get('x-request-id');
    const line = await eventually('the stream request line', () =>
      requestLines().find((entry) => entry['jobId'] === jobId),
    );
    const reported = generationResultFor(ANSWER);
    expect(line).toMatchObject({
      method: 'POST',
      route: '/v1/completions',
      status: 200,
      tokens: reported.tokenIds.length,
      steps: reported.steps,
    });
  });

  it('names the route template and the status of a refusal, and keeps probes out of the info log', async () => {
    const missing = await fetch(`${gateway.httpUrl}/v1/jobs/cmpl-no-such-job`);
    expect(missing.status).toBe(404);
    expect((await fetch(`${gateway.httpUrl}/healthz`)).status).toBe(200);
    await eventually('the refusal line', () =>
      requestLines().find((entry) => entry['route'] === '/v1/jobs/:id' && entry['status'] === 404),
    );
    expect(requestLines().filter((entry) => entry['route'] === '/healthz')).toEqual([]);
  });
});
