/**
 * `npm run bench:prefix-cache [-- --prompts 128,1024,4096] [--batch 1] [--blocks 8] [--layers 2] [--d-model 256]
 *   [--device cpu] [--python /usr/bin/python3] [--export-script PATH] [--decode-json PATH] [--out DIR]`
 *
 * The LLaDA-8B-shaped model (bench/real-shape/export_model.py, random weights generated at run
 * time) decoded through the worker path (StepScheduler + OnnxDenoiser in its inference thread),
 * canvas 256, block 32, at each prompt length: its reduced-positions form without the cache
 * (the fastest uncached form, bench:real-shape) against the same form's prefix-cache graph with
 * the scheduler keeping each decode's cache (Fast-dLLM's prefix cache: a full pass at the first
 * step of each block keeps the K/V before the block; the block's other steps run only the window).
 * Writes bench/results/prefix-cache.json with `speedup_at_1024`.
 *
 * Random weights never pass a confidence threshold, so each step commits a fixed number of tokens
 * (the reference strategy), under two schedules, both measured:
 * - one token per step (steps = canvas, 32 steps per block): LLaDA's and Fast-dLLM's setting, in
 *   which Fast-dLLM reports 3.2x for the prefix cache alone; `speedup_at_1024` is this one's;
 * - the shipped model's NFE per token at threshold 0.9 (bench/results/decode.json), as
 *   bench:real-shape uses: 2 steps per block, so 1 of every 2 passes is a full refresh and the
 *   cache cannot reach 2x by construction.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { DecodeSession } from '@dfleet/decoder';
import { loadModel, parseDevice, type LoadedModel } from '@dfleet/model';
import { StepScheduler, type BatchReport } from '@dfleet/scheduler';
import {
  ensureExportedModel,
  ensureReducedModel,
  REAL_SHAPE_BLOCK,
  REAL_SHAPE_CANVAS,
  realShapeCacheDir,
  realShapeSessions,
  shippedThresholdSteps,
} from './real-shape-model.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

const { values } = parseArgs({
  options: {
    prompts: { type: 'string', default: '128,1024,4096' },
    batch: { type: 'string', default: '1' },
    /** Blocks of 32 decoded per run, the whole canvas by default: each costs one refresh, and the window shrinks block by block. */
    blocks: { type: 'string', default: '8' },
    layers: { type: 'string', default: '2' },
    'd-model': { type: 'string', default: '256' },
    seed: { type: 'string', default: '0' },
    device: { type: 'string', default: 'cpu' },
    python: { type: 'string', default: '/usr/bin/python3' },
    'export-script': { type: 'string', default: join(repoRoot, 'bench/real-shape/export_model.py') },
    'decode-json': { type: 'string', default: join(repoRoot, 'bench/results/decode.json') },
    out: { type: 'string', default: fileURLToPath(new URL('../results', import.meta.url)) },
  },
});

const CANVAS = REAL_SHAPE_CANVAS;
const BLOCK = REAL_SHAPE_BLOCK;
const LENGTH_MULTIPLE = 16;
/** Far above what these runs hold (4,096-token prompts at batch 1 hold about 18 MB). */
const CACHE_MAX_BYTES = 8 * 1024 ** 3;
const prompts = values.prompts.split(',').map(Number);
const batch = Number(values.batch);
const blocks = Number(values.blocks);
const device = parseDevice(values.device);
if (!device) throw new Error(`--device ${values.device} is not a device: use cpu, cuda:N, webgpu or webgpu:N`);
if (!Number.isInteger(blocks) || blocks < 1 || blocks > CANVAS / BLOCK) {
  throw new Error(`--blocks takes 1 to ${CANVAS / BLOCK}, got ${values.blocks}`);
}

interface Schedule {
  readonly name: 'one_token_per_step' | 'threshold_0.9_nfe';
  /** Steps over the whole canvas. */
  readonly steps: number;
}

/** Read once: both schedules over the whole canvas. */
const SCHEDULES: readonly Schedule[] = [
  { name: 'one_token_per_step', steps: CANVAS },
  { name: 'threshold_0.9_nfe', steps: shippedThresholdSteps(values['decode-json']).steps },
];

interface Run {
  prompt: number;
  schedule: Schedule['name'];
  cached: boolean;
  tokens: number;
  full_passes: number;
  cached_passes: number;
  wall_ms: number;
  tokens_per_s: number;
  session_run_ms: number;
  /** Most prefix-cache bytes the denoiser held at once. */
  peak_cache_bytes: number;
  answers: number[][];
}

function sessionsFor(model: LoadedModel, prompt: number, schedule: Schedule): DecodeSession[] {
  return realShapeSessions(model, { batch, prompt, steps: schedule.steps, blocks });
}

async function decodeOnce(model: LoadedModel, cached: boolean, prompt: number, schedule: Schedule): Promise<Run> {
  const { denoiser, manifest } = model;
  let fullPasses = 0;
  let cachedPasses = 0;
  let peakCacheBytes = 0;
  const scheduler = new StepScheduler({
    denoiser,
    padId: manifest.specialTokens.pad,
    maxBatchTokens: batch * (prompt + CANVAS + LENGTH_MULTIPLE),
    lengthMultiple: LENGTH_MULTIPLE,
    ...(cached ? { prefixCache: { maxBytes: CACHE_MAX_BYTES } } : {}),
    onBatch: (report: BatchReport) => {
      if (report.kind === 'cached') cachedPasses++;
      else fullPasses++;
      peakCacheBytes = Math.max(peakCacheBytes, denoiser.stats.prefixCacheBytes);
    },
  });
  const sessions = sessionsFor(model, prompt, schedule);
  const before = denoiser.stats;
  const started = performance.now();
  await Promise.all(sessions.map((session) => scheduler.submit({ session })));
  const wallMs = performance.now() - started;
  await scheduler.close();
  const tokens = sessions.reduce((total, s) => total + s.result().committedPerStep.reduce((a, b) => a + b, 0), 0);
  return {
    prompt,
    schedule: schedule.name,
    cached,
    tokens,
    full_passes: fullPasses,
    cached_passes: cachedPasses,
    wall_ms: wallMs,
    tokens_per_s: tokens / (wallMs / 1000),
    session_run_ms: denoiser.stats.totalSessionRunMs - before.totalSessionRunMs,
    peak_cache_bytes: peakCacheBytes,
    answers: sessions.map((s) => s.result().tokenIds),
  };
}

/**
 * Whether a dual cache (Fast-dLLM's: the suffix after the block cached too) would pay: the time of
 * one cached pass over the prefix cache's window (the block and the rest of the canvas) against
 * one over the block alone with everything else cached, at the canvas's first block. The values
 * do not matter for the time; no dual cache is implemented.
 */
async function dualCacheEstimate(model: LoadedModel, prompt: number) {
  const { denoiser } = model;
  const support = denoiser.prefixCache;
  if (!support) throw new Error('the model was loaded without its prefix-cache form');
  const session = sessionsFor(model, prompt, { name: 'one_token_per_step', steps: CANVAS })[0]!;
  const { canvas } = session;
  const blockStart = session.cacheablePrefix;
  const passMs = async (cachedLength: number, windowLength: number): Promise<number> => {
    const cacheId = 1_000_000 + cachedLength;
    const row = (ids: Int32Array, cache: { cachedLength: number; keepLength: number }, readFrom: number) => ({
      batchSize: 1,
      sequenceLength: ids.length,
      inputIds: ids,
      attentionMask: new Uint8Array(ids.length).fill(1),
      positions: { perRow: BLOCK, values: Int32Array.from({ length: BLOCK }, (_, i) => readFrom + i) },
      prefixCache: [{ cacheId, ...cache }],
    });
    await denoiser.denoise(row(canvas, { cachedLength: 0, keepLength: cachedLength }, blockStart));
    const window = canvas.slice(cachedLength, cachedLength + windowLength);
    let total = 0;
    const runs = 4;
    for (let run = 0; run < runs; run++) {
      await denoiser.denoise(row(window, { cachedLength, keepLength: 0 }, 0));
      total += denoiser.lastRunMs ?? 0;
    }
    support.release(cacheId);
    return total / runs;
  };
  const prefixWindowMs = await passMs(blockStart, canvas.length - blockStart);
  // The block alone, its past as long as the whole rest of the canvas.
  const blockOnlyMs = await passMs(canvas.length - BLOCK, BLOCK);
  return {
    prompt,
    prefix_cache_pass_ms: prefixWindowMs,
    block_only_pass_ms: blockOnlyMs,
    ratio: prefixWindowMs / blockOnlyMs,
  };
}

async function main(): Promise<void> {
  const flags = {
    layers: values.layers,
    dModel: values['d-model'],
    seed: values.seed,
    python: values.python,
    exportScript: values['export-script'],
  };
  const exported = ensureExportedModel(flags);
  const reduced = await ensureReducedModel(exported, join(realShapeCacheDir(flags), 'reduced-positions'), true);
  const plain = await loadModel(reduced, device);
  const withCache = await loadModel(reduced, { ...device, prefixCache: true });
  const runs: Run[] = [];
  const dualCache: Awaited<ReturnType<typeof dualCacheEstimate>>[] = [];
  try {
    // Warm-up: each session plans its first shapes outside the measured runs.
    const warm = { name: 'threshold_0.9_nfe', steps: CANVAS / BLOCK } as const;
    await decodeOnce(plain, false, prompts[0]!, warm);
    await decodeOnce(withCache, true, prompts[0]!, warm);
    for (const prompt of prompts) {
      dualCache.push(await dualCacheEstimate(withCache, prompt));
      for (const schedule of SCHEDULES) {
        // Side by side, alternating, so load that changes during the run hits both alike.
        for (const cached of [false, true]) {
          const run = await decodeOnce(cached ? withCache : plain, cached, prompt, schedule);
          runs.push(run);
          const { answers: _answers, ...figures } = run;
          console.log(JSON.stringify(figures));
        }
      }
    }
  } finally {
    await plain.close();
    await withCache.close();
  }

  const pair = (prompt: number, schedule: Schedule['name']) => {
    const find = (cached: boolean) =>
      runs.find((r) => r.prompt === prompt && r.schedule === schedule && r.cached === cached)!;
    const uncached = find(false);
    const cached = find(true);
    const differing = uncached.answers.reduce(
      (n, answer, row) => n + answer.filter((token, i) => token !== cached.answers[row]![i]).length,
      0,
    );
    return {
      prompt,
      schedule,
      uncached_tokens_per_s: uncached.tokens_per_s,
      cached_tokens_per_s: cached.tokens_per_s,
      speedup: cached.tokens_per_s / uncached.tokens_per_s,
      session_run_speedup: uncached.session_run_ms / cached.session_run_ms,
      cached_pass_fraction: cached.cached_passes / (cached.cached_passes + cached.full_passes),
      peak_cache_mb: cached.peak_cache_bytes / 1e6,
      tokens_differing_from_uncached: differing,
      tokens: cached.tokens,
    };
  };
  const comparisons = prompts.flatMap((prompt) => SCHEDULES.map((schedule) => pair(prompt, schedule.name)));
  console.log(
    `\ndevice ${values.device}, ${values.layers} layers, d_model ${values['d-model']}, batch ${batch}, ${blocks} block(s) of ${BLOCK}`,
  );
  console.log(
    'prompt  schedule             uncached tok/s  cached tok/s  speedup  session.run speedup  cached passes  cache MB',
  );
  for (const c of comparisons) {
    console.log(
      `${String(c.prompt).padStart(6)}  ${c.schedule.padEnd(19)} ${c.uncached_tokens_per_s.toFixed(1).padStart(15)} ${c.cached_tokens_per_s
        .toFixed(1)
        .padStart(
          13,
        )} ${`${c.speedup.toFixed(2)}x`.padStart(8)} ${`${c.session_run_speedup.toFixed(2)}x`.padStart(20)} ${`${(
        100 * c.cached_pass_fraction
      ).toFixed(0)}%`.padStart(14)} ${c.peak_cache_mb.toFixed(1).padStart(9)}`,
    );
  }
  for (const d of dualCache) {
    console.log(
      `dual-cache estimate at prompt ${d.prompt}: a pass over the prefix cache's window ${d.prefix_cache_pass_ms.toFixed(1)} ms, ` +
        `over the block alone with the rest cached ${d.block_only_pass_ms.toFixed(1)} ms (${d.ratio.toFixed(2)}x)`,
    );
  }
  const at1024 = (schedule: Schedule['name']) => comparisons.find((c) => c.prompt === 1024 && c.schedule === schedule);
  const summary = {
    speedup_at_1024: at1024('one_token_per_step')?.speedup ?? null,
    speedup_at_1024_threshold_0_9_nfe: at1024('threshold_0.9_nfe')?.speedup ?? null,
    target_speedup_at_1024: 3,
  };
  console.log(JSON.stringify(summary));
  const result = {
    measured_at: new Date().toISOString(),
    machine: { cpus: availableParallelism(), loadavg: loadavg(), device: values.device },
    model: {
      vocab_size: 126_464,
      layers: Number(values.layers),
      d_model: Number(values['d-model']),
      weights: 'random',
      form: 'reduced_positions',
    },
    shape: { canvas: CANVAS, block: BLOCK, batch, blocks_decoded: blocks },
    schedules: SCHEDULES,
    ...summary,
    comparisons,
    dual_cache_estimate: dualCache,
    runs: runs.map(({ answers: _answers, ...figures }) => figures),
  };
  mkdirSync(values.out, { recursive: true });
  writeFileSync(join(values.out, 'prefix-cache.json'), `${JSON.stringify(result, null, 2)}\n`);
  console.log(`wrote ${join(values.out, 'prefix-cache.json')}`);
}

await main();
