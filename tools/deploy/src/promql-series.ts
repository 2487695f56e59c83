import { parser } from '@prometheus-io/lezer-promql';

/**
 * Grafana's interval variables, as a Prometheus duration: a dashboard's expressions become plain
 * PromQL once they are replaced (the value does not matter to the series a query reads).
 */
const GRAFANA_INTERVALS = /\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}/g;

/**
 * The metric names a PromQL expression selects, read from Prometheus' own grammar (the lezer
 * parser Prometheus' UI uses): the identifier of every vector selector, so label names, function
 * names and `by (...)` clauses are never mistaken for series.
 * @throws Error naming the expression and the position where it does not parse.
 */
export function seriesSelectedBy(expression: string): string[] {
  const promql = expression.replace(GRAFANA_INTERVALS, '5m');
  const names: string[] = [];
  let errorAt: number | null = null;
  parser.parse(promql).iterate({
    enter(node) {
      if (node.type.isError && errorAt === null) errorAt = node.from;
      if (node.name === 'Identifier' && node.node.parent?.name === 'VectorSelector') {
        names.push(promql.slice(node.from, node.to));
      }
    },
  });
  if (errorAt !== null) throw new Error(`not PromQL at character ${errorAt}: ${promql}`);
  return names;
}
