import { z } from 'zod';

/**
 * A numeric knob: finite, `min < v` (or `<=`), and `v <= max` when a max is given.
 * `atMost` names a knob of the same strategy this one may not exceed.
 */
export interface NumberKnob {
  readonly kind: 'number';
  /** The knob's name on the HTTP/gRPC wire (snake_case). */
  readonly wireName: string;
  readonly integer: boolean;
  readonly min: number;
  readonly minExclusive: boolean;
  readonly max?: number;
  /** Applied when a request leaves the knob out; absent = the knob stays unset. */
  readonly default?: number;
  readonly atMost?: string;
  readonly description: string;
}

export interface EnumKnob {
  readonly kind: 'enum';
  readonly wireName: string;
  readonly values: readonly [string, ...string[]];
  readonly default: string;
  readonly description: string;
}

export type StrategyKnob = NumberKnob | EnumKnob;

export interface StrategyContract {
  readonly description: string;
  readonly knobs: Readonly<Record<string, StrategyKnob>>;
}

/**
 * The decoding contract of the fleet: every strategy, its knobs, their defaults and ranges. The
 * decoder validates with it, the job schema (`decodingStrategySchema`) and the gateway's request
 * schema are derived from it; nothing restates a knob anywhere else.
 */
export const STRATEGY_CONTRACT = {
  reference: {
    description: "LLaDA's generate.py: a fixed number of steps, each commits the most confident positions",
    knobs: {
      steps: {
        kind: 'number',
        wireName: 'steps',
        integer: true,
        min: 1,
        minExclusive: false,
        // No constant default: it is maxNewTokens (one token per step, LLaDA's best setting).
        description: 'denoising steps (= NFE) over the answer, a multiple of the blocks, <= maxNewTokens',
      },
      remasking: {
        kind: 'enum',
        wireName: 'remasking',
        values: ['low_confidence', 'random'],
        default: 'low_confidence',
        description: 'which masked positions a step commits: the most confident, or uniformly random ones',
      },
    },
  },
  threshold: {
    description: "Fast-dLLM's threshold rule: commit every position with confidence >= tau, at least one",
    knobs: {
      threshold: {
        kind: 'number',
        wireName: 'threshold',
        integer: false,
        min: 0,
        minExclusive: true,
        max: 1,
        default: 0.9, // Fast-dLLM's setting
        description: 'confidence threshold tau',
      },
      minThreshold: {
        kind: 'number',
        wireName: 'min_threshold',
        integer: false,
        // tau's own range: the worker may decode with tau = this floor, and tau 0 would commit a
        // whole block in one step whatever the model says.
        min: 0,
        minExclusive: true,
        max: 1,
        atMost: 'threshold',
        // The decode only reads tau; this is the floor of the worker's load-adaptive policy.
        description: 'the floor a worker under load may lower the threshold to; unset = the worker default',
      },
    },
  },
  factor: {
    description: "Fast-dLLM's factor rule: accept the n-th most confident while c_n >= 1 - f / (n + 1)",
    knobs: {
      factor: {
        kind: 'number',
        wireName: 'factor',
        integer: false,
        min: 0,
        minExclusive: true,
        default: 1, // Fast-dLLM's default
        description: 'factor f; larger commits more per step',
      },
    },
  },
  'entropy-bounded': {
    description: 'EB-sampler: commit the least uncertain positions while sum(H) - max(H) <= gamma',
    knobs: {
      gamma: {
        kind: 'number',
        wireName: 'gamma',
        integer: false,
        min: 0,
        minExclusive: false,
        // `npm run bench:decode -- --strategies entropy-bounded`, jsfunc-mdm, 500 held-out tasks,
        // L = block = 48, full-softmax entropy, unk suppressed (2026-12-01): gamma 0.01 -> pass@1
        // 91.8% at 6.26 NFE per answer; gamma 0.1 -> 91.8% at 2.92 NFE (reference steps 48: 91.2%).
        // Same accuracy for 2.1x fewer forward passes, and the default of diffusers'
        // EntropyBoundScheduler (an EB-sampler implementation): 0.1.
        default: 0.1,
        description: 'entropy budget in nats; 0 commits several only when all but one are certain',
      },
    },
  },
} as const satisfies Record<string, StrategyContract>;

export type StrategyName = keyof typeof STRATEGY_CONTRACT;

export const STRATEGY_NAMES = Object.freeze(Object.keys(STRATEGY_CONTRACT)) as readonly [
  StrategyName,
  ...StrategyName[],
];

/** The strategy of a request that names none. */
export const DEFAULT_STRATEGY: StrategyName = 'threshold';

type KnobsOf<S extends StrategyName> = (typeof STRATEGY_CONTRACT)[S]['knobs'];

/** One knob with the strategy it belongs to and its key in the decoder's (camelCase) options. */
export interface OwnedKnob {
  readonly strategy: StrategyName;
  readonly key: string;
  readonly knob: StrategyKnob;
}

/** Every knob of every strategy, in table order. */
export const STRATEGY_KNOBS: readonly OwnedKnob[] = Object.freeze(
  STRATEGY_NAMES.flatMap((strategy) =>
    Object.entries(STRATEGY_CONTRACT[strategy].knobs as Record<string, StrategyKnob>).map(([key, knob]) => ({
      strategy,
      key,
      knob,
    })),
  ),
);

/** The wire (snake_case) names of all knobs, e.g. `'min_threshold'`. */
export type StrategyKnobWireName = {
  [S in StrategyName]: {
    [K in keyof KnobsOf<S>]: KnobsOf<S>[K] extends { wireName: infer W } ? W : never;
  }[keyof KnobsOf<S>];
}[StrategyName];

/** What the knob accepts, as a phrase: "a number greater than 0 and at most 1". */
export function describeKnobRange(knob: StrategyKnob): string {
  if (knob.kind === 'enum') return `one of ${knob.values.join(', ')}`;
  const kind = knob.integer ? 'an integer' : 'a number';
  const positive = knob.minExclusive ? knob.min === 0 : knob.integer && knob.min === 1;
  if (knob.max === undefined) {
    if (positive) return `a positive ${knob.integer ? 'integer' : 'number'}`;
    return `${kind} ${knob.minExclusive ? '>' : '>='} ${knob.min}`;
  }
  if (knob.minExclusive) return `${kind} greater than ${knob.min} and at most ${knob.max}`;
  return `${kind} between ${knob.min} and ${knob.max}`;
}

/** Whether `value` is in the knob's range (the cross-knob `atMost` rule aside). */
export function isInKnobRange(knob: StrategyKnob, value: unknown): boolean {
  if (knob.kind === 'enum') return typeof value === 'string' && knob.values.includes(value);
  if (typeof value !== 'number' || !Number.isFinite(value)) return false;
  if (knob.integer && !Number.isSafeInteger(value)) return false;
  if (knob.minExclusive ? !(value > knob.min) : !(value >= knob.min)) return false;
  return knob.max === undefined || value <= knob.max;
}

/** The knob's value schema; every failure answers `error` (default: the range phrase). */
export function numberKnobSchema(knob: NumberKnob, error = `must be ${describeKnobRange(knob)}`): z.ZodType<number> {
  return z.number({ error }).refine((value) => isInKnobRange(knob, value), { error });
}

export function enumKnobSchema(knob: EnumKnob, error = `must be ${describeKnobRange(knob)}`): z.ZodType<string> {
  return z.string({ error }).refine((value) => isInKnobRange(knob, value), { error });
}

const knob = <S extends StrategyName>(strategy: S, key: keyof KnobsOf<S>): StrategyKnob =>
  (STRATEGY_CONTRACT[strategy].knobs as Record<string, StrategyKnob>)[key as string]!;
const numberKnob = <S extends StrategyName>(strategy: S, key: keyof KnobsOf<S>): NumberKnob =>
  knob(strategy, key) as NumberKnob;
const withDefault = <S extends StrategyName>(strategy: S, key: keyof KnobsOf<S>) => {
  const { default: value } = numberKnob(strategy, key);
  if (value === undefined) throw new Error(`${strategy}.${String(key)} has no default`);
  return numberKnobSchema(numberKnob(strategy, key)).default(value);
};

const REFERENCE = STRATEGY_CONTRACT.reference.knobs;
const THRESHOLD = STRATEGY_CONTRACT.threshold.knobs;

/**
 * A strategy and its knobs as a generation job carries them (camelCase), defaults applied. A job
 * is validated with it at both ends of the queue.
 */
export const decodingStrategySchema = z.discriminatedUnion('name', [
  z.object({
    name: z.literal('reference'),
    steps: numberKnobSchema(numberKnob('reference', 'steps')).optional(),
    remasking: z.enum(REFERENCE.remasking.values).default(REFERENCE.remasking.default),
  }),
  z
    .object({
      name: z.literal('threshold'),
      threshold: withDefault('threshold', 'threshold'),
      minThreshold: numberKnobSchema(numberKnob('threshold', 'minThreshold')).optional(),
    })
    .refine((s) => s.minThreshold === undefined || s.minThreshold <= s.threshold, {
      error: `minThreshold must be at most ${THRESHOLD.minThreshold.atMost}`,
      path: ['minThreshold'],
    }),
  z.object({ name: z.literal('factor'), factor: withDefault('factor', 'factor') }),
  z.object({ name: z.literal('entropy-bounded'), gamma: withDefault('entropy-bounded', 'gamma') }),
]);
