/**
 * `npm run bench:adaptive [-- --quick] [--seconds 20 | --jobs N] [--overload 3] [--max-active 16] [--target-wait-ms 500] [--min-threshold 0.5]`
 *
 * Load-adaptive thresholds against the fixed policy under overload, in one run, on the real model
 * and the serving denoiser, with the worker's own StepScheduler and AdaptiveThresholdPolicy:
 * 1. calibrate: held-out prompts decoded closed loop with `max-active` jobs at once (threshold
 *    0.9) give the sustainable job rate;
 * 2. the same held-out prompts (as many as arrive in `seconds`, or `jobs`) arrive open loop at
 *    `overload` x that rate, once with the fixed
 *    policy (every job at 0.9) and once adaptive (the policy sees each job's queue wait at claim,
 *    as the worker does, and lowers 0.9 toward the floor `min-threshold`). Jobs wait in a FIFO
 *    queue and are claimed while fewer than `max-active` decode, like BullMQ's concurrency.
 * Prints p50/p99 latency (arrival -> result), queue wait, steps and pass@1 (sandboxed
 * @dfleet/eval) of both; writes bench/results/adaptive.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { createDecodeSession } from '@dfleet/decoder';
import { loadEvalTasks, passAtOne, programFromCompletion, runUntrusted, type EvalTask } from '@dfleet/eval';
import { DEFAULT_MODEL_DIR, loadModel } from '@dfleet/model';
import { AdaptiveThresholdPolicy, ADAPTIVE_THRESHOLD_DEFAULTS, StepScheduler } from '@dfleet/scheduler';
import { percentile } from './percentiles.ts';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    jobs: { type: 'string' },
    seconds: { type: 'string' },
    overload: { type: 'string', default: '3' },
    'max-active': { type: 'string', default: '16' },
    threshold: { type: 'string', default: '0.9' },
    'min-threshold': { type: 'string', default: String(ADAPTIVE_THRESHOLD_DEFAULTS.defaultFloor) },
    'target-wait-ms': { type: 'string', default: String(ADAPTIVE_THRESHOLD_DEFAULTS.targetWaitMs) },
    model: { type: 'string', default: DEFAULT_MODEL_DIR },
    out: { type: 'string', default: fileURLToPath(new URL('../results', import.meta.url)) },
  },
});
const arrivalSeconds = Number(values.seconds ?? (values.quick ? 5 : 20));
const overload = Number(values.overload);
const maxActive = Number(values['max-active']);
const requestedThreshold = Number(values.threshold);
const minThreshold = Number(values['min-threshold']);
const targetWaitMs = Number(values['target-wait-ms']);
/** The worker's own values (apps/worker/src/worker.ts, DFLEET_MAX_BATCH_TOKENS default). */
const LENGTH_MULTIPLE = 16;
const MAX_BATCH_TOKENS = 8_192;

const model = await loadModel(values.model);
const { manifest } = model;
const allTasks = await loadEvalTasks(`${values.model}/eval/heldout.jsonl`);
const taskAt = (i: number) => allTasks[i % allTasks.length]!;
const maxNewTokens = manifest.defaults.maxNewTokens;

interface JobOutcome {
  task: EvalTask;
  completion: string;
  arrivedAt: number;
  claimedAt: number;
  finishedAt: number;
  steps: number;
  threshold: number;
}

/**
 * Runs `tasks` arriving at `arrivals` (ms offsets; all zero = closed loop) through one scheduler
 * with at most `maxActive` decoding; `policy` (when given) picks each job's threshold at claim.
 */
async function serve(
  jobs: readonly EvalTask[],
  arrivals: readonly number[],
  policy: AdaptiveThresholdPolicy | null,
): Promise<JobOutcome[]> {
  const scheduler = new StepScheduler({
    denoiser: model.denoiser,
    padId: manifest.specialTokens.pad,
    maxBatchTokens: MAX_BATCH_TOKENS,
    lengthMultiple: LENGTH_MULTIPLE,
  });
  const outcomes: JobOutcome[] = [];
  const queue: { task: EvalTask; arrivedAt: number }[] = [];
  const running = new Set<Promise<void>>();
  let wake: (() => void) | undefined;
  const started = Date.now();

  const claim = (entry: { task: EvalTask; arrivedAt: number }) => {
    const claimedAt = Date.now();
    policy?.observeQueueWait(claimedAt - entry.arrivedAt, claimedAt);
    const threshold = policy ? policy.thresholdFor(requestedThreshold, minThreshold) : requestedThreshold;
    const session = createDecodeSession(
      {
        promptIds: model.tokenizer.encode(entry.task.prompt),
        maxNewTokens,
        blockLength: maxNewTokens,
        strategy: { name: 'threshold', threshold },
        specialTokens: manifest.specialTokens,
      },
      manifest.vocabSize,
    );
    const done = scheduler.submit({ session }).then(() => {
      const result = session.result();
      outcomes.push({
        task: entry.task,
        completion: model.tokenizer.decode(result.tokenIds),
        arrivedAt: entry.arrivedAt,
        claimedAt,
        finishedAt: Date.now(),
        steps: result.steps,
        threshold,
      });
      running.delete(done);
      wake?.();
    });
    running.add(done);
  };

  // Arrivals: open loop, a slow worker does not delay the next one.
  const arriving = (async () => {
    for (const [i, task] of jobs.entries()) {
      const wait = started + arrivals[i]! - Date.now();
      if (wait > 0) await sleep(wait);
      queue.push({ task, arrivedAt: Date.now() });
      wake?.();
    }
  })();

  while (outcomes.length < jobs.length) {
    while (running.size < maxActive && queue.length > 0) claim(queue.shift()!);
    await new Promise<void>((resolve) => {
      wake = resolve;
    });
  }
  await arriving;
  await scheduler.close();
  return outcomes;
}

interface PolicySummary {
  policy: 'fixed' | 'adaptive';
  jobs: number;
  latency_p50_ms: number;
  latency_p99_ms: number;
  queue_wait_p50_ms: number;
  queue_wait_p99_ms: number;
  mean_steps: number;
  mean_threshold: number;
  min_threshold_used: number;
  jobs_per_s: number;
  pass_at_1: number;
}

async function summarize(policy: PolicySummary['policy'], outcomes: JobOutcome[]): Promise<PolicySummary> {
  // Prompts repeat once the run outlasts the held-out set; ids must be unique per run.
  const verdicts = await runUntrusted(
    outcomes.map((o, i) => ({ ...programFromCompletion(o.task, o.completion), id: `${o.task.id}#${i}` })),
  );
  const latency = outcomes.map((o) => o.finishedAt - o.arrivedAt);
  const wait = outcomes.map((o) => o.claimedAt - o.arrivedAt);
  const first = Math.min(...outcomes.map((o) => o.arrivedAt));
  const last = Math.max(...outcomes.map((o) => o.finishedAt));
  return {
    policy,
    jobs: outcomes.length,
    latency_p50_ms: percentile(latency, 50),
    latency_p99_ms: percentile(latency, 99),
    queue_wait_p50_ms: percentile(wait, 50),
    queue_wait_p99_ms: percentile(wait, 99),
    mean_steps: outcomes.reduce((sum, o) => sum + o.steps, 0) / outcomes.length,
    mean_threshold: outcomes.reduce((sum, o) => sum + o.threshold, 0) / outcomes.length,
    min_threshold_used: Math.min(...outcomes.map((o) => o.threshold)),
    jobs_per_s: outcomes.length / ((last - first) / 1000),
    pass_at_1: passAtOne(verdicts),
  };
}

// 1. Sustainable rate: as many jobs as two full batches, closed loop, fixed threshold.
await serve([0, 1, 2, 3].map(taskAt), [0, 0, 0, 0], null); // warm-up
const calibrationJobs = Array.from({ length: 4 * maxActive }, (_, i) => taskAt(i));
const calibrationStarted = Date.now();
await serve(
  calibrationJobs,
  calibrationJobs.map(() => 0),
  null,
);
const sustainableRate = calibrationJobs.length / ((Date.now() - calibrationStarted) / 1000);
const arrivalRate = overload * sustainableRate;
// The run lasts long enough for queue waits to build up well past the policy's target.
const jobCount =
  values.jobs === undefined ? Math.max(16, Math.round(arrivalRate * arrivalSeconds)) : Number(values.jobs);
const tasks = Array.from({ length: jobCount }, (_, i) => taskAt(i));
const arrivals = tasks.map((_, i) => (i * 1000) / arrivalRate);
process.stderr.write(
  `sustainable ${sustainableRate.toFixed(2)} jobs/s; offering ${arrivalRate.toFixed(2)} jobs/s (${overload}x)\n`,
);

// 2. The same arrivals, fixed then adaptive.
const fixed = await summarize('fixed', await serve(tasks, arrivals, null));
process.stderr.write(`fixed: p50 ${fixed.latency_p50_ms} ms, p99 ${fixed.latency_p99_ms} ms\n`);
const policyOptions = { targetWaitMs, defaultFloor: minThreshold };
const adaptiveOutcomes = await serve(tasks, arrivals, new AdaptiveThresholdPolicy(policyOptions));
const adaptive = await summarize('adaptive', adaptiveOutcomes);
// How the policy moved: each job's threshold by its claim time (ms from the first arrival).
const firstArrival = Math.min(...adaptiveOutcomes.map((o) => o.arrivedAt));
const thresholdTimeline = [...adaptiveOutcomes]
  .sort((a, b) => a.claimedAt - b.claimedAt)
  .map((o) => ({
    claimed_ms: o.claimedAt - firstArrival,
    queue_wait_ms: o.claimedAt - o.arrivedAt,
    threshold: o.threshold,
    steps: o.steps,
  }));
await model.close();

const rows = [fixed, adaptive];
const table = [
  ['policy', 'p50 ms', 'p99 ms', 'wait p50', 'wait p99', 'steps', 'mean tau', 'min tau', 'jobs/s', 'pass@1'],
  ...rows.map((r) => [
    r.policy,
    r.latency_p50_ms.toFixed(0),
    r.latency_p99_ms.toFixed(0),
    r.queue_wait_p50_ms.toFixed(0),
    r.queue_wait_p99_ms.toFixed(0),
    r.mean_steps.toFixed(1),
    r.mean_threshold.toFixed(3),
    r.min_threshold_used.toFixed(2),
    r.jobs_per_s.toFixed(2),
    r.pass_at_1.toFixed(3),
  ]),
];
const widths = table[0]!.map((_, col) => Math.max(...table.map((row) => row[col]!.length)));
for (const row of table) console.log(row.map((cell, col) => cell.padStart(widths[col]!)).join('  '));
console.log(
  `\nadaptive / fixed: p50 x${(adaptive.latency_p50_ms / fixed.latency_p50_ms).toFixed(2)}, p99 x${(adaptive.latency_p99_ms / fixed.latency_p99_ms).toFixed(2)}, pass@1 ${fixed.pass_at_1.toFixed(3)} -> ${adaptive.pass_at_1.toFixed(3)}`,
);

mkdirSync(values.out, { recursive: true });
const outFile = `${values.out}/adaptive.json`;
writeFileSync(
  outFile,
  `${JSON.stringify(
    {
      model: manifest.name,
      device: model.denoiser.device,
      jobs: jobCount,
      arrival_seconds: jobCount / arrivalRate,
      max_active: maxActive,
      requested_threshold: requestedThreshold,
      min_threshold: minThreshold,
      policy_options: { ...ADAPTIVE_THRESHOLD_DEFAULTS, ...policyOptions },
      sustainable_jobs_per_s: sustainableRate,
      overload,
      offered_jobs_per_s: arrivalRate,
      fixed,
      adaptive,
      p50_ratio: adaptive.latency_p50_ms / fixed.latency_p50_ms,
      p99_ratio: adaptive.latency_p99_ms / fixed.latency_p99_ms,
      adaptive_threshold_timeline: thresholdTimeline,
      quick: values.quick,
      measured_at: new Date().toISOString(),
    },
    null,
    2,
  )}\n`,
);
console.log(`wrote ${outFile}`);
