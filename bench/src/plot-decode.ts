/**
 * `npm run bench:decode:plot [-- --results bench/results/decode.json]`
 *
 * Redraws decode.svg from a decode.json that `npm run bench:decode` wrote, without decoding again.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { decodePlotSvg, type DecodeResults } from './decode-plot.ts';

const { values } = parseArgs({
  options: { results: { type: 'string', default: fileURLToPath(new URL('../results/decode.json', import.meta.url)) } },
});
const resultsFile = values.results!;
const svgFile = join(dirname(resultsFile), 'decode.svg');
writeFileSync(svgFile, `${decodePlotSvg(JSON.parse(readFileSync(resultsFile, 'utf8')) as DecodeResults)}\n`);
console.log(`wrote ${svgFile}`);
