import type { AnswerTokenLogprob, GenerateEvent, GenerateResponse } from '@dfleet/proto';
import type { TokenLogprob } from '@dfleet/queue';
import { toGenerateResponse, type FinishedGeneration } from './completion-response.ts';
import type { GenerationEvent } from './generation-events.ts';
import type { ServedModel } from './model-catalog.ts';

/** Token texts travel with ids so a gRPC client needs no tokenizer of its own. */
type TokenNamer = Pick<ServedModel, 'tokenText'>;

function toAnswerLogprobs(
  tokenIds: readonly number[],
  logprobs: readonly TokenLogprob[],
  model: TokenNamer,
): AnswerTokenLogprob[] {
  return logprobs.map((entry, index) => {
    const tokenId = tokenIds[index] as number;
    return {
      token: model.tokenText(tokenId),
      tokenId,
      logprob: entry.logprob,
      top: entry.top.map((alternative) => ({
        token: model.tokenText(alternative.id),
        tokenId: alternative.id,
        logprob: alternative.logprob,
      })),
    };
  });
}

/** One GenerationEvent as GenerateStream sends it (masked positions as -1 and listed, as the proto says). */
export function toGenerateEvent(event: GenerationEvent, model: TokenNamer): GenerateEvent {
  switch (event.kind) {
    case 'delta':
      return {
        delta: {
          text: event.text,
          tokenIds: event.tokenIds,
          logprobs: event.logprobs ? toAnswerLogprobs(event.tokenIds, event.logprobs, model) : [],
        },
      };
    case 'state': {
      const maskedPositions: number[] = [];
      event.tokenIds.forEach((id, position) => {
        if (id === null) maskedPositions.push(position);
      });
      return {
        state: {
          step: event.step,
          nfe: event.nfe,
          tokenIds: event.tokenIds.map((id) => id ?? -1),
          tokens: event.tokenIds.map((id) => (id === null ? '' : model.tokenText(id))),
          tokenSteps: event.tokenSteps,
          maskedPositions,
          finalPrefix: event.finalPrefix,
          decodeMs: event.decodeMs,
        },
      };
    }
    case 'done':
      return { done: toGenerateResponseWithLogprobs(event.finished, model) };
  }
}

/** The GenerateResponse, with each token's logprobs when the request asked for them. */
export function toGenerateResponseWithLogprobs(finished: FinishedGeneration, model: TokenNamer): GenerateResponse {
  const { tokenIds, tokenLogprobs } = finished.result;
  return {
    ...toGenerateResponse(finished),
    logprobs: tokenLogprobs ? toAnswerLogprobs(tokenIds, tokenLogprobs, model) : [],
  };
}
