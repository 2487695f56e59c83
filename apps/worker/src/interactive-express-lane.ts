import type { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { PRIORITY_VALUES } from '@dfleet/queue';
import type { Logger } from './logger.ts';

/**
 * BullMQ keeps prioritized jobs in one sorted set scored `priority * 2^32 + counter`, so every
 * job scored below this is of a class ahead of `batch` (interactive).
 */
const FIRST_BATCH_SCORE = PRIORITY_VALUES.batch * 2 ** 32;

/** A resumed lane that has not claimed a job within this is paused again (its job went elsewhere). */
const CLAIM_TIMEOUT_MS = 1_000;

export interface InteractiveExpressLaneOptions {
  readonly redis: Redis;
  /** BullMQ workers of concurrency 1 on the generation queue, created with `autorun: false`. */
  readonly lanes: readonly Worker[];
  /** True while every regular slot holds a job: only then can an interactive job be stuck. */
  readonly regularSlotsFull: () => boolean;
  /** How often a saturated worker looks for waiting interactive jobs. @defaultValue 50 */
  readonly intervalMs?: number;
  readonly logger: Logger;
}

/**
 * Extra slots for interactive jobs. BullMQ priority only orders claims: once every slot of a
 * worker holds a long batch job, an interactive job waits for one of them to finish, which under a
 * batch backlog is a whole batch job's decode. While the regular slots are full, this checks the
 * queue every `intervalMs` and, for each interactive job waiting, starts one idle lane: a
 * single-slot BullMQ worker that claims the queue's first job (an interactive one, by priority)
 * and pauses again once it has it. The step scheduler batches the extra job into the running
 * forward passes at the next step. Lanes reuse the regular processor, locks, retries and
 * shutdown, because each is an ordinary BullMQ worker.
 */
export class InteractiveExpressLane {
  readonly #options: InteractiveExpressLaneOptions;
  /** Lanes resumed to claim a job, with when. */
  readonly #claiming = new Map<Worker, number>();
  #timer: NodeJS.Timeout | undefined;
  #ticking = false;
  #stopped = false;
  #claims = 0;

  constructor(options: InteractiveExpressLaneOptions) {
    this.#options = options;
  }

  /** Interactive jobs claimed through a lane so far. */
  get claims(): number {
    return this.#claims;
  }

  start(): void {
    if (this.#stopped) return;
    this.#timer ??= setInterval(() => void this.#tick(), this.#options.intervalMs ?? 50);
    this.#timer.unref();
  }

  /** Call when a lane's processor starts a job: the lane stops claiming until that job is done. */
  onClaimed(lane: Worker): void {
    if (!this.#options.lanes.includes(lane)) return;
    this.#claiming.delete(lane);
    this.#claims += 1;
    void lane.pause(true);
  }

  /** Stops starting lanes (also one whose check is in flight) and pauses those still claiming. */
  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    for (const lane of this.#claiming.keys()) void lane.pause(true);
    this.#claiming.clear();
  }

  async #tick(): Promise<void> {
    if (this.#ticking) return;
    this.#ticking = true;
    try {
      const now = Date.now();
      for (const [lane, since] of this.#claiming) {
        if (now - since > CLAIM_TIMEOUT_MS) {
          this.#claiming.delete(lane);
          void lane.pause(true);
        }
      }
      if (!this.#options.regularSlotsFull()) return;
      const idle = this.#options.lanes.filter((lane) => !lane.isRunning() && !this.#claiming.has(lane));
      if (idle.length === 0) return;
      const prioritizedKey = (this.#options.lanes[0] as Worker).keys['prioritized'] as string;
      const waiting = await this.#options.redis.zcount(prioritizedKey, '-inf', `(${FIRST_BATCH_SCORE}`);
      if (this.#stopped) return;
      const toStart = Math.min(idle.length, waiting - this.#claiming.size);
      for (const lane of idle.slice(0, Math.max(0, toStart))) {
        this.#claiming.set(lane, now);
        lane.resume();
      }
    } catch (error) {
      this.#options.logger.warn({ err: (error as Error).message }, 'could not check for waiting interactive jobs');
    } finally {
      this.#ticking = false;
    }
  }
}
