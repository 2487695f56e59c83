/** Where a generated block starts and ends in a markdown file; the comments are invisible when rendered. */
export const GENERATED_BLOCK_BEGIN =
  '<!-- config-table: generated from the env schemas by `npm run docs:config`; edit those -->';
export const GENERATED_BLOCK_END = '<!-- /config-table -->';

/** The text between the markers of `document`, or undefined when it has none. */
export function readGeneratedBlock(document: string): string | undefined {
  const begin = document.indexOf(GENERATED_BLOCK_BEGIN);
  const end = document.indexOf(GENERATED_BLOCK_END);
  if (begin === -1 || end < begin) return undefined;
  return document.slice(begin + GENERATED_BLOCK_BEGIN.length, end).trim();
}

/** `document` with the text between its markers replaced by `block`. */
export function replaceGeneratedBlock(document: string, block: string): string {
  const begin = document.indexOf(GENERATED_BLOCK_BEGIN);
  const end = document.indexOf(GENERATED_BLOCK_END);
  if (begin === -1 || end < begin) {
    const markers = `${GENERATED_BLOCK_BEGIN}\n${GENERATED_BLOCK_END}`;
    throw new Error(`no generated block: add the lines\n${markers}\nwhere the table goes`);
  }
  return `${document.slice(0, begin + GENERATED_BLOCK_BEGIN.length)}\n${block}\n${document.slice(end)}`;
}
