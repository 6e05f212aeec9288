/**
 * Starts the add-on on a random loopback port with its own sqlite file, for tests.
 * Logs go to memory so that tests can check what was logged.
 */
import fs from 'node:fs';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { AppConfig, loadConfig } from '../../src/config';
import { AppHandle, createApp } from '../../src/connect/app';
import { createSharedState } from '../../src/infra/create-shared-state';
import { SharedState } from '../../src/infra/shared-state';
import { createLogger } from '../../src/logger';

export interface TestAddon {
  url: string;
  /** URL of the add-on's base path, which differs from `url` when a prefix is configured. */
  baseUrl: string;
  config: AppConfig;
  handle: AppHandle;
  shared: SharedState;
  logLines(): string[];
  stop(): Promise<void>;
}

/** `env` may be a function of the add-on's root URL, for settings such as a base path. */
export async function startAddon(
  env: Record<string, string> | ((url: string) => Record<string, string>) = {},
): Promise<TestAddon> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'addon-test-'));
  const config = loadConfig({
    NODE_ENV: 'test',
    PORT: String(port),
    AC_LOCAL_BASE_URL: url,
    DATABASE_URL: `sqlite:${path.join(dataDir, 'tenants.sqlite')}`,
    DOCKER_HUB_URL: 'http://127.0.0.1:9',
    LOG_LEVEL: 'debug',
    ...(typeof env === 'function' ? env(url) : env),
  });
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, callback) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      callback();
    },
  });
  const logger = createLogger(config.logLevel, sink);
  const shared = await createSharedState(config, logger);
  const handle = createApp(config, logger, shared);
  await handle.ready;
  server.on('request', handle.app);
  return {
    url,
    baseUrl: config.localBaseUrl,
    config,
    handle,
    shared,
    logLines: () => [...lines],
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await handle.close();
      await shared.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
