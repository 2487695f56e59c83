import { probeIds, type ProbeRunner } from './probe-runner.ts';
import type { ReportProblem } from './report.ts';

/** Largest |logit difference| tolerated between a row alone and the same row right-padded. */
export const PADDING_TOLERANCE = 1e-3;

/** A row's logits must not change when the batch pads it on the right (attention_mask 0). */
export async function checkPaddingInvariance(
  probe: ProbeRunner,
  onnxFile: string,
  maxSequenceLength: number | undefined,
  report: ReportProblem,
): Promise<void> {
  const { vocabSize, specialTokens } = probe;
  const limit = maxSequenceLength ?? Number.POSITIVE_INFINITY;
  const realLength = Math.min(7, limit);
  const paddedLength = Math.min(13, limit);
  if (paddedLength <= realLength) return;
  const row = probeIds(realLength, vocabSize, specialTokens, 3);
  const alone = await probe.run(row, new Uint8Array(realLength).fill(1), 1, realLength);
  const paddedIds = new Int32Array(paddedLength).fill(specialTokens?.pad ?? 0);
  paddedIds.set(row);
  const padded = await probe.run(paddedIds, new Uint8Array(paddedLength).fill(1, 0, realLength), 1, paddedLength);
  if (!padded.ok) {
    const what = `a row right-padded from ${realLength} to ${paddedLength}`;
    report('error', padded.code, `running ${onnxFile} on ${what}: ${padded.failure}`, onnxFile);
  }
  if (!alone.ok || !padded.ok) return;
  let maxDifference = 0;
  for (let i = 0; i < realLength * vocabSize; i++) {
    maxDifference = Math.max(maxDifference, Math.abs(alone.logits[i]! - padded.logits[i]!));
  }
  if (!(maxDifference <= PADDING_TOLERANCE)) {
    report(
      'error',
      'padding_changes_logits',
      `a row's logits change when it is right-padded from ${realLength} to ${paddedLength} positions ` +
        `(max |difference| ${maxDifference.toPrecision(3)} > ${PADDING_TOLERANCE}); ` +
        'expected the model to ignore positions where attention_mask is 0',
      onnxFile,
    );
  }
}
