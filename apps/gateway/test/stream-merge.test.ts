import { describe, expect, it } from 'vitest';
import { mergeIndexed } from '../src/stream-merge.ts';

/** A source that yields `values` with a pause before each, and records whether it was closed early. */
function source(values: readonly string[], pauseMs: number, closed: { early: boolean }): AsyncIterable<string> {
  return (async function* () {
    let done = false;
    try {
      for (const value of values) {
        await new Promise((resolve) => setTimeout(resolve, pauseMs));
        yield value;
      }
      done = true;
    } finally {
      if (!done) closed.early = true;
    }
  })();
}

describe('mergeIndexed', () => {
  it('yields every value of every source, each tagged with its source, in arrival order', async () => {
    const none = { early: false };
    const merged = [];
    for await (const item of mergeIndexed([source(['a1', 'a2'], 5, none), source(['b1'], 1, none)])) merged.push(item);
    expect(merged[0]).toEqual({ index: 1, value: 'b1' });
    expect(merged.filter((item) => item.index === 0).map((item) => item.value)).toEqual(['a1', 'a2']);
    expect(none.early).toBe(false);
  });

  it('closes the sources still open when its consumer stops early (a stream then cancels its job)', async () => {
    const slow = { early: false };
    const fast = { early: false };
    for await (const item of mergeIndexed([source(['s1', 's2', 's3'], 20, slow), source(['f1', 'f2'], 1, fast)])) {
      expect(item).toEqual({ index: 1, value: 'f1' });
      break;
    }
    expect(slow.early).toBe(true);
    expect(fast.early).toBe(true);
  });

  it('throws a failing source’s error and closes the others', async () => {
    const other = { early: false };
    const failing = (async function* () {
      await new Promise((resolve) => setTimeout(resolve, 1));
      throw new Error('job failed');
    })();
    const consume = async () => {
      for await (const _item of mergeIndexed([source(['x1', 'x2'], 30, other), failing])) {
        // nothing arrives before the failure
      }
    };
    await expect(consume()).rejects.toThrow('job failed');
    expect(other.early).toBe(true);
  });
});
