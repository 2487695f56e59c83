import { CanvasTooLongError } from './errors.ts';
import type { ModelManifest } from './model-manifest.ts';

/**
 * The canvas a decode starts from: `[bos] + promptIds + [mask] * maxNewTokens`.
 * @throws CanvasTooLongError when it exceeds the manifest's `maxSequenceLength`.
 */
export function buildCanvas(
  promptIds: ArrayLike<number>,
  manifest: Pick<ModelManifest, 'specialTokens' | 'maxSequenceLength'>,
  maxNewTokens: number,
): Int32Array {
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 1) {
    throw new RangeError(`maxNewTokens must be a positive integer, got ${maxNewTokens}`);
  }
  const length = 1 + promptIds.length + maxNewTokens;
  if (length > manifest.maxSequenceLength) {
    throw new CanvasTooLongError(
      length,
      manifest.maxSequenceLength,
      `canvas of ${length} tokens (1 bos + ${promptIds.length} prompt + ${maxNewTokens} new) exceeds the model's ` +
        `maxSequenceLength ${manifest.maxSequenceLength}: shorten the prompt to at most ` +
        `${Math.max(0, manifest.maxSequenceLength - 1 - maxNewTokens)} tokens or lower maxNewTokens`,
    );
  }
  const canvas = new Int32Array(length);
  canvas[0] = manifest.specialTokens.bos;
  canvas.set(promptIds, 1);
  canvas.fill(manifest.specialTokens.mask, 1 + promptIds.length);
  return canvas;
}
