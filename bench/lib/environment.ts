/**
 * The add-on as a child process between the two sandbox simulators, which run in
 * the benchmark's own process on 127.0.0.1, with the add-on installed on one
 * Bitbucket workspace.
 */
import { BitbucketSimulator, startBitbucketSimulator } from '../../src/sandbox/bitbucket-simulator';
import { DockerHubSimulator, startDockerHubSimulator } from '../../src/sandbox/docker-hub-simulator';
import { AddonProcess, startAddonProcess } from './addon-process';

export interface BenchEnvironmentOptions {
  /** Add-on settings. DOCKER_HUB_URL always points at the Docker Hub simulator. */
  env?: Record<string, string>;
  /** Node options for the add-on process, such as --cpu-prof. */
  nodeArgs?: string[];
  /** Milliseconds both simulators wait before every API response. Default 0. */
  latencyMs?: number;
  bitbucketDataDir?: string;
  hubDataDir?: string;
  /** Workspace the add-on is installed on. Default acme-ws. */
  workspace?: string;
}

export interface BenchEnvironment {
  addon: AddonProcess;
  bitbucket: BitbucketSimulator;
  hub: DockerHubSimulator;
  workspace: string;
  /** Returns a signed panel URL for a repository of the installed workspace, valid for `lifetimeSeconds`. */
  panelUrl(slug: string, lifetimeSeconds?: number): string;
  /** Empties the request logs of both simulators. */
  resetRequestLogs(): void;
  /** Stops the add-on process, then both simulators. Later calls return the same promise. */
  stop(): Promise<void>;
}

export async function startBenchEnvironment(options: BenchEnvironmentOptions = {}): Promise<BenchEnvironment> {
  const workspace = options.workspace ?? 'acme-ws';
  const hub = await startDockerHubSimulator({ dataDir: options.hubDataDir, latencyMs: options.latencyMs });
  let addon: AddonProcess | undefined;
  let bitbucket: BitbucketSimulator | undefined;
  try {
    addon = await startAddonProcess({ env: { ...options.env, DOCKER_HUB_URL: hub.url }, nodeArgs: options.nodeArgs });
    bitbucket = await startBitbucketSimulator({
      addonBaseUrl: addon.url,
      dataDir: options.bitbucketDataDir,
      latencyMs: options.latencyMs,
    });
    await bitbucket.install(workspace);
  } catch (error) {
    await bitbucket?.close();
    await addon?.stop();
    await hub.close();
    throw error;
  }
  const running = { addon, bitbucket };
  let stopping: Promise<void> | undefined;
  return {
    addon: running.addon,
    bitbucket: running.bitbucket,
    hub,
    workspace,
    panelUrl: (slug, lifetimeSeconds) =>
      running.bitbucket.panelUrl(workspace, slug, lifetimeSeconds === undefined ? {} : { expiresInSeconds: lifetimeSeconds }),
    resetRequestLogs: () => {
      hub.resetRequests();
      running.bitbucket.resetRequests();
    },
    stop: () => {
      stopping ??= (async () => {
        await running.addon.stop();
        await running.bitbucket.close();
        await hub.close();
      })();
      return stopping;
    },
  };
}
