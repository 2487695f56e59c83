import { describe, expect, it } from 'vitest';
import { redisKeySlot } from '../src/index.ts';

describe('redisKeySlot', () => {
  it('is the slot CLUSTER KEYSLOT of Redis 7.0 answers, hashing only the hash tag when there is one', () => {
    // Read from `redis-cli cluster keyslot` on a cluster-enabled redis-server 7.0.15.
    const slots = {
      '123456789': 12739,
      foo: 12182,
      bar: 5061,
      '{dfleet}:generate-interactive:wait': 8535,
      dfleet: 8535,
      '{dfleet-llada8b}': 7107,
      '{dfleet-dream7b}': 597,
      '{}x': 10595,
      'a{}{b}': 15033,
    };
    for (const [key, slot] of Object.entries(slots)) expect(redisKeySlot(key), key).toBe(slot);
  });
});
