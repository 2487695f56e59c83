import type { TokenLogprob } from '@dfleet/queue';
import type { FinishedGeneration } from './completion-response.ts';

/**
 * What CompletionService.stream yields, in order: deltas (and states when asked) while the job
 * decodes, then exactly one `done`. Concatenated, the deltas' `text` is the final answer's text and
 * their `tokenIds` its token ids (unless a retried attempt decoded a different answer than the one
 * already sent; then `done` alone has the answer).
 */
export type GenerationEvent =
  | {
      kind: 'delta';
      /** Answer tokens that became final, following those sent before. */
      tokenIds: number[];
      /** Their text: appended to what came before, never revised. May be "" while a multi-byte character is split. */
      text: string;
      /** Aligned with `tokenIds`, when the request asked for logprobs. */
      logprobs?: TokenLogprob[];
    }
  | {
      kind: 'state';
      /** 1-based step of the job's current attempt. */
      step: number;
      nfe: number;
      /** The whole answer canvas after this step; null where still masked. */
      tokenIds: (number | null)[];
      /** The step that committed each position; 0 while masked. */
      tokenSteps: number[];
      /** Answer positions this step committed, ascending. */
      committedPositions: number[];
      /** Answer positions [0, finalPrefix) are final (sent as deltas). */
      finalPrefix: number;
      /** Milliseconds since this attempt's decode started. */
      decodeMs: number;
    }
  | { kind: 'done'; finished: FinishedGeneration };
