export {
  EvalPackageError,
  EvalTaskFileError,
  SandboxUnavailableError,
  UntrustedProgramInputError,
} from './errors.ts';
export type { EvalTaskFileErrorCode } from './errors.ts';
export { evalTaskSchema } from './eval-task.ts';
export type { EvalTask } from './eval-task.ts';
export { jsonEqual } from './json-equal.ts';
export { loadEvalTasks } from './load-eval-tasks.ts';
export type { LoadEvalTasksOptions } from './load-eval-tasks.ts';
export { passAtOne, summarizeByFamily } from './pass-at-one.ts';
export type { EvalSummary, PassTally } from './pass-at-one.ts';
export { programFromCompletion } from './program-from-completion.ts';
export { runUntrusted } from './run-untrusted.ts';
export { DEFAULT_RUN_UNTRUSTED_OPTIONS } from './run-untrusted-options.ts';
export type { RunUntrustedOptions } from './run-untrusted-options.ts';
export { describeSandbox } from './describe-sandbox.ts';
export type { SandboxLayers } from './sandbox-command.ts';
export type {
  JsonValue,
  ProgramTest,
  UntrustedFailureKind,
  UntrustedProgram,
  UntrustedRunResult,
} from './untrusted-program.ts';
