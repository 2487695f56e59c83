/** Token ids the decoder must recognise. All must be ids in [0, vocabSize). */
export interface SpecialTokens {
  /** [MASK]: every answer position starts as it. Never predicted, so never in an answer. */
  readonly mask: number;
  /** End of text: the answer is everything before the first committed one. */
  readonly eos: number;
  /**
   * Padding: only ever sits where the attention mask is 0, so it is never predicted inside the
   * answer (left out of the argmax), unless it equals `eos`.
   */
  readonly pad?: number;
  /** Beginning of sequence: prepended to the canvas when given; never predicted. */
  readonly bos?: number;
  /**
   * Unknown token (a tokenizer's stand-in for text it cannot encode): never predicted, since it
   * decodes to no text and an answer would count a token that is not there.
   */
  readonly unk?: number;
}

/**
 * The strategies' knobs as the decoder takes them. Defaults, ranges and descriptions live once,
 * in `STRATEGY_CONTRACT` (strategy-contract.ts); these interfaces only give them types.
 */
export interface ReferenceStrategyOptions {
  readonly name: 'reference';
  /** @defaultValue `maxNewTokens` (one token per step) */
  readonly steps?: number;
  /** @defaultValue `STRATEGY_CONTRACT.reference.knobs.remasking.default` */
  readonly remasking?: 'low_confidence' | 'random';
  /**
   * Stop once the answer's end (eos or a stop sequence) is committed with everything before
   * it. A decoder-only option (not in the job or the API): the reference is the baseline every
   * speed claim is measured against, so it decodes every step by default.
   * @defaultValue `false`
   */
  readonly earlyExit?: boolean;
}

export interface ThresholdStrategyOptions {
  readonly name: 'threshold';
  /** tau. @defaultValue `STRATEGY_CONTRACT.threshold.knobs.threshold.default` */
  readonly threshold?: number;
}

export interface FactorStrategyOptions {
  readonly name: 'factor';
  /** f. @defaultValue `STRATEGY_CONTRACT.factor.knobs.factor.default` */
  readonly factor?: number;
}

export interface EntropyBoundedStrategyOptions {
  readonly name: 'entropy-bounded';
  /** In nats. @defaultValue `STRATEGY_CONTRACT['entropy-bounded'].knobs.gamma.default` */
  readonly gamma?: number;
}

/** Which masked positions a step commits; selectable per request. */
export type DecodingStrategy =
  | ReferenceStrategyOptions
  | ThresholdStrategyOptions
  | FactorStrategyOptions
  | EntropyBoundedStrategyOptions;

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
  /**
   * The most answer tokens the client wants (OpenAI's `max_tokens`), independent of the canvas:
   * the answer is cut there with finish reason "length". Decoding stops as soon as the committed
   * prefix reaches it; committed tokens never change, so the answer is the uncapped decode's
   * answer cut to this length. @defaultValue no cap (the canvas is the only limit)
   */
  readonly maxAnswerTokens?: number;
  /**
   * Semi-autoregressive continuation, for models trained to go past their canvas: when the last
   * block completes with no end of the answer and fewer than `maxAnswerTokens` tokens, another
   * block of `blockLength` masks is appended, as long as the whole canvas stays within this many
   * positions. @defaultValue absent: the canvas never grows
   */
  readonly maxCanvasLength?: number;
  /**
   * Fill in the middle: tokens pinned after the answer's masks, never predicted or changed (for a
   * model trained to infill). Not combinable with `maxCanvasLength`. @defaultValue `[]`
   */
  readonly suffixIds?: readonly number[];
  /**
   * Record each committed token's log-probability at the step that committed it (full softmax at
   * temperature 1) and this many best alternatives at that step, 0 to 5.
   * @defaultValue absent: nothing recorded
   */
  readonly logprobs?: number;
}
