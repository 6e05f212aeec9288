/**
 * A small HTTP client for requests from the sandbox to the add-on (descriptor,
 * lifecycle callbacks). Every request has a timeout and a cap on the body it
 * reads, and only loopback URLs are allowed.
 */
import http from 'node:http';
import { assertLoopbackUrl } from './loopback-server';

export interface HttpRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Default 10 000 ms for the whole exchange. */
  timeoutMs?: number;
  /** Bytes of the response body kept; the rest is not read. Default 1 MiB. */
  maxBytes?: number;
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** True when the body was longer than `maxBytes`. */
  truncated: boolean;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_BYTES = 1024 * 1024;

/**
 * Sends one request and resolves with the response, whatever its status.
 *
 * @throws Error when the URL is not on loopback or not http, the connection fails, or the timeout passes.
 */
export function httpRequest(url: string, options: HttpRequestOptions = {}): Promise<HttpResponse> {
  const target = assertLoopbackUrl(url, 'request URL');
  if (target.protocol !== 'http:') {
    return Promise.reject(new Error(`Unsupported URL ${url}: the sandbox client sends plain http only`));
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;

  return new Promise((resolve, reject) => {
    const request = http.request(target, { method: options.method ?? 'GET', headers: options.headers });
    const timer = setTimeout(() => {
      request.destroy(new Error(`${options.method ?? 'GET'} ${url} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    // Separate callbacks, because `instanceof Error` fails for errors from another realm (e.g. under Jest).
    const succeed = (response: HttpResponse) => {
      clearTimeout(timer);
      resolve(response);
    };
    const fail = (error: Error) => {
      clearTimeout(timer);
      reject(error);
    };

    request.on('error', fail);
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      let length = 0;
      let truncated = false;
      const done = () => {
        const body = Buffer.concat(chunks);
        succeed({ status: response.statusCode ?? 0, headers: response.headers, body, truncated });
      };
      response.on('data', (chunk: Buffer) => {
        if (truncated) {
          return;
        }
        if (length + chunk.length > maxBytes) {
          chunks.push(chunk.subarray(0, maxBytes - length));
          truncated = true;
          response.destroy();
          done();
          return;
        }
        chunks.push(chunk);
        length += chunk.length;
      });
      response.on('end', done);
      response.on('error', fail);
    });
    request.end(options.body);
  });
}
