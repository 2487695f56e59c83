import type { DecodeSession, StepReport } from '@dfleet/decoder';

/** Why a decode left the batch before its session finished by itself. */
export type StopReason = 'cancelled' | 'deadline';

/** How a submitted decode ended. After `stopped`, the session was cancelled (`finished` is true). */
export type DecodeOutcome = { status: 'finished' } | { status: 'stopped'; reason: StopReason; signalReason: unknown };

export interface ScheduledDecode {
  readonly session: DecodeSession;
  /** Aborting stops the decode before its next step (outcome `stopped`, reason `cancelled`). */
  readonly signal?: AbortSignal;
  /** Epoch ms; a decode still running at its next step after this stops with reason `deadline`. */
  readonly deadlineAt?: number;
  /** Called after each of this decode's steps, on the scheduler's loop; must be quick and not throw. */
  readonly onStep?: (report: StepReport) => void;
}
