import type { BatchLine } from './batch-input.ts';
import { recordedIds } from './batch-output.ts';

/** Where a run starts: the lines without a record yet, and the counts of those with one. */
export interface ResumePoint {
  readonly pending: readonly BatchLine[];
  readonly earlier: { readonly done: number; readonly failed: number };
}

/**
 * Reads the record files of earlier runs (the output, and the errors file when there is one):
 * a line with a record there, failed or not, is not sent again. Records of ids the input does
 * not have (another file's output) count for nothing.
 */
export function resumePoint(lines: readonly BatchLine[], recordFiles: readonly string[]): ResumePoint {
  const recorded = new Map(recordFiles.flatMap((path) => [...recordedIds(path)]));
  const pending = lines.filter((line) => !recorded.has(line.id));
  const failed = lines.filter((line) => recorded.get(line.id)?.failed === true).length;
  return { pending, earlier: { done: lines.length - pending.length - failed, failed } };
}
