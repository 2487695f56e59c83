import { beforeAll, describe, expect, it } from 'vitest';
import { parseCompletionRequest } from '../src/completion-request.ts';
import { InvalidRequestError } from '../src/errors.ts';
import { loadServedModel, ModelCatalog } from '../src/model-catalog.ts';
import { strategyCatalogBody } from '../src/strategy-catalog.ts';
import { FIXTURE_MODEL, FIXTURE_MODEL_DIR } from './support/test-fleet.ts';

let catalog: ModelCatalog;
beforeAll(async () => {
  catalog = new ModelCatalog([await loadServedModel(FIXTURE_MODEL_DIR)]);
});

const { default: defaultStrategy, data: strategies } = strategyCatalogBody();
const knobs = strategies.flatMap((strategy) =>
  strategy.knobs.map((knob) => ({ strategy: strategy.name, name: knob.name, knob })),
);

/** What the API makes of a request that sets one knob: its decoding strategy, or the 400's param. */
function decodeWith(strategy: string, dfleet: Record<string, unknown> = {}) {
  try {
    const request = parseCompletionRequest(
      { model: FIXTURE_MODEL, prompt: 'function add(a, b) {\n', dfleet: { strategy, ...dfleet } },
      catalog,
    );
    return { accepted: true as const, strategy: request.options.strategy as Record<string, unknown> };
  } catch (error) {
    if (!(error instanceof InvalidRequestError)) throw error;
    return { accepted: false as const, param: error.param };
  }
}

describe('the strategy catalog the playground builds its form from', () => {
  it('lists every strategy the API accepts, and names the one a request without a strategy gets', () => {
    expect(strategies.length).toBeGreaterThan(0);
    for (const { name } of strategies) expect(decodeWith(name).accepted).toBe(true);
    const unnamed = parseCompletionRequest({ model: FIXTURE_MODEL, prompt: 'x' }, catalog);
    expect(unnamed.options.strategy.name).toBe(defaultStrategy);
  });

  it.each(knobs)('announces the default the API applies to $strategy.$name', ({ strategy, knob }) => {
    const decoded = decodeWith(strategy);
    if (!decoded.accepted) throw new Error(`strategy ${strategy} alone was refused`);
    // The job carries knobs camelCased: min_threshold -> minThreshold.
    const key = knob.name.replace(/_([a-z])/g, (_match, letter: string) => letter.toUpperCase());
    if (knob.default === null) {
      // No constant default (reference steps follows max_tokens; min_threshold stays unset): none is invented.
      expect(decoded.strategy[key] === undefined || knob.name === 'steps').toBe(true);
    } else {
      expect(decoded.strategy[key]).toBe(knob.default);
    }
  });

  it.each(knobs)('announces the bounds the API enforces on $strategy.$name', ({ strategy, knob }) => {
    // A knob bounded by another is tried with the other at its own largest value.
    const bound = strategies.find((s) => s.name === strategy)?.knobs.find((other) => other.name === knob.at_most);
    const others = bound === undefined ? {} : { [bound.name]: bound.max };
    const send = (value: unknown) => decodeWith(strategy, { ...others, [knob.name]: value });
    if (knob.kind === 'enum') {
      for (const value of knob.values ?? []) expect(send(value).accepted).toBe(true);
      expect(send(`not-${knob.values?.[0]}`)).toEqual({ accepted: false, param: `dfleet.${knob.name}` });
      return;
    }
    const { min, max, min_exclusive: minExclusive, integer } = knob;
    if (min === null) throw new Error(`${knob.name} announces no minimum`);
    const step = integer ? 1 : 1e-6;
    expect(send(min).accepted).toBe(!minExclusive);
    expect(send(min - step)).toEqual({ accepted: false, param: `dfleet.${knob.name}` });
    if (max !== null) {
      expect(send(max).accepted).toBe(true);
      expect(send(max + step)).toEqual({ accepted: false, param: `dfleet.${knob.name}` });
    }
    if (integer) expect(send(min + 0.5).accepted).toBe(false);
  });

  it('names, for a knob bounded by another, the other knob as the API does', () => {
    const bounded = knobs.filter(({ knob }) => knob.at_most !== null);
    expect(bounded.length).toBeGreaterThan(0);
    for (const { strategy, knob } of bounded) {
      const above = decodeWith(strategy, { [knob.at_most as string]: 0.5, [knob.name]: 0.6 });
      expect(above).toEqual({ accepted: false, param: `dfleet.${knob.name}` });
      expect(decodeWith(strategy, { [knob.at_most as string]: 0.6, [knob.name]: 0.5 }).accepted).toBe(true);
    }
  });
});
