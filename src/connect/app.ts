/**
 * Builds the Express application: ACE for the descriptor and the tenant store,
 * this add-on's own lifecycle and panel routes, static files, health checks and
 * error handling. `createApp` does not listen; server.ts and the tests do.
 */
import fs from 'node:fs';
import path from 'node:path';
import ace from 'atlassian-connect-express';
import express, { Router } from 'express';
import nunjucks from 'nunjucks';
import type { AppConfig } from '../config';
import { BitbucketClient } from '../core/bitbucket';
import { UpstreamCache } from '../core/cache';
import { DockerHubClient } from '../core/docker-hub';
import { isUpstreamError } from '../core/errors';
import { PanelService, tenantCachePrefix } from '../core/panel-service';
import type { Logger } from '../logger';
import { findProjectRoot } from '../paths';
import { SharedState } from '../infra/shared-state';
import { HostAuthOptions } from './host-auth';
import { errorHandler, errorSummary, requestLogging } from './http-middleware';
import { asyncHandler, installedHandler, uninstalledHandler } from './lifecycle';
import { panelHandler } from './panel-route';
import { baseSecurityHeaders } from './security';
import { CachedTenantStore, TenantStore } from './tenants';

const USER_AGENT = 'docker-hub-for-bitbucket/0.1 (+https://bitbucket.org)';
const INSTALL_CONFIRM_TIMEOUT_MS = 5000;

export interface AppHandle {
  app: express.Express;
  tenants: CachedTenantStore;
  /** Deletes the cached upstream responses, and the panel data made from them, of one tenant or of all tenants. */
  purgeCachedData(clientKey?: string): Promise<void>;
  /** Resolves when the tenant store is ready. */
  ready: Promise<void>;
  /** Returns the first failing dependency, or undefined when all can be reached. */
  checkReadiness(): Promise<string | undefined>;
  close(): Promise<void>;
}

export function createApp(config: AppConfig, logger: Logger, shared: SharedState): AppHandle {
  const root = findProjectRoot();
  const app = express();
  app.set('env', config.environment);
  app.set('query parser', 'simple');
  app.set('trust proxy', true);
  app.disable('x-powered-by');
  // Panels are no-store and per request, so ETags only cost a hash of every body.
  app.set('etag', false);

  const addon = createAddon(app, config, logger, root);
  const tenantStore = new TenantStore(addon.settings);
  const tenants = new CachedTenantStore(tenantStore, shared.tenantEvents);
  const cache = new UpstreamCache(shared.cacheBackend, shared.callSharing, {
    backendError: (operation, error) => logger.warn({ area: 'cache', operation, error: errorSummary(error) }, 'cache backend failed'),
  });
  const bitbucket = new BitbucketClient({ userAgent: USER_AGENT, maxFileBytes: config.configFileMaxBytes });
  const dockerHub = new DockerHubClient({
    baseUrl: config.dockerHubUrl,
    userAgent: USER_AGENT,
    rateLimitGate: shared.dockerHubGate,
  });
  const panelService = new PanelService({
    bitbucket,
    dockerHub,
    cache,
    upstreamTimeoutMs: config.upstreamTimeoutMs,
    maxConfigFileBytes: config.configFileMaxBytes,
    cacheLifetimes: config.cacheLifetimes,
  });
  // An install or uninstall in another process purges the shared cache there. Here it drops
  // the tenant's snapshots, and calls in flight for the tenant do not write back.
  shared.tenantEvents.subscribe((clientKey) => {
    cache.notePurge(tenantCachePrefix(clientKey));
    panelService.forgetSnapshots(clientKey);
  });
  const purgeCachedData = async (clientKey?: string) => {
    await cache.deleteByPrefix(clientKey === undefined ? '' : tenantCachePrefix(clientKey));
    panelService.forgetSnapshots(clientKey);
  };
  const views = new nunjucks.Environment(new nunjucks.FileSystemLoader(path.join(root, 'views')), {
    autoescape: true,
    throwOnUndefined: false,
  });

  const auth: HostAuthOptions = {
    findTenant: (clientKey) => tenants.get(clientKey),
    basePath: config.basePath,
    leewaySeconds: config.jwtLeewaySeconds,
  };
  const lifecycleOptions = {
    appKey: config.appKey,
    tenants,
    auth,
    allowLoopbackHosts: config.allowLoopbackHosts,
    confirmInstall: config.verifyInstallWithBitbucket
      ? async (tenant: { clientKey: string; sharedSecret: string; baseApiUrl: string; principalUuid?: string }) => {
          if (!tenant.principalUuid) return 'rejected' as const;
          try {
            return await bitbucket.checkCredentials(
              { appKey: config.appKey, ...tenant },
              tenant.principalUuid,
              Date.now() + INSTALL_CONFIRM_TIMEOUT_MS,
            );
          } catch (error) {
            if (!isUpstreamError(error)) throw error;
            logger.warn({ area: 'lifecycle', kind: error.kind, detail: error.detail }, 'install confirmation failed');
            return 'unavailable' as const;
          }
        }
      : undefined,
    purgeTenant: (clientKey: string) => purgeCachedData(clientKey),
    logger,
  };

  const router = Router();
  router.get('/atlassian-connect.json', (request, response) => {
    response.set('Cache-Control', 'no-cache');
    response.json(addon.descriptor);
  });
  // Only the lifecycle callbacks carry a body, so only they pay for body parsing.
  const parseBody = [express.json({ limit: '64kb' }), express.urlencoded({ extended: false, limit: '64kb' })];
  router.post('/installed', parseBody, installedHandler(lifecycleOptions));
  router.post('/uninstalled', parseBody, uninstalledHandler(lifecycleOptions));
  router.get(
    '/panel',
    panelHandler({
      appKey: config.appKey,
      auth,
      panelService,
      views,
      panelBudgetMs: config.panelBudgetMs,
      dockerHubWebUrl: config.dockerHubWebUrl,
      defaultFrameAncestors: config.environment === 'production' ? 'https://bitbucket.org' : '*',
    }),
  );
  router.use('/public', express.static(path.join(root, 'public'), { maxAge: '1h', index: false }));

  const checkReadiness = async (): Promise<string | undefined> => {
    try {
      await tenantStore.get('readiness-check');
    } catch (error) {
      return `tenant store: ${errorSummary(error)}`;
    }
    return shared.checkReadiness();
  };

  app.use(requestLogging(logger));
  app.use(baseSecurityHeaders(config.environment === 'production'));
  app.get('/healthz', (request, response) => {
    response.set('Cache-Control', 'no-store').json({ status: 'ok' });
  });
  app.get(
    '/readyz',
    asyncHandler(async (request, response) => {
      const problem = await checkReadiness();
      response.set('Cache-Control', 'no-store');
      response.status(problem ? 503 : 200).json(problem ? { status: 'unavailable', problem } : { status: 'ready' });
    }),
  );
  // Behind a proxy that keeps the base path, routes arrive under it; behind one that strips it, at the root.
  if (config.basePath) {
    app.use(config.basePath, router);
  }
  app.use(router);
  app.use((request, response) => {
    response.status(404).type('text').send('Not found');
  });
  app.use(errorHandler(config.environment === 'production'));

  const ready = waitForStore(addon, config);
  return {
    app,
    tenants,
    purgeCachedData,
    ready,
    checkReadiness,
    close: async () => {
      await closeStore(addon);
    },
  };
}

interface AddonLike {
  descriptor: Record<string, unknown>;
  settings: {
    get(key: string, clientKey: string): Promise<unknown>;
    set(key: string, value: unknown, clientKey: string): Promise<unknown>;
    del(clientKey: string): Promise<unknown>;
    connectionPromise?: Promise<unknown>;
    sequelize?: { close(): Promise<void>; query(sql: string): Promise<unknown> };
  };
}

function createAddon(app: express.Express, config: AppConfig, logger: Logger, root: string): AddonLike {
  const store =
    config.database.kind === 'sqlite'
      ? { adapter: 'sequelize', dialect: 'sqlite', storage: prepareSqliteFile(config, root, config.database.file), logging: false }
      : { adapter: 'sequelize', url: config.database.url, logging: false };
  const aceLogger = {
    info: (...parts: unknown[]) => logger.debug({ area: 'ace' }, parts.map(String).join(' ')),
    warn: (...parts: unknown[]) => logger.warn({ area: 'ace' }, parts.map(String).join(' ')),
    error: (...parts: unknown[]) => logger.error({ area: 'ace' }, parts.map(String).join(' ')),
  };
  const before = process.listeners('unhandledRejection');
  const addon = ace(
    app,
    {
      config: {
        product: 'bitbucket',
        [config.environment]: {
          localBaseUrl: config.localBaseUrl,
          appKey: config.appKey,
          store,
          watch: false,
          validateDescriptor: false,
          // This add-on handles /installed itself (lifecycle.ts).
          setupInstallRoute: false,
          whitelist: config.allowLoopbackHosts ? '' : 'bitbucket.org',
        },
      },
    } as never,
    aceLogger as never,
    { descriptorFilename: path.join(root, 'atlassian-connect.json'), configFileName: '/dev/null' },
  ) as unknown as AddonLike;
  // ACE substitutes {{localBaseUrl}} from the raw AC_LOCAL_BASE_URL when it is set, trailing
  // slash included, which would give module URLs with "//". The descriptor is built here instead.
  addon.descriptor = loadDescriptor(root, config);
  // ACE adds an unhandledRejection listener per instance; server.ts installs one for the process instead.
  for (const listener of process.listeners('unhandledRejection')) {
    if (!before.includes(listener)) process.removeListener('unhandledRejection', listener);
  }
  return addon;
}

/** Reads atlassian-connect.json and substitutes the base URL and key, the only two placeholders it has. */
export function loadDescriptor(root: string, config: Pick<AppConfig, 'localBaseUrl' | 'appKey'>): Record<string, unknown> {
  const template = fs.readFileSync(path.join(root, 'atlassian-connect.json'), 'utf8');
  const substitute = (value: unknown): unknown => {
    if (typeof value === 'string') {
      return value.replaceAll('{{localBaseUrl}}', config.localBaseUrl).replaceAll('{{appKey}}', config.appKey);
    }
    if (Array.isArray(value)) return value.map(substitute);
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([key, entry]) => [key, substitute(entry)]));
    }
    return value;
  };
  return substitute(JSON.parse(template)) as Record<string, unknown>;
}

function prepareSqliteFile(config: AppConfig, root: string, file: string): string {
  if (file === ':memory:') {
    return file;
  }
  const folder = path.dirname(file);
  // Only the default folder is created; a folder named in DATABASE_URL must exist, so a typo fails loudly.
  if (folder === path.join(root, 'data') || folder === path.join(process.cwd(), 'data')) {
    fs.mkdirSync(folder, { recursive: true });
  } else if (!fs.existsSync(folder) || !fs.statSync(folder).isDirectory()) {
    throw new Error(`Invalid environment variable DATABASE_URL: folder ${folder} does not exist`);
  }
  return file;
}

async function waitForStore(addon: AddonLike, config: AppConfig): Promise<void> {
  try {
    await addon.settings.connectionPromise;
  } catch (error) {
    const where = config.database.kind === 'sqlite' ? `sqlite file ${config.database.file}` : 'PostgreSQL';
    throw new Error(`Could not open the tenant store (${where}, from DATABASE_URL): ${(error as Error).message}`);
  }
  if (config.database.kind === 'sqlite' && config.database.file !== ':memory:') {
    // Write-ahead logging lets panel views read tenants while an install writes.
    await addon.settings.sequelize?.query('PRAGMA journal_mode=WAL');
  }
}

async function closeStore(addon: AddonLike): Promise<void> {
  await addon.settings.connectionPromise?.catch(() => undefined);
  await addon.settings.sequelize?.close();
}
