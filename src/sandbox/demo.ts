/**
 * `npm run demo`: the add-on on a fresh sqlite file, with the Bitbucket and Docker Hub
 * simulators, all on 127.0.0.1. Installs the add-on into the sandbox workspaces and
 * prints the URL of a repository page that shows the panel.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, loadConfig } from '../config';
import { createLogger } from '../logger';
import { findProjectRoot } from '../paths';
import { startServer } from '../server';
import { startBitbucketSimulator } from './bitbucket-simulator';
import { startDockerHubSimulator } from './docker-hub-simulator';
import { freePort } from './free-port';

const DEMO_REPOSITORY = { workspace: 'acme-ws', slug: 'bubbleupnp-server' };

async function main(): Promise<void> {
  const root = findProjectRoot();
  const port = process.env.PORT ? Number(process.env.PORT) : await freePort();
  const databaseFile = path.join(root, 'data', 'demo.sqlite');
  // The simulated Bitbucket starts with no memory of earlier installs, so the add-on must not have any either.
  fs.rmSync(databaseFile, { force: true });

  const hub = await startDockerHubSimulator();
  // Settings such as CACHE_DOCKER_HUB_SECONDS pass through; the demo fixes only where things run.
  const config = loadConfig({
    LOG_LEVEL: 'warn',
    ...process.env,
    NODE_ENV: 'development',
    HOST: '127.0.0.1',
    PORT: String(port),
    AC_LOCAL_BASE_URL: `http://127.0.0.1:${port}`,
    DATABASE_URL: `sqlite:${databaseFile}`,
    DOCKER_HUB_URL: hub.url,
    DOCKER_HUB_WEB_URL: hub.url,
    REDIS_URL: undefined,
  });
  const logger = createLogger(config.logLevel);
  const addon = await startServer(config, logger);
  const bitbucket = await startBitbucketSimulator({ addonBaseUrl: config.localBaseUrl });
  for (const workspace of ['acme-ws', 'other-ws']) {
    await bitbucket.install(workspace);
  }

  const pageUrl = bitbucket.repositoryPageUrl(DEMO_REPOSITORY.workspace, DEMO_REPOSITORY.slug);
  process.stdout.write(
    [
      '',
      'Docker Hub for Bitbucket: sandbox running on 127.0.0.1',
      `  add-on:             ${config.localBaseUrl}`,
      `  Bitbucket (web):    ${bitbucket.webUrl}`,
      `  Bitbucket (API):    ${bitbucket.apiUrl}`,
      `  Docker Hub:         ${hub.url}`,
      '',
      `Open ${pageUrl}`,
      `(every sandbox repository is listed at ${bitbucket.webUrl}/)`,
      '',
      'Fault injection and request logs of the simulators: see sandbox/README.md.',
      '',
      'Press Ctrl+C to stop.',
      '',
    ].join('\n'),
  );

  const stop = async () => {
    await bitbucket.close();
    await addon.stop();
    await hub.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

main().catch((error: Error) => {
  const message = error instanceof ConfigError ? error.message : `Demo failed to start: ${error.message}`;
  process.stderr.write(`${message}\n`);
  process.exit(1);
});
