import { LOGITS } from '../session-core.mjs';
import type { ModelCheckTensor, ReportProblem } from './report.ts';
import { AXIS_NAMES, formatShape } from './tensor-shape.ts';

/** The graph returns logits float32 [batch, sequence, vocabSize], batch and sequence dynamic. */
export function checkOnnxOutputs(
  outputs: readonly ModelCheckTensor[],
  onnxFile: string,
  vocabSize: number | undefined,
  report: ReportProblem,
): boolean {
  const logits = outputs.find((output) => output.name === LOGITS);
  const path = `${onnxFile}#${LOGITS}`;
  if (logits === undefined) {
    const found = outputs.map((o) => o.name).join(', ') || 'none';
    report(
      'error',
      'onnx_output_missing',
      `${onnxFile} has no output "logits" (outputs: ${found}); expected logits float32 [batch, sequence, vocabSize]`,
      path,
    );
    return false;
  }
  let ok = true;
  if (logits.type !== 'float32') {
    report('error', 'onnx_output_dtype', `output "logits" is ${logits.type}; expected float32`, path);
    ok = false;
  }
  if (logits.shape.length !== 3) {
    report(
      'error',
      'onnx_output_rank',
      `output "logits" has shape [${formatShape(logits.shape)}]; expected rank 3 [batch, sequence, vocabSize]`,
      path,
    );
    return false;
  }
  for (const axis of [0, 1]) {
    const dim = logits.shape[axis];
    if (typeof dim === 'number') {
      report(
        'error',
        'onnx_axis_not_dynamic',
        `output "logits" axis ${axis} (${AXIS_NAMES[axis]}) is fixed at ${dim}; expected a dynamic axis`,
        path,
      );
      ok = false;
    }
  }
  const vocabDim = logits.shape[2];
  if (typeof vocabDim === 'number' && vocabSize !== undefined && vocabDim !== vocabSize) {
    report(
      'error',
      'onnx_vocab_mismatch',
      `output "logits" has ${vocabDim} vocabulary entries (last axis) but the manifest's vocabSize is ${vocabSize}; ` +
        'expected them equal',
      path,
    );
    ok = false;
  }
  return ok;
}
