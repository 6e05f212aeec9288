/**
 * GET /panel: the repository overview web panel, rendered inside Bitbucket's iframe.
 */
import type { Request, Response } from 'express';
import type { Environment } from 'nunjucks';
import { parseRepositoryPath } from '../core/bitbucket';
import type { PanelData, PanelService, Section } from '../core/panel-service';
import { buildPanelViewWithLifetime } from '../core/panel-view';
import type { Logger } from '../logger';
import { HostAuthError, HostAuthOptions, verifyHostRequest } from './host-auth';
import { asyncHandler } from './lifecycle';
import { panelContentSecurityPolicy, setPanelSecurityHeaders } from './security';
import type { Tenant } from './tenants';

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
  const pages = new PanelPages(options);
  const defaultPolicy = panelContentSecurityPolicy(options.defaultFrameAncestors);

  const sendPage = (response: Response, status: number, template: string) => {
    setPanelSecurityHeaders(response, defaultPolicy);
    response.status(status).type('html').send(options.views.render(template, {}));
  };

  return asyncHandler(async (request: Request, response: Response) => {
    const started = Date.now();
    const log: Logger = response.locals.log;

    let verified;
    try {
      verified = await verifyHostRequest(request, options.auth);
    } catch (error) {
      if (!(error instanceof HostAuthError)) throw error;
      log.warn({ reason: error.message }, 'panel request rejected');
      sendPage(response, 401, 'unauthorized.njk');
      return;
    }

    const { tenant } = verified;
    response.locals.logFields = { clientKey: tenant.clientKey };
    const repository = parseRepositoryPath(request.query.repo);
    if (!repository) {
      log.warn('panel request has no valid repo parameter');
      sendPage(response, 400, 'bad-request.njk');
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

    const host = pages.hostOf(tenant);
    setPanelSecurityHeaders(response, host.contentSecurityPolicy);
    const html = pages.render(data, host.scriptUrl, Date.now());
    // Plain Node calls: express's send would parse the Content-Type again for every panel.
    response.statusCode = 200;
    response.setHeader('Content-Type', 'text/html; charset=utf-8');
    response.setHeader('Content-Length', Buffer.byteLength(html));
    response.end(html);
  });
}

/** Settings of a panel page that come from the tenant's host, derived once per tenant object. */
interface HostPageSettings {
  scriptUrl: string;
  contentSecurityPolicy: string;
}

interface RenderedPanel {
  hostScriptUrl: string;
  html: string;
  /** First instant at which the page may read differently, because a relative time moves on. */
  validUntil: number;
}

/**
 * Renders panel pages and reuses them. PanelService returns the same data object
 * while the data is fresh, so a page rendered from that object is sent again until
 * one of its relative times would change. The tenant cache likewise keeps one
 * object per tenant, and a changed tenant comes as a new object.
 */
class PanelPages {
  private readonly rendered = new WeakMap<PanelData, RenderedPanel>();
  private readonly hosts = new WeakMap<Tenant, HostPageSettings>();

  constructor(private readonly options: PanelRouteOptions) {}

  hostOf(tenant: Tenant): HostPageSettings {
    let host = this.hosts.get(tenant);
    if (!host) {
      const origin = new URL(tenant.baseUrl).origin;
      host = { scriptUrl: `${origin}/atlassian-connect/all.js`, contentSecurityPolicy: panelContentSecurityPolicy(origin, origin) };
      this.hosts.set(tenant, host);
    }
    return host;
  }

  render(data: PanelData, hostScriptUrl: string, now: number): string {
    const reusable = this.rendered.get(data);
    if (reusable && reusable.hostScriptUrl === hostScriptUrl && now < reusable.validUntil) {
      return reusable.html;
    }
    const { view, validUntil } = buildPanelViewWithLifetime(data, { now, dockerHubWebUrl: this.options.dockerHubWebUrl });
    const html = this.options.views.render('panel.njk', { view, hostScriptUrl });
    this.rendered.set(data, { hostScriptUrl, html, validUntil });
    return html;
  }
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
