import ort from 'onnxruntime-node';
import type { ModelManifest, ModelPrefixCache } from '../model-manifest.ts';
import { PREFIX_CACHE_INPUTS, PREFIX_CACHE_OUTPUTS } from '../prefix-cache-contract.ts';
import type { ModelCheckCode } from './codes.ts';
import { messageOf } from './error-message.ts';
import { PADDING_TOLERANCE } from './padding-invariance.ts';
import { probeIds } from './probe-runner.ts';
import type { PrefixCacheSummary } from './report.ts';

/** The problems of the prefix-cache form. */
export type PrefixCacheCode = Extract<ModelCheckCode, `prefix_cache_${string}`>;

/** The probe canvas: long enough for two cache lengths and windows of different sizes. */
const CANVAS = 12;
const CACHED = 5;
/** Row lengths and cache lengths of the batched probe (c). */
const BATCHED_ROWS = [
  { canvas: 12, cached: 4 },
  { canvas: 10, cached: 7 },
];

/** The output the probes compare, its values per position, and whether the graph takes `positions`. */
export interface Scores {
  readonly name: string;
  readonly width: number;
  readonly positions: boolean;
}

interface CachedRow {
  /** The window's ids. */
  readonly ids: Int32Array;
  /** Keys and values [N, H, C, D] of the cached positions. */
  readonly keys: Float32Array;
  readonly values: Float32Array;
  readonly cached: number;
}

type Run = { ok: true; outputs: ort.InferenceSession.OnnxValueMapType } | { ok: false; failure: string };

export async function runPrefixCacheProbes(
  cached: ort.InferenceSession,
  plain: ort.InferenceSession | undefined,
  manifest: ModelManifest,
  form: ModelPrefixCache,
  scores: Scores,
  error: (code: PrefixCacheCode, message: string) => void,
): Promise<NonNullable<PrefixCacheSummary['differences']>> {
  const { vocabSize, specialTokens } = manifest;
  const { width: perPosition } = scores;
  const { layers: n, kvHeads: h, headDim: d } = form;
  const length = Math.min(CANVAS, manifest.maxSequenceLength);
  const canvas = probeIds(length, vocabSize, specialTokens, 5);
  canvas[0] = specialTokens.bos;
  for (let i = Math.ceil(length / 2); i < length; i++) canvas[i] = specialTokens.mask;
  const differences: { fullPass?: number; cachedWindow?: number; batched?: number } = {};
  const failed = (what: string, run: Run): run is { ok: false; failure: string } => {
    if (run.ok) return false;
    error('prefix_cache_run_failed', `running the prefix-cache form on ${what}: ${run.failure}`);
    return true;
  };

  // A full pass (P = 0) over the canvas, keeping the window's keys and values.
  const full = await runCached(
    cached,
    [{ ids: canvas, keys: new Float32Array(), values: new Float32Array(), cached: 0 }],
    form,
    scores,
    true,
  );
  if (failed(`a [1, ${length}] canvas with no cache`, full)) return differences;
  const fullLogits = full.outputs[scores.name]!.data as Float32Array;

  // (a) The same pass through the plain graph.
  if (plain !== undefined) {
    const ids = toInt64(canvas);
    const mask = new BigInt64Array(length).fill(1n);
    const reference = await plain
      .run(
        {
          input_ids: new ort.Tensor('int64', ids, [1, length]),
          attention_mask: new ort.Tensor('int64', mask, [1, length]),
          ...(scores.positions ? { positions: everySlot(1, length) } : {}),
        },
        [scores.name],
      )
      .catch(() => undefined);
    if (reference !== undefined) {
      differences.fullPass = maxDifference(fullLogits, reference[scores.name]!.data as Float32Array);
      tolerate(
        differences.fullPass,
        'prefix_cache_full_pass_differs',
        `a pass with no cache (P = 0) over a ${length}-token canvas differs from ${manifest.files.onnx}`,
        error,
      );
    }
  }

  // (b) Cache [0, C) from the full pass; the window [C, L) alone must give the full pass's logits there.
  const present = {
    keys: full.outputs[PREFIX_CACHE_OUTPUTS.presentKey]!.data as Float32Array,
    values: full.outputs[PREFIX_CACHE_OUTPUTS.presentValue]!.data as Float32Array,
  };
  const cachedLength = Math.min(CACHED, length - 1);
  const row: CachedRow = {
    ids: canvas.slice(cachedLength),
    ...slicePrefix(present, n, h, length, d, cachedLength),
    cached: cachedLength,
  };
  const windowRun = await runCached(cached, [row], form, scores, false);
  if (failed(`a ${length - cachedLength}-token window reading ${cachedLength} cached positions`, windowRun)) {
    return differences;
  }
  differences.cachedWindow = maxDifference(
    windowRun.outputs[scores.name]!.data as Float32Array,
    fullLogits.subarray(cachedLength * perPosition),
  );
  tolerate(
    differences.cachedWindow,
    'prefix_cache_window_differs',
    `a pass over positions [${cachedLength}, ${length}) reading the keys and values of [0, ${cachedLength}) kept from a full pass ` +
      'differs from that full pass there (rotary positions must continue from the cache, and window tokens attend to it)',
    error,
  );

  // (c) Two rows with different cache and window lengths, batched and alone.
  const rows: CachedRow[] = [];
  for (const [index, shape] of BATCHED_ROWS.entries()) {
    const rowLength = Math.min(shape.canvas, manifest.maxSequenceLength);
    const rowCanvas = probeIds(rowLength, vocabSize, specialTokens, 11 + index);
    rowCanvas[0] = specialTokens.bos;
    const rowFull = await runCached(
      cached,
      [{ ids: rowCanvas, keys: new Float32Array(), values: new Float32Array(), cached: 0 }],
      form,
      scores,
      true,
    );
    if (failed(`a [1, ${rowLength}] canvas with no cache`, rowFull)) return differences;
    const kept = slicePrefix(
      {
        keys: rowFull.outputs[PREFIX_CACHE_OUTPUTS.presentKey]!.data as Float32Array,
        values: rowFull.outputs[PREFIX_CACHE_OUTPUTS.presentValue]!.data as Float32Array,
      },
      n,
      h,
      rowLength,
      d,
      shape.cached,
    );
    rows.push({ ids: rowCanvas.slice(shape.cached), ...kept, cached: shape.cached });
  }
  const together = await runCached(cached, rows, form, scores, false);
  if (failed('two rows with different cache lengths in one batch', together)) return differences;
  const width = Math.max(...rows.map((entry) => entry.ids.length));
  const togetherLogits = together.outputs[scores.name]!.data as Float32Array;
  let batched = 0;
  for (const [index, entry] of rows.entries()) {
    const alone = await runCached(cached, [entry], form, scores, false);
    if (failed(`row ${index} of the batched probe alone`, alone)) return differences;
    const start = index * width * perPosition;
    batched = Math.max(
      batched,
      maxDifference(
        alone.outputs[scores.name]!.data as Float32Array,
        togetherLogits.subarray(start, start + entry.ids.length * perPosition),
      ),
    );
  }
  differences.batched = batched;
  tolerate(
    batched,
    'prefix_cache_batch_differs',
    `rows reading ${rows.map((entry) => entry.cached).join(' and ')} cached positions give other logits batched than alone ` +
      "(past_mask must hide a row's cache padding, attention_mask its window padding)",
    error,
  );
  return differences;
}

function tolerate(
  difference: number,
  code: PrefixCacheCode,
  what: string,
  error: (code: PrefixCacheCode, message: string) => void,
): void {
  if (!(difference <= PADDING_TOLERANCE)) {
    error(code, `${what} (max |logit difference| ${difference.toPrecision(3)} > ${PADDING_TOLERANCE})`);
  }
}

/** Runs rows (each its window and its cache) as one right-padded batch of the cached graph. */
async function runCached(
  session: ort.InferenceSession,
  rows: readonly CachedRow[],
  form: ModelPrefixCache,
  scores: Scores,
  fetchPresent: boolean,
): Promise<Run> {
  const { layers: n, kvHeads: h, headDim: d } = form;
  const b = rows.length;
  const s = Math.max(...rows.map((row) => row.ids.length));
  const p = Math.max(...rows.map((row) => row.cached));
  const ids = new BigInt64Array(b * s);
  const mask = new BigInt64Array(b * s);
  const pastMask = new BigInt64Array(b * p);
  const keys = new Float32Array(n * b * h * p * d);
  const values = new Float32Array(n * b * h * p * d);
  for (const [r, row] of rows.entries()) {
    for (let i = 0; i < row.ids.length; i++) {
      ids[r * s + i] = BigInt(row.ids[i]!);
      mask[r * s + i] = 1n;
    }
    pastMask.fill(1n, r * p, r * p + row.cached);
    for (let layer = 0; layer < n; layer++) {
      for (let head = 0; head < h; head++) {
        const from = (layer * h + head) * row.cached * d;
        const to = ((layer * b + r) * h + head) * p * d;
        keys.set(row.keys.subarray(from, from + row.cached * d), to);
        values.set(row.values.subarray(from, from + row.cached * d), to);
      }
    }
  }
  const fetches = [
    scores.name,
    ...(fetchPresent ? [PREFIX_CACHE_OUTPUTS.presentKey, PREFIX_CACHE_OUTPUTS.presentValue] : []),
  ];
  try {
    const outputs = await session.run(
      {
        input_ids: new ort.Tensor('int64', ids, [b, s]),
        attention_mask: new ort.Tensor('int64', mask, [b, s]),
        [PREFIX_CACHE_INPUTS.pastKey]: new ort.Tensor('float32', keys, [n, b, h, p, d]),
        [PREFIX_CACHE_INPUTS.pastValue]: new ort.Tensor('float32', values, [n, b, h, p, d]),
        [PREFIX_CACHE_INPUTS.pastMask]: new ort.Tensor('int64', pastMask, [b, p]),
        ...(scores.positions ? { positions: everySlot(b, s) } : {}),
      },
      fetches,
    );
    if (fetchPresent) {
      const dims = outputs[PREFIX_CACHE_OUTPUTS.presentKey]!.dims;
      const expected = [n, b, h, s, d];
      if (dims.length !== 5 || dims.some((dim, axis) => dim !== expected[axis])) {
        return {
          ok: false,
          failure:
            `present_key is [${dims.join(', ')}], expected [${expected.join(', ')}] ` +
            "(layers, batch, kvHeads, window, headDim from the manifest's prefixCache)",
        };
      }
    }
    return { ok: true, outputs };
  } catch (cause) {
    return { ok: false, failure: `onnxruntime failed: ${messageOf(cause).trim()}` };
  }
}

/** present_*[:, 0, :, 0:C, :] of a one-row pass over `length` positions, as [N, H, C, D]. */
function slicePrefix(
  present: { keys: Float32Array; values: Float32Array },
  n: number,
  h: number,
  length: number,
  d: number,
  cached: number,
): { keys: Float32Array; values: Float32Array } {
  const keys = new Float32Array(n * h * cached * d);
  const values = new Float32Array(n * h * cached * d);
  for (let block = 0; block < n * h; block++) {
    keys.set(present.keys.subarray(block * length * d, block * length * d + cached * d), block * cached * d);
    values.set(present.values.subarray(block * length * d, block * length * d + cached * d), block * cached * d);
  }
  return { keys, values };
}

/** `positions` naming every window slot of every row: the reduced graph then scores them all. */
function everySlot(batchSize: number, length: number): ort.Tensor {
  const slots = new BigInt64Array(batchSize * length);
  for (let i = 0; i < slots.length; i++) slots[i] = BigInt(i % length);
  return new ort.Tensor('int64', slots, [batchSize, length]);
}

function toInt64(ids: Int32Array): BigInt64Array {
  return BigInt64Array.from(ids, (id) => BigInt(id));
}

function maxDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}
