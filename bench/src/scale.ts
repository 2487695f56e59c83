/**
 * `npm run bench:scale [-- --workers 1,8,32,64 --gateways 2 --slots 1 --pass-ms 200
 *   --tokens-per-step 2 --answer-tokens 15 --seconds 10 --warmup-seconds 4 --idle-seconds 3 --backlog 0.5 --nice 10]`
 *
 * How the fleet scales out, with the GPU taken out of the picture: 1, 8, 32 and 64 worker
 * processes (`--workers`), each a real worker (BullMQ, step scheduler, gRPC callbacks,
 * heartbeats) whose model is a SimulatedDenoiser (`apps/worker/bench/simulated-gpu-main.ts`,
 * bundled once so each process runs without tsx): every forward pass takes `--pass-ms` on a
 * timer whatever the batch, every job answers `--answer-tokens` tokens and eos at
 * `--tokens-per-step` a pass. So one worker finishes at most `--slots` jobs every
 * ceil((answer + 1) / tokens per step) passes, its `ideal_per_s`, and the fleet's job is to keep
 * every worker at that rate. One redis-server of the run's own (AOF on, noeviction, as the fleet
 * wants; its own so INFO counts nothing else), `--gateways` gateway processes, and this process
 * as the client: a closed loop of ceil(workers × slots × (1 + backlog)) requests in flight
 * (held-out prompts, /v1/completions, keep-alive), round robin over the gateways, so jobs always
 * wait in the queue and every worker is saturated.
 *
 * Workers are added level by level (the 8 include the first one). Per level: an idle window
 * (what the started workers cost Redis doing nothing: heartbeats, cancel polls, blocking
 * fetches), then load, `--warmup-seconds` unmeasured, then a `--seconds` window in which it
 * counts the answers, Redis commands (INFO commandstats deltas, the commands scripts run
 * included) and Redis CPU (INFO cpu, used_cpu_user + used_cpu_sys), and the CPU of the gateway,
 * worker and client processes (/proc/<pid>/stat utime + stime), each per job. Throughput against
 * linear = jobs/s at N workers / (N × jobs/s at 1 worker measured in the same run):
 * `efficiency_<N>`. Where one Redis tops out: 1000 ms / Redis CPU ms per job, the rate at which its
 * one main thread would be busy all the time (an upper bound: latency grows before that).
 *
 * The defaults (8 passes of 200 ms a job, one slot: 0.625 jobs/s a worker, 40 jobs/s at 64)
 * keep 64 workers within what a 2-core host runs next to its gateways, Redis and client. What
 * the fleet costs grows with jobs/s (submit, claim, complete, result), forward passes/s (the
 * scheduler's step) and jobs in flight (a progress callback every 100 ms each, cancel polls), so a
 * bigger host reruns it with more of each, e.g. `--pass-ms 20 --slots 16 --answer-tokens 63`.
 *
 * Workers run at `--nice` 10: the host's scheduler shares the CPUs per process, so 64 workers
 * at the gateways' priority would get 32 times the two gateways' CPU and starve them, which no
 * fleet does (its workers have GPU hosts of their own). Everything still shares this host's CPUs: a level whose processes keep them busy (`host_cpu_busy`
 * near 1) measures the host as much as the fleet, and the per-job CPU figures say which part
 * would need more. Writes bench/results/scale.json.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { loadEvalTasks } from '@dfleet/eval';
import { freePort, startRedisServer, type ManagedProcess } from '@dfleet/local-processes';
import { DEFAULT_MODEL_DIR, loadModelManifest } from '@dfleet/model';
import { KeepAliveClient } from './keep-alive-client.ts';
import { percentile } from './percentiles.ts';
import { hostCpuTicks, processRssMb, totalCpuMs } from './process-cpu.ts';
import { readRedisCounters, redisDelta, type RedisCounters } from './redis-stats.ts';
import { bundleSimulatedWorker, startSimulatedWorker } from './simulated-worker.ts';
import { startApp } from './start-app.ts';

const count = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const optionsSchema = z.object({
  workers: z
    .string()
    .default('1,8,32,64')
    .transform((list) => list.split(',').map(Number))
    .pipe(z.array(z.number().int().positive().max(1_024)).min(1)),
  gateways: count(2),
  slots: count(1),
  'pass-ms': z.coerce.number().positive().default(200),
  'tokens-per-step': count(2),
  'answer-tokens': count(15),
  seconds: z.coerce.number().positive().default(10),
  'warmup-seconds': z.coerce.number().nonnegative().default(4),
  'idle-seconds': z.coerce.number().nonnegative().default(3),
  backlog: z.coerce.number().nonnegative().default(0.5),
  nice: z.coerce.number().int().min(0).max(19).default(10),
  out: z.string().default(fileURLToPath(new URL('../results', import.meta.url))),
});
const { values: raw } = parseArgs({
  options: Object.fromEntries(Object.keys(optionsSchema.shape).map((name) => [name, { type: 'string' as const }])),
});
const parsed = optionsSchema.safeParse(raw);
if (!parsed.success) {
  const problems = parsed.error.issues.map((issue) => `--${issue.path.join('.')}: ${issue.message}`);
  process.stderr.write(`bench:scale: ${problems.join('; ')}\n`);
  process.exit(1);
}
const options = parsed.data;
const levels = [...new Set(options.workers)].sort((a, b) => a - b);
const simulated = {
  passMs: options['pass-ms'],
  tokensPerStep: options['tokens-per-step'],
  answerTokens: options['answer-tokens'],
};
const passesPerJob = Math.ceil((simulated.answerTokens + 1) / simulated.tokensPerStep);
/** What one worker would finish with no fleet around it: every slot busy, every pass on time. */
const idealPerWorker = (options.slots * 1000) / (passesPerJob * simulated.passMs);
const modelDir = DEFAULT_MODEL_DIR;
const modelName = (await loadModelManifest(modelDir)).name;
const prompts = (await loadEvalTasks(`${modelDir}/eval/heldout.jsonl`)).map((task) => task.prompt);
const log = (line: string) => process.stderr.write(`${line}\n`);

interface Answer {
  doneAt: number;
  e2eMs: number;
  status: number;
  queueMs: number;
  decodeMs: number;
  completionTokens: number;
  workerId: string;
}

/** Counters of everything that works for the fleet, read at one instant. */
interface Snapshot {
  at: number;
  redis: RedisCounters;
  gatewayCpuMs: number;
  workerCpuMs: number;
  clientCpuMs: number;
  host: ReturnType<typeof hostCpuTicks>;
}

const loadBefore = loadavg();
log('bundling the simulated worker...');
const bundle = await bundleSimulatedWorker();
const redisDir = await mkdtemp(join(tmpdir(), 'dfleet-scale-redis-'));
const redisServer = await startRedisServer({ port: await freePort(), dir: redisDir });
const redis = new Redis(redisServer.url);
const fleetEnv = {
  REDIS_URL: redisServer.url,
  DFLEET_REDIS_PREFIX: `dfleet-scale-${randomUUID().slice(0, 8)}`,
  DFLEET_MODEL_DIR: modelDir,
  DFLEET_PORT: '0',
  DFLEET_GRPC_PORT: '0',
  DFLEET_CALLBACK_PORT: '0',
  DFLEET_MAX_ACTIVE_JOBS: String(options.slots),
  // Regular slots only, so a worker's capacity is exactly --slots.
  DFLEET_INTERACTIVE_EXTRA_JOBS: '0',
};
const client = new KeepAliveClient();
const gateways: { pid: number; url: string; stop: () => void }[] = [];
const workers: ManagedProcess[] = [];
const results: ReturnType<typeof summarize>[] = [];

async function snapshot(): Promise<Snapshot> {
  const cpu = process.cpuUsage();
  return {
    at: performance.now(),
    redis: await readRedisCounters(redis),
    gatewayCpuMs: totalCpuMs(gateways.map((g) => g.pid)),
    workerCpuMs: totalCpuMs(workers.map((w) => w.child.pid!)),
    clientCpuMs: (cpu.user + cpu.system) / 1000,
    host: hostCpuTicks(),
  };
}

async function complete(gatewayUrl: string, prompt: string): Promise<Answer> {
  const started = performance.now();
  const payload = JSON.stringify({
    model: modelName,
    prompt,
    max_tokens: simulated.answerTokens + 1,
    dfleet: { strategy: 'threshold', threshold: 0.9 },
  });
  let status = 0;
  let body: {
    usage?: { completion_tokens: number };
    dfleet?: { queue_ms: number; decode_ms: number; worker_id: string };
  } = {};
  try {
    const response = await client.post(`${gatewayUrl}/v1/completions`, payload);
    status = response.status;
    body = JSON.parse(response.body) as typeof body;
  } catch {
    // A refused connection or a reset: counted as failed.
  }
  const doneAt = performance.now();
  return {
    doneAt,
    e2eMs: doneAt - started,
    status,
    queueMs: body.dfleet?.queue_ms ?? Number.NaN,
    decodeMs: body.dfleet?.decode_ms ?? Number.NaN,
    completionTokens: body.usage?.completion_tokens ?? -1,
    workerId: body.dfleet?.worker_id ?? '',
  };
}

/** Starts workers up to `target`, a few at a time so their start-up does not starve the running fleet. */
async function growTo(target: number): Promise<void> {
  const START_AT_ONCE = 8;
  while (workers.length < target) {
    const batch = Math.min(START_AT_ONCE, target - workers.length);
    const started = await Promise.all(
      Array.from({ length: batch }, (_, i) =>
        startSimulatedWorker(bundle, simulated, fleetEnv, `sim-worker-${workers.length + i + 1}`, options.nice),
      ),
    );
    workers.push(...started);
  }
}

/** The closed loop: `inFlight` requests at all times until `stop()`; resolves with every answer once drained. */
function loadFleet(inFlight: number) {
  let running = true;
  const answers: Answer[] = [];
  let next = 0;
  const loops = Array.from({ length: inFlight }, async (_, lane) => {
    while (running) {
      const prompt = prompts[next++ % prompts.length]!;
      answers.push(await complete(gateways[lane % gateways.length]!.url, prompt));
    }
  });
  return {
    async stop(): Promise<Answer[]> {
      running = false;
      await Promise.all(loops);
      return answers;
    },
  };
}

/**
 * The sum over workers of each one's answers per second between its first and last answer in
 * the window. A worker finishes a job every second or two, and workers started together finish
 * in step, in bursts: counting answers in a fixed window, or timing all of them from first to
 * last, would be off by up to a burst; a worker's own answers are evenly spaced.
 * (This needs two answers of every worker in the window.)
 */
function completionRate(answers: readonly Answer[], windowSeconds: number): number {
  const byWorker = new Map<string, number[]>();
  for (const answer of answers)
    byWorker.set(answer.workerId, [...(byWorker.get(answer.workerId) ?? []), answer.doneAt]);
  let rate = 0;
  for (const times of byWorker.values()) {
    // Too few to time: a window shorter than a job or two; count them instead.
    if (times.length < 2) return answers.length / windowSeconds;
    rate += (times.length - 1) / ((Math.max(...times) - Math.min(...times)) / 1000);
  }
  return byWorker.size === 0 ? Number.NaN : rate;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function summarize(
  workerCount: number,
  inFlight: number,
  idle: { from: Snapshot; to: Snapshot },
  window: { from: Snapshot; to: Snapshot },
  answers: Answer[],
) {
  const seconds = (window.to.at - window.from.at) / 1000;
  const inWindow = answers.filter((a) => a.doneAt >= window.from.at && a.doneAt < window.to.at);
  const ok = inWindow.filter((a) => a.status === 200);
  const jobs = ok.length;
  const redis = redisDelta(window.from.redis, window.to.redis);
  const idleSeconds = (idle.to.at - idle.from.at) / 1000;
  const idleRedis = redisDelta(idle.from.redis, idle.to.redis);
  const perJob = (x: number) => x / jobs;
  const busy = (ms: number) => ms / 1000 / seconds;
  const hostBusy = (from: Snapshot, to: Snapshot) =>
    from.host && to.host ? (to.host.busy - from.host.busy) / (to.host.total - from.host.total) : Number.NaN;
  const host = hostBusy(window.from, window.to);
  return {
    workers: workerCount,
    gateways: gateways.length,
    in_flight: inFlight,
    seconds,
    completed: jobs,
    failed: inWindow.length - jobs,
    wrong_answer_length: ok.filter((a) => a.completionTokens !== simulated.answerTokens).length,
    throughput_per_s: completionRate(ok, seconds),
    ideal_per_s: workerCount * idealPerWorker,
    per_worker_per_s: completionRate(ok, seconds) / workerCount,
    e2e_p50_ms: percentile(
      ok.map((a) => a.e2eMs),
      50,
    ),
    e2e_p99_ms: percentile(
      ok.map((a) => a.e2eMs),
      99,
    ),
    queue_p50_ms: percentile(
      ok.map((a) => a.queueMs),
      50,
    ),
    decode_p50_ms: percentile(
      ok.map((a) => a.decodeMs),
      50,
    ),
    redis_commands_per_job: perJob(redis.calls),
    redis_top_commands_per_job: Object.fromEntries(redis.byCommand.slice(0, 10).map(([c, n]) => [c, perJob(n)])),
    redis_cpu_ms_per_job: perJob(redis.cpuMs),
    redis_cpu_busy: busy(redis.cpuMs),
    gateway_cpu_ms_per_job: perJob(window.to.gatewayCpuMs - window.from.gatewayCpuMs),
    gateway_cpu_busy: busy(window.to.gatewayCpuMs - window.from.gatewayCpuMs),
    worker_cpu_ms_per_job: perJob(window.to.workerCpuMs - window.from.workerCpuMs),
    worker_cpu_busy: busy(window.to.workerCpuMs - window.from.workerCpuMs),
    client_cpu_ms_per_job: perJob(window.to.clientCpuMs - window.from.clientCpuMs),
    /** Cores the fleet's processes (gateways, workers, Redis, this client) got in the window. */
    fleet_cpu_busy:
      busy(window.to.gatewayCpuMs - window.from.gatewayCpuMs) +
      busy(window.to.workerCpuMs - window.from.workerCpuMs) +
      busy(redis.cpuMs) +
      busy(window.to.clientCpuMs - window.from.clientCpuMs),
    host_cpu_busy: host,
    idle: {
      seconds: idleSeconds,
      redis_commands_per_s: idleRedis.calls / idleSeconds,
      redis_commands_per_s_per_worker: idleRedis.calls / idleSeconds / workerCount,
      redis_top_commands_per_s: Object.fromEntries(
        idleRedis.byCommand.slice(0, 6).map(([c, n]) => [c, n / idleSeconds]),
      ),
      redis_cpu_busy: idleRedis.cpuMs / 1000 / idleSeconds,
      worker_cpu_busy_per_worker: (idle.to.workerCpuMs - idle.from.workerCpuMs) / 1000 / idleSeconds / workerCount,
      /** Everything on the host with the fleet idle: other work here, which the loaded window shares the CPUs with. */
      host_cpu_busy: hostBusy(idle.from, idle.to),
    },
    worker_rss_mb_mean: workers.reduce((sum, w) => sum + processRssMb(w.child.pid!), 0) / workers.length,
  };
}

try {
  log(`starting ${options.gateways} gateway(s) on ${redisServer.url}...`);
  for (let g = 0; g < options.gateways; g++) {
    const gateway = await startApp('../../apps/gateway/src/main.ts', fleetEnv, /^gateway listening on (http:\/\/\S+)/);
    gateways.push({ pid: gateway.child.pid!, url: gateway.match[1]!, stop: () => gateway.child.kill('SIGTERM') });
  }
  for (const level of levels) {
    log(`${level} worker(s): starting ${level - workers.length} more...`);
    await growTo(level);
    await sleep(1_000);
    const idleFrom = await snapshot();
    await sleep(options['idle-seconds'] * 1000);
    const idleTo = await snapshot();
    const inFlight = Math.ceil(level * options.slots * (1 + options.backlog));
    log(
      `${level} worker(s): ${inFlight} requests in flight, ${options['warmup-seconds']} s warm-up + ${options.seconds} s...`,
    );
    const load = loadFleet(inFlight);
    await sleep(options['warmup-seconds'] * 1000);
    const from = await snapshot();
    await sleep(options.seconds * 1000);
    const to = await snapshot();
    const answers = await load.stop();
    results.push(summarize(level, inFlight, { from: idleFrom, to: idleTo }, { from, to }, answers));
  }
} finally {
  client.close();
  log('stopping...');
  await Promise.all(workers.map((worker) => worker.stop(5_000)));
  for (const gateway of gateways) gateway.stop();
  redis.disconnect();
  await redisServer.stop();
  await rm(redisDir, { recursive: true, force: true });
}

const base = results[0]!;
const withLinear = results.map((r) => {
  const linear = (r.workers / base.workers) * base.throughput_per_s;
  return { ...r, linear_per_s: linear, efficiency: r.throughput_per_s / linear };
});
const largest = withLinear.at(-1)!;
const result = {
  measured_at: new Date().toISOString(),
  host: {
    cpus: cpus().length,
    memory_gb: totalmem() / 2 ** 30,
    load_average_before: loadBefore,
    load_average_after: loadavg(),
  },
  simulated_gpu: { ...simulated, passes_per_job: passesPerJob },
  slots_per_worker: options.slots,
  ideal_per_worker_per_s: idealPerWorker,
  ...Object.fromEntries(withLinear.map((r) => [`efficiency_${r.workers}`, r.efficiency])),
  /** The rate at which one Redis's main thread would be busy all the time, from its CPU per job at the largest level. */
  redis_tops_out_at_jobs_per_s: 1000 / largest.redis_cpu_ms_per_job,
  /** The same for one gateway process on one core. */
  gateway_tops_out_at_jobs_per_s: 1000 / largest.gateway_cpu_ms_per_job,
  /** Idle workers (heartbeats, cancel polls, blocking fetches only) that would keep one Redis busy, at the idle cost with the most workers. */
  redis_tops_out_at_idle_workers: largest.workers / largest.idle.redis_cpu_busy,
  levels: withLinear,
};

const fmt = (n: number, digits = 2) => n.toFixed(digits);
console.log(
  `simulated GPU: ${simulated.passMs} ms a pass, ${simulated.tokensPerStep} tokens a step, ${simulated.answerTokens} answer tokens ` +
    `(${passesPerJob} passes a job), ${options.slots} slots a worker: ideal ${fmt(idealPerWorker)} jobs/s a worker`,
);
console.log(
  'workers  jobs/s   linear  effic.  ideal   e2e p50/p99 ms   redis cmd/job  redis ms/job  gw ms/job  worker ms/job  client ms/job  fleet cores  host busy (idle)  idle redis cmd/s/worker',
);
for (const r of withLinear) {
  console.log(
    [
      String(r.workers).padStart(7),
      fmt(r.throughput_per_s, 1).padStart(7),
      fmt(r.linear_per_s, 1).padStart(8),
      fmt(r.efficiency).padStart(7),
      fmt(r.ideal_per_s, 1).padStart(7),
      `${fmt(r.e2e_p50_ms, 0)}/${fmt(r.e2e_p99_ms, 0)}`.padStart(16),
      fmt(r.redis_commands_per_job, 1).padStart(14),
      fmt(r.redis_cpu_ms_per_job, 3).padStart(13),
      fmt(r.gateway_cpu_ms_per_job, 3).padStart(10),
      fmt(r.worker_cpu_ms_per_job, 3).padStart(14),
      fmt(r.client_cpu_ms_per_job, 3).padStart(14),
      fmt(r.fleet_cpu_busy).padStart(12),
      `${fmt(r.host_cpu_busy)} (${fmt(r.idle.host_cpu_busy)})`.padStart(16),
      fmt(r.idle.redis_commands_per_s_per_worker, 1).padStart(24),
    ].join(' '),
  );
  if (r.failed > 0 || r.wrong_answer_length > 0) {
    console.log(`         ${r.failed} failed, ${r.wrong_answer_length} with another answer length`);
  }
}
console.log(
  `one Redis tops out near ${fmt(result.redis_tops_out_at_jobs_per_s, 0)} jobs/s (its CPU per job at ${largest.workers} workers); ` +
    `one gateway near ${fmt(result.gateway_tops_out_at_jobs_per_s, 0)} jobs/s a core`,
);
console.log(
  `load average before ${loadBefore.map((n) => fmt(n)).join(' ')}, after ${result.host.load_average_after.map((n) => fmt(n)).join(' ')} on ${result.host.cpus} CPUs`,
);
mkdirSync(options.out, { recursive: true });
writeFileSync(`${options.out}/scale.json`, `${JSON.stringify(result, null, 2)}\n`);
console.log(`wrote ${options.out}/scale.json`);
