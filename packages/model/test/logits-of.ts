import type { OnnxDenoiserOutput } from '../src/onnx-denoiser.ts';

/** The logits of a v1 model's output; fails the test on a reduced model's predictions. */
export function logitsOf(output: OnnxDenoiserOutput): Float32Array {
  if (output.form === 'predictions') throw new Error('expected logits, got reduced predictions');
  return output.logits;
}
