import { describe, expect, it } from 'vitest';
import type { GenerationResult } from '@dfleet/queue';
import type { FinishedGeneration } from '../src/completion-response.ts';
import { GenerationEventAssembler } from '../src/generation-event-assembler.ts';
import type { GenerationEvent } from '../src/generation-events.ts';
import type { JobStep } from '../src/pending-results.ts';

/** A byte-level tokenizer (one token per UTF-8 byte): a character of several bytes spans several tokens. */
const bytes = (text: string): number[] => [...new TextEncoder().encode(text)];
const decodeBytes = (ids: readonly number[]): string => new TextDecoder().decode(Uint8Array.from(ids));

/** The answer's tokens committed over steps, in the order a diffusion decode might commit them. */
function stepsCommitting(answer: number[], order: number[][], options: { attempt?: number } = {}): JobStep[] {
  const committed = new Set<number>();
  return order.map((positions, index) => {
    for (const position of positions) committed.add(position);
    let finalPrefix = 0;
    while (committed.has(finalPrefix)) finalPrefix++;
    return {
      attempt: options.attempt ?? 1,
      step: index + 1,
      nfe: index + 1,
      committedPositions: positions,
      committedTokens: positions.map((position) => answer[position] as number),
      committedLogprobs: [],
      answerLength: answer.length,
      finalPrefix,
      decodeMs: 10 * (index + 1),
      finished: index === order.length - 1,
    };
  });
}

function finishedWith(answer: number[], overrides: Partial<GenerationResult> = {}): FinishedGeneration {
  return {
    jobId: 'cmpl-test',
    job: {} as FinishedGeneration['job'],
    result: {
      text: decodeBytes(answer),
      tokenIds: answer,
      finishReason: 'eos',
      steps: 3,
      nfe: 3,
      promptTokens: 4,
      queueMs: 0,
      decodeMs: 30,
      workerId: 'w',
      tokenSteps: answer.map(() => 1),
      ...overrides,
    },
    finishedAt: 0,
  };
}

type Delta = Extract<GenerationEvent, { kind: 'delta' }>;
const deltas = (events: GenerationEvent[]): Delta[] => events.filter((event): event is Delta => event.kind === 'delta');
const sentText = (events: GenerationEvent[]) =>
  deltas(events)
    .map((delta) => delta.text)
    .join('');
const sentIds = (events: GenerationEvent[]) => deltas(events).flatMap((delta) => delta.tokenIds);

describe('GenerationEventAssembler', () => {
  it('sends only the final prefix as it grows, so the deltas concatenate to the answer exactly', () => {
    const answer = bytes('return a + b;');
    // Out of order: the end first, then the middle, then the start that makes the prefix final.
    const order = [[10, 11, 12], [4, 5, 6, 7, 8, 9], [0, 1, 2], [3]];
    const assembler = new GenerationEventAssembler(decodeBytes, { states: false });
    const events: GenerationEvent[] = [];
    const perStep = stepsCommitting(answer, order).map((step) => assembler.onStep(step));
    for (const stepEvents of perStep) events.push(...stepEvents);

    expect(perStep.map((stepEvents) => sentText(stepEvents))).toEqual(['', '', 'ret', 'urn a + b;']);
    events.push(...assembler.finish(finishedWith(answer)));
    expect(sentText(events)).toBe('return a + b;');
    expect(sentIds(events)).toEqual(answer);
    expect(events.at(-1)?.kind).toBe('done');
    expect(events.filter((event) => event.kind === 'done')).toHaveLength(1);
  });

  it('holds back a character split across tokens until its last byte is final', () => {
    const answer = bytes('a é b'); // é is two bytes: positions 2 and 3
    const assembler = new GenerationEventAssembler(decodeBytes, { states: false });
    const [first, second] = stepsCommitting(answer, [
      [0, 1, 2],
      [3, 4, 5],
    ]);

    const firstEvents = assembler.onStep(first as JobStep);
    expect(sentIds(firstEvents)).toEqual(answer.slice(0, 3));
    expect(sentText(firstEvents)).toBe('a ');
    const secondEvents = assembler.onStep(second as JobStep);
    expect(sentText(secondEvents)).toBe('é b');
    expect(sentText([...firstEvents, ...secondEvents])).not.toContain('\uFFFD');
  });

  it('sends the whole canvas after each step when states are asked for, masked positions as null', () => {
    const answer = bytes('xyz');
    const assembler = new GenerationEventAssembler(decodeBytes, { states: true });
    const states = stepsCommitting(answer, [[2], [0], [1]])
      .flatMap((step) => assembler.onStep(step))
      .filter((event) => event.kind === 'state');

    expect(states.map((state) => state.tokenIds)).toEqual([
      [null, null, answer[2]],
      [answer[0], null, answer[2]],
      answer,
    ]);
    expect(states.map((state) => state.tokenSteps)).toEqual([
      [0, 0, 1],
      [2, 0, 1],
      [2, 3, 1],
    ]);
    expect(states.map((state) => [state.step, state.finalPrefix, state.committedPositions])).toEqual([
      [1, 0, [2]],
      [2, 1, [0]],
      [3, 3, [1]],
    ]);
  });

  it('passes each token its logprobs with the delta that makes it final', () => {
    const answer = bytes('ab');
    const assembler = new GenerationEventAssembler(decodeBytes, { states: false });
    const [step] = stepsCommitting(answer, [[0, 1]]);
    const logprobs = [
      { logprob: -0.1, top: [{ id: answer[0] as number, logprob: -0.1 }] },
      { logprob: -0.2, top: [{ id: answer[1] as number, logprob: -0.2 }] },
    ];
    const [delta] = deltas(assembler.onStep({ ...(step as JobStep), committedLogprobs: logprobs }));
    expect(delta?.logprobs).toEqual(logprobs);
  });

  it('stops trusting steps after a gap and finishes from the result, without resending what was sent', () => {
    const answer = bytes('abcdef');
    const assembler = new GenerationEventAssembler(decodeBytes, { states: true });
    const [first, , third] = stepsCommitting(answer, [
      [0, 1],
      [2, 3],
      [4, 5],
    ]);
    const events = [...assembler.onStep(first as JobStep)];
    // Step 2 was lost: step 3's canvas would lack positions 2 and 3.
    events.push(...assembler.onStep(third as JobStep));

    expect(assembler.trusted).toBe(false);
    expect(sentText(events)).toBe('ab');
    events.push(...assembler.finish(finishedWith(answer)));
    expect(sentText(events)).toBe('abcdef');
    expect(sentIds(events)).toEqual(answer);
  });

  it('ignores a retried attempt, which starts again at step 1, and finishes from its result when it extends what was sent', () => {
    const answer = bytes('abcd');
    const assembler = new GenerationEventAssembler(decodeBytes, { states: false });
    const events = assembler.onStep(stepsCommitting(answer, [[0, 1]])[0] as JobStep);
    const retried = stepsCommitting(answer, [[0, 1, 2, 3]], { attempt: 2 });
    events.push(...assembler.onStep(retried[0] as JobStep));

    expect(sentText(events)).toBe('ab');
    events.push(...assembler.finish(finishedWith(answer)));
    expect(sentText(events)).toBe('abcd');
  });

  it('sends nothing more when a retried attempt decoded another answer: done alone carries it', () => {
    const assembler = new GenerationEventAssembler(decodeBytes, { states: false });
    const sent = assembler.onStep(stepsCommitting(bytes('ab'), [[0, 1]])[0] as JobStep);
    const rest = assembler.finish(finishedWith(bytes('xyz')));

    expect(sentText(sent)).toBe('ab');
    expect(rest.map((event) => event.kind)).toEqual(['done']);
  });

  it('answers a job settled with no step seen with its whole text as one delta, then done', () => {
    const answer = bytes('a é');
    const events = new GenerationEventAssembler(decodeBytes, { states: true }).finish(finishedWith(answer));
    expect(events.map((event) => event.kind)).toEqual(['delta', 'done']);
    expect(sentText(events)).toBe('a é');
    expect(sentIds(events)).toEqual(answer);
  });

  it('stops trusting a step that calls a masked position final', () => {
    const answer = bytes('abc');
    const assembler = new GenerationEventAssembler(decodeBytes, { states: false });
    const [step] = stepsCommitting(answer, [[0]]);
    expect(assembler.onStep({ ...(step as JobStep), finalPrefix: 2 })).toEqual([]);
    expect(assembler.trusted).toBe(false);
  });
});
