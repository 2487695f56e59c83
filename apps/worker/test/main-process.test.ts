import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { findVulkanLoader } from '@dfleet/model';
import { listLiveWorkers } from '@dfleet/queue';
import { SHARED_REDIS_URL, WORKER_ENTRY, deletePrefix, uniquePrefix } from '@dfleet/test-support';

const prefix = uniquePrefix();
const redis = new Redis(SHARED_REDIS_URL);
const scratch: string[] = [];

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Starts the worker the way `dfleet up` does; `onReady` runs once the readiness line is out. */
function runWorker(env: Record<string, string>, onReady?: (pid: number) => void): Promise<Exit> {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER_ENTRY], {
    env: { ...process.env, REDIS_URL: SHARED_REDIS_URL, DFLEET_REDIS_PREFIX: prefix, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let ready = false;
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    if (!ready && /^worker ready /m.test(stdout)) {
      ready = true;
      onReady?.(child.pid!);
    }
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}

afterAll(async () => {
  await Promise.all(scratch.map((dir) => rm(dir, { recursive: true, force: true })));
  await redis.quit();
  await deletePrefix(prefix);
});

describe('worker process', () => {
  it('exits 1 with one clear line naming the directory when the model directory is missing', async () => {
    const missing = join(tmpdir(), `no-such-model-${randomUUID()}`);
    const exit = await runWorker({ DFLEET_MODEL_DIR: missing });
    expect(exit.code).toBe(1);
    expect(exit.stdout).toBe('');
    const lines = exit.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`cannot load the model in ${missing}`);
    expect(lines[0]).toContain('dfleet-model.json');
  });

  it('names the broken manifest field when the model directory is invalid', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dfleet-bad-model-'));
    scratch.push(dir);
    await writeFile(join(dir, 'dfleet-model.json'), JSON.stringify({ name: 'x', vocabSize: -3 }));
    const exit = await runWorker({ DFLEET_MODEL_DIR: dir });
    expect(exit.code).toBe(1);
    expect(exit.stderr.trim().split('\n')).toHaveLength(1);
    expect(exit.stderr).toContain(dir);
    expect(exit.stderr).toContain('vocabSize');
  });

  it.runIf(process.platform === 'linux' && findVulkanLoader() === undefined)(
    'exits 1 with one line naming the missing Vulkan loader when DFLEET_DEVICE=webgpu has no Vulkan',
    async () => {
      const exit = await runWorker({ DFLEET_DEVICE: 'webgpu' });
      expect(exit.code).toBe(1);
      expect(exit.stdout).toBe('');
      const lines = exit.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^worker: cannot use DFLEET_DEVICE=webgpu \(vulkan_loader_missing\): /);
      expect(lines[0]).toContain('libvulkan.so.1 is not installed');
      expect(lines[0]).toContain('apt-get install libvulkan1');
      expect(lines[0]).toContain('nvidia_icd.json');
    },
  );

  it('prints its readiness line, beats, and on SIGTERM removes its heartbeat and exits 0', async () => {
    const workerId = `proc-${randomUUID().slice(0, 8)}`;
    let beatsWhileReady: string[] = [];
    const exit = await runWorker({ DFLEET_WORKER_ID: workerId }, (pid) => {
      void listLiveWorkers(redis, prefix).then((beats) => {
        beatsWhileReady = beats.map((beat) => `${beat.workerId}@${beat.pid}`);
        process.kill(pid, 'SIGTERM');
      });
    });
    expect(exit.code).toBe(0);
    expect(exit.stdout).toMatch(new RegExp(`^worker ready id=${workerId} device=cpu model=jsfunc-mdm\\n$`));
    expect(beatsWhileReady).toEqual([expect.stringMatching(new RegExp(`^${workerId}@\\d+$`))]);
    expect(await listLiveWorkers(redis, prefix)).toEqual([]);
  });
});
