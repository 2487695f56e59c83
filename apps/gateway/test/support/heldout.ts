import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_MODEL_DIR } from '@dfleet/model';

/** The shipped model's held-out prompts (never seen in training), in file order. */
const HELDOUT_PROMPTS: readonly string[] = readFileSync(join(DEFAULT_MODEL_DIR, 'eval', 'heldout.jsonl'), 'utf8')
  .trim()
  .split('\n')
  .map((line) => (JSON.parse(line) as { prompt: string }).prompt);

export function heldoutPrompt(index: number): string {
  const prompt = HELDOUT_PROMPTS[index];
  if (prompt === undefined) throw new Error(`there are ${HELDOUT_PROMPTS.length} held-out prompts, not ${index + 1}`);
  return prompt;
}
