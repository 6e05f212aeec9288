/**
 * A Docker Hub stand-in on loopback. It serves the repository, tags and legacy
 * build history endpoints of hub.docker.com in their real response shapes, from
 * the image files in sandbox/docker-hub/images, plus a tiny web page per image.
 * Tests inject faults and read the request log.
 */
import path from 'node:path';
import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import { findSandboxDataDir } from './data-dir';
import { HubImage, imageKey, loadHubImages } from './docker-hub-data';
import { Fault, gatewayErrorPage, PathMatch, sendBody, SetFaultOptions, StatusBody } from './faults';
import { escapeHtml, formatCount } from './html';
import { startLoopbackServer } from './loopback-server';
import { intParam } from './query-params';
import { RequestLogEntry, SimulatorControls } from './simulator-controls';

export interface DockerHubSimulatorOptions {
  /** Listening port; 0 (the default) picks a free one. */
  port?: number;
  /** Milliseconds added before every response, for benchmarks. Default 0. */
  latencyMs?: number;
  /** Loopback address to listen on. Default 127.0.0.1. */
  host?: string;
  /** Directory with `images/<namespace>/<name>.json`. Default: sandbox/docker-hub at the project root. */
  dataDir?: string;
}

export interface DockerHubSimulator {
  /** Base URL without a trailing slash, e.g. http://127.0.0.1:41234. */
  url: string;
  /** Sets (or with null removes) a fault for requests whose path contains `match` or matches the RegExp. */
  setFault(match: PathMatch, fault: Fault | null, options?: SetFaultOptions): void;
  clearFaults(): void;
  requests(): RequestLogEntry[];
  /** Counts logged requests whose path contains `match` or matches the RegExp. */
  requestCount(match: PathMatch): number;
  resetRequests(): void;
  /** Returns the names of the images served, as `namespace/name`, private ones included. */
  imageNames(): string[];
  close(): Promise<void>;
}

/** Docker Hub's body for a missing repository, tag or build history; also sent for private images. */
export const HUB_NOT_FOUND_BODY = '{"message":"object not found","errinfo":{}}';
/** The text/plain body of Docker Hub's front-end rate limiter. */
export const HUB_RATE_LIMIT_BODY = 'Too Many Requests (HAP429).\n';
const HUB_PAGINATION_CAP_BODY =
  '{"message":"pagination offset too large for anonymous requests; sign in to page further","errinfo":{}}';

const DEFAULT_PAGE_SIZE = 10;
const MAX_PAGE_SIZE = 100;
/** Docker Hub rejects anonymous tag listings that start at or beyond this offset with 403. */
const ANONYMOUS_OFFSET_LIMIT = 1000;

export async function startDockerHubSimulator(options: DockerHubSimulatorOptions = {}): Promise<DockerHubSimulator> {
  const dataDir = options.dataDir ?? findSandboxDataDir('docker-hub');
  const images = loadHubImages(path.join(dataDir, 'images'));
  const controls = new SimulatorControls({ latencyMs: options.latencyMs, defaultStatusBody: hubStatusBody });
  const site = { url: '' };

  const app = createApp(images, controls, site);
  const server = await startLoopbackServer(app, { host: options.host, port: options.port });
  site.url = server.url;

  return {
    url: server.url,
    setFault: (match, fault, faultOptions) => controls.setFault(match, fault, faultOptions),
    clearFaults: () => controls.faults.clear(),
    requests: () => controls.log.list(),
    requestCount: (match) => controls.log.count(match),
    resetRequests: () => controls.log.reset(),
    imageNames: () => [...images.keys()],
    close: async () => {
      controls.timers.clear();
      await server.close();
    },
  };
}

const REPOSITORY_ROUTES = [
  /^\/v2\/repositories\/([^/]+)\/([^/]+)\/?$/,
  /^\/v2\/namespaces\/([^/]+)\/repositories\/([^/]+)\/?$/,
];
const TAGS_ROUTES = [
  /^\/v2\/repositories\/([^/]+)\/([^/]+)\/tags\/?$/,
  /^\/v2\/namespaces\/([^/]+)\/repositories\/([^/]+)\/tags\/?$/,
];
const TAG_ROUTES = [
  /^\/v2\/repositories\/([^/]+)\/([^/]+)\/tags\/([^/]+)\/?$/,
  /^\/v2\/namespaces\/([^/]+)\/repositories\/([^/]+)\/tags\/([^/]+)\/?$/,
];
const BUILD_HISTORY_ROUTE = /^\/v2\/repositories\/([^/]+)\/([^/]+)\/buildhistory\/?$/;

function createApp(images: Map<string, HubImage>, controls: SimulatorControls, site: { url: string }) {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.use('/__sandbox', controls.router());
  app.use(controls.middleware());

  /** Finds the public image named by the first two route captures. */
  const findImage = (request: Request): HubImage | undefined => {
    const image = images.get(imageKey(request.params[0], request.params[1]));
    return image && !image.isPrivate ? image : undefined;
  };

  app.get(REPOSITORY_ROUTES, (request, response) => {
    const image = findImage(request);
    sendJsonOrNotFound(response, image?.repository);
  });
  app.get(TAGS_ROUTES, (request, response) => {
    const image = findImage(request);
    if (image) {
      sendTagPage(request, response, image, site.url);
    } else {
      sendNotFound(response);
    }
  });
  app.get(TAG_ROUTES, (request, response) => {
    const tag = findImage(request)?.tags.find((item) => item.name === request.params[2]);
    sendJsonOrNotFound(response, tag);
  });
  app.get(BUILD_HISTORY_ROUTE, (request, response) => {
    const image = findImage(request);
    if (image?.buildHistory) {
      sendBuildHistory(request, response, image, site.url);
    } else {
      sendNotFound(response);
    }
  });

  app.get(/^\/_\/([^/]+)\/?$/, (request, response) => {
    const image = images.get(imageKey('library', request.params[0]));
    sendImagePage(response, image && !image.isPrivate ? image : undefined);
  });
  app.get(/^\/r\/([^/]+)\/([^/]+)\/?$/, (request, response) => {
    sendImagePage(response, findImage(request));
  });

  app.use((_request, response) => sendNotFound(response));
  app.use((error: Error & { status?: number }, _request: Request, response: Response, _next: NextFunction) => {
    const status = error.status === 400 ? 400 : 500;
    sendBody(response, status, 'text/plain', `Docker Hub sandbox error: ${error.message}\n`);
  });
  return app;
}

/** Query of a paginated request: `page` from 1, `page_size` from 1 to 100 (default 10). */
interface PageRequest {
  page: number;
  pageSize: number;
  start: number;
}

function readPageRequest(request: Request): PageRequest {
  const pageSize = intParam(request.query.page_size, DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE);
  const page = intParam(request.query.page, 1, 1, Number.MAX_SAFE_INTEGER);
  return { page, pageSize, start: (page - 1) * pageSize };
}

/** Builds Docker Hub's page envelope `{count, next, previous, results}`; `pageUrl` gives the link to another page. */
function pageEnvelope<T>(items: T[], pageRequest: PageRequest, pageUrl: (page: number) => string) {
  const { page, pageSize, start } = pageRequest;
  return {
    count: items.length,
    next: start + pageSize < items.length ? pageUrl(page + 1) : null,
    previous: page > 1 ? pageUrl(page - 1) : null,
    results: items.slice(start, start + pageSize),
  };
}

function pageQuery(page: number, pageSize: number, extra: Record<string, string | undefined> = {}): string {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(extra)) {
    if (value !== undefined) {
      query.set(name, value);
    }
  }
  query.set('page', String(page));
  query.set('page_size', String(pageSize));
  return query.toString();
}

/** Sends one page of legacy automated builds, newest first as stored. */
function sendBuildHistory(request: Request, response: Response, image: HubImage, baseUrl: string): void {
  const pageRequest = readPageRequest(request);
  const path = `${baseUrl}/v2/repositories/${image.namespace}/${image.name}/buildhistory/`;
  const pageUrl = (page: number) => `${path}?${pageQuery(page, pageRequest.pageSize)}`;
  sendJson(response, 200, pageEnvelope(image.buildHistory ?? [], pageRequest, pageUrl));
}

/**
 * Sends one page of tags. `ordering=last_updated` (the default here) lists the
 * newest first, `-last_updated` the oldest first, `name` and `-name` by name.
 * NOTE: the meaning of the `-` prefix on hub.docker.com is not confirmed by its docs.
 */
function sendTagPage(request: Request, response: Response, image: HubImage, baseUrl: string): void {
  const pageRequest = readPageRequest(request);
  const ordering = typeof request.query.ordering === 'string' ? request.query.ordering : undefined;
  const name = typeof request.query.name === 'string' ? request.query.name : undefined;

  if (pageRequest.start >= ANONYMOUS_OFFSET_LIMIT) {
    sendBody(response, 403, 'application/json', HUB_PAGINATION_CAP_BODY);
    return;
  }
  const tags = sortTags(
    image.tags.filter((tag) => name === undefined || tag.name.includes(name)),
    ordering,
  );
  if (pageRequest.page > 1 && pageRequest.start >= tags.length) {
    sendNotFound(response);
    return;
  }
  const path = `${baseUrl}/v2/repositories/${image.namespace}/${image.name}/tags/`;
  const pageUrl = (page: number) => `${path}?${pageQuery(page, pageRequest.pageSize, { ordering, name })}`;
  sendJson(response, 200, pageEnvelope(tags, pageRequest, pageUrl));
}

function sortTags<T extends { name: string }>(tags: T[], ordering: string | undefined): T[] {
  const byTime = (tag: T) => {
    const value = (tag as Record<string, unknown>).last_updated;
    const time = typeof value === 'string' ? Date.parse(value) : NaN;
    return Number.isNaN(time) ? -Infinity : time;
  };
  const sorted = [...tags];
  switch (ordering) {
    case 'name':
      return sorted.sort((a, b) => a.name.localeCompare(b.name));
    case '-name':
      return sorted.sort((a, b) => b.name.localeCompare(a.name));
    case '-last_updated':
      return sorted.sort((a, b) => byTime(a) - byTime(b));
    default:
      return sorted.sort((a, b) => byTime(b) - byTime(a));
  }
}

function sendImagePage(response: Response, image: HubImage | undefined): void {
  if (!image) {
    sendBody(response, 404, 'text/html', '<!DOCTYPE html><title>Not found</title><h1>Repository not found</h1>\n');
    return;
  }
  const fullName = image.namespace === 'library' ? image.name : `${image.namespace}/${image.name}`;
  const repository = image.repository;
  const html = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(fullName)} - Docker Hub (sandbox)</title>
<style>body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1d1f21}
header{background:#1d63ed;color:#fff;padding:12px 24px;font-weight:600}
main{max-width:720px;margin:24px auto;padding:0 24px}dt{color:#5f6368}dd{margin:0 0 8px}</style></head>
<body><header>Docker Hub sandbox</header><main>
<h1>${escapeHtml(fullName)}</h1>
<p>${escapeHtml(repository.description ?? '')}</p>
<dl><dt>Pulls</dt><dd>${formatCount(repository.pull_count)}</dd>
<dt>Stars</dt><dd>${formatCount(repository.star_count)}</dd>
<dt>Last pushed</dt><dd>${escapeHtml(repository.last_updated ?? 'never')}</dd>
<dt>Tags</dt><dd>${image.tags.map((tag) => escapeHtml(tag.name)).join(', ') || 'none'}</dd></dl>
</main></body></html>
`;
  sendBody(response, 200, 'text/html', html);
}

function sendJson(response: Response, status: number, body: unknown): void {
  sendBody(response, status, 'application/json', JSON.stringify(body));
}

function sendJsonOrNotFound(response: Response, body: unknown): void {
  if (body === undefined) {
    sendNotFound(response);
  } else {
    sendJson(response, 200, body);
  }
}

function sendNotFound(response: Response): void {
  sendBody(response, 404, 'application/json', HUB_NOT_FOUND_BODY);
}

/** Returns the body Docker Hub sends with an error status, for `status` faults that name none. */
export function hubStatusBody(status: number): StatusBody {
  if (status === 404) {
    return { body: HUB_NOT_FOUND_BODY, contentType: 'application/json' };
  }
  if (status === 429) {
    return { body: HUB_RATE_LIMIT_BODY, contentType: 'text/plain' };
  }
  if (status === 401) {
    return { body: '{"message":"unauthorized","errinfo":{}}', contentType: 'application/json' };
  }
  if (status >= 500) {
    return { body: gatewayErrorPage(status), contentType: 'text/html' };
  }
  return { body: `{"message":"request failed with status ${status}","errinfo":{}}`, contentType: 'application/json' };
}


export interface RateLimitFaultOptions {
  /** Sends `Retry-After: <seconds>`. Default 60 when `retryAt` is not given either. */
  retryAfterSeconds?: number;
  /** Sends `X-Retry-After: <unix seconds>`, the header Docker Hub documents for its API rate limit. */
  retryAt?: Date;
}

/** Builds the 429 fault of Docker Hub's rate limiter: a text/plain body and the requested retry headers. */
export function hubRateLimitFault(options: RateLimitFaultOptions = {}): Fault {
  const headers: Record<string, string> = {};
  if (options.retryAt !== undefined) {
    headers['X-Retry-After'] = String(Math.floor(options.retryAt.getTime() / 1000));
  }
  if (options.retryAfterSeconds !== undefined || options.retryAt === undefined) {
    headers['Retry-After'] = String(options.retryAfterSeconds ?? 60);
  }
  return { kind: 'status', status: 429, body: HUB_RATE_LIMIT_BODY, contentType: 'text/plain', headers };
}
