import { jsonEqual } from './json-equal.ts';
import type { SandboxOutcome } from './sandbox-protocol.ts';
import type { JsonValue, UntrustedProgram, UntrustedRunResult } from './untrusted-program.ts';

const MAX_SHOWN_CHARS = 120;

const clip = (text: string): string => (text.length > MAX_SHOWN_CHARS ? `${text.slice(0, MAX_SHOWN_CHARS)}…` : text);

/**
 * Turns what a sandbox process reported for one program into a verdict. Runs in the parent,
 * which alone knows the expected values.
 */
export function judgeOutcome(program: UntrustedProgram, outcome: SandboxOutcome): UntrustedRunResult {
  const { id } = program;
  if (outcome.kind !== 'outputs') {
    return { id, passed: false, error: outcome.kind, detail: outcome.detail };
  }

  const { tests, entry } = program;
  for (let index = 0; index < tests.length; index += 1) {
    const test = tests[index] as UntrustedProgram['tests'][number];
    const call = `${entry}(${clip(JSON.stringify(test.args).slice(1, -1))})`;
    const tagged = outcome.outputs[index];
    if (tagged === undefined) {
      return {
        id,
        passed: false,
        error: 'runtime',
        detail: `no result for test ${index}: the sandbox returned ${outcome.outputs.length} of ${tests.length}`,
      };
    }
    const tag = tagged.slice(0, 2);
    const body = tagged.slice(2);
    if (tag === 'e:')
      return { id, passed: false, failedTest: index, error: 'runtime', detail: `test ${index}: ${call} threw ${body}` };
    if (tag === 'm:')
      return {
        id,
        passed: false,
        failedTest: index,
        error: 'memory',
        detail: `test ${index}: ${call} hit an allocation limit: ${body}`,
      };
    if (tag === 'u:') {
      return {
        id,
        passed: false,
        failedTest: index,
        error: 'wrong_answer',
        detail: `test ${index}: ${call} returned a value JSON cannot represent (${body})`,
      };
    }

    let actual: JsonValue;
    try {
      actual = JSON.parse(body) as JsonValue;
    } catch {
      return {
        id,
        passed: false,
        failedTest: index,
        error: 'runtime',
        detail: `test ${index}: the sandbox returned malformed JSON`,
      };
    }
    if (!jsonEqual(actual, test.expected)) {
      return {
        id,
        passed: false,
        failedTest: index,
        error: 'wrong_answer',
        detail: `test ${index}: ${call} returned ${clip(body)}, expected ${clip(JSON.stringify(test.expected))}`,
      };
    }
  }
  if (outcome.outputs.length > tests.length) {
    return { id, passed: false, error: 'runtime', detail: 'the sandbox returned more results than there are tests' };
  }
  return { id, passed: true, detail: `passed ${tests.length} of ${tests.length} tests` };
}
