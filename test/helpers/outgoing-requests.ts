/**
 * Records the HTTP requests this process sends, with their headers, through
 * Node's built-in `http.client.request.start` diagnostics channel. The add-on
 * runs inside the test process, so this shows exactly what it sends to Bitbucket
 * and Docker Hub without changing the add-on or the simulators, whose request
 * logs keep no headers.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';

const CHANNEL = 'http.client.request.start';

export interface OutgoingRequest {
  method: string;
  /** Origin the request went to, e.g. http://127.0.0.1:41234. */
  origin: string;
  /** Path and query as sent, still percent-encoded. */
  pathAndQuery: string;
  authorization: string | undefined;
}

export interface OutgoingRequestRecorder {
  list(): OutgoingRequest[];
  /** Requests sent to `origin`, oldest first. */
  to(origin: string): OutgoingRequest[];
  reset(): void;
  stop(): void;
}

export function recordOutgoingRequests(): OutgoingRequestRecorder {
  let requests: OutgoingRequest[] = [];
  const onStart = (message: unknown) => {
    const request = (message as { request: ClientRequest }).request;
    const authorization = request.getHeader('authorization');
    requests.push({
      method: request.method,
      origin: `${request.protocol}//${String(request.getHeader('host'))}`,
      pathAndQuery: request.path,
      authorization: authorization === undefined ? undefined : String(authorization),
    });
  };
  diagnosticsChannel.subscribe(CHANNEL, onStart);
  return {
    list: () => [...requests],
    to: (origin) => requests.filter((request) => request.origin === origin),
    reset: () => {
      requests = [];
    },
    stop: () => {
      diagnosticsChannel.unsubscribe(CHANNEL, onStart);
    },
  };
}
