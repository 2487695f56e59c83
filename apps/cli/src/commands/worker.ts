import { parseArgs } from 'node:util';
import { detectGpus, selectGpus } from '../gpu-devices.ts';
import { superviseWorkers } from '../worker-supervisor.ts';

/**
 * `dfleet worker --gpus all|0,2`: one worker process per GPU pinned with the CUDA execution
 * provider's device id; one CPU worker when there is no GPU.
 */
export async function runWorkers(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const { values } = parseArgs({ args, options: { gpus: { type: 'string', default: 'all' } } });
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const gpus = selectGpus(values.gpus!, detectGpus());
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
