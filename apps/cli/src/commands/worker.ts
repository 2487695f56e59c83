import { parseCommandLine } from '../command-line.ts';
import { chooseDevices, probeWithShippedModel } from '../device-selection.ts';
import { detectGpus, selectGpus } from '../gpu-devices.ts';
import { superviseWorkers } from '../worker-supervisor.ts';

const WORKER_USAGE = `usage: dfleet worker [--gpus all|0,2]

Starts one worker process per GPU on the first provider that opens a session there (cuda:N,
else webgpu:N; one CPU worker when none does, with the reason in the log), restarts a crashed
one with backoff, and stays in the foreground until Ctrl-C. The workers read
the same environment as \`node apps/worker/src/main.ts\` (REDIS_URL, DFLEET_MODEL_DIR, ...).

  --gpus all|LIST   the GPUs to use: all of them (default), or indices like 0,2
  -h, --help        print this and exit
`;

const spec = { usage: WORKER_USAGE, options: { gpus: { type: 'string', default: 'all' } } } as const;

/**
 * `dfleet worker --gpus all|0,2`: one worker process per GPU, on CUDA where its provider starts,
 * else on WebGPU; one CPU worker when no GPU works.
 */
export async function runWorkers(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const parsed = parseCommandLine(spec, args);
  if (!parsed) return;
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const gpus = selectGpus(parsed.values.gpus, detectGpus());
  const { devices, summary } = await chooseDevices(gpus, probeWithShippedModel);
  log(summary);
  const supervisor = superviseWorkers({ devices, env, log });
  const stop = () => void supervisor.stop().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await supervisor.ready;
  process.stdout.write(`workers ready: ${devices.join(', ')}\n`);
  await new Promise(() => {});
}
