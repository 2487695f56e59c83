import { RedisConnection } from 'bullmq';

/*
 * BullMQ 5 reports a failed connection setup by emitting 'error' on the RedisConnection, from a
 * catch it chains in the constructor. A queue or worker closed while that setup is still running
 * (its version check's INFO in flight, or a connect attempt to a Redis that refuses) has removed
 * every listener by then, and an 'error' with no listener throws: the throw rejects that catch's
 * promise, which nothing handles (taskforcesh/bullmq#3546). A vitest run fails on it, and a
 * gateway closing while Redis is down logs it. A connection that is open always has its queue's
 * listener, so an error nobody listens for comes from one that was closed, and is dropped. BullMQ 6
 * makes the same check in the constructor; this goes with the move to it.
 */
const emit = RedisConnection.prototype.emit;
RedisConnection.prototype.emit = function emitUnlessClosed(
  this: RedisConnection,
  event: string | symbol,
  ...args: unknown[]
): boolean {
  if (event === 'error' && this.listenerCount('error') === 0) return false;
  return emit.call(this, event, ...args);
};
