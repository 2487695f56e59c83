import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import type { BatchEndpoint, BatchRequestLine } from './batch-input.ts';
import { isFailed, type BatchOutputRecord } from './batch-output.ts';
import type { BatchRun } from './batch-run.ts';
import { readBatchState, removeBatchState, writeBatchState, type BatchState } from './batch-state-file.ts';
import { GatewayUnreachableError } from './gateway-http.ts';

export interface ViaBatchApiOptions {
  /** The input file (absolute), recorded in the state file. */
  readonly input: string;
  readonly statePath: string;
  readonly pollIntervalMs: number;
  /** Cancel the running batches on Ctrl-C instead of leaving them running. */
  readonly cancelOnInterrupt: boolean;
  /** Polls in a row that may fail to reach the gateway before the run gives up (the batch keeps running). */
  readonly retries: number;
}

const FINAL_STATUSES = new Set(['completed', 'failed', 'expired', 'cancelled']);
/**
 * Error codes the gateway writes for lines a cancelled or expired batch never answered: no
 * result, so they stay pending (and go into a new batch) rather than being recorded as failed.
 */
const UNANSWERED_CODES = new Set(['batch_cancelled', 'batch_expired']);

/** A batch that ended this way may leave lines undone that a new batch can still run. */
const RESUMABLE_STATUSES = new Set(['expired', 'cancelled']);

const remoteBatchSchema = z.object({
  id: z.string(),
  status: z.string(),
  request_counts: z.object({ total: z.number(), completed: z.number(), failed: z.number() }).nullish(),
  output_file_id: z.string().nullish(),
  error_file_id: z.string().nullish(),
  errors: z
    .object({ data: z.array(z.object({ code: z.string().nullish(), message: z.string().nullish() })).nullish() })
    .nullish(),
});
type RemoteBatch = z.output<typeof remoteBatchSchema>;

/**
 * Runs the lines through the gateway's Batch API: uploads one file per endpoint (a batch has one
 * endpoint), creates the batches, keeps their ids in the state file, polls them, and appends
 * their output and error files' lines. A rerun finds the state file and re-attaches to the same
 * batches; lines a cancelled or expired batch left undone go into a new batch once.
 */
export async function runViaBatchApi(
  run: BatchRun,
  lines: readonly BatchRequestLine[],
  options: ViaBatchApiOptions,
): Promise<void> {
  const pending = new Map(lines.map((line) => [line.id, line]));
  let state = readBatchState(options.statePath, options.input);
  let createdThisRun = false;
  if (state && state.batches.length > 0) {
    run.progress.note(`re-attaching to ${state.batches.map((b) => b.id).join(', ')} (from ${options.statePath})`);
  }
  for (;;) {
    if (!state || state.batches.length === 0) {
      if (pending.size === 0) break;
      state = await createBatches(run, [...pending.values()], options);
      createdThisRun = true;
    }
    const finals = await waitForBatches(run, state, options);
    if (finals === undefined) return void (await onInterrupt(run, state, options));
    for (const batch of finals) await collect(run, batch, pending);
    removeBatchState(options.statePath);
    state = undefined;
    const resumable = finals.some((batch) => RESUMABLE_STATUSES.has(batch.status));
    if (pending.size > 0 && resumable && !createdThisRun) continue;
    for (const line of pending.values()) run.leave(line, whyLeft(finals));
    break;
  }
}

async function createBatches(
  run: BatchRun,
  lines: readonly BatchRequestLine[],
  options: ViaBatchApiOptions,
): Promise<BatchState> {
  const state: BatchState = { input: options.input, batches: [] };
  const byEndpoint = new Map<BatchEndpoint, BatchRequestLine[]>();
  for (const line of lines) byEndpoint.set(line.url, [...(byEndpoint.get(line.url) ?? []), line]);
  for (const [endpoint, group] of byEndpoint) {
    const jsonl = group
      .map((line) => JSON.stringify({ custom_id: line.id, method: 'POST', url: endpoint, body: run.bodyFor(line) }))
      .join('\n');
    const form = new FormData();
    form.append('purpose', 'batch');
    form.append('file', new Blob([`${jsonl}\n`], { type: 'application/jsonl' }), basename(options.input));
    const file = (await run.http.expectOk('POST', '/v1/files', { form })).body as { id: string };
    const created = await run.http.expectOk('POST', '/v1/batches', {
      json: {
        input_file_id: file.id,
        endpoint,
        completion_window: '24h',
        metadata: { created_by: 'dfleet batch', input: basename(options.input) },
      },
    });
    const batch = remoteBatchSchema.parse(created.body);
    state.batches.push({ id: batch.id, endpoint, input_file_id: file.id });
    // Saved after each batch: a Ctrl-C between two creations still re-attaches to the first.
    writeBatchState(options.statePath, state);
    run.progress.note(
      `created ${batch.id} (${group.length} lines to ${endpoint}); its id is kept in ${options.statePath}`,
    );
  }
  return state;
}

/** Polls until every batch is final (their last reads), or undefined on Ctrl-C. */
async function waitForBatches(
  run: BatchRun,
  state: BatchState,
  options: ViaBatchApiOptions,
): Promise<RemoteBatch[] | undefined> {
  let unreachable = 0;
  for (;;) {
    if (run.interrupt.interrupted) return undefined;
    let batches: RemoteBatch[];
    try {
      batches = await Promise.all(state.batches.map((batch) => retrieve(run, batch.id)));
      unreachable = 0;
    } catch (error) {
      // A gateway restarting is no reason to stop: the batch lives in Redis.
      if (!(error instanceof GatewayUnreachableError) || ++unreachable > options.retries) throw error;
      batches = [];
    }
    if (batches.length > 0) {
      const completed = batches.reduce((sum, b) => sum + (b.request_counts?.completed ?? 0), 0);
      const failed = batches.reduce((sum, b) => sum + (b.request_counts?.failed ?? 0), 0);
      run.showRemote({ done: run.done + completed, failed: run.failed + failed });
      if (batches.every((batch) => FINAL_STATUSES.has(batch.status))) return batches;
    }
    await sleep(options.pollIntervalMs, undefined, { signal: run.interrupt.stopping }).catch(() => undefined);
  }
}

async function retrieve(run: BatchRun, id: string): Promise<RemoteBatch> {
  return remoteBatchSchema.parse((await run.http.expectOk('GET', `/v1/batches/${id}`)).body);
}

/** Appends the batch's output and error lines for the lines still pending. */
async function collect(run: BatchRun, batch: RemoteBatch, pending: Map<string, BatchRequestLine>): Promise<void> {
  for (const fileId of [batch.output_file_id, batch.error_file_id]) {
    if (!fileId) continue;
    const content = await run.http.expectOk('GET', `/v1/files/${fileId}/content`, { asText: true });
    for (const text of String(content.body).split('\n')) {
      if (text.trim() === '') continue;
      const record = JSON.parse(text) as BatchOutputRecord;
      if (record.error !== null && UNANSWERED_CODES.has(record.error.code)) continue;
      if (!pending.delete(record.custom_id)) continue;
      run.record(record, isFailed(record) ? 0 : completionTokensOf(record));
    }
  }
}

async function onInterrupt(run: BatchRun, state: BatchState, options: ViaBatchApiOptions): Promise<void> {
  if (!options.cancelOnInterrupt) return;
  for (const batch of state.batches) {
    await run.http.expectOk('POST', `/v1/batches/${batch.id}/cancel`);
    run.progress.note(
      `cancelled ${batch.id}: a rerun collects the lines it finished and sends the rest in a new batch`,
    );
  }
}

function whyLeft(finals: readonly RemoteBatch[]): string {
  return (
    finals
      .filter((batch) => batch.status !== 'completed')
      .map((batch) => {
        const errors = (batch.errors?.data ?? []).map((e) => `${e.code ?? 'error'}: ${e.message ?? ''}`).join('; ');
        return `${batch.id} ended ${batch.status}${errors ? ` (${errors})` : ''}`;
      })
      .join(', ') || 'not in the batch output'
  );
}

function completionTokensOf(record: BatchOutputRecord): number {
  const tokens = (record.response?.body as { usage?: { completion_tokens?: unknown } } | null)?.usage
    ?.completion_tokens;
  return typeof tokens === 'number' ? tokens : 0;
}
