import type { DecodeSession } from '@dfleet/decoder';
import type { BatchReport } from '@dfleet/scheduler';

/** The rows of the forward passes one decode took part in. */
export interface BatchRows {
  readonly passes: number;
  readonly min: number;
  readonly max: number;
  readonly mean: number;
}

/**
 * Watches the scheduler's passes and keeps, per decode session, the batch sizes it ran in: the
 * decode span's `dfleet.batch_rows.*`. Three numbers, not a per-pass array, so a long decode's
 * span stays small. Sessions are weak keys: a decode forgotten by the processor is forgotten here.
 */
export class BatchRowsObserver {
  readonly #rows = new WeakMap<DecodeSession, { passes: number; min: number; max: number; sum: number }>();

  observe(report: BatchReport): void {
    const rows = report.sessions.length;
    for (const session of report.sessions) {
      const seen = this.#rows.get(session);
      if (seen === undefined) this.#rows.set(session, { passes: 1, min: rows, max: rows, sum: rows });
      else {
        seen.passes++;
        seen.min = Math.min(seen.min, rows);
        seen.max = Math.max(seen.max, rows);
        seen.sum += rows;
      }
    }
  }

  /** Undefined for a session that took part in no pass (cancelled before its first step). */
  of(session: DecodeSession): BatchRows | undefined {
    const seen = this.#rows.get(session);
    if (seen === undefined) return undefined;
    return { passes: seen.passes, min: seen.min, max: seen.max, mean: seen.sum / seen.passes };
  }
}
