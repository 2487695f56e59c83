import { describe, expect, it } from 'vitest';
import type { PrefixCacheSupport } from '@dfleet/decoder';
import { PrefixCacheLedger } from '../src/prefix-cache-ledger.ts';

/** A ledger over a denoiser that only records which cache ids it was told to release. */
function ledger(maxBytes: number, bytesPerPosition = 1) {
  const released: number[] = [];
  const support: PrefixCacheSupport = { bytesPerPosition, release: (cacheId) => released.push(cacheId) };
  return { ledger: new PrefixCacheLedger<string>(support, maxBytes), released };
}

/** Plans and keeps a refresh of `prefix` positions, as a full pass that ran would. */
function refresh(l: PrefixCacheLedger<string>, decode: string, prefix: number): number {
  const keepLength = l.planRefreshes().keep(decode, prefix);
  l.kept(decode, keepLength);
  return keepLength;
}

describe('PrefixCacheLedger', () => {
  it('gives each decode its own cache id, in the order they joined', () => {
    const { ledger: l } = ledger(100);
    for (const decode of ['a', 'b', 'c']) l.join(decode);
    expect(['a', 'b', 'c'].map((decode) => l.instruction(decode, 0, 0).cacheId)).toEqual([0, 1, 2]);
  });

  it('reads a cache only when it holds exactly the cacheable prefix', () => {
    const { ledger: l } = ledger(100);
    l.join('a');
    expect(l.readableLength('a', 6)).toBe(0);
    refresh(l, 'a', 6);
    expect(l.readableLength('a', 6)).toBe(6);
    // The decode moved on to its next block: the cache is stale, the next pass is full.
    expect(l.readableLength('a', 10)).toBe(0);
  });

  it("counts every refresh planned in one iteration against the budget, so the later one that doesn't fit keeps nothing", () => {
    const { ledger: l } = ledger(10);
    l.join('a');
    l.join('b');
    const plan = l.planRefreshes();
    expect(plan.keep('a', 6)).toBe(6);
    expect(plan.keep('b', 6)).toBe(0);
    // Nothing is held until a pass keeps it.
    expect(l.bytes).toBe(0);
    l.kept('a', 6);
    l.kept('b', 0);
    expect(l.bytes).toBe(6);
  });

  it("lets a refresh replace the decode's own cache: only the other decodes' bytes stand in its way", () => {
    const { ledger: l } = ledger(10);
    l.join('a');
    refresh(l, 'a', 6);
    // 6 held + 10 new would pass 10, but the 6 are the ones being replaced.
    expect(refresh(l, 'a', 10)).toBe(10);
    expect(l.bytes).toBe(10);
  });

  it('frees a cache that cannot be refreshed at once, so the decodes planned after it get its bytes', () => {
    const { ledger: l, released } = ledger(10);
    l.join('a');
    l.join('b');
    refresh(l, 'a', 6);
    const plan = l.planRefreshes();
    // Its next block's prefix (12) passes the budget on its own: it runs uncached, its old cache goes.
    expect(plan.keep('a', 12)).toBe(0);
    expect(released).toEqual([0]);
    expect(l.bytes).toBe(0);
    expect(plan.keep('b', 8)).toBe(8);
  });

  it('keeps nothing for a decode with no cacheable prefix, whatever the budget', () => {
    const { ledger: l } = ledger(1_000);
    l.join('a');
    expect(refresh(l, 'a', 0)).toBe(0);
    expect(l.bytes).toBe(0);
  });

  it('counts bytes per position as the denoiser declares them', () => {
    const { ledger: l } = ledger(900, 64);
    l.join('a');
    expect(refresh(l, 'a', 15)).toBe(0);
    expect(refresh(l, 'a', 14)).toBe(14);
    expect(l.bytes).toBe(14 * 64);
  });

  it('releases the cache id of a decode that leaves, also when it held nothing here', () => {
    const { ledger: l, released } = ledger(100);
    l.join('a');
    l.join('b');
    refresh(l, 'a', 6);
    l.left('a');
    expect(l.bytes).toBe(0);
    expect(new Set(released)).toEqual(new Set([0]));
    // A refresh whose pass failed may have left a cache in the denoiser that the ledger never counted.
    l.planRefreshes().keep('b', 6);
    l.left('b');
    expect(released).toContain(1);
    expect(l.bytes).toBe(0);
  });
});
