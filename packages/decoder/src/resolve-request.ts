import type { DecodeRequest, SpecialTokens } from './decode-request.ts';
import { suppressedTokenIds } from './suppressed-tokens.ts';
import { canvasLength } from './canvas-layout.ts';
import { DecodeOptionsError } from './decode-options-error.ts';
import { describeKnobRange, isInKnobRange, STRATEGY_CONTRACT, STRATEGY_NAMES } from './strategy-contract.ts';
import type { StrategyKnob } from './strategy-contract.ts';

export type ResolvedStrategy =
  | {
      readonly name: 'reference';
      readonly steps: number;
      readonly remasking: 'low_confidence' | 'random';
      readonly earlyExit: boolean;
    }
  | { readonly name: 'threshold'; readonly threshold: number }
  | { readonly name: 'factor'; readonly factor: number }
  | { readonly name: 'entropy-bounded'; readonly gamma: number };

/** A request with every default applied and every invariant checked. */
export interface ResolvedDecodeRequest {
  readonly promptIds: readonly number[];
  readonly maxNewTokens: number;
  readonly blockLength: number;
  readonly strategy: ResolvedStrategy;
  readonly temperature: number;
  readonly seed: number;
  /** Infinity when uncapped. */
  readonly maxSteps: number;
  readonly stopSequences: readonly (readonly number[])[];
  readonly specialTokens: SpecialTokens;
  /** Tokens never predicted: mask, bos, unk, and pad unless pad is eos. */
  readonly suppressedTokenIds: readonly number[];
  /** Infinity when uncapped. */
  readonly maxAnswerTokens: number;
  /** Absent: the canvas never grows. */
  readonly maxCanvasLength: number | undefined;
  readonly suffixIds: readonly number[];
  /** Absent: no log-probabilities recorded. */
  readonly logprobs: number | undefined;
}

/** The most alternatives `logprobs` may ask for (OpenAI's completions limit). */
const MAX_LOGPROBS = 5;

export function resolveDecodeRequest(request: DecodeRequest, vocabSize: number): ResolvedDecodeRequest {
  requireInteger('vocabSize', vocabSize, 2);
  const specialTokens = checkSpecialTokens(request.specialTokens, vocabSize);

  if (!Array.isArray(request.promptIds)) invalid('promptIds', 'must be an array of token ids');
  request.promptIds.forEach((id, i) => {
    checkTokenId(`promptIds[${i}]`, id, vocabSize);
    if (id === specialTokens.mask) {
      throw new DecodeOptionsError(
        'invalid_token',
        `promptIds[${i}]`,
        `is the mask token ${id}; a prompt must not contain masks`,
      );
    }
  });

  const maxNewTokens = requireInteger('maxNewTokens', request.maxNewTokens, 1);
  const blockLength = requireInteger('blockLength', request.blockLength ?? maxNewTokens, 1);
  if (maxNewTokens % blockLength !== 0) {
    throw new DecodeOptionsError(
      'block_length_not_a_divisor',
      'blockLength',
      `maxNewTokens (${maxNewTokens}) must be a multiple of blockLength (${blockLength})`,
    );
  }
  const numBlocks = maxNewTokens / blockLength;

  const temperature = request.temperature ?? 0;
  if (!Number.isFinite(temperature) || temperature < 0)
    invalid('temperature', `must be a finite number >= 0, got ${temperature}`);
  const seed = request.seed ?? 0;
  if (!Number.isSafeInteger(seed)) invalid('seed', `must be a safe integer, got ${seed}`);
  const maxSteps = request.maxSteps === undefined ? Infinity : requireInteger('maxSteps', request.maxSteps, 1);

  const stopSequences = request.stopSequences ?? [];
  stopSequences.forEach((sequence, i) => {
    if (!Array.isArray(sequence) || sequence.length === 0) {
      invalid(`stopSequences[${i}]`, 'must be a non-empty array of token ids (an empty one would stop at once)');
    }
    sequence.forEach((id, j) => {
      checkTokenId(`stopSequences[${i}][${j}]`, id, vocabSize);
    });
  });

  const maxAnswerTokens =
    request.maxAnswerTokens === undefined ? Infinity : requireInteger('maxAnswerTokens', request.maxAnswerTokens, 1);
  const suffixIds = request.suffixIds ?? [];
  if (!Array.isArray(suffixIds)) invalid('suffixIds', 'must be an array of token ids');
  suffixIds.forEach((id, i) => {
    checkTokenId(`suffixIds[${i}]`, id, vocabSize);
    if (id === specialTokens.mask) {
      throw new DecodeOptionsError(
        'invalid_token',
        `suffixIds[${i}]`,
        `is the mask token ${id}; a suffix is never decoded`,
      );
    }
  });
  let maxCanvasLength: number | undefined;
  if (request.maxCanvasLength !== undefined) {
    if (suffixIds.length > 0) {
      throw new DecodeOptionsError(
        'suffix_with_continuation',
        'maxCanvasLength',
        "a fill-in-the-middle suffix pins the answer's end, so the canvas cannot grow past it: " +
          'leave maxCanvasLength unset with suffixIds, or drop the suffix',
      );
    }
    const initial = canvasLength(request.promptIds.length, maxNewTokens, specialTokens);
    maxCanvasLength = requireInteger('maxCanvasLength', request.maxCanvasLength, initial);
  }
  const logprobs = request.logprobs;
  if (logprobs !== undefined && (!Number.isInteger(logprobs) || logprobs < 0 || logprobs > MAX_LOGPROBS)) {
    invalid('logprobs', `must be an integer in [0, ${MAX_LOGPROBS}] (top alternatives per token), got ${logprobs}`);
  }

  return {
    promptIds: request.promptIds,
    maxNewTokens,
    blockLength,
    strategy: resolveStrategy(request, maxNewTokens, numBlocks),
    temperature,
    seed,
    maxSteps,
    stopSequences,
    specialTokens,
    suppressedTokenIds: suppressedTokenIds(specialTokens),
    maxAnswerTokens,
    maxCanvasLength,
    suffixIds,
    logprobs,
  };
}

function resolveStrategy(request: DecodeRequest, maxNewTokens: number, numBlocks: number): ResolvedStrategy {
  const strategy = request.strategy;
  // Typed callers cannot get here with an unknown name; untyped ones (plain JS, a stale job) can.
  if (typeof strategy !== 'object' || strategy === null || !STRATEGY_NAMES.includes(strategy.name)) {
    const name =
      typeof strategy === 'object' && strategy !== null
        ? String((strategy as { name?: unknown }).name)
        : String(strategy);
    throw new DecodeOptionsError(
      'unknown_strategy',
      'strategy.name',
      `unknown strategy "${name}"; expected one of ${STRATEGY_NAMES.join(', ')}`,
    );
  }
  switch (strategy.name) {
    case 'reference': {
      const { knobs } = STRATEGY_CONTRACT.reference;
      const steps = knobValue('steps', knobs.steps, strategy.steps ?? maxNewTokens);
      if (steps > maxNewTokens) {
        // A step would then commit nothing yet cost an NFE (LLaDA: "steps <= gen_length").
        invalid('strategy.steps', `must be at most maxNewTokens (${maxNewTokens}), got ${steps}`);
      }
      if (steps % numBlocks !== 0) {
        throw new DecodeOptionsError(
          'steps_not_divisible_by_blocks',
          'strategy.steps',
          `steps (${steps}) must be a multiple of the number of blocks (maxNewTokens / blockLength = ${numBlocks}), ` +
            `since each block gets steps / blocks steps; try ${Math.max(numBlocks, Math.round(steps / numBlocks) * numBlocks)}`,
        );
      }
      const remasking = knobValue('remasking', knobs.remasking, strategy.remasking ?? knobs.remasking.default);
      return { name: 'reference', steps, remasking, earlyExit: strategy.earlyExit ?? false };
    }
    case 'threshold': {
      const { knobs } = STRATEGY_CONTRACT.threshold;
      const threshold = knobValue('threshold', knobs.threshold, strategy.threshold ?? knobs.threshold.default);
      return { name: 'threshold', threshold };
    }
    case 'factor': {
      const { knobs } = STRATEGY_CONTRACT.factor;
      return { name: 'factor', factor: knobValue('factor', knobs.factor, strategy.factor ?? knobs.factor.default) };
    }
    case 'entropy-bounded': {
      const { knobs } = STRATEGY_CONTRACT['entropy-bounded'];
      return { name: 'entropy-bounded', gamma: knobValue('gamma', knobs.gamma, strategy.gamma ?? knobs.gamma.default) };
    }
  }
}

/** The knob's value, checked against its range in the contract. */
function knobValue<T>(key: string, knob: StrategyKnob, value: T): T {
  if (!isInKnobRange(knob, value)) {
    const shown = typeof value === 'string' ? `"${value}"` : String(value);
    invalid(`strategy.${key}`, `must be ${describeKnobRange(knob)}, got ${shown}`);
  }
  return value;
}

function checkSpecialTokens(specialTokens: SpecialTokens, vocabSize: number): SpecialTokens {
  const { mask, eos, pad, bos, unk } = specialTokens;
  checkTokenId('specialTokens.mask', mask, vocabSize);
  checkTokenId('specialTokens.eos', eos, vocabSize);
  if (pad !== undefined) checkTokenId('specialTokens.pad', pad, vocabSize);
  if (bos !== undefined) checkTokenId('specialTokens.bos', bos, vocabSize);
  if (unk !== undefined) checkTokenId('specialTokens.unk', unk, vocabSize);
  // Masked positions and the answer's end are found by id; pad == eos is harmless and allowed.
  const mustDiffer: [string, number | undefined, string, number | undefined][] = [
    ['mask', mask, 'eos', eos],
    ['mask', mask, 'pad', pad],
    ['mask', mask, 'bos', bos],
    ['eos', eos, 'bos', bos],
    ['mask', mask, 'unk', unk],
    ['eos', eos, 'unk', unk],
  ];
  for (const [firstName, first, secondName, second] of mustDiffer) {
    if (second !== undefined && first === second) {
      throw new DecodeOptionsError(
        'special_token_conflict',
        `specialTokens.${secondName}`,
        `must differ from specialTokens.${firstName} (both are ${first})`,
      );
    }
  }
  return specialTokens;
}

function checkTokenId(field: string, id: number, vocabSize: number): void {
  if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
    throw new DecodeOptionsError(
      'invalid_token',
      field,
      `must be a token id in [0, vocabSize=${vocabSize}), got ${id}`,
    );
  }
}

function requireInteger(field: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) invalid(field, `must be an integer >= ${min}, got ${value}`);
  return value;
}

function invalid(field: string, message: string): never {
  throw new DecodeOptionsError('invalid_value', field, message);
}
