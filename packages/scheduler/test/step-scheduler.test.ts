import { describe, expect, it } from 'vitest';
import { createDecodeSession, type DecodeRequest, type DecodeResult, type DecodeSession } from '@dfleet/decoder';
import { StepScheduler, type BatchReport, type DecodeOutcome } from '../src/index.ts';
import { FAKE_TOKENS, RowHashDenoiser } from './row-hash-denoiser.ts';

function request(overrides: Partial<DecodeRequest> & { promptLength?: number } = {}): DecodeRequest {
  const { promptLength = 5, ...rest } = overrides;
  return {
    promptIds: Array.from({ length: promptLength }, (_, i) => 4 + ((i * 7) % 12)),
    maxNewTokens: 8,
    strategy: { name: 'reference', steps: 8 },
    specialTokens: FAKE_TOKENS,
    ...rest,
  };
}

function newSession(denoiser: RowHashDenoiser, overrides: Parameters<typeof request>[0] = {}): DecodeSession {
  return createDecodeSession(request(overrides), denoiser.vocabSize);
}

function harness(options: { maxBatchTokens?: number; lengthMultiple?: number } = {}) {
  const denoiser = new RowHashDenoiser();
  const passes: BatchReport[] = [];
  const scheduler = new StepScheduler({
    denoiser,
    padId: FAKE_TOKENS.pad,
    maxBatchTokens: options.maxBatchTokens ?? 8_192,
    lengthMultiple: options.lengthMultiple ?? 1,
    onBatch: (report) => passes.push(report),
  });
  return { denoiser, scheduler, passes };
}

/** Indices of the passes a session took part in. */
function passesOf(passes: readonly BatchReport[], session: DecodeSession): number[] {
  return passes.filter((pass) => pass.sessions.includes(session)).map((pass) => pass.step);
}

/** Mixed strategies, lengths, temperatures and seeds: the jobs a worker sees at once. */
const MIXED_REQUESTS: DecodeRequest[] = [
  request({ promptLength: 3, maxNewTokens: 8, strategy: { name: 'reference', steps: 8 } }),
  request({
    promptLength: 11,
    maxNewTokens: 16,
    blockLength: 8,
    strategy: { name: 'reference', steps: 4, remasking: 'random' },
    seed: 7,
  }),
  request({
    promptLength: 6,
    maxNewTokens: 12,
    strategy: { name: 'threshold', threshold: 0.3 },
    temperature: 0.8,
    seed: 3,
  }),
  request({ promptLength: 20, maxNewTokens: 8, strategy: { name: 'factor', factor: 2 }, seed: 11 }),
  request({
    promptLength: 1,
    maxNewTokens: 24,
    blockLength: 6,
    strategy: { name: 'entropy-bounded', gamma: 0.5 },
    temperature: 1.2,
    seed: 99,
  }),
  request({
    promptLength: 9,
    maxNewTokens: 10,
    strategy: { name: 'threshold', threshold: 0.9 },
    stopSequences: [[5, 6]],
    seed: 1,
  }),
];

async function decodeAlone(req: DecodeRequest): Promise<DecodeResult> {
  const { scheduler, denoiser } = harness();
  const session = createDecodeSession(req, denoiser.vocabSize);
  await scheduler.submit({ session });
  return session.result();
}

describe('StepScheduler', () => {
  it('batches every active decode into one forward pass', async () => {
    const { denoiser, scheduler, passes } = harness();
    const sessions = [
      newSession(denoiser),
      newSession(denoiser, { promptLength: 9 }),
      newSession(denoiser, { promptLength: 2 }),
    ];
    await Promise.all(sessions.map((session) => scheduler.submit({ session })));
    // reference with steps = maxNewTokens: 8 steps each, all together.
    expect(passes).toHaveLength(8);
    for (const pass of passes) expect(pass.sessions).toHaveLength(3);
    expect(denoiser.batches[0]!.sequenceLength).toBe(1 + 9 + 8);
  });

  it('lets a decode submitted during a pass join at the very next pass', async () => {
    const { denoiser, scheduler, passes } = harness();
    denoiser.gated = true;
    const first = newSession(denoiser);
    const firstDone = scheduler.submit({ session: first });
    await denoiser.nextCall();
    const late = newSession(denoiser, { promptLength: 7 });
    const lateDone = scheduler.submit({ session: late });
    const secondPass = denoiser.nextCall();
    denoiser.release();
    await secondPass;
    denoiser.gated = false;
    denoiser.release();
    await Promise.all([firstDone, lateDone]);
    expect(passesOf(passes, first)[0]).toBe(1);
    expect(passesOf(passes, late)[0]).toBe(2);
  });

  it('drops a finished decode from the very next pass while the others go on', async () => {
    const { denoiser, scheduler, passes } = harness();
    const quick = newSession(denoiser, { maxNewTokens: 4, strategy: { name: 'reference', steps: 1 } });
    const slow = newSession(denoiser, { maxNewTokens: 8, strategy: { name: 'reference', steps: 8 } });
    await Promise.all([scheduler.submit({ session: quick }), scheduler.submit({ session: slow })]);
    expect(passesOf(passes, quick)).toEqual([1]);
    expect(passesOf(passes, slow)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(passes[1]!.sessions).toEqual([slow]);
  });

  it('keeps every pass within the token budget and advances each decode within n passes', async () => {
    // Buckets of 8: canvases of 14 and 22 tokens pad to 16 and 24. A budget of 48 fits three
    // short rows, or two rows when a long one is in, or never all of them at once.
    const { denoiser, scheduler, passes } = harness({ maxBatchTokens: 48, lengthMultiple: 8 });
    const sessions = [
      newSession(denoiser, { promptLength: 5, maxNewTokens: 8 }),
      newSession(denoiser, { promptLength: 13, maxNewTokens: 8 }),
      newSession(denoiser, { promptLength: 5, maxNewTokens: 8, strategy: { name: 'threshold', threshold: 0.5 } }),
      newSession(denoiser, { promptLength: 13, maxNewTokens: 8, strategy: { name: 'reference', steps: 2 } }),
      newSession(denoiser, { promptLength: 5, maxNewTokens: 8, strategy: { name: 'reference', steps: 4 } }),
    ];
    await Promise.all(sessions.map((session) => scheduler.submit({ session })));

    for (const pass of passes) expect(pass.paddedTokens).toBeLessThanOrEqual(48);
    expect(passes.some((pass) => pass.deferred > 0)).toBe(true);
    for (const session of sessions) {
      const steps = passesOf(passes, session);
      expect(steps.length).toBe(session.steps);
      // Between joining (pass 1) and leaving, no gap longer than the number of decodes.
      let previous = 0;
      for (const step of steps) {
        expect(step - previous).toBeLessThanOrEqual(sessions.length);
        previous = step;
      }
    }
  });

  it('never starves a long decode, nor the short ones, while short ones keep arriving', async () => {
    // The long canvas (64) alone fills the budget; short ones (16) fit four to a pass. A stream
    // of fresh short decodes must not keep the long one out, and the long one must not keep
    // the short ones out.
    const { denoiser, scheduler, passes } = harness({ maxBatchTokens: 64, lengthMultiple: 16 });
    const long = newSession(denoiser, {
      promptLength: 47,
      maxNewTokens: 16,
      strategy: { name: 'reference', steps: 16 },
    });
    /** The pass in flight when each decode was submitted (0: before the first). */
    const submittedAt = new Map<DecodeSession, number>([[long, 0]]);
    const done: Promise<DecodeOutcome>[] = [scheduler.submit({ session: long })];
    for (let i = 0; i < 12; i++) {
      await denoiser.nextCall();
      const session = newSession(denoiser, { promptLength: 3 + (i % 4), maxNewTokens: 8, seed: i });
      submittedAt.set(session, passes.length + 1);
      done.push(scheduler.submit({ session }));
    }
    await Promise.all(done);

    for (const [session, submitted] of submittedAt) {
      const steps = passesOf(passes, session);
      expect(steps).toHaveLength(session.steps);
      let previous = submitted;
      for (const step of steps) {
        // At most 13 decodes were ever active together.
        expect(step - previous).toBeLessThanOrEqual(submittedAt.size);
        previous = step;
      }
    }
    for (const pass of passes) {
      if (pass.sessions.includes(long)) expect(pass.sessions).toEqual([long]);
      else expect(pass.paddedTokens).toBeLessThanOrEqual(64);
    }
  });

  it('runs a decode longer than the token budget alone rather than never', async () => {
    const { denoiser, scheduler, passes } = harness({ maxBatchTokens: 10 });
    const session = newSession(denoiser, { promptLength: 20 });
    await expect(scheduler.submit({ session })).resolves.toEqual({ status: 'finished' });
    expect(passes.every((pass) => pass.sessions.length === 1 && pass.paddedTokens === 29)).toBe(true);
  });

  it('decodes each job to exactly the same tokens batched as alone (mixed strategies and lengths)', async () => {
    const alone = await Promise.all(MIXED_REQUESTS.map(decodeAlone));

    const { denoiser, scheduler, passes } = harness({ lengthMultiple: 8 });
    const sessions = MIXED_REQUESTS.map((req) => createDecodeSession(req, denoiser.vocabSize));
    await Promise.all(sessions.map((session) => scheduler.submit({ session })));
    expect(Math.max(...passes.map((pass) => pass.sessions.length))).toBe(MIXED_REQUESTS.length);
    expect(sessions.map((session) => session.result())).toEqual(alone);
  });

  it('decodes the same tokens when jobs join mid-flight under a tight token budget', async () => {
    const alone = await Promise.all(MIXED_REQUESTS.map(decodeAlone));

    const { denoiser, scheduler, passes } = harness({ maxBatchTokens: 96, lengthMultiple: 16 });
    const sessions = MIXED_REQUESTS.map((req) => createDecodeSession(req, denoiser.vocabSize));
    const done: Promise<DecodeOutcome>[] = [];
    for (const session of sessions) {
      done.push(scheduler.submit({ session }));
      await denoiser.nextCall();
    }
    await Promise.all(done);
    expect(passes.some((pass) => pass.deferred > 0)).toBe(true);
    expect(sessions.map((session) => session.result())).toEqual(alone);
  });

  it('pads each pass to the canvases as they are now, when a continuation block lengthens one mid-decode', async () => {
    const growing = request({
      promptLength: 2,
      maxNewTokens: 4,
      blockLength: 4,
      strategy: { name: 'threshold', threshold: 0.5 },
      temperature: 1,
      maxCanvasLength: 40,
      // A seed whose answer runs past its first blocks on this fake model (20 tokens, then an eos).
      seed: 1,
    });
    const requests = [growing, ...MIXED_REQUESTS.slice(0, 3)];
    const alone = await Promise.all(requests.map(decodeAlone));

    const { denoiser, scheduler, passes } = harness({ lengthMultiple: 1 });
    const sessions = requests.map((req) => createDecodeSession(req, denoiser.vocabSize));
    const initialLength = sessions[0]!.canvas.length;
    const rowLengths: number[] = [];
    await Promise.all([
      scheduler.submit({ session: sessions[0]!, onStep: () => rowLengths.push(sessions[0]!.canvas.length) }),
      ...sessions.slice(1).map((session) => scheduler.submit({ session })),
    ]);
    expect(sessions.map((session) => session.result())).toEqual(alone);
    // It grew, and every pass it took part in was padded to at least its length then.
    expect(sessions[0]!.canvas.length).toBeGreaterThan(initialLength);
    const itsPasses = passes.filter((pass) => pass.sessions.includes(sessions[0]!));
    itsPasses.forEach((pass, i) => {
      expect(pass.sequenceLength).toBeGreaterThanOrEqual(i === 0 ? initialLength : rowLengths[i - 1]!);
    });
  });

  it('stops an aborted decode before its next pass and keeps the others going', async () => {
    const { denoiser, scheduler, passes } = harness();
    const controller = new AbortController();
    const cancelled = newSession(denoiser, { maxNewTokens: 8, strategy: { name: 'reference', steps: 8 } });
    const other = newSession(denoiser, { maxNewTokens: 8, strategy: { name: 'reference', steps: 8 } });
    const cancelledDone = scheduler.submit({
      session: cancelled,
      signal: controller.signal,
      onStep: (report) => {
        if (report.step === 2) controller.abort('client went away');
      },
    });
    const otherDone = scheduler.submit({ session: other });
    await expect(cancelledDone).resolves.toEqual({
      status: 'stopped',
      reason: 'cancelled',
      signalReason: 'client went away',
    });
    await expect(otherDone).resolves.toEqual({ status: 'finished' });
    expect(passesOf(passes, cancelled)).toEqual([1, 2]);
    expect(cancelled.finishReason).toBe('cancelled');
    expect(cancelled.result().steps).toBe(2);
    expect(other.result().steps).toBe(8);
  });

  it('resolves a session cancelled before submit without spending a forward pass on it', async () => {
    // The worker cancels a retried job whose cancel mark it found at claim, then submits it.
    const { denoiser, scheduler, passes } = harness();
    const cancelled = newSession(denoiser);
    cancelled.cancel();
    await expect(scheduler.submit({ session: cancelled })).resolves.toEqual({ status: 'finished' });
    expect(passes).toHaveLength(0);
    expect(cancelled.result()).toMatchObject({ finishReason: 'cancelled', steps: 0 });
  });

  it('reports a decode aborted before submit as stopped, even when its session was cancelled', async () => {
    // Shutdown or a lost lock during the claim-time cancel check: the worker hands the job back.
    const { denoiser, scheduler, passes } = harness();
    const session = newSession(denoiser);
    session.cancel();
    const controller = new AbortController();
    controller.abort('shutdown');
    await expect(scheduler.submit({ session, signal: controller.signal })).resolves.toEqual({
      status: 'stopped',
      reason: 'cancelled',
      signalReason: 'shutdown',
    });
    expect(passes).toHaveLength(0);
  });

  it('stops a decode past its deadline before spending a forward pass on it', async () => {
    const { denoiser, scheduler, passes } = harness();
    const expired = newSession(denoiser);
    await expect(scheduler.submit({ session: expired, deadlineAt: Date.now() - 1 })).resolves.toMatchObject({
      status: 'stopped',
      reason: 'deadline',
    });
    expect(passes).toHaveLength(0);
    expect(expired.result().steps).toBe(0);
  });

  it('fails only the decodes of a failed pass and serves the next ones', async () => {
    const { denoiser, scheduler } = harness();
    denoiser.failNext = new Error('inference thread died');
    await expect(scheduler.submit({ session: newSession(denoiser) })).rejects.toThrow('inference thread died');
    const next = newSession(denoiser);
    await expect(scheduler.submit({ session: next })).resolves.toEqual({ status: 'finished' });
    expect(next.result().steps).toBe(8);
  });

  it('fails only the decode that breaks a batched pass; the others in its batch decode as alone', async () => {
    const { denoiser, scheduler } = harness();
    denoiser.failBeyondLength = 24;
    const innocent = [newSession(denoiser, { promptLength: 4 }), newSession(denoiser, { promptLength: 9, seed: 5 })];
    const poison = newSession(denoiser, { promptLength: 30 });
    const outcomes = await Promise.allSettled([...innocent, poison].map((session) => scheduler.submit({ session })));
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'fulfilled', 'rejected']);
    expect((outcomes[2] as PromiseRejectedResult).reason.message).toContain('beyond 24 positions');
    for (const [index, session] of innocent.entries()) {
      expect(session.result()).toEqual(
        await decodeAlone(request(index === 0 ? { promptLength: 4 } : { promptLength: 9, seed: 5 })),
      );
    }
  });

  it('refuses new decodes once closed', async () => {
    const { denoiser, scheduler } = harness();
    await scheduler.close();
    await expect(scheduler.submit({ session: newSession(denoiser) })).rejects.toMatchObject({
      code: 'scheduler_closed',
    });
  });
});
