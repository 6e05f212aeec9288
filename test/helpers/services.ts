/**
 * Skips tests whose outside dependency (Chromium, PostgreSQL, Redis) is missing,
 * with a message saying how to get it. With REQUIRE_SERVICES=true, as CI sets it,
 * a missing dependency fails the run instead of skipping.
 */
import { spawnSync } from 'node:child_process';

const requireServices = process.env.REQUIRE_SERVICES === 'true';

export function requireOrSkip(available: boolean, howToRun: string): jest.Describe {
  if (available) {
    return describe;
  }
  if (requireServices) {
    return ((name: string) =>
      describe(name, () => {
        test('required service is available', () => {
          throw new Error(`REQUIRE_SERVICES=true but a dependency is missing: ${howToRun}`);
        });
      })) as unknown as jest.Describe;
  }
  process.stderr.write(`Skipping tests: ${howToRun}\n`);
  return describe.skip;
}

/** Returns whether something accepts TCP connections on a loopback port; decided at load time because describe blocks are synchronous. */
export function tcpPortOpen(port: number, host = '127.0.0.1'): boolean {
  const probe = `
    const socket = require('net').connect(${port}, ${JSON.stringify(host)});
    socket.setTimeout(1000);
    socket.on('connect', () => process.exit(0));
    socket.on('timeout', () => process.exit(1));
    socket.on('error', () => process.exit(1));`;
  const result = spawnSync(process.execPath, ['-e', probe], { timeout: 3000 });
  return result.status === 0;
}

export const POSTGRES_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
