import { join } from 'node:path';
import {
  MODEL_MANIFEST_FILE,
  OPTIONAL_SPECIAL_TOKEN_ROLES,
  SPECIAL_TOKEN_ROLES,
  type OptionalSpecialTokenRole,
  type SpecialTokenRole,
} from '../model-manifest.ts';
import type { Tokenizer } from '../tokenizer.ts';
import { isRecord, readJsonObject } from './json-object.ts';
import type { ReportProblem } from './report.ts';

type CheckedRole = SpecialTokenRole | OptionalSpecialTokenRole;
const CHECKED_ROLES: readonly CheckedRole[] = [...SPECIAL_TOKEN_ROLES, ...OPTIONAL_SPECIAL_TOKEN_ROLES];

/** Names `tokenizer_config.json` uses for the roles. */
const CONFIG_KEYS: Record<CheckedRole, string> = {
  mask: 'mask_token',
  eos: 'eos_token',
  pad: 'pad_token',
  bos: 'bos_token',
  unk: 'unk_token',
};
/** How special-token strings are usually spelled per role (only used without tokenizer_config.json). */
const ROLE_SPELLINGS: Record<CheckedRole, RegExp> = {
  mask: /mask/i,
  eos: /eos|endoftext|eot|<\/s>/i,
  pad: /pad/i,
  bos: /bos|^<s>$|begin|start/i,
  unk: /unk/i,
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
  specialTokens: Record<SpecialTokenRole, number> & Partial<Record<OptionalSpecialTokenRole, number>>,
  tokenizerFile: string,
  report: ReportProblem,
): Promise<void> {
  const config = await readJsonObject(join(directory, 'tokenizer_config.json'));
  checkUnkDeclared(tokenizer, specialTokens, tokenizerFile, report);
  for (const role of CHECKED_ROLES) {
    const id = specialTokens[role];
    if (id === undefined) continue;
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
      const lookalike = CHECKED_ROLES.find((other) => other !== role && ROLE_SPELLINGS[other].test(token));
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

/**
 * A tokenizer with an unknown token emits it for text it cannot encode; a manifest that does not
 * name it lets the decoder predict a token that vanishes from the answer's text.
 */
function checkUnkDeclared(
  tokenizer: Tokenizer,
  specialTokens: Partial<Record<OptionalSpecialTokenRole, number>>,
  tokenizerFile: string,
  report: ReportProblem,
): void {
  const unk = tokenizer.unknownTokenId;
  if (unk === undefined || specialTokens.unk !== undefined) return;
  report(
    'warning',
    'special_token_mismatch',
    `${tokenizerFile} has an unknown token (id ${unk}) that the manifest does not name: add ` +
      `"unk": ${unk} to specialTokens so that it is never predicted`,
    `${MODEL_MANIFEST_FILE}#specialTokens.unk`,
  );
}
