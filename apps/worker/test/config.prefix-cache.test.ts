import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadWorkerConfig } from '../src/config.ts';
import { ModelUnavailableError } from '../src/errors.ts';
import { loadServedModel } from '../src/load-served-model.ts';
import { MODEL_DIR } from './default-model.ts';

describe('worker prefix-cache settings', () => {
  it('leave the prefix cache off unless DFLEET_PREFIX_CACHE=on, with 1024 MiB by default', () => {
    expect(loadWorkerConfig({}).prefixCache).toBeNull();
    expect(loadWorkerConfig({ DFLEET_PREFIX_CACHE_MAX_MB: '64' }).prefixCache).toBeNull();
    expect(loadWorkerConfig({ DFLEET_PREFIX_CACHE: 'on' }).prefixCache).toEqual({ maxBytes: 1024 * 1024 * 1024 });
    expect(loadWorkerConfig({ DFLEET_PREFIX_CACHE: 'on', DFLEET_PREFIX_CACHE_MAX_MB: '64' }).prefixCache).toEqual({
      maxBytes: 64 * 1024 * 1024,
    });
  });

  it('name the variable that is wrong', () => {
    expect(() => loadWorkerConfig({ DFLEET_PREFIX_CACHE: 'yes' })).toThrow(/DFLEET_PREFIX_CACHE/);
    expect(() => loadWorkerConfig({ DFLEET_PREFIX_CACHE_MAX_MB: '0' })).toThrow(/DFLEET_PREFIX_CACHE_MAX_MB/);
  });

  it('fail the start with a model that has no prefix-cache form, naming DFLEET_PREFIX_CACHE and the way out', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dfleet-no-prefix-cache-'));
    try {
      await cp(MODEL_DIR, dir, { recursive: true, filter: (source) => !source.includes('/eval') });
      const manifestPath = join(dir, 'dfleet-model.json');
      const { prefixCache: _dropped, ...manifest } = JSON.parse(await readFile(manifestPath, 'utf8')) as Record<
        string,
        unknown
      >;
      await writeFile(manifestPath, JSON.stringify(manifest));
      const config = { ...loadWorkerConfig({ DFLEET_PREFIX_CACHE: 'on' }), modelDir: dir };
      const started = loadServedModel(config);
      await expect(started).rejects.toBeInstanceOf(ModelUnavailableError);
      await expect(started).rejects.toThrow(
        /DFLEET_PREFIX_CACHE=on needs the model's prefix-cache form.*DFLEET_PREFIX_CACHE=off/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
