import { spawnSync } from 'node:child_process';
import { CliError } from './cli-error.ts';
import { UsageError } from './usage-error.ts';

/** GPU indices reported by `nvidia-smi -L`; empty when there is no driver or no GPU. */
export function detectGpus(): number[] {
  const result = spawnSync('nvidia-smi', ['-L'], { encoding: 'utf8' });
  if (result.error || result.status !== 0) return [];
  return result.stdout
    .split('\n')
    .map((line) => line.match(/^GPU (\d+):/))
    .filter((match): match is RegExpMatchArray => match !== null)
    .map((match) => Number(match[1]));
}

/**
 * Parses `--gpus all|0,2` against the GPUs present. `all` with none present means "one CPU
 * worker"; naming a GPU that does not exist is an error rather than a silent CPU fallback.
 */
export function selectGpus(flag: string, present: number[]): number[] {
  if (flag === 'all') return present;
  const wanted = flag.split(',').map((part) => part.trim());
  const ids: number[] = [];
  for (const part of wanted) {
    if (!/^\d+$/.test(part)) {
      throw new UsageError(`--gpus must be "all" or a comma-separated list of GPU indices like "0,2"; got "${flag}"`);
    }
    const id = Number(part);
    if (!present.includes(id)) {
      const seen = present.length
        ? `GPUs present: ${present.join(', ')}`
        : 'no GPU was found (nvidia-smi -L failed or listed none)';
      throw new CliError('gpu_not_found', `--gpus names GPU ${id}, but ${seen}.`);
    }
    if (!ids.includes(id)) ids.push(id);
  }
  return ids;
}
