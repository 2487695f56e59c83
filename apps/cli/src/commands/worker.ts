import { parseCommandLine } from '../command-line.ts';
import { detectGpus, selectGpus } from '../gpu-devices.ts';
import { superviseWorkers } from '../worker-supervisor.ts';

const WORKER_USAGE = `usage: dfleet worker [--gpus all|0,2]

Starts one worker process per GPU, pinned by device id (one CPU worker when there is no GPU),
restarts a crashed one with backoff, and stays in the foreground until Ctrl-C. The workers read
the same environment as \`node apps/worker/src/main.ts\` (REDIS_URL, DFLEET_MODEL_DIR, ...).

  --gpus all|LIST   the GPUs to use: all of them (default), or indices like 0,2
  -h, --help        print this and exit
`;

const spec = { usage: WORKER_USAGE, options: { gpus: { type: 'string', default: 'all' } } } as const;

/**
 * `dfleet worker --gpus all|0,2`: one worker process per GPU pinned with the CUDA execution
 * provider's device id; one CPU worker when there is no GPU.
 */
export async function runWorkers(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const parsed = parseCommandLine(spec, args);
  if (!parsed) return;
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const gpus = selectGpus(parsed.values.gpus, detectGpus());
  const devices = gpus.length > 0 ? gpus.map((id) => `cuda:${id}`) : ['cpu'];
  if (gpus.length === 0) log('no GPU found (nvidia-smi -L): starting one CPU worker');
  else log(`starting ${gpus.length} worker(s) on ${devices.join(', ')}`);
  const supervisor = superviseWorkers({ devices, env, log });
  const stop = () => void supervisor.stop().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await supervisor.ready;
  process.stdout.write(`workers ready: ${devices.join(', ')}\n`);
  await new Promise(() => {});
}
