import { startManagedProcess, type ManagedProcess } from '@dfleet/local-processes';
import { CliError } from '../cli-error.ts';
import { detectGpus } from '../gpu-devices.ts';
import { resolveLocalRedis } from '../local-redis.ts';
import { DEFAULT_MODEL_DIR, GATEWAY_ENTRY } from '../repo-paths.ts';
import { superviseWorkers, type WorkerSupervisor } from '../worker-supervisor.ts';
import { requestCompletion, formatCompletion } from '../completion-client.ts';

const DEMO_PROMPT = '// return x times 3 plus 7\nfunction f(x) {\n';

/**
 * `dfleet up`: Redis (found or started), one gateway, one worker per GPU (or one CPU worker),
 * a demo generation, then stays in the foreground until Ctrl-C stops everything it started.
 */
export async function runUp(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const demo = !args.includes('--no-demo');
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const redis = await resolveLocalRedis(env);
  log(`redis: ${redis.url} (${redis.origin === 'started' ? 'started a redis-server for this fleet' : `found via ${redis.origin}`})`);

  const fleetEnv: NodeJS.ProcessEnv = {
    ...env,
    REDIS_URL: redis.url,
    DFLEET_MODEL_DIR: env.DFLEET_MODEL_DIR ?? DEFAULT_MODEL_DIR,
    DFLEET_PORT: env.DFLEET_PORT ?? '8080',
    DFLEET_GRPC_PORT: env.DFLEET_GRPC_PORT ?? '0',
    DFLEET_CALLBACK_PORT: env.DFLEET_CALLBACK_PORT ?? '0',
  };

  let gateway: ManagedProcess | undefined;
  let workers: WorkerSupervisor | undefined;
  let stopping: Promise<void> | undefined;
  const stopAll = () =>
    (stopping ??= (async () => {
      log('stopping the fleet...');
      await workers?.stop();
      await gateway?.stop();
      await redis.stop();
    })());

  process.once('SIGINT', () => void stopAll().then(() => process.exit(0)));
  process.once('SIGTERM', () => void stopAll().then(() => process.exit(0)));

  try {
    gateway = await startManagedProcess({
      name: 'gateway',
      command: process.execPath,
      args: ['--import', 'tsx', GATEWAY_ENTRY],
      env: fleetEnv,
      readyPattern: /^gateway listening on (http:\/\/\S+) grpc=(\S+) callback=(\S+)/,
      log,
    });
    const gpus = detectGpus();
    const devices = gpus.length > 0 ? gpus.map((id) => `cuda:${id}`) : ['cpu'];
    if (gpus.length === 0) log('no GPU found (nvidia-smi -L): starting one CPU worker');
    workers = superviseWorkers({ devices, env: fleetEnv, log });
    await workers.ready;

    const httpUrl = gateway.ready[1]!;
    process.stdout.write(`gateway listening on ${httpUrl}\n`);
    const keysRequired = Boolean(fleetEnv.DFLEET_API_KEYS_FILE) && fleetEnv.DFLEET_AUTH !== 'off';
    if (demo && keysRequired && !fleetEnv.DFLEET_API_KEY) {
      log('skipping the demo generation: the gateway requires API keys and DFLEET_API_KEY is not set');
    } else if (demo) {
      const completion = await requestCompletion(httpUrl, { prompt: DEMO_PROMPT }, fleetEnv.DFLEET_API_KEY);
      process.stdout.write(`demo generation:\n${DEMO_PROMPT}${formatCompletion(completion)}\n`);
    }
    process.stdout.write('fleet is up; press Ctrl-C to stop\n');
    const code = await gateway.exited;
    if (!stopping) throw new CliError('gateway_exited', `the gateway exited unexpectedly with code ${code}`);
  } catch (error) {
    await stopAll();
    throw error;
  }
}
