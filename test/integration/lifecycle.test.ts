/**
 * The descriptor and the install and uninstall callbacks, through real HTTP on
 * loopback: the Bitbucket simulator sends the callbacks, and hand-made requests
 * cover what the simulator would never send.
 */
import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { tenantCachePrefix } from '../../src/core/panel-service';
import type { InstallResult } from '../../src/sandbox/bitbucket-simulator';
import { DockerHubSimulator, startDockerHubSimulator } from '../../src/sandbox/docker-hub-simulator';
import { startAddon, TestAddon } from '../helpers/addon';
import {
  APP_KEY,
  clientKeyFor,
  installPayload,
  lastStatus,
  lifecycleToken,
  logEntries,
  pathAndQuery,
  randomSecret,
  requestEntries,
  Sandbox,
  startSandbox,
  workspaceUuid,
} from '../helpers/connect-host';

const COMMITTED_DESCRIPTOR = fs.readFileSync(path.join(__dirname, '..', '..', 'atlassian-connect.json'), 'utf8');
const OVERVIEW_PANEL_LOCATION = 'org.bitbucket.repository.overview.informationPanel';

describe('descriptor', () => {
  let sandbox: Sandbox;
  let descriptor: Record<string, any>;

  beforeAll(async () => {
    sandbox = await startSandbox();
    const response = await request(sandbox.addon.handle.app).get('/atlassian-connect.json');
    expect(response.status).toBe(200);
    descriptor = response.body;
  });

  afterAll(async () => {
    await sandbox?.stop();
  });

  test('descriptor names the add-on', () => {
    expect(descriptor.key).toBe(APP_KEY);
    expect(descriptor.key).toMatch(/^[a-zA-Z0-9-]+$/);
    expect(descriptor.name).toEqual(expect.any(String));
    expect(descriptor.name.length).toBeGreaterThan(0);
    expect(descriptor.description).toEqual(expect.any(String));
    expect(descriptor.description.length).toBeGreaterThan(0);
    expect(descriptor.vendor.name).toEqual(expect.any(String));
    expect(descriptor.vendor.url).toBe(sandbox.addon.config.localBaseUrl);
  });

  test('descriptor baseUrl is configured URL', () => {
    expect(descriptor.baseUrl).toBe(sandbox.addon.url);
    expect(descriptor.baseUrl).toBe(sandbox.addon.config.localBaseUrl);
  });

  test('descriptor authentication and lifecycle', () => {
    expect(descriptor.authentication).toEqual({ type: 'jwt' });
    expect(descriptor.lifecycle).toEqual({ installed: '/installed', uninstalled: '/uninstalled' });
  });

  test('descriptor scopes and contexts', () => {
    expect(descriptor.scopes).toEqual(['repository']);
    expect(descriptor.contexts).toEqual(['account']);
  });

  test('descriptor has one overview panel', () => {
    const panels = descriptor.modules.webPanels as Array<Record<string, any>>;
    expect(panels).toHaveLength(1);
    const [panel] = panels;
    expect(panel.location).toBe(OVERVIEW_PANEL_LOCATION);
    expect(panel.key).toMatch(/^[a-zA-Z0-9-]+$/);
    expect(panel.url).toContain('{repository.full_name}');
    expect(panel.url).toContain('{repository.uuid}');
    expect(Object.keys(descriptor.modules)).toEqual(['webPanels']);
  });

  test('descriptor equals committed file', () => {
    const substituted = COMMITTED_DESCRIPTOR.split('{{localBaseUrl}}')
      .join(sandbox.addon.config.localBaseUrl)
      .split('{{appKey}}')
      .join(sandbox.addon.config.appKey);
    expect(descriptor).toEqual(JSON.parse(substituted));
  });

  test('descriptor is not cached long', async () => {
    const response = await request(sandbox.addon.handle.app).get('/atlassian-connect.json');
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    expect(response.headers['cache-control']).toBe('no-cache');
  });
});

describe('install', () => {
  let sandbox: Sandbox;
  let acme: InstallResult;
  let other: InstallResult;

  const app = () => sandbox.addon.handle.app;
  const storedSecret = async (clientKey: string) => (await sandbox.addon.handle.tenants.get(clientKey))?.sharedSecret;
  const panelStatus = async (secret?: string) => {
    const url = sandbox.bitbucket.panelUrl('acme-ws', 'web-proxy', secret === undefined ? {} : { secret });
    return (await request(app()).get(pathAndQuery(url))).status;
  };
  const installedCount = () => logEntries(sandbox.addon).filter((entry) => entry.msg === 'tenant installed').length;

  beforeAll(async () => {
    sandbox = await startSandbox();
    other = await sandbox.bitbucket.install('other-ws');
  });

  afterAll(async () => {
    await sandbox?.stop();
  });

  test('first unsigned install stored', async () => {
    acme = await sandbox.bitbucket.install('acme-ws', { signWith: null });

    expect(lastStatus(sandbox.addon, 'POST', '/installed')).toBe(204);
    const stored = await sandbox.addon.handle.tenants.get(acme.clientKey);
    expect(stored?.clientKey).toBe(clientKeyFor('acme-ws'));
    expect(stored?.sharedSecret).toBe(acme.sharedSecret);
    expect(stored?.baseUrl).toBe(sandbox.bitbucket.webUrl);
    expect(stored?.baseApiUrl).toBe(sandbox.bitbucket.apiUrl);
    expect(stored?.principalUuid).toBe(workspaceUuid('acme-ws'));
    expect(await panelStatus()).toBe(200);
  });

  test('signed reinstall replaces secret', async () => {
    const first = acme;
    acme = await sandbox.bitbucket.install('acme-ws');

    expect(lastStatus(sandbox.addon, 'POST', '/installed')).toBe(204);
    expect(acme.sharedSecret).not.toBe(first.sharedSecret);
    expect(await storedSecret(acme.clientKey)).toBe(acme.sharedSecret);
    expect(await panelStatus()).toBe(200);
    expect(await panelStatus(first.sharedSecret)).toBe(401);
  });

  test('unsigned reinstall rejected', async () => {
    await expect(sandbox.bitbucket.install('acme-ws', { signWith: null })).rejects.toThrow();

    expect(lastStatus(sandbox.addon, 'POST', '/installed')).toBe(401);
    expect(await storedSecret(acme.clientKey)).toBe(acme.sharedSecret);
    expect(await panelStatus(acme.sharedSecret)).toBe(200);
  });

  test('reinstall with wrong secret rejected', async () => {
    await expect(sandbox.bitbucket.install('acme-ws', { signWith: randomSecret() })).rejects.toThrow();

    expect(lastStatus(sandbox.addon, 'POST', '/installed')).toBe(401);
    expect(await storedSecret(acme.clientKey)).toBe(acme.sharedSecret);
    expect(await panelStatus(acme.sharedSecret)).toBe(200);
  });

  test('reinstall with retired secret rejected', async () => {
    const retired = acme.sharedSecret;
    acme = await sandbox.bitbucket.install('acme-ws');

    await expect(sandbox.bitbucket.install('acme-ws', { signWith: retired })).rejects.toThrow();

    expect(lastStatus(sandbox.addon, 'POST', '/installed')).toBe(401);
    expect(await storedSecret(acme.clientKey)).toBe(acme.sharedSecret);
    expect(await panelStatus(acme.sharedSecret)).toBe(200);
  });

  test('reinstall signed by other tenant rejected', async () => {
    const payload = installPayload({
      clientKey: acme.clientKey,
      sharedSecret: randomSecret(),
      baseUrl: sandbox.bitbucket.webUrl,
      baseApiUrl: sandbox.bitbucket.apiUrl,
    });
    const token = lifecycleToken(other.clientKey, other.sharedSecret, '/installed');

    const response = await request(app()).post('/installed').set('Authorization', `JWT ${token}`).send(payload);

    expect(response.status).toBe(401);
    expect(response.body.message).toMatch(/not signed with the current shared secret/);
    expect(await storedSecret(acme.clientKey)).toBe(acme.sharedSecret);
    expect(await storedSecret(other.clientKey)).toBe(other.sharedSecret);
    expect(await panelStatus(acme.sharedSecret)).toBe(200);
  });

  test('reinstall with token for uninstall rejected', async () => {
    const payload = installPayload({
      clientKey: acme.clientKey,
      sharedSecret: randomSecret(),
      baseUrl: sandbox.bitbucket.webUrl,
      baseApiUrl: sandbox.bitbucket.apiUrl,
    });
    const token = lifecycleToken(acme.clientKey, acme.sharedSecret, '/uninstalled');

    const response = await request(app()).post('/installed').set('Authorization', `JWT ${token}`).send(payload);

    expect(response.status).toBe(401);
    expect(await storedSecret(acme.clientKey)).toBe(acme.sharedSecret);
  });

  const invalidPayloads: Array<[string, (payload: Record<string, unknown>) => void, RegExp]> = [
    ['missing clientKey', (payload) => delete payload.clientKey, /clientKey/],
    ['short sharedSecret', (payload) => (payload.sharedSecret = 'too-short'), /sharedSecret/],
    ['productType jira', (payload) => (payload.productType = 'jira'), /productType/],
    ['wrong key', (payload) => (payload.key = 'another-app'), /key must be "docker-hub-for-bitbucket"/],
  ];

  test.each(invalidPayloads)('install with %s rejected', async (name, change, message) => {
    const clientKey = `ck-invalid-${name.replace(/\W+/g, '-')}`;
    const payload = installPayload({
      clientKey,
      sharedSecret: randomSecret(),
      baseUrl: sandbox.bitbucket.webUrl,
      baseApiUrl: sandbox.bitbucket.apiUrl,
    });
    change(payload);
    const before = installedCount();

    const response = await request(app()).post('/installed').send(payload);

    expect(response.status).toBe(400);
    expect(response.body.message).toMatch(/^Invalid install payload: /);
    expect(response.body.message).toMatch(message);
    expect(await sandbox.addon.handle.tenants.get(clientKey)).toBeUndefined();
    expect(installedCount()).toBe(before);
  });

  test('install with non-JSON body rejected', async () => {
    const before = installedCount();

    const response = await request(app())
      .post('/installed')
      .set('Content-Type', 'application/json')
      .send('{"clientKey": "ck-not-json", "sharedSecret": ');

    expect(response.status).toBe(400);
    expect(response.text.trim().length).toBeGreaterThan(0);
    expect(await sandbox.addon.handle.tenants.get('ck-not-json')).toBeUndefined();
    expect(installedCount()).toBe(before);
  });

  test('install with 1 MB body rejected', async () => {
    const clientKey = 'ck-oversized-body';
    const payload = {
      ...installPayload({
        clientKey,
        sharedSecret: randomSecret(),
        baseUrl: sandbox.bitbucket.webUrl,
        baseApiUrl: sandbox.bitbucket.apiUrl,
      }),
      padding: 'x'.repeat(1024 * 1024),
    };
    const before = installedCount();

    const response = await request(app()).post('/installed').send(payload);

    expect(response.status).toBe(413);
    expect(response.text.trim().length).toBeGreaterThan(0);
    expect(await sandbox.addon.handle.tenants.get(clientKey)).toBeUndefined();
    expect(installedCount()).toBe(before);
  });
});

describe('install hosts in production', () => {
  const PUBLIC_BASE_URL = 'https://addon.example.test';
  let hub: DockerHubSimulator;
  let addon: TestAddon;

  const install = (clientKey: string, baseUrl: string, baseApiUrl: string) =>
    request(addon.handle.app)
      .post('/installed')
      .send(installPayload({ clientKey, sharedSecret: randomSecret(), baseUrl, baseApiUrl }));

  beforeAll(async () => {
    hub = await startDockerHubSimulator();
    addon = await startAddon({
      NODE_ENV: 'production',
      AC_LOCAL_BASE_URL: PUBLIC_BASE_URL,
      // Confirming an install would call the real api.bitbucket.org.
      INSTALL_VERIFY_WITH_BITBUCKET: 'false',
      DOCKER_HUB_URL: hub.url,
    });
  });

  afterAll(async () => {
    await addon?.stop();
    await hub?.close();
  });

  test('production descriptor uses public URL', async () => {
    const response = await request(addon.handle.app).get('/atlassian-connect.json');

    expect(response.status).toBe(200);
    expect(response.body.baseUrl).toBe(PUBLIC_BASE_URL);
  });

  const rejectedHosts: Array<[string, string, string]> = [
    ['loopback hosts', 'http://127.0.0.1:8080', 'http://127.0.0.1:8081'],
    ['localhost hosts', 'http://localhost:8080', 'http://localhost:8081'],
    ['plain http bitbucket.org', 'http://bitbucket.org', 'https://api.bitbucket.org'],
    ['lookalike web host', 'https://bitbucket.org.example.test', 'https://api.bitbucket.org'],
    ['lookalike API host', 'https://bitbucket.org', 'https://api.bitbucket.org.example.test'],
    ['loopback API host', 'https://bitbucket.org', 'http://127.0.0.1:8081'],
    ['web host as API host', 'https://bitbucket.org', 'https://bitbucket.org'],
  ];

  test.each(rejectedHosts)('production install from %s rejected', async (name, baseUrl, baseApiUrl) => {
    const clientKey = `ck-prod-${name.replace(/\W+/g, '-')}`;

    const response = await install(clientKey, baseUrl, baseApiUrl);

    expect(response.status).toBe(403);
    expect(response.body.message).toMatch(/^Install rejected: installs are accepted only from https:\/\/bitbucket.org/);
    expect(await addon.handle.tenants.get(clientKey)).toBeUndefined();
  });

  test('production install from bitbucket.org accepted', async () => {
    const clientKey = 'ck-prod-bitbucket-org';

    const response = await install(clientKey, 'https://bitbucket.org', 'https://api.bitbucket.org');

    expect(response.status).toBe(204);
    const stored = await addon.handle.tenants.get(clientKey);
    expect(stored?.baseUrl).toBe('https://bitbucket.org');
    expect(stored?.baseApiUrl).toBe('https://api.bitbucket.org');
  });
});

describe('install confirmed with Bitbucket', () => {
  let sandbox: Sandbox;

  const repositoryListPath = (workspace: string) => `/2.0/repositories/${encodeURIComponent(workspaceUuid(workspace))}`;

  beforeAll(async () => {
    sandbox = await startSandbox({
      NODE_ENV: 'development',
      INSTALL_ALLOW_LOOPBACK: 'true',
      INSTALL_VERIFY_WITH_BITBUCKET: 'true',
    });
  });

  afterEach(() => {
    sandbox.bitbucket.clearFaults();
    sandbox.bitbucket.resetRequests();
  });

  afterAll(async () => {
    await sandbox?.stop();
  });

  test('first install confirmed by API call', async () => {
    const installing = sandbox.bitbucket.install('acme-ws');
    const outcome = await installing.then(
      () => 'installed',
      (error: Error) => error.message,
    );

    const calls = sandbox.bitbucket
      .requests()
      .filter((entry) => entry.method === 'GET' && entry.path === repositoryListPath('acme-ws'));
    expect(calls).toHaveLength(1);
    // The simulator notes why it rejected a call; a confirmed install has no rejection.
    expect(calls[0].rejection).toBeUndefined();
    expect(calls[0].status).toBe(200);
    expect(outcome).toBe('installed');
    expect(lastStatus(sandbox.addon, 'POST', '/installed')).toBe(204);
    expect(await sandbox.addon.handle.tenants.get(clientKeyFor('acme-ws'))).toBeDefined();
  });

  test('Bitbucket 401 rejects first install', async () => {
    sandbox.bitbucket.setFault(repositoryListPath('other-ws'), { kind: 'status', status: 401 });

    await expect(sandbox.bitbucket.install('other-ws')).rejects.toThrow();

    expect(lastStatus(sandbox.addon, 'POST', '/installed')).toBe(401);
    expect(sandbox.bitbucket.requestCount(repositoryListPath('other-ws'))).toBe(1);
    expect(await sandbox.addon.handle.tenants.get(clientKeyFor('other-ws'))).toBeUndefined();
  });

  test('Bitbucket outage defers first install', async () => {
    sandbox.bitbucket.setFault(repositoryListPath('other-ws'), { kind: 'status', status: 503 });

    await expect(sandbox.bitbucket.install('other-ws')).rejects.toThrow();

    expect(lastStatus(sandbox.addon, 'POST', '/installed')).toBe(503);
    expect(sandbox.bitbucket.requestCount(repositoryListPath('other-ws'))).toBe(1);
    expect(await sandbox.addon.handle.tenants.get(clientKeyFor('other-ws'))).toBeUndefined();
  });
});

describe('uninstall', () => {
  let sandbox: Sandbox;
  let acme: InstallResult;
  let other: InstallResult;

  const app = () => sandbox.addon.handle.app;
  const panelPath = (workspace: string, slug: string) => pathAndQuery(sandbox.bitbucket.panelUrl(workspace, slug));
  const uninstallBody = (clientKey: string) => ({
    key: APP_KEY,
    clientKey,
    baseUrl: sandbox.bitbucket.webUrl,
    baseApiUrl: sandbox.bitbucket.apiUrl,
    productType: 'bitbucket',
    eventType: 'uninstalled',
  });
  /** Cache keys of the acme-ws/web-proxy panel: one Bitbucket response and one Docker Hub response. */
  const acmeCacheKeys = () => {
    const tenantPrefix = tenantCachePrefix(acme.clientKey);
    return [`${tenantPrefix}bb:acme-ws/web-proxy:main-branch`, `${tenantPrefix}hub:library/nginx:repository`];
  };
  const cached = async (key: string) => sandbox.addon.shared.cacheBackend.get(key);

  beforeAll(async () => {
    sandbox = await startSandbox();
    acme = await sandbox.bitbucket.install('acme-ws');
    other = await sandbox.bitbucket.install('other-ws');
  });

  afterAll(async () => {
    await sandbox?.stop();
  });

  test('unsigned uninstall rejected', async () => {
    const response = await request(app()).post('/uninstalled').send(uninstallBody(acme.clientKey));

    expect(response.status).toBe(401);
    expect(await sandbox.addon.handle.tenants.get(acme.clientKey)).toBeDefined();
    expect((await request(app()).get(panelPath('acme-ws', 'web-proxy'))).status).toBe(200);
  });

  test('uninstall naming other tenant rejected', async () => {
    const token = lifecycleToken(other.clientKey, other.sharedSecret, '/uninstalled');

    const response = await request(app())
      .post('/uninstalled')
      .set('Authorization', `JWT ${token}`)
      .send(uninstallBody(acme.clientKey));

    expect(response.status).toBe(401);
    expect(await sandbox.addon.handle.tenants.get(acme.clientKey)).toBeDefined();
    expect(await sandbox.addon.handle.tenants.get(other.clientKey)).toBeDefined();
    expect((await request(app()).get(panelPath('acme-ws', 'web-proxy'))).status).toBe(200);
    expect((await request(app()).get(panelPath('other-ws', 'billing-service'))).status).toBe(200);
  });

  test('signed uninstall removes tenant and cache', async () => {
    const panel = panelPath('acme-ws', 'web-proxy');
    const view = await request(app()).get(panel);
    expect(view.status).toBe(200);
    expect(sandbox.hub.requestCount('/v2/repositories/library/nginx')).toBeGreaterThan(0);
    for (const key of acmeCacheKeys()) {
      expect(await cached(key)).toBeDefined();
    }

    await sandbox.bitbucket.uninstall('acme-ws');

    expect(lastStatus(sandbox.addon, 'POST', '/uninstalled')).toBe(204);
    expect(await sandbox.addon.handle.tenants.get(acme.clientKey)).toBeUndefined();
    for (const key of acmeCacheKeys()) {
      expect(await cached(key)).toBeUndefined();
    }
    const after = await request(app()).get(panel);
    expect(after.status).toBe(401);
    expect(await sandbox.addon.handle.tenants.get(other.clientKey)).toBeDefined();
  });

  test('duplicate uninstall is no server error', async () => {
    const token = lifecycleToken(acme.clientKey, acme.sharedSecret, '/uninstalled');

    const response = await request(app())
      .post('/uninstalled')
      .set('Authorization', `JWT ${token}`)
      .send(uninstallBody(acme.clientKey));

    expect([200, 204, 401]).toContain(response.status);
    expect(await sandbox.addon.handle.tenants.get(acme.clientKey)).toBeUndefined();
  });

  test('reinstall after uninstall refetches Docker Hub', async () => {
    acme = await sandbox.bitbucket.install('acme-ws');
    sandbox.hub.resetRequests();

    const view = await request(app()).get(panelPath('acme-ws', 'web-proxy'));

    expect(view.status).toBe(200);
    expect(sandbox.hub.requestCount('/v2/repositories/library/nginx')).toBeGreaterThan(0);
  });
});

describe('lifecycle logs', () => {
  let sandbox: Sandbox;
  const secrets: string[] = [];

  beforeAll(async () => {
    sandbox = await startSandbox();
    const { app } = sandbox.addon.handle;
    secrets.push((await sandbox.bitbucket.install('acme-ws')).sharedSecret);
    secrets.push((await sandbox.bitbucket.install('acme-ws')).sharedSecret);
    await sandbox.bitbucket.install('acme-ws', { signWith: null }).catch(() => undefined);
    for (const slug of ['web-proxy', 'widget-api', 'web-proxy']) {
      await request(app).get(pathAndQuery(sandbox.bitbucket.panelUrl('acme-ws', slug)));
    }
    await request(app).get(pathAndQuery(sandbox.bitbucket.panelUrl('acme-ws', 'web-proxy', { secret: secrets[0] })));
    await request(app).get(pathAndQuery(sandbox.bitbucket.panelUrl('acme-ws', 'web-proxy', { omitQsh: true })));
  });

  afterAll(async () => {
    await sandbox?.stop();
  });

  test('logs contain no secrets', () => {
    const lines = sandbox.addon.logLines();
    expect(lines.length).toBeGreaterThan(0);
    for (const secret of secrets) {
      expect(lines.filter((line) => line.includes(secret))).toEqual([]);
    }
  });

  test('logs contain no tokens', () => {
    const lines = sandbox.addon.logLines();
    expect(lines.filter((line) => line.includes('eyJ'))).toEqual([]);
    expect(lines.filter((line) => line.includes('jwt='))).toEqual([]);
  });

  test('access log lines have requestId', () => {
    expect(requestEntries(sandbox.addon, 'POST', '/installed')).toHaveLength(3);
    expect(requestEntries(sandbox.addon, 'GET', '/panel')).toHaveLength(5);
    const requests = logEntries(sandbox.addon).filter((entry) => entry.msg === 'request completed');
    for (const entry of requests) {
      expect(entry.requestId).toEqual(expect.stringMatching(/^[A-Za-z0-9._-]{1,64}$/));
    }
  });

  test('lifecycle log lines have requestId', () => {
    const installIds = requestEntries(sandbox.addon, 'POST', '/installed').map((entry) => entry.requestId);
    const lifecycleLines = logEntries(sandbox.addon).filter((entry) => entry.area === 'lifecycle');
    // Two accepted installs and one rejected install.
    expect(lifecycleLines).toHaveLength(3);
    const unmatched = lifecycleLines.filter((entry) => !installIds.includes(entry.requestId)).map((entry) => entry.msg);
    expect(unmatched).toEqual([]);
  });

  test('panel log lines have requestId', () => {
    const panelIds = requestEntries(sandbox.addon, 'GET', '/panel').map((entry) => entry.requestId);
    const rejections = logEntries(sandbox.addon).filter((entry) => entry.msg === 'panel request rejected');
    // The panel views signed with the retired secret and without qsh.
    expect(rejections).toHaveLength(2);
    const unmatched = rejections.filter((entry) => !panelIds.includes(entry.requestId)).map((entry) => entry.msg);
    expect(unmatched).toEqual([]);
  });
});
