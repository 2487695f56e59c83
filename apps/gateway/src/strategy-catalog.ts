import {
  DEFAULT_STRATEGY,
  describeKnobRange,
  STRATEGY_CONTRACT,
  STRATEGY_KNOBS,
  STRATEGY_NAMES,
  type OwnedKnob,
  type StrategyName,
} from '@dfleet/decoder';

/** A knob as a form needs it: wire name, range, default. Absent bounds and defaults are null. */
interface KnobEntry {
  name: string;
  kind: 'number' | 'enum';
  /** The range as the API's errors phrase it: "a number greater than 0 and at most 1". */
  range: string;
  description: string;
  default: number | string | null;
  integer: boolean | null;
  min: number | null;
  min_exclusive: boolean | null;
  max: number | null;
  /** Wire name of the knob of the same strategy this one may not exceed. */
  at_most: string | null;
  values: readonly string[] | null;
}

interface StrategyEntry {
  name: StrategyName;
  description: string;
  knobs: KnobEntry[];
}

export interface StrategyCatalogBody {
  object: 'dfleet.strategy_list';
  /** The strategy of a request that names none. */
  default: StrategyName;
  data: StrategyEntry[];
}

function knobEntry({ strategy, knob }: OwnedKnob): KnobEntry {
  if (knob.kind === 'enum') {
    return {
      name: knob.wireName,
      kind: 'enum',
      range: describeKnobRange(knob),
      description: knob.description,
      default: knob.default,
      integer: null,
      min: null,
      min_exclusive: null,
      max: null,
      at_most: null,
      values: knob.values,
    };
  }
  const atMost = STRATEGY_KNOBS.find((other) => other.strategy === strategy && other.key === knob.atMost);
  return {
    name: knob.wireName,
    kind: 'number',
    range: describeKnobRange(knob),
    description: knob.description,
    default: knob.default ?? null,
    integer: knob.integer,
    min: knob.min,
    min_exclusive: knob.minExclusive,
    max: knob.max ?? null,
    at_most: atMost?.knob.wireName ?? null,
    values: null,
  };
}

/**
 * The decoder's strategy contract as JSON, so a client (the playground) builds its strategy form
 * from the table the API validates with instead of a copy of it.
 */
export function strategyCatalogBody(): StrategyCatalogBody {
  return {
    object: 'dfleet.strategy_list',
    default: DEFAULT_STRATEGY,
    data: STRATEGY_NAMES.map((name) => ({
      name,
      description: STRATEGY_CONTRACT[name].description,
      knobs: STRATEGY_KNOBS.filter((owned) => owned.strategy === name).map(knobEntry),
    })),
  };
}
