/**
 * A Bitbucket Cloud stand-in on loopback that behaves toward the add-on as
 * Bitbucket does: two HTTP servers on different origins, one for the website (the
 * tenant's `baseUrl`) and one for the REST API (`baseApiUrl`), plus the Connect
 * lifecycle (install, uninstall) and signed web panel URLs. Workspaces and repositories come from
 * sandbox/bitbucket; tests change them per simulator with setFile,
 * setRedirect, setMainBranch and setCommitStatuses.
 */
import { bitbucketStatusBody, createApiApp } from './bitbucket-api';
import { ConnectHost, InstallOptions, InstallResult, PanelUrlOptions } from './bitbucket-connect';
import { BitbucketData, CommitStatusRecord } from './bitbucket-data';
import { SimulatorUrls } from './bitbucket-json';
import { createWebApp } from './bitbucket-web';
import { findSandboxDataDir } from './data-dir';
import { Fault, PathMatch, SetFaultOptions } from './faults';
import { assertLoopbackUrl, startLoopbackServer } from './loopback-server';
import { RequestLogEntry, SimulatorControls } from './simulator-controls';

export type { InstallOptions, InstallResult, PanelUrlOptions } from './bitbucket-connect';
export type { CommitStatusRecord } from './bitbucket-data';

export interface BitbucketSimulatorOptions {
  /** Base URL under which the add-on serves /atlassian-connect.json; must be a loopback URL. */
  addonBaseUrl: string;
  /** Expected descriptor `key`; install() fails when the descriptor has another. Default: any key. */
  appKey?: string;
  /** Directory with `<workspace>/workspace.json` and `<workspace>/<repo>/...`. Default: sandbox/bitbucket. */
  dataDir?: string;
  /** Loopback address both servers listen on. Default 127.0.0.1. */
  host?: string;
  /** Milliseconds added before every API response, for benchmarks. Default 0. */
  latencyMs?: number;
}

export interface SandboxRepository {
  workspace: string;
  slug: string;
  fullName: string;
  uuid: string;
  description: string;
}

export interface BitbucketSimulator {
  /** Plays https://bitbucket.org; becomes the tenant's `baseUrl`. */
  webUrl: string;
  /** Plays https://api.bitbucket.org; becomes the tenant's `baseApiUrl`. */
  apiUrl: string;
  install(workspace: string, options?: InstallOptions): Promise<InstallResult>;
  uninstall(workspace: string): Promise<void>;
  /** Returns the current install of a workspace, or undefined when the add-on is not installed there. */
  installation(workspace: string): InstallResult | undefined;
  /** Returns the signed iframe URL of the add-on's repository overview panel; options tamper with the token. */
  panelUrl(workspace: string, slug: string, options?: PanelUrlOptions): string;
  /** Returns the URL of the repository overview page on the web server. */
  repositoryPageUrl(workspace: string, slug: string): string;
  repositories(): SandboxRepository[];
  /** Sets (or with null removes) a fault for API requests whose path contains `match` or matches the RegExp. */
  setFault(match: PathMatch, fault: Fault | null, options?: SetFaultOptions): void;
  clearFaults(): void;
  /** Returns the API requests since the last reset, oldest first. `rejection` gives the reason for a 401 or 404. */
  requests(): RequestLogEntry[];
  requestCount(match: PathMatch): number;
  resetRequests(): void;
  /** Replaces a file of the head commit (any bytes), or deletes it with null. */
  setFile(workspace: string, slug: string, path: string, bytes: Buffer | null): void;
  /** Makes the API respond with 301 and `location` for this file, as for Git LFS. null removes the redirect. */
  setRedirect(workspace: string, slug: string, path: string, location: string | null): void;
  /** Renames the main branch; null turns the repository into one without commits. */
  setMainBranch(workspace: string, slug: string, name: string | null): void;
  /** Replaces the build statuses of the head commit. */
  setCommitStatuses(workspace: string, slug: string, statuses: CommitStatusRecord[]): void;
  /** Closes both servers and every open connection. */
  close(): Promise<void>;
}

export async function startBitbucketSimulator(options: BitbucketSimulatorOptions): Promise<BitbucketSimulator> {
  assertLoopbackUrl(options.addonBaseUrl, 'addonBaseUrl');
  const data = BitbucketData.load(options.dataDir ?? findSandboxDataDir('bitbucket'));
  const urls: SimulatorUrls = { webUrl: '', apiUrl: '' };
  const controls = new SimulatorControls({ latencyMs: options.latencyMs, defaultStatusBody: bitbucketStatusBody });
  const host = new ConnectHost(data, urls, options.addonBaseUrl, options.appKey);

  const apiApp = createApiApp({ data, urls, controls, findTenant: (clientKey) => host.tenantByClientKey(clientKey) });
  const webApp = createWebApp({ data, urls, host, addonBaseUrl: options.addonBaseUrl });
  const apiServer = await startLoopbackServer(apiApp, { host: options.host });
  const webServer = await startLoopbackServer(webApp, { host: options.host }).catch(async (error: unknown) => {
    await apiServer.close();
    throw error;
  });
  urls.apiUrl = apiServer.url;
  urls.webUrl = webServer.url;

  return {
    webUrl: webServer.url,
    apiUrl: apiServer.url,
    install: (workspace, installOptions) => host.install(workspace, installOptions),
    uninstall: (workspace) => host.uninstall(workspace),
    installation: (workspace) => {
      const tenant = host.tenant(workspace);
      return tenant && { clientKey: tenant.clientKey, sharedSecret: tenant.sharedSecret };
    },
    panelUrl: (workspace, slug, panelOptions) => host.panelUrl(workspace, slug, panelOptions),
    repositoryPageUrl: (workspace, slug) => {
      data.requireRepository(workspace, slug);
      return `${webServer.url}/${workspace}/${slug}`;
    },
    repositories: () =>
      data.workspaces().flatMap((workspace) =>
        [...workspace.repositories.values()].map((repository) => ({
          workspace: workspace.slug,
          slug: repository.slug,
          fullName: `${workspace.slug}/${repository.slug}`,
          uuid: repository.uuid,
          description: repository.description,
        })),
      ),
    setFault: (match, fault, faultOptions) => controls.setFault(match, fault, faultOptions),
    clearFaults: () => controls.faults.clear(),
    requests: () => controls.log.list(),
    requestCount: (match) => controls.log.count(match),
    resetRequests: () => controls.log.reset(),
    setFile: (workspace, slug, path, bytes) => {
      const files = data.requireRepository(workspace, slug).files;
      const key = normaliseFilePath(path);
      if (bytes === null) {
        files.delete(key);
      } else {
        files.set(key, Buffer.from(bytes));
      }
    },
    setRedirect: (workspace, slug, path, location) => {
      const redirects = data.requireRepository(workspace, slug).redirects;
      if (location === null) {
        redirects.delete(normaliseFilePath(path));
      } else {
        redirects.set(normaliseFilePath(path), location);
      }
    },
    setMainBranch: (workspace, slug, name) => {
      if (name !== null && name.trim() === '') {
        throw new Error('Invalid main branch name: expected a name, or null for a repository without commits');
      }
      data.requireRepository(workspace, slug).mainBranch = name;
    },
    setCommitStatuses: (workspace, slug, statuses) => {
      data.requireRepository(workspace, slug).statuses = statuses.map((status) => ({ ...status }));
    },
    close: async () => {
      controls.timers.clear();
      await Promise.all([apiServer.close(), webServer.close()]);
    },
  };
}

/** Returns the repository-relative file path without a leading slash, as the API serves it. */
function normaliseFilePath(path: string): string {
  const normalised = path.replace(/^\/+/, '');
  if (normalised === '' || normalised.endsWith('/')) {
    throw new Error(`Invalid file path "${path}": expected a file path such as ".docker-repository.yml"`);
  }
  return normalised;
}
