import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { InferenceSession } from 'onnxruntime-node';
import { ExecutionProviderUnavailableError } from './errors.ts';
import { assertWebGpuUsable, isWebGpuFailure, webGpuUnavailable } from './webgpu-provider.ts';

export type ExecutionProvider = 'cpu' | 'cuda' | 'webgpu';

/** How to install the CUDA provider, in every message that says it is missing. */
const CUDA_INSTALL_HINT =
  'On a GPU host install the CUDA 12 provider libraries for onnxruntime-node: ' +
  '`ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install` ' +
  "(the repository's package.json denies that script to `npm ci` in allowScripts, so run it yourself), " +
  'check that `nvidia-smi` lists the GPU and that the CUDA 12 and cuDNN 9 ' +
  "runtime libraries are on the library path, or run on the CPU with executionProvider 'cpu' (DFLEET_DEVICE=cpu).";

/** onnxruntime-node ships CUDA support only for these platforms (the libraries are fetched at install). */
const CUDA_PROVIDER_LIBRARY: Partial<Record<string, string>> = {
  'linux/x64': 'libonnxruntime_providers_cuda.so',
  'win32/x64': 'onnxruntime_providers_cuda.dll',
};

function bindingDirectory(): string {
  const require = createRequire(import.meta.url);
  // <pkg>/dist/index.js -> <pkg>/bin/napi-v6/<platform>/<arch>
  return join(dirname(require.resolve('onnxruntime-node')), '..', 'bin', 'napi-v6', process.platform, process.arch);
}

/**
 * Session options for the chosen provider.
 * @throws ExecutionProviderUnavailableError for 'cuda' when this install has no CUDA provider library.
 */
export function sessionOptionsFor(options: {
  executionProvider: ExecutionProvider;
  deviceId: number;
  intraOpNumThreads: number | undefined;
}): InferenceSession.SessionOptions {
  const { executionProvider, deviceId, intraOpNumThreads } = options;
  const sessionOptions: InferenceSession.SessionOptions = {
    executionProviders: providerList(executionProvider, deviceId),
  };
  if (intraOpNumThreads !== undefined) sessionOptions.intraOpNumThreads = intraOpNumThreads;
  if (executionProvider === 'cuda') assertCudaProviderInstalled(deviceId);
  if (executionProvider === 'webgpu') assertWebGpuUsable(deviceId);
  return sessionOptions;
}

function providerList(
  executionProvider: ExecutionProvider,
  deviceId: number,
): InferenceSession.ExecutionProviderConfig[] {
  if (executionProvider === 'cuda') return [{ name: 'cuda', deviceId }];
  // onnxruntime-node 1.30 rejects a deviceId for WebGPU: Dawn picks the adapter (see webgpu-provider.ts).
  if (executionProvider === 'webgpu') return ['webgpu'];
  return ['cpu'];
}

/** How a device reads in heartbeats, logs and `DFLEET_DEVICE`: `cpu`, `cuda:N` or `webgpu:N`. */
export function deviceLabel(executionProvider: ExecutionProvider, deviceId: number): string {
  return executionProvider === 'cpu' ? 'cpu' : `${executionProvider}:${deviceId}`;
}

/** Parses `cpu`, `cuda:N`, `webgpu` or `webgpu:N` (the `DFLEET_DEVICE` forms); undefined for anything else. */
export function parseDevice(device: string): { executionProvider: ExecutionProvider; deviceId: number } | undefined {
  if (device === 'cpu') return { executionProvider: 'cpu', deviceId: 0 };
  const match = /^(cuda|webgpu)(?::(\d+))?$/.exec(device);
  if (!match || (match[1] === 'cuda' && match[2] === undefined)) return undefined;
  return { executionProvider: match[1] as 'cuda' | 'webgpu', deviceId: Number(match[2] ?? 0) };
}

/**
 * The clear error for a session that failed because of the device rather than the model file;
 * undefined when the failure is about something else (or the provider is the CPU).
 */
export function providerUnavailable(
  executionProvider: ExecutionProvider,
  deviceId: number,
  error: unknown,
): ExecutionProviderUnavailableError | undefined {
  if (executionProvider === 'cuda' && isCudaFailure(error)) return cudaUnavailable(deviceId, error);
  if (executionProvider === 'webgpu' && isWebGpuFailure(error)) return webGpuUnavailable(deviceId, error);
  return undefined;
}

function assertCudaProviderInstalled(deviceId: number): void {
  const platform = `${process.platform}/${process.arch}`;
  const library = CUDA_PROVIDER_LIBRARY[platform];
  if (library === undefined) {
    throw new ExecutionProviderUnavailableError(
      'cuda',
      deviceId,
      `CUDA execution provider requested (device ${deviceId}) but onnxruntime-node has no CUDA build for ${platform}. ` +
        "Run on a linux/x64 GPU host, or use executionProvider 'cpu' (DFLEET_DEVICE=cpu).",
    );
  }
  const libraryPath = join(bindingDirectory(), library);
  if (!existsSync(libraryPath)) {
    throw new ExecutionProviderUnavailableError(
      'cuda',
      deviceId,
      `CUDA execution provider requested (device ${deviceId}) but this onnxruntime-node install is CPU-only: ` +
        `${libraryPath} is missing. ${CUDA_INSTALL_HINT}`,
    );
  }
}

/**
 * True when a session-creation failure with the CUDA provider is about CUDA itself (driver, no
 * device, missing cuDNN/cuBLAS) rather than about the model file.
 */
function isCudaFailure(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return /cuda|cudnn|cublas|curand|cufft|nvrtc|providers_shared|providers_cuda|gpu|device/i.test(message);
}

function cudaUnavailable(deviceId: number, error: unknown): ExecutionProviderUnavailableError {
  const reason = error instanceof Error ? error.message : String(error);
  return new ExecutionProviderUnavailableError(
    'cuda',
    deviceId,
    `CUDA execution provider requested (device ${deviceId}) but onnxruntime could not start it: ${reason.trim()}. ${CUDA_INSTALL_HINT}`,
    { cause: error },
  );
}

/** Whether this onnxruntime-node install has the CUDA provider library (it may still fail without a GPU). */
export function isCudaProviderInstalled(): boolean {
  const library = CUDA_PROVIDER_LIBRARY[`${process.platform}/${process.arch}`];
  return library !== undefined && existsSync(join(bindingDirectory(), library));
}
