import type { GenerationJob } from '@dfleet/queue';

/**
 * Same model, prompt and options: a resubmission, not a different request under a reused key.
 * Whether the job streams its steps is no part of what it generates: a streaming retry of a plain
 * request (or the reverse) reaches the same job, and a stream without steps finishes from the result.
 * Compared as canonical JSON: a job read back from Redis has its keys in schema order, one built
 * here in the order the request parser wrote them.
 */
export function sameGeneration(a: GenerationJob, b: GenerationJob): boolean {
  const comparable = (job: GenerationJob) =>
    canonicalJson({
      model: job.model,
      prompt: job.prompt,
      options: { ...job.options, deadlineAt: undefined, streamSteps: undefined },
      priority: job.priority,
    });
  return comparable(a) === comparable(b);
}

/** JSON with every object's keys sorted; undefined members are left out, as JSON.stringify does. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, member: unknown) => {
    if (member === null || typeof member !== 'object' || Array.isArray(member)) return member;
    const record = member as Record<string, unknown>;
    return Object.fromEntries(
      Object.keys(record)
        .sort()
        .map((key) => [key, record[key]]),
    );
  });
}
