import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestFleet } from '@dfleet/test-support';

/** A line of a `dfleet batch` output file, as the test reads it. */
export interface OutputRecord {
  id: string;
  custom_id: string;
  response: { status_code: number; request_id: string; body: Record<string, unknown> } | null;
  error: { code: string; message: string } | null;
}

export function readOutput(path: string): OutputRecord[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as OutputRecord);
}

/** Writes `lines` (objects as JSON, strings as they are) one per line into `dir/name`; returns the path. */
export function writeLines(dir: string, name: string, lines: readonly (string | object)[]): string {
  const path = join(dir, name);
  writeFileSync(path, `${lines.map((line) => (typeof line === 'string' ? line : JSON.stringify(line))).join('\n')}\n`);
  return path;
}

/** Jobs in both generation queues, whatever their state: a line decoded twice would be two jobs. */
export async function jobCount(fleet: TestFleet): Promise<number> {
  let total = 0;
  for (const queue of fleet.queue.all()) {
    const counts = await queue.getJobCounts('wait', 'prioritized', 'active', 'delayed', 'completed', 'failed');
    total += Object.values(counts).reduce((sum, n) => sum + n, 0);
  }
  return total;
}

/** The answer's text: a completion's `text`, a chat completion's message content. */
export function textOf(endpoint: string, body: Record<string, unknown> | undefined): string {
  const choice = (body?.['choices'] as { text?: string; message?: { content?: string } }[] | undefined)?.[0];
  return String(endpoint === '/v1/chat/completions' ? choice?.message?.content : choice?.text);
}

/** POSTs `body` (with the shipped model) straight to `endpoint`, and returns the answer's text. */
export async function directText(httpUrl: string, endpoint: string, body: Record<string, unknown>): Promise<string> {
  const response = await fetch(`${httpUrl}${endpoint}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'jsfunc-mdm', ...body }),
  });
  if (response.status !== 200) throw new Error(`${endpoint} answered ${response.status}: ${await response.text()}`);
  return textOf(endpoint, (await response.json()) as Record<string, unknown>);
}
