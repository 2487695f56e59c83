import { createHash } from 'node:crypto';

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/**
 * A line's stable id: its `custom_id` when it has one, else `line-` and a hash of the line's
 * text, so a rerun over the same file names the same lines (and can tell which are done).
 */
export function stableLineId(rawLine: string, customId: string | undefined): string {
  return customId ?? `line-${sha256(rawLine.trim()).slice(0, 24)}`;
}

/**
 * The Idempotency-Key a line is sent under. It hashes the id with the body sent, so a line
 * resent after Ctrl-C (or a retry after a timeout) reaches the job already decoding it, while
 * the same `custom_id` in another file, or a line whose body was edited, is a job of its own.
 */
export function idempotencyKeyFor(lineId: string, body: unknown): string {
  return `dfleet-batch-${sha256(`${lineId}\n${JSON.stringify(body)}`).slice(0, 32)}`;
}

/** The output record's `id`, in OpenAI's `batch_req_` form and stable across reruns. */
export function outputRecordId(lineId: string): string {
  return `batch_req_${sha256(lineId).slice(0, 24)}`;
}
