import type { RedisConnection } from '@dfleet/queue';
import { batchKeys } from './batch-keys.ts';

const BATCH_STATUSES = [
  'validating',
  'failed',
  'in_progress',
  'finalizing',
  'completed',
  'expired',
  'cancelling',
  'cancelled',
] as const;
export type BatchStatus = (typeof BATCH_STATUSES)[number];

/** Statuses a batch never leaves; reaching one calls `onBatchFinished`. */
export const FINAL_BATCH_STATUSES: ReadonlySet<BatchStatus> = new Set(['failed', 'completed', 'expired', 'cancelled']);

export const BATCH_ENDPOINTS = ['/v1/completions', '/v1/chat/completions'] as const;
export type BatchEndpoint = (typeof BATCH_ENDPOINTS)[number];

/** A batch-level failure (the whole input), in OpenAI's `errors.data` shape. */
export interface BatchLevelError {
  code: string;
  message: string;
  param: string | null;
  line: number | null;
}

/** The `*_at` timestamps a status change sets, in epoch seconds. */
const TIMESTAMP_FIELDS = [
  'in_progress_at',
  'finalizing_at',
  'completed_at',
  'failed_at',
  'expired_at',
  'cancelling_at',
  'cancelled_at',
] as const;
type TimestampField = (typeof TIMESTAMP_FIELDS)[number];

export interface BatchRecord {
  id: string;
  tenant: string;
  endpoint: BatchEndpoint;
  inputFileId: string;
  completionWindow: string;
  metadata: Record<string, string> | null;
  status: BatchStatus;
  /** Epoch seconds. */
  createdAt: number;
  /** Epoch seconds after which the lines not done are failed with `batch_expired`. */
  expiresAt: number;
  timestamps: Partial<Record<TimestampField, number>>;
  requestCounts: { total: number; completed: number; failed: number };
  outputFileId: string | null;
  errorFileId: string | null;
  errors: BatchLevelError[] | null;
}

export const FILE_PURPOSES = ['batch', 'batch_output'] as const;
export type FilePurpose = (typeof FILE_PURPOSES)[number];

export interface StoredFile {
  id: string;
  tenant: string;
  bytes: number;
  /** Epoch seconds. */
  createdAt: number;
  filename: string;
  purpose: FilePurpose;
}

/** Which file of a batch a finished line goes to. */
export type LineOutcome = 'output' | 'errors';

/**
 * Records a line's result once: a line already in either hash is left as it is, so a line a
 * resumed runner finishes again is counted and written once. KEYS: batch, output, errors.
 * ARGV: line, 'output' | 'errors', the line's JSON. Returns 1 when recorded, 0 when it was there.
 */
const RECORD_LINE_SCRIPT = `
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 or redis.call('HEXISTS', KEYS[3], ARGV[1]) == 1 then
  return 0
end
if ARGV[2] == 'output' then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
  redis.call('HINCRBY', KEYS[1], 'completed', 1)
else
  redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
  redis.call('HINCRBY', KEYS[1], 'failed', 1)
end
return 1
`;

/**
 * Moves a batch to a status when its current one is allowed, setting the given fields with it.
 * KEYS: batch. ARGV: allowed statuses (comma-separated), then field, value pairs (status first).
 * Returns the status it found (the transition happened when that status was allowed).
 */
const TRANSITION_SCRIPT = `
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return false end
for allowed in string.gmatch(ARGV[1], '[^,]+') do
  if allowed == current then
    for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
    return current
  end
end
return current
`;

/**
 * Writes a new record (a file or a batch) and puts its id last in its tenant's list, ordered by a
 * fleet-wide sequence (scores of seconds, or even milliseconds, tie), all or nothing. A record
 * that exists is left as it is: a batch's output file written again by a second run of the batch
 * (after a stall) never replaces the first. KEYS: the record, the list, the sequence. ARGV: the
 * id, then field, value pairs. Returns 1 when written, 0 when the record existed.
 */
const CREATE_LISTED_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[3]), ARGV[1])
return 1
`;

const FILE_FIELDS = ['tenant', 'bytes', 'created_at', 'filename', 'purpose'] as const;

/** Files, batches and per-line results in Redis (see batch-keys.ts for the layout). */
export class BatchStore {
  readonly #redis: RedisConnection;
  readonly #prefix: string;

  constructor(redis: RedisConnection, prefix: string) {
    this.#redis = redis;
    this.#prefix = prefix;
  }

  /** Stores a new file; one that exists under the id is kept (see CREATE_LISTED_SCRIPT). */
  async saveFile(file: StoredFile, content: Buffer): Promise<void> {
    await this.#createListed(
      batchKeys.file(this.#prefix, file.id),
      batchKeys.tenantFiles(this.#prefix, file.tenant),
      file.id,
      {
        tenant: file.tenant,
        bytes: String(file.bytes),
        created_at: String(file.createdAt),
        filename: file.filename,
        purpose: file.purpose,
        content,
      },
    );
  }

  async getFile(fileId: string): Promise<StoredFile | null> {
    const values = await this.#redis.hmget(batchKeys.file(this.#prefix, fileId), ...FILE_FIELDS);
    const [tenant, bytes, createdAt, filename, purpose] = values;
    if (tenant === null || tenant === undefined) return null;
    return {
      id: fileId,
      tenant,
      bytes: Number(bytes),
      createdAt: Number(createdAt),
      filename: filename ?? '',
      purpose: purpose as FilePurpose,
    };
  }

  async fileContent(fileId: string): Promise<Buffer | null> {
    return this.#redis.hgetBuffer(batchKeys.file(this.#prefix, fileId), 'content');
  }

  /** The tenant's files, newest first. */
  async listFiles(tenant: string): Promise<StoredFile[]> {
    const ids = await this.#redis.zrevrange(batchKeys.tenantFiles(this.#prefix, tenant), 0, -1);
    const files = await Promise.all(ids.map((id) => this.getFile(id)));
    return files.filter((file): file is StoredFile => file !== null);
  }

  countFiles(tenant: string): Promise<number> {
    return this.#redis.zcard(batchKeys.tenantFiles(this.#prefix, tenant));
  }

  async deleteFile(file: StoredFile): Promise<void> {
    await this.#redis
      .multi()
      .del(batchKeys.file(this.#prefix, file.id))
      .zrem(batchKeys.tenantFiles(this.#prefix, file.tenant), file.id)
      .exec();
  }

  async createBatch(batch: BatchRecord): Promise<void> {
    const key = batchKeys.batch(this.#prefix, batch.id);
    await this.#createListed(key, batchKeys.tenantBatches(this.#prefix, batch.tenant), batch.id, {
      tenant: batch.tenant,
      endpoint: batch.endpoint,
      input_file_id: batch.inputFileId,
      completion_window: batch.completionWindow,
      metadata: batch.metadata === null ? '' : JSON.stringify(batch.metadata),
      status: batch.status,
      created_at: String(batch.createdAt),
      expires_at: String(batch.expiresAt),
      total: '0',
      completed: '0',
      failed: '0',
    });
  }

  async #createListed(
    key: string,
    listKey: string,
    id: string,
    fields: Record<string, string | Buffer>,
  ): Promise<void> {
    const pairs = Object.entries(fields).flat();
    await this.#redis.eval(CREATE_LISTED_SCRIPT, 3, key, listKey, batchKeys.listSequence(this.#prefix), id, ...pairs);
  }

  async getBatch(batchId: string): Promise<BatchRecord | null> {
    const fields = await this.#redis.hgetall(batchKeys.batch(this.#prefix, batchId));
    if (fields['tenant'] === undefined) return null;
    const timestamps: BatchRecord['timestamps'] = {};
    for (const name of TIMESTAMP_FIELDS) if (fields[name] !== undefined) timestamps[name] = Number(fields[name]);
    return {
      id: batchId,
      tenant: fields['tenant'],
      endpoint: fields['endpoint'] as BatchEndpoint,
      inputFileId: fields['input_file_id'] ?? '',
      completionWindow: fields['completion_window'] ?? '24h',
      metadata: fields['metadata'] ? (JSON.parse(fields['metadata']) as Record<string, string>) : null,
      status: fields['status'] as BatchStatus,
      createdAt: Number(fields['created_at']),
      expiresAt: Number(fields['expires_at']),
      timestamps,
      requestCounts: {
        total: Number(fields['total'] ?? 0),
        completed: Number(fields['completed'] ?? 0),
        failed: Number(fields['failed'] ?? 0),
      },
      outputFileId: fields['output_file_id'] || null,
      errorFileId: fields['error_file_id'] || null,
      errors: fields['errors'] ? (JSON.parse(fields['errors']) as BatchLevelError[]) : null,
    };
  }

  /**
   * A page of the tenant's batches, newest first, after the batch `after` (exclusive).
   * @returns the ids of the page and whether more follow.
   */
  async pageOfBatchIds(
    tenant: string,
    after: string | null,
    limit: number,
  ): Promise<{ ids: string[]; hasMore: boolean } | null> {
    const key = batchKeys.tenantBatches(this.#prefix, tenant);
    let start = 0;
    if (after !== null) {
      const rank = await this.#redis.zrevrank(key, after);
      if (rank === null) return null;
      start = rank + 1;
    }
    const ids = await this.#redis.zrevrange(key, start, start + limit);
    return { ids: ids.slice(0, limit), hasMore: ids.length > limit };
  }

  /**
   * Moves the batch to `to` if its status is one of `from`, with the `*_at` of `to` (when it has
   * one) and the other fields given. Returns the status found, or null when there is no batch.
   */
  async transition(
    batchId: string,
    from: readonly BatchStatus[],
    to: BatchStatus,
    fields: Record<string, string> = {},
  ): Promise<{ applied: boolean; found: BatchStatus | null }> {
    const timestampField = `${to}_at`;
    const stamped = (TIMESTAMP_FIELDS as readonly string[]).includes(timestampField)
      ? { [timestampField]: String(Math.floor(Date.now() / 1000)) }
      : {};
    const pairs = Object.entries({ status: to, ...stamped, ...fields }).flat();
    const found = (await this.#redis.eval(
      TRANSITION_SCRIPT,
      1,
      batchKeys.batch(this.#prefix, batchId),
      from.join(','),
      ...pairs,
    )) as BatchStatus | null;
    return { applied: found !== null && from.includes(found), found };
  }

  async setTotal(batchId: string, total: number): Promise<void> {
    await this.#redis.hset(batchKeys.batch(this.#prefix, batchId), 'total', String(total));
  }

  /** Records a finished line once (see RECORD_LINE_SCRIPT); returns whether this call recorded it. */
  async recordLine(batchId: string, line: number, outcome: LineOutcome, json: string): Promise<boolean> {
    const recorded = await this.#redis.eval(
      RECORD_LINE_SCRIPT,
      3,
      batchKeys.batch(this.#prefix, batchId),
      batchKeys.batchOutput(this.#prefix, batchId),
      batchKeys.batchErrors(this.#prefix, batchId),
      String(line),
      outcome,
      json,
    );
    return recorded === 1;
  }

  /** The line numbers already recorded, in either file. */
  async recordedLines(batchId: string): Promise<Set<number>> {
    const [output, errors] = await Promise.all([
      this.#redis.hkeys(batchKeys.batchOutput(this.#prefix, batchId)),
      this.#redis.hkeys(batchKeys.batchErrors(this.#prefix, batchId)),
    ]);
    return new Set([...output, ...errors].map(Number));
  }

  /** The recorded lines of `lines`, in that order, split by file; lines not recorded are left out. */
  async recordedResults(batchId: string, lines: readonly number[]): Promise<Record<LineOutcome, string[]>> {
    if (lines.length === 0) return { output: [], errors: [] };
    const fields = lines.map(String);
    const [output, errors] = await Promise.all([
      this.#redis.hmget(batchKeys.batchOutput(this.#prefix, batchId), ...fields),
      this.#redis.hmget(batchKeys.batchErrors(this.#prefix, batchId), ...fields),
    ]);
    return {
      output: output.filter((line): line is string => line !== null),
      errors: errors.filter((line): line is string => line !== null),
    };
  }

  /** Drops the per-line results once the output and error files hold them. */
  async dropLineResults(batchId: string): Promise<void> {
    await this.#redis.del(batchKeys.batchOutput(this.#prefix, batchId), batchKeys.batchErrors(this.#prefix, batchId));
  }
}
