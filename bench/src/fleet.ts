/**
 * `npm run bench:fleet [-- --rate 200 --requests 600 --max-tokens 8]`
 *
 * In one run, on one Redis:
 * 1. the anchor: bare BullMQ add -> completed round trips (no-op processor) at the target rate;
 * 2. every prompt sent below decoded directly in this process (no queue), one after another,
 *    for the decode-time baseline;
 * 3. the prompts through the whole fleet (gateway and worker processes, HTTP, BullMQ, gRPC
 *    callback): held-out prompts with `--max-tokens` at the target rate and at a rate one CPU
 *    worker can sustain, and "light" requests (the first 12 characters of each prompt, one new
 *    token: one short forward pass) at the target rate.
 *
 * Overhead per request = end-to-end latency minus the decode time the worker measured for it
 * (from submitting the job to its step scheduler to its last step, so under the same batching as
 * the job really had). A phase whose worker cannot keep up is marked `saturated`: its "overhead"
 * is mostly queueing, growing with the run, not what the fleet adds per request. On a small CPU
 * host the held-out phase at 200/s is at or past what one worker decodes, so when it saturates
 * the headline overhead at the target rate comes from the light phase, which asks the same
 * machinery (HTTP, admission, BullMQ, claim, scheduler, callback) for the same 200 jobs a second
 * with a decode the host can sustain; each phase reports the rate it really offered and served.
 * Each phase also reports how busy the host's CPUs were (/proc/stat, everything on the host): on
 * a CPU-only host the worker's decode shares the cores with the gateway, Redis and this client, so
 * a phase whose decode keeps them busy measures that contention as much as the fleet; a GPU
 * worker leaves them to the fleet. The last line says, for both phases at the target rate,
 * whether the target (overhead p50 <= 3 ms, p99 <= 15 ms) was met.
 * 4. streaming against non-streaming on the same held-out prompts (`--streaming-prompts`, each
 *    decoding of `fleet-streaming.ts`, which describes the method): first token, final answer.
 * 5. tracing on against off (`fleet-tracing.ts` describes the method): light requests through a
 *    traced and an untraced fleet, interleaved (`--tracing-requests`, `--tracing-rate`); the added
 *    overhead p50/p99 goes into fleet.json and fleet-tracing.json. `--only tracing` runs it alone.
 * `overhead_vs_direct` is end-to-end latency minus the direct decode of the same prompt: it
 * also counts what the fleet adds to the decode itself (passes slower than back to back, work
 * overlapping them), so moving time into the worker's decode cannot make the fleet look cheaper.
 *
 * The client is node:http with keep-alive (fetch costs the client 0.3 to 1 ms more per request,
 * which is not the fleet's). The worker and the direct decode run onnxruntime with
 * DFLEET_INTRA_OP_THREADS (default here 1): on a small host the gateway, Redis and this client
 * share the cores, and onnxruntime's default pool of one thread per core starves them during
 * every forward pass. Writes bench/results/fleet.json.
 *
 * `--workers simulated [--pass-ms 20 --tokens-per-step 4 --answer-tokens 16]` runs the same
 * phases with a simulated GPU worker (fleet-workers.ts): each forward pass waits on a timer,
 * whatever the batch, so the CPUs are the fleet's own and held-out prompts at the target rate
 * measure its overhead as intended (use `--max-tokens` above the answer tokens, e.g. 48, so every
 * job ends with eos). The direct decode is the simulated one; writes fleet-simulated.json.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Queue, QueueEvents, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { decode } from '@dfleet/decoder';
import { loadEvalTasks } from '@dfleet/eval';
import { DEFAULT_MODEL_DIR, loadModelManifest } from '@dfleet/model';
import { compareStreaming, formatStreamingComparison, type StreamingComparison } from './fleet-streaming.ts';
import {
  FLEET_WORKER_OPTIONS,
  fleetWorkersFrom,
  fleetWorkersReport,
  loadDirectModel,
  startFleetWorker,
  type DirectModel,
} from './fleet-workers.ts';
import { compareTracing, formatTracingComparison, type TracingComparison } from './fleet-tracing.ts';
import { KeepAliveClient } from './keep-alive-client.ts';
import { openLoop, type OpenLoopRun } from './open-loop.ts';
import { percentile } from './percentiles.ts';
import { servedRatePerS } from './served-rate.ts';
import { hostCpuTicks, totalCpuMs } from './process-cpu.ts';
import { startApp, stopApps } from './start-app.ts';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '200' },
    'sustainable-rate': { type: 'string', default: '10' },
    requests: { type: 'string', default: '600' },
    'max-tokens': { type: 'string', default: '8' },
    'streaming-prompts': { type: 'string', default: '20' },
    // Tracing on against off (fleet-tracing.ts): requests per fleet and the rate over both.
    'tracing-requests': { type: 'string', default: '300' },
    'tracing-rate': { type: 'string', default: '50' },
    // `--only tracing`: run that comparison alone.
    only: { type: 'string' },
    ...FLEET_WORKER_OPTIONS,
    out: { type: 'string', default: fileURLToPath(new URL('../results', import.meta.url)) },
  },
});
const rate = Number(values.rate);
const sustainableRate = Number(values['sustainable-rate']);
const requestCount = Number(values.requests);
const maxTokens = Number(values['max-tokens']);
const fleetWorkers = fleetWorkersFrom(values);
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `dfleet-bench-${randomUUID().slice(0, 8)}`;
const modelDir = DEFAULT_MODEL_DIR;
const decoding = { strategy: 'threshold', threshold: 0.9 } as const;

const tasks = await loadEvalTasks(`${modelDir}/eval/heldout.jsonl`);
const prompts = Array.from({ length: requestCount }, (_, i) => tasks[i % tasks.length]!.prompt);
/** 12 characters + bos + 1 new token: one forward pass over 16 padded positions per request. */
const LIGHT_PROMPT_CHARS = 12;
const LIGHT_MAX_TOKENS = 1;
const lightPrompts = prompts.map((prompt) => prompt.slice(0, LIGHT_PROMPT_CHARS));

async function bullmqRoundTrip(): Promise<{ latencies: number[]; offeredRatePerS: number }> {
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
  const run = await openLoop(requestCount, rate, async (i) => {
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
  return { latencies, offeredRatePerS: achievedRate(run.sentAt) };
}

/** Sends per second as they really went out. */
function achievedRate(sentAt: readonly number[]): number {
  return sentAt.length < 2 ? Number.NaN : ((sentAt.length - 1) * 1000) / (sentAt.at(-1)! - sentAt[0]!);
}

/** Direct decode time of each distinct (prompt, max tokens), in this process, one after another. */
/** The worker's onnxruntime threads (DFLEET_INTRA_OP_THREADS; 'default' = onnxruntime's), for the direct decode too. */
const intraOpSetting = process.env.DFLEET_INTRA_OP_THREADS || '1';
const intraOpThreads = intraOpSetting === 'default' ? undefined : Number(intraOpSetting);

async function directDecodeMs(
  requests: readonly { prompt: string; maxTokens: number }[],
): Promise<Map<string, number>> {
  const model = await loadDirectModel(
    fleetWorkers,
    modelDir,
    intraOpThreads === undefined ? {} : { intraOpNumThreads: intraOpThreads },
  );
  const times = new Map<string, number>();
  // Warm-up: the first passes of a fresh session are slower.
  for (const { prompt, maxTokens: tokens } of requests.slice(0, 5)) await decodeOnce(model, prompt, tokens);
  for (const { prompt, maxTokens: tokens } of requests) {
    const key = directKey(prompt, tokens);
    if (times.has(key)) continue;
    const started = performance.now();
    await decodeOnce(model, prompt, tokens);
    times.set(key, performance.now() - started);
  }
  await model.close();
  return times;
}

function decodeOnce(model: DirectModel, prompt: string, tokens: number) {
  return decode(model.denoiser, {
    promptIds: model.tokenizer.encode(prompt),
    maxNewTokens: tokens,
    strategy: { name: 'threshold', threshold: decoding.threshold },
    specialTokens: model.manifest.specialTokens,
  });
}

function directKey(prompt: string, tokens: number): string {
  return `${tokens}\u0000${prompt}`;
}

let firstError: string | undefined;
const modelName = (await loadModelManifest(modelDir)).name;

interface FleetRequest {
  readonly prompt: string;
  readonly maxTokens: number;
}

interface FleetSample {
  request: FleetRequest;
  e2eMs: number;
  /** performance.now() when the answer was read. */
  doneAt: number;
  decodeMs: number;
  queueMs: number;
  /** The gateway's accept (after parsing, before admission) to its outcome, as the answer says. */
  totalMs: number;
  status: number;
}

/** Keep-alive connections, as a client that sends many requests uses. */
const client = new KeepAliveClient({ maxSockets: 1_024 });

function payloadOf(request: FleetRequest): string {
  return JSON.stringify({
    model: modelName,
    prompt: request.prompt,
    max_tokens: request.maxTokens,
    // The canvas the direct decode uses: max_tokens alone is only a cap on the model's own canvas.
    dfleet: { ...decoding, gen_length: request.maxTokens },
  });
}

async function complete(httpUrl: string, request: FleetRequest): Promise<FleetSample> {
  const started = performance.now();
  const response = await client.post(`${httpUrl}/v1/completions`, payloadOf(request));
  const body = JSON.parse(response.body) as {
    dfleet?: { decode_ms: number; queue_ms: number; total_ms: number };
    error?: { message: string };
  };
  const doneAt = performance.now();
  if (response.status !== 200 && !firstError) firstError = `${response.status}: ${body.error?.message}`;
  return {
    request,
    e2eMs: doneAt - started,
    doneAt,
    decodeMs: body.dfleet?.decode_ms ?? Number.NaN,
    queueMs: body.dfleet?.queue_ms ?? Number.NaN,
    totalMs: body.dfleet?.total_ms ?? Number.NaN,
    status: response.status,
  };
}

/**
 * Runs one phase and reads how busy the host was (everything on it counts: this client, Redis,
 * the gateway, the worker, and any other work) and how much of that was the fleet's own
 * processes and this client, so a busy host is told apart from a fleet that keeps it busy.
 */
async function throughFleet(httpUrl: string, perSecond: number, requests: readonly FleetRequest[]) {
  const before = hostCpuTicks();
  const fleetBefore = totalCpuMs(fleetPids);
  const clientBefore = process.cpuUsage();
  const startedAt = performance.now();
  const run = await openLoop(requests.length, perSecond, (i) => complete(httpUrl, requests[i]!));
  const wallMs = performance.now() - startedAt;
  const client = process.cpuUsage(clientBefore);
  const fleetMs = totalCpuMs(fleetPids) - fleetBefore;
  const after = hostCpuTicks();
  const hostCpuBusy = before && after ? (after.busy - before.busy) / (after.total - before.total) : Number.NaN;
  const fleetCores = (fleetMs + (client.user + client.system) / 1000) / wallMs;
  return { ...run, hostCpuBusy, fleetCores, otherCores: hostCpuBusy * cpus().length - fleetCores };
}

/** Opens `count` keep-alive connections at once, so a burst does not pay TCP handshakes. */
async function openConnections(httpUrl: string, count: number, request: FleetRequest): Promise<void> {
  await Promise.all(Array.from({ length: count }, () => complete(httpUrl, request)));
}

/**
 * Where the overhead goes, from the answer's own timings (Date.now in two processes, so whole
 * milliseconds): `http` is the client's send to the gateway's accept plus its outcome to the
 * client's read (HTTP, parsing, the response); `to_claim` the accept to the worker's claim
 * (admission, BullMQ add, claim); `after_claim` the claim to the gateway's outcome less the decode
 * (tokenizing, the result callback). Each is its own p50, so they need not add up to the overhead's.
 */
function overheadSplit(ok: readonly FleetSample[]) {
  return {
    http: percentile(
      ok.map((s) => s.e2eMs - s.totalMs),
      50,
    ),
    to_claim: percentile(
      ok.map((s) => s.queueMs),
      50,
    ),
    after_claim: percentile(
      ok.map((s) => s.totalMs - s.queueMs - s.decodeMs),
      50,
    ),
  };
}

function summarize(
  name: string,
  run: OpenLoopRun<FleetSample> & { hostCpuBusy: number; fleetCores: number; otherCores: number },
  perSecond: number,
  directMs: Map<string, number>,
) {
  const samples = run.results;
  const ok = samples.filter((s) => s.status === 200);
  const overhead = ok.map((s) => s.e2eMs - s.decodeMs);
  const directOf = (s: FleetSample) => directMs.get(directKey(s.request.prompt, s.request.maxTokens)) ?? Number.NaN;
  const servedPerS = servedRatePerS(ok.map((s) => s.doneAt));
  // The method before servedRatePerS, kept beside it: it counts one request's latency in the span.
  const servedFromFirstSendPerS = (ok.length * 1000) / (Math.max(...samples.map((s) => s.doneAt)) - run.sentAt[0]!);
  const offeredPerS = achievedRate(run.sentAt);
  return {
    phase: name,
    rate_per_s: perSecond,
    offered_rate_per_s: offeredPerS,
    max_send_lag_ms: run.maxSendLagMs,
    served_rate_per_s: servedPerS,
    served_rate_from_first_send_per_s: servedFromFirstSendPerS,
    // Did not keep up: served less than was offered, or jobs sat in the queue.
    saturated:
      servedPerS < 0.97 * offeredPerS ||
      percentile(
        ok.map((s) => s.queueMs),
        50,
      ) > 20,
    host_cpu_busy: run.hostCpuBusy,
    /** Cores the gateway, the worker and this client used (Redis is shared with other users of 6379). */
    fleet_cores: run.fleetCores,
    /** Cores busy with anything else: Redis, and whatever else runs on the host. */
    other_cores: run.otherCores,
    requests: samples.length,
    succeeded: ok.length,
    max_tokens: samples[0]?.request.maxTokens,
    overhead_p50_ms: percentile(overhead, 50),
    overhead_p99_ms: percentile(overhead, 99),
    overhead_split_p50_ms: overheadSplit(ok),
    queue_wait_p50_ms: percentile(
      ok.map((s) => s.queueMs),
      50,
    ),
    decode_p50_ms: percentile(
      ok.map((s) => s.decodeMs),
      50,
    ),
    direct_decode_p50_ms: percentile(ok.map(directOf), 50),
    /** The worker's decode of a request minus the direct decode of the same prompt (cold passes, batching). */
    decode_vs_direct_p50_ms: percentile(
      ok.map((s) => s.decodeMs - directOf(s)),
      50,
    ),
    overhead_vs_direct_p50_ms: percentile(
      ok.map((s) => s.e2eMs - directOf(s)),
      50,
    ),
    overhead_vs_direct_p99_ms: percentile(
      ok.map((s) => s.e2eMs - directOf(s)),
      99,
    ),
    e2e_p50_ms: percentile(
      ok.map((s) => s.e2eMs),
      50,
    ),
    e2e_p99_ms: percentile(
      ok.map((s) => s.e2eMs),
      99,
    ),
  };
}

const atRateRequests: FleetRequest[] = prompts.map((prompt) => ({ prompt, maxTokens }));
const lightRequests: FleetRequest[] = lightPrompts.map((prompt) => ({ prompt, maxTokens: LIGHT_MAX_TOKENS }));
const sustainableCount = Math.min(requestCount, sustainableRate * 20);
const sustainableRequests = atRateRequests.slice(0, sustainableCount);

const fleetEnv = {
  REDIS_URL: redisUrl,
  DFLEET_REDIS_PREFIX: prefix,
  DFLEET_MODEL_DIR: modelDir,
  DFLEET_PORT: '0',
  DFLEET_GRPC_PORT: '0',
  DFLEET_CALLBACK_PORT: '0',
  DFLEET_MAX_ACTIVE_JOBS: '32',
  DFLEET_INTRA_OP_THREADS: intraOpThreads === undefined ? '' : String(intraOpThreads),
};

/** Light requests through two fleets, one traced and one not: fleet-tracing.ts describes it. */
async function tracingComparison(): Promise<TracingComparison> {
  const count = Math.min(Number(values['tracing-requests']), lightRequests.length);
  const tracingRate = Number(values['tracing-rate']);
  process.stderr.write(
    `tracing: ${count} light requests per fleet, traced and untraced interleaved at ${tracingRate}/s...\n`,
  );
  const comparison = await compareTracing({
    workers: fleetWorkers,
    env: fleetEnv,
    redisUrl,
    prefix,
    payloads: lightRequests.slice(0, count).map(payloadOf),
    ratePerS: tracingRate,
  });
  console.log(formatTracingComparison(comparison));
  mkdirSync(values.out!, { recursive: true });
  const file = `${values.out}/${fleetWorkersReport(fleetWorkers).file.replace(/\.json$/, '-tracing.json')}`;
  writeFileSync(file, `${JSON.stringify(comparison, null, 2)}\n`);
  console.log(`wrote ${file}`);
  return comparison;
}

if (values.only === 'tracing') {
  await tracingComparison();
  await new Promise((resolve) => process.stdout.write('', resolve));
  process.exit(0);
} else if (values.only !== undefined) {
  throw new Error(`bench:fleet: --only ${values.only}: the only phase that runs alone is "tracing"`);
}

const loadBefore = loadavg();
process.stderr.write(`anchor: ${requestCount} bare BullMQ round trips at ${rate}/s...\n`);
const anchor = await bullmqRoundTrip();
process.stderr.write('direct: decoding in-process...\n');
const direct = await directDecodeMs([...atRateRequests, ...lightRequests]);

const gateway = await startApp('../../apps/gateway/src/main.ts', fleetEnv, /^gateway listening on (http:\/\/\S+)/);
const worker = await startFleetWorker(fleetWorkers, fleetEnv);
const fleetPids = [gateway.child.pid, worker.child.pid].filter((pid): pid is number => pid !== undefined);
const httpUrl = gateway.match[1]!;
let atRate: ReturnType<typeof summarize>;
let light: ReturnType<typeof summarize>;
let sustainable: ReturnType<typeof summarize>;
let streaming: StreamingComparison[];
try {
  await throughFleet(httpUrl, 5, atRateRequests.slice(0, 10)); // warm-up: sessions, JIT
  await openConnections(httpUrl, Math.min(64, rate), lightRequests[0]!);
  process.stderr.write(`fleet: ${requestCount} requests at ${rate}/s, max_tokens ${maxTokens}...\n`);
  atRate = summarize(
    'held-out prompts at the target rate',
    await throughFleet(httpUrl, rate, atRateRequests),
    rate,
    direct,
  );
  await openConnections(httpUrl, Math.min(64, rate), lightRequests[0]!);
  process.stderr.write(
    `fleet: ${requestCount} light requests at ${rate}/s (${LIGHT_PROMPT_CHARS}-character prompts, max_tokens ${LIGHT_MAX_TOKENS})...\n`,
  );
  light = summarize(
    'light requests at the target rate',
    await throughFleet(httpUrl, rate, lightRequests),
    rate,
    direct,
  );
  process.stderr.write(`fleet: ${sustainableCount} requests at ${sustainableRate}/s...\n`);
  sustainable = summarize(
    'held-out prompts at a sustainable rate',
    await throughFleet(httpUrl, sustainableRate, sustainableRequests),
    sustainableRate,
    direct,
  );
  const streamingPrompts = tasks.slice(0, Number(values['streaming-prompts'])).map((task) => task.prompt);
  process.stderr.write(`fleet: ${streamingPrompts.length} prompts streamed and not, one at a time...\n`);
  // The model's default answer length: enough steps for a first token to come before the last.
  const decodings = [decoding, { strategy: 'reference' }];
  streaming = await compareStreaming({ httpUrl, model: modelName, prompts: streamingPrompts, decodings });
} finally {
  client.close();
  await stopApps([worker, gateway]);
  const redis = new Redis(redisUrl);
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
}

const tracing = await tracingComparison();

// The headline overhead at the target rate comes from a phase the worker kept up with.
const headline = atRate.saturated ? light : atRate;
const result = {
  measured_at: new Date().toISOString(),
  host: { cpus: cpus().length, load_average_before: loadBefore, load_average_after: loadavg() },
  intra_op_threads: intraOpThreads ?? 'onnxruntime default',
  workers: fleetWorkersReport(fleetWorkers).workers,
  requests: requestCount,
  max_tokens: maxTokens,
  decoding,
  bullmq_roundtrip_p50_ms: percentile(anchor.latencies, 50),
  bullmq_roundtrip_p99_ms: percentile(anchor.latencies, 99),
  bullmq_offered_rate_per_s: anchor.offeredRatePerS,
  direct_decode_p50_ms: percentile(
    atRateRequests.map((r) => direct.get(directKey(r.prompt, r.maxTokens))!),
    50,
  ),
  overhead_p50_ms: headline.saturated ? Number.NaN : headline.overhead_p50_ms,
  overhead_p99_ms: headline.saturated ? Number.NaN : headline.overhead_p99_ms,
  overhead_phase: headline.saturated ? 'none: every phase at the target rate saturated the worker' : headline.phase,
  at_target_rate: atRate,
  light_at_target_rate: light,
  at_sustainable_rate: sustainable,
  streaming,
  tracing,
};
const fmt = (n: number) => n.toFixed(2);
console.log(
  `bullmq round trip (anchor)   p50 ${fmt(result.bullmq_roundtrip_p50_ms)} ms  p99 ${fmt(result.bullmq_roundtrip_p99_ms)} ms at ${fmt(anchor.offeredRatePerS)}/s`,
);
console.log(`direct decode (no queue)     p50 ${fmt(result.direct_decode_p50_ms)} ms (max_tokens ${maxTokens})`);
for (const phase of [atRate, light, sustainable]) {
  console.log(
    `${phase.phase} (${phase.rate_per_s}/s, max_tokens ${phase.max_tokens}): offered ${fmt(phase.offered_rate_per_s)}/s, served ${fmt(phase.served_rate_per_s)}/s (${fmt(phase.served_rate_from_first_send_per_s)}/s from the first send)` +
      `${phase.saturated ? ' SATURATED (overhead is queueing)' : ''}, ${phase.succeeded}/${phase.requests} ok, host CPUs ${(phase.host_cpu_busy * 100).toFixed(0)}% busy ` +
      `(fleet and client ${fmt(phase.fleet_cores)} cores, other ${fmt(phase.other_cores)})\n` +
      `  overhead p50 ${fmt(phase.overhead_p50_ms)} ms p99 ${fmt(phase.overhead_p99_ms)} ms (${(phase.overhead_p50_ms / result.bullmq_roundtrip_p50_ms).toFixed(2)}x bullmq p50), ` +
      `vs direct decode p50 ${fmt(phase.overhead_vs_direct_p50_ms)} ms p99 ${fmt(phase.overhead_vs_direct_p99_ms)} ms; ` +
      `queue wait p50 ${fmt(phase.queue_wait_p50_ms)} ms, decode p50 ${fmt(phase.decode_p50_ms)} ms (direct ${fmt(phase.direct_decode_p50_ms)} ms, ` +
      `worker - direct p50 ${fmt(phase.decode_vs_direct_p50_ms)} ms), e2e p50 ${fmt(phase.e2e_p50_ms)} ms p99 ${fmt(phase.e2e_p99_ms)} ms\n` +
      `  overhead split p50: http ${fmt(phase.overhead_split_p50_ms.http)} ms, accept to claim ${fmt(phase.overhead_split_p50_ms.to_claim)} ms, ` +
      `claim to outcome less decode ${fmt(phase.overhead_split_p50_ms.after_claim)} ms`,
  );
}
const TARGET = { p50: 3, p99: 15 };
const verdict = (phase: typeof atRate) =>
  phase.saturated
    ? 'saturated, no verdict'
    : `${fmt(phase.overhead_p50_ms)} / ${fmt(phase.overhead_p99_ms)} ms: ${phase.overhead_p50_ms <= TARGET.p50 && phase.overhead_p99_ms <= TARGET.p99 ? 'met' : 'NOT met'}`;
console.log(
  `target overhead p50 <= ${TARGET.p50} ms, p99 <= ${TARGET.p99} ms at ${rate}/s: held-out prompts ${verdict(atRate)} ` +
    `(host CPUs ${(atRate.host_cpu_busy * 100).toFixed(0)}% busy); light requests ${verdict(light)} (host CPUs ${(light.host_cpu_busy * 100).toFixed(0)}% busy)`,
);
console.log(
  `load average before ${loadBefore.map(fmt).join(' ')}, after ${result.host.load_average_after.map(fmt).join(' ')} on ${result.host.cpus} CPUs`,
);
for (const comparison of streaming) console.log(formatStreamingComparison(comparison));
if (firstError) console.log(`first failed request: ${firstError}`);
mkdirSync(values.out!, { recursive: true });
const resultFile = `${values.out}/${fleetWorkersReport(fleetWorkers).file}`;
writeFileSync(resultFile, `${JSON.stringify(result, null, 2)}\n`);
console.log(`wrote ${resultFile}`);
