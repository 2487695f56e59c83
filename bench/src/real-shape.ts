/**
 * `npm run bench:real-shape [-- --batches 1,8,32] [--blocks 1] [--layers 2] [--d-model 256] [--all-l-batches 1,8]
 *   [--device cpu] [--python /usr/bin/python3] [--export-script PATH] [--decode-json PATH] [--out DIR]`
 *
 * An LLaDA-8B-shaped model (vocabulary 126,464; bench/real-shape/export_model.py, random weights,
 * generated here at run time and cached by its flags under the OS temp dir, never in git), in its
 * v1 logits form, its reduced form over all L and its reduced form at named positions, decoded
 * through the real worker path (StepScheduler + OnnxDenoiser in its inference thread + decoder)
 * at prompt 256, canvas 256, block 32, beside the raw onnxruntime forward ceiling at the same
 * shapes, on --device (cpu, cuda:N, webgpu). Writes bench/results/real-shape.json.
 * --python, --export-script and --decode-json let a bundle of this file run outside the repo
 * (bench/real-shape/gpu-run.sh on a GPU host).
 *
 * Random weights never pass a confidence threshold, so every step commits a fixed number of
 * tokens: the reference strategy with steps = canvas x NFE-per-token of the shipped model at
 * threshold 0.9 (bench/results/decode.json), rounded to a multiple of the blocks.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { padBatch, type DecodeSession } from '@dfleet/decoder';
import { loadModel, parseDevice, type LoadedModel } from '@dfleet/model';
import { StepScheduler } from '@dfleet/scheduler';
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
    batches: { type: 'string', default: '1,8,32' },
    /** Batches at which the all-L reduced form runs (it computes the head everywhere: slow). */
    'all-l-batches': { type: 'string', default: '1,8' },
    /** Blocks of 32 decoded per run; the canvas stays 256. */
    blocks: { type: 'string', default: '1' },
    'ceiling-runs': { type: 'string', default: '4' },
    layers: { type: 'string', default: '2' },
    'd-model': { type: 'string', default: '256' },
    seed: { type: 'string', default: '0' },
    device: { type: 'string', default: 'cpu' },
    /** The interpreter that has torch and onnx, for the one-time export. */
    python: { type: 'string', default: '/usr/bin/python3' },
    'export-script': { type: 'string', default: join(repoRoot, 'bench/real-shape/export_model.py') },
    /** Where the shipped model's NFE per token comes from (bench:decode's output). */
    'decode-json': { type: 'string', default: join(repoRoot, 'bench/results/decode.json') },
    out: { type: 'string', default: fileURLToPath(new URL('../results', import.meta.url)) },
  },
});

const PROMPT = 256;
const CANVAS = REAL_SHAPE_CANVAS;
const BLOCK = REAL_SHAPE_BLOCK;
const LENGTH_MULTIPLE = 16;
const batches = values.batches.split(',').map(Number);
const allLBatches = new Set(values['all-l-batches'].split(',').map(Number));
const blocks = Number(values.blocks);
const ceilingRuns = Number(values['ceiling-runs']);
const device = parseDevice(values.device);
if (!device) throw new Error(`--device ${values.device} is not a device: use cpu, cuda:N, webgpu or webgpu:N`);

function availableMemoryBytes(): number {
  const line = readFileSync('/proc/meminfo', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('MemAvailable:'));
  return line ? Number(line.split(/\s+/)[1]) * 1024 : 0;
}

type FormName = 'reduced_positions' | 'reduced_all' | 'logits';

interface FormRun {
  form: FormName;
  batch: number;
  run: boolean;
  reason?: string;
  tokens?: number;
  passes?: number;
  wall_ms?: number;
  tokens_per_s?: number;
  session_run_ms?: number;
  outside_session_run_ms?: number;
  outside_session_run_fraction?: number;
  output_bytes_per_pass?: number;
  peak_rss_delta_bytes?: number;
}

const sequenceLength = Math.ceil((1 + PROMPT + CANVAS) / LENGTH_MULTIPLE) * LENGTH_MULTIPLE;

/** Bytes one pass's outputs occupy in JavaScript, and the peak the process needs for them. */
function passBytes(form: FormName, batch: number, vocabSize: number): { output: number; peak: number } {
  const logits = batch * sequenceLength * vocabSize * 4;
  // Per position: int32 token, float32 confidence and entropy.
  if (form === 'reduced_positions') return { output: batch * BLOCK * 12, peak: batch * BLOCK * vocabSize * 4 * 3 };
  // The graph still computes [B, L, V] logits and their softmax inside onnxruntime.
  if (form === 'reduced_all') return { output: batch * sequenceLength * 12, peak: 2 * logits };
  // onnxruntime's output, plus the transferred copy while the previous pass is released.
  return { output: logits, peak: 2.5 * logits };
}

function sessionsFor(model: LoadedModel, batch: number, steps: number): DecodeSession[] {
  return realShapeSessions(model, { batch, prompt: PROMPT, steps, blocks });
}

async function runWorkerPath(model: LoadedModel, form: FormName, batch: number, steps: number): Promise<FormRun> {
  const need = passBytes(form, batch, model.manifest.vocabSize);
  const available = availableMemoryBytes();
  if (need.peak > 0.7 * available) {
    return {
      form,
      batch,
      run: false,
      reason:
        `needs about ${(need.peak / 1e9).toFixed(1)} GB per pass ([${batch}, ${sequenceLength}, ` +
        `${model.manifest.vocabSize}] float32 logits and copies); ${(available / 1e9).toFixed(1)} GB available`,
    };
  }
  const { denoiser, manifest } = model;
  const scheduler = new StepScheduler({
    denoiser,
    padId: manifest.specialTokens.pad,
    maxBatchTokens: batch * sequenceLength,
    lengthMultiple: LENGTH_MULTIPLE,
  });
  const sessions = sessionsFor(model, batch, steps);
  const statsBefore = denoiser.stats;
  // The inference thread lives in this process, so its allocations show in this RSS too.
  const rssBefore = process.memoryUsage.rss();
  let rssPeak = rssBefore;
  const sampler = setInterval(() => {
    rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
  }, 10);
  const started = performance.now();
  await Promise.all(sessions.map((session) => scheduler.submit({ session })));
  const wallMs = performance.now() - started;
  clearInterval(sampler);
  await scheduler.close();
  const stats = denoiser.stats;
  const tokens = sessions.reduce(
    (total, session) => total + session.result().committedPerStep.reduce((a, b) => a + b, 0),
    0,
  );
  const sessionRunMs = stats.totalSessionRunMs - statsBefore.totalSessionRunMs;
  return {
    form,
    batch,
    run: true,
    tokens,
    passes: stats.runs - statsBefore.runs,
    wall_ms: wallMs,
    tokens_per_s: tokens / (wallMs / 1000),
    session_run_ms: sessionRunMs,
    outside_session_run_ms: wallMs - sessionRunMs,
    outside_session_run_fraction: (wallMs - sessionRunMs) / wallMs,
    output_bytes_per_pass: need.output,
    peak_rss_delta_bytes: rssPeak - rssBefore,
  };
}

/**
 * The raw forward ceiling: session.run alone, in a loop over the same feeds the worker path's
 * first step builds, on the same session (its time inside session.run only).
 */
async function forwardCeiling(model: LoadedModel, batch: number, steps: number): Promise<Ceiling> {
  const sessions = sessionsFor(model, batch, steps);
  const padded = padBatch(
    sessions.map((session) => session.canvas),
    model.manifest.specialTokens.pad,
    { lengthMultiple: LENGTH_MULTIPLE },
  );
  const perRow = BLOCK;
  const positionValues = new Int32Array(batch * perRow);
  for (const [row, session] of sessions.entries()) positionValues.set(session.positionsToRead(), row * perRow);
  const batchWithPositions = { ...padded, positions: { perRow, values: positionValues } };
  let total = 0;
  for (let run = 0; run < ceilingRuns; run++) {
    await model.denoiser.denoise(batchWithPositions);
    total += model.denoiser.lastRunMs ?? 0;
  }
  const msPerPass = total / ceilingRuns;
  return { ms_per_pass: msPerPass, tokens_per_s: (batch * (CANVAS / steps)) / (msPerPass / 1000) };
}

interface Ceiling {
  ms_per_pass: number;
  tokens_per_s: number;
}

async function main(): Promise<void> {
  const { nfePerToken, steps } = shippedThresholdSteps(values['decode-json']);
  const tokensPerStep = CANVAS / steps;
  const flags = {
    layers: values.layers,
    dModel: values['d-model'],
    seed: values.seed,
    python: values.python,
    exportScript: values['export-script'],
  };
  const cacheDir = realShapeCacheDir(flags);
  const v1 = ensureExportedModel(flags);
  const dirs: Record<FormName, string> = {
    reduced_positions: await ensureReducedModel(v1, join(cacheDir, 'reduced-positions'), true),
    reduced_all: await ensureReducedModel(v1, join(cacheDir, 'reduced-all'), false),
    logits: v1,
  };
  console.log(
    `commits ${tokensPerStep} tokens per step: reference strategy, steps = ${steps} for canvas ${CANVAS} ` +
      `(canvas x ${nfePerToken.toFixed(4)} NFE/token of the shipped model at threshold 0.9, bench/results/decode.json, ` +
      `rounded to a multiple of ${CANVAS / BLOCK} blocks); decodes ${blocks} block(s) of ${BLOCK} per row ` +
      `(${(steps / (CANVAS / BLOCK)) * blocks} steps), prompt ${PROMPT}, padded length ${sequenceLength}`,
  );

  const runs: FormRun[] = [];
  const ceilings: Record<number, Ceiling> = {};
  // Smallest memory first: the peak RSS only grows, so each delta is that form's own.
  for (const form of ['reduced_positions', 'reduced_all', 'logits'] as const) {
    const model = await loadModel(dirs[form], device);
    try {
      // One warm-up pass at batch 1 so the first measured run does not pay the session's planning.
      await runWorkerPath(model, form, 1, steps);
      for (const batch of batches) {
        if (form === 'reduced_all' && !allLBatches.has(batch)) {
          runs.push({ form, batch, run: false, reason: 'skipped to keep the run short (--all-l-batches)' });
          continue;
        }
        const result = await runWorkerPath(model, form, batch, steps);
        runs.push(result);
        console.log(JSON.stringify(result));
        if (form === 'reduced_positions') {
          ceilings[batch] = await forwardCeiling(model, batch, steps);
          console.log(`ceiling b${batch}: ${JSON.stringify(ceilings[batch])}`);
        }
      }
    } finally {
      await model.close();
    }
  }

  const find = (form: FormName, batch: number): FormRun | undefined =>
    runs.find((r) => r.form === form && r.batch === batch && r.run);
  const largestLogitsBatch = [...batches].reverse().find((batch) => find('logits', batch) !== undefined);
  const speedupAt = (batch: number | undefined): number | null => {
    if (batch === undefined) return null;
    const reduced = find('reduced_positions', batch);
    const logits = find('logits', batch);
    return reduced && logits ? reduced.tokens_per_s! / logits.tokens_per_s! : null;
  };
  const b32 = find('reduced_positions', 32);
  const summary = {
    reduced_vs_logits_speedup_b32: speedupAt(32),
    reduced_vs_logits_speedup_largest_logits_batch: speedupAt(largestLogitsBatch),
    largest_logits_batch: largestLogitsBatch ?? null,
    reduced_fraction_of_ceiling_b32: b32 && ceilings[32] ? b32.tokens_per_s! / ceilings[32].tokens_per_s : null,
  };

  console.log(`\ndevice ${values.device}, ${values.layers} layers, d_model ${values['d-model']}`);
  console.log('form               batch  tokens/s  wall ms  session.run ms  outside %  output MB/pass  peak RSS +MB');
  for (const r of runs) {
    if (!r.run) {
      console.log(`${r.form.padEnd(18)} ${String(r.batch).padStart(5)}  not run: ${r.reason}`);
      continue;
    }
    console.log(
      `${r.form.padEnd(18)} ${String(r.batch).padStart(5)} ${r.tokens_per_s!.toFixed(1).padStart(9)} ${r
        .wall_ms!.toFixed(0)
        .padStart(8)} ${r.session_run_ms!.toFixed(0).padStart(15)} ${(100 * r.outside_session_run_fraction!)
        .toFixed(1)
        .padStart(10)} ${(r.output_bytes_per_pass! / 1e6).toFixed(2).padStart(15)} ${(r.peak_rss_delta_bytes! / 1e6)
        .toFixed(0)
        .padStart(13)}`,
    );
  }
  for (const batch of batches) {
    const c = ceilings[batch]!;
    const reduced = find('reduced_positions', batch);
    const ratio = reduced ? (reduced.tokens_per_s! / c.tokens_per_s).toFixed(2) : 'n/a';
    console.log(
      `ceiling (session.run alone, positions model) b${batch}: ${c.tokens_per_s.toFixed(1)} tokens/s ` +
        `(${c.ms_per_pass.toFixed(0)} ms/pass); worker path / ceiling = ${ratio}`,
    );
  }
  console.log(JSON.stringify(summary));

  const result = {
    measured_at: new Date().toISOString(),
    machine: { cpus: availableParallelism(), loadavg: loadavg(), device: values.device },
    model: {
      vocab_size: 126_464,
      layers: Number(values.layers),
      d_model: Number(values['d-model']),
      weights: 'random',
    },
    shape: { prompt: PROMPT, canvas: CANVAS, block: BLOCK, padded_length: sequenceLength, blocks_decoded: blocks },
    commit_rule: {
      strategy: 'reference',
      steps,
      tokens_per_step: tokensPerStep,
      nfe_per_token_source: 'bench/results/decode.json threshold 0.9',
      nfe_per_token: nfePerToken,
    },
    ...summary,
    runs,
    ceilings,
  };
  mkdirSync(values.out, { recursive: true });
  writeFileSync(join(values.out, 'real-shape.json'), `${JSON.stringify(result, null, 2)}\n`);
}

await main();
