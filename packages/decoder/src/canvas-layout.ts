import type { SpecialTokens } from './decode-request.ts';

/**
 * The canvas a decode runs on is `[bos] + prompt + [mask] * maxNewTokens` (bos when the model
 * has one). These are the one statement of that layout; the gateway, the worker and the model
 * package check prompts against a model's maximum sequence length with them.
 */
export function canvasLength(
  promptTokens: number,
  maxNewTokens: number,
  specialTokens: Pick<SpecialTokens, 'bos'>,
): number {
  return bosTokens(specialTokens) + promptTokens + maxNewTokens;
}

/** The longest prompt that fits next to `maxNewTokens` in `maxSequenceLength` (0 when none does). */
export function maxPromptTokens(
  maxSequenceLength: number,
  maxNewTokens: number,
  specialTokens: Pick<SpecialTokens, 'bos'>,
): number {
  return Math.max(0, maxSequenceLength - bosTokens(specialTokens) - maxNewTokens);
}

export interface PromptTooLong {
  readonly promptTokens: number;
  readonly maxNewTokens: number;
  readonly maxSequenceLength: number;
  readonly specialTokens: Pick<SpecialTokens, 'bos'>;
  /** Names the model in the message when given. */
  readonly modelName?: string;
  /** What the caller calls maxNewTokens (`max_tokens` over HTTP). @defaultValue `'maxNewTokens'` */
  readonly maxNewTokensName?: string;
}

/** Why the prompt does not fit (one wording for every caller), or null when it does. */
export function promptTooLong(check: PromptTooLong): string | null {
  const { promptTokens, maxNewTokens, maxSequenceLength, specialTokens, modelName } = check;
  const maxNewTokensName = check.maxNewTokensName ?? 'maxNewTokens';
  if (canvasLength(promptTokens, maxNewTokens, specialTokens) <= maxSequenceLength) return null;
  const limit = maxPromptTokens(maxSequenceLength, maxNewTokens, specialTokens);
  const model = modelName === undefined ? 'the model' : `model ${modelName}`;
  const layout = `${bosTokens(specialTokens) === 1 ? '1 bos + ' : ''}prompt + ${maxNewTokensName}`;
  return (
    `prompt is ${promptTokens} tokens; ${model} allows at most ${limit} prompt tokens with ` +
    `${maxNewTokensName} ${maxNewTokens} (maxSequenceLength ${maxSequenceLength} = ${layout})`
  );
}

function bosTokens(specialTokens: Pick<SpecialTokens, 'bos'>): number {
  return specialTokens.bos === undefined ? 0 : 1;
}
