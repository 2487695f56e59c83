import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ApiKeyRegistry,
  ApiKeysFileError,
  generateApiKey,
  hashApiKey,
  parseApiKeysFile,
  readApiKeysFile,
  writeApiKeysFile,
  type ApiKeysFile,
} from '../src/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'dfleet-api-keys-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const hash = (n: number) => n.toString(16).padStart(64, '0');

describe('the API keys file', () => {
  it('names the entry and field of every problem', () => {
    const text = JSON.stringify({
      keys: [
        { id: 'ok', tenant: 'a', sha256: hash(1) },
        { id: 'bad id!', tenant: 'a:b', sha256: hash(2), extra: 1 },
      ],
    });
    expect(() => parseApiKeysFile(text, 'k.json')).toThrow(ApiKeysFileError);
    expect(() => parseApiKeysFile(text, 'k.json')).toThrow(
      /keys\.1\.id: must be 1 to 64 letters.*keys\.1\.tenant: must be 1 to 128 letters.*Unrecognized key: "extra"/,
    );
    expect(() => parseApiKeysFile('{', 'k.json')).toThrow(/k\.json is not valid JSON/);
  });

  it('refuses two entries with the same id or the same key', () => {
    const twice = (a: object, b: object) => JSON.stringify({ keys: [a, b] });
    expect(() =>
      parseApiKeysFile(
        twice({ id: 'x', tenant: 'a', sha256: hash(1) }, { id: 'x', tenant: 'b', sha256: hash(2) }),
        'f',
      ),
    ).toThrow(/keys\.1\.id 'x' appears twice/);
    expect(() =>
      parseApiKeysFile(
        twice({ id: 'x', tenant: 'a', sha256: hash(1) }, { id: 'y', tenant: 'b', sha256: hash(1) }),
        'f',
      ),
    ).toThrow(/keys\.1\.sha256 repeats another entry's key/);
  });

  it('round-trips through an atomic write readable only by its owner', () => {
    const path = join(dir, 'keys.json');
    const file: ApiKeysFile = {
      keys: [
        { id: 'ci', tenant: 'acme', sha256: hashApiKey(generateApiKey()), rate_limit: { requests_per_minute: 60 } },
      ],
    };
    writeApiKeysFile(path, file);
    expect(readApiKeysFile(path)).toEqual(file);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, 'utf8')).not.toMatch(/dfk_/);
  });
});

describe('ApiKeyRegistry', () => {
  const acme = generateApiKey();
  const globex = generateApiKey();
  const initech = generateApiKey();
  const file: ApiKeysFile = {
    keys: [
      { id: 'acme', tenant: 'acme', sha256: hashApiKey(acme) },
      { id: 'globex', tenant: 'globex', sha256: hashApiKey(globex), rate_limit: null },
      {
        id: 'initech',
        tenant: 'initech',
        sha256: hashApiKey(initech),
        rate_limit: { requests_per_minute: 30, burst: 3 },
      },
    ],
  };

  it('maps each key to its tenant and limit: its own, none, or the default (with ten seconds of burst)', () => {
    const registry = new ApiKeyRegistry(file, { requestsPerMinute: 120, burst: 20 });
    expect(registry.lookup(acme)).toEqual({
      keyId: 'acme',
      tenant: 'acme',
      rateLimit: { requestsPerMinute: 120, burst: 20 },
    });
    expect(registry.lookup(globex)).toEqual({ keyId: 'globex', tenant: 'globex', rateLimit: null });
    expect(registry.lookup(initech)).toEqual({
      keyId: 'initech',
      tenant: 'initech',
      rateLimit: { requestsPerMinute: 30, burst: 3 },
    });
    expect(registry.lookup(generateApiKey())).toBeNull();
    expect(registry.lookup(`${acme} `)).toBeNull();
  });

  it('drops a revoked key at once when the file is replaced', () => {
    const registry = new ApiKeyRegistry(file, null);
    registry.replace({ keys: file.keys.filter((entry) => entry.id !== 'acme') }, null);
    expect(registry.lookup(acme)).toBeNull();
    expect(registry.lookup(globex)?.tenant).toBe('globex');
  });

  it('issues distinct 256-bit keys with the dfk_ prefix', () => {
    const keys = new Set(Array.from({ length: 100 }, generateApiKey));
    expect(keys.size).toBe(100);
    for (const key of keys) expect(key).toMatch(/^dfk_[A-Za-z0-9_-]{43}$/);
  });
});
