import { promptTooLong, type DecodeRequest, type DecodingStrategy } from '@dfleet/decoder';
import type { ModelManifest, Tokenizer } from '@dfleet/model';
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
 * Turns a validated job into the decoder's request: the prompt and each stop string tokenized
 * with the model's tokenizer (as plain text: a prompt cannot smuggle in a special token), the
 * manifest's special tokens (unk too, when it names one: never predicted), the strategy and its
 * knobs as the job gives them.
 * @throws PromptTooLongError when bos + prompt + maxNewTokens exceeds maxSequenceLength.
 * @throws InvalidJobError when a stop string has no tokens in this vocabulary.
 */
export function planJobDecode(job: GenerationJob, model: ServedModel): JobDecodePlan {
  const { manifest, tokenizer } = model;
  const { options } = job;
  const promptIds = tokenizer.encode(job.prompt);
  const tooLong = promptTooLong({
    promptTokens: promptIds.length,
    maxNewTokens: options.maxNewTokens,
    maxSequenceLength: manifest.maxSequenceLength,
    specialTokens: manifest.specialTokens,
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
  };
  return { request, promptTokens: promptIds.length };
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
