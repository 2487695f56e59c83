import { join } from 'node:path';
import { MODEL_MANIFEST_FILE, SPECIAL_TOKEN_ROLES, type SpecialTokenRole } from '../model-manifest.ts';
import type { Tokenizer } from '../tokenizer.ts';
import { isRecord, readJsonObject } from './json-object.ts';
import type { ReportProblem } from './report.ts';

/** Names `tokenizer_config.json` uses for the four roles. */
const CONFIG_KEYS: Record<SpecialTokenRole, string> = {
  mask: 'mask_token',
  eos: 'eos_token',
  pad: 'pad_token',
  bos: 'bos_token',
};
/** How special-token strings are usually spelled per role (only used without tokenizer_config.json). */
const ROLE_SPELLINGS: Record<SpecialTokenRole, RegExp> = {
  mask: /mask/i,
  eos: /eos|endoftext|eot|<\/s>/i,
  pad: /pad/i,
  bos: /bos|^<s>$|begin|start/i,
};

function tokenContent(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (isRecord(value) && typeof value['content'] === 'string') return value['content'];
  return undefined;
}

/**
 * The manifest's special ids must be the tokenizer's special tokens for their roles: as
 * `tokenizer_config.json` names them, or else as they are usually spelled (a warning), and
 * marked special so that prompt text cannot encode to them.
 */
export async function checkSpecialTokens(
  directory: string,
  tokenizer: Tokenizer,
  specialTokens: Record<SpecialTokenRole, number>,
  tokenizerFile: string,
  report: ReportProblem,
): Promise<void> {
  const config = await readJsonObject(join(directory, 'tokenizer_config.json'));
  for (const role of SPECIAL_TOKEN_ROLES) {
    const id = specialTokens[role];
    const field = `${MODEL_MANIFEST_FILE}#specialTokens.${role}`;
    const token = tokenizer.idToToken(id);
    const shown = token === undefined ? 'no token' : `'${token}'`;
    const configured = tokenContent(config?.[CONFIG_KEYS[role]]);
    if (configured !== undefined) {
      const configuredId = tokenizer.tokenToId(configured);
      if (configuredId !== undefined && configuredId !== id) {
        report(
          'error',
          'special_token_mismatch',
          `specialTokens.${role} is ${id} (${shown}) but tokenizer_config.json names ` +
            `${CONFIG_KEYS[role]} '${configured}', which is id ${configuredId} in ${tokenizerFile}; ` +
            `expected specialTokens.${role} = ${configuredId}`,
          field,
        );
        continue;
      }
    } else if (token !== undefined && !ROLE_SPELLINGS[role].test(token)) {
      const lookalike = SPECIAL_TOKEN_ROLES.find((other) => other !== role && ROLE_SPELLINGS[other].test(token));
      if (lookalike !== undefined) {
        report(
          'warning',
          'special_token_mismatch',
          `specialTokens.${role} is ${id} (${shown}), which looks like the ${lookalike} token; check the ids ` +
            '(add tokenizer_config.json with bos_token/eos_token/pad_token/mask_token to make this check exact)',
          field,
        );
      }
    }
    if (!tokenizer.specialTokenIds.has(id)) {
      // A non-special mask/eos/bos id can be typed into a prompt as ordinary text.
      report(
        role === 'pad' ? 'warning' : 'error',
        'special_token_not_special',
        `specialTokens.${role} is ${id} (${shown}), which is not a special token in ${tokenizerFile}: ` +
          `prompt text could encode to it; expected the id of an added token marked "special": true`,
        field,
      );
    }
  }
}
