import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { SHARED_REDIS_URL, deletePrefix, getJson, uniquePrefix } from '@dfleet/test-support';
import { FIXTURE_MODEL, FIXTURE_MODEL_DIR } from './support/test-fleet.ts';

const GATEWAY_DIR = fileURLToPath(new URL('..', import.meta.url));
const READINESS_LINE =
  /^gateway listening on (http:\/\/127\.0\.0\.1:\d+) grpc=127\.0\.0\.1:\d+ callback=127\.0\.0\.1:\d+$/m;

const prefix = uniquePrefix();
afterAll(() => deletePrefix(prefix));

function startGatewayProcess(env: Record<string, string>) {
  return spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: GATEWAY_DIR,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

describe('gateway process (src/main.ts)', () => {
  it('prints the readiness line on stdout, serves, and exits 0 on SIGTERM', async () => {
    const child = startGatewayProcess({
      REDIS_URL: SHARED_REDIS_URL,
      DFLEET_REDIS_PREFIX: prefix,
      DFLEET_MODEL_DIR: FIXTURE_MODEL_DIR,
      DFLEET_PORT: '0',
      DFLEET_GRPC_PORT: '0',
      DFLEET_CALLBACK_PORT: '0',
      LOG_LEVEL: 'warn',
    });
    try {
      let stdout = '';
      child.stdout.setEncoding('utf8');
      const match = await new Promise<RegExpMatchArray>((resolve, reject) => {
        child.stdout.on('data', (chunk: string) => {
          stdout += chunk;
          const found = stdout.match(READINESS_LINE);
          if (found) resolve(found);
        });
        child.once('exit', (code) => reject(new Error(`gateway exited with ${code} before it was ready: ${stdout}`)));
      });
      const httpUrl = match[1] ?? '';

      const models = await getJson(`${httpUrl}/v1/models`);
      expect(models.body.data[0].id).toBe(FIXTURE_MODEL);
      // stdout carries the readiness line and nothing else; logs go to stderr.
      expect(stdout.trim().split('\n')).toHaveLength(1);

      child.kill('SIGTERM');
      const [code] = await once(child, 'exit');
      expect(code).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
