/**
 * `npm run bench:batch [-- --quick] [--levels 1,4,16,32] [--jobs N] [--rounds 3] [--model DIR]`
 *
 * How much of the batching the hardware offers the worker's scheduler actually delivers. In one
 * run, on the real model and the serving denoiser (OnnxDenoiser, inference in its worker thread):
 * 1. scheduled: for each concurrency c, held-out prompts decoded through the worker's StepScheduler
 *    with c jobs always active (closed loop: a finished job is replaced at once), threshold 0.9;
 *    every level decodes the same N jobs (the same prompts), so tokens/s compare like for like;
 *    tokens/s = completion tokens / wall time;
 * 2. ceiling: right after each level, the forward-pass shapes that level's scheduled run used
 *    (its sequence of batch size x padded length, every k-th pass when there are many) fed
 *    straight to the denoiser back to back: no sessions, no scheduling, same shape mix.
 * speedup_32_vs_1 = scheduled tokens/s at 32 / at 1; ceiling_32_vs_1 = raw rows/s at 32 / at 1;
 * efficiency = speedup / ceiling. Each level runs `rounds` times (levels up, then down, ...) and
 * the median counts, since the CPU may be shared. Also prints where the scheduled wall time went per pass
 * (forward pass, applying logits, gaps between passes) and the padding overhead.
 * Writes bench/results/batch.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createDecodeSession, padBatch, type DecodeSession, type Denoiser } from '@dfleet/decoder';
import { loadEvalTasks } from '@dfleet/eval';
import { DEFAULT_MODEL_DIR, loadModel } from '@dfleet/model';
import { StepScheduler, type BatchReport } from '@dfleet/scheduler';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    levels: { type: 'string', default: '1,4,16,32' },
    jobs: { type: 'string' },
    'ceiling-passes': { type: 'string' },
    rounds: { type: 'string' },
    threshold: { type: 'string', default: '0.9' },
    model: { type: 'string', default: DEFAULT_MODEL_DIR },
    out: { type: 'string', default: fileURLToPath(new URL('../results', import.meta.url)) },
  },
});
const levels = values.levels.split(',').map(Number);
// Eight times the highest concurrency, so the top level spends most of its time with a full
// batch rather than in the tail where the last jobs drain.
const jobCount = Number(values.jobs ?? (values.quick ? 32 : 8 * Math.max(...levels)));
const roundCount = Number(values.rounds ?? (values.quick ? 1 : 3));
/** At most this many passes of each level are replayed for the ceiling (a uniform subsample). */
const ceilingPasses = Number(values['ceiling-passes'] ?? (values.quick ? 60 : 200));
const threshold = Number(values.threshold);
/** The worker's own values (apps/worker/src/worker.ts, DFLEET_MAX_BATCH_TOKENS default). */
const LENGTH_MULTIPLE = 16;
const MAX_BATCH_TOKENS = 8_192;

const model = await loadModel(values.model);
const tasks = await loadEvalTasks(`${values.model}/eval/heldout.jsonl`);
const { manifest } = model;
const maxNewTokens = manifest.defaults.maxNewTokens;

function sessionFor(i: number): DecodeSession {
  const task = tasks[i % tasks.length]!;
  return createDecodeSession(
    {
      promptIds: model.tokenizer.encode(task.prompt),
      maxNewTokens,
      blockLength: maxNewTokens,
      strategy: { name: 'threshold', threshold },
      specialTokens: manifest.specialTokens,
    },
    manifest.vocabSize,
  );
}

interface ScheduledRun {
  concurrency: number;
  jobs: number;
  completion_tokens: number;
  wall_ms: number;
  tokens_per_s: number;
  /** Rows (one job's step) per second: what the ceiling's rows/s compares with. */
  rows_per_s: number;
  forward_passes: number;
  mean_batch_size: number;
  /** Padded length (bucketed) the passes used most, and how often. */
  modal_sequence_length: number;
  /** Padded tokens / real tokens over all passes. */
  padding_overhead: number;
  denoise_ms_per_pass: number;
  apply_ms_per_pass: number;
  /** Wall time per pass outside the forward pass and applyLogits: queueing, thread hops, yields. */
  gap_ms_per_pass: number;
  /** Share of the wall time inside the denoiser. */
  denoise_fraction: number;
}

interface PassShape {
  batchSize: number;
  sequenceLength: number;
}

/** c jobs active at all times until `jobs` have been decoded; a finished job's slot refills at once. */
async function runScheduled(
  denoiser: Denoiser,
  concurrency: number,
  jobs: number,
): Promise<{ run: ScheduledRun; shapes: PassShape[] }> {
  const passes: BatchReport[] = [];
  const scheduler = new StepScheduler({
    denoiser,
    padId: manifest.specialTokens.pad,
    maxBatchTokens: MAX_BATCH_TOKENS,
    lengthMultiple: LENGTH_MULTIPLE,
    onBatch: (report) => passes.push(report),
  });
  let next = 0;
  let completionTokens = 0;
  const started = performance.now();
  const slot = async (): Promise<void> => {
    while (next < jobs) {
      const session = sessionFor(next++);
      await scheduler.submit({ session });
      completionTokens += Math.max(1, session.result().tokenIds.length);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, slot));
  const wallMs = performance.now() - started;
  await scheduler.close();

  const stats = scheduler.stats;
  const lengthCounts = new Map<number, number>();
  for (const pass of passes) lengthCounts.set(pass.sequenceLength, (lengthCounts.get(pass.sequenceLength) ?? 0) + 1);
  const modal = [...lengthCounts.entries()].sort((a, b) => b[1] - a[1])[0]![0];
  const gapMs = wallMs - stats.denoiseMs - stats.applyMs;
  const shapes = passes.map((pass) => ({ batchSize: pass.sessions.length, sequenceLength: pass.sequenceLength }));
  const run = {
    concurrency,
    jobs,
    completion_tokens: completionTokens,
    wall_ms: wallMs,
    tokens_per_s: completionTokens / (wallMs / 1000),
    rows_per_s: stats.rows / (wallMs / 1000),
    forward_passes: stats.forwardPasses,
    mean_batch_size: stats.rows / stats.forwardPasses,
    modal_sequence_length: modal,
    padding_overhead: stats.paddedTokens / stats.realTokens,
    denoise_ms_per_pass: stats.denoiseMs / stats.forwardPasses,
    apply_ms_per_pass: stats.applyMs / stats.forwardPasses,
    gap_ms_per_pass: gapMs / stats.forwardPasses,
    denoise_fraction: stats.denoiseMs / wallMs,
  };
  return { run, shapes };
}

interface CeilingRun {
  batch_size: number;
  /** Passes replayed (a uniform subsample of the level's scheduled passes). */
  passes: number;
  mean_batch_size: number;
  ms_per_pass: number;
  rows_per_s: number;
}

/** Replays the shapes of scheduled passes straight to the denoiser, batches built from real canvases. */
async function runCeiling(
  denoiser: Denoiser,
  concurrency: number,
  shapes: readonly PassShape[],
  maxPasses: number,
): Promise<CeilingRun> {
  const stride = Math.max(1, Math.ceil(shapes.length / maxPasses));
  const replayed = shapes.filter((_, i) => i % stride === 0);
  const canvases = Array.from({ length: concurrency }, (_, i) => sessionFor(i).canvas);
  const batches = new Map<string, ReturnType<typeof padBatch>>();
  const batchOf = ({ batchSize, sequenceLength }: PassShape) => {
    const key = `${batchSize}x${sequenceLength}`;
    let batch = batches.get(key);
    if (!batch) {
      const rows = canvases
        .slice(0, batchSize)
        .map((canvas) => canvas.subarray(0, Math.min(canvas.length, sequenceLength)));
      batch = padBatch(rows, manifest.specialTokens.pad, { lengthMultiple: sequenceLength });
      batches.set(key, batch);
    }
    return batch;
  };
  for (const shape of replayed) batchOf(shape);
  let rows = 0;
  const started = performance.now();
  for (const shape of replayed) {
    await denoiser.denoise(batchOf(shape));
    rows += shape.batchSize;
  }
  const ms = performance.now() - started;
  return {
    batch_size: concurrency,
    passes: replayed.length,
    mean_batch_size: rows / replayed.length,
    ms_per_pass: ms / replayed.length,
    rows_per_s: rows / (ms / 1000),
  };
}

// Warm-up: the first passes of a session plan shapes and allocate.
await runScheduled(model.denoiser, Math.min(4, Math.max(...levels)), 4);

// Several rounds, levels ascending then descending, and the median of each: the CPU is shared
// (other processes come and go), and a slow minute should not land on one level only.
const rounds: { scheduled: ScheduledRun; ceiling: CeilingRun }[][] = levels.map(() => []);
for (let round = 0; round < roundCount; round++) {
  const order = round % 2 === 0 ? levels.map((_, i) => i) : levels.map((_, i) => levels.length - 1 - i);
  for (const index of order) {
    const concurrency = levels[index]!;
    const { run, shapes } = await runScheduled(model.denoiser, concurrency, jobCount);
    const raw = await runCeiling(model.denoiser, concurrency, shapes, ceilingPasses);
    rounds[index]!.push({ scheduled: run, ceiling: raw });
    process.stderr.write(
      `round ${round + 1} c=${concurrency}: ${run.tokens_per_s.toFixed(1)} tokens/s, raw ${raw.rows_per_s.toFixed(1)} rows/s\n`,
    );
  }
}
await model.close();
const medianBy = <T>(items: T[], key: (item: T) => number): T =>
  [...items].sort((a, b) => key(a) - key(b))[Math.floor((items.length - 1) / 2)]!;
const scheduled = rounds.map((runs) =>
  medianBy(
    runs.map((r) => r.scheduled),
    (r) => r.tokens_per_s,
  ),
);
const ceiling = rounds.map((runs) =>
  medianBy(
    runs.map((r) => r.ceiling),
    (r) => r.rows_per_s,
  ),
);

const at = <T extends { concurrency?: number; batch_size?: number }>(list: T[], c: number) =>
  list.find((item) => (item.concurrency ?? item.batch_size) === c);
const lowest = Math.min(...levels);
const highest = Math.max(...levels);
const speedup = at(scheduled, highest)!.tokens_per_s / at(scheduled, lowest)!.tokens_per_s;
const ceilingSpeedup = at(ceiling, highest)!.rows_per_s / at(ceiling, lowest)!.rows_per_s;
const efficiency = speedup / ceilingSpeedup;

const table = [
  [
    'jobs',
    'tok/s',
    'speedup',
    'rows/s',
    'raw rows/s',
    'ceiling x',
    'eff',
    'rows/raw',
    'mean B',
    'L',
    'pad x',
    'fwd ms',
    'apply ms',
    'gap ms',
    'fwd share',
  ],
  ...levels.map((c) => {
    const s = at(scheduled, c)!;
    const k = at(ceiling, c)!;
    const sx = s.tokens_per_s / at(scheduled, lowest)!.tokens_per_s;
    const kx = k.rows_per_s / at(ceiling, lowest)!.rows_per_s;
    return [
      String(c),
      s.tokens_per_s.toFixed(1),
      sx.toFixed(2),
      s.rows_per_s.toFixed(1),
      k.rows_per_s.toFixed(1),
      kx.toFixed(2),
      (sx / kx).toFixed(2),
      (s.rows_per_s / k.rows_per_s).toFixed(2),
      s.mean_batch_size.toFixed(1),
      String(s.modal_sequence_length),
      s.padding_overhead.toFixed(2),
      s.denoise_ms_per_pass.toFixed(2),
      s.apply_ms_per_pass.toFixed(2),
      s.gap_ms_per_pass.toFixed(2),
      s.denoise_fraction.toFixed(2),
    ];
  }),
];
const widths = table[0]!.map((_, col) => Math.max(...table.map((row) => row[col]!.length)));
for (const row of table) console.log(row.map((cell, col) => cell.padStart(widths[col]!)).join('  '));
console.log(
  `\nspeedup_${highest}_vs_${lowest} = ${speedup.toFixed(2)}, ceiling_${highest}_vs_${lowest} = ${ceilingSpeedup.toFixed(2)}, efficiency = ${efficiency.toFixed(2)}`,
);

mkdirSync(values.out, { recursive: true });
const outFile = `${values.out}/batch.json`;
writeFileSync(
  outFile,
  `${JSON.stringify(
    {
      model: manifest.name,
      device: model.denoiser.device,
      strategy: { name: 'threshold', threshold },
      max_new_tokens: maxNewTokens,
      jobs_per_level: jobCount,
      rounds: roundCount,
      levels,
      [`speedup_${highest}_vs_${lowest}`]: speedup,
      [`ceiling_${highest}_vs_${lowest}`]: ceilingSpeedup,
      efficiency,
      scheduled,
      ceiling,
      per_level_rounds: levels.map((concurrency, i) => ({ concurrency, rounds: rounds[i] })),
      quick: values.quick,
      measured_at: new Date().toISOString(),
    },
    null,
    2,
  )}\n`,
);
console.log(`wrote ${outFile}`);
