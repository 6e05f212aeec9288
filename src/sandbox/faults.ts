/**
 * Faults that tests inject into a simulator: error statuses, slow or hanging
 * responses, reset connections and malformed or oversized bodies.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';

/** Upper bound of a `huge` body, so a mistyped size cannot stream for hours. */
export const MAX_HUGE_BODY_BYTES = 1024 * 1024 * 1024;
/** Upper bound of a `delay` fault: ten minutes. */
export const MAX_DELAY_MS = 10 * 60 * 1000;

const headersSchema = z.record(z.string());

export const faultSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('status'),
    status: z.number().int().min(100).max(599),
    body: z.string().optional(),
    contentType: z.string().optional(),
    headers: headersSchema.optional(),
  }),
  z.object({ kind: z.literal('delay'), ms: z.number().int().min(0).max(MAX_DELAY_MS) }),
  z.object({ kind: z.literal('hang') }),
  z.object({ kind: z.literal('reset') }),
  z.object({ kind: z.literal('garbage') }),
  z.object({ kind: z.literal('wrong-content-type') }),
  z.object({
    kind: z.literal('huge'),
    bytes: z.number().int().min(0).max(MAX_HUGE_BODY_BYTES),
    /** Sends a Content-Length header; by default the body is chunked, so its size is unknown up front. */
    contentLength: z.boolean().optional(),
  }),
  z.object({ kind: z.literal('json'), body: z.unknown(), status: z.number().int().min(100).max(599).optional() }),
]);

export type Fault = z.infer<typeof faultSchema>;
export type PathMatch = string | RegExp;

export interface SetFaultOptions {
  /** Removes the fault after this many matching requests; by default it stays until cleared. */
  times?: number;
}

interface FaultRule {
  match: PathMatch;
  fault: Fault;
  remaining: number | undefined;
}

/**
 * Ordered fault rules. A string matches any request path that contains it; a
 * RegExp is tested against the path. The first matching rule wins.
 */
export class FaultRules {
  private rules: FaultRule[] = [];

  set(match: PathMatch, fault: Fault | null, options: SetFaultOptions = {}): void {
    this.rules = this.rules.filter((rule) => !sameMatch(rule.match, match));
    if (fault === null) {
      return;
    }
    const parsed = faultSchema.parse(fault);
    const times = options.times;
    if (times !== undefined && (!Number.isInteger(times) || times < 1)) {
      throw new Error(`Invalid fault option times=${times}: expected a positive integer`);
    }
    this.rules.push({ match, fault: parsed, remaining: times });
  }

  clear(): void {
    this.rules = [];
  }

  /** Returns the fault for this path, if any, and counts one use of it. */
  take(path: string): Fault | undefined {
    const index = this.rules.findIndex((rule) => matchesPath(rule.match, path));
    if (index === -1) {
      return undefined;
    }
    const rule = this.rules[index];
    if (rule.remaining !== undefined) {
      rule.remaining -= 1;
      if (rule.remaining <= 0) {
        this.rules.splice(index, 1);
      }
    }
    return rule.fault;
  }
}

export function matchesPath(match: PathMatch, path: string): boolean {
  if (typeof match === 'string') {
    return path.includes(match);
  }
  match.lastIndex = 0;
  return match.test(path);
}

function sameMatch(a: PathMatch, b: PathMatch): boolean {
  if (typeof a === 'string' || typeof b === 'string') {
    return a === b;
  }
  return a.source === b.source && a.flags === b.flags;
}

export interface StatusBody {
  body: string;
  contentType: string;
}

export interface FaultResponder {
  /** Returns the body the simulated service sends with `status`, for faults that name none. */
  defaultStatusBody(status: number): StatusBody;
  sleep(ms: number): Promise<void>;
}

/**
 * Applies a fault to one request. Returns true when the fault took over the
 * response (sent, destroyed or left hanging), false when normal handling should
 * continue, which is the case after a `delay`.
 */
export async function applyFault(
  request: IncomingMessage,
  response: ServerResponse,
  fault: Fault,
  responder: FaultResponder,
): Promise<boolean> {
  switch (fault.kind) {
    case 'delay':
      await responder.sleep(fault.ms);
      return false;
    case 'hang':
      // The connection stays open without a response until the client gives up or the server closes.
      return true;
    case 'reset':
      resetConnection(request);
      return true;
    case 'status': {
      const fallback = responder.defaultStatusBody(fault.status);
      const body = fault.body ?? fallback.body;
      const contentType = fault.contentType ?? (fault.body === undefined ? fallback.contentType : 'text/plain');
      sendBody(response, fault.status, contentType, body, fault.headers);
      return true;
    }
    case 'garbage':
      sendBody(response, 200, 'application/json', TRUNCATED_JSON);
      return true;
    case 'wrong-content-type':
      sendBody(response, 200, 'text/html', SIGN_IN_PAGE);
      return true;
    case 'json':
      sendBody(response, fault.status ?? 200, 'application/json', JSON.stringify(fault.body) ?? 'null');
      return true;
    case 'huge':
      await streamHugeJson(response, fault.bytes, fault.contentLength ?? false);
      return true;
  }
}

/** A JSON document cut off in the middle of a string, so parsers fail. */
const TRUNCATED_JSON = '{"namespace":"library","name":"nginx","pull_count":12916987208,"tags":[{"na';

const SIGN_IN_PAGE =
  '<!DOCTYPE html>\n<html><head><title>Sign in</title></head>' +
  '<body><h1>Sign in to continue</h1><form method="post"><input name="user"></form></body></html>\n';

/** Sends a body with an exact Content-Type; Express's helpers would append a charset. */
export function sendBody(
  response: ServerResponse,
  status: number,
  contentType: string,
  body: string | Buffer,
  headers: Record<string, string> = {},
): void {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  response.statusCode = status;
  response.setHeader('Content-Type', contentType);
  response.setHeader('Content-Length', bytes.length);
  for (const [name, value] of Object.entries(headers)) {
    response.setHeader(name, value);
  }
  response.end(bytes);
}

/** Closes the connection with a TCP reset, so the client sees ECONNRESET. */
function resetConnection(request: IncomingMessage): void {
  const socket = request.socket;
  if (typeof socket.resetAndDestroy === 'function') {
    socket.resetAndDestroy();
  } else {
    socket.destroy();
  }
}

const HUGE_CHUNK_BYTES = 64 * 1024;

/**
 * Streams a valid JSON object of exactly `bytes` bytes (at least its fixed
 * envelope) in 64 KiB chunks, honouring backpressure, and stops early when the
 * client disconnects. Every chunk is the same reused buffer, so the body is never
 * built in memory.
 */
async function streamHugeJson(response: ServerResponse, bytes: number, withLength: boolean): Promise<void> {
  const prefix = Buffer.from('{"count":0,"results":[],"padding":"');
  const suffix = Buffer.from('"}');
  let remaining = Math.max(0, bytes - prefix.length - suffix.length);
  response.statusCode = 200;
  response.setHeader('Content-Type', 'application/json');
  if (withLength) {
    response.setHeader('Content-Length', prefix.length + remaining + suffix.length);
  }
  response.write(prefix);

  const chunk = Buffer.alloc(HUGE_CHUNK_BYTES, 'x');
  while (remaining > 0 && !response.destroyed) {
    const size = Math.min(remaining, HUGE_CHUNK_BYTES);
    remaining -= size;
    const flushed = response.write(size === HUGE_CHUNK_BYTES ? chunk : chunk.subarray(0, size));
    if (!flushed) {
      await drainedOrClosed(response);
    }
  }
  if (!response.destroyed) {
    response.end(suffix);
  }
}

function drainedOrClosed(response: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      response.off('drain', done);
      response.off('close', done);
      resolve();
    };
    response.once('drain', done);
    response.once('close', done);
  });
}

/** Returns an nginx-style HTML error page for 5xx faults, like a reverse proxy sends when its backend fails. */
export function gatewayErrorPage(status: number): string {
  const titles: Record<number, string> = {
    500: 'Internal Server Error',
    502: 'Bad Gateway',
    503: 'Service Unavailable',
    504: 'Gateway Time-out',
  };
  const title = `${status} ${titles[status] ?? 'Server Error'}`;
  const lines = [
    '<html>',
    `<head><title>${title}</title></head>`,
    '<body>',
    `<center><h1>${title}</h1></center>`,
    '</body>',
    '</html>',
  ];
  return `${lines.join('\r\n')}\r\n`;
}
