import { ModelReduceError } from '../errors.ts';
import { constantTensors, producers } from './graph-dataflow.ts';
import type { OnnxGraph } from './onnx-graph.ts';
import type { OnnxNode } from './onnx-schema.ts';

/** The final projection: `logits = chain(MatMul(hidden, W))`, every step acting on each position alone. */
export interface LmHead {
  /** The hidden states [B, L, D] the head reads. */
  readonly hidden: string;
  /** The MatMul first, then the per-position steps after it (bias Add, softcap, Cast), in order. */
  readonly chain: readonly OnnxNode[];
}

/** Ops applied to the MatMul's result that act on one position at a time, given constant operands. */
const ELEMENTWISE_BINARY = new Set(['Add', 'Sub', 'Mul', 'Div']);
const ELEMENTWISE_UNARY = new Set(['Cast', 'Identity', 'Tanh']);

function constantShape(graph: OnnxGraph, name: string): number[] | undefined {
  const initializer = graph.initializers.find((entry) => entry.value.name === name);
  if (initializer !== undefined) return (initializer.value.dims ?? []).map(Number);
  const node = graph.nodes.find((entry) => entry.value.op_type === 'Constant' && entry.value.output?.[0] === name);
  const value = node?.value.attribute?.find((attribute) => attribute.name === 'value')?.t;
  return value === undefined ? undefined : (value.dims ?? []).map(Number);
}

/** A constant operand that broadcasts the same way at every position: a scalar or a [.., 1, V] row. */
function isPerPositionConstant(graph: OnnxGraph, name: string): boolean {
  const shape = constantShape(graph, name);
  return shape?.slice(0, -1).every((dim) => dim === 1) ?? false;
}

function notFound(logits: string, why: string): ModelReduceError {
  return new ModelReduceError(
    'lm_head_not_found',
    `cannot gather positions before the LM head: ${why}. The positions input needs ${logits} to be ` +
      'MatMul(hidden [B, L, D], constant W [D, V]) followed only by per-position ops with constant operands ' +
      '(Add, Sub, Mul, Div, Cast, Identity, Tanh); reduce without --positions, or re-export the model that way',
  );
}

/**
 * Finds the MatMul producing `logits` and the per-position ops after it.
 * @throws ModelReduceError `lm_head_not_found` naming what was found instead.
 */
export function findLmHead(graph: OnnxGraph, logits: string): LmHead {
  const producer = producers(graph);
  const constant = constantTensors(graph);
  const chain: OnnxNode[] = [];
  let tensor = logits;
  for (;;) {
    const index = producer.get(tensor);
    if (index === undefined) throw notFound(logits, `${tensor} is not produced by a node`);
    const node = graph.nodes[index]!.value;
    const op = node.op_type ?? '';
    const inputs = (node.input ?? []).filter((name) => name !== '');
    chain.unshift(node);
    if (op === 'MatMul') {
      const [hidden, weight] = inputs;
      if (hidden === undefined || weight === undefined || constant.has(hidden) || !constant.has(weight)) {
        throw notFound(
          logits,
          `the MatMul ${node.name ?? ''} does not multiply the hidden states by a constant matrix`,
        );
      }
      return { hidden, chain };
    }
    if (ELEMENTWISE_UNARY.has(op) && inputs.length === 1) {
      tensor = inputs[0]!;
      continue;
    }
    if (ELEMENTWISE_BINARY.has(op) && inputs.length === 2) {
      const variable = inputs.filter((name) => !constant.has(name));
      const fixed = inputs.filter((name) => constant.has(name));
      if (variable.length === 1 && fixed.length === 1 && isPerPositionConstant(graph, fixed[0]!)) {
        tensor = variable[0]!;
        continue;
      }
    }
    const found = op === 'Gemm' ? 'a Gemm (only a MatMul head on [B, L, D] is supported)' : `a ${op} node`;
    throw notFound(logits, `${tensor} is produced by ${found} (${node.name ?? 'unnamed'})`);
  }
}
