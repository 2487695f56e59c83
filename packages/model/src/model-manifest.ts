import { readFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { ModelManifestError, type ManifestIssue } from './errors.ts';
import { MAX_REDUCED_TOP_K } from './reduced-contract.ts';

/** File name of the manifest inside a model directory. */
export const MODEL_MANIFEST_FILE = 'dfleet-model.json';

/** The special tokens every manifest names. */
export const SPECIAL_TOKEN_ROLES = ['mask', 'eos', 'pad', 'bos'] as const;
export type SpecialTokenRole = (typeof SPECIAL_TOKEN_ROLES)[number];
/** Special tokens a manifest may name: `unk`, a tokenizer's stand-in for text it cannot encode. */
export const OPTIONAL_SPECIAL_TOKEN_ROLES = ['unk'] as const;
export type OptionalSpecialTokenRole = (typeof OPTIONAL_SPECIAL_TOKEN_ROLES)[number];

/** Used when a manifest has no `defaults` block. */
export const DEFAULT_GENERATION_DEFAULTS = { maxNewTokens: 48, blockLength: 48 } as const;

const positiveInteger = (): z.ZodInt =>
  z.int({ error: 'must be a positive integer' }).positive({ error: 'must be a positive integer' });

const tokenId = (): z.ZodInt =>
  z.int({ error: 'must be an integer token id >= 0' }).min(0, { error: 'must be an integer token id >= 0' });

const fileInModelDirectory = () =>
  z
    .string({ error: 'must be a file name relative to the model directory' })
    .min(1, { error: 'must be a file name relative to the model directory' })
    .refine((path) => !isAbsolute(path) && !path.split(/[\\/]/).includes('..'), {
      error: 'must be a relative path inside the model directory (no absolute path, no "..")',
    });

/**
 * Which outputs the ONNX file has (see reduced-contract.ts). Absent means v1: `logits` only.
 * `suppressedTokenIds` records the ids the reduction removed from `top_token`, so a loader can
 * check them against the decoder's rule.
 */
const modelOutputsSchema = z.discriminatedUnion(
  'form',
  [
    z.object({ form: z.literal('logits') }),
    z.object({
      form: z.literal('reduced'),
      topK: z
        .int()
        .min(0)
        .max(MAX_REDUCED_TOP_K, { error: `must be an integer in [0, ${MAX_REDUCED_TOP_K}]` })
        .default(0),
      positionsInput: z.boolean().default(false),
      logits: z.boolean().default(false),
      suppressedTokenIds: z.array(tokenId()),
    }),
  ],
  { error: 'must be { form: "logits" } or { form: "reduced", topK, positionsInput, logits, suppressedTokenIds }' },
);

/**
 * What the model was trained for beyond decoding its default canvas. `continuation`: further
 * semi-autoregressive blocks past `defaults.maxNewTokens` (LLaDA, Dream), so an answer may run
 * on up to `maxSequenceLength`; `infill`: a suffix pinned after the answer (fill in the middle).
 */
const modelCapabilitiesSchema = z.strictObject(
  {
    continuation: z.boolean({ error: 'must be true or false' }).default(false),
    infill: z.boolean({ error: 'must be true or false' }).default(false),
  },
  { error: 'must be an object { continuation, infill } of booleans' },
);

/**
 * The prefix-cache form (prefix-cache-contract.ts): a second ONNX file of the same weights that
 * takes the cached keys and values of a row's leading positions, and the cache's shape.
 */
const prefixCacheSchema = z.strictObject(
  {
    onnx: fileInModelDirectory(),
    layers: positiveInteger(),
    kvHeads: positiveInteger(),
    headDim: positiveInteger(),
  },
  { error: 'must be an object { onnx, layers, kvHeads, headDim }' },
);

const modelManifestSchema = z
  .object({
    name: z.string({ error: 'must be a non-empty string' }).min(1, { error: 'must be a non-empty string' }),
    vocabSize: positiveInteger(),
    maxSequenceLength: positiveInteger(),
    specialTokens: z.object(
      { mask: tokenId(), eos: tokenId(), pad: tokenId(), bos: tokenId(), unk: tokenId().optional() },
      { error: 'must be an object { mask, eos, pad, bos[, unk] } of token ids' },
    ),
    files: z.object(
      { onnx: fileInModelDirectory(), tokenizer: fileInModelDirectory() },
      { error: 'must be an object { onnx, tokenizer } of file names' },
    ),
    defaults: z
      .object(
        { maxNewTokens: positiveInteger(), blockLength: positiveInteger() },
        { error: 'must be an object { maxNewTokens, blockLength }' },
      )
      .default({ ...DEFAULT_GENERATION_DEFAULTS }),
    outputs: modelOutputsSchema.optional(),
    capabilities: modelCapabilitiesSchema.optional(),
    prefixCache: prefixCacheSchema.optional(),
  })
  .superRefine((manifest, ctx) => {
    const { vocabSize, specialTokens } = manifest;
    for (const role of [...SPECIAL_TOKEN_ROLES, ...OPTIONAL_SPECIAL_TOKEN_ROLES]) {
      const id = specialTokens[role];
      if (id !== undefined && id >= vocabSize) {
        ctx.addIssue({
          code: 'custom',
          path: ['specialTokens', role],
          input: id,
          message: `must be a token id in [0, vocabSize=${vocabSize})`,
        });
      }
    }
    // The decoder finds masked positions and the answer's end by id, so mask, eos and bos must
    // be told apart. pad only ever sits where attention_mask is 0, so pad == eos (a common
    // Hugging Face convention) is harmless and allowed. unk is never predicted, so it must not be
    // the eos the answer ends with, nor a token the canvas is built of.
    const mustDiffer: [SpecialTokenRole, SpecialTokenRole | OptionalSpecialTokenRole][] = [
      ['mask', 'eos'],
      ['mask', 'pad'],
      ['mask', 'bos'],
      ['eos', 'bos'],
      ['pad', 'bos'],
      ['mask', 'unk'],
      ['eos', 'unk'],
      ['bos', 'unk'],
    ];
    for (const [first, second] of mustDiffer) {
      if (specialTokens[second] !== undefined && specialTokens[first] === specialTokens[second]) {
        ctx.addIssue({
          code: 'custom',
          path: ['specialTokens', second],
          input: specialTokens[second],
          message: `must differ from specialTokens.${first} (both are ${specialTokens[first]})`,
        });
      }
    }
    const suppressed = manifest.outputs?.form === 'reduced' ? manifest.outputs.suppressedTokenIds : [];
    for (const [index, id] of suppressed.entries()) {
      if (id >= vocabSize) {
        ctx.addIssue({
          code: 'custom',
          path: ['outputs', 'suppressedTokenIds', index],
          input: id,
          message: `must be a token id in [0, vocabSize=${vocabSize})`,
        });
      }
    }
    // The canvas is bos + at least one prompt token + maxNewTokens masks.
    if (manifest.defaults.maxNewTokens > manifest.maxSequenceLength - 2) {
      ctx.addIssue({
        code: 'custom',
        path: ['defaults', 'maxNewTokens'],
        input: manifest.defaults.maxNewTokens,
        message: `must be <= maxSequenceLength - 2 (${manifest.maxSequenceLength - 2}) to leave room for bos and a prompt`,
      });
    }
  });

/** A validated `dfleet-model.json`. */
export type ModelManifest = z.output<typeof modelManifestSchema>;
/** The manifest's `outputs` block; `{ form: 'logits' }` when the manifest has none. */
export type ModelOutputs = z.output<typeof modelOutputsSchema>;

/** The manifest's `prefixCache` block: the cached form's file and the cache's shape. */
export type ModelPrefixCache = z.output<typeof prefixCacheSchema>;

/** The manifest's `capabilities` block. */
export type ModelCapabilities = z.output<typeof modelCapabilitiesSchema>;

/** What a model was trained for: neither continuation nor infill unless its manifest says so. */
export function modelCapabilities(manifest: Pick<ModelManifest, 'capabilities'>): ModelCapabilities {
  return manifest.capabilities ?? { continuation: false, infill: false };
}

/** The outputs a model declares: v1 `logits` unless its manifest says `reduced`. */
export function modelOutputs(manifest: Pick<ModelManifest, 'outputs'>): ModelOutputs {
  return manifest.outputs ?? { form: 'logits' };
}

function describeInput(input: unknown): string {
  if (input === undefined) return 'missing';
  const json = JSON.stringify(input);
  return `got ${json === undefined ? String(input) : json.length > 60 ? `${json.slice(0, 57)}...` : json}`;
}

/**
 * Validates parsed manifest JSON against the model directory contract.
 * @param manifestPath only used in error messages.
 * @throws ModelManifestError (`manifest_invalid`) listing every field that is wrong.
 */
export function parseModelManifest(json: unknown, manifestPath: string): ModelManifest {
  const result = modelManifestSchema.safeParse(json, { reportInput: true });
  if (result.success) return result.data;
  const issues: ManifestIssue[] = result.error.issues.map((issue) => ({
    field: issue.path.length === 0 ? '(root)' : issue.path.map(String).join('.'),
    message: `${issue.message} (${describeInput(issue.input)})`,
  }));
  const lines = issues.map((issue) => `  - ${issue.field}: ${issue.message}`);
  throw new ModelManifestError(
    'manifest_invalid',
    manifestPath,
    `${manifestPath} does not follow the dfleet model contract:\n${lines.join('\n')}`,
    issues,
  );
}

/**
 * Reads and validates `<dir>/dfleet-model.json`.
 * @throws ModelManifestError with code `manifest_not_found`, `manifest_not_json` or `manifest_invalid`.
 */
export async function loadModelManifest(dir: string): Promise<ModelManifest> {
  const manifestPath = join(dir, MODEL_MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(manifestPath, 'utf8');
  } catch (error) {
    throw new ModelManifestError(
      'manifest_not_found',
      manifestPath,
      `cannot read ${manifestPath}: ${(error as Error).message}. A model directory needs a ${MODEL_MANIFEST_FILE} manifest.`,
      [],
      { cause: error },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ModelManifestError(
      'manifest_not_json',
      manifestPath,
      `${manifestPath} is not valid JSON: ${(error as Error).message}`,
      [],
      { cause: error },
    );
  }
  return parseModelManifest(json, manifestPath);
}

/** Absolute-or-relative path of a manifest file (`files.onnx`, `files.tokenizer`) inside `dir`. */
export function modelFilePath(dir: string, manifest: ModelManifest, file: keyof ModelManifest['files']): string {
  return join(dir, manifest.files[file]);
}
