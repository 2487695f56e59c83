import protobuf from 'protobufjs';

/** One top-level field of a serialized protobuf message, as bytes sliced from it (no copy). */
export interface RawField {
  readonly number: number;
  /** The whole field: tag, length and payload, ready to write back as it was read. */
  readonly bytes: Uint8Array;
  /** The payload of a length-delimited field (an embedded message, a string, bytes). */
  readonly payload: Uint8Array | undefined;
}

const LENGTH_DELIMITED = 2;

/**
 * Splits a message into its top-level fields without decoding them, so that a rewrite can keep
 * every field it does not touch byte for byte, including fields no schema here knows.
 */
export function splitFields(message: Uint8Array): RawField[] {
  const reader = protobuf.Reader.create(message);
  const fields: RawField[] = [];
  while (reader.pos < reader.len) {
    const start = reader.pos;
    const tag = reader.uint32();
    const wireType = tag & 7;
    let payload: Uint8Array | undefined;
    if (wireType === LENGTH_DELIMITED) {
      const length = reader.uint32();
      payload = message.subarray(reader.pos, reader.pos + length);
      reader.skip(length);
    } else {
      reader.skipType(wireType);
    }
    fields.push({ number: tag >>> 3, bytes: message.subarray(start, reader.pos), payload });
  }
  return fields;
}

/** Serializes `payload` as length-delimited field `number`: the chunks to concatenate. */
export function lengthDelimitedField(number: number, payload: Uint8Array): Uint8Array[] {
  const header = protobuf.Writer.create()
    .uint32((number << 3) | LENGTH_DELIMITED)
    .uint32(payload.length)
    .finish();
  return [header, payload];
}

/** Concatenates chunks into one buffer (one copy, however many chunks). */
export function concatBytes(chunks: readonly Uint8Array[]): Uint8Array {
  return Buffer.concat(chunks);
}
