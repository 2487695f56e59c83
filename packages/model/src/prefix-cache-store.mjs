// @ts-check
// The decodes' prefix caches (prefix-cache-contract.ts), kept beside the onnxruntime session:
// in the inference thread, or on the main thread for a MainThreadSession. The keys and values
// never cross threads between steps; only the per-row instructions and the ids released do.
// Plain JavaScript so the inference thread loads it without a TypeScript loader.

/**
 * The cache's shape: N layers, H key/value heads, D head dim.
 * @typedef {{ layers: number, kvHeads: number, headDim: number }} PrefixCacheShape
 */

/**
 * One pass's per-row cache instructions, row by row (DenoiserBatch.prefixCache, columnar).
 * @typedef {object} PrefixCacheRows
 * @property {ArrayLike<number>} cacheIds
 * @property {ArrayLike<number>} cachedLengths
 * @property {ArrayLike<number>} keepLengths
 */

/**
 * A row asked for a cache the store does not hold, or at another length than it holds. The
 * thread reports it by this name and the denoiser turns it into a DenoiserBatchError.
 */
export class PrefixCacheRowError extends Error {
  /** @override */
  name = 'PrefixCacheRowError';
}

/** One decode's cache: keys and values [N, H, C, D], float32. */
class CacheEntry {
  /**
   * @param {number} length C
   * @param {Float32Array} keys
   * @param {Float32Array} values
   */
  constructor(length, keys, values) {
    this.length = length;
    this.keys = keys;
    this.values = values;
  }
}

export class PrefixCacheStore {
  /** @type {Map<number, CacheEntry>} */
  #entries = new Map();
  /** @type {PrefixCacheShape} */
  #shape;

  /** @param {PrefixCacheShape} shape */
  constructor(shape) {
    this.#shape = shape;
  }

  get shape() {
    return this.#shape;
  }

  /** Caches held. */
  get size() {
    return this.#entries.size;
  }

  /** Bytes the keys and values held take. */
  get bytes() {
    let bytes = 0;
    for (const entry of this.#entries.values()) bytes += entry.keys.byteLength + entry.values.byteLength;
    return bytes;
  }

  /**
   * @param {number} cacheId
   * @returns {number | undefined} the cached length, or undefined when the store holds none
   */
  lengthOf(cacheId) {
    return this.#entries.get(cacheId)?.length;
  }

  /** @param {readonly number[]} cacheIds unknown ids are ignored */
  release(cacheIds) {
    for (const cacheId of cacheIds) this.#entries.delete(cacheId);
  }

  /**
   * The past_key / past_value [N, B, H, P, D] and past_mask [B, P] for a pass, P the longest
   * cachedLength (0 when no row reads a cache). Rows with a shorter cache are right-padded with
   * zeros, masked out.
   * @param {number} batchSize
   * @param {PrefixCacheRows | undefined} rows
   * @returns {{ pastLength: number, keys: Float32Array, values: Float32Array, mask: BigInt64Array }}
   */
  assemble(batchSize, rows) {
    const { layers, kvHeads, headDim } = this.#shape;
    /** @type {(CacheEntry | undefined)[]} */
    const entries = [];
    let pastLength = 0;
    for (let row = 0; row < batchSize; row++) {
      const cachedLength = rows === undefined ? 0 : /** @type {number} */ (rows.cachedLengths[row]);
      if (cachedLength === 0) {
        entries.push(undefined);
        continue;
      }
      const cacheId = /** @type {number} */ (rows?.cacheIds[row]);
      const entry = this.#entries.get(cacheId);
      if (entry === undefined) {
        throw new PrefixCacheRowError(
          `row ${row} reads prefix cache ${cacheId}, which the denoiser does not hold ` +
            '(never kept, released, or lost with a failed refresh): run a refresh pass (cachedLength 0, keepLength > 0) first',
        );
      }
      if (entry.length !== cachedLength) {
        throw new PrefixCacheRowError(
          `row ${row} reads ${cachedLength} cached positions of prefix cache ${cacheId}, which holds ${entry.length}: ` +
            'cachedLength must equal the keepLength of the refresh that made the cache',
        );
      }
      entries.push(entry);
      pastLength = Math.max(pastLength, cachedLength);
    }
    const mask = new BigInt64Array(batchSize * pastLength);
    const size = layers * batchSize * kvHeads * pastLength * headDim;
    const keys = new Float32Array(size);
    const values = new Float32Array(size);
    if (pastLength === 0) return { pastLength, keys, values, mask };
    for (let row = 0; row < batchSize; row++) {
      const entry = entries[row];
      if (entry === undefined) continue;
      const length = entry.length;
      mask.fill(1n, row * pastLength, row * pastLength + length);
      const span = length * headDim;
      for (let layer = 0; layer < layers; layer++) {
        for (let head = 0; head < kvHeads; head++) {
          const from = (layer * kvHeads + head) * span;
          const to = ((layer * batchSize + row) * kvHeads + head) * pastLength * headDim;
          keys.set(entry.keys.subarray(from, from + span), to);
          values.set(entry.values.subarray(from, from + span), to);
        }
      }
    }
    return { pastLength, keys, values, mask };
  }

  /**
   * After a pass: for each row with keepLength > 0, keeps present_*[:, row, :, 0:keep, :] as
   * its decode's cache, replacing the one it had.
   * @param {number} batchSize
   * @param {number} windowLength S, the present tensors' fourth axis
   * @param {PrefixCacheRows} rows
   * @param {Float32Array} presentKey [N, B, H, S, D]
   * @param {Float32Array} presentValue [N, B, H, S, D]
   */
  keep(batchSize, windowLength, rows, presentKey, presentValue) {
    const { layers, kvHeads, headDim } = this.#shape;
    for (let row = 0; row < batchSize; row++) {
      const keepLength = /** @type {number} */ (rows.keepLengths[row]);
      if (keepLength === 0) continue;
      const span = keepLength * headDim;
      const keys = new Float32Array(layers * kvHeads * span);
      const values = new Float32Array(layers * kvHeads * span);
      for (let layer = 0; layer < layers; layer++) {
        for (let head = 0; head < kvHeads; head++) {
          const from = ((layer * batchSize + row) * kvHeads + head) * windowLength * headDim;
          const to = (layer * kvHeads + head) * span;
          keys.set(presentKey.subarray(from, from + span), to);
          values.set(presentValue.subarray(from, from + span), to);
        }
      }
      this.#entries.set(/** @type {number} */ (rows.cacheIds[row]), new CacheEntry(keepLength, keys, values));
    }
  }

  /**
   * A refresh that failed leaves its decodes without a cache: the old one is stale.
   * @param {number} batchSize
   * @param {PrefixCacheRows} rows
   */
  dropRefreshed(batchSize, rows) {
    for (let row = 0; row < batchSize; row++) {
      if (/** @type {number} */ (rows.keepLengths[row]) > 0)
        this.#entries.delete(/** @type {number} */ (rows.cacheIds[row]));
    }
  }
}
