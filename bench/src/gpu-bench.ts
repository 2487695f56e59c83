/**
 * `npm run bench:gpu [-- --devices webgpu,cpu] [--batches 1,8,32] [--model DIR] [--out FILE]`
 *
 * The shipped model's decode on each device side by side, through the worker's own path: held-out
 * prompts, StepScheduler over loadModel's OnnxDenoiser on the device, threshold strategy,
 * temperature 0. For each batch size b, b jobs are active at all times (a finished job's slot
 * refills at once) until `max(16, 4b)` jobs are done; every device decodes the same jobs. Reports
 * tokens/s, forward passes, ms per pass, the share of wall time inside `session.run`, and how
 * many jobs decoded the very same tokens as on the first device that ran (a numerics check: GPU
 * kernels may round differently). A device that cannot start is a row saying why, not a crash.
 * This is also the entry bench/gpu/pack.sh bundles for a GPU host without Node.
 * Devices come from --devices, else DFLEET_GPU_BENCH_DEVICES, else `webgpu,cpu`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createDecodeSession } from '@dfleet/decoder';
import { DEFAULT_MODEL_DIR, loadModel, parseDevice, type LoadedModel } from '@dfleet/model';
import { StepScheduler } from '@dfleet/scheduler';

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: process.env.DFLEET_GPU_BENCH_DEVICES ?? 'webgpu,cpu' },
    batches: { type: 'string', default: '1,8,32' },
    threshold: { type: 'string', default: '0.9' },
    model: { type: 'string', default: DEFAULT_MODEL_DIR },
    out: { type: 'string' },
  },
});
const devices = values.devices.split(',').map((device) => device.trim());
const batches = values.batches.split(',').map(Number);
const threshold = Number(values.threshold);
/** The worker's own values (apps/worker/src/worker.ts, DFLEET_MAX_BATCH_TOKENS default). */
const LENGTH_MULTIPLE = 16;
const MAX_BATCH_TOKENS = 8_192;

// Only the prompts: @dfleet/eval's loader would bring its sandbox, whose files a bundle lacks.
const tasks = readFileSync(`${values.model}/eval/heldout.jsonl`, 'utf8')
  .split('\n')
  .filter((line) => line.trim() !== '')
  .map((line) => ({ prompt: String((JSON.parse(line) as { prompt: unknown }).prompt) }));

interface Row {
  device: string;
  batch: number;
  jobs?: number;
  tokens_per_s?: number;
  forward_passes?: number;
  ms_per_pass?: number;
  session_run_fraction?: number;
  same_tokens_as_first_device?: string;
  /** The error code when the device cannot start (the full reason is in `reason` and on stderr). */
  unavailable?: string;
  reason?: string;
}

/** Completions per batch size on the first device that ran, to compare the others with. */
const reference = new Map<number, string[]>();

async function runLevel(model: LoadedModel, device: string, batch: number, warmUp = false): Promise<Row> {
  const { manifest, denoiser } = model;
  const jobs = Math.max(16, 4 * batch);
  const scheduler = new StepScheduler({
    denoiser,
    padId: manifest.specialTokens.pad,
    maxBatchTokens: MAX_BATCH_TOKENS,
    lengthMultiple: LENGTH_MULTIPLE,
  });
  const completions: string[] = Array.from({ length: jobs }, () => '');
  let next = 0;
  let tokens = 0;
  const sessionRunBefore = denoiser.stats.totalSessionRunMs;
  const started = performance.now();
  const slot = async (): Promise<void> => {
    while (next < jobs) {
      const index = next++;
      const task = tasks[index % tasks.length]!;
      const session = createDecodeSession(
        {
          promptIds: model.tokenizer.encode(task.prompt),
          maxNewTokens: manifest.defaults.maxNewTokens,
          blockLength: manifest.defaults.maxNewTokens,
          strategy: { name: 'threshold', threshold },
          specialTokens: manifest.specialTokens,
        },
        manifest.vocabSize,
      );
      await scheduler.submit({ session });
      const ids = session.result().tokenIds;
      completions[index] = ids.join(',');
      tokens += Math.max(1, ids.length);
    }
  };
  await Promise.all(Array.from({ length: batch }, slot));
  const wallMs = performance.now() - started;
  await scheduler.close();
  const passes = scheduler.stats.forwardPasses;
  const expected = reference.get(batch);
  if (!expected && !warmUp) reference.set(batch, completions);
  const same = expected ? completions.filter((completion, i) => completion === expected[i]).length : jobs;
  return {
    device,
    batch,
    jobs,
    tokens_per_s: tokens / (wallMs / 1000),
    forward_passes: passes,
    ms_per_pass: wallMs / passes,
    session_run_fraction: (denoiser.stats.totalSessionRunMs - sessionRunBefore) / wallMs,
    same_tokens_as_first_device: `${same}/${jobs}`,
  };
}

const rows: Row[] = [];
for (const device of devices) {
  const target = parseDevice(device);
  let model: LoadedModel;
  try {
    if (!target) throw new Error(`not a device name: ${device} (cpu, cuda:N, webgpu)`);
    // The main thread: a bundle has no separate inference-thread file to start.
    model = await loadModel(values.model, { ...target, inferenceThread: 'main' });
  } catch (error) {
    const { code } = error as { code?: unknown };
    const reason = (error as Error).message.split('\n')[0]!;
    rows.push({ device, batch: 0, unavailable: typeof code === 'string' ? code : 'session_failed', reason });
    process.stderr.write(`${device}: cannot start: ${reason}\n`);
    continue;
  }
  // Warm-up: the first passes compile shaders (WebGPU) and plan allocations.
  await runLevel(model, device, Math.min(4, Math.max(...batches)), true);
  for (const batch of batches) {
    const row = await runLevel(model, device, batch);
    rows.push(row);
    process.stderr.write(`${device} batch ${batch}: ${row.tokens_per_s!.toFixed(1)} tokens/s\n`);
  }
  await model.close();
}

const table = [
  '| device | batch | jobs | tokens/s | forward passes | ms / pass | in session.run | same tokens as first device |',
  '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ...rows.map((row) => {
    if (row.unavailable !== undefined) return `| ${row.device} | - | - | unavailable: ${row.unavailable} | | | | |`;
    const cells = [
      row.device,
      row.batch,
      row.jobs,
      row.tokens_per_s!.toFixed(1),
      row.forward_passes,
      row.ms_per_pass!.toFixed(2),
      `${(100 * row.session_run_fraction!).toFixed(0)}%`,
      row.same_tokens_as_first_device,
    ];
    return `| ${cells.join(' | ')} |`;
  }),
];
process.stdout.write(
  `shipped model decode (${values.model}), threshold ${threshold}, temperature 0\n${table.join('\n')}\n`,
);
if (values.out) {
  writeFileSync(values.out, `${JSON.stringify({ measured_at: new Date().toISOString(), threshold, rows }, null, 2)}\n`);
}
