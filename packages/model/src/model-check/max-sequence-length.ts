import { MODEL_MANIFEST_FILE } from '../model-manifest.ts';
import { PROBE_SHAPES } from './batch-shapes.ts';
import type { ProbeRunner } from './probe-runner.ts';
import type { ReportProblem } from './report.ts';

/** The graph runs one row of the manifest's maxSequenceLength (a learned position table may be shorter). */
export async function checkMaxSequenceLength(
  probe: ProbeRunner,
  onnxFile: string,
  maxSequenceLength: number | undefined,
  report: ReportProblem,
): Promise<void> {
  // Up to the probe shapes' length, checkBatchShapes has run it already.
  const longestProbe = Math.max(...PROBE_SHAPES.map(([, length]) => length));
  if (maxSequenceLength === undefined || maxSequenceLength <= longestProbe) return;
  const outcome = await probe.runUnpadded(1, maxSequenceLength);
  if (!outcome.ok) {
    report(
      'error',
      'max_sequence_length_unsupported',
      `${MODEL_MANIFEST_FILE} maxSequenceLength is ${maxSequenceLength} but running ${onnxFile} on input_ids ` +
        `[1, ${maxSequenceLength}] fails (${outcome.failure}); ` +
        'expected maxSequenceLength <= the longest sequence the model supports (e.g. its position table)',
      `${MODEL_MANIFEST_FILE}#maxSequenceLength`,
    );
  }
}
