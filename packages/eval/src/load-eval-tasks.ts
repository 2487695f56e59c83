import { readFile } from 'node:fs/promises';

import { EvalTaskFileError } from './errors.ts';
import { evalTaskSchema } from './eval-task.ts';
import type { EvalTask } from './eval-task.ts';

export interface LoadEvalTasksOptions {
  /**
   * Read at most this many tasks (the first ones in the file); lines after them are not checked.
   * @defaultValue every task in the file
   */
  readonly limit?: number;
}

/**
 * Reads a JSON-lines task file and validates every line with `evalTaskSchema`. Blank lines are
 * skipped. Throws `EvalTaskFileError` naming the line and the field at the first bad line, and
 * on a repeated id (results are matched to tasks by id).
 */
export async function loadEvalTasks(file: string, options: LoadEvalTasksOptions = {}): Promise<EvalTask[]> {
  const { limit } = options;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) {
    throw new RangeError(`limit must be a non-negative integer, got ${String(limit)}`);
  }

  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new EvalTaskFileError(
      'eval_task_file_unreadable',
      file,
      `cannot read eval task file ${file}: ${(error as Error).message}`,
      {},
      { cause: error },
    );
  }

  const tasks: EvalTask[] = [];
  const lineOfId = new Map<string, number>();
  const lines = text.split('\n');
  for (let index = 0; index < lines.length && (limit === undefined || tasks.length < limit); index += 1) {
    const line = index + 1;
    const raw = (lines[index] ?? '').trim();
    if (raw === '') continue;

    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch (error) {
      throw new EvalTaskFileError(
        'eval_task_invalid',
        file,
        `${file}:${line}: not valid JSON (${(error as Error).message})`,
        { line },
        { cause: error },
      );
    }

    const result = evalTaskSchema.safeParse(parsed);
    if (!result.success) {
      const issue = result.error.issues[0];
      const field = issue === undefined || issue.path.length === 0 ? '(task)' : issue.path.map(String).join('.');
      throw new EvalTaskFileError(
        'eval_task_invalid',
        file,
        `${file}:${line}: field "${field}": ${issue?.message ?? 'invalid task'}`,
        { line, field },
        { cause: result.error },
      );
    }

    const firstLine = lineOfId.get(result.data.id);
    if (firstLine !== undefined) {
      throw new EvalTaskFileError(
        'eval_task_duplicate_id',
        file,
        `${file}:${line}: field "id": "${result.data.id}" already used on line ${firstLine}; ids must be unique`,
        { line, field: 'id' },
      );
    }
    lineOfId.set(result.data.id, line);
    tasks.push(result.data);
  }
  return tasks;
}
