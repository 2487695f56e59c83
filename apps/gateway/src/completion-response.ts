import type { GenerateResponse } from '@dfleet/proto';
import type { FinishReason, GenerationJob, GenerationResult } from '@dfleet/queue';
import { type CompletionLogprobs, type TokenTexts, toCompletionLogprobs } from './openai-logprobs.ts';

/** A finished generation with what both response shapes need. */
export interface FinishedGeneration {
  jobId: string;
  job: GenerationJob;
  result: GenerationResult;
  /** Epoch ms when the result reached the gateway (or Redis marked the job finished). */
  finishedAt: number;
}

/** OpenAI clients know "stop" and "length"; dfleet's own reason is kept in `dfleet.finish_reason`. */
export function openAiFinishReason(reason: FinishReason): string {
  switch (reason) {
    case 'eos':
    case 'stop':
      return 'stop';
    case 'length':
    case 'max_steps':
      return 'length';
    default:
      return reason;
  }
}

export interface CompletionResponseBody {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  choices: [{ index: 0; text: string; finish_reason: string; logprobs: CompletionLogprobs | null }];
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number; steps: number; nfe: number };
  dfleet: {
    finish_reason: FinishReason;
    queue_ms: number;
    decode_ms: number;
    total_ms: number;
    worker_id: string;
    /** Threshold strategy only: the threshold the worker decoded with (lowered under load, never below min_threshold). */
    effective_threshold?: number;
  };
}

/** How a choice's text is rendered: the prompt echoed before it, and token texts for logprobs. */
export interface ChoiceRendering {
  readonly echo: boolean;
  readonly texts: TokenTexts;
}

/** Logprobs of a job that asked for them, in the legacy completions shape; null otherwise. */
function completionLogprobsOf(
  { job, result }: FinishedGeneration,
  rendering: ChoiceRendering | undefined,
): CompletionLogprobs | null {
  const top = job.options.logprobs;
  if (top === undefined || rendering === undefined || result.tokenLogprobs === undefined) return null;
  const textOffset = rendering.echo ? job.prompt.length : 0;
  return toCompletionLogprobs(
    { tokenIds: result.tokenIds, logprobs: result.tokenLogprobs, top, textOffset },
    rendering.texts,
  );
}

/** @param rendering absent (GET /v1/jobs/:id): the answer's text alone, logprobs null. */
export function toCompletionResponseBody(
  finished: FinishedGeneration,
  rendering?: ChoiceRendering,
): CompletionResponseBody {
  const { jobId, job, result, finishedAt } = finished;
  const text = rendering?.echo ? job.prompt + result.text : result.text;
  return {
    id: jobId,
    object: 'text_completion',
    created: Math.floor(job.acceptedAt / 1000),
    model: job.model,
    choices: [
      {
        index: 0,
        text,
        finish_reason: openAiFinishReason(result.finishReason),
        logprobs: completionLogprobsOf(finished, rendering),
      },
    ],
    usage: {
      prompt_tokens: result.promptTokens,
      completion_tokens: result.tokenIds.length,
      total_tokens: result.promptTokens + result.tokenIds.length,
      steps: result.steps,
      nfe: result.nfe,
    },
    dfleet: {
      finish_reason: result.finishReason,
      queue_ms: result.queueMs,
      decode_ms: result.decodeMs,
      total_ms: Math.max(0, finishedAt - job.acceptedAt),
      worker_id: result.workerId,
      ...(result.effectiveThreshold === undefined ? {} : { effective_threshold: result.effectiveThreshold }),
    },
  };
}

export function toGenerateResponse({ jobId, job, result, finishedAt }: FinishedGeneration): GenerateResponse {
  return {
    id: jobId,
    model: job.model,
    text: result.text,
    finishReason: result.finishReason,
    usage: {
      promptTokens: result.promptTokens,
      completionTokens: result.tokenIds.length,
      totalTokens: result.promptTokens + result.tokenIds.length,
      steps: result.steps,
      nfe: result.nfe,
    },
    timing: { queueMs: result.queueMs, decodeMs: result.decodeMs, totalMs: Math.max(0, finishedAt - job.acceptedAt) },
    tokenIds: result.tokenIds,
    ...(result.effectiveThreshold === undefined ? {} : { effectiveThreshold: result.effectiveThreshold }),
  };
}

/** The answer to a body whose `prompt` is an array: one choice per prompt, in order. */
export interface BatchCompletionResponseBody {
  /** The first prompt's job id; every job id is in `dfleet.job_ids`. */
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  choices: {
    index: number;
    text: string;
    finish_reason: string;
    logprobs: CompletionLogprobs | null;
    dfleet: Omit<CompletionResponseBody['dfleet'], 'total_ms'> & { job_id: string; steps: number; nfe: number };
  }[];
  /** Sums over the prompts. */
  usage: CompletionResponseBody['usage'];
  dfleet: { job_ids: string[]; total_ms: number };
}

/** Also the answer to `n` > 1: one choice per job, in index order. */
export function toBatchCompletionResponseBody(
  finished: readonly FinishedGeneration[],
  rendering?: ChoiceRendering,
): BatchCompletionResponseBody {
  const singles = finished.map((one) => toCompletionResponseBody(one, rendering));
  const first = singles[0] as CompletionResponseBody;
  const sum = (pick: (usage: CompletionResponseBody['usage']) => number) =>
    singles.reduce((total, single) => total + pick(single.usage), 0);
  return {
    id: first.id,
    object: 'text_completion',
    created: first.created,
    model: first.model,
    choices: singles.map((single, index) => {
      const { total_ms: _total, ...perJob } = single.dfleet;
      const [choice] = single.choices;
      return {
        ...choice,
        index,
        dfleet: { ...perJob, job_id: single.id, steps: single.usage.steps, nfe: single.usage.nfe },
      };
    }),
    usage: {
      prompt_tokens: sum((u) => u.prompt_tokens),
      completion_tokens: sum((u) => u.completion_tokens),
      total_tokens: sum((u) => u.total_tokens),
      steps: sum((u) => u.steps),
      nfe: sum((u) => u.nfe),
    },
    dfleet: {
      job_ids: singles.map((single) => single.id),
      total_ms: Math.max(...singles.map((single) => single.dfleet.total_ms)),
    },
  };
}

/** The answer to `n` > 1 choices of one prompt: like a batch, but the prompt is counted once. */
export function toChoicesCompletionResponseBody(
  finished: readonly FinishedGeneration[],
  rendering: ChoiceRendering,
): BatchCompletionResponseBody {
  const body = toBatchCompletionResponseBody(finished, rendering);
  const promptTokens = finished[0]?.result.promptTokens ?? 0;
  body.usage.prompt_tokens = promptTokens;
  body.usage.total_tokens = promptTokens + body.usage.completion_tokens;
  return body;
}
