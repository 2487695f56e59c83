import type { EvalTask } from './eval-task.ts';
import type { UntrustedProgram } from './untrusted-program.ts';

/** The program an eval task runs for one completion: prompt + completion + suffix. */
export function programFromCompletion(task: EvalTask, completion: string): UntrustedProgram {
  return { id: task.id, program: task.prompt + completion + task.suffix, entry: task.entry, tests: task.tests };
}
