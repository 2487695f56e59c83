/**
 * The LLaDA-8B-shaped benchmark model (bench/real-shape/export_model.py): random weights,
 * exported at run time with torch and cached by its flags under the OS temp dir, never in git.
 * Shared by bench:real-shape and bench:prefix-cache.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDecodeSession, type DecodeSession } from '@dfleet/decoder';
import { reduceModelDirectory, type LoadedModel } from '@dfleet/model';

export interface RealShapeModelFlags {
  readonly layers: string;
  readonly dModel: string;
  readonly seed: string;
  /** The interpreter that has torch and onnx, for the one-time export. */
  readonly python: string;
  readonly exportScript: string;
}

/** The folder the exported model and its reduced forms are kept in, one per flag set. */
export function realShapeCacheDir(flags: RealShapeModelFlags): string {
  const dir = join(tmpdir(), 'dfleet-real-shape', `layers${flags.layers}-d${flags.dModel}-seed${flags.seed}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * Exports the logits form, with its prefix-cache form beside it, once per flag set; a partial
 * export is never taken for a finished one.
 */
export function ensureExportedModel(flags: RealShapeModelFlags): string {
  const dir = join(realShapeCacheDir(flags), 'exported');
  if (existsSync(join(dir, 'dfleet-model.json'))) return dir;
  const partial = `${dir}.partial`;
  rmSync(partial, { recursive: true, force: true });
  console.log(`exporting the LLaDA-8B-shaped model into ${dir} (torch, once per flag set)...`);
  execFileSync(
    flags.python,
    [
      flags.exportScript,
      partial,
      '--layers',
      flags.layers,
      '--d-model',
      flags.dModel,
      '--seed',
      flags.seed,
      '--prefix-cache',
    ],
    { stdio: 'inherit', env: { ...process.env, OMP_NUM_THREADS: '1' } },
  );
  renameSync(partial, dir);
  return dir;
}

/** `source` reduced on disk into `dir` (its prefix-cache form too), once. */
export async function ensureReducedModel(source: string, dir: string, positionsInput: boolean): Promise<string> {
  if (existsSync(join(dir, 'dfleet-model.json'))) return dir;
  const partial = `${dir}.partial`;
  rmSync(partial, { recursive: true, force: true });
  await reduceModelDirectory(source, partial, { positionsInput });
  renameSync(partial, dir);
  return dir;
}

/** `length` ordinary ids below the special tokens (bos 126080, eos/pad 126081, mask 126336), different per row. */
function realShapePromptIds(row: number, length: number): number[] {
  return Array.from({ length }, (_, i) => 95 + ((row * 7919 + i * 104729) % 126_000));
}

/** The canvas and block both benchmarks decode: LLaDA's usual generation length and block. */
export const REAL_SHAPE_CANVAS = 256;
export const REAL_SHAPE_BLOCK = 32;

/**
 * Random weights never pass a confidence threshold, so the benchmarks commit a fixed number of
 * tokens per step: the shipped model's NFE per token at threshold 0.9 (bench:decode's output),
 * as steps over the canvas, rounded to a multiple of its blocks.
 */
export function shippedThresholdSteps(decodeJsonPath: string): { nfePerToken: number; steps: number } {
  const decodeJson = JSON.parse(readFileSync(decodeJsonPath, 'utf8')) as {
    strategies: { name: string; knobs: Record<string, number>; nfe_per_token: number }[];
  };
  const entry = decodeJson.strategies.find((s) => s.name === 'threshold' && s.knobs.threshold === 0.9);
  if (!entry) throw new Error(`${decodeJsonPath} has no threshold 0.9 entry: run npm run bench:decode first`);
  const blockCount = REAL_SHAPE_CANVAS / REAL_SHAPE_BLOCK;
  const steps = Math.max(blockCount, Math.round((REAL_SHAPE_CANVAS * entry.nfe_per_token) / blockCount) * blockCount);
  return { nfePerToken: entry.nfe_per_token, steps };
}

/** `batch` reference-strategy decodes of the canvas, `steps` over it, stopped after `blocks` blocks. */
export function realShapeSessions(
  model: LoadedModel,
  shape: { batch: number; prompt: number; steps: number; blocks: number },
): DecodeSession[] {
  const { manifest, denoiser } = model;
  const { batch, prompt, steps, blocks } = shape;
  return Array.from({ length: batch }, (_, row) =>
    createDecodeSession(
      {
        promptIds: realShapePromptIds(row, prompt),
        maxNewTokens: REAL_SHAPE_CANVAS,
        blockLength: REAL_SHAPE_BLOCK,
        strategy: { name: 'reference', steps },
        maxSteps: (steps / (REAL_SHAPE_CANVAS / REAL_SHAPE_BLOCK)) * blocks,
        temperature: 0,
        specialTokens: manifest.specialTokens,
      },
      manifest.vocabSize,
      denoiser.outputForm,
    ),
  );
}
