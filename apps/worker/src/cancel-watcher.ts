import { cancelRequestKey, type RedisConnection } from '@dfleet/queue';
import type { Logger } from './logger.ts';

/** One look at a job's cancel mark, for a job just claimed (before its first forward pass). */
export async function isCancelRequested(redis: RedisConnection, prefix: string, jobId: string): Promise<boolean> {
  return (await redis.exists(cancelRequestKey(prefix, jobId))) === 1;
}

export interface CancelWatcherOptions {
  readonly redis: RedisConnection;
  readonly prefix: string;
  /** @defaultValue 250 */
  readonly intervalMs: number;
  /** Ids of the jobs this worker runs now. */
  readonly activeJobIds: () => readonly string[];
  /** Called once per job whose cancel key appeared (it logs the cancel, with the job's trace). */
  readonly onCancelRequested: (jobId: string) => void;
  readonly logger: Logger;
}

export interface CancelWatcher {
  stop(): void;
}

/** Polls the cancel keys of the active jobs (one MGET per interval, nothing when idle). */
export function startCancelWatcher(options: CancelWatcherOptions): CancelWatcher {
  const { redis, prefix, intervalMs, activeJobIds, onCancelRequested, logger } = options;
  const notified = new Set<string>();
  let polling = false;
  const poll = async () => {
    const ids = activeJobIds();
    for (const id of notified) if (!ids.includes(id)) notified.delete(id);
    const pending = ids.filter((id) => !notified.has(id));
    if (pending.length === 0 || polling) return;
    polling = true;
    try {
      const marks = await redis.mget(...pending.map((id) => cancelRequestKey(prefix, id)));
      marks.forEach((mark, index) => {
        const jobId = pending[index]!;
        if (mark === null) return;
        notified.add(jobId);
        onCancelRequested(jobId);
      });
    } catch (error) {
      logger.warn({ err: (error as Error).message }, 'cancel poll failed');
    } finally {
      polling = false;
    }
  };
  const timer = setInterval(() => void poll(), intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
