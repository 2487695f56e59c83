import { documented } from '@dfleet/env-config';
import { z } from 'zod';
import { DEFAULT_REDIS_PREFIX } from './queue-names.ts';

const NAME_PATTERN = /^[A-Za-z0-9_.-]+$/;
const NAME_RULE = 'only letters, digits, "_", "." and "-"';

/** A redis:// or rediss:// URL, as REDIS_URL takes it. */
export const redisUrlSchema = z.url({ protocol: /^rediss?$/, error: 'must be a redis:// or rediss:// URL' });

/** The variables every process that shares the fleet's Redis reads; spread into an app's env schema. */
export const redisEnv = {
  REDIS_URL: documented(redisUrlSchema.default('redis://127.0.0.1:6379'), {
    meaning: 'Redis holding the queue, results and heartbeats (`redis://` or `rediss://`)',
  }),
  DFLEET_REDIS_PREFIX: documented(z.string().regex(NAME_PATTERN, NAME_RULE).default(DEFAULT_REDIS_PREFIX), {
    meaning: 'BullMQ key prefix; gateways and workers of one fleet share it',
  }),
};
