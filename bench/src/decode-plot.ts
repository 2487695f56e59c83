import { svgScatter } from './svg-scatter.ts';

/** The part of bench/results/decode.json the plot reads. */
export interface DecodeResults {
  model: string;
  tasks: number;
  measured_at: string;
  strategies: { name: string; knobs: Record<string, number | string>; pass_at_1: number; nfe_per_token: number }[];
}

/** pass@1 against NFE per generated token, one series per strategy, each point labelled by its knob value. */
export function decodePlotSvg(results: DecodeResults): string {
  const knobOf = new Map<string, string>();
  for (const strategy of results.strategies) knobOf.set(strategy.name, Object.keys(strategy.knobs).join(', '));
  // "threshold (threshold)" says nothing twice: name the knob only where it differs.
  const seriesName = (name: string) => {
    const knob = knobOf.get(name);
    return knob && knob !== name ? `${name} (${knob})` : name;
  };
  return svgScatter(
    results.strategies.map((s) => ({
      x: s.nfe_per_token,
      y: s.pass_at_1,
      label: Object.values(s.knobs).join(', '),
      series: seriesName(s.name),
    })),
    {
      title:
        `pass@1 vs NFE per token: ${results.model}, ${results.tasks} held-out tasks, ` +
        `${results.measured_at.slice(0, 10)}`,
      xLabel: 'forward passes (NFE) per generated token, log scale',
      yLabel: 'pass@1',
      notes: ['labels: knob value', 'better: up and to the left'],
    },
  );
}
