import type { UntrustedFailureKind, UntrustedRunResult } from './untrusted-program.ts';

/** Passed count, total and their ratio for one group of results. */
export interface PassTally {
  readonly total: number;
  readonly passed: number;
  /** passed / total; 0 when total is 0. */
  readonly passAtOne: number;
}

export interface EvalSummary extends PassTally {
  /** Tally per task family, families sorted by name. */
  readonly byFamily: Readonly<Record<string, PassTally>>;
  /** How many results failed for each reason. */
  readonly failures: Readonly<Record<UntrustedFailureKind, number>>;
}

/**
 * pass@1 with one sample per task: the fraction of results that passed (0 for no results).
 * With one completion per task this is the unbiased estimator of Chen et al. (2021) at k = 1.
 */
export function passAtOne(results: readonly Pick<UntrustedRunResult, 'passed'>[]): number {
  return tally(results).passAtOne;
}

function tally(results: readonly Pick<UntrustedRunResult, 'passed'>[]): PassTally {
  const passed = results.filter((result) => result.passed).length;
  return { total: results.length, passed, passAtOne: results.length === 0 ? 0 : passed / results.length };
}

/**
 * pass@1 overall and per family. `tasks` maps result ids to families (an `EvalTask[]` fits);
 * a result whose id is not among the tasks is a caller mistake and throws.
 */
export function summarizeByFamily(
  tasks: readonly { readonly id: string; readonly family: string }[],
  results: readonly UntrustedRunResult[],
): EvalSummary {
  const familyOf = new Map(tasks.map((task) => [task.id, task.family]));
  const groups = new Map<string, UntrustedRunResult[]>();
  const failures: Record<UntrustedFailureKind, number> = {
    timeout: 0,
    memory: 0,
    syntax: 0,
    runtime: 0,
    wrong_answer: 0,
  };
  for (const result of results) {
    const family = familyOf.get(result.id);
    if (family === undefined)
      throw new RangeError(`result "${result.id}" matches no task; pass the tasks the results came from`);
    const group = groups.get(family) ?? [];
    group.push(result);
    groups.set(family, group);
    if (result.error !== undefined) failures[result.error] += 1;
  }
  const byFamily = Object.fromEntries(
    [...groups.keys()].sort().map((family) => [family, tally(groups.get(family) ?? [])]),
  );
  return { ...tally(results), byFamily, failures };
}
