/**
 * Starts the add-on between a Docker Hub simulator and a Bitbucket simulator,
 * all three real HTTP servers on 127.0.0.1, installs the add-on on a workspace
 * and fetches the signed panel page as Bitbucket's iframe would.
 */
import fetch from 'node-fetch';
import { BitbucketSimulator, startBitbucketSimulator } from '../../src/sandbox/bitbucket-simulator';
import { DockerHubSimulator, startDockerHubSimulator } from '../../src/sandbox/docker-hub-simulator';
import { startAddon, TestAddon } from './addon';
import { PanelPage, parsePanelHtml } from './panel-html';

/** Upper bound for one panel fetch, so that a hanging add-on fails the test instead of stalling it. */
const PANEL_FETCH_TIMEOUT_MS = 15_000;

export interface PanelEnvironmentOptions {
  /** Add-on settings such as PANEL_BUDGET_MS. DOCKER_HUB_URL is always set to the Docker Hub simulator. */
  env?: Record<string, string>;
  /** Data directory of the Docker Hub simulator, by default sandbox/docker-hub. */
  hubDataDir?: string;
  /** Data directory of the Bitbucket simulator, by default sandbox/bitbucket. */
  bitbucketDataDir?: string;
  /** Workspace the add-on is installed on, by default acme-ws. */
  workspace?: string;
}

export interface PanelResponse {
  status: number;
  html: string;
  page: PanelPage;
  /** Milliseconds from sending the request to reading the whole body. */
  elapsedMs: number;
}

export interface PanelEnvironment {
  addon: TestAddon;
  bitbucket: BitbucketSimulator;
  hub: DockerHubSimulator;
  workspace: string;
  /** Fetches the signed panel URL of a repository of the installed workspace. */
  view(slug: string): Promise<PanelResponse>;
  /** Drops every cached upstream response and panel snapshot, so that the next view starts cold. */
  purgeCache(): Promise<void>;
  /** Removes all faults and empties the request logs of both simulators. */
  resetSimulators(): void;
  stop(): Promise<void>;
}

export async function startPanelEnvironment(options: PanelEnvironmentOptions = {}): Promise<PanelEnvironment> {
  const workspace = options.workspace ?? 'acme-ws';
  const hub = await startDockerHubSimulator({ dataDir: options.hubDataDir });
  let addon: TestAddon | undefined;
  let bitbucket: BitbucketSimulator | undefined;
  try {
    addon = await startAddon({ ...options.env, DOCKER_HUB_URL: hub.url });
    bitbucket = await startBitbucketSimulator({
      addonBaseUrl: addon.baseUrl,
      appKey: addon.config.appKey,
      dataDir: options.bitbucketDataDir,
    });
    await bitbucket.install(workspace);
  } catch (error) {
    await bitbucket?.close();
    await addon?.stop();
    await hub.close();
    throw error;
  }
  const started = { addon, bitbucket };

  return {
    addon: started.addon,
    bitbucket: started.bitbucket,
    hub,
    workspace,
    view: (slug) => fetchPanel(started.bitbucket.panelUrl(workspace, slug)),
    purgeCache: () => started.addon.handle.purgeCachedData(),
    resetSimulators: () => {
      hub.clearFaults();
      hub.resetRequests();
      started.bitbucket.clearFaults();
      started.bitbucket.resetRequests();
    },
    stop: async () => {
      await started.bitbucket.close();
      await started.addon.stop();
      await hub.close();
    },
  };
}

export async function fetchPanel(url: string): Promise<PanelResponse> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), PANEL_FETCH_TIMEOUT_MS);
  const started = Date.now();
  try {
    const response = await fetch(url, { signal: controller.signal });
    const html = await response.text();
    return { status: response.status, html, page: parsePanelHtml(html), elapsedMs: Date.now() - started };
  } finally {
    clearTimeout(timer);
  }
}

/** Returns the log lines that report an unhandled promise rejection or a 500 response of the add-on. */
export function crashLogLines(addon: TestAddon): string[] {
  return addon.logLines().filter((line) => /unhandledRejection|"status":500\b/.test(line));
}

export interface RejectionWatcher {
  /** Reasons of unhandled promise rejections seen since the watcher started. */
  reasons(): unknown[];
  stop(): void;
}

/** Records unhandled promise rejections of this process, where the add-on runs during tests. */
export function watchUnhandledRejections(): RejectionWatcher {
  const reasons: unknown[] = [];
  const listener = (reason: unknown) => {
    reasons.push(reason);
  };
  process.on('unhandledRejection', listener);
  return {
    reasons: () => [...reasons],
    stop: () => {
      process.off('unhandledRejection', listener);
    },
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
