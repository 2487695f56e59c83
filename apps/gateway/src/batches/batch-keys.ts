/**
 * Where the Batch API keeps its state, every key under the fleet's prefix (one Redis Cluster slot
 * when the prefix is hash-tagged, as docs/redis.md requires). The tenant sets use the tenant hash
 * tag of the waiting-job keys, which a tagged prefix overrides.
 */
export const batchKeys = {
  /** Hash: a file's metadata and its `content`. */
  file: (prefix: string, fileId: string) => `${prefix}:file:${fileId}`,
  /** Sorted set of a tenant's file ids, in creation order (scored by the list sequence). */
  tenantFiles: (prefix: string, tenant: string) => `${prefix}:{tenant:${tenant}}:files`,
  /** Counter ordering the tenants' file and batch lists (their scores). */
  listSequence: (prefix: string) => `${prefix}:batch-list-sequence`,
  /** Hash: a batch's status, counts, timestamps and file ids. */
  batch: (prefix: string, batchId: string) => `${prefix}:batch:${batchId}`,
  /** Sorted set of a tenant's batch ids, in creation order (scored by the list sequence). */
  tenantBatches: (prefix: string, tenant: string) => `${prefix}:{tenant:${tenant}}:batches`,
  /** Hash: line number -> output line of each line that succeeded (deleted once the output file is written). */
  batchOutput: (prefix: string, batchId: string) => `${prefix}:batch:${batchId}:output`,
  /** Hash: line number -> error line of each line that failed (deleted with the output). */
  batchErrors: (prefix: string, batchId: string) => `${prefix}:batch:${batchId}:errors`,
};

/** The BullMQ queue of batches to run: one job per batch (id = batch id), claimed by any gateway's runner. */
export const BATCHES_QUEUE = 'batches';
