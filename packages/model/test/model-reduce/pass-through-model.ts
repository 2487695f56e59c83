import { encodeMessage, OnnxMessages } from '../../src/model-reduce/onnx-schema.ts';

const FLOAT = 1;
export const FLOAT16 = 10;

/**
 * A ModelProto whose `logits` output is its float input `scores` [B, L, V] (through an Identity),
 * so a test can feed a reduced model any logits it likes, e.g. a suppressed id on top.
 */
export function passThroughLogitsModel(vocabSize: number, opset = 17, elemType = FLOAT): Uint8Array {
  const tensor = (name: string) => ({
    name,
    type: {
      tensor_type: {
        elem_type: elemType,
        shape: { dim: [{ dim_param: 'batch' }, { dim_param: 'sequence' }, { dim_value: vocabSize }] },
      },
    },
  });
  return encodeMessage(OnnxMessages.model, {
    ir_version: 8,
    opset_import: [{ domain: '', version: opset }],
    graph: {
      name: 'pass_through',
      node: [{ op_type: 'Identity', name: 'identity', input: ['scores'], output: ['logits'] }],
      input: [tensor('scores')],
      output: [tensor('logits')],
    },
  });
}

/**
 * `logits = scores + bias`, with the bias [V] stored as ONNX external data in `dataFile` (as
 * exports over 2 GB are): the returned bytes go in model.onnx, `data` in `dataFile` beside it.
 */
export function externalBiasModel(vocabSize: number, dataFile: string): { model: Uint8Array; data: Uint8Array } {
  const bias = new Float32Array(vocabSize).map((_, v) => v / vocabSize);
  const data = new Uint8Array(bias.buffer);
  const tensor = (name: string) => ({
    name,
    type: {
      tensor_type: {
        elem_type: FLOAT,
        shape: { dim: [{ dim_param: 'batch' }, { dim_param: 'sequence' }, { dim_value: vocabSize }] },
      },
    },
  });
  const model = encodeMessage(OnnxMessages.model, {
    ir_version: 8,
    opset_import: [{ domain: '', version: 17 }],
    graph: {
      name: 'external_bias',
      node: [{ op_type: 'Add', name: 'add_bias', input: ['scores', 'bias'], output: ['logits'] }],
      initializer: [
        {
          name: 'bias',
          dims: [vocabSize],
          data_type: FLOAT,
          data_location: 1,
          external_data: [
            { key: 'location', value: dataFile },
            { key: 'offset', value: '0' },
            { key: 'length', value: String(data.byteLength) },
          ],
        },
      ],
      input: [tensor('scores')],
      output: [tensor('logits')],
    },
  });
  return { model, data };
}
