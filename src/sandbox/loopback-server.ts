/**
 * HTTP servers for the sandbox. They listen on loopback only, and `close()` also
 * destroys open connections, including ones held by a hanging response, so test
 * runners can exit.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export const DEFAULT_SANDBOX_HOST = '127.0.0.1';

export interface LoopbackServer {
  /** Base URL without a trailing slash, e.g. http://127.0.0.1:41234. */
  url: string;
  server: http.Server;
  close(): Promise<void>;
}

export interface LoopbackServerOptions {
  host?: string;
  /** 0 (the default) lets the operating system pick a free port. */
  port?: number;
}

export function isLoopbackHostname(hostname: string): boolean {
  const bare = hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  return bare === 'localhost' || bare === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare);
}

/** Parses `url` and throws unless it is an http(s) URL on a loopback host; `label` names it in the error. */
export function assertLoopbackUrl(url: string, label: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`Invalid ${label} "${url}": expected an absolute http URL on 127.0.0.1`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new Error(`Invalid ${label} "${url}": expected an http or https URL`);
  }
  if (!isLoopbackHostname(parsed.hostname)) {
    throw new Error(`Invalid ${label} "${url}": the sandbox sends requests only to loopback hosts such as 127.0.0.1`);
  }
  return parsed;
}

export async function startLoopbackServer(
  listener: http.RequestListener,
  options: LoopbackServerOptions = {},
): Promise<LoopbackServer> {
  const host = options.host ?? DEFAULT_SANDBOX_HOST;
  if (!isLoopbackHostname(host)) {
    throw new Error(`Invalid sandbox host "${host}": expected a loopback address such as 127.0.0.1`);
  }
  const server = http.createServer(listener);
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });

  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${address.port}`,
    server,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) {
          socket.destroy();
        }
      });
      return closing;
    },
  };
}
