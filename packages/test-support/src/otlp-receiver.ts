import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

/** One span as a receiver got it, the same whether it came as OTLP/JSON or OTLP/protobuf. */
export interface ReceivedSpan {
  /** The resource's `service.name`. */
  service: string;
  name: string;
  /** OTLP's SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  traceId: string;
  spanId: string;
  /** Empty for a root span. */
  parentSpanId: string;
  startNs: bigint;
  endNs: bigint;
  /** OTLP's status code: 0 unset, 1 ok, 2 error. */
  statusCode: number;
  attributes: Record<string, string | number | boolean | (string | number | boolean)[]>;
}

const PROTO = fileURLToPath(new URL('../proto/otlp-trace.proto', import.meta.url));

/**
 * A real OTLP/HTTP trace receiver on a free loopback port: POST /v1/traces in `application/json`
 * or `application/x-protobuf`, answered 200 with an empty export response as a collector would.
 * Point OTEL_EXPORTER_OTLP_ENDPOINT at `endpoint`.
 */
export class OtlpReceiver {
  /** Every span received so far, in arrival order. */
  readonly spans: ReceivedSpan[] = [];
  /** The content type of each export request received. */
  readonly contentTypes: string[] = [];
  readonly #server: Server;
  readonly endpoint: string;

  private constructor(server: Server) {
    this.#server = server;
    const { address, port } = server.address() as AddressInfo;
    this.endpoint = `http://${address.includes(':') ? 'localhost' : address}:${port}`;
  }

  /**
   * @param options.port 0 (the default) for a free one; 4318 is where OTLP/HTTP exporters send
   * when no endpoint is configured.
   * @param options.host 127.0.0.1 by default; `::` (every address, IPv6 and IPv4) also catches what
   * is sent to `localhost`, which may resolve to either loopback.
   */
  static async start(options: { port?: number; host?: string } = {}): Promise<OtlpReceiver> {
    const requestType = (await protobuf.load(PROTO)).lookupType(
      'opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest',
    );
    let receiver: OtlpReceiver | undefined;
    const server = createServer((request, response) => {
      void readBody(request).then((body) => {
        if (request.method !== 'POST' || request.url !== '/v1/traces') {
          response.writeHead(404).end();
          return;
        }
        const contentType = request.headers['content-type'] ?? '';
        receiver?.contentTypes.push(contentType);
        try {
          const spans = contentType.startsWith('application/json')
            ? spansOfJson(JSON.parse(body.toString('utf8')) as OtlpJsonRequest)
            : spansOfProtobuf(requestType.toObject(requestType.decode(body), PROTOBUF_READ) as OtlpProtobufRequest);
          receiver?.spans.push(...spans);
        } catch (error) {
          response.writeHead(400, { 'content-type': 'text/plain' }).end(String(error));
          return;
        }
        if (contentType.startsWith('application/json')) {
          response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        } else {
          response.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
        }
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve);
    });
    receiver = new OtlpReceiver(server);
    return receiver;
  }

  /** The spans of one trace. */
  trace(traceId: string): ReceivedSpan[] {
    return this.spans.filter((span) => span.traceId === traceId);
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const PROTOBUF_READ = { longs: String, bytes: String };

type AnyJson = {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number;
  arrayValue?: { values?: AnyJson[] };
};
type KeyValueJson = { key: string; value?: AnyJson };
type SpanFields = {
  name: string;
  kind?: number;
  startTimeUnixNano?: string | number;
  endTimeUnixNano?: string | number;
  attributes?: KeyValueJson[];
  status?: { code?: number };
};
interface OtlpRequest<S> {
  resourceSpans?: { resource?: { attributes?: KeyValueJson[] }; scopeSpans?: { spans?: S[] }[] }[];
}
type OtlpJsonRequest = OtlpRequest<SpanFields & { traceId: string; spanId: string; parentSpanId?: string }>;
/** protobufjs' toObject with `bytes: String` gives ids in base64. */
type OtlpProtobufRequest = OtlpRequest<SpanFields & { traceId: string; spanId: string; parentSpanId: string }>;

function spansOfJson(request: OtlpJsonRequest): ReceivedSpan[] {
  return spansOf(request, (id) => id ?? '');
}

function spansOfProtobuf(request: OtlpProtobufRequest): ReceivedSpan[] {
  return spansOf(request, (id) => Buffer.from(id ?? '', 'base64').toString('hex'));
}

function spansOf<S extends SpanFields & { traceId: string; spanId: string; parentSpanId?: string }>(
  request: OtlpRequest<S>,
  hex: (id: string | undefined) => string,
): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  for (const resourceSpans of request.resourceSpans ?? []) {
    const resource = attributesOf(resourceSpans.resource?.attributes);
    for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
      for (const span of scopeSpans.spans ?? []) {
        spans.push({
          service: String(resource['service.name'] ?? ''),
          name: span.name,
          kind: span.kind ?? 0,
          traceId: hex(span.traceId),
          spanId: hex(span.spanId),
          parentSpanId: hex(span.parentSpanId),
          startNs: BigInt(span.startTimeUnixNano ?? 0),
          endNs: BigInt(span.endTimeUnixNano ?? 0),
          statusCode: span.status?.code ?? 0,
          attributes: attributesOf(span.attributes),
        });
      }
    }
  }
  return spans;
}

function attributesOf(list: KeyValueJson[] | undefined): ReceivedSpan['attributes'] {
  return Object.fromEntries((list ?? []).map(({ key, value }) => [key, plainValueOf(value)]));
}

function plainValueOf(value: AnyJson | undefined): ReceivedSpan['attributes'][string] {
  if (value?.arrayValue)
    return (value.arrayValue.values ?? []).map((item) => plainValueOf(item) as string | number | boolean);
  if (value?.stringValue !== undefined) return value.stringValue;
  if (value?.boolValue !== undefined) return value.boolValue;
  if (value?.intValue !== undefined) return Number(value.intValue);
  if (value?.doubleValue !== undefined) return value.doubleValue;
  return '';
}
