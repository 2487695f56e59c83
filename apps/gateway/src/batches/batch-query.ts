import { z } from 'zod';
import { toInvalidRequest } from '../completion-request.ts';

const limitMessage = (max: number) => `limit must be an integer between 1 and ${max}`;

/** `?after=&limit=` of a cursor-paged list; `limit` as OpenAI bounds it for the list. */
export function pageQuery(query: unknown, defaults: { limit: number; maxLimit: number }) {
  const schema = z.object({
    after: z.string().min(1, { error: 'after must be the id of the last item of the previous page' }).optional(),
    limit: z.coerce
      .number({ error: limitMessage(defaults.maxLimit) })
      .int({ error: limitMessage(defaults.maxLimit) })
      .min(1, { error: limitMessage(defaults.maxLimit) })
      .max(defaults.maxLimit, { error: limitMessage(defaults.maxLimit) })
      .optional(),
    order: z.enum(['asc', 'desc'], { error: 'order must be asc or desc' }).optional(),
    purpose: z.string().optional(),
  });
  const parsed = schema.safeParse(query ?? {});
  if (!parsed.success) throw toInvalidRequest(parsed.error, {});
  return {
    after: parsed.data.after ?? null,
    limit: parsed.data.limit ?? defaults.limit,
    order: parsed.data.order ?? ('desc' as const),
    purpose: parsed.data.purpose ?? null,
  };
}
