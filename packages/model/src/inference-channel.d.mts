export declare const Slot: {
  readonly REQUESTS: 0;
  readonly REQUEST_KIND: 1;
  readonly BATCH_SIZE: 2;
  readonly SEQUENCE_LENGTH: 3;
  readonly INPUTS_REPLACED: 4;
};
export declare const RequestKind: { readonly RUN: 1; readonly CLOSE: 2 };

export interface InputBuffer {
  readonly buffer: SharedArrayBuffer;
  /** Tokens (batchSize * sequenceLength) it holds. */
  readonly capacity: number;
  readonly inputIds: Int32Array;
  readonly attentionMask: Uint8Array;
}

export declare function createControlBlock(): Int32Array;
export declare function createInputBuffer(capacity: number): InputBuffer;
export declare function viewInputBuffer(buffer: SharedArrayBuffer): InputBuffer;
