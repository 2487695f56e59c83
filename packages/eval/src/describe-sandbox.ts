import { DEFAULT_RUN_UNTRUSTED_OPTIONS } from './run-untrusted-options.ts';
import { buildSandboxCommand, SANDBOX_SCRIPT } from './sandbox-command.ts';
import type { SandboxLayers } from './sandbox-command.ts';

/**
 * Which isolation layers `runUntrusted` uses on this machine (probed once per process): the
 * permission flag of this Node, whether each sandbox process gets its own network namespace,
 * whether its address space is capped. Benchmarks print it next to their results.
 */
export async function describeSandbox(): Promise<SandboxLayers> {
  const { heapMb, addressSpaceMb } = DEFAULT_RUN_UNTRUSTED_OPTIONS;
  return (await buildSandboxCommand(SANDBOX_SCRIPT, { heapMb, addressSpaceMb })).layers;
}
