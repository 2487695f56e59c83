import { DEFAULT_STRATEGY_KNOBS, STRATEGY_NAMES } from './decode-request.ts';
import type { DecodeRequest, SpecialTokens } from './decode-request.ts';
import { DecodeOptionsError } from './decode-options-error.ts';

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
  /** Tokens never predicted: mask, bos, and pad unless pad is eos. */
  readonly suppressedTokenIds: readonly number[];
}

export function resolveDecodeRequest(request: DecodeRequest, vocabSize: number): ResolvedDecodeRequest {
  requireInteger('vocabSize', vocabSize, 2);
  const specialTokens = checkSpecialTokens(request.specialTokens, vocabSize);

  if (!Array.isArray(request.promptIds)) invalid('promptIds', 'must be an array of token ids');
  request.promptIds.forEach((id, i) => {
    checkTokenId(`promptIds[${i}]`, id, vocabSize);
    if (id === specialTokens.mask) {
      throw new DecodeOptionsError('INVALID_TOKEN', `promptIds[${i}]`, `is the mask token ${id}; a prompt must not contain masks`);
    }
  });

  const maxNewTokens = requireInteger('maxNewTokens', request.maxNewTokens, 1);
  const blockLength = requireInteger('blockLength', request.blockLength ?? maxNewTokens, 1);
  if (maxNewTokens % blockLength !== 0) {
    throw new DecodeOptionsError(
      'BLOCK_LENGTH_NOT_A_DIVISOR',
      'blockLength',
      `maxNewTokens (${maxNewTokens}) must be a multiple of blockLength (${blockLength})`,
    );
  }
  const numBlocks = maxNewTokens / blockLength;

  const temperature = request.temperature ?? 0;
  if (!Number.isFinite(temperature) || temperature < 0) invalid('temperature', `must be a finite number >= 0, got ${temperature}`);
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

  const suppressed = new Set<number>([specialTokens.mask]);
  if (specialTokens.bos !== undefined) suppressed.add(specialTokens.bos);
  if (specialTokens.pad !== undefined && specialTokens.pad !== specialTokens.eos) suppressed.add(specialTokens.pad);

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
    suppressedTokenIds: [...suppressed],
  };
}

function resolveStrategy(request: DecodeRequest, maxNewTokens: number, numBlocks: number): ResolvedStrategy {
  const strategy = request.strategy;
  // Typed callers cannot get here with an unknown name; untyped ones (plain JS, a stale job) can.
  if (typeof strategy !== 'object' || strategy === null || !STRATEGY_NAMES.includes(strategy.name)) {
    const name = typeof strategy === 'object' && strategy !== null ? String((strategy as { name?: unknown }).name) : String(strategy);
    throw new DecodeOptionsError('UNKNOWN_STRATEGY', 'strategy.name', `unknown strategy "${name}"; expected one of ${STRATEGY_NAMES.join(', ')}`);
  }
  switch (strategy.name) {
    case 'reference': {
      const defaults = DEFAULT_STRATEGY_KNOBS.reference;
      const steps = requireInteger('strategy.steps', strategy.steps ?? maxNewTokens, 1);
      if (steps > maxNewTokens) {
        // A step would then commit nothing yet cost an NFE (LLaDA: "steps <= gen_length").
        invalid('strategy.steps', `must be at most maxNewTokens (${maxNewTokens}), got ${steps}`);
      }
      if (steps % numBlocks !== 0) {
        throw new DecodeOptionsError(
          'STEPS_NOT_DIVISIBLE_BY_BLOCKS',
          'strategy.steps',
          `steps (${steps}) must be a multiple of the number of blocks (maxNewTokens / blockLength = ${numBlocks}), ` +
            `since each block gets steps / blocks steps; try ${Math.max(numBlocks, Math.round(steps / numBlocks) * numBlocks)}`,
        );
      }
      const remasking = strategy.remasking ?? defaults.remasking;
      if (remasking !== 'low_confidence' && remasking !== 'random') {
        invalid('strategy.remasking', `must be "low_confidence" or "random", got "${String(remasking)}"`);
      }
      return { name: 'reference', steps, remasking, earlyExit: strategy.earlyExit ?? defaults.earlyExit };
    }
    case 'threshold': {
      const threshold = strategy.threshold ?? DEFAULT_STRATEGY_KNOBS.threshold.threshold;
      if (!(threshold >= 0 && threshold <= 1)) invalid('strategy.threshold', `must be in [0, 1], got ${threshold}`);
      return { name: 'threshold', threshold };
    }
    case 'factor': {
      const factor = strategy.factor ?? DEFAULT_STRATEGY_KNOBS.factor.factor;
      if (!(factor > 0 && Number.isFinite(factor))) invalid('strategy.factor', `must be a finite number > 0, got ${factor}`);
      return { name: 'factor', factor };
    }
    case 'entropy-bounded': {
      const gamma = strategy.gamma ?? DEFAULT_STRATEGY_KNOBS['entropy-bounded'].gamma;
      if (!(gamma >= 0 && Number.isFinite(gamma))) invalid('strategy.gamma', `must be a finite number >= 0, got ${gamma}`);
      return { name: 'entropy-bounded', gamma };
    }
  }
}

function checkSpecialTokens(specialTokens: SpecialTokens, vocabSize: number): SpecialTokens {
  const { mask, eos, pad, bos } = specialTokens;
  checkTokenId('specialTokens.mask', mask, vocabSize);
  checkTokenId('specialTokens.eos', eos, vocabSize);
  if (pad !== undefined) checkTokenId('specialTokens.pad', pad, vocabSize);
  if (bos !== undefined) checkTokenId('specialTokens.bos', bos, vocabSize);
  // Masked positions and the answer's end are found by id; pad == eos is harmless and allowed.
  const mustDiffer: [string, number | undefined, string, number | undefined][] = [
    ['mask', mask, 'eos', eos],
    ['mask', mask, 'pad', pad],
    ['mask', mask, 'bos', bos],
    ['eos', eos, 'bos', bos],
  ];
  for (const [firstName, first, secondName, second] of mustDiffer) {
    if (second !== undefined && first === second) {
      throw new DecodeOptionsError(
        'SPECIAL_TOKEN_CONFLICT',
        `specialTokens.${secondName}`,
        `must differ from specialTokens.${firstName} (both are ${first})`,
      );
    }
  }
  return specialTokens;
}

function checkTokenId(field: string, id: number, vocabSize: number): void {
  if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
    throw new DecodeOptionsError('INVALID_TOKEN', field, `must be a token id in [0, vocabSize=${vocabSize}), got ${id}`);
  }
}

function requireInteger(field: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) invalid(field, `must be an integer >= ${min}, got ${value}`);
  return value;
}

function invalid(field: string, message: string): never {
  throw new DecodeOptionsError('INVALID_VALUE', field, message);
}
