import { randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import { z } from 'zod';
import { toInvalidRequest } from '../completion-request.ts';
import {
  BatchNotCancellableError,
  BatchNotFoundError,
  FileLimitError,
  FileNotFoundError,
  InvalidRequestError,
  PayloadTooLargeError,
} from '../errors.ts';
import type { JobSubmitter } from '../job-submitter.ts';
import { BATCHES_QUEUE } from './batch-keys.ts';
import { BATCH_JOB_RETRIES, type BatchJobData } from './batch-runner.ts';
import {
  BATCH_ENDPOINTS,
  BatchStore,
  FILE_PURPOSES,
  type BatchRecord,
  type FilePurpose,
  type StoredFile,
} from './batch-store.ts';

export interface BatchApiOptions {
  /** Request-path Redis calls run under its budget and answer 503 when Redis is down. */
  submitter: JobSubmitter;
  /** The producer side of the `batches` queue. */
  queue: Queue<BatchJobData>;
  prefix: string;
  /** Largest file an upload may be (DFLEET_MAX_FILE_BYTES). */
  maxFileBytes: number;
  /** Most files one tenant may hold (DFLEET_MAX_FILES_PER_TENANT). */
  maxFilesPerTenant: number;
}

/** OpenAI's only completion window; a batch's lines not done by then are failed with `batch_expired`. */
const COMPLETION_WINDOW_SECONDS = 24 * 3_600;
const MAX_METADATA_KEYS = 16;
/** Ids are generated here; anything else in a path cannot name a file or a batch. */
const ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;

const m = {
  input_file_id: 'input_file_id must be the id of a file uploaded with purpose "batch" (POST /v1/files)',
  endpoint: `endpoint must be one of ${BATCH_ENDPOINTS.join(', ')}`,
  completion_window: 'completion_window must be "24h"',
  metadata: `metadata must be null or an object of at most ${MAX_METADATA_KEYS} string values (keys up to 64 characters, values up to 512)`,
};

const createBatchSchema = z.strictObject({
  input_file_id: z.string({ error: m.input_file_id }).min(1, { error: m.input_file_id }),
  endpoint: z.enum(BATCH_ENDPOINTS, { error: m.endpoint }),
  completion_window: z.literal('24h', { error: m.completion_window }),
  metadata: z
    .record(
      z.string().max(64, { error: m.metadata }),
      z.string({ error: m.metadata }).max(512, { error: m.metadata }),
      {
        error: m.metadata,
      },
    )
    .refine((metadata) => Object.keys(metadata).length <= MAX_METADATA_KEYS, { error: m.metadata })
    .nullish(),
});

/** What the /v1/files and /v1/batches routes do, each call scoped to the caller's tenant. */
export class BatchApi {
  readonly #options: BatchApiOptions;

  constructor(options: BatchApiOptions) {
    this.#options = options;
  }

  /** @throws PayloadTooLargeError, FileLimitError, InvalidRequestError (purpose). */
  async uploadFile(
    tenant: string,
    upload: { filename: string; purpose: string; content: Buffer },
  ): Promise<StoredFile> {
    if (upload.purpose !== 'batch') {
      throw new InvalidRequestError(
        `purpose must be "batch" (the only purpose this gateway stores files for), not '${upload.purpose}'`,
        'purpose',
      );
    }
    const { maxFileBytes, maxFilesPerTenant } = this.#options;
    if (upload.content.length > maxFileBytes) {
      throw new PayloadTooLargeError(
        `file is ${upload.content.length} bytes; the largest this gateway stores is ${maxFileBytes} (DFLEET_MAX_FILE_BYTES): split it into several batches`,
        'file',
      );
    }
    const file: StoredFile = {
      id: `file-${randomUUID().replaceAll('-', '')}`,
      tenant,
      bytes: upload.content.length,
      createdAt: Math.floor(Date.now() / 1000),
      filename: upload.filename,
      purpose: 'batch',
    };
    await this.#withStore('store the file', async (store) => {
      const held = await store.countFiles(tenant);
      if (held >= maxFilesPerTenant) {
        throw new FileLimitError(
          `tenant '${tenant}' holds ${held} files, the most it may (DFLEET_MAX_FILES_PER_TENANT=${maxFilesPerTenant}); delete some with DELETE /v1/files/:id`,
          'file',
        );
      }
      await store.saveFile(file, upload.content);
    });
    return file;
  }

  async getFile(tenant: string, fileId: string): Promise<StoredFile> {
    const file = ID_PATTERN.test(fileId)
      ? await this.#withStore('read the file', (store) => store.getFile(fileId))
      : null;
    if (file === null || file.tenant !== tenant) throw new FileNotFoundError(fileId);
    return file;
  }

  async fileContent(tenant: string, fileId: string): Promise<{ file: StoredFile; content: Buffer }> {
    const file = await this.getFile(tenant, fileId);
    const content = await this.#withStore("read the file's content", (store) => store.fileContent(fileId));
    if (content === null) throw new FileNotFoundError(fileId);
    return { file, content };
  }

  /** The tenant's files, newest first (`order: asc` for oldest first), optionally of one purpose. */
  async listFiles(
    tenant: string,
    query: { purpose: string | null; after: string | null; limit: number; order: 'asc' | 'desc' },
  ): Promise<{ files: StoredFile[]; hasMore: boolean }> {
    if (query.purpose !== null && !(FILE_PURPOSES as readonly string[]).includes(query.purpose)) {
      throw new InvalidRequestError(`purpose must be one of ${FILE_PURPOSES.join(', ')}`, 'purpose');
    }
    const all = await this.#withStore('list the files', (store) => store.listFiles(tenant));
    const ordered = query.order === 'asc' ? all.reverse() : all;
    const matching = ordered.filter(
      (file) => query.purpose === null || file.purpose === (query.purpose as FilePurpose),
    );
    let start = 0;
    if (query.after !== null) {
      const at = matching.findIndex((file) => file.id === query.after);
      if (at === -1) throw new FileNotFoundError(query.after, 'after');
      start = at + 1;
    }
    return { files: matching.slice(start, start + query.limit), hasMore: matching.length > start + query.limit };
  }

  async deleteFile(tenant: string, fileId: string): Promise<void> {
    const file = await this.getFile(tenant, fileId);
    await this.#withStore('delete the file', (store) => store.deleteFile(file));
  }

  /** Records the batch (validating) and queues it for a runner. @throws InvalidRequestError, FileNotFoundError. */
  async createBatch(tenant: string, body: unknown): Promise<BatchRecord> {
    const parsed = createBatchSchema.safeParse(body);
    if (!parsed.success) throw toInvalidRequest(parsed.error, { '': Object.keys(createBatchSchema.shape) });
    const { input_file_id: inputFileId, endpoint, completion_window: completionWindow, metadata } = parsed.data;
    const file = await this.getFile(tenant, inputFileId).catch((error: unknown) => {
      throw error instanceof FileNotFoundError ? new FileNotFoundError(inputFileId, 'input_file_id') : error;
    });
    if (file.purpose !== 'batch') {
      throw new InvalidRequestError(
        `input_file_id '${inputFileId}' is a file with purpose ${file.purpose}; a batch reads a file uploaded with purpose "batch"`,
        'input_file_id',
      );
    }
    const createdAt = Math.floor(Date.now() / 1000);
    const batch: BatchRecord = {
      id: `batch_${randomUUID().replaceAll('-', '')}`,
      tenant,
      endpoint,
      inputFileId,
      completionWindow,
      metadata: metadata ?? null,
      status: 'validating',
      createdAt,
      expiresAt: createdAt + COMPLETION_WINDOW_SECONDS,
      timestamps: {},
      requestCounts: { total: 0, completed: 0, failed: 0 },
      outputFileId: null,
      errorFileId: null,
      errors: null,
    };
    await this.#withStore('record the batch', async (store) => {
      await store.createBatch(batch);
      await this.#options.queue.add(
        BATCHES_QUEUE,
        { batchId: batch.id },
        { jobId: batch.id, removeOnComplete: true, removeOnFail: { age: 7 * 86_400 }, ...BATCH_JOB_RETRIES },
      );
    });
    return batch;
  }

  async getBatch(tenant: string, batchId: string): Promise<BatchRecord> {
    const batch = ID_PATTERN.test(batchId)
      ? await this.#withStore('read the batch', (store) => store.getBatch(batchId))
      : null;
    if (batch === null || batch.tenant !== tenant) throw new BatchNotFoundError(batchId);
    return batch;
  }

  /** A page of the tenant's batches, newest first. */
  async listBatches(
    tenant: string,
    query: { after: string | null; limit: number },
  ): Promise<{ batches: BatchRecord[]; hasMore: boolean }> {
    return this.#withStore('list the batches', async (store) => {
      const page = await store.pageOfBatchIds(tenant, query.after, query.limit);
      if (page === null) throw new BatchNotFoundError(query.after ?? '');
      const batches = await Promise.all(page.ids.map((id) => store.getBatch(id)));
      return { batches: batches.filter((batch): batch is BatchRecord => batch !== null), hasMore: page.hasMore };
    });
  }

  /**
   * Marks the batch cancelling; its runner (on whichever gateway) stops feeding lines, cancels
   * their jobs and writes what was done. @throws BatchNotCancellableError once it is finishing.
   */
  async cancelBatch(tenant: string, batchId: string): Promise<BatchRecord> {
    const batch = await this.getBatch(tenant, batchId);
    const moved = await this.#withStore('cancel the batch', (store) =>
      store.transition(batch.id, ['validating', 'in_progress'], 'cancelling'),
    );
    if (!moved.applied && moved.found !== 'cancelling') {
      throw new BatchNotCancellableError(batch.id, moved.found ?? batch.status);
    }
    return this.getBatch(tenant, batchId);
  }

  #withStore<T>(what: string, operation: (store: BatchStore) => Promise<T>): Promise<T> {
    return this.#options.submitter.withRedis(what, (redis) => operation(new BatchStore(redis, this.#options.prefix)));
  }
}
