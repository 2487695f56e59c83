import { describe, expect, it } from 'vitest';
import { WaitingJobCounter } from '../src/waiting-job-limits.ts';

/** A Redis stand-in: the waiting count it reports, how often it was read, a clock the test moves. */
function harness(options: { waiting?: number } = {}) {
  const state = { waiting: options.waiting ?? 0, reads: 0, now: 0, failWith: undefined as Error | undefined };
  const counter = new WaitingJobCounter(
    async () => {
      state.reads++;
      if (state.failWith) throw state.failWith;
      return state.waiting;
    },
    { refreshAfterMs: 100, maxAgeMs: 1_000, exactWithinFraction: 0.1, now: () => state.now },
  );
  return { state, counter };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('WaitingJobCounter', () => {
  it('reads once, then admits from that reading plus its own admissions without a round trip', async () => {
    const { state, counter } = harness({ waiting: 10 });
    for (let i = 0; i < 20; i++) await expect(counter.admit(1_000)).resolves.toEqual({ admitted: true });
    expect(state.reads).toBe(1);
  });

  it('refreshes a reading older than refreshAfterMs in the background when asked, one read at a time', async () => {
    const { state, counter } = harness();
    await counter.admit(1_000);
    counter.refreshIfStale();
    expect(state.reads).toBe(1);
    state.now = 150;
    await expect(counter.admit(1_000)).resolves.toEqual({ admitted: true });
    expect(state.reads).toBe(1);
    counter.refreshIfStale();
    counter.refreshIfStale();
    expect(state.reads).toBe(2);
  });

  it('counts its own admissions made while a background read is in flight', async () => {
    const { state, counter } = harness({ waiting: 0 });
    await counter.admit(100);
    state.now = 150;
    state.waiting = 50; // what the read answers: other gateways' jobs
    counter.refreshIfStale(); // sent now: it cannot see the two admissions below
    await counter.admit(100);
    await counter.admit(100);
    await settle();
    // 50 read + 2 admitted after the read was sent = 52; admissions stay local up to 90.
    for (let i = 0; i < 38; i++) await expect(counter.admit(100)).resolves.toEqual({ admitted: true });
    expect(state.reads).toBe(2);
    // 90 waiting by its count: one more would be in the last tenth of the cap, so it reads afresh.
    await counter.admit(100);
    expect(state.reads).toBe(3);
  });

  it('waits for a fresh reading when the last one is older than maxAgeMs', async () => {
    const { state, counter } = harness({ waiting: 5 });
    await counter.admit(10);
    state.now = 1_500;
    state.waiting = 10;
    await expect(counter.admit(10)).resolves.toEqual({ admitted: false, scope: 'global', waiting: 10, limit: 10 });
    expect(state.reads).toBe(2);
  });

  it('reads afresh for every admission within a tenth of the cap, so it fills the cap exactly', async () => {
    const { state, counter } = harness();
    const verdicts = [];
    for (let i = 0; i < 12; i++) {
      const verdict = await counter.admit(10);
      verdicts.push(verdict.admitted);
      if (verdict.admitted) state.waiting++; // the job lands in Redis
    }
    expect(verdicts).toEqual([...Array(10).fill(true), false, false]);
    // The first reading, then one for each admission whose estimate + 1 exceeds 9: the last three.
    expect(state.reads).toBe(1 + 3);
  });

  it('refuses only on a fresh reading: a queue that drained is admitted again', async () => {
    const { state, counter } = harness({ waiting: 10 });
    await expect(counter.admit(10)).resolves.toMatchObject({ admitted: false });
    state.waiting = 0;
    await expect(counter.admit(10)).resolves.toEqual({ admitted: true });
  });

  it('lets concurrent admissions share one read and never both take the last slot', async () => {
    const { state, counter } = harness({ waiting: 9 });
    const verdicts = await Promise.all([counter.admit(10), counter.admit(10), counter.admit(10)]);
    expect(verdicts.map((verdict) => verdict.admitted)).toEqual([true, false, false]);
    expect(state.reads).toBe(1);
  });

  it('throws the read error when an admission needs a fresh reading, and shrugs off a failed background read', async () => {
    const { state, counter } = harness();
    state.failWith = new Error('redis is down');
    await expect(counter.admit(100)).rejects.toThrow('redis is down');
    state.failWith = undefined;
    await counter.admit(100);
    state.failWith = new Error('redis is down');
    state.now = 300;
    await expect(counter.admit(100)).resolves.toEqual({ admitted: true });
    counter.refreshIfStale();
    await settle();
    expect(state.reads).toBe(3);
    state.now = 2_000;
    await expect(counter.admit(100)).rejects.toThrow('redis is down');
  });
});
