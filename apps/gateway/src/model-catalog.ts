import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { loadModelManifest, MODEL_MANIFEST_FILE, modelCapabilities, modelFilePath, Tokenizer } from '@dfleet/model';
import { type ChatTemplate, loadChatTemplate } from './chat-template.ts';
import { ModelNotFoundError } from './errors.ts';

/** What the gateway needs of a model: limits and defaults to validate against, and a token count. */
export interface ServedModel {
  readonly name: string;
  readonly maxSequenceLength: number;
  /** The canvas starts with bos when the model has one (every dfleet manifest names it). */
  readonly specialTokens: { readonly bos?: number };
  readonly defaults: { readonly maxNewTokens: number; readonly blockLength: number };
  /** Unix seconds, reported by GET /v1/models as `created`. */
  readonly createdAt: number;
  /** Tokens the prompt takes on the canvas (no special tokens; bos is counted separately). */
  countPromptTokens(prompt: string): number;
  /** Answer text of token ids (special tokens dropped), as the worker decodes it. */
  decodeTokens(ids: ArrayLike<number>): string;
  /** One token's own text, special tokens by name (`<|eos|>`): for logprobs and canvas states. */
  tokenText(id: number): string;
  /** What the manifest says the model was trained for beyond completing a prompt. */
  readonly capabilities: { readonly infill: boolean };
  /** Turns chat messages into the model's prompt; null when the model directory has none. */
  readonly chatTemplate: ChatTemplate | null;
}

/** The models one gateway serves, looked up by name. */
export class ModelCatalog {
  readonly #models: ReadonlyMap<string, ServedModel>;

  constructor(models: readonly ServedModel[]) {
    this.#models = new Map(models.map((model) => [model.name, model]));
  }

  list(): ServedModel[] {
    return [...this.#models.values()];
  }

  names(): string[] {
    return [...this.#models.keys()];
  }

  /** @throws ModelNotFoundError naming the models that are served. */
  get(name: string): ServedModel {
    const model = this.#models.get(name);
    if (!model) throw new ModelNotFoundError(name, this.names());
    return model;
  }
}

/** Loads a model directory's manifest and tokenizer; the ONNX file is the workers' business. */
export async function loadServedModel(modelDir: string): Promise<ServedModel> {
  const manifest = await loadModelManifest(modelDir);
  const tokenizer = await Tokenizer.fromFile(modelFilePath(modelDir, manifest, 'tokenizer'));
  const manifestStat = await stat(join(modelDir, MODEL_MANIFEST_FILE));
  const chatTemplate = await loadChatTemplate(modelDir);
  return {
    name: manifest.name,
    maxSequenceLength: manifest.maxSequenceLength,
    specialTokens: { bos: manifest.specialTokens.bos },
    defaults: { ...manifest.defaults },
    createdAt: Math.floor(manifestStat.mtimeMs / 1000),
    countPromptTokens: (prompt) => tokenizer.encode(prompt).length,
    decodeTokens: (ids) => tokenizer.decode(ids),
    tokenText: (id) => (tokenizer.specialTokenIds.has(id) ? (tokenizer.idToToken(id) ?? '') : tokenizer.decode([id])),
    capabilities: { infill: modelCapabilities(manifest).infill },
    chatTemplate,
  };
}
