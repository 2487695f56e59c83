import type { BatchRecord, StoredFile } from './batch-store.ts';

/** A file as OpenAI's API answers it (`object: "file"`). */
export function toFileObject(file: StoredFile) {
  return {
    id: file.id,
    object: 'file' as const,
    bytes: file.bytes,
    created_at: file.createdAt,
    filename: file.filename,
    purpose: file.purpose,
    // Files are checked when a batch reads them, not on upload: every stored file is ready.
    status: 'processed' as const,
    expires_at: null,
    status_details: null,
  };
}

/** A batch as OpenAI's API answers it (`object: "batch"`); unset timestamps and files are null. */
export function toBatchObject(batch: BatchRecord) {
  const at = (name: keyof BatchRecord['timestamps']) => batch.timestamps[name] ?? null;
  return {
    id: batch.id,
    object: 'batch' as const,
    endpoint: batch.endpoint,
    errors: batch.errors === null ? null : { object: 'list' as const, data: batch.errors },
    input_file_id: batch.inputFileId,
    completion_window: batch.completionWindow,
    status: batch.status,
    output_file_id: batch.outputFileId,
    error_file_id: batch.errorFileId,
    created_at: batch.createdAt,
    in_progress_at: at('in_progress_at'),
    expires_at: batch.expiresAt,
    finalizing_at: at('finalizing_at'),
    completed_at: at('completed_at'),
    failed_at: at('failed_at'),
    expired_at: at('expired_at'),
    cancelling_at: at('cancelling_at'),
    cancelled_at: at('cancelled_at'),
    request_counts: batch.requestCounts,
    metadata: batch.metadata,
  };
}

export type BatchObject = ReturnType<typeof toBatchObject>;

/** OpenAI's cursor page: `after` is the last id of the previous page. */
export function listPage<T extends { id: string }>(data: readonly T[], hasMore: boolean) {
  return {
    object: 'list' as const,
    data,
    first_id: data[0]?.id ?? null,
    last_id: data.at(-1)?.id ?? null,
    has_more: hasMore,
  };
}
