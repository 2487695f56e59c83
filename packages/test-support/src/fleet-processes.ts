import { startManagedProcess, type ManagedProcess } from '@dfleet/local-processes';
import { GATEWAY_ENTRY, WORKER_ENTRY } from './fleet-entries.ts';
import { ProcessLog } from './process-log.ts';

/** Environment for gateway and worker processes of one test fleet (own prefix, any free ports). */
export function fleetEnv(redisUrl: string, prefix: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    REDIS_URL: redisUrl,
    DFLEET_REDIS_PREFIX: prefix,
    DFLEET_PORT: '0',
    DFLEET_GRPC_PORT: '0',
    DFLEET_CALLBACK_PORT: '0',
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

export interface GatewayProcess {
  process: ManagedProcess;
  httpUrl: string;
  grpcAddress: string;
  callbackAddress: string;
  log: ProcessLog;
}

/** A gateway process, resolved once it printed its readiness line (with the ports it bound). */
export async function startGatewayProcess(env: NodeJS.ProcessEnv, name = 'gateway'): Promise<GatewayProcess> {
  const log = new ProcessLog();
  const process = await startManagedProcess({
    name,
    command: globalThis.process.execPath,
    args: ['--import', 'tsx', GATEWAY_ENTRY],
    env,
    readyPattern: /^gateway listening on (http:\/\/\S+) grpc=(\S+) callback=(\S+)/,
    log: log.sink,
  });
  const [, httpUrl = '', grpcAddress = '', callbackAddress = ''] = process.ready;
  return { process, httpUrl, grpcAddress, callbackAddress, log };
}

export interface WorkerProcess {
  process: ManagedProcess;
  id: string;
  log: ProcessLog;
  /** Its /metrics URL, when it runs the probe server (DFLEET_PROBE_PORT). */
  metricsUrl: string | undefined;
}

/** A worker process with id `id`, resolved once it printed its readiness line. */
export async function startWorkerProcess(env: NodeJS.ProcessEnv, id: string): Promise<WorkerProcess> {
  const log = new ProcessLog();
  const process = await startManagedProcess({
    name: id,
    command: globalThis.process.execPath,
    args: ['--import', 'tsx', WORKER_ENTRY],
    env: { ...env, DFLEET_WORKER_ID: id },
    readyPattern: /^worker ready id=\S+.*?(?: metrics=(\S+))?$/,
    log: log.sink,
  });
  return { process, id, log, metricsUrl: process.ready[1] };
}

/** SIGKILL: no handler runs, nothing is handed back; resolves once the process is gone. */
export async function killHard(process: ManagedProcess): Promise<void> {
  process.child.kill('SIGKILL');
  await process.exited;
}
