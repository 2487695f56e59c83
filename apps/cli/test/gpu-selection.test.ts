import { describe, expect, it } from 'vitest';
import { chooseDevices, probeWithShippedModel, type DeviceProbe } from '../src/device-selection.ts';
import { selectGpus } from '../src/gpu-devices.ts';

describe('selectGpus', () => {
  it('takes every present GPU for "all"', () => {
    expect(selectGpus('all', [0, 1, 2])).toEqual([0, 1, 2]);
  });

  it('means one CPU worker when "all" finds no GPU', () => {
    expect(selectGpus('all', [])).toEqual([]);
  });

  it('pins the listed GPUs once each', () => {
    expect(selectGpus('0,2,2', [0, 1, 2])).toEqual([0, 2]);
  });

  it('refuses a GPU that is not present instead of falling back to CPU', () => {
    expect(() => selectGpus('3', [0, 1])).toThrow(/names GPU 3, but GPUs present: 0, 1/);
    expect(() => selectGpus('0', [])).toThrow(/no GPU was found/);
  });

  it('explains the accepted forms for a malformed list', () => {
    expect(() => selectGpus('gpu0', [0])).toThrow(/"all" or a comma-separated list/);
  });
});

/** A host where the listed devices open a session and every other one is refused with `code`. */
function hostWith(working: string[], code = 'execution_provider_unavailable'): DeviceProbe {
  return async (device) => (working.includes(device) ? undefined : { code, message: `${code} advice` });
}

describe('chooseDevices', () => {
  it('takes cuda:N on a GPU whose CUDA provider starts', async () => {
    const choice = await chooseDevices([0, 1], hostWith(['cuda:0', 'cuda:1', 'webgpu:0']));
    expect(choice.devices).toEqual(['cuda:0', 'cuda:1']);
    expect(choice.summary).toBe('starting 2 worker(s) on cuda:0, cuda:1');
  });

  it('falls back to webgpu:N per GPU when CUDA cannot start, naming why', async () => {
    const choice = await chooseDevices([0], hostWith(['webgpu:0']));
    expect(choice.devices).toEqual(['webgpu:0']);
    expect(choice.summary).toMatch(/^starting 1 worker\(s\) on webgpu:0 /);
    expect(choice.summary).toContain('(not usable: cuda:0 execution_provider_unavailable;');
  });

  it('starts one CPU worker, in one line with each reason once, when no GPU can start a session', async () => {
    const choice = await chooseDevices([0, 1], hostWith([]));
    expect(choice.devices).toEqual(['cpu']);
    expect(choice.summary.split('\n')).toHaveLength(1);
    expect(choice.summary).toMatch(/^no GPU of 2 could start a session: starting one CPU worker/);
    expect(choice.summary).toContain('cuda:0 execution_provider_unavailable, webgpu:0 execution_provider_unavailable');
    expect(choice.summary.match(/execution_provider_unavailable advice/g)).toHaveLength(1);
  });

  it('tries webgpu when nvidia-smi lists no GPU, and says so when it fails too', async () => {
    expect((await chooseDevices([], hostWith(['webgpu']))).devices).toEqual(['webgpu']);
    const none = await chooseDevices([], hostWith([], 'vulkan_loader_missing'));
    expect(none.devices).toEqual(['cpu']);
    expect(none.summary).toMatch(/^no GPU found \(nvidia-smi -L\): starting one CPU worker /);
    expect(none.summary).toContain('(not usable: webgpu vulkan_loader_missing;');
  });

  it('refuses webgpu on this CPU host through the real probe', async () => {
    const refusal = await probeWithShippedModel('webgpu:0');
    expect(refusal?.code).toMatch(/^(vulkan_loader_missing|webgpu_adapter_unavailable)$/);
    expect(await probeWithShippedModel('cpu')).toBeUndefined();
  });
});
