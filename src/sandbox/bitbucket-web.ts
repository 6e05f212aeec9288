/**
 * The web server of the Bitbucket simulator (plays https://bitbucket.org): the
 * repository pages a person opens in the demo, the all.js stand-in, and
 * install/uninstall buttons.
 */
import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import { BitbucketData, RepositoryRecord } from './bitbucket-data';
import { ConnectHost, overviewPanels } from './bitbucket-connect';
import { resolveWebUrl, SimulatorUrls } from './bitbucket-json';
import {
  allJsScript,
  renderBuildPage,
  renderFilePage,
  renderMessagePage,
  renderOverview,
  renderRepositoryList,
  OverviewModel,
  SidebarState,
} from './bitbucket-pages';
import { sendBody } from './faults';

export interface WebContext {
  data: BitbucketData;
  urls: SimulatorUrls;
  host: ConnectHost;
  addonBaseUrl: string;
}

const SLUG = '[A-Za-z0-9._-]+';

export function createWebApp(context: WebContext): express.Express {
  const app = express();
  app.disable('x-powered-by');

  app.get('/', (_request, response) => {
    const html = renderRepositoryList({
      workspaces: context.data.workspaces(),
      isInstalled: (workspace) => context.host.tenant(workspace) !== undefined,
      addonBaseUrl: context.addonBaseUrl,
    });
    sendHtml(response, 200, html);
  });

  app.get('/atlassian-connect/all.js', (_request, response) => {
    response.setHeader('Cache-Control', 'no-cache');
    sendBody(response, 200, 'application/javascript', allJsScript(new URL(context.urls.webUrl).origin));
  });

  const formParser = express.urlencoded({ extended: false });
  app.post(`/__sandbox/:action(install|uninstall)/:workspace(${SLUG})`, formParser, (request, response, next) => {
    runLifecycleAction(context, request, response).catch(next);
  });

  app.get(`/:workspace(${SLUG})/:repository(${SLUG})`, (request, response) => {
    const repository = findRepository(context, request);
    if (!repository) {
      sendNotFound(response);
      return;
    }
    sendHtml(response, 200, renderOverview(overviewModel(context, repository)));
  });

  app.get(`/:workspace(${SLUG})/:repository(${SLUG})/src/:revision/*`, (request, response) => {
    const repository = findRepository(context, request);
    if (!repository) {
      sendNotFound(response);
      return;
    }
    const workspace = context.data.requireWorkspace(repository.workspace);
    const filePath = request.params[0];
    const revision = request.params.revision;
    const bytes = revision === repository.mainBranch ? repository.files.get(filePath) : undefined;
    sendHtml(response, bytes ? 200 : 404, renderFilePage({ workspace, repository, revision, filePath, bytes }));
  });

  app.get(`/:workspace(${SLUG})/:repository(${SLUG})/pipelines/results/:number(\\d+)`, (request, response) => {
    const repository = findRepository(context, request);
    if (!repository) {
      sendNotFound(response);
      return;
    }
    const path = request.path;
    const status = repository.statuses.find((item) => new URL(resolveWebUrl(item.url, context.urls)).pathname === path);
    const fullName = `${repository.workspace}/${repository.slug}`;
    sendHtml(response, 200, renderBuildPage(fullName, status, request.params.number));
  });

  app.use((_request, response) => sendNotFound(response));
  app.use((error: Error, _request: Request, response: Response, _next: NextFunction) => {
    sendHtml(response, 500, renderMessagePage('Sandbox error', error.message));
  });
  return app;
}

function findRepository(context: WebContext, request: Request): RepositoryRecord | undefined {
  return context.data.findWorkspace(request.params.workspace)?.repositories.get(request.params.repository);
}

function overviewModel(context: WebContext, repository: RepositoryRecord): OverviewModel {
  const workspace = context.data.requireWorkspace(repository.workspace);
  const hasCommits = repository.mainBranch !== null;
  const readme = hasCommits ? repository.files.get('README.md')?.toString('utf8') : undefined;
  return {
    workspaces: context.data.workspaces(),
    workspace,
    repository,
    entries: hasCommits ? topLevelEntries(repository) : [],
    readme,
    statuses: hasCommits
      ? repository.statuses.map((status) => ({ ...status, href: resolveWebUrl(status.url, context.urls) }))
      : [],
    sidebar: sidebarState(context, repository),
  };
}

function sidebarState(context: WebContext, repository: RepositoryRecord): SidebarState {
  const tenant = context.host.tenant(repository.workspace);
  if (!tenant) {
    return { kind: 'not-installed', addonBaseUrl: context.addonBaseUrl };
  }
  if (overviewPanels(tenant.descriptor).length === 0) {
    return { kind: 'no-panels' };
  }
  try {
    return { kind: 'panels', frames: context.host.panelFrames(repository.workspace, repository.slug) };
  } catch (error) {
    return { kind: 'error', message: `Cannot show the add-on panel: ${(error as Error).message}` };
  }
}

function topLevelEntries(repository: RepositoryRecord) {
  const entries = new Map<string, 'commit_file' | 'commit_directory'>();
  for (const filePath of repository.files.keys()) {
    const [first, ...rest] = filePath.split('/');
    entries.set(first, rest.length > 0 ? 'commit_directory' : 'commit_file');
  }
  // Directories first, then files, each group by name.
  const rank = (type: string) => (type === 'commit_directory' ? 0 : 1);
  return [...entries.entries()]
    .sort(([nameA, typeA], [nameB, typeB]) => rank(typeA) - rank(typeB) || nameA.localeCompare(nameB))
    .map(([path, type]) => ({ path, type }));
}

/** Runs an install or uninstall from a page button, then returns to the page. */
async function runLifecycleAction(context: WebContext, request: Request, response: Response): Promise<void> {
  const origin = request.headers.origin;
  if (origin !== undefined && origin !== new URL(context.urls.webUrl).origin) {
    sendHtml(response, 403, renderMessagePage('Forbidden', `Requests from origin ${origin} may not change installs`));
    return;
  }
  const workspace = request.params.workspace;
  try {
    if (request.params.action === 'install') {
      await context.host.install(workspace);
    } else {
      await context.host.uninstall(workspace);
    }
  } catch (error) {
    sendHtml(response, 502, renderMessagePage(`The ${request.params.action} failed`, (error as Error).message));
    return;
  }
  const returnTo = typeof request.body?.returnTo === 'string' ? request.body.returnTo : '/';
  // Only same-site paths, because browsers follow "//host" and "/\host" to another site.
  const safeReturn = /^\/(?![/\\])/.test(returnTo) ? returnTo : '/';
  response.redirect(303, safeReturn);
}

function sendHtml(response: Response, status: number, html: string): void {
  response.setHeader('Cache-Control', 'no-store');
  sendBody(response, status, 'text/html; charset=utf-8', html);
}

function sendNotFound(response: Response): void {
  sendHtml(response, 404, renderMessagePage('Page not found', 'No sandbox page or repository at this address.'));
}
