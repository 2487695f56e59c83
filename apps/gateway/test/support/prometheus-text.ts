/**
 * A reader of the Prometheus text exposition format (version 0.0.4) for tests: families by name
 * from their `# TYPE` lines, each with its samples. A histogram's `_bucket`, `_sum` and `_count`
 * samples belong to its family. Timestamps and escapes beyond `\"`, `\\` and `\n` are not read
 * (prom-client writes neither).
 */
export interface Sample {
  /** The sample's own name: a histogram's carry their suffix. */
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface MetricFamily {
  readonly name: string;
  readonly type: string;
  readonly samples: Sample[];
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'];

const unescapeLabel = (value: string) => value.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));

function familyNameOf(sampleName: string, families: Map<string, MetricFamily>): string {
  if (families.has(sampleName)) return sampleName;
  const suffix = HISTOGRAM_SUFFIXES.find((s) => sampleName.endsWith(s));
  return suffix ? sampleName.slice(0, -suffix.length) : sampleName;
}

/** @throws Error naming the first line that is neither a comment nor a sample. */
export function parsePrometheusText(text: string): Map<string, MetricFamily> {
  const families = new Map<string, MetricFamily>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const [, keyword, name, type] = line.split(' ');
      if (keyword === 'TYPE' && name && type) families.set(name, { name, type, samples: [] });
      continue;
    }
    const match = SAMPLE.exec(line);
    if (!match) throw new Error(`not a Prometheus sample line: ${line}`);
    const [, name = '', labelText = '', value = ''] = match;
    const labels = Object.fromEntries(
      [...labelText.matchAll(LABEL)].map(([, key, v]) => [key, unescapeLabel(v ?? '')]),
    );
    const family = families.get(familyNameOf(name, families));
    if (!family) throw new Error(`sample ${name} has no # TYPE line before it`);
    family.samples.push({ name, labels, value: Number(value) });
  }
  return families;
}
