/**
 * The REST API server of the Bitbucket simulator (plays https://api.bitbucket.org).
 * Every /2.0 request must carry an add-on JWT that Bitbucket would accept, and a
 * tenant may read only its own workspace.
 */
import crypto from 'node:crypto';
import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import { BitbucketData, RepositoryRecord, WorkspaceRecord } from './bitbucket-data';
import { Tenant } from './bitbucket-connect';
import {
  branchJson,
  commitStatusJson,
  errorBody,
  NO_ACCESS_MESSAGE,
  paginate,
  repositoryJson,
  resolveWebUrl,
  SimulatorUrls,
  TOKEN_REJECTED_MESSAGE,
} from './bitbucket-json';
import { verifyApiToken } from './bitbucket-jwt';
import { gatewayErrorPage, sendBody, StatusBody } from './faults';
import { noteRejection, SimulatorControls } from './simulator-controls';

// NOTE: Bitbucket's exact texts for a missing commit or file are not confirmed; these are plausible stand-ins.
const COMMIT_NOT_FOUND_MESSAGE = 'Commit not found';
const RESOURCE_NOT_FOUND_MESSAGE = 'Resource not found';

export interface ApiContext {
  data: BitbucketData;
  urls: SimulatorUrls;
  controls: SimulatorControls;
  findTenant(clientKey: string): Tenant | undefined;
}

/** A workspace and repository resolved from the path, after the access check. */
interface RepositoryTarget {
  workspace: WorkspaceRecord;
  repository: RepositoryRecord;
}

export function createApiApp(context: ApiContext): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.use('/__sandbox', context.controls.router());
  app.use(context.controls.middleware());
  app.use('/2.0', (request, response, next) => authenticate(context, request, response, next));
  app.get(/^\/2\.0\/repositories\/(.+)$/, (request, response) => routeRepositories(context, request, response));
  app.use((request, response) => {
    sendError(response, 404, RESOURCE_NOT_FOUND_MESSAGE);
  });
  app.use((error: Error & { status?: number }, _request: Request, response: Response, _next: NextFunction) => {
    sendBody(response, 500, 'text/plain', `Bitbucket sandbox error: ${error.message}\n`);
  });
  return app;
}

function authenticate(context: ApiContext, request: Request, response: Response, next: NextFunction): void {
  const check = verifyApiToken(request.headers.authorization, request.method, request.originalUrl, (clientKey) =>
    context.findTenant(clientKey),
  );
  if (!check.ok) {
    noteRejection(response, check.reason);
    sendError(response, 401, TOKEN_REJECTED_MESSAGE);
    return;
  }
  response.locals.tenant = check.caller;
  next();
}

/** Splits the raw path after /2.0/repositories/ into decoded segments; %2F inside a segment stays one segment. */
function decodedSegments(request: Request): string[] | undefined {
  const rawPath = request.originalUrl.split('?')[0].slice('/2.0/repositories/'.length);
  try {
    return rawPath.split('/').map((segment) => decodeURIComponent(segment));
  } catch {
    return undefined;
  }
}

/**
 * Routes /2.0/repositories/{workspace}[/{repo}[/...]] after the access check.
 * A tenant may read only its own workspace; any other gets the same 404 as a
 * missing repository.
 */
function routeRepositories(context: ApiContext, request: Request, response: Response): void {
  const segments = decodedSegments(request);
  if (!segments) {
    sendError(response, 400, 'Invalid percent-encoding in the request path');
    return;
  }

  const tenant = response.locals.tenant as Tenant;
  const workspace = context.data.findWorkspace(segments[0]);
  if (!workspace || workspace.slug !== tenant.workspace) {
    noteRejection(response, `tenant of ${tenant.workspace} may not read workspace ${segments[0]}`);
    sendError(response, 404, NO_ACCESS_MESSAGE);
    return;
  }

  const rest = trimTrailingEmpty(segments.slice(1));
  if (rest.length === 0) {
    sendRepositoryList(context, request, response, workspace);
    return;
  }
  const repository = context.data.findRepository(workspace, rest[0]);
  if (!repository) {
    sendError(response, 404, NO_ACCESS_MESSAGE);
    return;
  }

  const target = { workspace, repository };
  const [resource, ...args] = rest.slice(1);
  if (resource === undefined) {
    sendJson(response, repositoryJson(repository, workspace, context.urls));
  } else if (resource === 'src' && args.length >= 1) {
    sendSource(context, request, response, target, args[0], segments.slice(4).join('/'));
  } else if (resource === 'refs' && args[0] === 'branches' && args.length >= 2) {
    sendBranch(context, response, target, args.slice(1).join('/'));
  } else if (resource === 'commit' && args.length === 2 && args[1] === 'statuses') {
    sendStatuses(context, request, response, target, args[0]);
  } else {
    sendError(response, 404, RESOURCE_NOT_FOUND_MESSAGE);
  }
}

function sendRepositoryList(
  context: ApiContext,
  request: Request,
  response: Response,
  workspace: WorkspaceRecord,
): void {
  const repositories = [...workspace.repositories.values()].map((repository) =>
    repositoryJson(repository, workspace, context.urls),
  );
  const listUrl = `${context.urls.apiUrl}/2.0/repositories/${workspace.slug}`;
  const pageUrl = (page: number, pagelen: number) => `${listUrl}?page=${page}&pagelen=${pagelen}`;
  sendJson(response, paginate(repositories, request.query, pageUrl));
}

/** Resolves the main branch name, `HEAD` or a head hash prefix of 7+ hex digits to the head hash. */
function resolveRevision(repository: RepositoryRecord, revision: string): string | undefined {
  if (repository.mainBranch === null) {
    return undefined;
  }
  if (revision === repository.mainBranch || revision === 'HEAD') {
    return repository.head.hash;
  }
  if (/^[0-9a-f]{7,40}$/i.test(revision) && repository.head.hash.startsWith(revision.toLowerCase())) {
    return repository.head.hash;
  }
  return undefined;
}

/**
 * Serves `src/{revision}/{path}`: the raw file, its metadata with `?format=meta`,
 * a 301 for redirected (Git LFS) files, or a listing when the path is a directory.
 */
function sendSource(
  context: ApiContext,
  request: Request,
  response: Response,
  target: RepositoryTarget,
  revision: string,
  filePath: string,
): void {
  const { repository } = target;
  const hash = resolveRevision(repository, revision);
  if (hash === undefined) {
    sendError(response, 404, COMMIT_NOT_FOUND_MESSAGE);
    return;
  }
  const redirect = repository.redirects.get(filePath);
  if (redirect !== undefined) {
    response.status(301).setHeader('Location', resolveWebUrl(redirect, context.urls));
    response.end();
    return;
  }
  const bytes = repository.files.get(filePath);
  if (bytes === undefined) {
    sendDirectory(context, request, response, target, hash, filePath);
  } else if (request.query.format === 'meta') {
    sendJson(response, fileMetaJson(context, target, hash, filePath, bytes));
  } else {
    sendBody(response, 200, contentTypeFor(filePath), bytes, {
      'Content-Disposition': `attachment; filename="${filePath.split('/').pop()}"`,
      ETag: `"${crypto.createHash('sha1').update(bytes).digest('hex')}"`,
    });
  }
}

function sendDirectory(
  context: ApiContext,
  request: Request,
  response: Response,
  target: RepositoryTarget,
  hash: string,
  directoryPath: string,
): void {
  const entries = directoryEntries(target.repository, directoryPath.replace(/\/+$/, ''));
  if (entries === undefined) {
    sendError(response, 404, `No such file or directory: ${directoryPath}`);
    return;
  }
  const base = sourceUrl(context, target, hash);
  const values = entries.map((entry) => {
    if (entry.type === 'commit_file') {
      return fileMetaJson(context, target, hash, entry.path, target.repository.files.get(entry.path)!);
    }
    const links = { self: { href: `${base}/${entry.path}/` } };
    return { type: entry.type, path: entry.path, commit: { type: 'commit', hash }, links };
  });
  const pageUrl = (page: number, pagelen: number) => `${base}/${directoryPath}?page=${page}&pagelen=${pagelen}`;
  sendJson(response, paginate(values, request.query, pageUrl));
}

/** Lists the direct children of a directory ("" for the root); undefined when no file lies under it. */
function directoryEntries(repository: RepositoryRecord, directory: string) {
  const prefix = directory === '' ? '' : `${directory}/`;
  const entries = new Map<string, 'commit_file' | 'commit_directory'>();
  for (const filePath of repository.files.keys()) {
    if (!filePath.startsWith(prefix)) {
      continue;
    }
    const [first, ...deeper] = filePath.slice(prefix.length).split('/');
    entries.set(`${prefix}${first}`, deeper.length > 0 ? 'commit_directory' : 'commit_file');
  }
  if (entries.size === 0 && directory !== '') {
    return undefined;
  }
  return [...entries.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([path, type]) => ({ path, type }));
}

function sourceUrl(context: ApiContext, target: RepositoryTarget, hash: string): string {
  return `${context.urls.apiUrl}/2.0/repositories/${target.workspace.slug}/${target.repository.slug}/src/${hash}`;
}

function fileMetaJson(context: ApiContext, target: RepositoryTarget, hash: string, filePath: string, bytes: Buffer) {
  const base = sourceUrl(context, target, hash);
  return {
    type: 'commit_file',
    path: filePath,
    escaped_path: filePath,
    size: bytes.length,
    mimetype: contentTypeFor(filePath),
    attributes: [],
    commit: { type: 'commit', hash },
    links: { self: { href: `${base}/${filePath}` }, meta: { href: `${base}/${filePath}?format=meta` } },
  };
}

function sendBranch(context: ApiContext, response: Response, target: RepositoryTarget, name: string): void {
  const { workspace, repository } = target;
  if (repository.mainBranch === null || name !== repository.mainBranch) {
    sendError(response, 404, `Branch "${name}" not found`);
    return;
  }
  sendJson(response, branchJson(repository, workspace, name, context.urls));
}

function sendStatuses(
  context: ApiContext,
  request: Request,
  response: Response,
  target: RepositoryTarget,
  hash: string,
): void {
  const { workspace, repository } = target;
  const knownCommit = /^[0-9a-f]{7,40}$/i.test(hash) && resolveRevision(repository, hash) !== undefined;
  if (!knownCommit) {
    sendError(response, 404, COMMIT_NOT_FOUND_MESSAGE);
    return;
  }
  const statuses = repository.statuses.map((status) => commitStatusJson(status, repository, context.urls));
  const repositoryUrl = `${context.urls.apiUrl}/2.0/repositories/${workspace.slug}/${repository.slug}`;
  const commitUrl = `${repositoryUrl}/commit/${repository.head.hash}`;
  const pageUrl = (page: number, pagelen: number) => `${commitUrl}/statuses?page=${page}&pagelen=${pagelen}`;
  sendJson(response, paginate(statuses, request.query, pageUrl));
}

const CONTENT_TYPES: Record<string, string> = {
  yml: 'application/x-yaml',
  yaml: 'application/x-yaml',
  json: 'application/json',
  md: 'text/markdown',
  txt: 'text/plain',
  html: 'text/html',
  xml: 'application/xml',
  js: 'application/javascript',
  sh: 'application/x-sh',
  png: 'image/png',
  jpg: 'image/jpeg',
  gif: 'image/gif',
};

/**
 * Returns a Content-Type for the file extension, without a charset, as Bitbucket's
 * src endpoint sends it. The table covers a few common extensions. Other names,
 * such as Dockerfile or source files, get text/plain.
 */
export function contentTypeFor(filePath: string): string {
  const name = filePath.split('/').pop() ?? '';
  const dot = name.lastIndexOf('.');
  const extension = dot >= 0 ? name.slice(dot + 1).toLowerCase() : '';
  return CONTENT_TYPES[extension] ?? 'text/plain';
}

function trimTrailingEmpty(segments: string[]): string[] {
  const result = [...segments];
  while (result.length > 0 && result[result.length - 1] === '') {
    result.pop();
  }
  return result;
}

function sendJson(response: Response, body: unknown): void {
  sendBody(response, 200, 'application/json', JSON.stringify(body));
}

function sendError(response: Response, status: number, message: string): void {
  sendBody(response, status, 'application/json', errorBody(message));
}

/** Returns the body Bitbucket sends with an error status, for `status` faults that name none. */
export function bitbucketStatusBody(status: number): StatusBody {
  if (status >= 500) {
    return { body: gatewayErrorPage(status), contentType: 'text/html' };
  }
  const messages: Record<number, string> = {
    401: TOKEN_REJECTED_MESSAGE,
    403: 'Your credentials lack one or more required privilege scopes.',
    404: NO_ACCESS_MESSAGE,
    // Bitbucket's rate limit body is not confirmed, so clients should rely on the status alone.
    429: 'Rate limit for this resource has been exceeded',
  };
  const message = messages[status] ?? `Request failed with status ${status}`;
  return { body: errorBody(message), contentType: 'application/json' };
}
