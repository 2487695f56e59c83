export interface OpenLoopRun<T> {
  readonly results: T[];
  /** performance.now() of each send. */
  readonly sentAt: number[];
  /** How late the latest send was against its schedule. */
  readonly maxSendLagMs: number;
}

/** Fires `count` calls at a fixed rate (open loop: a slow answer does not delay the next send). */
export async function openLoop<T>(
  count: number,
  perSecond: number,
  call: (i: number) => Promise<T>,
): Promise<OpenLoopRun<T>> {
  const started = performance.now();
  const pending: Promise<T>[] = [];
  const sentAt: number[] = [];
  let maxSendLagMs = 0;
  for (let i = 0; i < count; i++) {
    const due = started + (i * 1000) / perSecond;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const now = performance.now();
    maxSendLagMs = Math.max(maxSendLagMs, now - due);
    sentAt.push(now);
    pending.push(call(i));
  }
  return { results: await Promise.all(pending), sentAt, maxSendLagMs };
}
