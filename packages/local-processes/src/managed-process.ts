import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { LocalProcessError } from './local-process-error.ts';

export interface ManagedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** The readiness line's regex match. */
  readonly ready: RegExpMatchArray;
  /**
   * Resolves with the exit code (or null when killed by a signal) once the process is gone and
   * its output is read to the end, so every line it wrote has reached `log`.
   */
  readonly exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export interface StartProcessOptions {
  name: string;
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  /** A stdout line matching this means the process is up. */
  readyPattern: RegExp;
  /** @defaultValue 120000 */
  readyTimeoutMs?: number;
  /** Where the child's stderr and other stdout lines go, prefixed with its name. */
  log?: (line: string) => void;
  /**
   * Where the child's stderr lines go instead, unprefixed (a service's JSON log lines, for a file).
   * @defaultValue `log`, prefixed with the name
   */
  stderrLine?: (line: string) => void;
}

/**
 * Starts a child process and waits for its readiness line. A child that exits first, or stays
 * silent past the timeout, is a LocalProcessError carrying its last stderr lines so the user sees why.
 */
export async function startManagedProcess(options: StartProcessOptions): Promise<ManagedProcess> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const child = spawn(options.command, options.args, { env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const recentErrors: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));

  createInterface({ input: child.stderr! }).on('line', (line) => {
    recentErrors.push(line);
    if (recentErrors.length > 20) recentErrors.shift();
    if (options.stderrLine) options.stderrLine(line);
    else log(`[${options.name}] ${line}`);
  });

  const ready = await new Promise<RegExpMatchArray>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      const why = `${options.name} did not become ready within ${options.readyTimeoutMs ?? 120_000} ms.`;
      reject(new LocalProcessError('start_timeout', `${why}\n${recentErrors.join('\n')}`));
    }, options.readyTimeoutMs ?? 120_000);
    let isReady = false;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const match = isReady ? null : line.match(options.readyPattern);
      if (match) {
        isReady = true;
        clearTimeout(timer);
        resolve(match);
      } else {
        log(`[${options.name}] ${line}`);
      }
    });
    void exited.then((code) => {
      if (isReady) return;
      clearTimeout(timer);
      const why = `${options.name} exited with code ${code} before it was ready:`;
      reject(new LocalProcessError('start_failed', `${why}\n${recentErrors.join('\n')}`));
    });
  });

  return {
    name: options.name,
    child,
    ready,
    exited,
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
