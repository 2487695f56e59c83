import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { readableLogLine } from './readable-log-line.ts';

/** `pretty`: JSON lines to a file per service, a readable line per request on the terminal; `json`: JSON lines on the terminal. */
export type LogFormat = 'pretty' | 'json';

export const LOG_FORMATS: readonly LogFormat[] = ['pretty', 'json'];

/** Where the services of a `dfleet up` write their JSON log lines, and what reaches the terminal. */
export class ServiceLogs {
  readonly #format: LogFormat;
  readonly #dir: string;
  readonly #print: (line: string) => void;
  readonly #files: WriteStream[] = [];

  /** @param dir created if missing; each service's file is started afresh by this run */
  constructor(options: { format: LogFormat; dir: string; print: (line: string) => void }) {
    this.#format = options.format;
    this.#dir = options.dir;
    this.#print = options.print;
    if (this.#format === 'pretty') mkdirSync(this.#dir, { recursive: true });
  }

  /** Where the log goes, for the line `dfleet up` prints on start. */
  describe(files: readonly string[]): string {
    if (this.#format === 'json') return 'logs: JSON lines on this terminal (--log-format json)';
    return `logs: JSON lines in ${files.map((file) => join(this.#dir, file)).join(', ')}; requests, warnings and errors here`;
  }

  /** The sink of one service's stderr lines (a worker's stays the same across its restarts). */
  sink(service: string, file: string): (line: string) => void {
    if (this.#format === 'json') return (line) => this.#print(line);
    const stream = createWriteStream(join(this.#dir, file), { flags: 'w' });
    // A full disk must not take the fleet down: the terminal still shows what matters.
    stream.on('error', (error) => this.#print(`[${service}] cannot write ${file}: ${error.message}`));
    this.#files.push(stream);
    return (line) => {
      stream.write(`${line}\n`);
      const readable = readableLogLine(line, service);
      if (readable !== null) this.#print(readable);
    };
  }

  /** Flushes and closes the files. */
  async close(): Promise<void> {
    await Promise.all(this.#files.map((stream) => new Promise<void>((resolve) => stream.end(resolve))));
  }
}
