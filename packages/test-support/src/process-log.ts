/** pino's numeric levels, which its JSON lines carry. */
const LEVELS = { debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;
export type LogLevelName = keyof typeof LEVELS;

/**
 * Every stderr line a process wrote, to assert on what it logged. Complete once the process's
 * `exited` resolved; before that, lines still in the pipe may be missing.
 */
export class ProcessLog {
  readonly lines: string[] = [];
  readonly sink = (line: string): void => {
    this.lines.push(line);
  };

  /** Parsed pino lines whose `msg` contains `text` (pass the exported message constant). */
  entries(text: string): Record<string, unknown>[] {
    return this.#parsed().filter((entry) => typeof entry['msg'] === 'string' && entry['msg'].includes(text));
  }

  /** Parsed pino lines at `level` or above, whatever their message. */
  entriesAtLeast(level: LogLevelName): Record<string, unknown>[] {
    return this.#parsed().filter((entry) => typeof entry['level'] === 'number' && entry['level'] >= LEVELS[level]);
  }

  #parsed(): Record<string, unknown>[] {
    const parsed: Record<string, unknown>[] = [];
    for (const line of this.lines) {
      try {
        parsed.push(JSON.parse(line.slice(line.indexOf('{'))) as Record<string, unknown>);
      } catch {
        // not a pino line (e.g. a plain message)
      }
    }
    return parsed;
  }
}
