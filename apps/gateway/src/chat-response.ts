import { type FinishedGeneration, openAiFinishReason, toCompletionResponseBody } from './completion-response.ts';
import { type ChatTokenLogprob, type TokenTexts, toChatLogprobs } from './openai-logprobs.ts';

interface ChatChoice {
  index: number;
  message: { role: 'assistant'; content: string; refusal: null };
  logprobs: { content: ChatTokenLogprob[]; refusal: null } | null;
  finish_reason: string;
}

export interface ChatCompletionResponseBody {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: ChatChoice[];
  /** Sums over the choices. */
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number; steps: number; nfe: number };
  /** The first choice's job as in completions; every choice's job id in `job_ids`. */
  dfleet: ReturnType<typeof toCompletionResponseBody>['dfleet'] & { job_ids: string[] };
}

/** Chat logprobs of a job that asked for them; null otherwise. */
function chatLogprobsOf({ job, result }: FinishedGeneration, texts: TokenTexts): ChatChoice['logprobs'] {
  const top = job.options.logprobs;
  if (top === undefined || result.tokenLogprobs === undefined) return null;
  return {
    content: toChatLogprobs({ tokenIds: result.tokenIds, logprobs: result.tokenLogprobs, top, textOffset: 0 }, texts),
    refusal: null,
  };
}

/** One choice per job (`n`), in index order. */
export function toChatCompletionResponseBody(
  finished: readonly FinishedGeneration[],
  texts: TokenTexts,
): ChatCompletionResponseBody {
  const singles = finished.map((one) => toCompletionResponseBody(one));
  const first = singles[0];
  if (first === undefined) throw new Error('a chat completion has at least one choice');
  const sum = (pick: (usage: ChatCompletionResponseBody['usage']) => number) =>
    singles.reduce((total, single) => total + pick(single.usage), 0);
  return {
    id: first.id,
    object: 'chat.completion',
    created: first.created,
    model: first.model,
    choices: finished.map((one, index) => ({
      index,
      message: { role: 'assistant', content: one.result.text, refusal: null },
      logprobs: chatLogprobsOf(one, texts),
      finish_reason: openAiFinishReason(one.result.finishReason),
    })),
    usage: {
      // Every choice decodes the same prompt: OpenAI counts it once.
      prompt_tokens: first.usage.prompt_tokens,
      completion_tokens: sum((u) => u.completion_tokens),
      total_tokens: first.usage.prompt_tokens + sum((u) => u.completion_tokens),
      steps: sum((u) => u.steps),
      nfe: sum((u) => u.nfe),
    },
    dfleet: { ...first.dfleet, job_ids: singles.map((single) => single.id) },
  };
}
