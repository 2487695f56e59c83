import type { ModelCheckProblem, ModelCheckReport, ModelCheckTensor } from './model-check/report.ts';
import { formatShape } from './model-check/tensor-shape.ts';

function formatTensor(tensor: ModelCheckTensor): string {
  return `${tensor.name} ${tensor.type} [${formatShape(tensor.shape)}]`;
}

/** `error   onnx_input_dtype (model.onnx#input_ids): input "input_ids" is int32; expected int64` */
function formatProblem({ severity, code, path, message }: ModelCheckProblem): string {
  const where = path === undefined ? '' : ` (${path})`;
  return `${severity === 'error' ? 'error  ' : 'warning'} ${code}${where}: ${message}`;
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

/** Human-readable report for `dfleet model check DIR`: verdict, what was found, then each problem. */
export function formatModelCheckReport(report: ModelCheckReport): string {
  const { summary, problems } = report;
  const errors = problems.filter((problem) => problem.severity === 'error').length;
  const warnings = problems.length - errors;
  const verdict = report.ok
    ? `OK${warnings > 0 ? ` (${plural(warnings, 'warning')})` : ''}`
    : `FAILED (${plural(errors, 'error')}${warnings > 0 ? `, ${plural(warnings, 'warning')}` : ''})`;
  const lines = [`model check ${summary.directory}: ${verdict}`];
  if (summary.name !== undefined) lines.push(`  name               ${summary.name}`);
  if (summary.vocabSize !== undefined) {
    const tokenizer = summary.tokenizerVocabSize === undefined ? '' : ` (tokenizer: ${summary.tokenizerVocabSize})`;
    lines.push(`  vocabSize          ${summary.vocabSize}${tokenizer}`);
  }
  if (summary.maxSequenceLength !== undefined) lines.push(`  maxSequenceLength  ${summary.maxSequenceLength}`);
  if (summary.specialTokens !== undefined) {
    const ids = Object.entries(summary.specialTokens).map(([role, id]) => `${role}=${id}`);
    lines.push(`  special tokens     ${ids.join(' ')}`);
  }
  if (summary.inputs !== undefined) lines.push(`  onnx inputs        ${summary.inputs.map(formatTensor).join('; ')}`);
  if (summary.outputs !== undefined) lines.push(`  onnx outputs       ${summary.outputs.map(formatTensor).join('; ')}`);
  if (summary.shapesRun.length > 0) {
    lines.push(`  ran shapes         ${summary.shapesRun.map(([b, l]) => `[${b}, ${l}]`).join(' ')}`);
  }
  const cache = summary.prefixCache;
  if (cache !== undefined) {
    const { fullPass, cachedWindow, batched } = cache.differences ?? {};
    const probes = [
      ['no cache vs plain', fullPass],
      ['cached window vs full pass', cachedWindow],
      ['batched vs alone', batched],
    ]
      .filter((entry): entry is [string, number] => entry[1] !== undefined)
      .map(([what, difference]) => `${what} ${difference.toExponential(1)}`);
    lines.push(
      `  prefix cache       ${cache.onnx}: layers=${cache.layers} kvHeads=${cache.kvHeads} headDim=${cache.headDim}` +
        (probes.length > 0 ? ` (max |logit difference|: ${probes.join(', ')})` : ''),
    );
  }
  lines.push(...problems.map(formatProblem));
  return lines.join('\n');
}
