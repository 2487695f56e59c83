import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { EvalTaskFileError, loadEvalTasks } from '../src/index.ts';

const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

async function loadError(file: string): Promise<EvalTaskFileError> {
  const error: unknown = await loadEvalTasks(file).then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(EvalTaskFileError);
  return error as EvalTaskFileError;
}

describe('loadEvalTasks', () => {
  it('reads every task of a file and skips blank lines', async () => {
    const tasks = await loadEvalTasks(fixture('tasks.jsonl'));
    expect(tasks.map((task) => task.id)).toEqual([
      'fixture-add',
      'fixture-evens',
      'fixture-shout',
      'fixture-stats',
      'fixture-sum',
    ]);
    expect(tasks[3]?.tests[0]).toEqual({ args: [[3, 1, 2]], expected: { min: 1, max: 3 } });
  });

  it('stops after `limit` tasks without reading the rest', async () => {
    const tasks = await loadEvalTasks(fixture('bad-field.jsonl'), { limit: 2 });
    expect(tasks).toHaveLength(2);
  });

  it('names the line and the field of a task that breaks the schema', async () => {
    const error = await loadError(fixture('bad-field.jsonl'));
    expect(error.code).toBe('eval_task_invalid');
    expect(error.line).toBe(3);
    expect(error.field).toBe('tests.1.expected');
    expect(error.message).toContain(':3: field "tests.1.expected"');
  });

  it('names the line that is not JSON', async () => {
    const error = await loadError(fixture('not-json.jsonl'));
    expect(error.code).toBe('eval_task_invalid');
    expect(error.line).toBe(2);
    expect(error.field).toBeUndefined();
  });

  it('rejects an entry that is not a plain identifier, since it is spliced into code', async () => {
    const error = await loadError(fixture('bad-entry.jsonl'));
    expect(error.line).toBe(2);
    expect(error.field).toBe('entry');
  });

  it('rejects a repeated id and points at both lines', async () => {
    const error = await loadError(fixture('duplicate-id.jsonl'));
    expect(error.code).toBe('eval_task_duplicate_id');
    expect(error.line).toBe(3);
    expect(error.message).toContain('line 1');
  });

  it('says which file it could not read', async () => {
    const error = await loadError(fixture('no-such-file.jsonl'));
    expect(error.code).toBe('eval_task_file_unreadable');
    expect(error.message).toContain('no-such-file.jsonl');
  });
});
