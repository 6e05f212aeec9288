/** Small HTTP helpers for the benchmarks that do not use autocannon. */
import http from 'node:http';
import { performance } from 'node:perf_hooks';

export interface TextResponse {
  status: number;
  body: string;
  /** Milliseconds from sending the request to reading the whole body. */
  elapsedMs: number;
}

const REQUEST_TIMEOUT_MS = 15_000;

/** Sends a GET and reads the whole body as UTF-8. With `agent` false it opens a new connection. */
export function getText(url: string, agent: http.Agent | false = false): Promise<TextResponse> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent, timeout: REQUEST_TIMEOUT_MS }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          body: Buffer.concat(chunks).toString('utf8'),
          elapsedMs: performance.now() - started,
        }),
      );
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`GET ${new URL(url).pathname} timed out after ${REQUEST_TIMEOUT_MS} ms`)));
    request.on('error', reject);
  });
}

export interface RequestRunSummary {
  /** Responses by status code. */
  statuses: Record<string, number>;
  /** Responses with status 200 whose body failed `check`. */
  mismatches: number;
  elapsedMs: number;
}

/**
 * Sends `total` GETs over `concurrency` keep-alive connections. Request i goes to
 * urls[(offset + i) % urls.length], so consecutive runs continue the rotation.
 */
export async function runRequests(
  urls: string[],
  total: number,
  concurrency: number,
  check: (body: string) => boolean,
  offset = 0,
): Promise<RequestRunSummary> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const statuses: Record<string, number> = {};
  let mismatches = 0;
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < total) {
      const index = next;
      next += 1;
      const response = await getText(urls[(offset + index) % urls.length], agent);
      statuses[response.status] = (statuses[response.status] ?? 0) + 1;
      if (response.status === 200 && !check(response.body)) {
        mismatches += 1;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    agent.destroy();
  }
  return { statuses, mismatches, elapsedMs: performance.now() - started };
}
