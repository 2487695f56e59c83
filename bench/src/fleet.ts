/**
 * `npm run bench:fleet [-- --rate 200 --requests 600 --max-tokens 8]`
 *
 * In one run, on one Redis:
 * 1. the anchor: bare BullMQ add -> completed round trips (no-op processor) at the target rate;
 * 2. the same prompts decoded directly in this process (no queue) for the decode-time baseline;
 * 3. the same prompts through the whole fleet (gateway and worker processes, HTTP, BullMQ, gRPC
 *    callback) at the target rate, and again at a rate one CPU worker can sustain.
 * Overhead per request = end-to-end latency minus the decode time the worker measured for it.
 * Writes bench/results/fleet.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Queue, QueueEvents, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { decode } from '@dfleet/decoder';
import { loadEvalTasks } from '@dfleet/eval';
import { loadModel, loadModelManifest } from '@dfleet/model';
import { percentile } from './percentiles.ts';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '200' },
    'sustainable-rate': { type: 'string', default: '10' },
    requests: { type: 'string', default: '600' },
    'max-tokens': { type: 'string', default: '8' },
    out: { type: 'string', default: fileURLToPath(new URL('../results', import.meta.url)) },
  },
});
const rate = Number(values.rate);
const sustainableRate = Number(values['sustainable-rate']);
const requestCount = Number(values.requests);
const maxTokens = Number(values['max-tokens']);
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `dfleet-bench-${randomUUID().slice(0, 8)}`;
const modelDir = fileURLToPath(new URL('../../models/jsfunc-mdm', import.meta.url));
const decoding = { strategy: 'threshold', threshold: 0.9 } as const;

const tasks = await loadEvalTasks(`${modelDir}/eval/heldout.jsonl`);
const prompts = Array.from({ length: requestCount }, (_, i) => tasks[i % tasks.length]!.prompt);

/** Fires `count` calls at a fixed rate (open loop: a slow answer does not delay the next send). */
async function openLoop<T>(count: number, perSecond: number, call: (i: number) => Promise<T>): Promise<T[]> {
  const started = performance.now();
  const pending: Promise<T>[] = [];
  for (let i = 0; i < count; i++) {
    const due = started + (i * 1000) / perSecond;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    pending.push(call(i));
  }
  return Promise.all(pending);
}

async function bullmqRoundTrip(): Promise<number[]> {
  const connection = { url: redisUrl, maxRetriesPerRequest: null };
  const name = 'anchor';
  const queue = new Queue(name, { connection, prefix });
  const events = new QueueEvents(name, { connection, prefix });
  const worker = new Worker(name, async () => ({ ok: true }), { connection, prefix, concurrency: 16 });
  await Promise.all([events.waitUntilReady(), worker.waitUntilReady()]);
  const addedAt = new Map<string, number>();
  const latencies: number[] = [];
  const done = new Map<string, () => void>();
  events.on('completed', ({ jobId }) => {
    const start = addedAt.get(jobId);
    if (start !== undefined) latencies.push(performance.now() - start);
    done.get(jobId)?.();
  });
  await openLoop(requestCount, rate, async (i) => {
    const jobId = `anchor-${i}`;
    const finished = new Promise<void>((resolve) => done.set(jobId, resolve));
    addedAt.set(jobId, performance.now());
    await queue.add('noop', { i }, { jobId, removeOnComplete: true });
    await finished;
  });
  await worker.close();
  await events.close();
  await queue.obliterate({ force: true });
  await queue.close();
  return latencies;
}

async function directDecodeMs(): Promise<number[]> {
  const model = await loadModel(modelDir);
  const times: number[] = [];
  for (const prompt of prompts.slice(0, Math.min(100, prompts.length))) {
    const started = performance.now();
    await decode(model.denoiser, {
      promptIds: model.tokenizer.encode(prompt),
      maxNewTokens: maxTokens,
      strategy: { name: 'threshold', threshold: decoding.threshold },
      specialTokens: model.manifest.specialTokens,
    });
    times.push(performance.now() - started);
  }
  await model.close();
  return times;
}

function startApp(entry: string, env: NodeJS.ProcessEnv, ready: RegExp): Promise<{ child: ChildProcess; match: RegExpMatchArray }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL(entry, import.meta.url))], {
    env: { ...process.env, ...env, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${entry} exited with ${code} before it was ready`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const match = line.match(ready);
      if (match) resolve({ child, match });
    });
  });
}

let firstError: string | undefined;
const modelName = (await loadModelManifest(modelDir)).name;

interface FleetSample {
  e2eMs: number;
  decodeMs: number;
  queueMs: number;
  status: number;
}

async function throughFleet(httpUrl: string, perSecond: number, count: number): Promise<FleetSample[]> {
  return openLoop(count, perSecond, async (i) => {
    const started = performance.now();
    const response = await fetch(`${httpUrl}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: modelName, prompt: prompts[i], max_tokens: maxTokens, dfleet: decoding }),
    });
    const body = (await response.json()) as { dfleet?: { decode_ms: number; queue_ms: number }; error?: { message: string } };
    if (response.status !== 200 && !firstError) firstError = `${response.status}: ${body.error?.message}`;
    return {
      e2eMs: performance.now() - started,
      decodeMs: body.dfleet?.decode_ms ?? Number.NaN,
      queueMs: body.dfleet?.queue_ms ?? Number.NaN,
      status: response.status,
    };
  });
}

function summarize(samples: FleetSample[], perSecond: number) {
  const ok = samples.filter((s) => s.status === 200);
  const overhead = ok.map((s) => s.e2eMs - s.decodeMs);
  return {
    rate_per_s: perSecond,
    requests: samples.length,
    succeeded: ok.length,
    overhead_p50_ms: percentile(overhead, 50),
    overhead_p99_ms: percentile(overhead, 99),
    queue_wait_p50_ms: percentile(ok.map((s) => s.queueMs), 50),
    decode_p50_ms: percentile(ok.map((s) => s.decodeMs), 50),
    e2e_p50_ms: percentile(ok.map((s) => s.e2eMs), 50),
    e2e_p99_ms: percentile(ok.map((s) => s.e2eMs), 99),
  };
}

process.stderr.write(`anchor: ${requestCount} bare BullMQ round trips at ${rate}/s...\n`);
const anchor = await bullmqRoundTrip();
process.stderr.write('direct: decoding in-process...\n');
const direct = await directDecodeMs();

const fleetEnv = { REDIS_URL: redisUrl, DFLEET_REDIS_PREFIX: prefix, DFLEET_MODEL_DIR: modelDir, DFLEET_PORT: '0', DFLEET_GRPC_PORT: '0', DFLEET_CALLBACK_PORT: '0', DFLEET_MAX_ACTIVE_JOBS: '32' };
const gateway = await startApp('../../apps/gateway/src/main.ts', fleetEnv, /^gateway listening on (http:\/\/\S+)/);
const worker = await startApp('../../apps/worker/src/main.ts', fleetEnv, /^worker ready/);
const httpUrl = gateway.match[1]!;
let atRate: ReturnType<typeof summarize>;
let sustainable: ReturnType<typeof summarize>;
try {
  await throughFleet(httpUrl, 5, 10); // warm-up: sessions, connections, JIT
  process.stderr.write(`fleet: ${requestCount} requests at ${rate}/s...\n`);
  atRate = summarize(await throughFleet(httpUrl, rate, requestCount), rate);
  const sustainableCount = Math.min(requestCount, sustainableRate * 20);
  process.stderr.write(`fleet: ${sustainableCount} requests at ${sustainableRate}/s...\n`);
  sustainable = summarize(await throughFleet(httpUrl, sustainableRate, sustainableCount), sustainableRate);
} finally {
  worker.child.kill('SIGTERM');
  gateway.child.kill('SIGTERM');
  await Promise.all([worker, gateway].map(({ child }) => new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)))));
  const redis = new Redis(redisUrl);
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
}

const result = {
  measured_at: new Date().toISOString(),
  requests: requestCount,
  max_tokens: maxTokens,
  decoding,
  bullmq_roundtrip_p50_ms: percentile(anchor, 50),
  bullmq_roundtrip_p99_ms: percentile(anchor, 99),
  direct_decode_p50_ms: percentile(direct, 50),
  overhead_p50_ms: atRate.overhead_p50_ms,
  overhead_p99_ms: atRate.overhead_p99_ms,
  at_target_rate: atRate,
  at_sustainable_rate: sustainable,
};
const fmt = (n: number) => n.toFixed(2);
console.log(`bullmq round trip (anchor)   p50 ${fmt(result.bullmq_roundtrip_p50_ms)} ms  p99 ${fmt(result.bullmq_roundtrip_p99_ms)} ms`);
console.log(`direct decode (no queue)     p50 ${fmt(result.direct_decode_p50_ms)} ms`);
for (const phase of [atRate, sustainable]) {
  console.log(
    `fleet at ${phase.rate_per_s}/s: ${phase.succeeded}/${phase.requests} ok, overhead p50 ${fmt(phase.overhead_p50_ms)} ms p99 ${fmt(phase.overhead_p99_ms)} ms ` +
      `(queue wait p50 ${fmt(phase.queue_wait_p50_ms)} ms, decode p50 ${fmt(phase.decode_p50_ms)} ms, e2e p50 ${fmt(phase.e2e_p50_ms)} ms p99 ${fmt(phase.e2e_p99_ms)} ms); ` +
      `overhead p50 / bullmq p50 = ${(phase.overhead_p50_ms / result.bullmq_roundtrip_p50_ms).toFixed(2)}x`,
  );
}
if (firstError) console.log(`first failed request: ${firstError}`);
mkdirSync(values.out!, { recursive: true });
writeFileSync(`${values.out}/fleet.json`, `${JSON.stringify(result, null, 2)}\n`);
console.log(`wrote ${values.out}/fleet.json`);
