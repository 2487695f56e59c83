/** One instruction of a Dockerfile, continuation lines joined. */
export interface DockerInstruction {
  /** Upper case: FROM, RUN, USER, CMD ... */
  readonly keyword: string;
  readonly args: string;
}

/** One build stage: its FROM (base image as written, before ARG substitution) and what follows. */
export interface DockerStage {
  readonly name: string | undefined;
  readonly base: string;
  readonly instructions: readonly DockerInstruction[];
}

export interface ParsedDockerfile {
  /** ARGs declared before the first FROM, with their defaults (what `${NAME}` in a FROM means). */
  readonly globalArgs: Readonly<Record<string, string>>;
  readonly stages: readonly DockerStage[];
}

/**
 * Reads a Dockerfile's instructions as BuildKit's parser does for what the deploy checks need:
 * comments and blank lines dropped, `\` continuations joined, stages split at FROM. No hadolint
 * here (not in any registry these machines reach); the checks over this are in the tests.
 */
export function parseDockerfile(text: string): ParsedDockerfile {
  const instructions: DockerInstruction[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (pending !== '' && line.startsWith('#')) continue;
    const continued = line.endsWith('\\');
    pending += `${continued ? line.slice(0, -1) : line} `;
    if (continued) continue;
    const [keyword = '', ...rest] = pending.trim().split(/\s+/);
    instructions.push({ keyword: keyword.toUpperCase(), args: rest.join(' ') });
    pending = '';
  }

  const globalArgs: Record<string, string> = {};
  const stages: { name: string | undefined; base: string; instructions: DockerInstruction[] }[] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') {
      const [base = '', as, name] = instruction.args.split(' ');
      stages.push({ name: as?.toUpperCase() === 'AS' ? name : undefined, base, instructions: [] });
    } else if (stages.length === 0) {
      if (instruction.keyword === 'ARG') {
        const [name = '', value = ''] = instruction.args.split('=');
        globalArgs[name] = value;
      }
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return { globalArgs, stages };
}

/** A stage's base with `${ARG}` replaced by the global ARG's default. */
export function resolvedBase(file: ParsedDockerfile, stage: DockerStage): string {
  return stage.base.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_, name: string) => file.globalArgs[name] ?? '');
}
