import { describe, expect, it } from 'vitest';
import { ClassSlots } from '../src/class-slots.ts';

describe('ClassSlots', () => {
  it('starts batch jobs only in the regular slots and interactive jobs also in the extra ones', () => {
    const slots = new ClassSlots({ maxActiveJobs: 2, interactiveExtraJobs: 1 });
    expect([slots.tryStart('batch'), slots.tryStart('batch'), slots.tryStart('batch')]).toEqual([true, true, false]);
    expect([slots.tryStart('interactive'), slots.tryStart('interactive')]).toEqual([true, false]);
    expect(slots.running).toBe(3);
  });

  it("lets each class claim no more than may start beside the other class's running jobs", () => {
    const slots = new ClassSlots({ maxActiveJobs: 4, interactiveExtraJobs: 2 });
    slots.tryStart('batch');
    slots.tryStart('interactive');
    slots.tryStart('interactive');
    expect(slots.concurrencyFor('interactive')).toBe(5);
    expect(slots.concurrencyFor('batch')).toBe(2);
    slots.tryStart('interactive');
    slots.tryStart('interactive');
    expect(slots.concurrencyFor('batch')).toBe(1);
    expect(slots.isOpen('batch')).toBe(false);
  });

  it('with no extra slots, makes an interactive job wait for a free regular slot', () => {
    const slots = new ClassSlots({ maxActiveJobs: 2, interactiveExtraJobs: 0 });
    slots.tryStart('batch');
    slots.tryStart('batch');
    expect(slots.tryStart('interactive')).toBe(false);
    slots.finish('batch');
    expect(slots.tryStart('interactive')).toBe(true);
  });

  it('gives a freed regular slot to a known waiting interactive job before any batch job', () => {
    const slots = new ClassSlots({ maxActiveJobs: 2, interactiveExtraJobs: 0 });
    slots.tryStart('batch');
    slots.tryStart('batch');
    expect(slots.tryStart('interactive')).toBe(false);
    slots.finish('batch');
    expect(slots.isOpen('batch')).toBe(false);
    expect(slots.isOpen('interactive')).toBe(true);
    slots.interactiveDrained();
    expect(slots.isOpen('batch')).toBe(true);
  });

  it('never holds more than regular + extra jobs, of which at most the regular count are batch jobs', () => {
    const slots = new ClassSlots({ maxActiveJobs: 3, interactiveExtraJobs: 2 });
    const running = { interactive: 0, batch: 0 };
    let seed = 7;
    for (let step = 0; step < 2_000; step++) {
      seed = (seed * 48_271) % 2_147_483_647;
      const priority = seed % 2 === 0 ? 'interactive' : 'batch';
      if (seed % 3 === 0 && running[priority] > 0) {
        slots.finish(priority);
        running[priority] -= 1;
      } else if (slots.tryStart(priority)) {
        running[priority] += 1;
      }
      if (seed % 11 === 0) slots.interactiveDrained();
      expect(running.interactive + running.batch).toBeLessThanOrEqual(5);
      expect(running.batch).toBeLessThanOrEqual(3);
    }
  });
});
