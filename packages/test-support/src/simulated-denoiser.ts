import type { Denoiser, DenoiserBatch, DenoiserOutputForm, PredictionsOutput } from '@dfleet/decoder';

export interface SimulatedDenoiserOptions {
  readonly vocabSize: number;
  readonly maskId: number;
  readonly eosId: number;
  /**
   * The answer, in order, before its eos: distinct ids that are neither mask nor eos. Its length
   * is the answer length of every decode.
   */
  readonly answerTokenIds: readonly number[];
  /** Masked positions each pass makes confident, the leftmost first. */
  readonly tokensPerStep: number;
  /** Wall time of one forward pass, whatever the batch. @defaultValue 20 */
  readonly passMs?: number;
}

export type SimulatedDenoiserErrorCode = 'invalid_simulated_denoiser_option';

export class SimulatedDenoiserError extends Error {
  override readonly name = 'SimulatedDenoiserError';
  constructor(
    readonly code: SimulatedDenoiserErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** What a position the pass does not commit gets: below any threshold, the highest entropy. */
const UNSURE_CONFIDENCE = 0.01;
const SURE_CONFIDENCE = 1;

/**
 * A stand-in for a GPU model, for benchmarks and scale tests: every forward pass takes `passMs`
 * of wall time on a timer (not a busy loop, so the process's CPU is the fleet's own), whatever
 * the batch, one pass at a time as on one device stream. It returns reduced predictions at the
 * positions the decoder reads, which make the `tokensPerStep` leftmost masked positions of each
 * row certain and the rest unsure, so a confidence- or entropy-ranked strategy commits left to
 * right and every decode answers the same `answerTokenIds` and eos. Under threshold decoding
 * (any tau) that takes ceil((answer length + 1) / tokensPerStep) passes, given a canvas longer
 * than the answer; factor, entropy-bounded and the reference strategy (low-confidence
 * remasking) answer the same in as many passes as their rules take.
 *
 * Stateless: a row's answer position is read from the canvas. The answer so far is the run of
 * `answerTokenIds[0..c)` right before the first mask, so a prompt that itself ends with
 * `answerTokenIds[0..i]` reads as i + 1 tokens already answered (pick ids that do not end prompts).
 */
export class SimulatedDenoiser implements Denoiser {
  readonly vocabSize: number;
  readonly outputForm: DenoiserOutputForm = { form: 'predictions', topK: 1, positions: true };
  readonly passMs: number;
  readonly #maskId: number;
  readonly #eosId: number;
  readonly #answer: Int32Array;
  readonly #answerIndex: ReadonlyMap<number, number>;
  readonly #tokensPerStep: number;
  #lastPass: Promise<unknown> = Promise.resolve();
  #passes = 0;

  constructor(options: SimulatedDenoiserOptions) {
    checkOptions(options);
    this.vocabSize = options.vocabSize;
    this.passMs = options.passMs ?? 20;
    this.#maskId = options.maskId;
    this.#eosId = options.eosId;
    this.#answer = Int32Array.from(options.answerTokenIds);
    this.#answerIndex = new Map(options.answerTokenIds.map((id, index) => [id, index]));
    this.#tokensPerStep = options.tokensPerStep;
  }

  /** Forward passes run so far. */
  get passes(): number {
    return this.#passes;
  }

  denoise(batch: DenoiserBatch): Promise<PredictionsOutput> {
    // One device stream: a pass starts when the one before it has ended.
    const pass = this.#lastPass.then(() => this.#pass(batch));
    this.#lastPass = pass.catch(() => undefined);
    return pass;
  }

  async #pass(batch: DenoiserBatch): Promise<PredictionsOutput> {
    const started = performance.now();
    const output = this.#predict(batch);
    const left = this.passMs - (performance.now() - started);
    if (left > 0) await new Promise((resolve) => setTimeout(resolve, left));
    this.#passes++;
    return output;
  }

  #predict(batch: DenoiserBatch): PredictionsOutput {
    const { batchSize, sequenceLength, inputIds } = batch;
    const perRow = batch.positions?.perRow ?? sequenceLength;
    const slots = batchSize * perRow;
    const positions = batch.positions?.values ?? null;
    const token = new Int32Array(slots);
    const confidence = new Float32Array(slots);
    const entropy = new Float32Array(slots);
    const unsureEntropy = Math.log(this.vocabSize);
    for (let r = 0; r < batchSize; r++) {
      const row = inputIds.subarray(r * sequenceLength, (r + 1) * sequenceLength);
      const firstMask = positions ? positions[r * perRow]! : row.indexOf(this.#maskId);
      const answered = firstMask < 0 ? 0 : this.#answeredBefore(row, firstMask);
      for (let s = 0; s < perRow; s++) {
        const slot = r * perRow + s;
        const position = positions ? positions[slot]! : s;
        if (firstMask < 0 || position < firstMask) {
          // Not a masked position: never read by the decoder; echo the input.
          token[slot] = row[position]!;
          confidence[slot] = SURE_CONFIDENCE;
          continue;
        }
        const answerIndex = answered + position - firstMask;
        token[slot] = answerIndex < this.#answer.length ? this.#answer[answerIndex]! : this.#eosId;
        const sure = position - firstMask < this.#tokensPerStep;
        confidence[slot] = sure ? SURE_CONFIDENCE : UNSURE_CONFIDENCE;
        entropy[slot] = sure ? 0 : unsureEntropy;
      }
    }
    return {
      form: 'predictions',
      batchSize,
      perRow,
      ...(positions ? { positions: positions.slice() } : {}),
      token,
      confidence,
      entropy,
      topK: 1,
      topKIds: token.slice(),
      // One candidate: any finite logit samples it; its confidence is what the decoder reports.
      topKLogits: new Float32Array(slots),
    };
  }

  /** How many answer tokens the row holds before `firstMask` (see the class comment). */
  #answeredBefore(row: Int32Array, firstMask: number): number {
    if (firstMask === 0) return 0;
    const last = this.#answerIndex.get(row[firstMask - 1]!);
    if (last === undefined || last >= firstMask) return 0;
    const start = firstMask - 1 - last;
    for (let i = 0; i < last; i++) if (row[start + i] !== this.#answer[i]) return 0;
    return last + 1;
  }
}

/**
 * `length` answer ids for a vocabulary: the highest ids that no special token takes (on a BPE
 * vocabulary, merges such as whole words, which rarely end a prompt).
 */
export function simulatedAnswerTokenIds(vocabSize: number, specialIds: readonly number[], length: number): number[] {
  const reserved = new Set(specialIds);
  const ids: number[] = [];
  for (let id = vocabSize - 1; id >= 0 && ids.length < length; id--) if (!reserved.has(id)) ids.push(id);
  if (ids.length < length) {
    throw new SimulatedDenoiserError(
      'invalid_simulated_denoiser_option',
      `an answer of ${length} distinct tokens needs ${length} ids that are not special; the vocabulary has ${ids.length}`,
    );
  }
  return ids;
}

function checkOptions(options: SimulatedDenoiserOptions): void {
  const { vocabSize, maskId, eosId, answerTokenIds, tokensPerStep, passMs } = options;
  const fail = (message: string): never => {
    throw new SimulatedDenoiserError('invalid_simulated_denoiser_option', message);
  };
  if (!Number.isInteger(tokensPerStep) || tokensPerStep < 1)
    fail(`tokensPerStep must be an integer >= 1, got ${tokensPerStep}`);
  if (passMs !== undefined && !(passMs >= 0)) fail(`passMs must be >= 0, got ${passMs}`);
  const seen = new Set<number>();
  for (const [index, id] of answerTokenIds.entries()) {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      fail(`answerTokenIds[${index}] is ${id}; ids are integers in [0, ${vocabSize})`);
    }
    if (id === maskId || id === eosId)
      fail(`answerTokenIds[${index}] is the ${id === maskId ? 'mask' : 'eos'} id ${id}`);
    if (seen.has(id)) fail(`answerTokenIds[${index}] repeats id ${id}; the ids must be distinct`);
    seen.add(id);
  }
}
