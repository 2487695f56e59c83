/**
 * The LLaDA-8B-shaped benchmark model (bench/real-shape/export_model.py): random weights,
 * exported at run time with torch and cached by its flags under the OS temp dir, never in git.
 * Shared by bench:real-shape and bench:prefix-cache.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reduceModelDirectory } from '@dfleet/model';

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
export function realShapePromptIds(row: number, length: number): number[] {
  return Array.from({ length }, (_, i) => 95 + ((row * 7919 + i * 104729) % 126_000));
}
