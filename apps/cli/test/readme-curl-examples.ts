/**
 * The curl examples of a README: every command that starts with `curl` in a ```sh block that
 * contains one, split into shell words well enough to read the request body back.
 */

export interface CurlExample {
  /** The command as written (continuation lines joined with their backslash-newline). */
  command: string;
  /** The comment lines right above it, without `#`. */
  comment: string;
  /** Status it must answer: "answers NNN" in its comment, else 200. */
  expectedStatus: number;
  /** The `-d` body parsed as JSON, if it has one. */
  body: Record<string, unknown> | undefined;
}

/** The gateway address the README's examples use; a test puts its own fleet's in its place. */
export const README_GATEWAY_URL = 'http://127.0.0.1:8080';

const SH_BLOCK = /^```sh\n([\s\S]*?)^```$/gm;

export function curlExamples(markdown: string): CurlExample[] {
  const examples: CurlExample[] = [];
  for (const [, block] of markdown.matchAll(SH_BLOCK)) {
    if (!block!.includes('curl')) continue;
    for (const { command, comment } of shellCommands(block!)) {
      const words = shellWords(command);
      if (words[0] !== 'curl') continue;
      const data = words[words.indexOf('-d') + 1];
      examples.push({
        command,
        comment,
        expectedStatus: Number(/answers (\d{3})/.exec(comment)?.[1] ?? 200),
        body: words.includes('-d') && data !== undefined ? (JSON.parse(data) as Record<string, unknown>) : undefined,
      });
    }
  }
  return examples;
}

/**
 * Complete commands of a shell script, each with the comment lines above it. A command goes on
 * while a line ends in a backslash or a quote is open (the README's JSON bodies span lines).
 */
function shellCommands(script: string): { command: string; comment: string }[] {
  const commands: { command: string; comment: string }[] = [];
  let comment: string[] = [];
  let pending = '';
  for (const line of script.split('\n')) {
    if (pending === '' && /^\s*#/.test(line)) {
      comment.push(line.replace(/^\s*#\s?/, ''));
      continue;
    }
    if (pending === '' && line.trim() === '') {
      comment = [];
      continue;
    }
    pending += pending === '' ? line : `\n${line}`;
    if (pending.endsWith('\\') || quoteIsOpen(pending)) continue;
    commands.push({ command: pending, comment: comment.join(' ') });
    pending = '';
    comment = [];
  }
  return commands;
}

function quoteIsOpen(text: string): boolean {
  return scan(text).open;
}

/** Words of one command: quotes removed, backslash-newline dropped, no expansion, comments cut. */
function shellWords(command: string): string[] {
  return scan(command).words;
}

function scan(text: string): { words: string[]; open: boolean } {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    const next = text[i + 1];
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === '\\' && next !== undefined && '"\\$`'.includes(next)) word += text[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === '\\' && next === '\n') {
      i++;
    } else if (c === '#' && !inWord) {
      while (i + 1 < text.length && text[i + 1] !== '\n') i++;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return { words, open: quote !== undefined };
}
