import type { InferenceSession } from 'onnxruntime-node';
import { ModelPackageError } from '../errors.ts';
import { providerUnavailable, sessionOptionsFor, type ExecutionProvider } from '../execution-provider.ts';
import { MainThreadSession } from '../main-thread-session.ts';
import { messageOf } from './error-message.ts';
import type { ModelCheckTensor, ReportProblem } from './report.ts';

export interface OnnxSessionTarget {
  readonly executionProvider: ExecutionProvider;
  readonly deviceId: number;
}

/** Opens the graph on the execution provider; undefined (and reported) when it cannot be loaded there. */
export async function checkOnnxLoads(
  modelPath: string,
  onnxFile: string,
  target: OnnxSessionTarget,
  report: ReportProblem,
): Promise<MainThreadSession | undefined> {
  const { executionProvider, deviceId } = target;
  try {
    return await MainThreadSession.open(
      modelPath,
      {
        ...sessionOptionsFor({ executionProvider, deviceId, intraOpNumThreads: undefined }),
        // Failures become problems in the report; onnxruntime's own stderr lines would repeat them.
        logSeverityLevel: 4,
      },
      { form: 'logits' },
    );
  } catch (error) {
    const unavailable =
      error instanceof ModelPackageError ? error : providerUnavailable(executionProvider, deviceId, error);
    if (unavailable) {
      report('error', 'execution_provider_unavailable', messageOf(unavailable), onnxFile);
    } else {
      report('error', 'onnx_load_failed', `onnxruntime cannot load ${onnxFile}: ${messageOf(error)}`, onnxFile);
    }
    return undefined;
  }
}

export function describeTensor(metadata: InferenceSession.ValueMetadata): ModelCheckTensor {
  return metadata.isTensor
    ? { name: metadata.name, type: metadata.type, shape: [...metadata.shape] }
    : { name: metadata.name, type: 'non-tensor', shape: [] };
}
