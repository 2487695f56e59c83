// Runs every held-out task's reference solution through the sandbox and prints throughput and
// pass@1 per family. Reference solutions should all pass: anything else is a harness or data bug.
// Usage: node --import tsx packages/eval/bench/reference-solutions.ts [tasks.jsonl] [out.json]
import { writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

import { DEFAULT_MODEL_DIR } from '@dfleet/model';

import {
  describeSandbox,
  loadEvalTasks,
  programFromCompletion,
  runUntrusted,
  summarizeByFamily,
} from '../src/index.ts';

const tasksFile = process.argv[2] ?? join(DEFAULT_MODEL_DIR, 'eval', 'heldout.jsonl');
const outFile = process.argv[3];

const tasks = await loadEvalTasks(tasksFile);
const programs = tasks.map((task) => programFromCompletion(task, task.solution));
const layers = await describeSandbox();

const rows: {
  chunkSize: number;
  concurrency: number;
  seconds: number;
  programsPerSecond: number;
  passAtOne: number;
}[] = [];
let lastSummary;
for (const { chunkSize, concurrency } of [
  { chunkSize: 1, concurrency: 2 },
  { chunkSize: 50, concurrency: 1 },
  { chunkSize: 50, concurrency: 2 },
]) {
  // One process per program is slow; a slice is enough to measure it.
  const slice = chunkSize === 1 ? programs.slice(0, 60) : programs;
  const startedAt = performance.now();
  const results = await runUntrusted(slice, { chunkSize, concurrency });
  const seconds = (performance.now() - startedAt) / 1000;
  lastSummary = summarizeByFamily(tasks, results);
  rows.push({
    chunkSize,
    concurrency,
    seconds,
    programsPerSecond: slice.length / seconds,
    passAtOne: lastSummary.passAtOne,
  });
  for (const failed of results.filter((result) => !result.passed).slice(0, 5))
    console.log('FAILED', failed.id, failed.error, failed.detail);
}

console.log(
  `sandbox layers: ${JSON.stringify(layers)}; ${availableParallelism()} CPUs; ${tasks.length} tasks from ${tasksFile}`,
);
console.log('chunkSize  concurrency  programs  seconds  programs/s  pass@1');
for (const row of rows) {
  const count = row.chunkSize === 1 ? Math.min(60, programs.length) : programs.length;
  console.log(
    `${String(row.chunkSize).padStart(9)}  ${String(row.concurrency).padStart(11)}  ${String(count).padStart(8)}  ${row.seconds.toFixed(2).padStart(7)}  ${row.programsPerSecond.toFixed(1).padStart(10)}  ${row.passAtOne.toFixed(3)}`,
  );
}
console.log('by family (last run):', JSON.stringify(lastSummary?.byFamily));
if (outFile !== undefined)
  await writeFile(outFile, JSON.stringify({ tasksFile, layers, rows, summary: lastSummary }, null, 2));
