import { AnswerBoundary } from './answer-boundary.ts';
import { canvasLength } from './canvas-layout.ts';
import { createBlockCandidates } from './block-candidates.ts';
import type { BlockCandidates } from './block-candidates.ts';
import type { DecodeRequest } from './decode-request.ts';
import type { DecodeResult, FinishReason, StepReport, TokenLogprob } from './decode-result.ts';
import { DecodeOptionsError } from './decode-options-error.ts';
import { DecodeSessionError } from './decode-session-error.ts';
import { LOGITS_FORM, type DenoiserOutputForm, type RowPredictions } from './denoiser.ts';
import { predictTokens } from './predict-tokens.ts';
import { findSlot, readPredictions } from './read-predictions.ts';
import { resolveDecodeRequest } from './resolve-request.ts';
import type { ResolvedDecodeRequest } from './resolve-request.ts';
import { SeededRng } from './seeded-rng.ts';
import type { CommitRule } from './strategies/commit-rule.ts';
import { createCommitRule } from './strategies/create-commit-rule.ts';
import { logprobFromLogits, logprobFromPredictions } from './token-logprobs.ts';

/**
 * One job's decode as a step machine, so a scheduler can batch many jobs into one forward pass
 * and let them join and leave at every step: feed `canvas` to the model, hand this row's logits
 * to `applyLogits` (or its reduced predictions to `applyPredictions`), repeat until `finished`,
 * then read `result()`.
 */
export interface DecodeSession {
  /**
   * [bos] + prompt + answer (+ suffix when infilling); masked answer positions hold the mask id.
   * Read it, never write it; read it afresh before every step: a continuation block replaces it
   * with a longer one (the positions before stay where they were).
   */
  readonly canvas: Int32Array;
  /** Canvas index of the first answer position (= bos + prompt length). */
  readonly answerOffset: number;
  /** Answer positions on the canvas now (grows with continuation blocks; excludes the suffix). */
  readonly answerLength: number;
  readonly vocabSize: number;
  readonly finished: boolean;
  /** Set once finished. */
  readonly finishReason: FinishReason | null;
  readonly steps: number;
  readonly nfe: number;
  /**
   * Canvas positions before the current block (bos + prompt + completed blocks): their tokens
   * stay as they are until the block moves on, so a prefix cache of them stays valid that long.
   */
  readonly cacheablePrefix: number;
  /**
   * Advance one step with the model's logits for this row: row-major [canvas.length -
   * windowStart, vocabSize], row i being canvas position windowStart + i (a longer array, e.g.
   * this row of a right-padded batch, is fine: only the first rows are read). A window that
   * starts after a position the step reads is refused (`window_after_candidates`): those
   * logits are missing. Commits at least one masked position.
   */
  applyLogits(rowLogits: Float32Array, windowStart?: number): StepReport;
  /**
   * The same step from a reduced model's predictions for this row. They must cover every
   * position `positionsToRead()` names; other slots are ignored.
   */
  applyPredictions(row: RowPredictions): StepReport;
  /**
   * Canvas positions the next step reads (the current block's masked positions), ascending, so
   * a denoiser can compute the model's head only there. Empty once finished.
   */
  positionsToRead(): Int32Array;
  /** Stop before the next step with finish reason "cancelled" (no-op once finished). */
  cancel(): void;
  /** The answer; only once finished. */
  result(): DecodeResult;
}

/**
 * @param outputForm what the denoiser returns; a predictions form without top-k refuses
 *   temperature > 0 (DecodeOptionsError `temperature_needs_top_k`), and one with fewer top-k ids
 *   than `logprobs` asks for refuses that (`logprobs_needs_top_k`).
 * @throws DecodeOptionsError
 */
export function createDecodeSession(
  request: DecodeRequest,
  vocabSize: number,
  outputForm: DenoiserOutputForm = LOGITS_FORM,
): DecodeSession {
  const temperature = request.temperature ?? 0;
  if (outputForm.form === 'predictions' && outputForm.topK === 0 && temperature > 0) {
    throw new DecodeOptionsError(
      'temperature_needs_top_k',
      'temperature',
      `temperature ${temperature} samples among the model's top-k ids, but this model's reduced outputs have none: ` +
        'reduce it again with `dfleet model reduce --top-k K` (K <= 8), or decode at temperature 0',
    );
  }
  const logprobs = request.logprobs ?? 0;
  if (outputForm.form === 'predictions' && outputForm.topK < logprobs) {
    throw new DecodeOptionsError(
      'logprobs_needs_top_k',
      'logprobs',
      `logprobs ${logprobs} lists that many best ids per token, but this model's reduced outputs carry its top ${outputForm.topK}: ` +
        `reduce it again with \`dfleet model reduce --top-k K\` (${logprobs} <= K <= 8), or ask for at most ${outputForm.topK} logprobs`,
    );
  }
  return new MaskedDiffusionSession(request, vocabSize);
}

/** The log-probability of the token committed at a candidate slot, from this step's model output. */
type LogprobOf = (slot: number, token: number) => TokenLogprob;

class MaskedDiffusionSession implements DecodeSession {
  canvas: Int32Array;
  readonly answerOffset: number;
  answerLength: number;
  readonly vocabSize: number;
  finishReason: FinishReason | null = null;
  steps = 0;
  nfe = 0;

  private readonly options: ResolvedDecodeRequest;
  private readonly rule: CommitRule;
  private answer: Int32Array;
  private readonly boundary: AnswerBoundary;
  private readonly candidates: BlockCandidates;
  private readonly suppressed: Uint8Array;
  private readonly rng: SeededRng;
  private readonly committedPerStep: number[] = [];
  /** The 1-based step that committed each answer position (0 while masked). */
  private tokenStep: Int32Array;
  /** Per answer position, when the request records logprobs. */
  private readonly tokenLogprobs: TokenLogprob[] | undefined;
  private blockStart = 0;
  private maskedInBlock: number;

  constructor(request: DecodeRequest, vocabSize: number) {
    const options = resolveDecodeRequest(request, vocabSize);
    const { mask, eos, bos } = options.specialTokens;
    this.options = options;
    this.vocabSize = vocabSize;

    const prefix = bos === undefined ? options.promptIds : [bos, ...options.promptIds];
    this.answerOffset = prefix.length;
    this.answerLength = options.maxNewTokens;
    const length = canvasLength(
      options.promptIds.length,
      options.maxNewTokens,
      options.specialTokens,
      options.suffixIds.length,
    );
    this.canvas = new Int32Array(length).fill(mask);
    this.canvas.set(prefix);
    this.canvas.set(options.suffixIds, this.answerOffset + this.answerLength);
    this.answer = this.canvas.subarray(this.answerOffset, this.answerOffset + this.answerLength);
    this.boundary = new AnswerBoundary(this.answer, mask, eos, options.stopSequences);
    this.tokenStep = new Int32Array(this.answerLength);
    this.tokenLogprobs = options.logprobs === undefined ? undefined : [];

    this.suppressed = new Uint8Array(vocabSize);
    for (const id of options.suppressedTokenIds) this.suppressed[id] = 1;
    this.candidates = createBlockCandidates(options.blockLength);
    this.rng = new SeededRng(options.seed);
    this.rule = createCommitRule(options.strategy, options.maxNewTokens / options.blockLength);
    this.maskedInBlock = options.blockLength;
    this.rule.startBlock(this.maskedInBlock);
  }

  get finished(): boolean {
    return this.finishReason !== null;
  }

  get cacheablePrefix(): number {
    return this.answerOffset + this.blockStart;
  }

  applyLogits(rowLogits: Float32Array, windowStart = 0): StepReport {
    this.#requireUnfinished('applyLogits');
    if (!Number.isInteger(windowStart) || windowStart < 0 || windowStart > this.canvas.length) {
      throw new DecodeSessionError(
        'window_after_candidates',
        `window start ${windowStart} is not a canvas position (the canvas has ${this.canvas.length})`,
      );
    }
    const windowLength = this.canvas.length - windowStart;
    const needed = windowLength * this.vocabSize;
    if (rowLogits.length < needed) {
      throw new DecodeSessionError(
        'logits_shape_mismatch',
        `row logits hold ${rowLogits.length} values; the window from canvas position ${windowStart} needs [${windowLength}, ${this.vocabSize}] = ${needed}`,
      );
    }
    const { options, candidates } = this;
    this.#collectCandidates();
    if (candidates.count > 0 && this.answerOffset + candidates.position[0]! < windowStart) {
      throw new DecodeSessionError(
        'window_after_candidates',
        `the window starts at canvas position ${windowStart}, after position ${this.answerOffset + candidates.position[0]!} ` +
          `this step reads: run the window from at most cacheablePrefix (${this.cacheablePrefix})`,
      );
    }
    // Logits row i is canvas position windowStart + i: shift the answer's offset into the window.
    const windowOffset = this.answerOffset - windowStart;
    predictTokens(rowLogits, this.vocabSize, windowOffset, this.suppressed, options.temperature, this.rng, candidates);
    const top = options.logprobs ?? 0;
    return this.#commit((slot, token) =>
      logprobFromLogits(
        rowLogits,
        this.vocabSize,
        windowOffset + candidates.position[slot]!,
        token,
        this.suppressed,
        top,
      ),
    );
  }

  applyPredictions(row: RowPredictions): StepReport {
    this.#requireUnfinished('applyPredictions');
    this.#collectCandidates();
    const { candidates } = this;
    readPredictions(row, this.answerOffset, this.options.temperature, this.rng, candidates);
    const top = this.options.logprobs ?? 0;
    return this.#commit((slot, token) =>
      logprobFromPredictions(row, findSlot(row, this.answerOffset + candidates.position[slot]!, 0), token, top),
    );
  }

  positionsToRead(): Int32Array {
    if (this.finished) return new Int32Array(0);
    this.#collectCandidates();
    const { candidates } = this;
    const positions = new Int32Array(candidates.count);
    for (let j = 0; j < candidates.count; j++) positions[j] = this.answerOffset + candidates.position[j]!;
    return positions;
  }

  #requireUnfinished(method: string): void {
    if (this.finished)
      throw new DecodeSessionError('session_finished', `${method} on a session that finished (${this.finishReason})`);
  }

  /** Only the current block's masked positions are candidates; reseeds the step's rng. */
  #collectCandidates(): void {
    const { candidates, answer, options } = this;
    const { mask } = options.specialTokens;
    candidates.count = 0;
    for (let p = this.blockStart; p < this.blockStart + options.blockLength; p++) {
      if (answer[p] === mask) candidates.position[candidates.count++] = p;
    }
    this.rng.reseed(options.seed, this.steps);
  }

  /** Applies the strategy's commit rule to the filled candidates and advances the session. */
  #commit(logprobOf: LogprobOf): StepReport {
    const { candidates, answer, options } = this;
    if (options.strategy.name === 'reference' && options.strategy.remasking === 'random') {
      for (let j = 0; j < candidates.count; j++) candidates.confidence[j] = this.rng.nextOpenUnit();
    }

    const k = this.rule.select(candidates);
    // Report positions ascending: slots are in position order, so sort the chosen slots.
    const chosen = candidates.order.subarray(0, k).sort();
    const committedPositions = new Int32Array(k);
    const committedTokens = new Int32Array(k);
    const committedLogprobs: TokenLogprob[] | undefined = this.tokenLogprobs === undefined ? undefined : [];
    const step = this.steps + 1;
    for (let r = 0; r < k; r++) {
      const slot = chosen[r]!;
      const position = candidates.position[slot]!;
      const token = candidates.token[slot]!;
      answer[position] = token;
      committedPositions[r] = position;
      committedTokens[r] = token;
      this.tokenStep[position] = step;
      if (committedLogprobs !== undefined) {
        const logprob = logprobOf(slot, token);
        committedLogprobs.push(logprob);
        this.tokenLogprobs![position] = logprob;
      }
    }
    this.steps = step;
    this.nfe++;
    this.committedPerStep.push(k);
    this.maskedInBlock -= k;
    this.boundary.advance();
    this.advanceBlock();
    this.finishReason = this.finishAfterStep();

    return {
      step: this.steps,
      nfe: this.nfe,
      committedPositions,
      committedTokens,
      ...(committedLogprobs === undefined ? {} : { committedLogprobs }),
      answerLength: this.answerLength,
      finalPrefix: this.finished ? this.#resultLength() : Math.min(this.#settled(), this.options.maxAnswerTokens),
      finished: this.finished,
      finishReason: this.finishReason,
    };
  }

  cancel(): void {
    if (!this.finished) this.finishReason = this.#capped(this.boundary.endedBy ?? 'cancelled');
  }

  result(): DecodeResult {
    if (this.finishReason === null) {
      throw new DecodeSessionError('session_not_finished', `result() before the session finished (step ${this.steps})`);
    }
    const length = this.#resultLength();
    return {
      tokenIds: Array.from(this.answer.subarray(0, length)),
      finishReason: this.finishReason,
      steps: this.steps,
      nfe: this.nfe,
      committedPerStep: [...this.committedPerStep],
      tokenSteps: Array.from(this.tokenStep.subarray(0, length)),
      ...(this.tokenLogprobs === undefined ? {} : { tokenLogprobs: this.tokenLogprobs.slice(0, length) }),
    };
  }

  /** The answer without the cap: up to its end, or the committed prefix when it has none (yet). */
  #uncappedLength(): number {
    return this.boundary.answerLength ?? this.boundary.committedPrefix;
  }

  #resultLength(): number {
    return Math.min(this.#uncappedLength(), this.options.maxAnswerTokens);
  }

  /** Leading answer tokens that are certainly the answer's (see AnswerBoundary.settledLength). */
  #settled(): number {
    return this.boundary.settledLength(this.#canGrow());
  }

  /**
   * The answer is known to go on past `maxAnswerTokens`: its first cap + 1 tokens are settled.
   * Committed tokens never change, so the decode without the cap has these same tokens there.
   */
  #capExceeded(): boolean {
    return this.#settled() > this.options.maxAnswerTokens;
  }

  /** A reason as the uncapped decode would give it, turned into "length" when its answer is longer than the cap. */
  #capped(reason: FinishReason): FinishReason {
    return this.#uncappedLength() > this.options.maxAnswerTokens ? 'length' : reason;
  }

  /** Whether another continuation block can still be appended (no end found, the canvas fits it). */
  #canGrow(): boolean {
    const { maxCanvasLength, blockLength } = this.options;
    return (
      maxCanvasLength !== undefined &&
      this.boundary.endedBy === null &&
      this.canvas.length + blockLength <= maxCanvasLength
    );
  }

  /**
   * When the current block is fully committed, move to the next one (left to right); after the
   * last, append a continuation block when the request allows one and the answer may still need it.
   */
  private advanceBlock(): void {
    if (this.maskedInBlock > 0) return;
    const { blockLength } = this.options;
    if (this.blockStart + blockLength >= this.answerLength) {
      if (!this.#canGrow() || this.#capExceeded()) return;
      this.#appendBlock();
    }
    this.blockStart += blockLength;
    this.maskedInBlock = blockLength; // nothing outside the current block is ever committed
    this.rule.startBlock(this.maskedInBlock);
  }

  /** A longer canvas with `blockLength` more masks at the answer's end (no suffix: refused with continuation). */
  #appendBlock(): void {
    const { blockLength, specialTokens } = this.options;
    const canvas = new Int32Array(this.canvas.length + blockLength).fill(specialTokens.mask);
    canvas.set(this.canvas);
    this.canvas = canvas;
    this.answerLength += blockLength;
    this.answer = canvas.subarray(this.answerOffset, this.answerOffset + this.answerLength);
    this.boundary.setAnswer(this.answer);
    const tokenStep = new Int32Array(this.answerLength);
    tokenStep.set(this.tokenStep);
    this.tokenStep = tokenStep;
  }

  /**
   * The answer's end (eos / stop sequence) decides the reason whenever it is known; otherwise
   * the reason is why decoding stopped, and "length" once the cap is exceeded. Early exit: stop as
   * soon as the end is known or the cap exceeded, except for the reference strategy unless it asks for it.
   */
  private finishAfterStep(): FinishReason | null {
    const { strategy, maxSteps } = this.options;
    const earlyExit = strategy.name !== 'reference' || strategy.earlyExit;
    const endedBy = this.boundary.endedBy;
    if (earlyExit && endedBy !== null) return this.#capped(endedBy);
    if (earlyExit && this.#capExceeded()) return 'length';
    if (this.maskedInBlock === 0) return this.#capped(endedBy ?? 'length');
    if (this.steps >= maxSteps) return this.#capped(endedBy ?? 'max_steps');
    return null;
  }
}
