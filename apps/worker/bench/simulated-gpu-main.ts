import { parseArgs } from 'node:util';
import { loadSimulatedModel, type SimulatedDecodeSettings } from '@dfleet/test-support';
import { z } from 'zod';
import { runWorkerProcess } from '../src/worker-process.ts';

/**
 * `node --import tsx apps/worker/bench/simulated-gpu-main.ts [--pass-ms 20] [--tokens-per-step 4]
 * [--answer-tokens 16]`: a worker process in every respect (environment, BullMQ, scheduler,
 * callbacks, heartbeats, drain) except that a `SimulatedDenoiser` stands in for the model: each
 * forward pass waits `--pass-ms` whatever the batch, and every job answers `--answer-tokens`
 * tokens and eos, `--tokens-per-step` per pass. For benchmarks and scale tests of the fleet
 * itself; the worker's own main never loads it, and no environment variable reaches it.
 * DFLEET_MODEL_DIR names the model whose name and tokenizer it serves (its ONNX file is not read).
 */
const settingsSchema = z.object({
  'pass-ms': z.coerce.number().min(0).max(60_000).default(20),
  'tokens-per-step': z.coerce.number().int().min(1).max(4_096).default(4),
  'answer-tokens': z.coerce.number().int().min(0).max(4_096).default(16),
});

function readSettings(): SimulatedDecodeSettings {
  const { values } = parseArgs({
    options: {
      'pass-ms': { type: 'string' },
      'tokens-per-step': { type: 'string' },
      'answer-tokens': { type: 'string' },
    },
  });
  const parsed = settingsSchema.safeParse(values);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `--${issue.path.join('.')}: ${issue.message}`);
    process.stderr.write(`simulated worker: ${problems.join('; ')}\n`);
    process.exit(1);
  }
  const s = parsed.data;
  return { passMs: s['pass-ms'], tokensPerStep: s['tokens-per-step'], answerTokens: s['answer-tokens'] };
}

const settings = readSettings();
await runWorkerProcess({ loadModel: (config) => loadSimulatedModel(config.modelDir, settings) });
