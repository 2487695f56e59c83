import type { ProbeRunner } from './probe-runner.ts';
import type { ReportProblem } from './report.ts';

/** Batch shapes every model must accept: two different B and L prove both axes are dynamic. */
export const PROBE_SHAPES: readonly (readonly [number, number])[] = [
  [1, 7],
  [3, 13],
];

/** The graph runs on each probe shape (capped at maxSequenceLength) and returns finite logits of the right shape. */
export async function checkBatchShapes(
  probe: ProbeRunner,
  onnxFile: string,
  maxSequenceLength: number | undefined,
  report: ReportProblem,
): Promise<void> {
  const limit = maxSequenceLength ?? Number.POSITIVE_INFINITY;
  for (const [batchSize, probeLength] of PROBE_SHAPES) {
    const sequenceLength = Math.min(probeLength, limit);
    const outcome = await probe.runUnpadded(batchSize, sequenceLength);
    if (!outcome.ok) {
      const shape = `input_ids [${batchSize}, ${sequenceLength}]`;
      report('error', outcome.code, `running ${onnxFile} on ${shape}: ${outcome.failure}`, onnxFile);
    }
  }
}
