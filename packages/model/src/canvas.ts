import { canvasLength, promptTooLong } from '@dfleet/decoder';
import { CanvasTooLongError } from './errors.ts';
import type { ModelManifest } from './model-manifest.ts';

/**
 * The canvas a decode starts from: `[bos] + promptIds + [mask] * maxNewTokens + suffixIds`, the
 * decoder's canvas layout (a suffix only for fill in the middle).
 * @throws CanvasTooLongError when it exceeds the manifest's `maxSequenceLength`.
 */
export function buildCanvas(
  promptIds: ArrayLike<number>,
  manifest: Pick<ModelManifest, 'specialTokens' | 'maxSequenceLength'> & Partial<Pick<ModelManifest, 'name'>>,
  maxNewTokens: number,
  suffixIds: ArrayLike<number> = [],
): Int32Array {
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 1) {
    throw new RangeError(`maxNewTokens must be a positive integer, got ${maxNewTokens}`);
  }
  const { specialTokens, maxSequenceLength } = manifest;
  const length = canvasLength(promptIds.length, maxNewTokens, specialTokens, suffixIds.length);
  const tooLong = promptTooLong({
    promptTokens: promptIds.length,
    maxNewTokens,
    maxSequenceLength,
    specialTokens,
    suffixTokens: suffixIds.length,
    ...(manifest.name === undefined ? {} : { modelName: manifest.name }),
  });
  if (tooLong !== null) throw new CanvasTooLongError(length, maxSequenceLength, tooLong);
  const canvas = new Int32Array(length);
  canvas[0] = specialTokens.bos;
  canvas.set(promptIds, 1);
  canvas.fill(specialTokens.mask, 1 + promptIds.length);
  canvas.set(suffixIds, 1 + promptIds.length + maxNewTokens);
  return canvas;
}
