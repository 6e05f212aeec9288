/**
 * Production entry point: `npm start` runs the compiled copy of this file.
 */
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { AppConfig, ConfigError, loadConfig } from './config';
import { createApp } from './connect/app';
import { createSharedState } from './infra/create-shared-state';
import { createLogger, Logger } from './logger';

/** How long in-flight requests get to finish after SIGTERM before the process exits anyway. */
const SHUTDOWN_GRACE_MS = 10_000;
const IDLE_CLOSE_INTERVAL_MS = 100;

export interface RunningServer {
  url: string;
  server: http.Server;
  stop(): Promise<void>;
}

/** Starts the add-on and resolves once it listens. */
export async function startServer(config: AppConfig, logger: Logger): Promise<RunningServer> {
  const shared = await createSharedState(config, logger);
  const handle = createApp(config, logger, shared);
  await handle.ready;
  const server = http.createServer(handle.app);
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      const where = `${config.host ?? 'every interface'} port ${config.port}`;
      if (error.code === 'EADDRINUSE') reject(new Error(`Port ${config.port} is already in use; set PORT to a free port`));
      else reject(new Error(`Could not listen on ${where}: ${error.message}`));
    });
    server.listen(config.port, config.host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      // A keep-alive connection becomes idle only after its last response, so idle
      // connections are closed repeatedly until the server has none left.
      const closeIdle = setInterval(() => server.closeIdleConnections(), IDLE_CLOSE_INTERVAL_MS);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      clearInterval(closeIdle);
      await handle.close();
      await shared.close();
    })();
    return stopping;
  };
  return { url: `http://127.0.0.1:${port}`, server, stop };
}

async function main(): Promise<void> {
  let config: AppConfig;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);
  process.on('unhandledRejection', (reason) => {
    logger.error({ error: reason instanceof Error ? { type: reason.name, message: reason.message } : String(reason) }, 'unhandled promise rejection');
  });

  const running = await startServer(config, logger);
  logger.info({ port: (running.server.address() as AddressInfo).port, baseUrl: config.localBaseUrl }, 'add-on started');

  const shutdown = (signal: string) => {
    logger.info({ signal }, 'stopping: no new connections, finishing requests in flight');
    setTimeout(() => {
      logger.warn('requests still open after the grace period; exiting');
      process.exit(1);
    }, SHUTDOWN_GRACE_MS).unref();
    running.stop().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (error: Error) => {
        logger.error({ error: { type: error.name, message: error.message } }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

if (require.main === module) {
  main().catch((error: Error) => {
    process.stderr.write(`Start-up failed: ${error.message}\n`);
    process.exit(1);
  });
}
