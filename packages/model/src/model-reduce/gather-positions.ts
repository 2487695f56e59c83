import { POSITIONS_INPUT } from '../reduced-contract.ts';
import { findLmHead } from './find-lm-head.ts';
import type { OnnxGraph } from './onnx-graph.ts';
import type { OnnxNode } from './onnx-schema.ts';
import { intAttribute, node, REDUCE_PREFIX } from './reduction-nodes.ts';

/**
 * Nodes that gather the hidden states at `positions` [B, P] (GatherND, batch_dims 1) and apply a
 * copy of the LM head to them (same weights, same per-position ops), giving logits [B, P, V].
 * `lastAxis` names an int64 [-1] initializer.
 * @throws ModelReduceError `lm_head_not_found`
 */
export function logitsAtPositions(
  graph: OnnxGraph,
  logits: string,
  lastAxis: string,
): { nodes: OnnxNode[]; rows: string } {
  const head = findLmHead(graph, logits);
  const name = (suffix: string): string => `${REDUCE_PREFIX}${suffix}`;
  const nodes = [
    node('Unsqueeze', [POSITIONS_INPUT, lastAxis], [name('position_index')]),
    node(
      'GatherND',
      [head.hidden, name('position_index')],
      [name('hidden_at_positions')],
      [intAttribute('batch_dims', 1)],
    ),
  ];
  let previous = head.hidden;
  let current = name('hidden_at_positions');
  for (const step of head.chain) {
    const output = step.output![0]!;
    const renamed = name(`at_positions/${output}`);
    nodes.push({
      ...step,
      name: name(`at_positions/${step.name ?? step.op_type}`),
      input: (step.input ?? []).map((input) => (input === previous ? current : input)),
      output: [renamed],
    });
    previous = output;
    current = renamed;
  }
  return { nodes, rows: current };
}
