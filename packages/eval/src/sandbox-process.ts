import { spawn } from 'node:child_process';

import type { SandboxCommand } from './sandbox-command.ts';
import { sandboxEnvironment } from './sandbox-command.ts';
import { sandboxEventSchema } from './sandbox-protocol.ts';
import type { SandboxBatch, SandboxOutcome } from './sandbox-protocol.ts';

/** Limits the parent enforces on one sandbox process, whatever the process itself does. */
export interface SandboxProcessLimits {
  /** Kill the process if it has not reported its first program within this time after spawning. */
  readonly startupTimeoutMs: number;
  /** Kill the process if one program runs this long without a `done` line. */
  readonly programKillAfterMs: number;
  /** Kill the process if one stdout line grows beyond this many bytes. */
  readonly maxLineBytes: number;
}

/**
 * How a sandbox process ended:
 * - `finished`: it evaluated the whole batch;
 * - `watchdog`: the parent killed it because a program overran `programKillAfterMs` (or startup did);
 * - `output_limit`: the parent killed it for writing an oversized line or a line that breaks the protocol;
 * - `crashed`: it exited on its own before finishing (heap exhausted, process.exit, fatal error);
 * - `lockdown_failed`: it refused to run because it could not lock itself down;
 * - `aborted`: the caller aborted the run.
 */
type SandboxEnding = 'finished' | 'watchdog' | 'output_limit' | 'crashed' | 'lockdown_failed' | 'aborted';

export interface SandboxProcessReport {
  /** Outcome of each program (by batch index) that the process finished. */
  readonly outcomes: ReadonlyMap<number, SandboxOutcome>;
  /** Batch index of the program that had started but not finished when the process ended. */
  readonly inFlight: number | undefined;
  readonly ending: SandboxEnding;
  /** True when stderr shows V8 giving up for lack of memory. */
  readonly memoryExhausted: boolean;
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Last part of stderr (for error messages; untrusted code cannot write here unless it escaped). */
  readonly stderrTail: string;
  readonly detail: string;
}

const STDERR_TAIL_CHARS = 4_000;
const EXIT_GRACE_MS = 2_000;
// V8's heap limit, or a native allocation (std::bad_alloc) refused by the address-space cap.
const OUT_OF_MEMORY = /out of memory|heap limit|allocation failed|bad_alloc/i;

/**
 * Starts one sandbox process, feeds it `batch` and follows its progress lines. The watchdog is
 * the parent's: the child's own vm timeout normally ends a runaway program first, but if it does
 * not (or the child stops reporting), the parent kills the process with SIGKILL.
 */
export function runSandboxProcess(
  command: SandboxCommand,
  batch: SandboxBatch,
  limits: SandboxProcessLimits,
  signal?: AbortSignal,
): Promise<SandboxProcessReport> {
  return new Promise((resolve) => {
    const child = spawn(command.file, command.args, { stdio: ['pipe', 'pipe', 'pipe'], env: sandboxEnvironment() });

    const outcomes = new Map<number, SandboxOutcome>();
    let inFlight: number | undefined;
    let ending: SandboxEnding | undefined;
    let detail = '';
    let stderrTail = '';
    let pending: Buffer = Buffer.alloc(0);
    let watchdog: NodeJS.Timeout | undefined;

    const kill = (why: SandboxEnding, message: string): void => {
      if (ending === undefined) {
        ending = why;
        detail = message;
      }
      child.kill('SIGKILL');
    };
    const arm = (ms: number, message: string): void => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => kill('watchdog', message), ms);
    };
    const onAbort = (): void => kill('aborted', 'the run was aborted');

    arm(limits.startupTimeoutMs, `the sandbox process did not start within ${limits.startupTimeoutMs} ms`);
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) onAbort();

    const handleLine = (line: string): void => {
      let event;
      try {
        event = sandboxEventSchema.parse(JSON.parse(line));
      } catch {
        kill('output_limit', 'the sandbox process wrote a line outside the protocol');
        return;
      }
      switch (event.event) {
        case 'start':
          inFlight = event.index;
          arm(limits.programKillAfterMs, `killed after ${limits.programKillAfterMs} ms without finishing`);
          break;
        case 'done':
          if (event.index !== inFlight) {
            kill('output_limit', 'the sandbox process reported a program it had not started');
            return;
          }
          outcomes.set(event.index, event.outcome);
          inFlight = undefined;
          arm(limits.programKillAfterMs, `killed after ${limits.programKillAfterMs} ms between programs`);
          break;
        case 'finished':
          ending ??= 'finished';
          // Nothing should keep the process alive now; if something does, it goes.
          arm(EXIT_GRACE_MS, 'the sandbox process did not exit after finishing');
          break;
        case 'lockdown_failed':
          ending ??= 'lockdown_failed';
          detail = event.detail;
          break;
      }
    };

    child.stdout.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      for (let newline = pending.indexOf(0x0a); newline !== -1; newline = pending.indexOf(0x0a)) {
        const line = pending.subarray(0, newline).toString('utf8');
        pending = pending.subarray(newline + 1);
        if (ending === undefined) handleLine(line);
      }
      if (pending.length > limits.maxLineBytes) {
        kill('output_limit', `the sandbox process wrote a line longer than ${limits.maxLineBytes} bytes`);
        pending = Buffer.alloc(0);
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderrTail = (stderrTail + chunk.toString('utf8')).slice(-STDERR_TAIL_CHARS);
    });
    // The process may die before it has read its input; the write error says nothing new.
    child.stdin.on('error', () => {});
    child.stdin.end(JSON.stringify(batch));

    child.on('error', (error) => {
      if (ending === undefined) {
        ending = 'crashed';
        detail = `could not start ${command.file}: ${error.message}`;
      }
    });
    child.on('close', (exitCode, exitSignal) => {
      clearTimeout(watchdog);
      signal?.removeEventListener('abort', onAbort);
      const memoryExhausted = OUT_OF_MEMORY.test(stderrTail);
      if (ending === undefined || (ending === 'finished' && inFlight !== undefined)) {
        ending = 'crashed';
        detail = memoryExhausted
          ? 'the sandbox process ran out of memory'
          : `the sandbox process exited (code ${String(exitCode)}, signal ${String(exitSignal)}) before finishing`;
      }
      resolve({ outcomes, inFlight, ending, memoryExhausted, exitCode, signal: exitSignal, stderrTail, detail });
    });
  });
}
