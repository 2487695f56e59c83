import type { PriorityClass } from '@dfleet/queue';

export interface ClassSlotsOptions {
  /** Regular slots, shared by both classes (DFLEET_MAX_ACTIVE_JOBS). */
  readonly maxActiveJobs: number;
  /** Slots only interactive jobs may take, once the regular ones are full (DFLEET_INTERACTIVE_EXTRA_JOBS). */
  readonly interactiveExtraJobs: number;
}

/**
 * How many jobs of each class one worker process runs at once. The rule, with M regular slots
 * and E extra ones:
 *
 * - a batch job may start while fewer than M jobs run;
 * - an interactive job may start while fewer than M + E jobs run;
 * - while the process knows interactive jobs are waiting (one it claimed had to go back, and
 *   the interactive queue has not been found empty since), batch jobs may not start, so a freed
 *   regular slot goes to an interactive job first, as one queue with priorities would do.
 *
 * So at most M + E jobs run, at most M of them batch jobs, and with E = 0 an interactive job
 * waits for a free slot. `tryStart` is the only way in, so these bounds hold exactly for running
 * jobs, whatever the BullMQ workers claimed (see ClassWorkers for what a refused claim does).
 */
export class ClassSlots {
  readonly #limits: Readonly<Record<PriorityClass, number>>;
  readonly #running: Record<PriorityClass, number> = { interactive: 0, batch: 0 };
  #interactiveWaiting = false;

  constructor(options: ClassSlotsOptions) {
    this.#limits = {
      batch: options.maxActiveJobs,
      interactive: options.maxActiveJobs + options.interactiveExtraJobs,
    };
  }

  /** Jobs running now, both classes. */
  get running(): number {
    return this.#running.interactive + this.#running.batch;
  }

  /**
   * Jobs of `priority` that may be claimed or run at once now: its limit less the other class's
   * running jobs (at least 1: BullMQ's floor; `isOpen` says whether one may start at all).
   */
  concurrencyFor(priority: PriorityClass): number {
    const other = priority === 'interactive' ? 'batch' : 'interactive';
    return Math.max(1, this.#limits[priority] - this.#running[other]);
  }

  /** Whether a job of `priority` may start now. */
  isOpen(priority: PriorityClass): boolean {
    if (priority === 'batch' && this.#interactiveWaiting) return false;
    return this.running < this.#limits[priority];
  }

  /** Takes a slot for a job of `priority`, or returns false when the rule refuses it. */
  tryStart(priority: PriorityClass): boolean {
    if (!this.isOpen(priority)) {
      if (priority === 'interactive') this.#interactiveWaiting = true;
      return false;
    }
    this.#running[priority] += 1;
    return true;
  }

  /** Frees the slot of a job that `tryStart` let in. */
  finish(priority: PriorityClass): void {
    this.#running[priority] -= 1;
  }

  /** The interactive queue had nothing left to claim: no interactive job is known to wait. */
  interactiveDrained(): void {
    this.#interactiveWaiting = false;
  }
}
