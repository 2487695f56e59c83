import { METRIC_CATALOGUE, type MetricSpec } from './metric-catalogue.ts';

/** Where the README's metric table starts and ends; `npm run docs:config` rewrites what lies between. */
export const METRIC_TABLE_MARKERS = {
  begin:
    '<!-- metric-table: generated from packages/telemetry/src/metric-catalogue.ts by `npm run docs:config`; edit that -->',
  end: '<!-- /metric-table -->',
} as const;

const labelsOf = (spec: MetricSpec) =>
  spec.labelNames.length === 0 ? '' : spec.labelNames.map((label) => `\`${label}\``).join(', ');
const escapePipes = (text: string) => text.replaceAll('|', '\\|');

/** The catalogue as a markdown table: metric, type, labels, served by, meaning. */
export function renderMetricTable(): string {
  const rows = METRIC_CATALOGUE.map(
    (spec) => `| \`${spec.name}\` | ${spec.type} | ${labelsOf(spec)} | ${spec.service} | ${escapePipes(spec.help)} |`,
  );
  return ['| Metric | Type | Labels | Served by | Meaning |', '| --- | --- | --- | --- | --- |', ...rows].join('\n');
}
