import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startManagedProcess, type ManagedProcess } from '@dfleet/local-processes';
import { GATEWAY_METRICS } from '@dfleet/telemetry';
import {
  ProcessLog,
  SHARED_REDIS_URL,
  deletePrefix,
  eventually,
  fleetEnv,
  getJson,
  postCompletion,
  prompt,
  uniquePrefix,
} from '@dfleet/test-support';
import { APP_BUNDLES, bundleApp, type AppBundle } from '../src/bundle-apps.ts';
import { stageApp } from '../src/stage-app.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const prefix = uniquePrefix();
const bundles: Partial<Record<keyof typeof APP_BUNDLES, AppBundle>> = {};
const started: ManagedProcess[] = [];
const log = new ProcessLog();
const stageDirs = {
  gateway: mkdtempSync(join(tmpdir(), 'dfleet-staged-gateway-')),
  worker: mkdtempSync(join(tmpdir(), 'dfleet-staged-worker-')),
};

beforeAll(async () => {
  for (const app of ['gateway', 'worker'] as const) bundles[app] = await bundleApp(app);
});

afterAll(async () => {
  for (const child of started.reverse()) await child.stop(5_000);
  await deletePrefix(prefix);
  for (const dir of Object.values(stageDirs)) rmSync(dir, { recursive: true, force: true });
});

/** `dependencies` of a package.json in the repository ('' = the root's). */
function productionDependencies(dir: string): string[] {
  const manifest = JSON.parse(readFileSync(`${ROOT}${dir}/package.json`, 'utf8')) as {
    dependencies?: Record<string, string>;
  };
  return Object.keys(manifest.dependencies ?? {});
}

/** `@grpc/grpc-js/build/x` -> `@grpc/grpc-js`, `zod/v4` -> `zod`. */
function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? specifier);
}

/** Plain `node dist/main.mjs`: no `--import tsx`, no loader, nothing from the sources at run time. */
function startCompiled(app: keyof typeof APP_BUNDLES, env: NodeJS.ProcessEnv, readyPattern: RegExp, root = ROOT) {
  return startManagedProcess({
    name: `compiled-${app}`,
    command: process.execPath,
    args: [`${root}/${APP_BUNDLES[app].outdir}/main.mjs`],
    env: { ...env, NODE_OPTIONS: '' },
    readyPattern,
    log: log.sink,
  }).then((child) => {
    started.push(child);
    return child;
  });
}

describe('npm run bundle', () => {
  it.each(['gateway', 'worker'] as const)(
    'leaves the %s only imports that the production install provides (npm ci --omit=dev), and never tsx',
    (app) => {
      const bundle = bundles[app];
      if (bundle === undefined) throw new Error(`${app} was not bundled`);
      // The workspace packages bundled, and the app itself, declare what their code imports.
      const bundledWorkspaces = new Set(
        bundle.inputs.map((input) => input.match(/^(packages|apps)\/[^/]+/)?.[0]).filter((dir) => dir !== undefined),
      );
      const provided = new Set([...bundledWorkspaces].flatMap(productionDependencies));
      const npmImports = bundle.externalImports
        .filter((specifier) => !specifier.startsWith('node:') && !builtinModules.includes(specifier))
        .map(packageName);
      expect(npmImports.length).toBeGreaterThan(0);
      expect(npmImports.filter((name) => !provided.has(name))).toEqual([]);
      expect(npmImports).not.toContain('tsx');
      expect(bundle.inputs.some((input) => input.includes('node_modules/'))).toBe(false);
    },
  );

  it('runs as plain JavaScript: the compiled gateway answers /healthz and, with the compiled worker, a completion', async () => {
    const env = fleetEnv(SHARED_REDIS_URL, prefix, { DFLEET_INTRA_OP_THREADS: '1' });
    const gateway = await startCompiled('gateway', env, /^gateway listening on (http:\/\/\S+) /);
    const httpUrl = gateway.ready[1] ?? '';
    expect((await getJson(`${httpUrl}/healthz`)).body).toEqual({ status: 'ok' });

    await startCompiled('worker', { ...env, DFLEET_WORKER_ID: 'compiled-worker' }, /^worker ready id=/);
    // The worker's inference thread is the bundle's second entry: a completion shows it started.
    const ready = await eventually('the compiled worker is live', async () => {
      const answer = await getJson(`${httpUrl}/readyz`);
      return answer.status === 200 ? answer.body : undefined;
    });
    expect(ready.workers.map((w: { id: string }) => w.id)).toEqual(['compiled-worker']);

    const completion = await postCompletion(httpUrl, { model: 'jsfunc-mdm', prompt: prompt(3), max_tokens: 32 });
    expect(completion.status, JSON.stringify(completion.body)).toBe(200);
    expect(completion.body.choices[0].text.length).toBeGreaterThan(0);
    expect(completion.body.dfleet.worker_id).toBe('compiled-worker');

    const metrics = await (await fetch(`${httpUrl}/metrics`)).text();
    expect(metrics).toContain(`${GATEWAY_METRICS.requestsWaiting.name}{priority="interactive"} 0`);

    for (const child of started.splice(0).reverse()) {
      child.child.kill('SIGTERM');
      expect(await child.exited).toBe(0);
    }
  });

  // The images' runtime stages without Docker: the staged files and a production install, nothing else.
  it('serves a completion from the staged files after npm ci --omit=dev, as the gateway and worker images do', async () => {
    for (const app of ['gateway', 'worker'] as const) {
      await stageApp(app, stageDirs[app]);
      await promisify(execFile)(
        'npm',
        ['ci', '--omit=dev', '--workspace', `@dfleet/${app}`, '--prefer-offline', '--no-audit', '--no-fund'],
        { cwd: stageDirs[app], env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' }, timeout: 300_000 },
      );
    }
    const env = { ...fleetEnv(SHARED_REDIS_URL, prefix), NODE_ENV: 'production', DFLEET_INTRA_OP_THREADS: '1' };
    const gateway = await startCompiled('gateway', env, /^gateway listening on (http:\/\/\S+) /, stageDirs.gateway);
    const httpUrl = gateway.ready[1] ?? '';
    expect((await getJson(`${httpUrl}/healthz`)).body).toEqual({ status: 'ok' });

    await startCompiled('worker', { ...env, DFLEET_WORKER_ID: 'staged-worker' }, /^worker ready id=/, stageDirs.worker);
    const completion = await postCompletion(httpUrl, { model: 'jsfunc-mdm', prompt: prompt(5), max_tokens: 32 });
    expect(completion.status, JSON.stringify(completion.body)).toBe(200);
    expect(completion.body.dfleet.worker_id).toBe('staged-worker');
  }, 600_000);
});
