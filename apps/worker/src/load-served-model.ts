import { loadModel, type LoadedModel } from '@dfleet/model';
import type { WorkerConfig } from './config.ts';
import { ModelUnavailableError } from './errors.ts';

/**
 * Loads the model directory on the configured device.
 * @throws ModelUnavailableError when it does not load.
 */
export async function loadServedModel(
  config: Pick<WorkerConfig, 'device' | 'modelDir' | 'intraOpThreads'>,
): Promise<LoadedModel> {
  const cuda = /^cuda:(\d+)$/.exec(config.device);
  try {
    const threads = config.intraOpThreads === undefined ? {} : { intraOpNumThreads: config.intraOpThreads };
    const provider = cuda
      ? { executionProvider: 'cuda' as const, deviceId: Number(cuda[1]), ...threads }
      : { executionProvider: 'cpu' as const, ...threads };
    return await loadModel(config.modelDir, provider);
  } catch (error) {
    // Model errors carry multi-line detail (one line per manifest field); one line reads better in logs.
    const problem = (error as Error).message.replace(/:\s*\n\s*-\s*/g, ': ').replace(/\s*\n\s*(-\s*)?/g, '; ');
    throw new ModelUnavailableError(config.modelDir, problem, { cause: error });
  }
}
