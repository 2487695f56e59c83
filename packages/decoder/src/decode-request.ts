/** Token ids the decoder must recognise. All must be ids in [0, vocabSize). */
export interface SpecialTokens {
  /** [MASK]: every answer position starts as it. Never predicted, so never in an answer. */
  readonly mask: number;
  /** End of text: the answer is everything before the first committed one. */
  readonly eos: number;
  /**
   * Padding: only ever sits where the attention mask is 0, so it is never predicted inside the
   * answer (its logit is treated as -inf), unless it equals `eos`.
   */
  readonly pad?: number;
  /** Beginning of sequence: prepended to the canvas when given; never predicted. */
  readonly bos?: number;
}

/** LLaDA's generate.py: a fixed number of steps, a fixed number of commits per step. */
export interface ReferenceStrategyOptions {
  readonly name: 'reference';
  /**
   * Total denoising steps (= NFE) over the whole answer, split evenly across blocks; must be
   * a multiple of the number of blocks and at most `maxNewTokens`.
   * @defaultValue `maxNewTokens` (one token per step, LLaDA's highest-quality setting)
   */
  readonly steps?: number;
  /**
   * Which masked positions a step commits: the most confident (`low_confidence` remasking,
   * confidence = softmax probability of the predicted token) or uniformly random ones.
   * @defaultValue `'low_confidence'`
   */
  readonly remasking?: 'low_confidence' | 'random';
  /**
   * Stop once the answer's end (eos or a stop sequence) is committed with everything before
   * it. Off by default: the reference is the baseline every speed claim is measured against.
   * @defaultValue `false`
   */
  readonly earlyExit?: boolean;
}

/** Fast-dLLM's threshold rule: commit every masked position of the block with confidence >= tau. */
export interface ThresholdStrategyOptions {
  readonly name: 'threshold';
  /** tau in [0, 1]. @defaultValue `0.9` (Fast-dLLM's setting) */
  readonly threshold?: number;
}

/** Fast-dLLM's factor rule: accept the n-th most confident while c_n >= 1 - f / (n + 1). */
export interface FactorStrategyOptions {
  readonly name: 'factor';
  /** f > 0; larger commits more per step. @defaultValue `1.0` (Fast-dLLM's default) */
  readonly factor?: number;
}

/** EB-sampler: commit the least uncertain positions while their summed entropy, less the largest, stays <= gamma. */
export interface EntropyBoundedStrategyOptions {
  readonly name: 'entropy-bounded';
  /**
   * Entropy budget in nats, >= 0; 0 commits several tokens only when all but one are certain.
   * @defaultValue `0.1` (the default of diffusers' EntropyBoundScheduler, an EB-sampler
   * implementation: a step commits extra tokens only while their joint uncertainty is small)
   */
  readonly gamma?: number;
}

/** Which masked positions a step commits; selectable per request. */
export type DecodingStrategy =
  | ReferenceStrategyOptions
  | ThresholdStrategyOptions
  | FactorStrategyOptions
  | EntropyBoundedStrategyOptions;

export type StrategyName = DecodingStrategy['name'];

export const STRATEGY_NAMES: readonly StrategyName[] = Object.freeze([
  'reference',
  'threshold',
  'factor',
  'entropy-bounded',
] as const);

/** The knob defaults of each strategy, as applied when a request leaves them out. */
export const DEFAULT_STRATEGY_KNOBS = Object.freeze({
  reference: Object.freeze({
    /** @defaultValue `'low_confidence'` */
    remasking: 'low_confidence',
    /** @defaultValue `false` */
    earlyExit: false,
    // steps defaults to maxNewTokens, which is per request, so it has no constant here.
  }),
  threshold: Object.freeze({
    /** @defaultValue `0.9` */
    threshold: 0.9,
  }),
  factor: Object.freeze({
    /** @defaultValue `1.0` */
    factor: 1.0,
  }),
  'entropy-bounded': Object.freeze({
    /** @defaultValue `0.1` */
    gamma: 0.1,
  }),
} as const);

/**
 * One generation. Trusted (validated with zod at the fleet's edge); the decoder still rejects,
 * with a `DecodeOptionsError`, values that would make it hang or decode the wrong thing.
 */
export interface DecodeRequest {
  /** The prompt's tokens, without bos: the canvas prepends `specialTokens.bos` when given. */
  readonly promptIds: readonly number[];
  /** Answer length L: the canvas gets L mask tokens after the prompt. */
  readonly maxNewTokens: number;
  /**
   * Semi-autoregressive block length: blocks are decoded left to right, a step only commits
   * inside the current block. `maxNewTokens` must be a multiple of it.
   * @defaultValue `maxNewTokens` (one block)
   */
  readonly blockLength?: number;
  readonly strategy: DecodingStrategy;
  /** Gumbel-max sampling temperature; 0 = argmax. @defaultValue `0` */
  readonly temperature?: number;
  /** Seeds this job's own RNG (Gumbel noise, random remasking). @defaultValue `0` */
  readonly seed?: number;
  /** Stop after this many steps with finish reason "max_steps". @defaultValue no cap */
  readonly maxSteps?: number;
  /**
   * Token-id sequences; the answer is cut before the first one completed in its committed
   * prefix (finish reason "stop"). Each must be non-empty. @defaultValue `[]`
   */
  readonly stopSequences?: readonly (readonly number[])[];
  readonly specialTokens: SpecialTokens;
}
