import { HEARTBEAT_TTL_MS, PRIORITY_CLASSES, type WorkerHeartbeat } from '@dfleet/queue';
import type { LatencySummary } from './latency-summary.ts';
import type { FleetStatus } from './read-fleet-status.ts';

/** The terminal the screen must fit: 80 columns, 24 lines with a handful of workers. */
export const SCREEN_WIDTH = 80;
/** Worker rows shown; the rest are counted in one line, so the screen keeps to 24 lines. */
export const MAX_WORKER_ROWS = 10;

/** Where the status was read from, for the title line and the no-worker hint. */
export interface StatusSource {
  /** The Redis as describeRedisTarget names it. */
  readonly redis: string;
  readonly prefix: string;
}

interface Column {
  readonly title: string;
  readonly width: number;
  readonly align: 'left' | 'right';
}

const WORKER_COLUMNS: readonly Column[] = [
  { title: 'ID', width: 22, align: 'left' },
  { title: 'DEVICE', width: 8, align: 'left' },
  { title: 'MODEL', width: 14, align: 'left' },
  { title: 'JOBS', width: 5, align: 'right' },
  { title: 'TOKENS/S', width: 9, align: 'right' },
  { title: 'HEARTBEAT', width: 10, align: 'right' },
];
const QUEUE_COLUMNS: readonly Column[] = [
  { title: 'QUEUES', width: 14, align: 'left' },
  { title: 'WAITING', width: 9, align: 'right' },
  { title: 'RUNNING', width: 9, align: 'right' },
];
const LATENCY_COLUMNS: readonly Column[] = [
  { title: 'LAST MINUTE', width: 14, align: 'left' },
  { title: 'JOBS', width: 9, align: 'right' },
  { title: 'P50', width: 9, align: 'right' },
  { title: 'P99', width: 9, align: 'right' },
];

/** The status screen as lines, none wider than SCREEN_WIDTH. */
export function renderStatusScreen(status: FleetStatus, source: StatusSource): string[] {
  const lines = [
    `dfleet status  ${clockOf(status.readAt)}  prefix ${source.prefix}  redis ${source.redis}`,
    '',
    ...workerLines(status.workers, status.readAt, source),
    '',
    row(
      QUEUE_COLUMNS,
      QUEUE_COLUMNS.map((column) => column.title),
    ),
    ...PRIORITY_CLASSES.map((priority) => {
      const depth = status.queues[priority];
      return row(QUEUE_COLUMNS, [`  ${priority}`, String(depth.waiting), String(depth.running)]);
    }),
    '',
    row(
      LATENCY_COLUMNS,
      LATENCY_COLUMNS.map((column) => column.title),
    ),
    latencyRow('  end-to-end', status.endToEnd),
    latencyRow('  queue time', status.queueTime),
  ];
  return lines.map(toScreenWidth);
}

/** The screen when Redis did not answer a read (during --watch; a first read fails the command instead). */
export function renderUnreachableScreen(error: string, readAt: number, source: StatusSource): string[] {
  return [
    `dfleet status  ${clockOf(readAt)}  prefix ${source.prefix}  redis ${source.redis}`,
    '',
    `Redis does not answer: ${error}`,
    'The fleet may be fine, only unseen from here: the screen is back when Redis is.',
  ].map(toScreenWidth);
}

function workerLines(workers: readonly WorkerHeartbeat[], now: number, source: StatusSource): string[] {
  if (workers.length === 0) {
    return [
      `WORKERS  none alive (no heartbeat in the last ${HEARTBEAT_TTL_MS / 1_000} s)`,
      "  Start one with 'dfleet up' or 'dfleet worker', or check that REDIS_URL and",
      `  DFLEET_REDIS_PREFIX (now '${source.prefix}') are the fleet's.`,
    ];
  }
  const shown = workers.slice(0, MAX_WORKER_ROWS);
  const hidden = workers.length - shown.length;
  return [
    `WORKERS  ${workers.length} live`,
    row(
      WORKER_COLUMNS,
      WORKER_COLUMNS.map((column, index) => (index === 0 ? `  ${column.title}` : column.title)),
    ),
    ...shown.map((beat) =>
      row(WORKER_COLUMNS, [
        `  ${beat.workerId}`,
        beat.device,
        beat.model,
        String(beat.jobsInFlight),
        beat.tokensPerSecond === undefined ? '-' : beat.tokensPerSecond.toFixed(1),
        `${(Math.max(0, now - beat.updatedAt) / 1_000).toFixed(1)} s ago`,
      ]),
    ),
    ...(hidden > 0 ? [`  ... and ${hidden} more`] : []),
  ];
}

function latencyRow(label: string, summary: LatencySummary | undefined): string {
  if (summary === undefined) return row(LATENCY_COLUMNS, [label, '0', '-', '-']);
  return row(LATENCY_COLUMNS, [label, String(summary.count), durationOf(summary.p50), durationOf(summary.p99)]);
}

/** `0.42 ms`, `231 ms`, `1.52 s`: three significant figures, in ms below a second. */
export function durationOf(ms: number): string {
  if (ms < 999.5) return `${Number(ms.toPrecision(3))} ms`;
  return `${Number((ms / 1_000).toPrecision(3))} s`;
}

/** HH:MM:SS UTC: the same on every host that reads one fleet. */
function clockOf(time: number): string {
  return `${new Date(time).toISOString().slice(11, 19)} UTC`;
}

function row(columns: readonly Column[], cells: readonly string[]): string {
  return columns
    .map((column, index) => {
      const cell = clip(cells[index] ?? '', column.width);
      return column.align === 'left' ? cell.padEnd(column.width) : cell.padStart(column.width);
    })
    .join('  ')
    .trimEnd();
}

function clip(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`;
}

function toScreenWidth(line: string): string {
  return clip(line, SCREEN_WIDTH);
}
