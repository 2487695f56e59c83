import type { BatchRequestLine } from './batch-input.ts';
import type { BatchRun } from './batch-run.ts';
import { sendLine } from './send-line.ts';

export interface ViaCompletionsOptions {
  /** Lines in flight at once. */
  readonly concurrency: number;
  /** Attempts after the first for a retryable answer. */
  readonly retries: number;
}

/**
 * Sends each line straight to its endpoint, `concurrency` at a time, and records each result as
 * it comes. Stops starting lines on Ctrl-C, or when the gateway cannot be reached or refuses
 * the key (every other line would fail too), and waits for the lines in flight; the second of
 * those rethrows the error once they are in.
 */
export async function runViaCompletions(
  run: BatchRun,
  lines: readonly BatchRequestLine[],
  options: ViaCompletionsOptions,
): Promise<void> {
  const halt = new AbortController();
  const stopping = AbortSignal.any([run.interrupt.stopping, halt.signal]);
  let fatal: unknown;
  let next = 0;
  const sender = async (): Promise<void> => {
    while (!stopping.aborted) {
      const line = lines[next++];
      if (line === undefined) return;
      run.inFlight++;
      try {
        const outcome = await sendLine(run.http, line, run.bodyFor(line), { retries: options.retries, stopping });
        if (outcome.kind === 'recorded') run.record(outcome.record, outcome.completionTokens);
        else run.leave(line, outcome.reason);
      } catch (error) {
        fatal ??= error;
        halt.abort();
        run.leave(line, 'gateway unreachable');
      } finally {
        run.inFlight--;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency, lines.length) }, sender));
  if (fatal !== undefined) throw fatal;
}
