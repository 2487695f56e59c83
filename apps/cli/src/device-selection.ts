import { DEFAULT_MODEL_DIR, loadModel, parseDevice } from '@dfleet/model';

/** Why a device cannot be used: a stable code and the message that says how to fix it. */
interface DeviceRefusal {
  readonly code: string;
  readonly message: string;
}

/** Tries a `DFLEET_DEVICE` value on this host: undefined when a session starts there. */
export type DeviceProbe = (device: string) => Promise<DeviceRefusal | undefined>;

export interface DeviceChoice {
  /** One worker per entry: `cuda:N`, `webgpu:N`, or `['cpu']` when no GPU works. */
  readonly devices: string[];
  /** One line for the log: what was picked, and why each GPU got the provider it got. */
  readonly summary: string;
}

/**
 * Per GPU, the first of `cuda:N` and `webgpu:N` that can create a session; one CPU worker when
 * none can. With no GPU listed by nvidia-smi, `webgpu` is still tried (a Vulkan GPU of another vendor).
 */
export async function chooseDevices(gpus: readonly number[], probe: DeviceProbe): Promise<DeviceChoice> {
  const devices: string[] = [];
  const refusals: string[] = [];
  const hints = new Map<string, string>();
  const candidatesPerGpu = gpus.length > 0 ? gpus.map((id) => [`cuda:${id}`, `webgpu:${id}`]) : [['webgpu']];
  for (const candidates of candidatesPerGpu) {
    for (const device of candidates) {
      const why = await probe(device);
      if (why === undefined) {
        devices.push(device);
        break;
      }
      refusals.push(`${device} ${why.code}`);
      hints.set(why.code, why.message);
    }
  }
  // Each reason's advice once: eight GPUs refusing CUDA for the same reason need one hint.
  const refused = refusals.length > 0 ? ` (not usable: ${refusals.join(', ')}; ${[...hints.values()].join(' ')})` : '';
  if (devices.length === 0) {
    const found = gpus.length > 0 ? `no GPU of ${gpus.length} could start a session` : 'no GPU found (nvidia-smi -L)';
    return { devices: ['cpu'], summary: `${found}: starting one CPU worker${refused}` };
  }
  return { devices, summary: `starting ${devices.length} worker(s) on ${devices.join(', ')}${refused}` };
}

/**
 * Opens a session on the device with the shipped model (small, so probing costs a second, not a
 * model load): it proves the provider, driver and adapter work; the served model's own operators
 * are checked when its worker starts.
 */
export const probeWithShippedModel: DeviceProbe = async (device) => {
  const target = parseDevice(device);
  if (!target) return { code: 'invalid_device', message: `not a device name: ${device}` };
  try {
    const model = await loadModel(DEFAULT_MODEL_DIR, { ...target, inferenceThread: 'main' });
    await model.close();
    return undefined;
  } catch (error) {
    const { code } = error as { code?: unknown };
    const message = (error as Error).message.replace(/\s*\n\s*/g, ' ');
    return { code: typeof code === 'string' ? code : 'session_failed', message };
  }
};
