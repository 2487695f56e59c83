import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hashApiKey } from '@dfleet/api-keys';
import { DFLEET_BIN as DFLEET, TestFleet, eventually, type GatewayProcess } from '@dfleet/test-support';

const dir = mkdtempSync(join(tmpdir(), 'dfleet-keys-cli-'));
const keysFile = join(dir, 'keys.json');
const fleet = new TestFleet({ env: { DFLEET_API_KEYS_FILE: keysFile } });
const env = fleet.env;
let gateway: GatewayProcess | undefined;

const dfleet = (args: string[], extraEnv: Record<string, string> = {}) =>
  spawnSync(process.execPath, [DFLEET, ...args], { env: { ...env, ...extraEnv }, encoding: 'utf8' });

afterAll(async () => {
  await fleet.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('dfleet keys', () => {
  it('issues a key that a keyed fleet accepts, lists it, and revokes it for running gateways', async () => {
    const created = dfleet(['keys', 'create', '--tenant', 'acme', '--id', 'acme-ci', '--rate-limit', '600']);
    expect(created.status).toBe(0);
    const key = created.stdout.trim();
    expect(key).toMatch(/^dfk_/);
    expect(created.stderr).toContain("created key 'acme-ci' for tenant 'acme' (rate limit: 600/min)");
    // Only the hash is on disk.
    const stored = readFileSync(keysFile, 'utf8');
    expect(stored).not.toContain(key);
    expect(JSON.parse(stored).keys[0]).toMatchObject({ id: 'acme-ci', tenant: 'acme', sha256: hashApiKey(key) });
    expect(dfleet(['keys', 'create', '--tenant', 'acme', '--id', 'acme-ci']).stderr).toContain(
      "already has a key 'acme-ci'",
    );
    expect(dfleet(['keys', 'list']).stdout).toBe('acme-ci\ttenant=acme\trate_limit=600/min\n');

    [gateway] = await Promise.all([fleet.startGateway(), fleet.startWorker('keys-worker')]);
    const prompt = '// return x plus 1\\nfunction f(x) {\\n';

    const withKey = dfleet(['generate', prompt, '--url', gateway.httpUrl], { DFLEET_API_KEY: key });
    const withoutKey = dfleet(['generate', prompt, '--url', gateway.httpUrl]);

    expect(withKey.stderr).toBe('');
    expect(withKey.stdout).toMatch(/-- \d+ tokens, \d+ steps, \d+ NFE/);
    expect(withoutKey.status).toBe(1);
    expect(withoutKey.stderr).toContain('gateway answered 401: this gateway requires an API key');

    expect(dfleet(['keys', 'revoke', 'acme-ci']).status).toBe(0);
    const url = `${gateway.httpUrl}/v1/models`;
    await eventually(
      'the revoked key to be refused',
      async () => (await fetch(url, { headers: { authorization: `Bearer ${key}` } })).status === 401,
      10_000,
    );
  }, 120_000);

  it('says which flag is wrong', () => {
    expect(dfleet(['keys', 'create']).stderr).toContain('--tenant is required');
    expect(dfleet(['keys', 'create', '--tenant', 'a', '--rate-limit', '0']).stderr).toContain(
      '--rate-limit must be a positive integer; got "0"',
    );
    expect(dfleet(['keys', 'revoke', 'nope']).stderr).toContain("no key 'nope'");
    expect(dfleet(['keys', 'list'], { DFLEET_API_KEYS_FILE: '' }).stderr).toContain(
      'name the keys file with --file FILE or DFLEET_API_KEYS_FILE',
    );
  });
});
