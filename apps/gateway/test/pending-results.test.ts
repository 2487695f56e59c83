import { afterEach, describe, expect, it } from 'vitest';
import {
  PendingResults,
  WaitAbortedError,
  WaitTimeoutError,
  type JobOutcome,
  type JobStep,
} from '../src/pending-results.ts';
import { generationResultFor } from './support/test-fleet.ts';

const completed = (text: string): JobOutcome => ({
  kind: 'completed',
  result: generationResultFor(text),
  workerId: 'w1',
});

let pending: PendingResults;
afterEach(() => pending.close());

describe('PendingResults', () => {
  it('hands out one 32-byte hex token per job and reuses it for a resubmission', () => {
    pending = new PendingResults();
    const first = pending.track('job-a');
    const again = pending.track('job-a');
    expect(first.token).toMatch(/^[0-9a-f]{64}$/);
    expect(first.created).toBe(true);
    expect(again).toEqual({ token: first.token, created: false });
    expect(pending.track('job-b').token).not.toBe(first.token);
  });

  it('hands out distinct tokens across many jobs, beyond one refill of its random pool', () => {
    pending = new PendingResults();
    const tokens = Array.from({ length: 1_000 }, (_, i) => pending.track(`job-${i}`).token);
    expect(new Set(tokens).size).toBe(tokens.length);
    for (const token of tokens) expect(token).toMatch(/^[0-9a-f]{64}$/);
  });

  it('accepts a result only with the job token, and only once', async () => {
    pending = new PendingResults();
    const { token } = pending.track('job-a');
    const waiting = pending.wait('job-a', { timeoutMs: 60_000 });
    expect(pending.reportResult('job-a', 'f'.repeat(64), completed('forged'))).toEqual({
      accepted: false,
      reason: 'bad_token',
    });
    expect(pending.reportResult('job-a', 'short', completed('forged'))).toEqual({
      accepted: false,
      reason: 'bad_token',
    });
    expect(pending.reportResult('job-a', token, completed('real'))).toEqual({ accepted: true });
    expect(pending.reportResult('job-a', token, completed('second'))).toEqual({ accepted: false, reason: 'duplicate' });
    const outcome = await waiting;
    expect(outcome.kind === 'completed' && outcome.result.text).toBe('real');
  });

  it('rejects reports for jobs it never enqueued', () => {
    pending = new PendingResults();
    expect(pending.reportResult('nobody', 'x', completed('x'))).toEqual({ accepted: false, reason: 'unknown_job' });
  });

  it('wakes every waiter of a job and answers late waiters from the stored outcome', async () => {
    pending = new PendingResults();
    const { token } = pending.track('job-a');
    const waiters = [pending.wait('job-a', { timeoutMs: 60_000 }), pending.wait('job-a', { timeoutMs: 60_000 })];
    pending.reportResult('job-a', token, completed('both'));
    const outcomes = await Promise.all([...waiters, pending.wait('job-a', { timeoutMs: 60_000 })]);
    expect(outcomes.map((o) => o.kind === 'completed' && o.result.text)).toEqual(['both', 'both', 'both']);
  });

  it('lets a trusted settle win over a later callback, which then counts as a duplicate', async () => {
    pending = new PendingResults();
    const { token } = pending.track('job-a');
    expect(pending.settle('job-a', { kind: 'cancelled' })).toBe(true);
    expect(pending.reportResult('job-a', token, completed('late'))).toEqual({ accepted: false, reason: 'duplicate' });
    expect(await pending.wait('job-a', { timeoutMs: 60_000 })).toEqual({ kind: 'cancelled' });
  });

  it('keeps progress only from token holders', () => {
    pending = new PendingResults();
    const { token } = pending.track('job-a');
    const progress = { step: 2, committedTokens: 5, totalTokens: 16, partialText: 'ab', updatedAt: 1 };
    expect(pending.reportProgress('job-a', 'wrong', progress).accepted).toBe(false);
    expect(pending.progressOf('job-a')).toBeNull();
    expect(pending.reportProgress('job-a', token, progress).accepted).toBe(true);
    expect(pending.progressOf('job-a')).toEqual(progress);
  });

  it('gives up a wait with WaitTimeoutError and keeps the job for a later report', async () => {
    pending = new PendingResults();
    const { token } = pending.track('job-a');
    await expect(pending.wait('job-a', { timeoutMs: 5 })).rejects.toBeInstanceOf(WaitTimeoutError);
    expect(pending.reportResult('job-a', token, completed('late')).accepted).toBe(true);
  });

  it('stops waiting when the caller aborts', async () => {
    pending = new PendingResults();
    pending.track('job-a');
    const controller = new AbortController();
    const waiting = pending.wait('job-a', { timeoutMs: 60_000, signal: controller.signal });
    controller.abort();
    await expect(waiting).rejects.toBeInstanceOf(WaitAbortedError);
  });

  it('adopts the token Redis holds for a job enqueued before this gateway tracked it', () => {
    pending = new PendingResults();
    const { token: ours } = pending.track('job-a');
    const stored = 'c'.repeat(64);
    pending.adoptToken('job-a', stored);
    expect(pending.reportResult('job-a', ours, completed('x'))).toEqual({ accepted: false, reason: 'bad_token' });
    expect(pending.reportResult('job-a', stored, completed('x'))).toEqual({ accepted: true });
  });

  it('forgets a job nobody waits for (enqueue failed) so a retry starts clean', () => {
    pending = new PendingResults();
    const { token } = pending.track('job-a');
    pending.forget('job-a');
    expect(pending.isTracked('job-a')).toBe(false);
    expect(pending.track('job-a').token).not.toBe(token);
  });

  it('passes step reports signed with the job token to its listeners, and only those', () => {
    pending = new PendingResults();
    const { token } = pending.track('job-a');
    const seen: number[] = [];
    pending.onStep('job-a', (step) => seen.push(step.step));

    expect(pending.reportStep('job-a', 'f'.repeat(64), stepNumber(1))).toEqual({
      accepted: false,
      reason: 'bad_token',
    });
    expect(pending.reportStep('job-b', token, stepNumber(1))).toEqual({ accepted: false, reason: 'unknown_job' });
    expect(pending.reportStep('job-a', token, stepNumber(1))).toEqual({ accepted: true });
    expect(seen).toEqual([1]);
  });

  it('stops passing steps to a listener that left, and still passes late steps to one that listens after the outcome', () => {
    pending = new PendingResults();
    const { token } = pending.track('job-a');
    const left: number[] = [];
    const stayed: number[] = [];
    const leave = pending.onStep('job-a', (step) => left.push(step.step));
    pending.onStep('job-a', (step) => stayed.push(step.step));

    pending.reportStep('job-a', token, stepNumber(1));
    leave();
    pending.settle('job-a', completed('done'));
    pending.reportStep('job-a', token, stepNumber(2));

    expect(left).toEqual([1]);
    expect(stayed).toEqual([1, 2]);
  });
});

function stepNumber(step: number): JobStep {
  return {
    attempt: 1,
    step,
    nfe: step,
    committedPositions: [step - 1],
    committedTokens: [10],
    committedLogprobs: [],
    answerLength: 4,
    finalPrefix: step,
    decodeMs: step,
    finished: false,
  };
}
