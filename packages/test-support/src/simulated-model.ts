import { loadModelManifest, modelFilePath, Tokenizer, type ModelManifest } from '@dfleet/model';
import { SimulatedDenoiser, simulatedAnswerTokenIds } from './simulated-denoiser.ts';

/** How a simulated GPU decodes: the same for every job. */
export interface SimulatedDecodeSettings {
  /** Wall time of one forward pass, whatever the batch. */
  readonly passMs: number;
  /** Tokens each pass commits per job. */
  readonly tokensPerStep: number;
  /** Answer tokens before the eos. */
  readonly answerTokens: number;
}

/** A model directory's manifest and tokenizer with a `SimulatedDenoiser` in place of its ONNX model. */
export interface SimulatedModel {
  readonly directory: string;
  readonly manifest: ModelManifest;
  readonly tokenizer: Tokenizer;
  readonly denoiser: SimulatedDenoiser;
  close(): Promise<void>;
}

/**
 * Serves `directory`'s model name and tokenizer (so gateways accept the requests and answers
 * decode to text) without loading its ONNX file.
 */
export async function loadSimulatedModel(
  directory: string,
  settings: SimulatedDecodeSettings,
): Promise<SimulatedModel> {
  const manifest = await loadModelManifest(directory);
  const tokenizer = await Tokenizer.fromFile(modelFilePath(directory, manifest, 'tokenizer'));
  const specialIds = Object.values(manifest.specialTokens).filter((id): id is number => id !== undefined);
  const denoiser = new SimulatedDenoiser({
    vocabSize: manifest.vocabSize,
    maskId: manifest.specialTokens.mask,
    eosId: manifest.specialTokens.eos,
    answerTokenIds: simulatedAnswerTokenIds(manifest.vocabSize, specialIds, settings.answerTokens),
    tokensPerStep: settings.tokensPerStep,
    passMs: settings.passMs,
  });
  return { directory, manifest, tokenizer, denoiser, close: async () => {} };
}
