import { readFileSync } from 'node:fs';
import { DEFAULT_MODEL_DIR } from '@dfleet/model';

/** The shipped default model, which the worker integration tests decode with. */
export const MODEL_DIR = DEFAULT_MODEL_DIR;

/** The first `count` held-out prompts of the default model. */
export function heldOutPrompts(count: number): string[] {
  return readFileSync(`${MODEL_DIR}/eval/heldout.jsonl`, 'utf8')
    .trim()
    .split('\n')
    .slice(0, count)
    .map((line) => (JSON.parse(line) as { prompt: string }).prompt);
}
