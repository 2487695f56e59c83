import type { TokenLogprob } from '@dfleet/queue';
import type { FinishedGeneration } from './completion-response.ts';
import type { GenerationEvent } from './generation-events.ts';
import type { JobStep } from './pending-results.ts';

type DeltaEvent = Extract<GenerationEvent, { kind: 'delta' }>;

/** What a tokenizer gives for a sequence cut inside a multi-byte character. */
const REPLACEMENT_CHARACTER = '\uFFFD';

/**
 * Turns one streaming job's step reports, then its result, into GenerationEvents. Nothing sent is
 * ever revised: a delta carries only tokens of the final prefix, and its text is the new suffix of
 * that prefix's decoded text, less a trailing U+FFFD (a character the next token may complete).
 *
 * Steps are best effort. A gap in `step`, a new attempt (a retry starts again at step 1), or a
 * report that does not fit the canvas makes the assembler stop trusting steps; the result, which
 * carries every token, then finishes the answer, after what was already sent when it extends it.
 */
export class GenerationEventAssembler {
  readonly #decode: (ids: readonly number[]) => string;
  readonly #states: boolean;
  #trusted = true;
  #attempt: number | null = null;
  #lastStep = 0;
  readonly #canvas: (number | null)[] = [];
  readonly #tokenSteps: number[] = [];
  readonly #logprobs: (TokenLogprob | undefined)[] = [];
  readonly #sentIds: number[] = [];
  #sentText = '';

  constructor(decode: (ids: readonly number[]) => string, options: { states: boolean }) {
    this.#decode = decode;
    this.#states = options.states;
  }

  /** The last step that drove the stream (0 before the first). */
  get lastStep(): number {
    return this.#lastStep;
  }

  /** Whether steps still drive the stream (false after a gap, a retry or a malformed report). */
  get trusted(): boolean {
    return this.#trusted;
  }

  onStep(step: JobStep): GenerationEvent[] {
    if (!this.#trusted) return [];
    this.#attempt ??= step.attempt;
    if (step.attempt !== this.#attempt || step.step !== this.#lastStep + 1 || !fitsCanvas(step)) {
      this.#trusted = false;
      return [];
    }
    this.#lastStep = step.step;
    while (this.#canvas.length < step.answerLength) {
      this.#canvas.push(null);
      this.#tokenSteps.push(0);
      this.#logprobs.push(undefined);
    }
    step.committedPositions.forEach((position, index) => {
      this.#canvas[position] = step.committedTokens[index] as number;
      this.#tokenSteps[position] = step.step;
      this.#logprobs[position] = step.committedLogprobs[index];
    });

    const events: GenerationEvent[] = [];
    const delta = this.#deltaUpTo(step.finalPrefix);
    if (delta) events.push(delta);
    if (this.#states && this.#trusted) {
      events.push({
        kind: 'state',
        step: step.step,
        nfe: step.nfe,
        tokenIds: [...this.#canvas],
        tokenSteps: [...this.#tokenSteps],
        committedPositions: [...step.committedPositions],
        finalPrefix: step.finalPrefix,
        decodeMs: step.decodeMs,
      });
    }
    return events;
  }

  /** The rest of the answer (when the result extends what was sent), then `done`. */
  finish(finished: FinishedGeneration): GenerationEvent[] {
    const { tokenIds, text, tokenLogprobs } = finished.result;
    const events: GenerationEvent[] = [];
    // A retried attempt may have decoded another answer than the one partly sent: nothing can be
    // taken back, so the client gets the result's answer in `done` and no further delta.
    const extendsSent = this.#sentIds.every((id, index) => tokenIds[index] === id) && text.startsWith(this.#sentText);
    if (extendsSent) {
      const rest = tokenIds.slice(this.#sentIds.length);
      const restText = text.slice(this.#sentText.length);
      if (rest.length > 0 || restText !== '') {
        const logprobs = tokenLogprobs?.slice(this.#sentIds.length);
        events.push({ kind: 'delta', tokenIds: rest, text: restText, ...(logprobs ? { logprobs } : {}) });
      }
    }
    events.push({ kind: 'done', finished });
    return events;
  }

  #deltaUpTo(finalPrefix: number): DeltaEvent | null {
    const from = this.#sentIds.length;
    if (finalPrefix <= from) return null;
    const ids = this.#canvas.slice(from, finalPrefix);
    if (ids.some((id) => id === null)) {
      // A worker that calls a masked position final breaks the contract: leave it to the result.
      this.#trusted = false;
      return null;
    }
    const newIds = ids as number[];
    const fullText = this.#decode([...this.#sentIds, ...newIds]);
    if (!fullText.startsWith(this.#sentText)) {
      // The tokenizer rewrote text already sent (not prefix-stable here): only the result can finish.
      this.#trusted = false;
      return null;
    }
    let text = fullText.slice(this.#sentText.length);
    while (text.endsWith(REPLACEMENT_CHARACTER)) text = text.slice(0, -1);
    const logprobs = this.#logprobs.slice(from, finalPrefix);
    this.#sentIds.push(...newIds);
    this.#sentText += text;
    return {
      kind: 'delta',
      tokenIds: newIds,
      text,
      ...(logprobs.every((entry) => entry !== undefined) ? { logprobs: logprobs as TokenLogprob[] } : {}),
    };
  }
}

function fitsCanvas(step: JobStep): boolean {
  return (
    step.committedPositions.length === step.committedTokens.length &&
    step.committedPositions.every((position) => Number.isInteger(position) && position < step.answerLength) &&
    step.finalPrefix <= step.answerLength
  );
}
