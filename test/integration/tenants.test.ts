/**
 * Separation between installed workspaces: a tenant's token reads only what that
 * tenant's credentials can read, cached panel data is never shared between
 * tenants, and the tenant store keeps only the fields the add-on needs.
 */
import request from 'supertest';
import sqlite3 from 'sqlite3';
import type { InstallResult } from '../../src/sandbox/bitbucket-simulator';
import { signHostToken } from '../../src/sandbox/bitbucket-jwt';
import { TestAddon } from '../helpers/addon';
import { installPayload, pathAndQuery, randomSecret, Sandbox, startSandbox } from '../helpers/connect-host';

const NGINX_STARS = '21.2k';
const BITBUCKET_NOT_FOUND = 'Bitbucket did not find this repository, or the add-on has no access to it.';

interface SettingsRow {
  clientKey: string;
  key: string;
  val: string;
}

/** Reads every row of ACE's settings table straight from the add-on's sqlite file. */
async function readSettingsRows(addon: TestAddon): Promise<SettingsRow[]> {
  if (addon.config.database.kind !== 'sqlite') {
    throw new Error(`Expected a sqlite tenant store, got ${addon.config.database.kind}`);
  }
  const database = new sqlite3.Database(addon.config.database.file, sqlite3.OPEN_READONLY);
  try {
    return await new Promise<SettingsRow[]>((resolve, reject) => {
      database.all('SELECT clientKey, key, val FROM AddonSettings', (error: Error | null, rows: SettingsRow[]) =>
        error ? reject(error) : resolve(rows),
      );
    });
  } finally {
    await new Promise<void>((resolve) => database.close(() => resolve()));
  }
}

describe('tenant isolation', () => {
  let sandbox: Sandbox;
  let other: InstallResult;

  const app = () => sandbox.addon.handle.app;
  /** Panel URL for acme-ws/web-proxy carrying a token of the other-ws tenant, valid for that exact URL. */
  const otherTenantPanel = () =>
    pathAndQuery(
      sandbox.bitbucket.panelUrl('acme-ws', 'web-proxy', { clientKey: other.clientKey, secret: other.sharedSecret }),
    );

  beforeAll(async () => {
    sandbox = await startSandbox();
    await sandbox.bitbucket.install('acme-ws');
    other = await sandbox.bitbucket.install('other-ws');
  });

  afterEach(() => {
    sandbox.hub.resetRequests();
    sandbox.bitbucket.resetRequests();
  });

  afterAll(async () => {
    await sandbox?.stop();
  });

  test('other tenant sees own repository', async () => {
    const response = await request(app()).get(pathAndQuery(sandbox.bitbucket.panelUrl('other-ws', 'billing-service')));

    expect(response.status).toBe(200);
    expect(response.text).toContain('data-state="ready"');
    expect(response.text).toContain('dchevell/jira-software');
  });

  test('other tenant cannot read acme repository', async () => {
    const response = await request(app()).get(otherTenantPanel());

    expect(response.status).toBe(200);
    expect(response.text).toContain('data-state="bitbucket-error"');
    expect(response.text).toContain(BITBUCKET_NOT_FOUND);
    expect(response.text).not.toContain('library/nginx');
    expect(response.text).not.toContain(NGINX_STARS);
    expect(sandbox.hub.requests()).toEqual([]);
    const bitbucketCalls = sandbox.bitbucket.requests().filter((entry) => entry.path.includes('/acme-ws/web-proxy'));
    expect(bitbucketCalls.length).toBeGreaterThan(0);
    expect(bitbucketCalls.map((entry) => entry.status)).toEqual(bitbucketCalls.map(() => 404));
  });

  test('install forgets remembered unknown tenant', async () => {
    const clientKey = 'ck-late-tenant';
    const sharedSecret = randomSecret();
    const panelPath = '/panel?repo=acme-ws%2Fweb-proxy';
    const token = signHostToken({ clientKey, secret: sharedSecret, method: 'GET', pathAndQuery: panelPath });
    const panelRequest = () => request(app()).get(`${panelPath}&jwt=${token}`);
    expect((await panelRequest()).status).toBe(401);

    const install = await request(app())
      .post('/installed')
      .send(
        installPayload({
          clientKey,
          sharedSecret,
          baseUrl: sandbox.bitbucket.webUrl,
          baseApiUrl: sandbox.bitbucket.apiUrl,
        }),
      );

    expect(install.status).toBe(204);
    const response = await panelRequest();
    expect(response.status).toBe(200);
    // The simulator has no such tenant, so it rejects the add-on's Bitbucket calls for it.
    expect(response.text).not.toContain(NGINX_STARS);
  });
});

describe('tenant cache isolation', () => {
  let sandbox: Sandbox;
  let other: InstallResult;

  const app = () => sandbox.addon.handle.app;
  /** Panel URL for acme-ws/web-proxy carrying a token of the other-ws tenant, valid for that exact URL. */
  const otherTenantPanel = () =>
    pathAndQuery(
      sandbox.bitbucket.panelUrl('acme-ws', 'web-proxy', { clientKey: other.clientKey, secret: other.sharedSecret }),
    );
  const acmePanel = () => pathAndQuery(sandbox.bitbucket.panelUrl('acme-ws', 'web-proxy'));

  beforeAll(async () => {
    sandbox = await startSandbox();
    await sandbox.bitbucket.install('acme-ws');
    other = await sandbox.bitbucket.install('other-ws');
  });

  afterEach(() => {
    sandbox.hub.resetRequests();
    sandbox.bitbucket.resetRequests();
  });

  afterAll(async () => {
    await sandbox?.stop();
  });

  test('cached acme panel not served to other tenant', async () => {
    const acmeView = await request(app()).get(acmePanel());
    expect(acmeView.status).toBe(200);
    expect(acmeView.text).toContain(NGINX_STARS);
    sandbox.hub.resetRequests();
    sandbox.bitbucket.resetRequests();

    const otherView = await request(app()).get(otherTenantPanel());

    expect(otherView.status).toBe(200);
    expect(otherView.text).not.toContain(NGINX_STARS);
    expect(otherView.text).not.toContain('library/nginx');
    expect(otherView.text).toContain(BITBUCKET_NOT_FOUND);
    expect(sandbox.hub.requests()).toEqual([]);
    // The other tenant's view called Bitbucket with its own credentials instead of reading acme-ws's cache.
    expect(sandbox.bitbucket.requestCount('/2.0/repositories/acme-ws/web-proxy')).toBeGreaterThan(0);
  });

  test('other tenant view leaves acme cache intact', async () => {
    await request(app()).get(otherTenantPanel());

    const acmeView = await request(app()).get(acmePanel());

    expect(acmeView.status).toBe(200);
    expect(acmeView.text).toContain('data-state="ready"');
    expect(acmeView.text).toContain(NGINX_STARS);
  });
});

describe('tenant store', () => {
  let sandbox: Sandbox;
  let acme: InstallResult;

  beforeAll(async () => {
    sandbox = await startSandbox();
    acme = await sandbox.bitbucket.install('acme-ws');
    await sandbox.bitbucket.install('other-ws');
  });

  afterAll(async () => {
    await sandbox?.stop();
  });

  test('stored tenant omits payload extras', async () => {
    const rows = (await readSettingsRows(sandbox.addon)).filter((row) => row.clientKey === acme.clientKey);

    expect(rows).toHaveLength(1);
    const stored = JSON.parse(rows[0].val) as Record<string, unknown>;
    expect(Object.keys(stored).sort()).toEqual(
      ['baseApiUrl', 'baseUrl', 'clientKey', 'installedAt', 'key', 'principalUuid', 'productType', 'sharedSecret'].sort(),
    );
  });

  test('uninstall deletes tenant rows', async () => {
    await sandbox.bitbucket.uninstall('acme-ws');

    const rows = await readSettingsRows(sandbox.addon);
    expect(rows.filter((row) => row.clientKey === acme.clientKey)).toEqual([]);
    expect(rows.filter((row) => row.clientKey !== acme.clientKey)).toHaveLength(1);
  });
});
