import { ATTENTION_MASK, INPUT_IDS } from '../session-core.mjs';
import type { ModelCheckTensor, ReportProblem } from './report.ts';
import { AXIS_NAMES, formatShape } from './tensor-shape.ts';

/** The graph takes exactly input_ids and attention_mask, int64 [batch, sequence] with both axes dynamic. */
export function checkOnnxInputs(inputs: readonly ModelCheckTensor[], onnxFile: string, report: ReportProblem): boolean {
  let ok = true;
  for (const name of [INPUT_IDS, ATTENTION_MASK]) {
    const input = inputs.find((candidate) => candidate.name === name);
    const path = `${onnxFile}#${name}`;
    if (input === undefined) {
      const found = inputs.map((i) => i.name).join(', ') || 'none';
      report(
        'error',
        'onnx_input_missing',
        `${onnxFile} has no input "${name}" (inputs: ${found}); ` +
          'expected inputs input_ids and attention_mask, int64 [batch, sequence]',
        path,
      );
      ok = false;
      continue;
    }
    if (input.type !== 'int64') {
      report('error', 'onnx_input_dtype', `input "${name}" is ${input.type}; expected int64`, path);
      ok = false;
    }
    if (input.shape.length !== 2) {
      const message = `input "${name}" has shape [${formatShape(input.shape)}]; expected rank 2 [batch, sequence]`;
      report('error', 'onnx_input_rank', message, path);
      ok = false;
      continue;
    }
    input.shape.forEach((dim, axis) => {
      if (typeof dim === 'number') {
        report(
          'error',
          'onnx_axis_not_dynamic',
          `input "${name}" axis ${axis} (${AXIS_NAMES[axis]}) is fixed at ${dim}; ` +
            'expected a dynamic axis (export with dynamic_axes)',
          path,
        );
        ok = false;
      }
    });
  }
  for (const input of inputs) {
    if (input.name !== INPUT_IDS && input.name !== ATTENTION_MASK) {
      report(
        'error',
        'onnx_input_unexpected',
        `${onnxFile} has an extra input "${input.name}"; the denoiser feeds only input_ids and attention_mask`,
        `${onnxFile}#${input.name}`,
      );
      ok = false;
    }
  }
  return ok;
}
