/**
 * `npm run bench:batch-api [-- --lines 10000] [--concurrency 32] [--max-tokens 48] [--threshold 0.9]
 *   [--probe-interval-ms 1000] [--idle-probes 30] [--workers onnx|simulated] [--pass-ms 20]
 *   [--tokens-per-step 4] [--answer-tokens 16] [--interactive-extra-jobs N] [--quick]`
 *
 * Does the Batch API serve a batch as fast as a client that holds 32 requests open, and do
 * interactive requests stay fast meanwhile? In one run, on one fleet (its own redis-server, as
 * bench:scale, so nothing else shares it; one gateway process and one worker process: the shipped
 * model on this host's CPUs, or with `--workers simulated` the worker with a SimulatedDenoiser,
 * which leaves the CPUs to the fleet as a GPU worker would), the same `--lines` completion bodies
 * (held-out prompts, `threshold` decoding, temperature 0) go through the fleet twice:
 * 1. direct: POST /v1/completions, `--concurrency` in flight at all times over keep-alive
 *    connections (bench/src/keep-alive-client.ts), as a client pipeline would send them;
 * 2. batch: one JSONL file through the official `openai` client (files.create, batches.create,
 *    batches.retrieve every 250 ms until final, files.content of the output and error files).
 * Throughput is lines/s over the client's whole wall time: the first request until the last
 * answer, and the upload until the output file is read. Both answer with the text of each line;
 * the run counts how many are the same (temperature 0: they should all be).
 *
 * Interactive p50: probes (another held-out prompt each, interactive priority, the same decoding)
 * sent open loop one every `--probe-interval-ms`, first on the idle fleet (`--idle-probes`), then
 * while each path runs (the same probe load on both, so the throughputs compare like with like);
 * a probe counts if it was answered while its path was still running. Targets: batch / direct
 * lines/s ≥ 0.95, interactive p50 during the batch ≤ 2x idle. Writes bench/results/batch-api.json (`batch-api-simulated.json` for `--workers simulated`).
 *
 * The direct lines are interactive requests, which may take the worker's extra interactive slots
 * (DFLEET_INTERACTIVE_EXTRA_JOBS, 2 beside the 16 regular ones); batch lines may not. Where a pass
 * costs the same at any batch size (a GPU, the simulated worker) that alone caps the ratio at
 * 16 / 18. `--interactive-extra-jobs N` runs the worker with N extra slots (the file name then ends
 * in `-extra-N`), to measure the two paths on the same slots.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import OpenAI, { toFile } from 'openai';
import { z } from 'zod';
import { loadEvalTasks } from '@dfleet/eval';
import { freePort, startRedisServer } from '@dfleet/local-processes';
import { DEFAULT_MODEL_DIR, loadModelManifest } from '@dfleet/model';
import { FLEET_WORKER_OPTIONS, fleetWorkersFrom, startFleetWorker } from './fleet-workers.ts';
import { KeepAliveClient } from './keep-alive-client.ts';
import { percentile } from './percentiles.ts';
import { startApp, stopApps } from './start-app.ts';

const count = z.coerce.number().int().positive();
const optionsSchema = z.object({
  quick: z.boolean().default(false),
  lines: count.max(50_000).optional(),
  concurrency: count.max(1_024).default(32),
  'max-tokens': count.max(4_096).default(48),
  threshold: z.coerce.number().gt(0).lt(1).default(0.9),
  'probe-interval-ms': count.default(1_000),
  'idle-probes': count.optional(),
  'interactive-extra-jobs': z.coerce.number().int().min(0).max(64).optional(),
  out: z.string().default(fileURLToPath(new URL('../results', import.meta.url))),
});
const { values } = parseArgs({
  options: {
    ...FLEET_WORKER_OPTIONS,
    quick: { type: 'boolean', default: false },
    lines: { type: 'string' },
    concurrency: { type: 'string' },
    'max-tokens': { type: 'string' },
    threshold: { type: 'string' },
    'probe-interval-ms': { type: 'string' },
    'idle-probes': { type: 'string' },
    'interactive-extra-jobs': { type: 'string' },
    out: { type: 'string' },
  },
});
const parsed = optionsSchema.safeParse(values);
if (!parsed.success) {
  const problems = parsed.error.issues.map((issue) => `--${issue.path.join('.')}: ${issue.message}`);
  process.stderr.write(`bench:batch-api: ${problems.join('; ')}\n`);
  process.exit(1);
}
const options = parsed.data;
const workers = fleetWorkersFrom(values);
const lineCount = options.lines ?? (options.quick ? 500 : 10_000);
const idleProbeCount = options['idle-probes'] ?? (options.quick ? 10 : 30);
const extraJobs = options['interactive-extra-jobs'];
const log = (line: string) => process.stderr.write(`${line}\n`);

const modelDir = DEFAULT_MODEL_DIR;
const modelName = (await loadModelManifest(modelDir)).name;
const tasks = await loadEvalTasks(`${modelDir}/eval/heldout.jsonl`);
const decoding = { strategy: 'threshold', threshold: options.threshold } as const;
const lineBody = (i: number) => ({
  model: modelName,
  prompt: tasks[i % tasks.length]!.prompt,
  max_tokens: options['max-tokens'],
  temperature: 0,
  dfleet: decoding,
});
const probeBody = (i: number) => lineBody(tasks.length - 1 - (i % tasks.length));
const customId = (i: number) => `line-${i}`;

interface CompletionBody {
  choices?: { text: string }[];
  usage?: { completion_tokens: number; nfe?: number };
  /** The fleet's own timing of the job: waiting for a worker slot, then decoding. */
  dfleet?: { queue_ms: number; decode_ms: number };
  error?: { code?: string; message?: string };
}

const textOf = (body: CompletionBody | undefined): string | undefined => body?.choices?.[0]?.text;

const loadAtStart = loadavg();
const redisDir = await mkdtemp(join(tmpdir(), 'dfleet-batch-api-redis-'));
const redisServer = await startRedisServer({ port: await freePort(), dir: redisDir });
const fleetEnv = {
  REDIS_URL: redisServer.url,
  DFLEET_REDIS_PREFIX: `dfleet-bench-batch-api-${randomUUID().slice(0, 8)}`,
  DFLEET_MODEL_DIR: modelDir,
  DFLEET_PORT: '0',
  DFLEET_GRPC_PORT: '0',
  DFLEET_CALLBACK_PORT: '0',
  ...(extraJobs === undefined ? {} : { DFLEET_INTERACTIVE_EXTRA_JOBS: String(extraJobs) }),
};
log(
  `starting a gateway and a ${workers.kind} worker on ${redisServer.url} ` +
    `(load ${loadAtStart.map((n) => n.toFixed(2)).join(' ')}, ${cpus().length} CPUs)`,
);
const gateway = await startApp('../../apps/gateway/src/main.ts', fleetEnv, /^gateway listening on (http:\/\/\S+)/);
const worker = await startFleetWorker(workers, fleetEnv);
const httpUrl = gateway.match[1]!;
const client = new KeepAliveClient();
const openai = new OpenAI({ baseURL: `${httpUrl}/v1`, apiKey: 'dfleet-bench', maxRetries: 0, timeout: 600_000 });

async function complete(body: object): Promise<{ status: number; ms: number; body: CompletionBody }> {
  const started = performance.now();
  try {
    const answer = await client.post(`${httpUrl}/v1/completions`, JSON.stringify(body));
    return { status: answer.status, ms: performance.now() - started, body: JSON.parse(answer.body) as CompletionBody };
  } catch (error) {
    return { status: 0, ms: performance.now() - started, body: { error: { message: String(error) } } };
  }
}

interface Probe {
  sentAt: number;
  answeredAt: number;
  status: number;
  ms: number;
  queueMs: number;
  decodeMs: number;
  nfe: number;
}

/** Sends probes open loop, one every interval, until `until()` says stop or `max` were sent. */
async function probeWhile(until: () => boolean, max = Number.POSITIVE_INFINITY): Promise<Probe[]> {
  const started = performance.now();
  const pending: Promise<Probe>[] = [];
  for (let i = 0; i < max && !until(); i++) {
    const wait = started + i * options['probe-interval-ms'] - performance.now();
    if (wait > 0) await sleep(wait);
    if (until()) break;
    const sentAt = performance.now();
    pending.push(
      complete(probeBody(i)).then((a) => ({
        sentAt,
        answeredAt: performance.now(),
        status: a.status,
        ms: a.ms,
        queueMs: a.body.dfleet?.queue_ms ?? Number.NaN,
        decodeMs: a.body.dfleet?.decode_ms ?? Number.NaN,
        nfe: a.body.usage?.nfe ?? Number.NaN,
      })),
    );
  }
  return Promise.all(pending);
}

function latency(probes: readonly Probe[]) {
  const ok = probes.filter((p) => p.status === 200);
  const p50 = (of: (p: Probe) => number) => percentile(ok.map(of), 50);
  return {
    probes: probes.length,
    succeeded: ok.length,
    p50_ms: p50((p) => p.ms),
    p99_ms: percentile(
      ok.map((p) => p.ms),
      99,
    ),
    // Where a probe's time goes: waiting for a slot, decoding (its passes share the batch), the rest.
    queue_p50_ms: p50((p) => p.queueMs),
    decode_p50_ms: p50((p) => p.decodeMs),
    nfe_p50: p50((p) => p.nfe),
    ms_per_pass_p50: p50((p) => p.decodeMs / p.nfe),
  };
}

/** The direct client: `concurrency` requests in flight until every line has answered, with probes meanwhile. */
async function runDirect() {
  const texts: (string | undefined)[] = new Array(lineCount);
  const failed: string[] = [];
  let tokens = 0;
  let next = 0;
  const started = performance.now();
  let finished = false;
  const probes = probeWhile(() => finished);
  await Promise.all(
    Array.from({ length: options.concurrency }, async () => {
      for (let i = next++; i < lineCount; i = next++) {
        const answer = await complete(lineBody(i));
        if (answer.status !== 200) failed.push(`${customId(i)}: ${answer.status} ${JSON.stringify(answer.body.error)}`);
        texts[i] = textOf(answer.body);
        tokens += answer.body.usage?.completion_tokens ?? 0;
      }
    }),
  );
  const finishedAt = performance.now();
  finished = true;
  const sent = await probes;
  return {
    seconds: (finishedAt - started) / 1000,
    texts,
    tokens,
    failed,
    probes: sent.filter((p) => p.answeredAt <= finishedAt),
  };
}

interface OutputLine {
  custom_id: string;
  response: { status_code: number; body: CompletionBody } | null;
  error: { code?: string; message?: string } | null;
}

const FINAL = new Set(['completed', 'failed', 'expired', 'cancelled']);

/** One batch through the openai client, with probes sent while it runs. */
async function runBatch() {
  const jsonl = Array.from({ length: lineCount }, (_, i) =>
    JSON.stringify({ custom_id: customId(i), method: 'POST', url: '/v1/completions', body: lineBody(i) }),
  ).join('\n');
  const started = performance.now();
  const file = await openai.files.create({
    file: await toFile(Buffer.from(`${jsonl}\n`), 'bench-batch-api.jsonl'),
    purpose: 'batch',
  });
  const uploadedAt = performance.now();
  let batch = await openai.batches.create({
    input_file_id: file.id,
    endpoint: '/v1/completions',
    completion_window: '24h',
  });
  let finished = false;
  const probes = probeWhile(() => finished);
  let lastReport = performance.now();
  while (!FINAL.has(batch.status)) {
    await sleep(250);
    batch = await openai.batches.retrieve(batch.id);
    if (performance.now() - lastReport > 10_000) {
      lastReport = performance.now();
      const counts = batch.request_counts;
      log(
        `  batch ${batch.status}: ${counts?.completed ?? 0} completed, ${counts?.failed ?? 0} failed of ${lineCount}`,
      );
    }
  }
  const finishedAt = performance.now();
  finished = true;
  const lines: OutputLine[] = [];
  for (const id of [batch.output_file_id, batch.error_file_id]) {
    if (!id) continue;
    const text = await (await openai.files.content(id)).text();
    for (const line of text.split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as OutputLine);
  }
  const readAt = performance.now();
  const sent = await probes;
  return {
    status: batch.status,
    request_counts: batch.request_counts ?? null,
    upload_seconds: (uploadedAt - started) / 1000,
    create_to_final_seconds: (finishedAt - uploadedAt) / 1000,
    seconds: (readAt - started) / 1000,
    lines,
    // A probe answered after the batch ended saw an idle fleet for part of its life.
    probes: sent.filter((p) => p.answeredAt <= finishedAt),
  };
}

async function measure() {
  log('warm-up (sessions, connections, JIT; not measured)...');
  await Promise.all(Array.from({ length: 8 }, (_, i) => complete(probeBody(i + 100))));

  log(`idle: ${idleProbeCount} interactive probes, one every ${options['probe-interval-ms']} ms...`);
  const idle = latency(await probeWhile(() => false, idleProbeCount));

  log(`direct: ${lineCount} completions at concurrency ${options.concurrency}...`);
  const direct = await runDirect();
  log(`  ${direct.seconds.toFixed(1)} s, ${(lineCount / direct.seconds).toFixed(1)} lines/s`);

  log(`batch: the same ${lineCount} lines through the Batch API, probes every ${options['probe-interval-ms']} ms...`);
  const batch = await runBatch();
  log(`  ${batch.status} in ${batch.seconds.toFixed(1)} s, ${(lineCount / batch.seconds).toFixed(1)} lines/s`);

  const seen = new Map<string, number>();
  let batchTokens = 0;
  let same = 0;
  let different = 0;
  const failedLines: string[] = [];
  for (const line of batch.lines) {
    seen.set(line.custom_id, (seen.get(line.custom_id) ?? 0) + 1);
    const body = line.response?.body;
    if (line.response?.status_code !== 200 || line.error) {
      failedLines.push(`${line.custom_id}: ${line.response?.status_code} ${JSON.stringify(line.error ?? body?.error)}`);
      continue;
    }
    batchTokens += body?.usage?.completion_tokens ?? 0;
    const i = Number(line.custom_id.slice('line-'.length));
    if (textOf(body) === direct.texts[i]) same++;
    else different++;
  }
  const missing = Array.from({ length: lineCount }, (_, i) => customId(i)).filter((id) => !seen.has(id));
  const repeated = [...seen].filter(([, n]) => n > 1).map(([id]) => id);

  const during = latency(batch.probes);
  const directPerS = lineCount / direct.seconds;
  const batchPerS = lineCount / batch.seconds;
  return {
    measured_at: new Date().toISOString(),
    summary: {
      direct_lines_per_s: directPerS,
      batch_lines_per_s: batchPerS,
      throughput_ratio: batchPerS / directPerS,
      throughput_target: 0.95,
      interactive_idle_p50_ms: idle.p50_ms,
      interactive_during_batch_p50_ms: during.p50_ms,
      interactive_p50_ratio: during.p50_ms / idle.p50_ms,
      interactive_p50_target: 2,
      interactive_during_direct_p50_ms: direct.probes.length ? latency(direct.probes).p50_ms : null,
      lines_same_text_as_direct: same,
      lines_different_text: different,
    },
    parameters: {
      model: modelName,
      workers: workers.kind === 'onnx' ? { kind: 'onnx' } : { kind: 'simulated', ...workers.settings },
      lines: lineCount,
      concurrency: options.concurrency,
      max_tokens: options['max-tokens'],
      decoding,
      probe_interval_ms: options['probe-interval-ms'],
      interactive_extra_jobs: extraJobs ?? process.env.DFLEET_INTERACTIVE_EXTRA_JOBS ?? 'worker default (2)',
      cpus: cpus().length,
      loadavg_at_start: loadAtStart.map((n) => Number(n.toFixed(2))),
      loadavg_at_end: loadavg().map((n) => Number(n.toFixed(2))),
    },
    idle,
    direct: {
      seconds: direct.seconds,
      lines_per_s: directPerS,
      completion_tokens_per_s: direct.tokens / direct.seconds,
      failed: direct.failed.length,
      first_failures: direct.failed.slice(0, 5),
      interactive_probes: latency(direct.probes),
    },
    batch: {
      status: batch.status,
      request_counts: batch.request_counts,
      seconds: batch.seconds,
      upload_seconds: batch.upload_seconds,
      create_to_final_seconds: batch.create_to_final_seconds,
      lines_per_s: batchPerS,
      completion_tokens_per_s: batchTokens / batch.seconds,
      output_and_error_lines: batch.lines.length,
      missing_custom_ids: missing.length,
      repeated_custom_ids: repeated.length,
      failed: failedLines.length,
      first_failures: failedLines.slice(0, 5),
      interactive_probes: during,
    },
  };
}

let report: Awaited<ReturnType<typeof measure>>;
try {
  report = await measure();
} finally {
  client.close();
  await stopApps([worker, gateway]);
  await redisServer.stop();
  await rm(redisDir, { recursive: true, force: true });
}

const { summary: s, direct: d, batch: b, idle: idleLatency } = report;
const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '-');
type Latency = ReturnType<typeof latency>;
const probeCells = (l: Latency) => [
  fmt(l.p50_ms, 0),
  fmt(l.p99_ms, 0),
  fmt(l.queue_p50_ms, 0),
  fmt(l.decode_p50_ms, 0),
  fmt(l.ms_per_pass_p50, 0),
  `${l.succeeded}/${l.probes}`,
];
const pathCells = (p: { lines_per_s: number; completion_tokens_per_s: number; seconds: number; failed: number }) => [
  fmt(p.lines_per_s),
  fmt(p.completion_tokens_per_s),
  fmt(p.seconds),
  String(p.failed),
];
const table = [
  [
    'path',
    'lines/s',
    'tokens/s',
    'wall s',
    'failed',
    'interactive p50 ms',
    'p99 ms',
    'queue p50',
    'decode p50',
    'ms/pass',
    'probes',
  ],
  ['idle', '-', '-', '-', '-', ...probeCells(idleLatency)],
  ['direct', ...pathCells(d), ...probeCells(d.interactive_probes)],
  ['batch', ...pathCells(b), ...probeCells(b.interactive_probes)],
];
const widths = table[0]!.map((_, col) => Math.max(...table.map((row) => row[col]!.length)));
for (const row of table) console.log(row.map((cell, col) => cell.padStart(widths[col]!)).join('  '));
const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');
console.log(
  `\nthroughput batch / direct: x${fmt(s.throughput_ratio, 3)} (target >= 0.95: ${verdict(s.throughput_ratio >= 0.95)})` +
    `\ninteractive p50 during the batch / idle: x${fmt(s.interactive_p50_ratio, 2)} (target <= 2: ${verdict(s.interactive_p50_ratio <= 2)})` +
    `\nbatch: ${b.output_and_error_lines} output + error lines, ${b.missing_custom_ids} custom_ids missing, ${b.repeated_custom_ids} repeated; ` +
    `${s.lines_same_text_as_direct} lines the same text as direct, ${s.lines_different_text} different` +
    `\nbatch wall time: upload ${fmt(b.upload_seconds)} s, create to final ${fmt(b.create_to_final_seconds)} s`,
);
mkdirSync(options.out, { recursive: true });
const outFile = `${options.out}/${workers.kind === 'onnx' ? 'batch-api' : 'batch-api-simulated'}${
  extraJobs === undefined ? '' : `-extra-${extraJobs}`
}.json`;
writeFileSync(outFile, `${JSON.stringify(report, null, 2)}\n`);
console.log(`wrote ${outFile}`);
