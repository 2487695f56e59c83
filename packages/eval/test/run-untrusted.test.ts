import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import {
  loadEvalTasks,
  programFromCompletion,
  runUntrusted,
  summarizeByFamily,
  UntrustedProgramInputError,
} from '../src/index.ts';
import type { UntrustedProgram } from '../src/index.ts';

const doubles = (id: string, program: string): UntrustedProgram => ({
  id,
  program,
  entry: 'double',
  tests: [
    { args: [2], expected: 4 },
    { args: [-3], expected: -6 },
  ],
});

describe('runUntrusted verdicts', () => {
  it('passes the reference solutions of the fixture tasks and fails wrong completions', async () => {
    const tasks = await loadEvalTasks(fileURLToPath(new URL('./fixtures/tasks.jsonl', import.meta.url)));
    const programs = [
      ...tasks.map((task) => programFromCompletion(task, task.solution)),
      ...tasks.map((task) => ({ ...programFromCompletion(task, '  return 0;'), id: `${task.id}-wrong` })),
    ];
    const results = await runUntrusted(programs);
    expect(results.map((result) => result.id)).toEqual(programs.map((program) => program.id));
    expect(results.slice(0, tasks.length).every((result) => result.passed)).toBe(true);
    expect(results.slice(tasks.length).map((result) => result.error)).toEqual(tasks.map(() => 'wrong_answer'));
    const summary = summarizeByFamily(
      [...tasks, ...tasks.map((task) => ({ id: `${task.id}-wrong`, family: task.family }))],
      results,
    );
    expect(summary.passAtOne).toBe(0.5);
    expect(summary.byFamily['reduce']).toEqual({ total: 4, passed: 2, passAtOne: 0.5 });
  });

  it('names the first failing test and both values on a wrong answer', async () => {
    const [result] = await runUntrusted([doubles('half-right', 'function double(x) { return x > 0 ? x * 2 : x }')]);
    expect(result).toMatchObject({ id: 'half-right', passed: false, error: 'wrong_answer', failedTest: 1 });
    expect(result?.detail).toContain('returned -3, expected -6');
  });

  it('reports a program that does not compile as a syntax error', async () => {
    const [result] = await runUntrusted([doubles('syntax', 'function double(x) { return x +* 2 }')]);
    expect(result).toMatchObject({ passed: false, error: 'syntax' });
    expect(result?.detail).toContain('SyntaxError');
  });

  it('reports a throwing entry, a missing entry and a throwing top level as runtime errors', async () => {
    const results = await runUntrusted([
      doubles('throws', 'function double(x) { if (x < 0) throw new TypeError("negative"); return 2 * x }'),
      doubles('missing', 'function twice(x) { return 2 * x }'),
      doubles('top-level', 'null.x; function double(x) { return 2 * x }'),
    ]);
    expect(results[0]).toMatchObject({ error: 'runtime', failedTest: 1 });
    expect(results[0]?.detail).toContain('TypeError: negative');
    expect(results[1]).toMatchObject({ error: 'runtime', failedTest: 0 });
    expect(results[1]?.detail).toContain('double is not defined');
    expect(results[2]).toMatchObject({ error: 'runtime' });
    expect(results[2]?.detail).toContain('while loading the program');
  });

  it('finds entries declared with const and compares objects regardless of key order', async () => {
    const [result] = await runUntrusted([
      {
        id: 'arrow',
        program: 'const pair = (a, b) => ({ second: b, first: a });',
        entry: 'pair',
        tests: [{ args: [1, 'x'], expected: { first: 1, second: 'x' } }],
      },
    ]);
    expect(result?.passed).toBe(true);
  });

  it('fails results JSON cannot represent instead of letting them pass as null', async () => {
    const results = await runUntrusted([
      { id: 'nan', program: 'function f() { return 0 / 0 }', entry: 'f', tests: [{ args: [], expected: null }] },
      {
        id: 'hole',
        program: 'function f() { return [1, undefined] }',
        entry: 'f',
        tests: [{ args: [], expected: [1, null] }],
      },
      { id: 'undefined', program: 'function f() {}', entry: 'f', tests: [{ args: [], expected: null }] },
      {
        id: 'infinity',
        program: 'function f() { return { v: 1 / 0 } }',
        entry: 'f',
        tests: [{ args: [], expected: { v: null } }],
      },
    ]);
    expect(results.map((result) => result.error)).toEqual([
      'wrong_answer',
      'wrong_answer',
      'wrong_answer',
      'wrong_answer',
    ]);
    expect(results[0]?.detail).toContain('NaN is not a JSON value');
  });

  it('rejects an entry name that is not an identifier before running anything', async () => {
    const error: unknown = await runUntrusted([
      { id: 'x', program: '', entry: 'f); process.exit(', tests: [{ args: [], expected: 1 }] },
    ]).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(UntrustedProgramInputError);
    expect((error as UntrustedProgramInputError).index).toBe(0);
    expect((error as UntrustedProgramInputError).field).toBe('entry');
  });

  it('rejects options outside their range', async () => {
    await expect(runUntrusted([doubles('a', '')], { timeoutMs: 0 })).rejects.toThrow(UntrustedProgramInputError);
    await expect(runUntrusted([doubles('a', '')], { concurrency: 1.5 })).rejects.toThrow(/concurrency/);
  });
});
