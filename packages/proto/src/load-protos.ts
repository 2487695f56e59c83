import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType as GenerationProto } from './generated/generation.ts';
import type { ProtoGrpcType as WorkerCallbackProto } from './generated/worker_callback.ts';

const PROTO_ROOT = fileURLToPath(new URL('../../../protos', import.meta.url));

// Options must match the generator flags in package.json so runtime objects fit the generated types.
const LOADER_OPTIONS: protoLoader.Options = {
  includeDirs: [PROTO_ROOT],
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

let cached: { generation: GenerationProto; workerCallback: WorkerCallbackProto } | undefined;

/** Loads both services once per process. */
export function loadDfleetProtos(): { generation: GenerationProto; workerCallback: WorkerCallbackProto } {
  if (!cached) {
    const generation = grpc.loadPackageDefinition(
      protoLoader.loadSync('dfleet/v1/generation.proto', LOADER_OPTIONS),
    ) as unknown as GenerationProto;
    const workerCallback = grpc.loadPackageDefinition(
      protoLoader.loadSync('dfleet/v1/worker_callback.proto', LOADER_OPTIONS),
    ) as unknown as WorkerCallbackProto;
    cached = { generation, workerCallback };
  }
  return cached;
}

/**
 * The public API's definitions (generation.proto) with `extraProtoFiles` (absolute paths, e.g. the
 * health service's), for server reflection: what a client such as grpcurl can discover.
 */
export function loadPublicApiDefinition(extraProtoFiles: readonly string[] = []): protoLoader.PackageDefinition {
  return protoLoader.loadSync(['dfleet/v1/generation.proto', ...extraProtoFiles], LOADER_OPTIONS);
}
