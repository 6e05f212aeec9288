/**
 * GET /panel: the repository overview web panel, rendered inside Bitbucket's iframe.
 */
import type { Request, Response } from 'express';
import { LRUCache } from 'lru-cache';
import type { Environment } from 'nunjucks';
import { parseRepositoryPath } from '../core/bitbucket';
import type { PanelData, PanelService, Section } from '../core/panel-service';
import { buildPanelView, PanelView } from '../core/panel-view';
import type { Logger } from '../logger';
import { HostAuthError, HostAuthOptions, verifyHostRequest } from './host-auth';
import { asyncHandler } from './lifecycle';
import { panelSecurityHeaders } from './security';

/** Time kept back from the panel budget for rendering and sending the page. */
const RENDER_MARGIN_MS = 150;

export interface PanelRouteOptions {
  appKey: string;
  auth: HostAuthOptions;
  panelService: PanelService;
  views: Environment;
  panelBudgetMs: number;
  dockerHubWebUrl: string;
  /** frame-ancestors for pages sent before the tenant is known. */
  defaultFrameAncestors: string;
}

export function panelHandler(options: PanelRouteOptions) {
  return asyncHandler(async (request: Request, response: Response) => {
    const started = Date.now();
    const log: Logger = response.locals.log;

    let verified;
    try {
      verified = await verifyHostRequest(request, options.auth);
    } catch (error) {
      if (!(error instanceof HostAuthError)) throw error;
      log.warn({ reason: error.message }, 'panel request rejected');
      sendPage(response, options, 401, 'unauthorized.njk');
      return;
    }

    const { tenant } = verified;
    response.locals.logFields = { clientKey: tenant.clientKey };
    const repository = parseRepositoryPath(request.query.repo);
    if (!repository) {
      log.warn('panel request has no valid repo parameter');
      sendPage(response, options, 400, 'bad-request.njk');
      return;
    }
    response.locals.logFields.repository = `${repository.workspace}/${repository.slug}`;

    const data = await options.panelService.load({
      credentials: {
        appKey: options.appKey,
        clientKey: tenant.clientKey,
        sharedSecret: tenant.sharedSecret,
        baseApiUrl: tenant.baseApiUrl,
      },
      repository,
      deadline: started + options.panelBudgetMs - RENDER_MARGIN_MS,
    });
    logUpstreamProblems(log, data);

    const view = buildPanelView(data, { now: Date.now(), dockerHubWebUrl: options.dockerHubWebUrl });
    const hostOrigin = new URL(tenant.baseUrl).origin;
    panelSecurityHeaders(response, hostOrigin, hostOrigin);
    const html = renderPanel(options.views, view, `${hostOrigin}/atlassian-connect/all.js`);
    // Plain Node calls: express's send would parse the Content-Type again for every panel.
    response.statusCode = 200;
    response.setHeader('Content-Type', 'text/html; charset=utf-8');
    response.setHeader('Content-Length', Buffer.byteLength(html));
    response.end(html);
  });
}

/**
 * Rendered panels by their complete input. The template is a pure function of the
 * view and the host script URL, and many views of a repository produce the same
 * view, so the same bytes are reused instead of rendered again. Bounded in count
 * and in characters.
 */
const renderedPanels = new LRUCache<string, string>({
  max: 2_000,
  maxSize: 8 * 1024 * 1024,
  sizeCalculation: (html, key) => html.length + key.length,
});

function renderPanel(views: Environment, view: PanelView, hostScriptUrl: string): string {
  const key = `${hostScriptUrl}\n${JSON.stringify(view)}`;
  let html = renderedPanels.get(key);
  if (html === undefined) {
    html = views.render('panel.njk', { view, hostScriptUrl });
    renderedPanels.set(key, html);
  }
  return html;
}

function sendPage(response: Response, options: PanelRouteOptions, status: number, template: string) {
  panelSecurityHeaders(response, options.defaultFrameAncestors);
  response.status(status).type('html').send(options.views.render(template, {}));
}

function logUpstreamProblems(log: Logger, data: PanelData): void {
  if (data.state === 'bitbucket-error') {
    log.warn({ upstream: data.error.service, kind: data.error.kind, detail: data.error.detail }, 'upstream call failed');
    return;
  }
  if (data.state !== 'ready') {
    return;
  }
  const image = `${data.image.namespace}/${data.image.name}`;
  const sections: Array<[string, Section<unknown>]> = [
    ['hubRepository', data.hubRepository],
    ['tags', data.tags],
    ['hubBuild', data.hubBuild],
    ['commitStatuses', data.commitStatuses],
  ];
  for (const [name, section] of sections) {
    const error = section.state === 'error' ? section.error : section.staleReason;
    // A 404 from the retired build history endpoint is the normal case, not a problem.
    if (!error || (name === 'hubBuild' && error.kind === 'not-found')) continue;
    log.warn(
      { image, section: name, upstream: error.service, kind: error.kind, detail: error.detail, stale: section.state === 'ok' },
      'upstream call failed',
    );
  }
}
