import type { DenoiserBatch, PrefixCacheRow } from '@dfleet/decoder';
import { DenoiserBatchError } from './errors.ts';

/** Int32 slots carry cache ids and lengths to the inference thread. */
const MAX_INT32 = 2 ** 31 - 1;

/**
 * Refuses what the cached graph cannot do, before anything reaches the session. `cachedLengths`:
 * cache id -> the length the store will hold once the passes called before this one have run.
 */
export function checkPrefixCacheRows(
  batch: DenoiserBatch,
  rows: readonly PrefixCacheRow[],
  cachedLengths: ReadonlyMap<number, number>,
): void {
  const { batchSize, sequenceLength, attentionMask } = batch;
  if (!Array.isArray(rows) || rows.length !== batchSize) {
    throw new DenoiserBatchError(
      `prefixCache must have one entry per row (batchSize ${batchSize}), got ${describeArray(rows)}`,
    );
  }
  const seen = new Set<number>();
  for (const [row, { cacheId, cachedLength, keepLength }] of rows.entries()) {
    const where = `prefixCache[${row}]`;
    for (const [field, value] of [
      ['cacheId', cacheId],
      ['cachedLength', cachedLength],
      ['keepLength', keepLength],
    ] as const) {
      if (!Number.isInteger(value) || value < (field === 'cacheId' ? -MAX_INT32 : 0) || value > MAX_INT32) {
        throw new DenoiserBatchError(
          `${where}.${field} must be an integer ${field === 'cacheId' ? 'within int32' : 'in [0, 2^31)'}, got ${value}`,
        );
      }
    }
    if (seen.has(cacheId)) {
      throw new DenoiserBatchError(`${where}: cache ${cacheId} appears in two rows; each decode has its own cacheId`);
    }
    seen.add(cacheId);
    let window = 0;
    for (let slot = row * sequenceLength; slot < (row + 1) * sequenceLength; slot++)
      if (attentionMask[slot] !== 0) window++;
    if (keepLength > window) {
      throw new DenoiserBatchError(
        `${where}.keepLength ${keepLength} is longer than the row's window (${window} tokens): ` +
          'a pass keeps only keys and values it computed',
      );
    }
    if (keepLength > 0 && cachedLength > 0) {
      throw new DenoiserBatchError(
        `${where} keeps ${keepLength} positions while reading ${cachedLength} cached ones: ` +
          'only a refresh (cachedLength 0, the whole canvas) may keep a cache',
      );
    }
    if (cachedLength === 0) continue;
    const held = cachedLengths.get(cacheId);
    if (held === undefined) {
      throw new DenoiserBatchError(
        `${where} reads prefix cache ${cacheId}, which the denoiser does not hold (never kept, or released): ` +
          'run a refresh pass (cachedLength 0, keepLength > 0) first',
      );
    }
    if (held !== cachedLength) {
      throw new DenoiserBatchError(
        `${where} reads ${cachedLength} cached positions of prefix cache ${cacheId}, which holds ${held}: ` +
          'cachedLength must equal the keepLength of the refresh that made the cache',
      );
    }
  }
}

/** Refuses a batch the model cannot run, naming the field and what is allowed. */
export function checkDenoiserBatch(batch: DenoiserBatch, vocabSize: number, hasPrefixCache: boolean): void {
  const { batchSize, sequenceLength, inputIds, attentionMask } = batch;
  if (!Number.isInteger(batchSize) || batchSize <= 0 || !Number.isInteger(sequenceLength) || sequenceLength <= 0) {
    throw new DenoiserBatchError(
      `batchSize and sequenceLength must be positive integers, got [${batchSize}, ${sequenceLength}]`,
    );
  }
  const size = batchSize * sequenceLength;
  if (!(inputIds instanceof Int32Array) || inputIds.length !== size) {
    throw new DenoiserBatchError(
      `inputIds must be an Int32Array of batchSize * sequenceLength = ${size} ids, got ${describeArray(inputIds)}`,
    );
  }
  if (!(attentionMask instanceof Uint8Array) || attentionMask.length !== size) {
    throw new DenoiserBatchError(
      `attentionMask must be a Uint8Array of batchSize * sequenceLength = ${size} flags, got ${describeArray(attentionMask)}`,
    );
  }
  if (batch.prefixCache !== undefined && !hasPrefixCache) {
    throw new DenoiserBatchError(
      'the batch has prefixCache rows but this denoiser has no prefix cache: ' +
        'load the model with { prefixCache: true } (its manifest must declare the prefixCache form)',
    );
  }
  if (batch.positions) {
    const { perRow, values } = batch.positions;
    if (
      !Number.isInteger(perRow) ||
      perRow <= 0 ||
      !(values instanceof Int32Array) ||
      values.length !== batchSize * perRow
    ) {
      throw new DenoiserBatchError(
        `positions must be an Int32Array of batchSize * perRow values (perRow >= 1), got perRow ${perRow} and ${describeArray(values)}`,
      );
    }
    // GatherND fails on an index outside the row.
    const outside = values.findIndex((position) => position < 0 || position >= sequenceLength);
    if (outside !== -1) {
      throw new DenoiserBatchError(
        `positions[${outside}] = ${values[outside]} is outside [0, sequenceLength=${sequenceLength})`,
      );
    }
  }
  // An id outside the embedding table is an error on the CPU and undefined behaviour on CUDA.
  for (let index = 0; index < size; index++) {
    const id = inputIds[index]!;
    if (id < 0 || id >= vocabSize) {
      const row = Math.floor(index / sequenceLength);
      throw new DenoiserBatchError(
        `inputIds[row ${row}, position ${index - row * sequenceLength}] = ${id} is outside [0, vocabSize=${vocabSize})`,
      );
    }
  }
}

function describeArray(value: unknown): string {
  if (ArrayBuffer.isView(value) && 'length' in value) return `${value.constructor.name} of ${String(value.length)}`;
  if (Array.isArray(value)) return `Array of ${value.length}`;
  return value === null ? 'null' : typeof value;
}
