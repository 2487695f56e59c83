import { promptTooLong, type DecodeRequest, type DecodingStrategy } from '@dfleet/decoder';
import { modelCapabilities, type ModelManifest, type Tokenizer } from '@dfleet/model';
import type { GenerationJob, StrategyOptions } from '@dfleet/queue';
import { InvalidJobError, PromptTooLongError } from './errors.ts';

/** The parts of a loaded model a job needs to become a decode. */
export interface ServedModel {
  readonly manifest: ModelManifest;
  readonly tokenizer: Tokenizer;
}

export interface JobDecodePlan {
  readonly request: DecodeRequest;
  /** Prompt tokens without bos (what `usage.prompt_tokens` counts). */
  readonly promptTokens: number;
}

/**
 * Turns a validated job into the decoder's request: the prompt, each stop string and the suffix
 * tokenized with the model's tokenizer (as plain text: a prompt cannot smuggle in a special
 * token), the manifest's special tokens (unk too, when it names one: never predicted), the
 * strategy and its knobs as the job gives them, the answer cap and logprobs. A model whose
 * manifest says `continuation` may decode further blocks up to its maxSequenceLength.
 * @throws PromptTooLongError when bos + prompt + maxNewTokens + suffix exceeds maxSequenceLength.
 * @throws InvalidJobError when a stop string or the suffix has no tokens in this vocabulary, or
 *   the job has a suffix and the model was not trained to infill.
 */
export function planJobDecode(job: GenerationJob, model: ServedModel): JobDecodePlan {
  const { manifest, tokenizer } = model;
  const { options } = job;
  const capabilities = modelCapabilities(manifest);
  const promptIds = tokenizer.encode(job.prompt);
  const suffixIds = options.suffix === undefined ? [] : suffixTokens(options.suffix, model);
  const tooLong = promptTooLong({
    promptTokens: promptIds.length,
    maxNewTokens: options.maxNewTokens,
    maxSequenceLength: manifest.maxSequenceLength,
    specialTokens: manifest.specialTokens,
    suffixTokens: suffixIds.length,
    modelName: manifest.name,
  });
  if (tooLong !== null) throw new PromptTooLongError(tooLong);
  const stopSequences = options.stop.map((stop, index) => {
    const ids = tokenizer.encode(stop);
    if (ids.length === 0)
      throw new InvalidJobError(`options.stop[${index}]`, `"${stop}" encodes to no tokens in model '${manifest.name}'`);
    return ids;
  });
  const { mask, eos, pad, bos, unk } = manifest.specialTokens;
  const request: DecodeRequest = {
    promptIds,
    maxNewTokens: options.maxNewTokens,
    blockLength: options.blockLength,
    strategy: toDecodingStrategy(options.strategy),
    temperature: options.temperature,
    seed: options.seed,
    stopSequences,
    specialTokens: { mask, eos, pad, bos, ...(unk === undefined ? {} : { unk }) },
    ...(options.maxSteps === undefined ? {} : { maxSteps: options.maxSteps }),
    ...(options.maxAnswerTokens === undefined ? {} : { maxAnswerTokens: options.maxAnswerTokens }),
    ...(options.logprobs === undefined ? {} : { logprobs: options.logprobs }),
    ...(suffixIds.length === 0 ? {} : { suffixIds }),
    // A suffix pins the answer's end, so an infilling job never grows (the decoder refuses both).
    ...(capabilities.continuation && suffixIds.length === 0 ? { maxCanvasLength: manifest.maxSequenceLength } : {}),
  };
  return { request, promptTokens: promptIds.length };
}

/** @throws InvalidJobError unless the model infills and the suffix has tokens. */
function suffixTokens(suffix: string, { manifest, tokenizer }: ServedModel): number[] {
  if (!modelCapabilities(manifest).infill) {
    throw new InvalidJobError(
      'options.suffix',
      `model '${manifest.name}' was not trained to fill in the middle (its manifest has no capabilities.infill), ` +
        'so a suffix pinned after the answer would not be read as one: send the prompt without a suffix',
    );
  }
  const ids = tokenizer.encode(suffix);
  if (ids.length === 0)
    throw new InvalidJobError('options.suffix', `"${suffix}" encodes to no tokens in model '${manifest.name}'`);
  return ids;
}

function toDecodingStrategy(strategy: StrategyOptions): DecodingStrategy {
  switch (strategy.name) {
    case 'reference':
      return { name: 'reference', steps: strategy.steps, remasking: strategy.remasking };
    case 'threshold':
      // minThreshold is the adaptive policy's floor, applied at claim; the decoder needs only tau.
      return { name: 'threshold', threshold: strategy.threshold };
    case 'factor':
      return { name: 'factor', factor: strategy.factor };
    case 'entropy-bounded':
      return { name: 'entropy-bounded', gamma: strategy.gamma };
  }
}
