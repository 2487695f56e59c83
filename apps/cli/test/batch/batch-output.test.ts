import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CliError } from '../../src/cli-error.ts';
import { parseBatchInput } from '../../src/commands/batch/batch-input.ts';
import { BatchOutputFile, recordedIds, type BatchOutputRecord } from '../../src/commands/batch/batch-output.ts';
import { resumePoint } from '../../src/commands/batch/resume-point.ts';

let dir: string;
let path: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dfleet-batch-output-'));
  path = join(dir, 'out.jsonl');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const ok = (customId: string): BatchOutputRecord => ({
  id: `batch_req_${customId}`,
  custom_id: customId,
  response: { status_code: 200, request_id: 'r', body: {} },
  error: null,
});
const failed = (customId: string): BatchOutputRecord => ({
  id: `batch_req_${customId}`,
  custom_id: customId,
  response: null,
  error: { code: 'invalid_line', message: 'line 1: bad' },
});

describe('resume bookkeeping', () => {
  it('knows no line of an output file that does not exist yet', () => {
    expect(recordedIds(path).size).toBe(0);
  });

  it('reads back every appended record with whether it failed', () => {
    const output = BatchOutputFile.open(path);
    output.append(ok('a'));
    output.append(failed('b'));
    output.close();
    expect([...recordedIds(path)]).toEqual([
      ['a', { failed: false }],
      ['b', { failed: true }],
    ]);
  });

  it('counts a non-2xx response as failed, as OpenAI error files write it', () => {
    const record = { ...ok('a'), response: { status_code: 400, request_id: 'r', body: {} } };
    writeFileSync(path, `${JSON.stringify(record)}\n`);
    expect(recordedIds(path).get('a')).toEqual({ failed: true });
  });

  it('does not count a last line cut short by a crash, and cuts it off before appending', () => {
    writeFileSync(path, `${JSON.stringify(ok('a'))}\n${JSON.stringify(ok('b')).slice(0, 20)}`);
    expect([...recordedIds(path).keys()]).toEqual(['a']);
    const output = BatchOutputFile.open(path);
    output.append(ok('b'));
    output.close();
    expect(readFileSync(path, 'utf8')).toBe(`${JSON.stringify(ok('a'))}\n${JSON.stringify(ok('b'))}\n`);
  });

  it('refuses an output file that is not one (a line is not JSON), rather than appending to it', () => {
    writeFileSync(path, 'hello world\n');
    expect(() => recordedIds(path)).toThrow(CliError);
  });
});

describe('resumePoint', () => {
  const lines = parseBatchInput(
    ['a', 'b', 'c', 'd'].map((id) => JSON.stringify({ custom_id: id, prompt: id })).join('\n'),
    'in.jsonl',
  );

  it('sends every line when nothing is recorded yet', () => {
    expect(resumePoint(lines, [path])).toEqual({ pending: lines, earlier: { done: 0, failed: 0 } });
  });

  it('skips the lines recorded in the output or the errors file, failed ones included, and counts them', () => {
    const errors = join(dir, 'errors.jsonl');
    writeFileSync(path, `${JSON.stringify(ok('a'))}\n${JSON.stringify(ok('someone-else'))}\n`);
    writeFileSync(errors, `${JSON.stringify(failed('c'))}\n`);
    const point = resumePoint(lines, [path, errors]);
    expect(point.pending.map((line) => line.id)).toEqual(['b', 'd']);
    expect(point.earlier).toEqual({ done: 1, failed: 1 });
  });
});
