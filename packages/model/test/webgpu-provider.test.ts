import { join } from 'node:path';
import { InferenceSession } from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { ExecutionProviderUnavailableError, loadModel, parseDevice } from '../src/index.ts';
import { providerUnavailable } from '../src/execution-provider.ts';
import { findVulkanLoader } from '../src/webgpu-provider.ts';
import { MODEL_DIR } from './model-directory.ts';

const noVulkanLoader = findVulkanLoader() === undefined;

describe('the WebGPU device', () => {
  it.runIf(process.platform === 'linux' && noVulkanLoader)(
    'fails at load with vulkan_loader_missing, naming libvulkan1 and the NVIDIA ICD, on a host without Vulkan',
    async () => {
      const attempt = loadModel(MODEL_DIR, { executionProvider: 'webgpu' });
      await expect(attempt).rejects.toThrow(ExecutionProviderUnavailableError);
      await expect(attempt).rejects.toMatchObject({
        code: 'vulkan_loader_missing',
        executionProvider: 'webgpu',
        deviceId: 0,
        message: expect.stringMatching(
          /libvulkan\.so\.1 is not installed.*apt-get install libvulkan1.*nvidia_icd\.json/s,
        ),
      });
    },
  );

  it.runIf(process.platform === 'linux')(
    "turns onnxruntime's own failure to find an adapter into webgpu_adapter_unavailable",
    async () => {
      // A real session on the WebGPU provider, without our loader check in front of it.
      const session = InferenceSession.create(join(MODEL_DIR, 'model.onnx'), {
        executionProviders: ['webgpu'],
        logSeverityLevel: 4,
      });
      const failure = await session.then(
        async (opened) => {
          await opened.release();
          return undefined;
        },
        (error: unknown) => error,
      );
      if (failure === undefined) return; // this host has a working Vulkan adapter
      expect((failure as Error).message).toMatch(/No supported adapters|Failed to get a WebGPU adapter/);
      const unavailable = providerUnavailable('webgpu', 0, failure);
      expect(unavailable).toMatchObject({
        code: 'webgpu_adapter_unavailable',
        message: expect.stringMatching(/no usable Vulkan adapter \(Failed to get a WebGPU adapter.*nvidia_icd\.json/s),
      });
      expect(unavailable?.message).not.toContain('/onnxruntime_src/');
    },
  );

  it('refuses an adapter index other than 0, which onnxruntime-node cannot select', async () => {
    const attempt = loadModel(MODEL_DIR, { executionProvider: 'webgpu', deviceId: 1 });
    await expect(attempt).rejects.toMatchObject({
      code: 'webgpu_adapter_index_unsupported',
      deviceId: 1,
      message: expect.stringContaining('cannot choose a WebGPU adapter'),
    });
  });

  it('leaves model-file failures to the model error, not the device', () => {
    expect(providerUnavailable('webgpu', 0, new Error('Protobuf parsing failed'))).toBeUndefined();
    expect(providerUnavailable('cpu', 0, new Error('No supported adapters'))).toBeUndefined();
  });
});

describe('parseDevice', () => {
  it('reads every DFLEET_DEVICE form', () => {
    expect(parseDevice('cpu')).toEqual({ executionProvider: 'cpu', deviceId: 0 });
    expect(parseDevice('cuda:3')).toEqual({ executionProvider: 'cuda', deviceId: 3 });
    expect(parseDevice('webgpu')).toEqual({ executionProvider: 'webgpu', deviceId: 0 });
    expect(parseDevice('webgpu:1')).toEqual({ executionProvider: 'webgpu', deviceId: 1 });
  });

  it('rejects a bare cuda and unknown names', () => {
    expect(parseDevice('cuda')).toBeUndefined();
    expect(parseDevice('gpu0')).toBeUndefined();
    expect(parseDevice('webgpu:x')).toBeUndefined();
  });
});
