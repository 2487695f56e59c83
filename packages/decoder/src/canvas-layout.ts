import type { SpecialTokens } from './decode-request.ts';

/**
 * The canvas a decode runs on is `[bos] + prompt + [mask] * maxNewTokens + suffix` (bos when the
 * model has one; the suffix only for fill-in-the-middle). These are the one statement of that
 * layout; the gateway, the worker and the model package check prompts against a model's maximum
 * sequence length with them.
 */
export function canvasLength(
  promptTokens: number,
  maxNewTokens: number,
  specialTokens: Pick<SpecialTokens, 'bos'>,
  suffixTokens = 0,
): number {
  return bosTokens(specialTokens) + promptTokens + maxNewTokens + suffixTokens;
}

/** The longest prompt that fits next to `maxNewTokens` (and the suffix) in `maxSequenceLength` (0 when none does). */
export function maxPromptTokens(
  maxSequenceLength: number,
  maxNewTokens: number,
  specialTokens: Pick<SpecialTokens, 'bos'>,
  suffixTokens = 0,
): number {
  return Math.max(0, maxSequenceLength - bosTokens(specialTokens) - maxNewTokens - suffixTokens);
}

export interface PromptTooLong {
  readonly promptTokens: number;
  readonly maxNewTokens: number;
  readonly maxSequenceLength: number;
  readonly specialTokens: Pick<SpecialTokens, 'bos'>;
  /** Tokens of a fill-in-the-middle suffix pinned after the answer. @defaultValue `0` */
  readonly suffixTokens?: number;
  /** Names the model in the message when given. */
  readonly modelName?: string;
  /** What the caller calls maxNewTokens (`max_tokens` over HTTP). @defaultValue `'maxNewTokens'` */
  readonly maxNewTokensName?: string;
}

/** Why the prompt does not fit (one wording for every caller), or null when it does. */
export function promptTooLong(check: PromptTooLong): string | null {
  const { promptTokens, maxNewTokens, maxSequenceLength, specialTokens, modelName } = check;
  const suffixTokens = check.suffixTokens ?? 0;
  const maxNewTokensName = check.maxNewTokensName ?? 'maxNewTokens';
  if (canvasLength(promptTokens, maxNewTokens, specialTokens, suffixTokens) <= maxSequenceLength) return null;
  const limit = maxPromptTokens(maxSequenceLength, maxNewTokens, specialTokens, suffixTokens);
  const model = modelName === undefined ? 'the model' : `model ${modelName}`;
  const suffix = suffixTokens > 0 ? ` + suffix (${suffixTokens} tokens)` : '';
  const layout = `${bosTokens(specialTokens) === 1 ? '1 bos + ' : ''}prompt + ${maxNewTokensName}${suffix}`;
  const withSuffix = suffixTokens > 0 ? ` and a ${suffixTokens}-token suffix` : '';
  return (
    `prompt is ${promptTokens} tokens; ${model} allows at most ${limit} prompt tokens with ` +
    `${maxNewTokensName} ${maxNewTokens}${withSuffix} (maxSequenceLength ${maxSequenceLength} = ${layout})`
  );
}

function bosTokens(specialTokens: Pick<SpecialTokens, 'bos'>): number {
  return specialTokens.bos === undefined ? 0 : 1;
}
