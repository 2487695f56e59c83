import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { CliError } from '../../cli-error.ts';
import { BATCH_ENDPOINTS } from './batch-input.ts';

const stateSchema = z.object({
  /** The input file the batches were made from (absolute path). */
  input: z.string(),
  batches: z.array(z.object({ id: z.string(), endpoint: z.enum(BATCH_ENDPOINTS), input_file_id: z.string() })),
});

/** The Batch API batches a run created and has not collected yet: what a rerun re-attaches to. */
export type BatchState = z.output<typeof stateSchema>;

/** Where the state of `-o OUT` lives: next to it, so the pair moves together. */
export function statePathFor(outputPath: string): string {
  return `${outputPath}.dfleet-batch.json`;
}

/** The state a previous run left, or undefined. Throws CliError when it is unreadable or names another input. */
export function readBatchState(path: string, input: string): BatchState | undefined {
  if (!existsSync(path)) return undefined;
  let state: BatchState;
  try {
    state = stateSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
  } catch (error) {
    throw new CliError(
      'bad_state_file',
      `${path} is not a dfleet batch state file (${(error as Error).message.split('\n')[0]}); remove it to start over`,
    );
  }
  if (state.input !== input) {
    throw new CliError(
      'state_of_another_input',
      `${path} belongs to a batch of ${state.input}, not ${input}; use another -o, or remove the state file`,
    );
  }
  return state;
}

/** Writes the state whole (temp file, then rename), so a crash leaves the old state or the new one. */
export function writeBatchState(path: string, state: BatchState): void {
  writeFileSync(`${path}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(`${path}.tmp`, path);
}

export function removeBatchState(path: string): void {
  rmSync(path, { force: true });
}
