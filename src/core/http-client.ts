/**
 * The one place that sends HTTP requests to Docker Hub and Bitbucket. Every call
 * has a deadline, a User-Agent and a cap on the body it reads, never follows
 * redirects on its own, and reports failures as UpstreamError.
 */
import fetch, { FetchError, Headers } from 'node-fetch';
import { z } from 'zod';
import { UpstreamError, UpstreamService } from './errors';

export interface UpstreamRequest {
  service: UpstreamService;
  url: string;
  headers?: Record<string, string>;
  /** Epoch milliseconds by which the whole body must have arrived. */
  deadline: number;
  maxBytes: number;
  userAgent: string;
}

export interface UpstreamResponse {
  status: number;
  headers: Headers;
  body: Buffer;
  /** True when the body was longer than `maxBytes`; `body` then holds only the first bytes. */
  tooLarge: boolean;
}

export async function fetchBounded(request: UpstreamRequest): Promise<UpstreamResponse> {
  const remainingMs = request.deadline - Date.now();
  if (remainingMs <= 0) {
    throw new UpstreamError(request.service, 'timeout', 'no time left before the request was sent');
  }
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), remainingMs);
  try {
    const response = await fetch(request.url, {
      headers: { 'User-Agent': request.userAgent, Accept: 'application/json', ...request.headers },
      redirect: 'manual',
      signal: controller.signal,
    });
    const { body, tooLarge } = await readCapped(response.body, request.maxBytes, controller);
    return { status: response.status, headers: response.headers, body, tooLarge };
  } catch (error) {
    throw toUpstreamError(request.service, error, controller.signal.aborted);
  } finally {
    clearTimeout(timer);
  }
}

/** Reads at most `maxBytes`, then stops the transfer instead of buffering the rest. */
async function readCapped(
  stream: NodeJS.ReadableStream,
  maxBytes: number,
  controller: AbortController,
): Promise<{ body: Buffer; tooLarge: boolean }> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of stream) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
    if (length + buffer.length > maxBytes) {
      chunks.push(buffer.subarray(0, maxBytes - length));
      controller.abort();
      return { body: Buffer.concat(chunks), tooLarge: true };
    }
    chunks.push(buffer);
    length += buffer.length;
  }
  return { body: Buffer.concat(chunks), tooLarge: false };
}

function toUpstreamError(service: UpstreamService, error: unknown, aborted: boolean): UpstreamError {
  if (error instanceof UpstreamError) {
    return error;
  }
  if (aborted) {
    return new UpstreamError(service, 'timeout', 'no complete response before the deadline');
  }
  if (error instanceof FetchError) {
    return new UpstreamError(service, 'unavailable', `${error.code ?? error.type}: ${error.message}`);
  }
  const message = error instanceof Error ? error.message : String(error);
  return new UpstreamError(service, 'unavailable', message);
}

/**
 * Maps a non-2xx status to an UpstreamError. 429 reads `X-Retry-After` (a Unix time,
 * as Docker Hub documents it) or `Retry-After` (seconds or an HTTP date).
 */
export function errorForStatus(service: UpstreamService, response: UpstreamResponse, now = Date.now()) {
  const status = response.status;
  if (status === 404) {
    return new UpstreamError(service, 'not-found', 'HTTP 404', { status });
  }
  if (status === 401 || status === 403) {
    return new UpstreamError(service, 'unauthorized', `HTTP ${status}`, { status });
  }
  if (status === 429) {
    const retryAt = retryAtFromHeaders(response.headers, now);
    return new UpstreamError(service, 'rate-limited', 'HTTP 429', { status, retryAt });
  }
  if (status >= 500) {
    return new UpstreamError(service, 'unavailable', `HTTP ${status}`, { status });
  }
  return new UpstreamError(service, 'invalid-response', `unexpected HTTP ${status}`, { status });
}

/** Maximum pause honoured, so that a wrong header cannot switch the add-on off for days. */
export const MAX_RATE_LIMIT_PAUSE_MS = 60 * 60 * 1000;
/** Pause used when a 429 carries no usable header. */
export const DEFAULT_RATE_LIMIT_PAUSE_MS = 60 * 1000;

export function retryAtFromHeaders(headers: Headers, now: number): number {
  const unixTime = Number(headers.get('x-retry-after'));
  const retryAfter = headers.get('retry-after');
  let retryAt = now + DEFAULT_RATE_LIMIT_PAUSE_MS;
  if (Number.isFinite(unixTime) && unixTime > 0) {
    retryAt = unixTime * 1000;
  } else if (retryAfter && /^\d+$/.test(retryAfter.trim())) {
    retryAt = now + Number(retryAfter.trim()) * 1000;
  } else if (retryAfter && !Number.isNaN(Date.parse(retryAfter))) {
    retryAt = Date.parse(retryAfter);
  }
  return Math.min(Math.max(retryAt, now + 1000), now + MAX_RATE_LIMIT_PAUSE_MS);
}

/** Parses and validates a JSON body; unknown fields are dropped by the schema. */
export function parseJsonBody<T>(service: UpstreamService, response: UpstreamResponse, schema: z.ZodType<T, z.ZodTypeDef, unknown>): T {
  if (response.tooLarge) {
    throw new UpstreamError(service, 'invalid-response', 'response body over the size limit');
  }
  const contentType = response.headers.get('content-type') ?? '';
  if (!/\bjson\b/i.test(contentType)) {
    throw new UpstreamError(service, 'invalid-response', `content type "${contentType.slice(0, 60)}" is not JSON`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(response.body.toString('utf8'));
  } catch {
    throw new UpstreamError(service, 'invalid-response', 'body is not valid JSON');
  }
  const result = schema.safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new UpstreamError(service, 'invalid-response', `unexpected shape at ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return result.data;
}
