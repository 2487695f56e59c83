import { redisHashTag } from './redis-target.ts';

/** Redis Cluster's slot count: a key's slot is CRC16(key or its hash tag) mod this. */
const CLUSTER_SLOTS = 16_384;

/** CRC16-CCITT (XMODEM), polynomial 0x1021: the checksum Redis Cluster hashes keys with. */
function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** The Redis Cluster slot of `key`, as CLUSTER KEYSLOT answers it (its hash tag only, when it has one). */
export function redisKeySlot(key: string): number {
  return crc16(new TextEncoder().encode(redisHashTag(key) ?? key)) % CLUSTER_SLOTS;
}
