import { publishHeartbeat, removeHeartbeat, type RedisConnection, type WorkerHeartbeat } from '@dfleet/queue';
import type { Logger } from './logger.ts';

export interface HeartbeatOptions {
  readonly redis: RedisConnection;
  readonly prefix: string;
  /** @defaultValue 2000 (the key lives 10 s, so a few missed beats do not drop the worker) */
  readonly intervalMs: number;
  /** The current beat; `updatedAt` is filled in at each publish. */
  readonly beat: () => Omit<WorkerHeartbeat, 'updatedAt'>;
  readonly logger: Logger;
}

export interface Heartbeat {
  /** Epoch ms of the last beat Redis took (the age /metrics reports); null before the first. */
  readonly lastPublishedAt: number | null;
  /** Stops beating and deletes the key, so gateways stop counting this worker at once. */
  stop(): Promise<void>;
}

/** Publishes the worker's heartbeat now and then every `intervalMs` until stopped. */
export async function startHeartbeat(options: HeartbeatOptions): Promise<Heartbeat> {
  const { redis, prefix, intervalMs, beat, logger } = options;
  let stopped = false;
  let inFlight: Promise<void> = Promise.resolve();
  let lastPublishedAt: number | null = null;
  const publish = () => {
    const updatedAt = Date.now();
    inFlight = publishHeartbeat(redis, prefix, { ...beat(), updatedAt }).then(
      () => {
        lastPublishedAt = updatedAt;
      },
      (error: Error) => logger.warn({ err: error.message }, 'heartbeat publish failed'),
    );
    return inFlight;
  };
  await publish();
  const timer = setInterval(() => void publish(), intervalMs);
  timer.unref();
  return {
    get lastPublishedAt() {
      return lastPublishedAt;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      await inFlight;
      await removeHeartbeat(redis, prefix, beat().workerId).catch((error: Error) =>
        logger.warn({ err: error.message }, 'could not remove the heartbeat; it expires by itself'),
      );
    },
  };
}
