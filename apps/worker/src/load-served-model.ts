import {
  ExecutionProviderUnavailableError,
  loadModel,
  ModelLoadError,
  parseDevice,
  type LoadedModel,
} from '@dfleet/model';
import type { WorkerConfig } from './config.ts';
import { DeviceUnavailableError, ModelUnavailableError } from './errors.ts';

/**
 * Loads the model directory on the configured device.
 * @throws ModelUnavailableError when it does not load, DeviceUnavailableError when DFLEET_DEVICE
 * cannot run it on this host.
 */
export async function loadServedModel(
  config: Pick<WorkerConfig, 'device' | 'modelDir' | 'intraOpThreads' | 'reduceInMemory' | 'prefixCache'>,
): Promise<LoadedModel> {
  // The config schema admits only the forms parseDevice reads.
  const device = parseDevice(config.device)!;
  try {
    const threads = config.intraOpThreads === undefined ? {} : { intraOpNumThreads: config.intraOpThreads };
    return await loadModel(config.modelDir, {
      ...device,
      ...threads,
      reduceInMemory: config.reduceInMemory,
      ...(config.prefixCache ? { prefixCache: true } : {}),
    });
  } catch (error) {
    // Model errors carry multi-line detail (one line per manifest field); one line reads better in logs.
    let problem = (error as Error).message.replace(/:\s*\n\s*-\s*/g, ': ').replace(/\s*\n\s*(-\s*)?/g, '; ');
    if (error instanceof ModelLoadError && error.code === 'prefix_cache_form_missing') {
      problem = `DFLEET_PREFIX_CACHE=on needs the model's prefix-cache form: ${problem}; or set DFLEET_PREFIX_CACHE=off`;
    }
    if (error instanceof ExecutionProviderUnavailableError) {
      throw new DeviceUnavailableError(config.device, error.code, problem, { cause: error });
    }
    throw new ModelUnavailableError(config.modelDir, problem, { cause: error });
  }
}
