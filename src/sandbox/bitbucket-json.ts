/** Bitbucket Cloud REST API 2.0 response bodies, built from the sandbox records. */
import { CommitStatusRecord, RepositoryRecord, WorkspaceRecord } from './bitbucket-data';
import { intParam } from './query-params';

export interface SimulatorUrls {
  /** Plays https://bitbucket.org. */
  webUrl: string;
  /** Plays https://api.bitbucket.org. */
  apiUrl: string;
}

export const TOKEN_REJECTED_MESSAGE = 'Token is invalid, expired, or not supported for this endpoint.';
export const NO_ACCESS_MESSAGE = 'You may not have access to this repository or it no longer exists in this workspace.';

export function errorBody(message: string, detail?: unknown): string {
  const error: Record<string, unknown> = { message };
  if (detail !== undefined) {
    error.detail = detail;
  }
  return JSON.stringify({ type: 'error', error });
}

/** Percent-encodes the braces of a `{uuid}`, as Bitbucket does in the links it returns. */
export function encodeUuid(uuid: string): string {
  return encodeURIComponent(uuid);
}

export function workspaceJson(workspace: WorkspaceRecord, urls: SimulatorUrls) {
  return {
    type: 'workspace',
    uuid: workspace.uuid,
    slug: workspace.slug,
    name: workspace.name,
    links: {
      self: { href: `${urls.apiUrl}/2.0/workspaces/${workspace.slug}` },
      html: { href: `${urls.webUrl}/${workspace.slug}/` },
      avatar: { href: `${urls.webUrl}/workspaces/${workspace.slug}/avatar/` },
    },
  };
}

/** Returns the workspace as the `team` account that Connect install payloads contain as principal and user. */
export function teamAccountJson(workspace: WorkspaceRecord, urls: SimulatorUrls) {
  return {
    type: 'team',
    uuid: workspace.uuid,
    username: workspace.slug,
    display_name: workspace.name,
    links: {
      self: { href: `${urls.apiUrl}/2.0/teams/${encodeUuid(workspace.uuid)}` },
      html: { href: `${urls.webUrl}/${encodeUuid(workspace.uuid)}/` },
      avatar: { href: `${urls.webUrl}/account/${workspace.slug}/avatar/` },
    },
    created_on: '2019-03-14T09:12:45.377044+00:00',
    is_active: true,
    properties: {},
    has_2fa_enabled: null,
  };
}

export function repositoryJson(repository: RepositoryRecord, workspace: WorkspaceRecord, urls: SimulatorUrls) {
  const fullName = `${workspace.slug}/${repository.slug}`;
  const apiBase = `${urls.apiUrl}/2.0/repositories/${fullName}`;
  return {
    type: 'repository',
    uuid: repository.uuid,
    full_name: fullName,
    name: repository.name,
    slug: repository.slug,
    description: repository.description,
    is_private: repository.isPrivate,
    scm: 'git',
    language: repository.language,
    created_on: repository.createdOn,
    updated_on: repository.updatedOn,
    size: [...repository.files.values()].reduce((total, bytes) => total + bytes.length, 0),
    has_issues: false,
    has_wiki: false,
    fork_policy: 'no_public_forks',
    mainbranch: repository.mainBranch === null ? null : { type: 'branch', name: repository.mainBranch },
    owner: teamAccountJson(workspace, urls),
    workspace: workspaceJson(workspace, urls),
    links: {
      self: { href: apiBase },
      html: { href: `${urls.webUrl}/${fullName}` },
      avatar: { href: `${urls.webUrl}/${fullName}/avatar/32/` },
      source: { href: `${apiBase}/src` },
      commits: { href: `${apiBase}/commits` },
      branches: { href: `${apiBase}/refs/branches` },
    },
  };
}

export function branchJson(
  repository: RepositoryRecord,
  workspace: WorkspaceRecord,
  name: string,
  urls: SimulatorUrls,
) {
  const apiBase = `${urls.apiUrl}/2.0/repositories/${workspace.slug}/${repository.slug}`;
  return {
    type: 'branch',
    name,
    target: {
      type: 'commit',
      hash: repository.head.hash,
      date: repository.head.date,
      message: repository.head.message,
      author: { type: 'author', raw: repository.head.author },
      links: { self: { href: `${apiBase}/commit/${repository.head.hash}` } },
    },
    links: {
      self: { href: `${apiBase}/refs/branches/${encodeURIComponent(name)}` },
      html: { href: `${urls.webUrl}/${workspace.slug}/${repository.slug}/branch/${encodeURIComponent(name)}` },
    },
  };
}

export function commitStatusJson(status: CommitStatusRecord, repository: RepositoryRecord, urls: SimulatorUrls) {
  const repositoryUrl = `${urls.apiUrl}/2.0/repositories/${repository.workspace}/${repository.slug}`;
  const commitUrl = `${repositoryUrl}/commit/${repository.head.hash}`;
  return {
    type: 'build',
    key: status.key,
    name: status.name,
    state: status.state,
    url: resolveWebUrl(status.url, urls),
    description: status.description,
    created_on: status.created_on,
    updated_on: status.updated_on,
    links: {
      self: { href: `${commitUrl}/statuses/build/${encodeURIComponent(status.key)}` },
      commit: { href: commitUrl },
    },
  };
}

/** Resolves a path such as "/acme-ws/widget-api/pipelines/results/1" against the web URL; keeps absolute URLs. */
export function resolveWebUrl(location: string, urls: SimulatorUrls): string {
  return new URL(location, `${urls.webUrl}/`).toString();
}

export interface Page<T> {
  pagelen: number;
  size: number;
  page: number;
  values: T[];
  next?: string;
  previous?: string;
}

export const DEFAULT_PAGE_LENGTH = 10;
export const MAX_PAGE_LENGTH = 100;

/** Cuts one page out of `items`, with `next`/`previous` links built by `pageUrl`. */
export function paginate<T>(
  items: T[],
  query: { page?: unknown; pagelen?: unknown },
  pageUrl: (page: number, pagelen: number) => string,
): Page<T> {
  const pagelen = intParam(query.pagelen, DEFAULT_PAGE_LENGTH, 1, MAX_PAGE_LENGTH);
  const page = intParam(query.page, 1, 1, Number.MAX_SAFE_INTEGER);
  const start = (page - 1) * pagelen;
  const result: Page<T> = { pagelen, size: items.length, page, values: items.slice(start, start + pagelen) };
  if (start + pagelen < items.length) {
    result.next = pageUrl(page + 1, pagelen);
  }
  if (page > 1) {
    result.previous = pageUrl(page - 1, pagelen);
  }
  return result;
}
