/**
 * `npm run bench:decode -- --prefix-cache [--tasks N] [--block-lengths 48,16]`: the held-out tasks
 * decoded with the default strategy on the shipped model through the worker's StepScheduler, one
 * job at a time, without and with the prefix cache, side by side per block length. The cache is
 * approximate (Fast-dLLM): pass@1 must stay within 1 point; the tasks whose tokens differ are
 * counted. Writes bench/results/decode-prefix-cache.json.
 */
import { writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { createDecodeSession, DEFAULT_STRATEGY } from '@dfleet/decoder';
import { passAtOne, programFromCompletion, runUntrusted, type EvalTask } from '@dfleet/eval';
import { loadModel, type InferenceThread, type LoadedModel } from '@dfleet/model';
import { StepScheduler } from '@dfleet/scheduler';

export interface PrefixCacheComparisonOptions {
  readonly modelDir: string;
  readonly tasks: readonly EvalTask[];
  readonly blockLengths: readonly number[];
  readonly inferenceThread: InferenceThread;
  readonly out: string;
}

interface Side {
  pass_at_1: number;
  tokens: number;
  full_passes: number;
  cached_passes: number;
  wall_ms: number;
  tokens_per_s: number;
  answers: number[][];
}

/** Far above one job's cache on this model (a 160-position canvas holds 1 MB). */
const CACHE_MAX_BYTES = 256 * 1024 ** 2;

async function decodeAll(model: LoadedModel, cached: boolean, tasks: readonly EvalTask[], blockLength: number) {
  const { manifest, denoiser, tokenizer } = model;
  let fullPasses = 0;
  let cachedPasses = 0;
  const scheduler = new StepScheduler({
    denoiser,
    padId: manifest.specialTokens.pad,
    maxBatchTokens: manifest.maxSequenceLength,
    ...(cached ? { prefixCache: { maxBytes: CACHE_MAX_BYTES } } : {}),
    onBatch: (report) => {
      if (report.kind === 'cached') cachedPasses++;
      else fullPasses++;
    },
  });
  const answers: number[][] = [];
  let tokens = 0;
  const started = performance.now();
  for (const task of tasks) {
    const session = createDecodeSession(
      {
        promptIds: tokenizer.encode(task.prompt),
        maxNewTokens: manifest.defaults.maxNewTokens,
        blockLength,
        strategy: { name: DEFAULT_STRATEGY },
        specialTokens: manifest.specialTokens,
      },
      manifest.vocabSize,
      denoiser.outputForm,
    );
    await scheduler.submit({ session });
    const { tokenIds } = session.result();
    answers.push(tokenIds);
    // An answer that is only eos still cost its passes; count at least one token so ratios stay finite.
    tokens += Math.max(1, tokenIds.length);
  }
  const wallMs = performance.now() - started;
  await scheduler.close();
  const verdicts = await runUntrusted(
    tasks.map((task, i) => programFromCompletion(task, tokenizer.decode(answers[i]!))),
  );
  const side: Side = {
    pass_at_1: passAtOne(verdicts),
    tokens,
    full_passes: fullPasses,
    cached_passes: cachedPasses,
    wall_ms: wallMs,
    tokens_per_s: tokens / (wallMs / 1000),
    answers,
  };
  return side;
}

export async function comparePrefixCache(options: PrefixCacheComparisonOptions): Promise<void> {
  const { modelDir, tasks, blockLengths, inferenceThread } = options;
  const plain = await loadModel(modelDir, { inferenceThread });
  const withCache = await loadModel(modelDir, { inferenceThread, prefixCache: true });
  const loadAtStart = loadavg();
  const comparisons = [];
  try {
    const canvas = plain.manifest.defaults.maxNewTokens;
    for (const blockLength of blockLengths) {
      if (!Number.isInteger(blockLength) || blockLength < 1 || canvas % blockLength !== 0) {
        throw new Error(`--block-lengths: each must divide the canvas ${canvas}, got ${blockLength}`);
      }
      // Warm-up, so neither side pays the session's first shapes.
      await decodeAll(plain, false, tasks.slice(0, 3), blockLength);
      await decodeAll(withCache, true, tasks.slice(0, 3), blockLength);
      process.stderr.write(`decoding ${tasks.length} tasks, block ${blockLength}, without the cache...\n`);
      const uncached = await decodeAll(plain, false, tasks, blockLength);
      process.stderr.write(`decoding ${tasks.length} tasks, block ${blockLength}, with the cache...\n`);
      const cached = await decodeAll(withCache, true, tasks, blockLength);
      const differing = uncached.answers.filter(
        (answer, i) => JSON.stringify(answer) !== JSON.stringify(cached.answers[i]),
      ).length;
      const strip = ({ answers: _answers, ...figures }: Side) => figures;
      comparisons.push({
        block_length: blockLength,
        uncached: strip(uncached),
        cached: strip(cached),
        pass_at_1_delta_points: 100 * (cached.pass_at_1 - uncached.pass_at_1),
        within_one_point: Math.abs(cached.pass_at_1 - uncached.pass_at_1) <= 0.01,
        tasks_differing: differing,
        speedup: cached.tokens_per_s / uncached.tokens_per_s,
      });
    }
  } finally {
    await plain.close();
    await withCache.close();
  }
  console.log(
    `model ${plain.manifest.name}, ${tasks.length} held-out tasks, ${DEFAULT_STRATEGY} (default knobs), one job at a time through StepScheduler`,
  );
  console.log(
    'block  pass@1 uncached  pass@1 cached  delta  tasks differing  cached passes  tokens/s uncached  cached  speedup',
  );
  for (const c of comparisons) {
    const pct = (p: number) => `${(100 * p).toFixed(1)}%`;
    console.log(
      `${String(c.block_length).padStart(5)}  ${pct(c.uncached.pass_at_1).padStart(15)}  ${pct(c.cached.pass_at_1).padStart(13)}  ${c.pass_at_1_delta_points
        .toFixed(1)
        .padStart(
          5,
        )}  ${`${c.tasks_differing}/${tasks.length}`.padStart(15)}  ${`${c.cached.cached_passes}/${c.cached.cached_passes + c.cached.full_passes}`.padStart(13)}  ${c.uncached.tokens_per_s
        .toFixed(1)
        .padStart(17)}  ${c.cached.tokens_per_s.toFixed(1).padStart(6)}  ${c.speedup.toFixed(2)}x`,
    );
  }
  const results = {
    model: plain.manifest.name,
    tasks: tasks.length,
    strategy: DEFAULT_STRATEGY,
    measured_at: new Date().toISOString(),
    machine: { cpus: availableParallelism(), load_average_at_start: loadAtStart, load_average_at_end: loadavg() },
    comparisons,
  };
  writeFileSync(`${options.out}/decode-prefix-cache.json`, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`wrote ${options.out}/decode-prefix-cache.json`);
}
