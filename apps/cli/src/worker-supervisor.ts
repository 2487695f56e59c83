import { setTimeout as sleep } from 'node:timers/promises';
import { startManagedProcess, type ManagedProcess } from '@dfleet/local-processes';
import { TSX_LOADER, WORKER_ENTRY } from './repo-paths.ts';

export interface SupervisorOptions {
  /** One worker per entry: 'cpu', 'cuda:N' or 'webgpu:N'. */
  devices: string[];
  env: NodeJS.ProcessEnv;
  log: (line: string) => void;
  /** Where the stderr lines of the worker on `devices[index]` go, across its restarts. @defaultValue `log`, prefixed */
  stderrLine?: (index: number) => (line: string) => void;
  /** @defaultValue 1000 */
  initialBackoffMs?: number;
  /** @defaultValue 30000 */
  maxBackoffMs?: number;
}

export interface WorkerSupervisor {
  /** Resolves once every worker has printed its readiness line. */
  readonly ready: Promise<void>;
  stop(): Promise<void>;
}

/**
 * Keeps one worker process per device alive. A worker that exits unexpectedly is restarted after
 * a backoff that doubles on each crash and resets once a worker has stayed up for a minute.
 */
export function superviseWorkers(options: SupervisorOptions): WorkerSupervisor {
  const initialBackoff = options.initialBackoffMs ?? 1_000;
  const maxBackoff = options.maxBackoffMs ?? 30_000;
  const stopping = new AbortController();
  const running = new Map<string, ManagedProcess>();

  const runDevice = async (
    device: string,
    index: number,
    onFirstReady: () => void,
    onFirstFailure: (error: unknown) => void,
  ) => {
    const stderrLine = options.stderrLine?.(index);
    let backoff = initialBackoff;
    let firstStart = true;
    while (!stopping.signal.aborted) {
      const startedAt = Date.now();
      try {
        const worker = await startManagedProcess({
          name: `worker ${device}`,
          command: process.execPath,
          args: ['--import', TSX_LOADER, WORKER_ENTRY],
          // Every worker serves /metrics: on a free port of the loopback unless the environment says otherwise.
          env: {
            DFLEET_PROBE_PORT: '0',
            DFLEET_PROBE_HOST: '127.0.0.1',
            ...options.env,
            DFLEET_DEVICE: device,
          },
          readyPattern: /^worker ready id=(\S+) device=(\S+) model=(\S+)(?: metrics=(\S+))?/,
          log: options.log,
          ...(stderrLine ? { stderrLine } : {}),
        });
        // A restart that became ready while stop() ran is not in `running` yet: stop it here, or it outlives us.
        if (stopping.signal.aborted) return await worker.stop();
        running.set(device, worker);
        const metricsUrl = worker.ready[4];
        options.log(`worker ${worker.ready[1]} ready on ${device}${metricsUrl ? `, metrics at ${metricsUrl}` : ''}`);
        if (firstStart) onFirstReady();
        firstStart = false;
        const code = await worker.exited;
        running.delete(device);
        if (stopping.signal.aborted) return;
        if (Date.now() - startedAt > 60_000) backoff = initialBackoff;
        options.log(`worker on ${device} exited with code ${code}; restarting in ${backoff} ms`);
      } catch (error) {
        // A worker that cannot even start (bad model, missing CUDA) will not fix itself: report it.
        if (firstStart) return onFirstFailure(error);
        options.log(`worker on ${device} failed to restart: ${(error as Error).message}; retrying in ${backoff} ms`);
      }
      await sleep(backoff, undefined, { signal: stopping.signal }).catch(() => undefined);
      backoff = Math.min(backoff * 2, maxBackoff);
    }
  };

  const loops: Promise<void>[] = [];
  const ready = Promise.all(
    options.devices.map(
      (device, index) =>
        new Promise<void>((resolve, reject) => {
          loops.push(runDevice(device, index, resolve, reject));
        }),
    ),
  ).then(() => undefined);

  return {
    ready,
    /** Stops every worker, and waits for any restart in progress so that none is left running. */
    async stop() {
      stopping.abort();
      await Promise.all([...running.values()].map((worker) => worker.stop()));
      await Promise.allSettled(loops);
    },
  };
}
