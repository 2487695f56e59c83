import type { OnnxGraph } from './onnx-graph.ts';
import { OnnxAttributeType, type OnnxGraph as OnnxSubgraph, type OnnxNode } from './onnx-schema.ts';

/** Every tensor name a node reads, including names its subgraphs (If, Loop, Scan) read from outside. */
export function namesReadBy(node: OnnxNode): string[] {
  const names = (node.input ?? []).filter((name) => name !== '');
  for (const attribute of node.attribute ?? []) {
    const subgraphs: OnnxSubgraph[] =
      attribute.type === OnnxAttributeType.graph && attribute.g !== undefined
        ? [attribute.g]
        : attribute.type === OnnxAttributeType.graphs
          ? (attribute.graphs ?? [])
          : [];
    // A superset (it includes the subgraph's own tensors), which only makes pruning keep more.
    for (const subgraph of subgraphs) for (const inner of subgraph.node ?? []) names.push(...namesReadBy(inner));
  }
  return names;
}

function hasSubgraph(node: OnnxNode): boolean {
  return (node.attribute ?? []).some(
    (attribute) => attribute.type === OnnxAttributeType.graph || attribute.type === OnnxAttributeType.graphs,
  );
}

/** Index of the node producing each tensor. */
export function producers(graph: OnnxGraph): Map<string, number> {
  const producer = new Map<string, number>();
  graph.nodes.forEach((entry, index) => {
    for (const output of entry.value.output ?? []) if (output !== '') producer.set(output, index);
  });
  return producer;
}

/**
 * Tensors that do not depend on any graph input: initializers (unless a graph input of the same
 * name may override them) and outputs of nodes reading only such tensors, e.g. a Transpose of a
 * tied embedding matrix. Nodes with subgraphs are never counted as constant.
 */
export function constantTensors(graph: OnnxGraph): Set<string> {
  const inputs = new Set(graph.inputs.map((entry) => entry.value.name ?? ''));
  const constant = new Set([...graph.initializerNames].filter((name) => !inputs.has(name)));
  for (const { value: node } of graph.nodes) {
    const reads = (node.input ?? []).filter((name) => name !== '');
    if (hasSubgraph(node) || !reads.every((name) => constant.has(name))) continue;
    for (const output of node.output ?? []) if (output !== '') constant.add(output);
  }
  return constant;
}

/**
 * Indexes of the nodes that contribute to `outputs` (walking back from them), in graph order:
 * the others are dead once an output such as the full `logits` is no longer wanted.
 */
export function liveNodes(graph: OnnxGraph, outputs: Iterable<string>): Set<number> {
  const producer = producers(graph);
  const live = new Set<number>();
  const pending = [...outputs];
  const seen = new Set<string>();
  while (pending.length > 0) {
    const name = pending.pop()!;
    if (seen.has(name)) continue;
    seen.add(name);
    const index = producer.get(name);
    if (index === undefined || live.has(index)) continue;
    live.add(index);
    pending.push(...namesReadBy(graph.nodes[index]!.value));
  }
  return live;
}
