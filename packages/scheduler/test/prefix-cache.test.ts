import { describe, expect, it } from 'vitest';
import { createDecodeSession, type DecodeRequest, type DecodeResult, type DecodeSession } from '@dfleet/decoder';
import {
  PrefixCacheUnsupportedError,
  StepScheduler,
  type BatchReport,
  type ScheduledDecode,
  type StepSchedulerStats,
} from '../src/index.ts';
import { PrefixCacheDenoiser } from './prefix-cache-denoiser.ts';
import { FAKE_TOKENS, RowHashDenoiser } from './row-hash-denoiser.ts';

/** Two blocks of 4, two steps per block: a refresh and a cached step in each. */
function request(promptLength: number, overrides: Partial<DecodeRequest> = {}): DecodeRequest {
  return {
    promptIds: Array.from({ length: promptLength }, (_, i) => 4 + ((i * 5) % 11)),
    maxNewTokens: 8,
    blockLength: 4,
    strategy: { name: 'reference', steps: 4 },
    specialTokens: FAKE_TOKENS,
    ...overrides,
  };
}

interface HarnessOptions {
  readonly maxBytes?: number;
  readonly maxBatchTokens?: number;
  readonly bytesPerPosition?: number;
}

function harness(options: HarnessOptions = {}) {
  const denoiser = new PrefixCacheDenoiser(options.bytesPerPosition);
  const passes: { report: BatchReport; stats: StepSchedulerStats }[] = [];
  const scheduler: StepScheduler = new StepScheduler({
    denoiser,
    padId: FAKE_TOKENS.pad,
    maxBatchTokens: options.maxBatchTokens ?? 8_192,
    lengthMultiple: 1,
    prefixCache: { maxBytes: options.maxBytes ?? 1_000_000 },
    onBatch: (report) => passes.push({ report, stats: scheduler.stats }),
  });
  const session = (req: DecodeRequest): DecodeSession => createDecodeSession(req, denoiser.vocabSize);
  return { denoiser, scheduler, passes, session };
}

/** The same job decoded alone without any cache. */
async function decodeUncached(req: DecodeRequest): Promise<DecodeResult> {
  const denoiser = new RowHashDenoiser();
  const scheduler = new StepScheduler({ denoiser, padId: FAKE_TOKENS.pad, maxBatchTokens: 8_192, lengthMultiple: 1 });
  const session = createDecodeSession(req, denoiser.vocabSize);
  await scheduler.submit({ session });
  return session.result();
}

describe('StepScheduler with a prefix cache', () => {
  it("refreshes the cache at each block start and runs the block's other steps on the window only", async () => {
    const { denoiser, scheduler, passes, session } = harness();
    const req = request(5);
    const decode = session(req);
    await scheduler.submit({ session: decode });

    // bos + 5 prompt tokens = 6 cached positions in block 1; 10 in block 2.
    expect(passes.map(({ report }) => [report.kind, report.cachedPositions])).toEqual([
      ['full', 0],
      ['cached', 6],
      ['full', 0],
      ['cached', 10],
    ]);
    expect(denoiser.batches.map((batch) => batch.prefixCache![0]!)).toMatchObject([
      { cachedLength: 0, keepLength: 6 },
      { cachedLength: 6, keepLength: 0 },
      { cachedLength: 0, keepLength: 10 },
      { cachedLength: 10, keepLength: 0 },
    ]);
    // The canvas is 14 long; a cached pass runs only what follows the cache.
    expect(denoiser.batches.map((batch) => batch.sequenceLength)).toEqual([14, 8, 14, 4]);
    expect(scheduler.stats).toMatchObject({ forwardPasses: 4, cachedPasses: 2, cacheBytes: 0 });
    expect(decode.result()).toEqual(await decodeUncached(req));
  });

  it('runs rows with different cache lengths in one cached pass, each decoding as alone', async () => {
    const { denoiser, scheduler, passes, session } = harness();
    const requests = [
      request(2),
      request(9),
      request(14, { maxNewTokens: 12, strategy: { name: 'reference', steps: 6 } }),
    ];
    const sessions = requests.map(session);
    await Promise.all(sessions.map((s) => scheduler.submit({ session: s })));

    const firstCached = denoiser.batches.find((batch) => batch.prefixCache!.some((row) => row.cachedLength > 0))!;
    expect(firstCached.prefixCache!.map((row) => row.cachedLength)).toEqual([3, 10, 15]);
    // Padded to the longest window: 12 answer positions after 15 cached.
    expect(firstCached.sequenceLength).toBe(12);
    // Each iteration: one cached and one full pass at most, and every decode in one of them.
    expect(passes.filter(({ report }) => report.kind === 'cached').length).toBeGreaterThan(0);
    for (const [i, s] of sessions.entries()) expect(s.result()).toEqual(await decodeUncached(requests[i]!));
  });

  it('frees the cache of a decode that finishes', async () => {
    const { denoiser, scheduler, session } = harness();
    await Promise.all([request(3), request(6)].map((req) => scheduler.submit({ session: session(req) })));
    expect(denoiser.caches.size).toBe(0);
    expect(scheduler.stats.cacheBytes).toBe(0);
  });

  it('frees the cache of a decode cancelled or past its deadline, and keeps the others going', async () => {
    const { denoiser, scheduler, session } = harness();
    const controller = new AbortController();
    const cancelled: ScheduledDecode = {
      session: session(request(4)),
      signal: controller.signal,
      onStep: () => controller.abort(),
    };
    // Mutable so the first step can move the deadline into the past.
    const expiring: { session: DecodeSession; deadlineAt: number; onStep: () => void } = {
      session: session(request(7)),
      deadlineAt: Number.MAX_SAFE_INTEGER,
      onStep: () => {
        expiring.deadlineAt = 0;
      },
    };
    const other = session(request(5));
    const outcomes = await Promise.all([
      scheduler.submit(cancelled),
      scheduler.submit(expiring),
      scheduler.submit({ session: other }),
    ]);
    expect(outcomes.map((outcome) => (outcome.status === 'stopped' ? outcome.reason : 'finished'))).toEqual([
      'cancelled',
      'deadline',
      'finished',
    ]);
    // Both stopped after a refresh, so each had a cache to free; the survivor's went at its end.
    expect(denoiser.released.length).toBeGreaterThanOrEqual(3);
    expect(denoiser.caches.size).toBe(0);
    expect(scheduler.stats.cacheBytes).toBe(0);
    expect(other.result()).toEqual(await decodeUncached(request(5)));
  });

  it('frees the cache of a decode whose cached pass failed', async () => {
    const { denoiser, scheduler, session } = harness();
    denoiser.failNextCachedPass = new Error('inference thread died');
    await expect(scheduler.submit({ session: session(request(5)) })).rejects.toThrow('inference thread died');
    expect(denoiser.caches.size).toBe(0);
    expect(scheduler.stats.cacheBytes).toBe(0);
  });

  it('frees the cache of a decode whose session threw on its output', async () => {
    const { denoiser, scheduler, session } = harness();
    denoiser.nanNextCachedPass = true;
    await expect(scheduler.submit({ session: session(request(5)) })).rejects.toMatchObject({
      code: 'non_finite_logits',
    });
    expect(denoiser.caches.size).toBe(0);
    expect(scheduler.stats.cacheBytes).toBe(0);
  });

  it("reruns a failed cached pass row by row with each row's cache, failing only the poison row", async () => {
    const { denoiser, scheduler, session } = harness();
    const poison = 15;
    denoiser.poisonToken = poison;
    const innocent = [request(3), request(8)];
    const poisoned = request(5, { promptIds: [4, poison, 6, 7, 8] });
    const results = await Promise.allSettled(
      [...innocent, poisoned].map((req) => scheduler.submit({ session: session(req) }).then(() => req)),
    );
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'fulfilled', 'rejected']);
    // After the failed three-row cached pass, each row ran alone, still reading its cache.
    const failedAt = denoiser.batches.findIndex(
      (batch) => batch.batchSize === 3 && batch.prefixCache![0]!.cachedLength > 0,
    );
    const alone = denoiser.batches.slice(failedAt + 1, failedAt + 4);
    expect(alone.map((batch) => [batch.batchSize, batch.prefixCache![0]!.cachedLength])).toEqual([
      [1, 4],
      [1, 9],
      [1, 6],
    ]);
    expect(denoiser.caches.size).toBe(0);
    expect(scheduler.stats.cacheBytes).toBe(0);
  });

  it('decodes uncached the steps whose refresh would pass the byte budget, and caches once it fits', async () => {
    // Each decode's first block keeps 6 positions at 1 byte; the budget holds one of them.
    const { denoiser, scheduler, passes, session } = harness({ maxBytes: 10, bytesPerPosition: 1 });
    const short = request(5, { maxNewTokens: 4 });
    const long = request(5, {
      promptIds: [9, 8, 7, 6, 5],
      maxNewTokens: 12,
      strategy: { name: 'reference', steps: 12 },
    });
    const [first, second] = [session(short), session(long)];
    await Promise.all([scheduler.submit({ session: first }), scheduler.submit({ session: second })]);

    expect(Math.max(...passes.map(({ stats }) => stats.cacheBytes))).toBeLessThanOrEqual(10);
    // The long decode's cache instruction at each of its steps (every pass ran, in batch order).
    const secondRows = passes.flatMap(({ report }, i) => {
      const r = report.sessions.indexOf(second);
      return r < 0 ? [] : [denoiser.batches[i]!.prefixCache![r]!];
    });
    // While the short decode (4 steps) held the budget, the long one ran whole and kept nothing;
    // by then its second block had begun (4 steps a block), so its first refresh keeps 10.
    expect(secondRows.slice(0, 6)).toMatchObject([
      { cachedLength: 0, keepLength: 0 },
      { cachedLength: 0, keepLength: 0 },
      { cachedLength: 0, keepLength: 0 },
      { cachedLength: 0, keepLength: 0 },
      { cachedLength: 0, keepLength: 10 },
      { cachedLength: 10, keepLength: 0 },
    ]);
    expect(first.result()).toEqual(await decodeUncached(short));
    expect(second.result()).toEqual(await decodeUncached(long));
    expect(scheduler.stats.cacheBytes).toBe(0);
  });

  it('keeps the cache of a decode deferred for the token budget, and reads it at its next pass', async () => {
    // Canvases of 14, windows of 8 or 4: one row per pass fits.
    const { denoiser, scheduler, passes, session } = harness({ maxBatchTokens: 14 });
    const requests = [request(5), request(5, { promptIds: [10, 11, 12, 13, 14] })];
    const sessions = requests.map(session);
    /** Releases made so far, as each decode takes its last step. */
    const releasedAtEnd: number[] = [];
    const onStep = (report: { finished: boolean }) => {
      if (report.finished) releasedAtEnd.push(denoiser.released.length);
    };
    await Promise.all(sessions.map((s) => scheduler.submit({ session: s, onStep })));

    expect(passes.some(({ report }) => report.deferred > 0)).toBe(true);
    expect(passes.every(({ report }) => report.paddedTokens <= 14)).toBe(true);
    // Freed only at each decode's end: nothing was released before the first one finished.
    expect(releasedAtEnd[0]).toBe(0);
    expect(new Set(denoiser.released).size).toBe(2);
    expect(passes.filter(({ report }) => report.kind === 'cached')).toHaveLength(4);
    for (const [i, s] of sessions.entries()) expect(s.result()).toEqual(await decodeUncached(requests[i]!));
  });

  it('without the option sends no cache instructions and runs only full passes', async () => {
    const denoiser = new RowHashDenoiser();
    const kinds: string[] = [];
    const scheduler = new StepScheduler({
      denoiser,
      padId: FAKE_TOKENS.pad,
      maxBatchTokens: 8_192,
      onBatch: (report) => kinds.push(report.kind),
    });
    const req = request(5);
    const session = createDecodeSession(req, denoiser.vocabSize);
    await scheduler.submit({ session });
    expect(denoiser.batches.every((batch) => batch.prefixCache === undefined)).toBe(true);
    expect(new Set(kinds)).toEqual(new Set(['full']));
    expect(scheduler.stats).toMatchObject({ cachedPasses: 0, cacheBytes: 0 });
    expect(session.result()).toEqual(await decodeUncached(req));
  });

  it('refuses a prefix cache for a denoiser that keeps none, saying what to load', () => {
    const create = () =>
      new StepScheduler({
        denoiser: new RowHashDenoiser(),
        padId: FAKE_TOKENS.pad,
        maxBatchTokens: 8_192,
        prefixCache: { maxBytes: 1024 },
      });
    expect(create).toThrow(PrefixCacheUnsupportedError);
    expect(create).toThrow(/prefixCache: true/);
  });
});
