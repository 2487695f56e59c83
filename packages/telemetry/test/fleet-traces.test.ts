import { randomBytes } from 'node:crypto';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGenerationClient, grpc, type GenerateEvent__Output, type GenerateResponse__Output } from '@dfleet/proto';
import { generationJobSchema } from '@dfleet/queue';
import { eventually, OtlpReceiver, prompt, TestFleet, type ReceivedSpan } from '@dfleet/test-support';
import { ATTR, SPAN, traceIdOf } from '../src/index.ts';

const SERVER = 2;
const CLIENT = 3;
const PRODUCER = 4;
const CONSUMER = 5;

const THRESHOLD = 0.9;
const THRESHOLD_DECODING = { dfleet: { strategy: 'threshold', threshold: THRESHOLD } };

/** A client's own span to hang a request under: its trace must be the one the fleet records. */
function clientTraceparent(): { traceId: string; spanId: string; traceparent: string } {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` };
}

/** The one span named `name` in `spans`, of `service`. */
function only(spans: ReceivedSpan[], name: string, service: string): ReceivedSpan {
  const named = spans.filter((span) => span.name === name);
  expect(
    named.map((span) => span.service),
    `spans named "${name}"`,
  ).toEqual([service]);
  return named[0] as ReceivedSpan;
}

/**
 * Waits for every span of the job's request (until the gateway's callback receipt and the
 * response's end have come in), then checks the chain from the request's server span through
 * the queue and the worker back to the gateway.
 */
async function requestTrace(
  receiver: OtlpReceiver,
  jobId: string,
  serverSpanName: string,
): Promise<{ traceId: string; spans: ReceivedSpan[]; server: ReceivedSpan }> {
  const traceId = await eventually(`a trace for job ${jobId}`, () => {
    const ids = new Set(receiver.spans.filter((span) => span.attributes[ATTR.jobId] === jobId).map((s) => s.traceId));
    const [id] = ids;
    const spans = id === undefined ? [] : receiver.trace(id);
    const complete = [serverSpanName, SPAN.callbackReceipt, SPAN.callbackResult].every((name) =>
      spans.some((span) => span.name === name),
    );
    return complete && id;
  });
  // Every span naming this job is in the one trace.
  const jobSpans = receiver.spans.filter((span) => span.attributes[ATTR.jobId] === jobId);
  expect(new Set(jobSpans.map((span) => span.traceId))).toEqual(new Set([traceId]));

  const spans = receiver.trace(traceId);
  const server = only(spans, serverSpanName, 'dfleet-gateway');
  const enqueue = only(spans, SPAN.enqueue, 'dfleet-gateway');
  const queueWait = only(spans, SPAN.queueWait, 'dfleet-worker');
  const job = only(spans, SPAN.job, 'dfleet-worker');
  const decode = only(spans, SPAN.decode, 'dfleet-worker');
  const callbackResult = only(spans, SPAN.callbackResult, 'dfleet-worker');
  const receipt = only(spans, SPAN.callbackReceipt, 'dfleet-gateway');

  expect(server.kind).toBe(SERVER);
  expect([enqueue.parentSpanId, enqueue.kind]).toEqual([server.spanId, PRODUCER]);
  expect(queueWait.parentSpanId).toBe(enqueue.spanId);
  expect([job.parentSpanId, job.kind]).toEqual([enqueue.spanId, CONSUMER]);
  expect(decode.parentSpanId).toBe(job.spanId);
  expect([callbackResult.parentSpanId, callbackResult.kind]).toEqual([job.spanId, CLIENT]);
  expect([receipt.parentSpanId, receipt.kind]).toEqual([callbackResult.spanId, SERVER]);
  // Accepted or a duplicate: the queue's events stream may have settled the job first.
  expect(typeof receipt.attributes[ATTR.callbackAccepted]).toBe('boolean');
  // The request's span lasts until its response has gone out, after its job was enqueued and
  // decoded. (Not necessarily after the receipt: the queue's events stream may answer first.)
  expect(server.endNs).toBeGreaterThanOrEqual(enqueue.endNs);
  expect(server.endNs).toBeGreaterThanOrEqual(decode.endNs);
  return { traceId, spans, server };
}

function expectDecodeAttributes(spans: ReceivedSpan[], completionTokens: number): void {
  const decode = spans.find((span) => span.name === SPAN.decode) as ReceivedSpan;
  const { attributes } = decode;
  expect(attributes[ATTR.strategy]).toBe('threshold');
  expect(attributes[ATTR.effectiveThreshold]).toBe(THRESHOLD);
  const steps = attributes[ATTR.steps] as number;
  expect(steps).toBeGreaterThanOrEqual(1);
  expect(attributes[ATTR.nfe] as number).toBeGreaterThanOrEqual(steps);
  expect(attributes[ATTR.tokens]).toBe(completionTokens);
  const [min, mean, max] = [ATTR.batchRowsMin, ATTR.batchRowsMean, ATTR.batchRowsMax].map(
    (name) => attributes[name] as number,
  ) as [number, number, number];
  expect(min).toBeGreaterThanOrEqual(1);
  expect(mean).toBeGreaterThanOrEqual(min);
  expect(max).toBeGreaterThanOrEqual(mean);
}

function grpcGenerate(address: string, metadata: grpc.Metadata): Promise<GenerateResponse__Output> {
  const client = createGenerationClient(address);
  return new Promise((resolve, reject) =>
    client.Generate(
      { model: 'jsfunc-mdm', prompt: prompt(4), decoding: { strategy: 'threshold', threshold: THRESHOLD } },
      metadata,
      (error, response) => {
        client.close();
        return error ? reject(error) : resolve(response as GenerateResponse__Output);
      },
    ),
  );
}

/** The `done` event's response of a GenerateStream call, once the stream ended. */
async function grpcGenerateStream(address: string, metadata: grpc.Metadata): Promise<GenerateResponse__Output> {
  const client = createGenerationClient(address);
  try {
    const call = client.GenerateStream(
      { model: 'jsfunc-mdm', prompt: prompt(6), decoding: { strategy: 'threshold', threshold: THRESHOLD } },
      metadata,
    );
    let done: GenerateResponse__Output | null = null;
    for await (const event of call as AsyncIterable<GenerateEvent__Output>) done = event.done ?? done;
    if (done === null) throw new Error('GenerateStream ended without a done event');
    return done;
  } finally {
    client.close();
  }
}

describe.each(['http/json', 'http/protobuf'])('one trace per request, exported over OTLP %s', (protocol) => {
  let receiver: OtlpReceiver;
  let fleet: TestFleet;
  let openai: OpenAI;
  let grpcAddress: string;

  beforeAll(async () => {
    receiver = await OtlpReceiver.start();
    fleet = new TestFleet({
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
        // Spans go out a moment after they end, rather than every 5 s.
        OTEL_BSP_SCHEDULE_DELAY: '100',
      },
    });
    const gateway = await fleet.startGateway();
    await fleet.startWorker('traced-worker');
    openai = new OpenAI({ baseURL: `${gateway.httpUrl}/v1`, apiKey: 'not-checked', maxRetries: 0 });
    grpcAddress = gateway.grpcAddress;
  }, 180_000);

  afterAll(async () => {
    await fleet?.close();
    await receiver?.close();
  }, 60_000);

  it('records a completion under the traceparent the client sent, from the request to the callback', async () => {
    const client = clientTraceparent();
    const completion = await openai.completions.create(
      { model: 'jsfunc-mdm', prompt: prompt(3), max_tokens: 24, ...THRESHOLD_DECODING },
      { headers: { traceparent: client.traceparent } },
    );
    const { traceId, spans, server } = await requestTrace(receiver, completion.id, 'POST /v1/completions');
    expect(traceId).toBe(client.traceId);
    expect(server.parentSpanId).toBe(client.spanId);
    expect(server.attributes['http.response.status_code']).toBe(200);
    expect(receiver.contentTypes.every((type) => type.startsWith(CONTENT_TYPES[protocol] as string))).toBe(true);
    expectDecodeAttributes(spans, completion.usage?.completion_tokens ?? -1);
  });

  it('starts a new trace for a streaming chat request without a traceparent, ending at the stream end', async () => {
    const stream = await openai.chat.completions.create({
      model: 'jsfunc-mdm',
      messages: [{ role: 'user', content: 'write a function that adds two numbers' }],
      max_tokens: 16,
      stream: true,
      ...THRESHOLD_DECODING,
    });
    let id = '';
    for await (const chunk of stream) id = chunk.id;
    const { server } = await requestTrace(receiver, id, 'POST /v1/chat/completions');
    expect(server.parentSpanId).toBe('');
    // The job's carrier names the same trace: the logs of both processes can name it.
    const job = generationJobSchema.parse((await fleet.queue.getJob(id))?.data);
    expect(traceIdOf(job.traceContext)).toBe(server.traceId);
  });

  it('records a gRPC Generate under the traceparent in its metadata', async () => {
    const client = clientTraceparent();
    const metadata = new grpc.Metadata();
    metadata.set('traceparent', client.traceparent);
    const response = await grpcGenerate(grpcAddress, metadata);
    const { traceId, spans, server } = await requestTrace(
      receiver,
      response.id,
      'dfleet.v1.GenerationService/Generate',
    );
    expect(traceId).toBe(client.traceId);
    expect(server.parentSpanId).toBe(client.spanId);
    expect(server.attributes['rpc.status_code']).toBe('OK');
    expectDecodeAttributes(spans, response.usage?.completionTokens ?? -1);
  });

  it('records a gRPC GenerateStream under the traceparent in its metadata, until the stream ends', async () => {
    const client = clientTraceparent();
    const metadata = new grpc.Metadata();
    metadata.set('traceparent', client.traceparent);
    const done = await grpcGenerateStream(grpcAddress, metadata);
    const { traceId, server } = await requestTrace(receiver, done.id, 'dfleet.v1.GenerationService/GenerateStream');
    expect(traceId).toBe(client.traceId);
    expect(server.parentSpanId).toBe(client.spanId);
    expect(server.attributes['rpc.status_code']).toBe('OK');
  });
});

const CONTENT_TYPES: Record<string, string> = {
  'http/json': 'application/json',
  'http/protobuf': 'application/x-protobuf',
};

describe('with no OTEL endpoint', () => {
  it('sends nothing, yet every job carries a trace id', async () => {
    // Where an OTLP/HTTP exporter sends when no endpoint is set.
    const defaultReceiver = await OtlpReceiver.start({ port: 4318, host: '::' });
    const fleet = new TestFleet({ env: { OTEL_BSP_SCHEDULE_DELAY: '100' } });
    try {
      const gateway = await fleet.startGateway();
      await fleet.startWorker('untraced-worker');
      const openai = new OpenAI({ baseURL: `${gateway.httpUrl}/v1`, apiKey: 'not-checked', maxRetries: 0 });
      const completion = await openai.completions.create({ model: 'jsfunc-mdm', prompt: prompt(5), max_tokens: 16 });
      const job = generationJobSchema.parse((await fleet.queue.getJob(completion.id))?.data);
      expect(traceIdOf(job.traceContext)).toMatch(/^[0-9a-f]{32}$/);
      // Sampled out: ids are made and propagated, spans are not recorded.
      expect(job.traceContext.traceparent).toMatch(/-00$/);
    } finally {
      // A graceful stop flushes whatever a tracer provider still holds: after it, nothing can come late.
      await fleet.close();
    }
    expect(defaultReceiver.contentTypes).toEqual([]);
    await defaultReceiver.close();
  });
});
