import { NotReadyError } from './errors.ts';

/**
 * Counts the completion requests this gateway is serving so a shutdown can refuse new ones (503,
 * so clients and load balancers go to another gateway) while the open ones finish.
 */
export class RequestDrain {
  #open = 0;
  #draining = false;
  readonly #idleWaiters = new Set<() => void>();

  get draining(): boolean {
    return this.#draining;
  }

  get open(): number {
    return this.#open;
  }

  /**
   * Registers a request; call the returned function once it is answered.
   * @throws NotReadyError (503 + Retry-After) once the drain has begun.
   */
  enter(): () => void {
    if (this.#draining) {
      throw new NotReadyError(
        'this gateway is shutting down and takes no new requests; retry, another gateway will take it',
      );
    }
    this.#open++;
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.#open--;
      if (this.#open === 0) for (const wake of this.#idleWaiters) wake();
    };
  }

  /** Refuses new requests from now on; resolves when every open request has been answered. */
  begin(): Promise<void> {
    this.#draining = true;
    if (this.#open === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        this.#idleWaiters.delete(wake);
        resolve();
      };
      this.#idleWaiters.add(wake);
    });
  }
}
