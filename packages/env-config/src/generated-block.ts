/** Where a generated block starts and ends in a markdown file; the comments are invisible when rendered. */
export const GENERATED_BLOCK_BEGIN =
  '<!-- config-table: generated from the env schemas by `npm run docs:config`; edit those -->';
export const GENERATED_BLOCK_END = '<!-- /config-table -->';

/** The comment lines around one generated block. @defaultValue the configuration table's */
export interface BlockMarkers {
  readonly begin: string;
  readonly end: string;
}

const CONFIG_TABLE_MARKERS: BlockMarkers = { begin: GENERATED_BLOCK_BEGIN, end: GENERATED_BLOCK_END };

/** The text between the markers of `document`, or undefined when it has none. */
export function readGeneratedBlock(document: string, markers: BlockMarkers = CONFIG_TABLE_MARKERS): string | undefined {
  const begin = document.indexOf(markers.begin);
  const end = document.indexOf(markers.end);
  if (begin === -1 || end < begin) return undefined;
  return document.slice(begin + markers.begin.length, end).trim();
}

/** `document` with the text between its markers replaced by `block`. */
export function replaceGeneratedBlock(
  document: string,
  block: string,
  markers: BlockMarkers = CONFIG_TABLE_MARKERS,
): string {
  const begin = document.indexOf(markers.begin);
  const end = document.indexOf(markers.end);
  if (begin === -1 || end < begin) {
    const lines = `${markers.begin}\n${markers.end}`;
    throw new Error(`no generated block: add the lines\n${lines}\nwhere the table goes`);
  }
  return `${document.slice(0, begin + markers.begin.length)}\n${block}\n${document.slice(end)}`;
}
