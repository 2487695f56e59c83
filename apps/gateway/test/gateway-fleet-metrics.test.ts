import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GATEWAY_METRICS, WORKER_METRICS, type MetricSpec } from '@dfleet/telemetry';
import { createGenerationClient, grpc, type GenerationServiceClient } from '@dfleet/proto';
import { TestFleet, type GatewayProcess, type WorkerProcess } from '@dfleet/test-support';
import { GRPC_ERROR_CODE_KEY } from '../src/errors.ts';
import { heldoutPrompt } from './support/heldout.ts';
import { parsePrometheusText, type MetricFamily, type Sample } from './support/prometheus-text.ts';

// A gateway and a worker process with the shipped model; both /metrics scraped around real requests.
const MODEL = 'jsfunc-mdm';
const fleet = new TestFleet();
let gateway: GatewayProcess;
let worker: WorkerProcess;
let openai: OpenAI;
let grpcClient: GenerationServiceClient;

beforeAll(async () => {
  gateway = await fleet.startGateway('metrics-gateway');
  worker = await fleet.startWorker('metrics-worker', { DFLEET_PROBE_PORT: '0', DFLEET_PROBE_HOST: '127.0.0.1' });
  openai = new OpenAI({ baseURL: `${gateway.httpUrl}/v1`, apiKey: 'not-checked', maxRetries: 0 });
  grpcClient = createGenerationClient(gateway.grpcAddress);
}, 180_000);

afterAll(async () => {
  grpcClient?.close();
  await fleet.close();
}, 60_000);

/** A gRPC Generate the gateway refuses; resolves with the error code it names in the trailers. */
function refusedOverGrpc(maxTokens: number): Promise<string> {
  return new Promise((resolve, reject) =>
    grpcClient.Generate({ model: MODEL, prompt: heldoutPrompt(23), maxTokens }, (error) => {
      if (!error) return reject(new Error(`maxTokens ${maxTokens} was accepted`));
      expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
      resolve(String(error.metadata.get(GRPC_ERROR_CODE_KEY)[0]));
    }),
  );
}

type Scrape = Map<string, MetricFamily>;

async function scrape(url: string): Promise<Scrape> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(await response.text());
}
const scrapeBoth = async () => ({
  gateway: await scrape(`${gateway.httpUrl}/metrics`),
  worker: await scrape(worker.metricsUrl ?? ''),
});

/** The samples named `sampleName` (default: the metric's own) whose labels include `labels`. */
function samplesOf(scrape: Scrape, spec: MetricSpec, labels: Record<string, string>, sampleName = spec.name): Sample[] {
  return (scrape.get(spec.name)?.samples ?? []).filter(
    (sample) =>
      sample.name === sampleName && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
  );
}
const totalOf = (samples: Sample[]) => samples.reduce((total, sample) => total + sample.value, 0);
/** A counter's or gauge's value summed over the matching series; 0 when none exists yet. */
const valueIn = (scrape: Scrape, spec: MetricSpec, labels: Record<string, string> = {}) =>
  totalOf(samplesOf(scrape, spec, labels));
/** A histogram's observation count and sum over the matching series. */
const histogramOf = (scrape: Scrape, spec: MetricSpec, labels: Record<string, string> = {}) => ({
  count: totalOf(samplesOf(scrape, spec, labels, `${spec.name}_count`)),
  sum: totalOf(samplesOf(scrape, spec, labels, `${spec.name}_sum`)),
});

describe('gateway and worker /metrics around real completions', () => {
  it('move with a plain, a streamed and a refused completion (HTTP and gRPC), with the right labels, and hold every catalogued metric', async () => {
    const before = await scrapeBoth();
    const byClass = { model: MODEL, priority: 'interactive' };

    const plain = await openai.completions.create({ model: MODEL, prompt: heldoutPrompt(20) });
    const stream = await openai.completions.create({
      model: MODEL,
      prompt: heldoutPrompt(21),
      stream: true,
      stream_options: { include_usage: true },
    });
    let streamed: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) streamed = chunk.usage ?? streamed;
    const refusal = await openai.completions.create({ model: MODEL, prompt: heldoutPrompt(22), temperature: 9 }).then(
      () => {
        throw new Error('temperature 9 was accepted');
      },
      (error: unknown) => error as InstanceType<typeof OpenAI.APIError>,
    );
    expect(refusal.status).toBe(400);
    const refusalCode = String(refusal.code);
    const grpcRefusalCode = await refusedOverGrpc(0);
    // A path no route serves (a scanner's, a typo) is no request of the API: not a failure.
    expect((await fetch(`${gateway.httpUrl}/wp-login.php`)).status).toBe(404);

    const usages = [plain.usage, streamed].map((usage) => {
      expect(usage).toBeDefined();
      return usage as OpenAI.CompletionUsage & { steps: number; nfe: number };
    });
    const total = (pick: (usage: (typeof usages)[number]) => number) => usages.reduce((sum, u) => sum + pick(u), 0);
    const after = await scrapeBoth();
    const g = GATEWAY_METRICS;
    const w = WORKER_METRICS;
    const moved = (scrapeName: 'gateway' | 'worker', spec: MetricSpec, labels: Record<string, string> = {}) =>
      valueIn(after[scrapeName], spec, labels) - valueIn(before[scrapeName], spec, labels);
    const movedHistogram = (
      scrapeName: 'gateway' | 'worker',
      spec: MetricSpec,
      labels: Record<string, string> = {},
    ) => {
      const [a, b] = [histogramOf(after[scrapeName], spec, labels), histogramOf(before[scrapeName], spec, labels)];
      return { count: a.count - b.count, sum: a.sum - b.sum };
    };

    // Gateway: two answered, one refused, tokens as the responses counted them.
    expect(moved('gateway', g.requestSuccess, { model: MODEL })).toBe(2);
    // One refusal over HTTP, one over gRPC, each counted by the code it answered with.
    const refusals = [refusalCode, grpcRefusalCode];
    for (const code of new Set(refusals)) {
      expect(moved('gateway', g.requestFailure, { code })).toBe(refusals.filter((c) => c === code).length);
    }
    expect(moved('gateway', g.requestFailure)).toBe(2);
    expect(movedHistogram('gateway', g.e2eLatency, byClass).count).toBe(2);
    expect(movedHistogram('gateway', g.queueTime, byClass).count).toBe(2);
    expect(movedHistogram('gateway', g.timeToFirstToken, byClass).count).toBe(1);
    expect(moved('gateway', g.promptTokens, { model: MODEL })).toBe(total((u) => u.prompt_tokens));
    expect(moved('gateway', g.generationTokens, { model: MODEL })).toBe(total((u) => u.completion_tokens));
    // The first tokens of a stream come no later than its whole answer.
    const e2e = movedHistogram('gateway', g.e2eLatency, byClass);
    expect(movedHistogram('gateway', g.timeToFirstToken, byClass).sum).toBeLessThanOrEqual(e2e.sum);
    expect(
      samplesOf(after.gateway, g.requestsWaiting, {})
        .map((s) => s.labels.priority)
        .sort(),
    ).toEqual(['batch', 'interactive']);

    // Worker: the two decodes (the refused request never became a job) and the passes they ran in.
    const byStrategy = { model: MODEL, strategy: 'threshold' };
    const steps = movedHistogram('worker', w.decodeSteps, byStrategy);
    expect(steps).toEqual({ count: 2, sum: total((u) => u.steps) });
    expect(movedHistogram('worker', w.tokensPerNfe, byStrategy).count).toBe(2);
    expect(movedHistogram('worker', w.effectiveThreshold, { model: MODEL }).count).toBe(2);
    expect(moved('worker', w.workerGenerationTokens, { model: MODEL })).toBe(total((u) => u.completion_tokens));
    const passes = movedHistogram('worker', w.batchRows);
    // One job at a time: each ran its own passes, one row each.
    expect(passes).toEqual({ count: total((u) => u.nfe), sum: total((u) => u.nfe) });
    expect(movedHistogram('worker', w.passSeconds).count).toBe(passes.count);
    const padded = movedHistogram('worker', w.batchPaddedTokens);
    const real = movedHistogram('worker', w.batchRealTokens);
    expect(padded.count).toBe(passes.count);
    expect(real.sum).toBeGreaterThan(0);
    expect(real.sum).toBeLessThanOrEqual(padded.sum);
    expect(valueIn(after.worker, w.jobsInFlight)).toBe(0);
    expect(valueIn(after.worker, w.callbackRetries)).toBe(0);
    expect(valueIn(after.worker, w.adaptiveThresholdOffset)).toBe(0);
    const heartbeatAge = valueIn(after.worker, w.heartbeatAge);
    expect(heartbeatAge).toBeGreaterThanOrEqual(0);
    expect(heartbeatAge).toBeLessThan(10);

    // Every catalogued metric is served by its service, with its type, and has a series by now.
    for (const [service, catalogue] of [
      ['gateway', GATEWAY_METRICS],
      ['worker', WORKER_METRICS],
    ] as const) {
      for (const spec of Object.values(catalogue) as MetricSpec[]) {
        const family = after[service].get(spec.name);
        expect(family?.type, `${service} ${spec.name}`).toBe(spec.type);
        expect(family?.samples.length, `${service} ${spec.name} has a series`).toBeGreaterThan(0);
        for (const sample of family?.samples ?? []) {
          const labels = Object.keys(sample.labels).filter((label) => label !== 'le');
          expect(labels.sort(), `${service} ${spec.name} labels`).toEqual([...spec.labelNames].sort());
        }
      }
    }
  });
});
