import type { ChildProcess } from 'node:child_process';
import { z } from 'zod';
import type { Denoiser } from '@dfleet/decoder';
import { loadModel, type LoadModelOptions, type ModelManifest, type Tokenizer } from '@dfleet/model';
import { loadSimulatedModel, type SimulatedDecodeSettings } from '@dfleet/test-support';
import { bundleSimulatedWorker, startSimulatedWorker } from './simulated-worker.ts';
import { startApp } from './start-app.ts';

/**
 * bench:fleet's `--workers`: `onnx`, the worker's own main on the shipped model (its decode on
 * this host's CPUs), or `simulated`, the same worker with a SimulatedDenoiser (`--pass-ms`,
 * `--tokens-per-step`, `--answer-tokens`), so the CPUs are left to the fleet as a GPU worker
 * leaves them, and its decode time is known.
 */
const fleetWorkersSchema = z.discriminatedUnion('workers', [
  z.object({ workers: z.literal('onnx') }),
  z.object({
    workers: z.literal('simulated'),
    'pass-ms': z.coerce.number().positive().max(60_000).default(20),
    'tokens-per-step': z.coerce.number().int().positive().default(4),
    'answer-tokens': z.coerce.number().int().positive().default(16),
  }),
]);

export type FleetWorkers =
  | { readonly kind: 'onnx' }
  | { readonly kind: 'simulated'; readonly settings: SimulatedDecodeSettings };

/** The command-line options fleetWorkersFrom reads, for parseArgs. */
export const FLEET_WORKER_OPTIONS = {
  workers: { type: 'string', default: 'onnx' },
  'pass-ms': { type: 'string' },
  'tokens-per-step': { type: 'string' },
  'answer-tokens': { type: 'string' },
} as const;

/** @throws Error naming the option and what it allows */
export function fleetWorkersFrom(values: Record<string, unknown>): FleetWorkers {
  const parsed = fleetWorkersSchema.safeParse(values);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `--${issue.path.join('.') || 'workers'}: ${issue.message}`);
    throw new Error(`bench:fleet: ${problems.join('; ')} (--workers is onnx or simulated)`);
  }
  const options = parsed.data;
  if (options.workers === 'onnx') return { kind: 'onnx' };
  return {
    kind: 'simulated',
    settings: {
      passMs: options['pass-ms'],
      tokensPerStep: options['tokens-per-step'],
      answerTokens: options['answer-tokens'],
    },
  };
}

/** What the direct (no queue) decode needs: either loaded model. */
export interface DirectModel {
  readonly manifest: ModelManifest;
  readonly tokenizer: Tokenizer;
  readonly denoiser: Denoiser;
  close(): Promise<void>;
}

/** The model the worker decodes with, loaded here for the direct decode baseline. */
export function loadDirectModel(workers: FleetWorkers, modelDir: string, onnx: LoadModelOptions): Promise<DirectModel> {
  return workers.kind === 'onnx' ? loadModel(modelDir, onnx) : loadSimulatedModel(modelDir, workers.settings);
}

/** Starts the fleet's worker process and resolves once it is ready. */
export async function startFleetWorker(
  workers: FleetWorkers,
  env: NodeJS.ProcessEnv,
): Promise<{ child: ChildProcess }> {
  if (workers.kind === 'onnx') return startApp('../../apps/worker/src/main.ts', env, /^worker ready/);
  const worker = await startSimulatedWorker(await bundleSimulatedWorker(), workers.settings, env, 'simulated-worker');
  return { child: worker.child };
}

/** What the results file says about the workers, and its name (each kind keeps its own figures). */
export function fleetWorkersReport(workers: FleetWorkers): { file: string; workers: Record<string, unknown> } {
  if (workers.kind === 'onnx') return { file: 'fleet.json', workers: { kind: 'onnx' } };
  return { file: 'fleet-simulated.json', workers: { kind: 'simulated', ...workers.settings } };
}
