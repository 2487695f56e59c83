/**
 * `npm run bench:priority [-- --quick] [--probes 30] [--interval-ms 1500] [--backlog 300] [--max-active 16]`
 *
 * Do interactive requests stay fast while a large batch backlog is queued? In one run, through
 * one real fleet (gateway and worker processes, HTTP, Redis/BullMQ, gRPC callbacks, the
 * jsfunc-mdm model), the same probe requests (held-out prompts, default decoding) are sent open
 * loop at a low rate three times:
 * 1. idle: on an empty queue, as `interactive`;
 * 2. backlog: after `backlog` batch-priority requests were fired (not awaited), as `interactive`;
 * 3. control: after the same backlog, as `batch`, i.e. without priority over it.
 * The backlog decodes with the reference strategy (one token per step) so that it keeps one CPU
 * worker busy for longer than the probes take to send. When each probe is sent and when it
 * answers, the backlog jobs still queued (both classes' wait lists) are counted: that shows the
 * backlog really was ahead of it. The interactive phase cancels what is left of its backlog
 * (DELETE /v1/jobs/:id); the control phase lets it run, since its probes queue behind all of it.
 * Writes bench/results/priority.json.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { loadEvalTasks } from '@dfleet/eval';
import { DEFAULT_MODEL_DIR, loadModelManifest } from '@dfleet/model';
import { GENERATION_QUEUES, GenerationQueues, type PriorityClass } from '@dfleet/queue';
import { percentile } from './percentiles.ts';
import { startApp, stopApps } from './start-app.ts';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    probes: { type: 'string' },
    'interval-ms': { type: 'string' },
    backlog: { type: 'string' },
    'max-active': { type: 'string', default: '16' },
    out: { type: 'string', default: fileURLToPath(new URL('../results', import.meta.url)) },
  },
});
const probeCount = Number(values.probes ?? (values.quick ? 10 : 30));
const probeIntervalMs = Number(values['interval-ms'] ?? (values.quick ? 1_000 : 1_500));
const backlogSize = Number(values.backlog ?? (values.quick ? 150 : 300));
const maxActive = Number(values['max-active']);
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `dfleet-bench-priority-${randomUUID().slice(0, 8)}`;
const modelDir = DEFAULT_MODEL_DIR;
const modelName = (await loadModelManifest(modelDir)).name;
/** Probes decode the way an interactive client would by default. */
const probeDecoding = { strategy: 'threshold', threshold: 0.9 } as const;
/** LLaDA's reference decode: one token per forward pass, the slow, careful offline setting. */
const backlogDecoding = { strategy: 'reference' } as const;
/** Requests carry no tenant header, so they all belong to the gateway's default tenant. */
const TENANT = 'default';

const tasks = await loadEvalTasks(`${modelDir}/eval/heldout.jsonl`);
const promptAt = (i: number) => tasks[i % tasks.length]!.prompt;

/**
 * The job id the gateway gives a request with an idempotency key (README, the curl examples): known
 * before the answer, so the backlog can be counted and cancelled while it is queued. Checked
 * against the gateway's own answer on the first probe.
 */
function jobIdFor(idempotencyKey: string): string {
  return `idem-${createHash('sha256').update(`${TENANT}:${idempotencyKey}`).digest('hex').slice(0, 32)}`;
}

interface Answer {
  status: number;
  ms: number;
  id: string | null;
  queueMs: number;
  decodeMs: number;
  finishReason: string | null;
  error: string | null;
}

async function complete(prompt: string, key: string, priority: PriorityClass, decoding: object): Promise<Answer> {
  const started = performance.now();
  try {
    const response = await fetch(`${httpUrl}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: modelName, prompt, idempotency_key: key, dfleet: { ...decoding, priority } }),
      // A stuck fleet fails the run instead of hanging it.
      signal: AbortSignal.timeout(600_000),
    });
    const body = (await response.json()) as {
      id?: string;
      dfleet?: { queue_ms: number; decode_ms: number; finish_reason: string };
      error?: { code?: string; message: string };
    };
    return {
      status: response.status,
      ms: performance.now() - started,
      id: body.id ?? null,
      queueMs: body.dfleet?.queue_ms ?? Number.NaN,
      decodeMs: body.dfleet?.decode_ms ?? Number.NaN,
      finishReason: body.dfleet?.finish_reason ?? null,
      error:
        response.status === 200 ? null : `${response.status} ${body.error?.code ?? ''}: ${body.error?.message ?? ''}`,
    };
  } catch (error) {
    const failed = { id: null, queueMs: Number.NaN, decodeMs: Number.NaN, finishReason: null };
    return { status: 0, ms: performance.now() - started, ...failed, error: String(error) };
  }
}

/** Backlog job ids among the jobs no worker has claimed yet. */
async function queuedAmong(ids: ReadonlySet<string>): Promise<number> {
  const queued = await queue.getRanges(['wait']);
  return queued.filter((id) => ids.has(id)).length;
}

interface Backlog {
  /** The backlog requests that made it into Redis. */
  ids: Set<string>;
  answers: Promise<Answer[]>;
  /** Requests the gateway refused (and did not enqueue) while the backlog was fired. */
  refused: Answer[];
}

/**
 * Fires `backlogSize` batch requests without waiting for them, and returns once each one is in
 * Redis or was refused (429 or 503 under the burst): a refused one never shows up in Redis.
 */
async function fireBacklog(phase: string): Promise<Backlog> {
  const ids = Array.from({ length: backlogSize }, (_, i) => `${prefix}-${phase}-backlog-${i}`).map((key) => ({
    key,
    id: jobIdFor(key),
  }));
  const answered = new Map<string, Answer>();
  const answers = Promise.all(
    ids.map(({ key, id }, i) =>
      complete(promptAt(i + 1_000), key, 'batch', backlogDecoding).then((answer) => {
        answered.set(id, answer);
        return answer;
      }),
    ),
  );
  const firedAt = performance.now();
  for (;;) {
    const known = new Set(await queue.getRanges(['wait', 'active', 'completed', 'failed']));
    if (ids.every(({ id }) => known.has(id) || answered.has(id))) {
      const enqueued = new Set(
        ids.map(({ id }) => id).filter((id) => known.has(id) || answered.get(id)?.status === 200),
      );
      const refused = ids.filter(({ id }) => !enqueued.has(id)).map(({ id }) => answered.get(id)!);
      if (refused.length > 0) {
        process.stderr.write(
          `  the gateway refused ${refused.length} of the ${backlogSize} backlog requests, first: ${refused[0]!.error}\n`,
        );
      }
      if (enqueued.size === 0) throw new Error('no backlog request was enqueued');
      return { ids: enqueued, answers, refused };
    }
    if (performance.now() - firedAt > 120_000)
      throw new Error(`the backlog requests were neither enqueued nor answered within 120 s`);
    await sleep(100);
  }
}

interface BacklogOutcome {
  enqueued: number;
  refused: number;
  first_refusal: string | null;
  completed: number;
  cancelled: number;
  failed: number;
  /** From firing the backlog until its last request answered. */
  drainedAfterMs: number;
  /** Of the jobs that ran to the end: how long a worker slot stays taken by one backlog job. */
  decode_p50_ms: number;
}

/**
 * Cancels what is left of a backlog and waits until the worker holds none of it. Every probe has
 * answered by now, so whatever is unfinished on this private queue is backlog (including a
 * request answered 503 whose job Redis took after all).
 */
async function cancelBacklog(backlog: Backlog): Promise<BacklogOutcome> {
  const unfinished = await queue.getRanges(['wait', 'active']);
  await Promise.all(
    unfinished.map((id) => fetch(`${httpUrl}/v1/jobs/${id}`, { method: 'DELETE' }).then((response) => response.text())),
  );
  const answers = await backlog.answers;
  const drainedAfterMs = Math.max(...answers.map((a) => a.ms));
  const since = performance.now();
  for (;;) {
    const counts = await queue.getJobCounts('active', 'wait');
    if ((counts['active'] ?? 0) + (counts['wait'] ?? 0) === 0) break;
    if (performance.now() - since > 60_000)
      throw new Error(`jobs still queued or active 60 s after cancelling the backlog: ${JSON.stringify(counts)}`);
    await sleep(100);
  }
  // 409 job_cancelled for a queued job; a job stopped mid-decode answers 200, finish reason "cancelled".
  const cancelled = answers.filter((a) => a.status === 409 || a.finishReason === 'cancelled').length;
  const ran = answers.filter((a) => a.status === 200 && a.finishReason !== 'cancelled');
  return {
    enqueued: backlog.ids.size,
    refused: backlog.refused.length,
    first_refusal: backlog.refused[0]?.error ?? null,
    completed: ran.length,
    cancelled,
    failed: answers.length - ran.length - cancelled - backlog.refused.length,
    drainedAfterMs,
    decode_p50_ms: percentile(
      ran.map((a) => a.decodeMs),
      50,
    ),
  };
}

interface ProbeSample {
  i: number;
  sent_at_ms: number;
  status: number;
  latency_ms: number;
  queue_ms: number;
  decode_ms: number;
  backlog_queued_at_send: number | null;
  backlog_queued_at_finish: number | null;
}

let firstError: string | undefined;

/** Sends the probes open loop (a slow answer does not delay the next send) at the probe interval. */
async function sendProbes(phase: string, priority: PriorityClass, backlog: Backlog | null): Promise<ProbeSample[]> {
  const started = performance.now();
  const pending: Promise<ProbeSample>[] = [];
  for (let i = 0; i < probeCount; i++) {
    const wait = started + i * probeIntervalMs - performance.now();
    if (wait > 0) await sleep(wait);
    const key = `${prefix}-${phase}-probe-${i}`;
    const queuedAtSend = backlog ? await queuedAmong(backlog.ids) : null;
    const sentAt = performance.now() - started;
    pending.push(
      complete(promptAt(i), key, priority, probeDecoding).then(async (answer) => {
        if (answer.error !== null) firstError ??= `${phase} probe ${i}: ${answer.error}`;
        if (answer.status === 200 && answer.id !== jobIdFor(key)) {
          throw new Error(
            `the gateway named job ${answer.id} for idempotency key ${key}, not ${jobIdFor(key)}: the id rule in jobIdFor is out of date`,
          );
        }
        return {
          i,
          sent_at_ms: Math.round(sentAt),
          status: answer.status,
          latency_ms: answer.ms,
          queue_ms: answer.queueMs,
          decode_ms: answer.decodeMs,
          backlog_queued_at_send: queuedAtSend,
          backlog_queued_at_finish: backlog ? await queuedAmong(backlog.ids) : null,
        };
      }),
    );
  }
  return Promise.all(pending);
}

function summarize(phase: string, priority: PriorityClass, samples: ProbeSample[]) {
  const ok = samples.filter((s) => s.status === 200);
  const queuedAtSend = samples.map((s) => s.backlog_queued_at_send).filter((n) => n !== null);
  const queuedAtFinish = samples.map((s) => s.backlog_queued_at_finish).filter((n) => n !== null);
  return {
    phase,
    probe_priority: priority,
    probes: samples.length,
    succeeded: ok.length,
    latency_p50_ms: percentile(
      ok.map((s) => s.latency_ms),
      50,
    ),
    latency_p99_ms: percentile(
      ok.map((s) => s.latency_ms),
      99,
    ),
    queue_wait_p50_ms: percentile(
      ok.map((s) => s.queue_ms),
      50,
    ),
    decode_p50_ms: percentile(
      ok.map((s) => s.decode_ms),
      50,
    ),
    backlog_queued_at_send_min: queuedAtSend.length ? Math.min(...queuedAtSend) : null,
    backlog_queued_at_finish_min: queuedAtFinish.length ? Math.min(...queuedAtFinish) : null,
    backlog_queued_at_finish_max: queuedAtFinish.length ? Math.max(...queuedAtFinish) : null,
    loadavg_at_end: loadavg().map((n) => Number(n.toFixed(2))),
    samples,
  };
}

const fleetEnv = {
  REDIS_URL: redisUrl,
  DFLEET_REDIS_PREFIX: prefix,
  DFLEET_MODEL_DIR: modelDir,
  DFLEET_PORT: '0',
  DFLEET_GRPC_PORT: '0',
  DFLEET_CALLBACK_PORT: '0',
  DFLEET_MAX_ACTIVE_JOBS: String(maxActive),
  // A control probe waits for the whole backlog; the default 120 s would answer it 504.
  DFLEET_REQUEST_TIMEOUT_MS: '600000',
};
const queue = new GenerationQueues({ connection: { url: redisUrl, maxRetriesPerRequest: null }, prefix });
const loadAtStart = loadavg();
process.stderr.write(
  `starting a fleet on prefix ${prefix} (load ${loadAtStart.map((n) => n.toFixed(2)).join(' ')}, ${cpus().length} CPUs)\n`,
);
const gateway = await startApp('../../apps/gateway/src/main.ts', fleetEnv, /^gateway listening on (http:\/\/\S+)/);
const worker = await startApp('../../apps/worker/src/main.ts', fleetEnv, /^worker ready/);
const httpUrl = gateway.match[1]!;

type PhaseSummary = ReturnType<typeof summarize>;
let idle: PhaseSummary;
let withBacklog: PhaseSummary & { backlog: BacklogOutcome };
let control: PhaseSummary & { backlog: BacklogOutcome };
const seconds = (ms: number) => (ms / 1000).toFixed(1);
try {
  // Warm-up: onnxruntime sessions, connections, JIT; not measured.
  await Promise.all(
    [0, 1, 2, 3].map((i) => complete(promptAt(i), `${prefix}-warmup-${i}`, 'interactive', probeDecoding)),
  );

  process.stderr.write(`idle: ${probeCount} interactive probes, one every ${probeIntervalMs} ms...\n`);
  idle = summarize('idle', 'interactive', await sendProbes('idle', 'interactive', null));

  process.stderr.write(`backlog: ${backlogSize} batch requests, then ${probeCount} interactive probes...\n`);
  let backlog = await fireBacklog('priority');
  const interactive = summarize('backlog', 'interactive', await sendProbes('backlog', 'interactive', backlog));
  withBacklog = { ...interactive, backlog: await cancelBacklog(backlog) };
  process.stderr.write(
    `  cancelled ${withBacklog.backlog.cancelled} of the backlog after ${seconds(withBacklog.backlog.drainedAfterMs)} s\n`,
  );

  process.stderr.write(`control: ${backlogSize} batch requests, then ${probeCount} probes sent as batch...\n`);
  backlog = await fireBacklog('control');
  const asBatch = summarize('control', 'batch', await sendProbes('control', 'batch', backlog));
  // Not cancelled: the last batch-priority probes share the worker with the last of the backlog.
  await backlog.answers;
  control = { ...asBatch, backlog: await cancelBacklog(backlog) };
  process.stderr.write(`  the backlog finished after ${seconds(control.backlog.drainedAfterMs)} s\n`);
} finally {
  await stopApps([worker, gateway]);
  await queue.obliterate().catch(() => undefined);
  await queue.close();
  // Keys outside the queue (heartbeats, cancel marks, tenant counts) share the prefix.
  const redis = new Redis(redisUrl);
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
}

const summary = {
  idle_p50_ms: idle.latency_p50_ms,
  idle_p99_ms: idle.latency_p99_ms,
  interactive_with_backlog_p50_ms: withBacklog.latency_p50_ms,
  interactive_with_backlog_p99_ms: withBacklog.latency_p99_ms,
  control_p50_ms: control.latency_p50_ms,
  control_p99_ms: control.latency_p99_ms,
  /** What a backlog costs an interactive request despite its priority (it shares the batch). */
  interactive_with_backlog_over_idle_p50: withBacklog.latency_p50_ms / idle.latency_p50_ms,
  /** What priority buys: the same request sent without it, over the same backlog. */
  control_over_interactive_p50: control.latency_p50_ms / withBacklog.latency_p50_ms,
  control_over_interactive_p99: control.latency_p99_ms / withBacklog.latency_p99_ms,
  /** Fewest backlog jobs still queued when an interactive probe answered: > 0 means it jumped the queue. */
  backlog_queued_at_interactive_finish_min: withBacklog.backlog_queued_at_finish_min,
  backlog_queued_at_control_send_min: control.backlog_queued_at_send_min,
  /** How long one backlog job holds a worker slot: what an interactive job can wait for a free one. */
  backlog_job_decode_p50_ms: control.backlog.decode_p50_ms,
  backlog_jobs_per_s: control.backlog.completed / (control.backlog.drainedAfterMs / 1000),
  parameters: {
    model: modelName,
    probes: probeCount,
    probe_interval_ms: probeIntervalMs,
    probe_decoding: probeDecoding,
    backlog: backlogSize,
    backlog_decoding: backlogDecoding,
    max_active_jobs: maxActive,
    queues: GENERATION_QUEUES,
    quick: values.quick,
    cpus: cpus().length,
    loadavg_at_start: loadAtStart.map((n) => Number(n.toFixed(2))),
    loadavg_at_end: loadavg().map((n) => Number(n.toFixed(2))),
  },
};

const fmt = (n: number) => n.toFixed(0);
const table = [
  ['phase', 'probes as', 'ok', 'p50 ms', 'p99 ms', 'queue p50', 'decode p50', 'backlog queued at send', 'at finish'],
  ...[idle, withBacklog, control].map((p) => [
    p.phase,
    p.probe_priority,
    `${p.succeeded}/${p.probes}`,
    fmt(p.latency_p50_ms),
    fmt(p.latency_p99_ms),
    fmt(p.queue_wait_p50_ms),
    fmt(p.decode_p50_ms),
    p.backlog_queued_at_send_min === null ? '-' : `>= ${p.backlog_queued_at_send_min}`,
    p.backlog_queued_at_finish_min === null
      ? '-'
      : `${p.backlog_queued_at_finish_min}..${p.backlog_queued_at_finish_max}`,
  ]),
];
const widths = table[0]!.map((_, col) => Math.max(...table.map((row) => row[col]!.length)));
for (const row of table) console.log(row.map((cell, col) => cell.padStart(widths[col]!)).join('  '));
console.log(
  `\ninteractive with backlog / idle: p50 x${summary.interactive_with_backlog_over_idle_p50.toFixed(2)}` +
    `\ncontrol (no priority) / interactive with backlog: p50 x${summary.control_over_interactive_p50.toFixed(1)}, p99 x${summary.control_over_interactive_p99.toFixed(1)}`,
);
for (const { phase, backlog } of [withBacklog, control]) {
  if (backlog.refused > 0)
    console.log(
      `${phase}: the gateway refused ${backlog.refused} of ${backlogSize} backlog requests (${backlog.first_refusal})`,
    );
}
console.log(
  `backlog: ${withBacklog.backlog.completed} done, ${withBacklog.backlog.cancelled} cancelled in the interactive phase; ` +
    `${control.backlog.completed} done in ${seconds(control.backlog.drainedAfterMs)} s in the control phase ` +
    `(${summary.backlog_jobs_per_s.toFixed(1)} jobs/s, each holding a worker slot for ${fmt(summary.backlog_job_decode_p50_ms)} ms p50)`,
);
if (withBacklog.backlog_queued_at_finish_min === 0 || control.backlog_queued_at_send_min === 0) {
  console.log('warning: the backlog had drained before some probes were sent or answered; raise --backlog');
}
if (firstError) console.log(`first failed request: ${firstError}`);

mkdirSync(values.out, { recursive: true });
const outFile = `${values.out}/priority.json`;
writeFileSync(
  outFile,
  `${JSON.stringify({ measured_at: new Date().toISOString(), summary, idle, with_backlog: withBacklog, control }, null, 2)}\n`,
);
console.log(`wrote ${outFile}`);
