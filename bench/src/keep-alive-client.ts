import http from 'node:http';

/**
 * POSTs JSON over keep-alive connections, as a client sending many requests does (fetch costs
 * the client 0.3 to 1 ms more per request, which is not the fleet's).
 */
export class KeepAliveClient {
  readonly #agent: http.Agent;

  /** @param options.maxSockets connections at most. @defaultValue 4096 */
  constructor(options: { maxSockets?: number } = {}) {
    this.#agent = new http.Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 4_096 });
  }

  post(url: string, payload: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const request = http.request(
        url,
        {
          method: 'POST',
          agent: this.#agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () =>
            resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
          );
          response.on('error', reject);
        },
      );
      request.on('error', reject);
      request.end(payload);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}
