import { describe, expect, it } from 'vitest';
import type { WorkerHeartbeat } from '@dfleet/queue';
import { QueueUnavailableError } from '../src/errors.ts';
import { WorkerPresence } from '../src/worker-presence.ts';
import { liveWorkerOf } from './support/test-fleet.ts';

/** Heartbeat readings as Redis would give them, counted. */
function readings(...answers: (WorkerHeartbeat[] | Error)[]) {
  const calls = { count: 0 };
  const list = async () => {
    const answer = answers[Math.min(calls.count, answers.length - 1)] as WorkerHeartbeat[] | Error;
    calls.count++;
    if (answer instanceof Error) throw answer;
    return answer;
  };
  return { calls, list };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('WorkerPresence', () => {
  it('answers a burst of requests from one reading of the heartbeats', async () => {
    const { calls, list } = readings([liveWorkerOf('jsfunc-mdm')]);
    const presence = new WorkerPresence({ listLiveWorkers: list, maxAgeMs: 60_000 });
    const answers = await Promise.all(Array.from({ length: 50 }, () => presence.hasLiveWorker('jsfunc-mdm')));
    expect(answers.every(Boolean)).toBe(true);
    expect(calls.count).toBe(1);
  });

  it('counts only workers serving the asked model', async () => {
    const { list } = readings([liveWorkerOf('other-model')]);
    const presence = new WorkerPresence({ listLiveWorkers: list });
    expect(await presence.hasLiveWorker('jsfunc-mdm')).toBe(false);
    expect(await presence.hasLiveWorker('other-model')).toBe(true);
  });

  it('reads again once its reading is older than maxAgeMs, so a worker that started is seen', async () => {
    const { calls, list } = readings([], [liveWorkerOf('jsfunc-mdm')]);
    const presence = new WorkerPresence({ listLiveWorkers: list, maxAgeMs: 20 });
    expect(await presence.hasLiveWorker('jsfunc-mdm')).toBe(false);
    await sleep(30);
    expect(await presence.hasLiveWorker('jsfunc-mdm')).toBe(true);
    expect(calls.count).toBe(2);
  });

  it('throws what the reading threw and keeps no failed reading', async () => {
    const down = new QueueUnavailableError('Redis at 127.0.0.1:6379 is unreachable');
    const { calls, list } = readings(down, [liveWorkerOf('jsfunc-mdm')]);
    const presence = new WorkerPresence({ listLiveWorkers: list, maxAgeMs: 60_000 });
    await expect(presence.hasLiveWorker('jsfunc-mdm')).rejects.toBe(down);
    expect(await presence.hasLiveWorker('jsfunc-mdm')).toBe(true);
    expect(calls.count).toBe(2);
  });
});
