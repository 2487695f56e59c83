import { spawn } from 'node:child_process';
import { DFLEET_BIN } from '@dfleet/test-support';

export interface DfleetRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the dfleet bin as a child process and collects what it printed. Asynchronous, so a test
 * can serve HTTP to it meanwhile; `stdin` is written and closed (closed at once when absent).
 */
export function runDfleet(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; stdin?: string } = {},
): Promise<DfleetRun> {
  const child = spawn(process.execPath, [DFLEET_BIN, ...args], { env: options.env ?? cleanEnv(), stdio: 'pipe' });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.end(options.stdin ?? '');
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** This process's environment without the dfleet variables a developer may have exported. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(DFLEET_|REDIS_URL$)/.test(name)));
  return { ...env, ...extra };
}
