import { type FinishedGeneration, openAiFinishReason } from './completion-response.ts';
import type { GenerationEvent } from './generation-events.ts';
import { type TokenTexts, toChatLogprobs, toCompletionLogprobs } from './openai-logprobs.ts';

type StateEvent = Extract<GenerationEvent, { kind: 'state' }>;

/** Which OpenAI stream a request gets: legacy completions or chat. */
type StreamKind = 'completion' | 'chat';

export interface StreamChunkOptions {
  kind: StreamKind;
  /** Every chunk's id: the first choice's job id, as the non-streamed answer's id. */
  id: string;
  model: string;
  created: number;
  /** Alternatives per token when the request asked for logprobs; null = none asked. */
  logprobs: number | null;
  /** Completions: the prompt, sent first in each choice when `echo` was asked; null = no echo. */
  echo: string | null;
  includeUsage: boolean;
  texts: TokenTexts;
}

/** What one choice sent so far: logprob offsets follow the text already streamed. */
interface ChoiceProgress {
  sentIds: number[];
  sentTextLength: number;
  started: boolean;
}

/**
 * Turns each choice's GenerationEvents into OpenAI stream chunks (`text_completion` or
 * `chat.completion.chunk`), the dfleet canvas states into `dfleet.canvas_state` payloads, and the
 * choices' results into the final usage chunk.
 */
export class OpenAiStreamChunks {
  readonly #options: StreamChunkOptions;
  readonly #choices = new Map<number, ChoiceProgress>();
  readonly #finished: FinishedGeneration[] = [];

  constructor(options: StreamChunkOptions) {
    this.#options = options;
  }

  /** Chunks that open choice `index`: chat's role delta, or the echoed prompt. */
  start(index: number): unknown[] {
    const progress: ChoiceProgress = { sentIds: [], sentTextLength: 0, started: true };
    this.#choices.set(index, progress);
    const { kind, echo } = this.#options;
    if (kind === 'chat')
      return [this.#chunk({ index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null })];
    if (echo === null) return [];
    progress.sentTextLength = echo.length;
    return [this.#chunk({ index, text: echo, logprobs: null, finish_reason: null })];
  }

  /** Data chunks for a delta or done of choice `index` (a state is `canvasState`'s). */
  chunksFor(index: number, event: Exclude<GenerationEvent, StateEvent>): unknown[] {
    const progress = this.#choices.get(index);
    if (progress === undefined) throw new Error(`choice ${index} was not started`);
    if (event.kind === 'done') {
      this.#finished.push(event.finished);
      const { result } = event.finished;
      const finish = {
        finish_reason: openAiFinishReason(result.finishReason),
        dfleet: {
          finish_reason: result.finishReason,
          job_id: event.finished.jobId,
          steps: result.steps,
          nfe: result.nfe,
        },
      };
      return this.#options.kind === 'chat'
        ? [this.#chunk({ index, delta: {}, logprobs: null, ...finish })]
        : [this.#chunk({ index, text: '', logprobs: null, ...finish })];
    }
    if (event.text === '' && event.tokenIds.length === 0) return [];
    const span =
      this.#options.logprobs !== null && event.logprobs !== undefined
        ? {
            tokenIds: event.tokenIds,
            logprobs: event.logprobs,
            top: this.#options.logprobs,
            textOffset: progress.sentTextLength,
            precedingIds: progress.sentIds,
          }
        : null;
    const { texts } = this.#options;
    const chunk =
      this.#options.kind === 'chat'
        ? this.#chunk({
            index,
            delta: { content: event.text },
            logprobs: span === null ? null : { content: toChatLogprobs(span, texts), refusal: null },
            finish_reason: null,
          })
        : this.#chunk({
            index,
            text: event.text,
            logprobs: span === null ? null : toCompletionLogprobs(span, texts),
            finish_reason: null,
          });
    progress.sentIds.push(...event.tokenIds);
    progress.sentTextLength += event.text.length;
    return [chunk];
  }

  /** The `dfleet.canvas_state` payload of a state event (tokens as text, null while masked). */
  canvasState(index: number, state: StateEvent): Record<string, unknown> {
    const { texts } = this.#options;
    const masked: number[] = [];
    const committed: number[] = [];
    state.tokenIds.forEach((id, position) => {
      (id === null ? masked : committed).push(position);
    });
    return {
      object: 'dfleet.canvas_state',
      id: this.#options.id,
      index,
      step: state.step,
      nfe: state.nfe,
      tokens: state.tokenIds.map((id) => (id === null ? null : texts.tokenText(id))),
      token_ids: state.tokenIds,
      token_steps: state.tokenSteps,
      masked_positions: masked,
      committed_positions: committed,
      final_prefix: state.finalPrefix,
      decode_ms: state.decodeMs,
    };
  }

  /** The usage chunk (choices empty) when `stream_options.include_usage`, else null. */
  usageChunk(): unknown {
    if (!this.#options.includeUsage) return null;
    const promptTokens = this.#finished[0]?.result.promptTokens ?? 0;
    const completionTokens = this.#finished.reduce((sum, one) => sum + one.result.tokenIds.length, 0);
    return {
      ...this.#envelope(),
      choices: [],
      usage: {
        prompt_tokens: promptTokens,
        completion_tokens: completionTokens,
        total_tokens: promptTokens + completionTokens,
        steps: this.#finished.reduce((sum, one) => sum + one.result.steps, 0),
        nfe: this.#finished.reduce((sum, one) => sum + one.result.nfe, 0),
      },
    };
  }

  #envelope() {
    const { kind, id, created, model } = this.#options;
    return { id, object: kind === 'chat' ? 'chat.completion.chunk' : 'text_completion', created, model };
  }

  #chunk(choice: Record<string, unknown>): unknown {
    return {
      ...this.#envelope(),
      choices: [choice],
      // OpenAI sends usage: null on every chunk but the last when usage was asked for.
      ...(this.#options.includeUsage ? { usage: null } : {}),
    };
  }
}
