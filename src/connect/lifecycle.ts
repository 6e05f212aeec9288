/**
 * Lifecycle callbacks. Bitbucket sends the first install unsigned, and every later
 * install or uninstall signed with the tenant's current shared secret. These
 * handlers replace ACE's install route, which stores the whole payload without
 * checking its hosts, and add the uninstall route ACE does not have.
 */
import type { NextFunction, Request, Response } from 'express';
import { z } from 'zod';
import type { Logger } from '../logger';
import { HostAuthError, HostAuthOptions, verifyHostRequest } from './host-auth';
import type { Tenant, Tenants } from './tenants';

const PRODUCTION_BASE_URL = 'https://bitbucket.org';
const PRODUCTION_API_URL = 'https://api.bitbucket.org';

const installPayloadSchema = z.object({
  key: z.string(),
  clientKey: z.string().min(1).max(255).regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces'),
  sharedSecret: z.string().min(16).max(512),
  baseUrl: z.string().url().max(2048),
  baseApiUrl: z.string().url().max(2048),
  productType: z.literal('bitbucket'),
  eventType: z.literal('installed'),
  principal: z
    .object({ uuid: z.string().regex(/^\{[0-9a-fA-F-]{1,64}\}$/).optional() })
    .passthrough()
    .optional(),
});
type InstallPayload = z.infer<typeof installPayloadSchema>;

export interface LifecycleOptions {
  appKey: string;
  /** Its save and delete must also drop cached copies in every process, as CachedTenantStore does. */
  tenants: Tenants;
  auth: HostAuthOptions;
  allowLoopbackHosts: boolean;
  /** Confirms new credentials with Bitbucket before a first install is stored; undefined skips the check. */
  confirmInstall?: (payload: Tenant) => Promise<'confirmed' | 'rejected' | 'unavailable'>;
  /** Removes everything cached for a tenant. */
  purgeTenant(clientKey: string): Promise<void>;
  logger: Logger;
}

type Handler = (request: Request, response: Response, next: NextFunction) => void;

export function installedHandler(options: LifecycleOptions): Handler {
  return asyncHandler(async (request, response) => {
    const parsed = installPayloadSchema.safeParse(request.body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = issue.path.join('.') || 'body';
      response.status(400).json({ message: `Invalid install payload: ${field}: ${issue.message}` });
      return;
    }
    const payload = parsed.data;
    const log = requestLogger(response, options.logger).child({ clientKey: payload.clientKey, area: 'lifecycle' });
    if (payload.key !== options.appKey) {
      response.status(400).json({ message: `Invalid install payload: key must be "${options.appKey}"` });
      return;
    }
    const hostProblem = checkHosts(payload, options.allowLoopbackHosts);
    if (hostProblem) {
      log.warn({ reason: hostProblem }, 'install rejected');
      response.status(403).json({ message: `Install rejected: ${hostProblem}` });
      return;
    }

    const existing = await options.tenants.get(payload.clientKey);
    if (existing) {
      // A reinstall must be signed with the current secret, which only the installing host has.
      try {
        const verified = await verifyHostRequest(request, options.auth);
        if (verified.tenant.clientKey !== payload.clientKey) {
          throw new HostAuthError('token issuer differs from the payload clientKey');
        }
      } catch (error) {
        return rejectUnauthorized(response, log, error);
      }
    }

    const tenant = toTenant(payload);
    if (!existing && options.confirmInstall) {
      const outcome = await options.confirmInstall(tenant);
      if (outcome === 'rejected') {
        log.warn('install rejected: Bitbucket did not accept the new shared secret');
        response.status(401).json({ message: 'Install rejected: Bitbucket did not accept the shared secret' });
        return;
      }
      if (outcome === 'unavailable') {
        log.warn('install not stored: Bitbucket could not be reached to confirm it');
        response.status(503).json({ message: 'Could not confirm the install with Bitbucket; try installing again' });
        return;
      }
    }
    await options.tenants.save(tenant);
    log.info({ reinstall: Boolean(existing) }, 'tenant installed');
    response.status(204).end();
  });
}

export function uninstalledHandler(options: LifecycleOptions): Handler {
  return asyncHandler(async (request, response) => {
    let tenant: Tenant;
    try {
      tenant = (await verifyHostRequest(request, options.auth)).tenant;
      const bodyClientKey = request.body?.clientKey;
      if (bodyClientKey !== undefined && bodyClientKey !== tenant.clientKey) {
        throw new HostAuthError('token issuer differs from the payload clientKey');
      }
    } catch (error) {
      return rejectUnauthorized(response, requestLogger(response, options.logger).child({ area: 'lifecycle' }), error);
    }
    await options.tenants.delete(tenant.clientKey);
    await options.purgeTenant(tenant.clientKey);
    requestLogger(response, options.logger).info({ clientKey: tenant.clientKey, area: 'lifecycle' }, 'tenant uninstalled and purged');
    response.status(204).end();
  });
}

/** Returns the request's logger, which carries its requestId, or the process logger outside a request. */
function requestLogger(response: Response, fallback: Logger): Logger {
  return (response.locals.log as Logger | undefined) ?? fallback;
}

function rejectUnauthorized(response: Response, log: Logger, error: unknown): void {
  if (!(error instanceof HostAuthError)) {
    throw error;
  }
  log.warn({ reason: error.message }, 'lifecycle callback rejected');
  response.status(401).json({ message: 'Unauthorized: the request is not signed with the current shared secret' });
}

function toTenant(payload: InstallPayload): Tenant {
  return {
    clientKey: payload.clientKey,
    key: payload.key,
    sharedSecret: payload.sharedSecret,
    baseUrl: payload.baseUrl.replace(/\/+$/, ''),
    baseApiUrl: payload.baseApiUrl.replace(/\/+$/, ''),
    productType: payload.productType,
    principalUuid: payload.principal?.uuid,
    installedAt: new Date().toISOString(),
  };
}

/** Returns why the payload's hosts are not accepted, or undefined when they are. */
export function checkHosts(payload: Pick<InstallPayload, 'baseUrl' | 'baseApiUrl'>, allowLoopback: boolean) {
  const baseUrl = payload.baseUrl.replace(/\/+$/, '');
  const baseApiUrl = payload.baseApiUrl.replace(/\/+$/, '');
  if (baseUrl === PRODUCTION_BASE_URL && baseApiUrl === PRODUCTION_API_URL) {
    return undefined;
  }
  if (allowLoopback && isLoopbackUrl(baseUrl) && isLoopbackUrl(baseApiUrl)) {
    return undefined;
  }
  const allowed = allowLoopback ? `${PRODUCTION_BASE_URL} or a loopback host` : PRODUCTION_BASE_URL;
  return `installs are accepted only from ${allowed} with the matching API host`;
}

function isLoopbackUrl(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  if (url.username || url.password || url.search || url.hash) return false;
  const host = url.hostname;
  return host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

export function asyncHandler(handler: (request: Request, response: Response) => Promise<void>): Handler {
  return (request, response, next) => {
    handler(request, response).catch(next);
  };
}
