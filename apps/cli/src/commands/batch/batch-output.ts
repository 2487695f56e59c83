import { closeSync, existsSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import { CliError } from '../../cli-error.ts';

/** One output line, in OpenAI's batch output shape. A line failed exactly when `error` is not null. */
export interface BatchOutputRecord {
  id: string;
  custom_id: string;
  /** What the gateway answered; null when the line was never sent (a bad line). */
  response: { status_code: number; request_id: string; body: unknown } | null;
  error: { code: string; message: string } | null;
}

/**
 * The ids an output file already holds a record for (the lines a rerun skips), each with whether
 * it failed. A last line cut short (the process died mid-write) is not a record;
 * `BatchOutputFile.open` cuts it off.
 */
export function recordedIds(path: string): Map<string, { failed: boolean }> {
  const ids = new Map<string, { failed: boolean }>();
  if (!existsSync(path)) return ids;
  const text = readFileSync(path, 'utf8');
  for (const line of completeLines(text)) {
    try {
      const record = JSON.parse(line) as Partial<BatchOutputRecord>;
      if (typeof record.custom_id === 'string') ids.set(record.custom_id, { failed: isFailed(record) });
    } catch {
      throw new CliError(
        'bad_output_file',
        `${path} is not a batch output file (a line is not JSON); give -o a new file or the output of an earlier run`,
      );
    }
  }
  return ids;
}

/** A record failed when it has an error, or (as OpenAI's error files write it) a non-2xx response. */
export function isFailed(record: Partial<BatchOutputRecord>): boolean {
  if (record.error !== null && record.error !== undefined) return true;
  const status = record.response?.status_code;
  return typeof status !== 'number' || status < 200 || status >= 300;
}

function completeLines(text: string): string[] {
  const end = text.lastIndexOf('\n');
  return end === -1
    ? []
    : text
        .slice(0, end)
        .split('\n')
        .filter((line) => line.trim() !== '');
}

/**
 * An output file opened for appending, one whole record per write: a record is either in the file
 * or not, so Ctrl-C (or a crash) loses only lines still in flight, which a rerun sends again.
 */
export class BatchOutputFile {
  readonly #fd: number;

  private constructor(fd: number) {
    this.#fd = fd;
  }

  /** Opens (or creates) `path`, first cutting off a last line left unfinished by a crash. */
  static open(path: string): BatchOutputFile {
    let fd: number;
    try {
      if (existsSync(path)) {
        const text = readFileSync(path, 'utf8');
        const keep = Buffer.byteLength(text.slice(0, text.lastIndexOf('\n') + 1));
        if (keep < Buffer.byteLength(text)) {
          const handle = openSync(path, 'r+');
          ftruncateSync(handle, keep);
          closeSync(handle);
        }
      }
      fd = openSync(path, 'a');
    } catch (error) {
      throw new CliError('output_unwritable', `cannot write ${path}: ${(error as Error).message}`);
    }
    return new BatchOutputFile(fd);
  }

  append(record: BatchOutputRecord): void {
    writeSync(this.#fd, `${JSON.stringify(record)}\n`);
  }

  close(): void {
    closeSync(this.#fd);
  }
}
