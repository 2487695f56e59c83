import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startManagedProcess } from '@dfleet/local-processes';

/**
 * Starts an app's main.ts (path relative to bench/src) as its own process, as an operator would,
 * and resolves once it prints the line matching `ready`.
 */
export async function startApp(
  entry: string,
  env: NodeJS.ProcessEnv,
  ready: RegExp,
): Promise<{ child: ChildProcess; match: RegExpMatchArray }> {
  const app = await startManagedProcess({
    name: entry,
    command: process.execPath,
    args: ['--import', 'tsx', fileURLToPath(new URL(entry, import.meta.url))],
    env: { ...process.env, ...env, LOG_LEVEL: 'warn' },
    readyPattern: ready,
  });
  return { child: app.child, match: app.ready };
}

/** SIGTERM to each started process; resolves once every one has exited. */
export async function stopApps(apps: readonly { child: ChildProcess }[]): Promise<void> {
  for (const { child } of apps) child.kill('SIGTERM');
  await Promise.all(
    apps.map(
      ({ child }) => new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve))),
    ),
  );
}
