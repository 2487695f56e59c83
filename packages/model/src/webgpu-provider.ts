import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ExecutionProviderUnavailableError } from './errors.ts';

/**
 * onnxruntime-node 1.30 bundles the WebGPU provider as Dawn inside libonnxruntime.so.1; on Linux
 * Dawn runs on Vulkan, which it reaches through the Vulkan loader (libvulkan.so.1) and the GPU
 * driver's Vulkan ICD. Neither ships with Node or onnxruntime.
 */
const VULKAN_LOADER = 'libvulkan.so.1';

const SYSTEM_LIBRARY_DIRECTORIES = [
  '/lib/x86_64-linux-gnu',
  '/usr/lib/x86_64-linux-gnu',
  '/lib/aarch64-linux-gnu',
  '/usr/lib/aarch64-linux-gnu',
  '/lib64',
  '/usr/lib64',
  '/lib',
  '/usr/lib',
  '/usr/local/lib',
];

const SETUP_HINT =
  'On Linux the WebGPU provider runs Dawn on Vulkan: install the Vulkan loader (Debian/Ubuntu: ' +
  "`apt-get install libvulkan1`) and the GPU driver's Vulkan ICD (on NVIDIA it comes with the driver as " +
  'nvidia_icd.json; if it lies outside /usr/share/vulkan/icd.d, point VK_DRIVER_FILES at it), check with ' +
  '`vulkaninfo --summary`, or use DFLEET_DEVICE=cpu or cuda:N.';

/**
 * Fails before Dawn is touched when the device cannot work: an adapter index onnxruntime-node
 * cannot select, or no Vulkan loader on a Linux host (Dawn would print its own warnings to
 * stderr and then report only "No supported adapters").
 * @throws ExecutionProviderUnavailableError
 */
export function assertWebGpuUsable(deviceId: number): void {
  if (deviceId !== 0) {
    // The binding rejects `deviceId` for WebGPU ("unrecognized option"), and the provider's own
    // deviceId is a context id that needs a WebGPU device made by the caller, which Node cannot make.
    throw new ExecutionProviderUnavailableError(
      'webgpu',
      deviceId,
      `WebGPU execution provider requested on adapter ${deviceId}, but onnxruntime-node 1.30 cannot choose a ` +
        'WebGPU adapter: Dawn always takes its default (high-performance) one. Use DFLEET_DEVICE=webgpu ' +
        '(webgpu:0) for one worker per host, or cuda:N to pin one worker per GPU.',
      { code: 'webgpu_adapter_index_unsupported' },
    );
  }
  if (process.platform !== 'linux' || findVulkanLoader() !== undefined) return;
  throw new ExecutionProviderUnavailableError(
    'webgpu',
    deviceId,
    `WebGPU execution provider requested (device webgpu:${deviceId}) but the Vulkan loader ${VULKAN_LOADER} ` +
      'is not installed (searched LD_LIBRARY_PATH, /etc/ld.so.cache and the system library directories). ' +
      SETUP_HINT,
    { code: 'vulkan_loader_missing' },
  );
}

/** True when a session-creation failure on WebGPU is about the adapter or Vulkan, not the model. */
export function isWebGpuFailure(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return /webgpu|dawn|adapter|vulkan|wgpu/i.test(message);
}

export function webGpuUnavailable(deviceId: number, error: unknown): ExecutionProviderUnavailableError {
  const reason = error instanceof Error ? error.message : String(error);
  // onnxruntime prefixes its own source location; the last sentence is what Dawn said.
  const said = reason
    .trim()
    .split('\n')
    .at(-1)!
    .replace(/^.*?(Failed to get a WebGPU adapter)/, '$1');
  return new ExecutionProviderUnavailableError(
    'webgpu',
    deviceId,
    `WebGPU execution provider requested (device webgpu:${deviceId}) but Dawn found no usable Vulkan adapter ` +
      `(${said}). The Vulkan loader is present, so the GPU's Vulkan driver (ICD) is missing or unsupported; ` +
      "software Vulkan such as Debian bookworm's lavapipe lacks a feature Dawn needs. " +
      SETUP_HINT,
    { cause: error, code: 'webgpu_adapter_unavailable' },
  );
}

/** Where the dynamic linker would find the Vulkan loader, or undefined when it would not. */
export function findVulkanLoader(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const searchPath = (env.LD_LIBRARY_PATH ?? '').split(':').filter((dir) => dir !== '');
  for (const dir of [...searchPath, onnxruntimeLibraryDirectory(), ...SYSTEM_LIBRARY_DIRECTORIES]) {
    const candidate = join(dir, VULKAN_LOADER);
    if (existsSync(candidate)) return candidate;
  }
  return isInLinkerCache() ? `${VULKAN_LOADER} (ld.so.cache)` : undefined;
}

function isInLinkerCache(): boolean {
  try {
    return readFileSync('/etc/ld.so.cache').includes(`/${VULKAN_LOADER}`);
  } catch {
    return false;
  }
}

/** Dawn also looks beside its own library, libonnxruntime.so.1. */
function onnxruntimeLibraryDirectory(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('onnxruntime-node')), '..', 'bin', 'napi-v6', process.platform, process.arch);
}
