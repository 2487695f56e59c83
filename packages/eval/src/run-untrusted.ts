import { z } from 'zod';

import { SandboxUnavailableError, UntrustedProgramInputError } from './errors.ts';
import { ENTRY_NAME_PATTERN, programTestSchema } from './eval-task.ts';
import { judgeOutcome } from './judge-outcome.ts';
import { DEFAULT_RUN_UNTRUSTED_OPTIONS } from './run-untrusted-options.ts';
import type { RunUntrustedOptions } from './run-untrusted-options.ts';
import { buildSandboxCommand, SANDBOX_SCRIPT } from './sandbox-command.ts';
import type { SandboxCommand } from './sandbox-command.ts';
import { runSandboxProcess } from './sandbox-process.ts';
import type { SandboxProcessReport } from './sandbox-process.ts';
import type { UntrustedProgram, UntrustedRunResult } from './untrusted-program.ts';

const untrustedProgramSchema = z.object({
  id: z.string(),
  program: z.string(),
  entry: z.string().regex(ENTRY_NAME_PATTERN, 'must be a JavaScript identifier'),
  tests: z.array(programTestSchema).min(1, 'needs at least one test'),
});

const positiveInteger = z.number().int().positive();
const optionsSchema = z.object({
  timeoutMs: positiveInteger,
  killGraceMs: positiveInteger,
  heapMb: z.number().int().min(16),
  addressSpaceMb: z.number().int().min(256),
  concurrency: positiveInteger,
  chunkSize: positiveInteger,
  startupTimeoutMs: positiveInteger,
  maxResultChars: positiveInteger,
  requireNetworkNamespace: z.boolean(),
});

type ResolvedOptions = z.infer<typeof optionsSchema>;

/** A set of programs (indices into the caller's array) that one sandbox process evaluates. */
interface Job {
  readonly indices: readonly number[];
  /** How many sandbox processes already died on this job before evaluating anything. */
  readonly startupFailures: number;
}

/**
 * Runs generated programs as untrusted code and judges each against its tests.
 *
 * Programs are split into chunks; each chunk runs in a fresh, locked-down Node process (see
 * README "What the sandbox guarantees"), each program in a fresh vm context with the per-program
 * timeout. At most `concurrency` processes run at once. When a process dies or is killed, the
 * program it was running is blamed only if it was the first one that process evaluated;
 * otherwise it is run again alone, and the programs the process never reached go to a new
 * process, so one bad program cannot fail the others.
 *
 * Resolves with one result per program, in input order. Rejects with UntrustedProgramInputError
 * for invalid input and SandboxUnavailableError when the sandbox cannot run on this machine.
 */
export async function runUntrusted(
  programs: readonly UntrustedProgram[],
  options: RunUntrustedOptions = {},
): Promise<UntrustedRunResult[]> {
  const resolved = resolveOptions(options);
  validatePrograms(programs);
  if (programs.length === 0) return [];

  const command = await buildSandboxCommand(SANDBOX_SCRIPT, {
    heapMb: resolved.heapMb,
    addressSpaceMb: resolved.addressSpaceMb,
  });
  if (resolved.requireNetworkNamespace && !command.layers.networkNamespace) {
    throw new SandboxUnavailableError(
      'requireNetworkNamespace is set but `unshare --net` does not work here (it needs root or unprivileged user namespaces); ' +
        'run where it does, or unset requireNetworkNamespace to rely on the in-process layers alone.',
    );
  }

  const results: (UntrustedRunResult | undefined)[] = new Array<UntrustedRunResult | undefined>(programs.length);
  const queue: Job[] = [];
  for (let start = 0; start < programs.length; start += resolved.chunkSize) {
    const end = Math.min(programs.length, start + resolved.chunkSize);
    queue.push({ indices: Array.from({ length: end - start }, (_, offset) => start + offset), startupFailures: 0 });
  }

  // Kills every running sandbox process when the caller aborts or one job fails for good.
  const stop = new AbortController();
  const onCallerAbort = (): void => stop.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onCallerAbort, { once: true });
  if (options.signal?.aborted) onCallerAbort();

  const running = new Set<Promise<void>>();
  let failure: unknown;
  const launch = (): void => {
    while (failure === undefined && running.size < resolved.concurrency && queue.length > 0) {
      const job = queue.shift() as Job;
      const task: Promise<void> = runJob(job, programs, command, resolved, results, queue, stop.signal)
        .catch((error: unknown) => {
          failure ??= error;
          stop.abort(error);
        })
        .finally(() => running.delete(task));
      running.add(task);
    }
  };
  try {
    launch();
    while (running.size > 0) {
      await Promise.race(running);
      launch();
    }
  } finally {
    options.signal?.removeEventListener('abort', onCallerAbort);
  }
  if (failure !== undefined) throw failure;
  if (stop.signal.aborted) throw stop.signal.reason;

  return results.map((result, index) => {
    if (result === undefined) throw new Error(`internal error: program ${index} got no result`);
    return result;
  });
}

async function runJob(
  job: Job,
  programs: readonly UntrustedProgram[],
  command: SandboxCommand,
  options: ResolvedOptions,
  results: (UntrustedRunResult | undefined)[],
  queue: Job[],
  signal: AbortSignal,
): Promise<void> {
  const batch = {
    timeoutMs: options.timeoutMs,
    maxResultChars: options.maxResultChars,
    programs: job.indices.map((index) => {
      const program = programs[index] as UntrustedProgram;
      return {
        program: program.program,
        entry: program.entry,
        argsJson: JSON.stringify(program.tests.map((test) => test.args)),
      };
    }),
  };
  const report = await runSandboxProcess(
    command,
    batch,
    {
      startupTimeoutMs: options.startupTimeoutMs,
      programKillAfterMs: options.timeoutMs + options.killGraceMs,
      // Results are capped at maxResultChars per test; JSON escaping can at most sextuple them.
      maxLineBytes:
        1024 * 1024 +
        6 *
          options.maxResultChars *
          Math.max(...job.indices.map((index) => (programs[index] as UntrustedProgram).tests.length)),
    },
    signal,
  );
  if (report.ending === 'aborted') return;
  if (report.ending === 'lockdown_failed') {
    throw new SandboxUnavailableError(`the sandbox process refused to run: ${report.detail}`);
  }

  for (const [batchIndex, outcome] of report.outcomes) {
    const index = job.indices[batchIndex];
    if (index !== undefined) results[index] = judgeOutcome(programs[index] as UntrustedProgram, outcome);
  }
  if (report.ending === 'finished' && report.outcomes.size === job.indices.length) return;

  if (report.inFlight === undefined && report.outcomes.size === 0) {
    // Died before evaluating anything: the machine, not a program, is the likely cause.
    if (job.startupFailures >= 1) {
      throw new SandboxUnavailableError(
        `sandbox processes die before evaluating anything (${report.detail}); stderr: ${report.stderrTail.trim().slice(-500) || '(empty)'}. ` +
          'If it mentions memory, raise addressSpaceMb.',
      );
    }
    queue.push({ indices: job.indices, startupFailures: job.startupFailures + 1 });
    return;
  }

  const unfinished = job.indices.filter((index) => results[index] === undefined);
  const suspect = report.inFlight === undefined ? undefined : job.indices[report.inFlight];
  if (suspect !== undefined) {
    if (report.inFlight === 0) {
      // Nothing else ran in that process: the failure is this program's.
      results[suspect] = failureOf(programs[suspect] as UntrustedProgram, report, options);
    } else {
      queue.push({ indices: [suspect], startupFailures: 0 });
    }
  }
  const notReached = unfinished.filter((index) => index !== suspect);
  if (notReached.length > 0) queue.push({ indices: notReached, startupFailures: 0 });
}

function failureOf(
  program: UntrustedProgram,
  report: SandboxProcessReport,
  options: ResolvedOptions,
): UntrustedRunResult {
  const { id } = program;
  if (report.ending === 'watchdog') {
    return {
      id,
      passed: false,
      error: 'timeout',
      detail: `${report.detail} (timeout ${options.timeoutMs} ms; the parent killed the sandbox process)`,
    };
  }
  if (report.memoryExhausted) {
    return {
      id,
      passed: false,
      error: 'memory',
      detail: `the sandbox process ran out of memory (heap cap ${options.heapMb} MiB, address space cap ${options.addressSpaceMb} MiB)`,
    };
  }
  return { id, passed: false, error: 'runtime', detail: report.detail };
}

function resolveOptions(options: RunUntrustedOptions): ResolvedOptions {
  const { signal: _signal, ...limits } = options;
  const merged = { ...DEFAULT_RUN_UNTRUSTED_OPTIONS, ...definedOnly(limits) };
  const parsed = optionsSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.map(String).join('.') ?? '(options)';
    throw new UntrustedProgramInputError(`runUntrusted option "${field}": ${issue?.message ?? 'invalid'}`, field);
  }
  return parsed.data;
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, item]) => item !== undefined)) as Partial<T>;
}

function validatePrograms(programs: readonly UntrustedProgram[]): void {
  const seen = new Set<string>();
  programs.forEach((program, index) => {
    const parsed = untrustedProgramSchema.safeParse(program);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = issue?.path.map(String).join('.') ?? '(program)';
      throw new UntrustedProgramInputError(`programs[${index}].${field}: ${issue?.message ?? 'invalid'}`, field, index);
    }
    if (seen.has(program.id)) {
      throw new UntrustedProgramInputError(
        `programs[${index}].id: "${program.id}" appears twice; ids must be unique`,
        'id',
        index,
      );
    }
    seen.add(program.id);
  });
}
