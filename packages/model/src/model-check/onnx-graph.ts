import type { SpecialTokenRole } from '../model-manifest.ts';
import { checkBatchShapes } from './batch-shapes.ts';
import { checkMaxSequenceLength } from './max-sequence-length.ts';
import { checkOnnxInputs } from './onnx-inputs.ts';
import { checkOnnxOutputs } from './onnx-outputs.ts';
import { checkOnnxLoads, describeTensor, type OnnxSessionTarget } from './onnx-session.ts';
import { checkPaddingInvariance } from './padding-invariance.ts';
import { createProbeRunner } from './probe-runner.ts';
import type { ModelCheckSummary, ReportProblem } from './report.ts';

export interface OnnxCheckContext extends OnnxSessionTarget {
  readonly vocabSize: number | undefined;
  readonly maxSequenceLength: number | undefined;
  readonly specialTokens: Record<SpecialTokenRole, number> | undefined;
  readonly report: ReportProblem;
  /** Receives each shape a real run passed on. */
  readonly shapesRun: [number, number][];
}

/** Loads the graph, checks its inputs and outputs, and then runs it: shapes, maxSequenceLength, padding. */
export async function checkOnnxGraph(
  modelPath: string,
  onnxFile: string,
  context: OnnxCheckContext,
): Promise<Pick<ModelCheckSummary, 'inputs' | 'outputs'>> {
  const { vocabSize, maxSequenceLength, report } = context;
  const session = await checkOnnxLoads(modelPath, onnxFile, context, report);
  if (session === undefined) return {};
  try {
    const inputs = session.description.inputs.map(describeTensor);
    const outputs = session.description.outputs.map(describeTensor);
    const inputsOk = checkOnnxInputs(inputs, onnxFile, report);
    const outputsOk = checkOnnxOutputs(outputs, onnxFile, vocabSize, report);
    // Runs only prove more when the graph's interface is right; otherwise they repeat its errors.
    if (inputsOk && outputsOk && vocabSize !== undefined) {
      const probe = createProbeRunner(session, vocabSize, context.specialTokens, context.shapesRun);
      await checkBatchShapes(probe, onnxFile, maxSequenceLength, report);
      await checkMaxSequenceLength(probe, onnxFile, maxSequenceLength, report);
      await checkPaddingInvariance(probe, onnxFile, maxSequenceLength, report);
    }
    return { inputs, outputs };
  } finally {
    await session.close();
  }
}
