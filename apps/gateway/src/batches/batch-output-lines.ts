import { createHash } from 'node:crypto';
import type { GatewayError } from '../errors.ts';

/** One line of a batch's output or error file, in OpenAI's shape. */
interface OutputLine {
  id: string;
  custom_id: string | null;
  response: { status_code: number; request_id: string; body: unknown } | null;
  error: { code: string; message: string } | null;
}

/** The output line's id: stable for the batch and line, so a line written again is the same line. */
function batchRequestId(batchId: string, line: number): string {
  return `batch_req_${createHash('sha256').update(`${batchId}#${line}`).digest('hex').slice(0, 24)}`;
}

/** A line its endpoint answered with 200: the body is that answer; the request id is its job's. */
export function answeredLine(batchId: string, line: number, customId: string, jobId: string, body: unknown): string {
  return serialize({
    id: batchRequestId(batchId, line),
    custom_id: customId,
    response: { status_code: 200, request_id: jobId, body },
    error: null,
  });
}

/** A line its endpoint refused or failed: the status and error body the endpoint would have sent. */
export function refusedLine(batchId: string, line: number, customId: string | null, error: GatewayError): string {
  const jobId = (error as GatewayError & { jobId?: unknown }).jobId;
  return serialize({
    id: batchRequestId(batchId, line),
    custom_id: customId,
    response: {
      status_code: error.httpStatus,
      request_id: typeof jobId === 'string' ? jobId : batchRequestId(batchId, line),
      body: error.toResponseBody(),
    },
    error: null,
  });
}

/** A line that never reached its endpoint (not JSON, wrong url, duplicate custom_id, cancelled, expired). */
export function failedLine(
  batchId: string,
  line: number,
  customId: string | null,
  code: string,
  message: string,
): string {
  return serialize({
    id: batchRequestId(batchId, line),
    custom_id: customId,
    response: null,
    error: { code, message },
  });
}

function serialize(line: OutputLine): string {
  return JSON.stringify(line);
}
