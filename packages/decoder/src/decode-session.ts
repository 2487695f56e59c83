import { AnswerBoundary } from './answer-boundary.ts';
import { canvasLength } from './canvas-layout.ts';
import { createBlockCandidates } from './block-candidates.ts';
import type { BlockCandidates } from './block-candidates.ts';
import type { DecodeRequest } from './decode-request.ts';
import type { DecodeResult, FinishReason, StepReport } from './decode-result.ts';
import { DecodeOptionsError } from './decode-options-error.ts';
import { DecodeSessionError } from './decode-session-error.ts';
import { LOGITS_FORM, type DenoiserOutputForm, type RowPredictions } from './denoiser.ts';
import { predictTokens } from './predict-tokens.ts';
import { readPredictions } from './read-predictions.ts';
import { resolveDecodeRequest } from './resolve-request.ts';
import type { ResolvedDecodeRequest } from './resolve-request.ts';
import { SeededRng } from './seeded-rng.ts';
import type { CommitRule } from './strategies/commit-rule.ts';
import { createCommitRule } from './strategies/create-commit-rule.ts';

/**
 * One job's decode as a step machine, so a scheduler can batch many jobs into one forward pass
 * and let them join and leave at every step: feed `canvas` to the model, hand this row's logits
 * to `applyLogits` (or its reduced predictions to `applyPredictions`), repeat until `finished`,
 * then read `result()`.
 */
export interface DecodeSession {
  /** [bos] + prompt + answer; masked answer positions hold the mask id. Read it, never write it. */
  readonly canvas: Int32Array;
  /** Canvas index of the first answer position (= bos + prompt length). */
  readonly answerOffset: number;
  readonly vocabSize: number;
  readonly finished: boolean;
  /** Set once finished. */
  readonly finishReason: FinishReason | null;
  readonly steps: number;
  readonly nfe: number;
  /**
   * Advance one step with the model's logits for this row: row-major [canvas.length, vocabSize]
   * (a longer array, e.g. this row of a right-padded batch, is fine: only the first
   * canvas.length rows are read). Commits at least one masked position.
   */
  applyLogits(rowLogits: Float32Array): StepReport;
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
 *   temperature > 0 (DecodeOptionsError `temperature_needs_top_k`).
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
  return new MaskedDiffusionSession(request, vocabSize);
}

class MaskedDiffusionSession implements DecodeSession {
  readonly canvas: Int32Array;
  readonly answerOffset: number;
  readonly vocabSize: number;
  finishReason: FinishReason | null = null;
  steps = 0;
  nfe = 0;

  private readonly options: ResolvedDecodeRequest;
  private readonly rule: CommitRule;
  private readonly answer: Int32Array;
  private readonly boundary: AnswerBoundary;
  private readonly candidates: BlockCandidates;
  private readonly suppressed: Uint8Array;
  private readonly rng: SeededRng;
  private readonly committedPerStep: number[] = [];
  private blockStart = 0;
  private maskedInBlock: number;

  constructor(request: DecodeRequest, vocabSize: number) {
    const options = resolveDecodeRequest(request, vocabSize);
    const { mask, eos, bos } = options.specialTokens;
    this.options = options;
    this.vocabSize = vocabSize;

    const prefix = bos === undefined ? options.promptIds : [bos, ...options.promptIds];
    this.answerOffset = prefix.length;
    const length = canvasLength(options.promptIds.length, options.maxNewTokens, options.specialTokens);
    this.canvas = new Int32Array(length).fill(mask);
    this.canvas.set(prefix);
    this.answer = this.canvas.subarray(this.answerOffset);
    this.boundary = new AnswerBoundary(this.answer, mask, eos, options.stopSequences);

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

  applyLogits(rowLogits: Float32Array): StepReport {
    this.#requireUnfinished('applyLogits');
    const needed = this.canvas.length * this.vocabSize;
    if (rowLogits.length < needed) {
      throw new DecodeSessionError(
        'logits_shape_mismatch',
        `row logits hold ${rowLogits.length} values; the canvas needs [${this.canvas.length}, ${this.vocabSize}] = ${needed}`,
      );
    }
    const { options, candidates } = this;
    this.#collectCandidates();
    predictTokens(
      rowLogits,
      this.vocabSize,
      this.answerOffset,
      this.suppressed,
      options.temperature,
      this.rng,
      candidates,
    );
    return this.#commit();
  }

  applyPredictions(row: RowPredictions): StepReport {
    this.#requireUnfinished('applyPredictions');
    this.#collectCandidates();
    readPredictions(row, this.answerOffset, this.options.temperature, this.rng, this.candidates);
    return this.#commit();
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
  #commit(): StepReport {
    const { candidates, answer, options } = this;
    if (options.strategy.name === 'reference' && options.strategy.remasking === 'random') {
      for (let j = 0; j < candidates.count; j++) candidates.confidence[j] = this.rng.nextOpenUnit();
    }

    const k = this.rule.select(candidates);
    // Report positions ascending: slots are in position order, so sort the chosen slots.
    const chosen = candidates.order.subarray(0, k).sort();
    const committedPositions = new Int32Array(k);
    const committedTokens = new Int32Array(k);
    for (let r = 0; r < k; r++) {
      const slot = chosen[r]!;
      const position = candidates.position[slot]!;
      answer[position] = candidates.token[slot]!;
      committedPositions[r] = position;
      committedTokens[r] = candidates.token[slot]!;
    }
    this.steps++;
    this.nfe++;
    this.committedPerStep.push(k);
    this.maskedInBlock -= k;
    this.advanceBlock();
    this.boundary.advance();
    this.finishReason = this.finishAfterStep();

    return {
      step: this.steps,
      nfe: this.nfe,
      committedPositions,
      committedTokens,
      finished: this.finished,
      finishReason: this.finishReason,
    };
  }

  cancel(): void {
    if (!this.finished) this.finishReason = this.boundary.endedBy ?? 'cancelled';
  }

  result(): DecodeResult {
    if (this.finishReason === null) {
      throw new DecodeSessionError('session_not_finished', `result() before the session finished (step ${this.steps})`);
    }
    const answerLength = this.boundary.answerLength ?? this.boundary.committedPrefix;
    return {
      tokenIds: Array.from(this.answer.subarray(0, answerLength)),
      finishReason: this.finishReason,
      steps: this.steps,
      nfe: this.nfe,
      committedPerStep: [...this.committedPerStep],
    };
  }

  /** When the current block is fully committed, move to the next one (left to right). */
  private advanceBlock(): void {
    const { blockLength, maxNewTokens } = this.options;
    if (this.maskedInBlock > 0 || this.blockStart + blockLength >= maxNewTokens) return;
    this.blockStart += blockLength;
    this.maskedInBlock = blockLength; // nothing outside the current block is ever committed
    this.rule.startBlock(this.maskedInBlock);
  }

  /**
   * The answer's end (eos / stop sequence) decides the reason whenever it is known; otherwise
   * the reason is why decoding stopped. Early exit: stop as soon as the end is known, except
   * for the reference strategy unless it asks for it.
   */
  private finishAfterStep(): FinishReason | null {
    const { strategy, maxSteps } = this.options;
    const earlyExit = strategy.name !== 'reference' || strategy.earlyExit;
    const endedBy = this.boundary.endedBy;
    if (endedBy !== null && earlyExit) return endedBy;
    if (this.maskedInBlock === 0) return endedBy ?? 'length';
    if (this.steps >= maxSteps) return endedBy ?? 'max_steps';
    return null;
  }
}
