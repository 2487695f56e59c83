/**
 * Interleaves several async iterables in arrival order, tagging each value with its source's
 * index. Returning early (or one source throwing) returns every source still open, so each
 * source's own cleanup (a stream cancels its job) runs.
 */
export async function* mergeIndexed<T>(
  sources: readonly AsyncIterable<T>[],
): AsyncGenerator<{ index: number; value: T }> {
  const iterators = sources.map((source) => source[Symbol.asyncIterator]());
  const next = (index: number) => {
    const promise = (iterators[index] as AsyncIterator<T>).next().then((result) => ({ index, result }));
    // A source that fails after this generator stopped racing must not be an unhandled rejection.
    promise.catch(() => undefined);
    return promise;
  };
  const pending = new Map(iterators.map((_, index) => [index, next(index)]));
  try {
    while (pending.size > 0) {
      const { index, result } = await Promise.race(pending.values());
      if (result.done) {
        pending.delete(index);
        continue;
      }
      pending.set(index, next(index));
      yield { index, value: result.value };
    }
  } finally {
    // Sources that finished or threw need no return(); the others are still open.
    await Promise.allSettled([...pending.keys()].map((index) => iterators[index]?.return?.()));
  }
}
