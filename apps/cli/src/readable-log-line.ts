/** pino's numeric levels, from warn up: what a person at the terminal must see. */
const LEVEL_NAMES: Readonly<Record<number, string>> = { 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const WARN = 40;

/** Fields every line of a service carries: the terminal line shows them otherwise or not at all. */
const BASE_FIELDS = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'service', 'app', 'workerId', 'reqId']);

type LogRecord = Record<string, unknown>;

/**
 * What a person sees at the terminal for one line a service wrote on stderr: a request as
 * `12:01:02 POST /v1/completions 200 41 ms job=… tokens=23 steps=2`, a warning or an error with
 * its fields, anything that is not a JSON log line (a crash's stack trace) as it is, prefixed with
 * the service; null for the other lines (they are in the service's log file).
 */
export function readableLogLine(line: string, service: string): string | null {
  const record = parseRecord(line);
  if (record === null) return line.trim() === '' ? null : `[${service}] ${line}`;
  const level = typeof record['level'] === 'number' ? record['level'] : 0;
  if (isRequestLine(record)) return requestLine(record);
  if (level < WARN) return null;
  const fields = Object.entries(record)
    .filter(([key]) => !BASE_FIELDS.has(key))
    .map(([key, value]) => `${key}=${fieldText(value)}`);
  const name = LEVEL_NAMES[level] ?? LEVEL_NAMES[60];
  return [clock(record), name, `[${service}]`, String(record['msg'] ?? ''), ...fields].join(' ');
}

function parseRecord(line: string): LogRecord | null {
  if (!line.startsWith('{')) return null;
  try {
    const parsed: unknown = JSON.parse(line);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as LogRecord) : null;
  } catch {
    return null;
  }
}

/** The gateway's one line per request: it names its method, route, status and duration. */
function isRequestLine(record: LogRecord): boolean {
  return (
    typeof record['method'] === 'string' &&
    typeof record['route'] === 'string' &&
    typeof record['status'] === 'number' &&
    typeof record['durationMs'] === 'number'
  );
}

function requestLine(record: LogRecord): string {
  const parts = [
    clock(record),
    String(record['method']),
    String(record['route']),
    String(record['status']),
    `${Math.round(record['durationMs'] as number)} ms`,
  ];
  for (const [key, label] of [
    ['jobId', 'job'],
    ['tokens', 'tokens'],
    ['steps', 'steps'],
  ] as const) {
    if (record[key] !== undefined) parts.push(`${label}=${fieldText(record[key])}`);
  }
  return parts.join(' ');
}

/** The line's time as HH:MM:SS, local time, as people read a clock. */
function clock(record: LogRecord): string {
  const time = typeof record['time'] === 'number' ? new Date(record['time']) : new Date();
  return time.toTimeString().slice(0, 8);
}

/** A value as one token: an error by its message, text quoted when it holds spaces. */
function fieldText(value: unknown): string {
  if (typeof value === 'object' && value !== null && 'message' in value) return fieldText(value.message);
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  return JSON.stringify(value) ?? String(value);
}
