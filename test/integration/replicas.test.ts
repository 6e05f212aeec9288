/**
 * Two add-on processes sharing the machine's PostgreSQL and Redis, as replicas
 * behind a load balancer would. Each test run gets its own PostgreSQL database and
 * Redis database number, so runs do not see each other's tenants or cache.
 */
import crypto from 'node:crypto';
import { ChildProcess, spawn } from 'node:child_process';
import { createQueryStringHash, fromMethodAndUrl } from 'atlassian-jwt';
import jwt from 'jsonwebtoken';
import { Client } from 'pg';
import Redis from 'ioredis';
import { startBitbucketSimulator, BitbucketSimulator } from '../../src/sandbox/bitbucket-simulator';
import { startDockerHubSimulator, DockerHubSimulator } from '../../src/sandbox/docker-hub-simulator';
import { AddonProcess, compiledServerExists, freePort, startAddonProcess, stopAddonProcess } from '../helpers/process';
import { POSTGRES_URL, REDIS_URL, requireOrSkip, tcpPortOpen } from '../helpers/services';

const servicesUp = tcpPortOpen(5432) && tcpPortOpen(6379) && compiledServerExists();
const describeWithServices = requireOrSkip(
  servicesUp,
  'PostgreSQL on 127.0.0.1:5432 (trust auth, database test), Redis on 127.0.0.1:6379 and a build (npm run build) are needed; npm test builds first',
);
const REDIS_DATABASE = 9;
const HUB_LATENCY_MS = 300;

function lifecycleToken(installation: { clientKey: string; sharedSecret: string }, path: string): string {
  const issuedAt = Math.floor(Date.now() / 1000);
  const qsh = createQueryStringHash(fromMethodAndUrl('POST', path));
  return jwt.sign(
    { iss: installation.clientKey, aud: installation.clientKey, iat: issuedAt, exp: issuedAt + 180, qsh },
    installation.sharedSecret,
    { algorithm: 'HS256' },
  );
}

function onOrigin(url: string, origin: string): string {
  const parsed = new URL(url);
  return `${origin}${parsed.pathname}${parsed.search}`;
}

async function panelState(url: string): Promise<{ status: number; html: string }> {
  const response = await fetch(url);
  return { status: response.status, html: await response.text() };
}

describeWithServices('replicas on PostgreSQL and Redis', () => {
  const databaseName = `addon_test_${crypto.randomBytes(4).toString('hex')}`;
  const databaseUrl = POSTGRES_URL.replace(/\/[^/]*$/, `/${databaseName}`);
  const redisUrl = `${REDIS_URL}/${REDIS_DATABASE}`;
  let admin: Client;
  let redis: Redis;
  let hub: DockerHubSimulator;
  let bitbucket: BitbucketSimulator;
  let first: AddonProcess;
  let second: AddonProcess;

  beforeAll(async () => {
    admin = new Client({ connectionString: POSTGRES_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${databaseName}`);
    redis = new Redis(redisUrl);
    await redis.flushdb();
    hub = await startDockerHubSimulator({ latencyMs: HUB_LATENCY_MS });
    const env = { DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, DOCKER_HUB_URL: hub.url };
    first = await startAddonProcess(env);
    second = await startAddonProcess(env);
    bitbucket = await startBitbucketSimulator({ addonBaseUrl: first.url });
    await bitbucket.install('acme-ws');
  });

  afterAll(async () => {
    await stopAddonProcess(first);
    await stopAddonProcess(second);
    await bitbucket?.close();
    await hub?.close();
    await redis?.flushdb();
    redis?.disconnect();
    await admin?.query(`DROP DATABASE IF EXISTS ${databaseName} WITH (FORCE)`);
    await admin?.end();
  });

  test('install on one, panel on other', async () => {
    const url = onOrigin(bitbucket.panelUrl('acme-ws', 'bubbleupnp-server'), second.url);
    const { status, html } = await panelState(url);
    expect(status).toBe(200);
    expect(html).toContain('data-state="ready"');
    expect(html).toContain('rwgrim/docker-bubbleupnpserver');
  });

  test('concurrent first views share calls', async () => {
    hub.resetRequests();
    const views = Array.from({ length: 50 }, (_, index) =>
      panelState(onOrigin(bitbucket.panelUrl('acme-ws', 'web-proxy'), index % 2 === 0 ? first.url : second.url)),
    );
    const results = await Promise.all(views);
    for (const result of results) {
      expect(result.status).toBe(200);
      expect(result.html).toContain('data-stat="pulls"');
    }
    expect(hub.requestCount(/^\/v2\/repositories\/library\/nginx\/?(\?|$)/)).toBeLessThanOrEqual(1);
    expect(hub.requestCount(/\/library\/nginx\/tags\//)).toBeLessThanOrEqual(1);
    expect(hub.requestCount(/\/library\/nginx\/buildhistory\//)).toBeLessThanOrEqual(1);
    expect(hub.requests().length).toBeGreaterThanOrEqual(2);
  });

  test('rate-limit pause reaches every replica', async () => {
    hub.resetRequests();
    // A repository that neither replica has shown yet, so that no replica keeps its data in memory.
    hub.setFault('/v2/repositories/phenompeople/', { kind: 'status', status: 429, body: 'Too Many Requests (HAP429).\n', contentType: 'text/plain', headers: { 'Retry-After': '60' } });
    try {
      await panelState(onOrigin(bitbucket.panelUrl('acme-ws', 'centos-tomcat'), first.url));
      const afterFirst = hub.requests().length;
      expect(afterFirst).toBeGreaterThan(0);
      const { html } = await panelState(onOrigin(bitbucket.panelUrl('acme-ws', 'centos-tomcat'), second.url));
      expect(html).toContain('rate-limiting');
      expect(hub.requests().length).toBe(afterFirst);
    } finally {
      hub.clearFaults();
      await redis.del('dhfb:pause:docker-hub');
    }
  });

  test('uninstall on one reaches other', async () => {
    const before = await panelState(onOrigin(bitbucket.panelUrl('acme-ws', 'web-proxy'), first.url));
    expect(before.status).toBe(200);
    const panelUrl = bitbucket.panelUrl('acme-ws', 'web-proxy');

    // The simulator sends lifecycle callbacks to the first replica, so this test signs the
    // uninstall the way Bitbucket does and sends it to the second.
    const installation = bitbucket.installation('acme-ws')!;
    const uninstall = await fetch(`${second.url}/uninstalled`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `JWT ${lifecycleToken(installation, '/uninstalled')}` },
      body: JSON.stringify({ clientKey: installation.clientKey, eventType: 'uninstalled', productType: 'bitbucket' }),
    });
    expect(uninstall.status).toBe(204);

    const onSecond = await panelState(onOrigin(panelUrl, second.url));
    const onFirst = await panelState(onOrigin(panelUrl, first.url));
    expect(onSecond.status).toBe(401);
    expect(onFirst.status).toBe(401);
    const keys = await redis.keys('dhfb:t:*');
    expect(keys).toEqual([]);
  });

  test('reinstall after uninstall on other refetches', async () => {
    // The first replica showed web-proxy before the second processed the uninstall,
    // and the install below does not purge, so only the tenant event clears its copy.
    await bitbucket.install('acme-ws');
    bitbucket.resetRequests();

    const { status, html } = await panelState(onOrigin(bitbucket.panelUrl('acme-ws', 'web-proxy'), first.url));

    expect(status).toBe(200);
    expect(html).toContain('data-state="ready"');
    // Docker Hub may still be paused by the 429 above, so the refetch is counted on Bitbucket.
    expect(bitbucket.requestCount('/2.0/repositories/acme-ws/web-proxy')).toBeGreaterThan(0);
  });
});

describeWithServices('replica without Redis', () => {
  let redisServer: ChildProcess | undefined;
  let hub: DockerHubSimulator;
  let bitbucket: BitbucketSimulator;
  let addon: AddonProcess;

  beforeAll(async () => {
    // A Redis of this test's own, so that stopping it does not touch the machine's.
    const port = await freePort();
    redisServer = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
    });
    for (let attempt = 0; attempt < 50 && !tcpPortOpen(port); attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    hub = await startDockerHubSimulator();
    addon = await startAddonProcess({
      DATABASE_URL: `sqlite::memory:`,
      REDIS_URL: `redis://127.0.0.1:${port}`,
      DOCKER_HUB_URL: hub.url,
      CACHE_DOCKER_HUB_SECONDS: '0',
      CACHE_BITBUCKET_SECONDS: '0',
    });
    bitbucket = await startBitbucketSimulator({ addonBaseUrl: addon.url });
    await bitbucket.install('acme-ws');
  });

  afterAll(async () => {
    await stopAddonProcess(addon);
    await bitbucket?.close();
    await hub?.close();
    if (redisServer?.pid && redisServer.exitCode === null && redisServer.signalCode === null) process.kill(redisServer.pid, 'SIGKILL');
  });

  test('stopped Redis degrades, panels work', async () => {
    const healthy = await panelState(bitbucket.panelUrl('acme-ws', 'web-proxy'));
    expect(healthy.html).toContain('data-stat="pulls"');
    const readyBefore = await fetch(`${addon.url}/readyz`);
    expect(readyBefore.status).toBe(200);

    process.kill(redisServer!.pid!, 'SIGKILL');
    await new Promise((resolve) => redisServer!.once('exit', resolve));
    hub.resetRequests();

    const degraded = await panelState(bitbucket.panelUrl('acme-ws', 'web-proxy'));
    expect(degraded.status).toBe(200);
    expect(degraded.html).toContain('data-stat="pulls"');
    expect(degraded.html).toContain('12.9B');
    expect(hub.requestCount(/^\/v2\/repositories\/library\/nginx\/?(\?|$)/)).toBe(1);
    const readyAfter = await fetch(`${addon.url}/readyz`);
    expect(readyAfter.status).toBe(503);
  });
});
