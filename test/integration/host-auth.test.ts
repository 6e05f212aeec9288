/**
 * Checks of the JWT that Bitbucket puts on the panel iframe URL, the panel's
 * security headers, and a base path that a proxy keeps or strips. Tokens come
 * from the Bitbucket simulator, tampered through its panelUrl options.
 */
import request from 'supertest';
import { stripBasePath } from '../../src/connect/host-auth';
import type { InstallResult, PanelUrlOptions } from '../../src/sandbox/bitbucket-simulator';
import {
  lastStatus,
  lifecycleToken,
  pathAndQuery,
  randomSecret,
  rs256Copy,
  Sandbox,
  startSandbox,
  tokenOf,
  unsignedCopy,
  withToken,
} from '../helpers/connect-host';

/** Matches a line of a Node.js stack trace such as "at verify (/app/x.js:10:5)". */
const STACK_LINE = /\bat .+:\d+:\d+/;
const ERROR_CLASS_NAMES = /JsonWebTokenError|TokenExpiredError|NotBeforeError|HostAuthError|ZodError/;

const nowSeconds = () => Math.floor(Date.now() / 1000);

describe('panel auth', () => {
  let sandbox: Sandbox;
  let acme: InstallResult;
  /** Body of the 401 page for a request without any token. */
  let unauthorizedBody: string;

  const app = () => sandbox.addon.handle.app;
  const panelUrl = (options: PanelUrlOptions = {}) => sandbox.bitbucket.panelUrl('acme-ws', 'web-proxy', options);

  beforeAll(async () => {
    sandbox = await startSandbox();
    acme = await sandbox.bitbucket.install('acme-ws');
    const response = await request(app()).get('/panel?repo=acme-ws%2Fweb-proxy');
    expect(response.status).toBe(401);
    unauthorizedBody = response.text;
  });

  afterAll(async () => {
    await sandbox?.stop();
  });

  test('valid token accepted', async () => {
    const response = await request(app()).get(pathAndQuery(panelUrl()));

    expect(response.status).toBe(200);
    expect(response.text).toContain('data-state="ready"');
  });

  test('token in header only accepted', async () => {
    const url = panelUrl();
    const withoutToken = new URL(url);
    withoutToken.searchParams.delete('jwt');

    const response = await request(app())
      .get(pathAndQuery(withoutToken.toString()))
      .set('Authorization', `JWT ${tokenOf(url)}`);

    expect(response.status).toBe(200);
  });

  const acceptedTimes: Array<[string, () => PanelUrlOptions]> = [
    ['expired 5 s ago', () => ({ issuedAt: nowSeconds() - 185, expiresInSeconds: 180 })],
    ['issued 30 s ahead', () => ({ issuedAt: nowSeconds() + 30, expiresInSeconds: 180 })],
  ];

  test.each(acceptedTimes)('token %s accepted', async (_name, options) => {
    const response = await request(app()).get(pathAndQuery(panelUrl(options())));

    expect(response.status).toBe(200);
    expect(response.text).toContain('data-state="ready"');
  });

  /** Each case returns the request to send: a path with query, and optional headers. */
  const rejected: Array<[string, () => { path: string; headers?: Record<string, string> }]> = [
    ['expired 30 min ago', () => ({ path: pathAndQuery(panelUrl({ issuedAt: nowSeconds() - 3600, expiresInSeconds: 1800 })) })],
    ['expired 90 s ago', () => ({ path: pathAndQuery(panelUrl({ issuedAt: nowSeconds() - 270, expiresInSeconds: 180 })) })],
    ['issued 5 min ahead', () => ({ path: pathAndQuery(panelUrl({ issuedAt: nowSeconds() + 300, expiresInSeconds: 180 })) })],
    ['without exp', () => ({ path: pathAndQuery(panelUrl({ omitExp: true })) })],
    ['with context qsh', () => ({ path: pathAndQuery(panelUrl({ qsh: 'context-qsh' })) })],
    ['without qsh', () => ({ path: pathAndQuery(panelUrl({ omitQsh: true })) })],
    [
      'for another repository',
      () => {
        const url = new URL(panelUrl());
        url.searchParams.set('repo', 'acme-ws/widget-api');
        return { path: pathAndQuery(url.toString()) };
      },
    ],
    ['with wrong secret', () => ({ path: pathAndQuery(panelUrl({ secret: randomSecret() })) })],
    ['from unknown issuer', () => ({ path: pathAndQuery(panelUrl({ clientKey: 'ck-unknown-9999' })) })],
    [
      'in query and header',
      () => {
        const url = panelUrl();
        return { path: pathAndQuery(url), headers: { Authorization: `JWT ${tokenOf(url)}` } };
      },
    ],
    [
      'with alg none',
      () => {
        const url = panelUrl();
        return { path: withToken(url, unsignedCopy(tokenOf(url))) };
      },
    ],
    [
      'with RS256 header',
      () => {
        const url = panelUrl();
        return { path: withToken(url, rs256Copy(tokenOf(url))) };
      },
    ],
    ['that is not a JWT', () => ({ path: withToken(panelUrl(), 'not-a-token') })],
    [
      'with Bearer scheme',
      () => {
        const url = panelUrl();
        const withoutToken = new URL(url);
        withoutToken.searchParams.delete('jwt');
        return { path: pathAndQuery(withoutToken.toString()), headers: { Authorization: `Bearer ${tokenOf(url)}` } };
      },
    ],
  ];

  test.each(rejected)('token %s rejected', async (_name, build) => {
    const { path, headers } = build();

    const response = await request(app())
      .get(path)
      .set(headers ?? {});

    expect(response.status).toBe(401);
    expect(response.headers['content-type']).toMatch(/^text\/html/);
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.text).not.toMatch(STACK_LINE);
    expect(response.text).not.toMatch(ERROR_CLASS_NAMES);
    expect(response.text).toBe(unauthorizedBody);
  });

  test('rejection page has no tenant data', () => {
    expect(unauthorizedBody).toContain('data-state="unauthorized"');
    expect(unauthorizedBody).not.toContain(acme.clientKey);
    expect(unauthorizedBody).not.toContain(sandbox.bitbucket.webUrl);
  });
});

describe('panel security headers', () => {
  let sandbox: Sandbox;
  let headers: Record<string, string>;

  beforeAll(async () => {
    sandbox = await startSandbox();
    await sandbox.bitbucket.install('acme-ws');
    const response = await request(sandbox.addon.handle.app).get(
      pathAndQuery(sandbox.bitbucket.panelUrl('acme-ws', 'web-proxy')),
    );
    expect(response.status).toBe(200);
    headers = response.headers;
  });

  afterAll(async () => {
    await sandbox?.stop();
  });

  test('CSP frame-ancestors is tenant host', () => {
    const directives = headers['content-security-policy'].split(';').map((directive) => directive.trim());
    const frameAncestors = directives.find((directive) => directive.startsWith('frame-ancestors '));
    expect(frameAncestors).toBe(`frame-ancestors ${new URL(sandbox.bitbucket.webUrl).origin}`);
  });

  test('no X-Frame-Options header', () => {
    expect(headers['x-frame-options']).toBeUndefined();
  });

  test('panel is not cached', () => {
    expect(headers['cache-control']).toBe('no-store');
  });

  test('referrer policy is no-referrer', () => {
    expect(headers['referrer-policy']).toBe('no-referrer');
  });
});

describe.each([
  ['without trailing slash', '/docker-addon'],
  ['with trailing slash', '/docker-addon/'],
])('base path %s', (_name, configuredPath) => {
  const BASE_PATH = '/docker-addon';
  // The access log may show the path with or without the prefix.
  const INSTALLED_PATH = /^(\/docker-addon)?\/installed$/;
  let sandbox: Sandbox;
  let acme: InstallResult;

  const app = () => sandbox.addon.handle.app;
  const publicBaseUrl = () => `${sandbox.addon.url}${BASE_PATH}`;

  beforeAll(async () => {
    sandbox = await startSandbox((url) => ({ AC_LOCAL_BASE_URL: `${url}${configuredPath}` }));
    acme = await sandbox.bitbucket.install('acme-ws');
  });

  afterAll(async () => {
    await sandbox?.stop();
  });

  test.each([`${BASE_PATH}/atlassian-connect.json`, '/atlassian-connect.json'])(
    'descriptor at %s uses prefix',
    async (descriptorPath) => {
      const response = await request(app()).get(descriptorPath);

      expect(response.status).toBe(200);
      const descriptor = response.body;
      expect(descriptor.baseUrl).toBe(publicBaseUrl());
      const relativeUrls: string[] = [
        descriptor.lifecycle.installed,
        descriptor.lifecycle.uninstalled,
        ...descriptor.modules.webPanels.map((panel: { url: string }) => panel.url),
      ];
      for (const relative of relativeUrls) {
        expect(relative).toMatch(/^\/[^/]/);
        const absolute = `${descriptor.baseUrl}${relative}`;
        expect(absolute.replace(/^https?:\/\//, '')).not.toContain('//');
      }
    },
  );

  test('first install under prefix stored', async () => {
    expect(lastStatus(sandbox.addon, 'POST', INSTALLED_PATH)).toBe(204);
    expect((await sandbox.addon.handle.tenants.get(acme.clientKey))?.sharedSecret).toBe(acme.sharedSecret);
  });

  test('panel under prefix accepted', async () => {
    const path = pathAndQuery(sandbox.bitbucket.panelUrl('acme-ws', 'web-proxy'));
    expect(path.startsWith(`${BASE_PATH}/panel?`)).toBe(true);

    const response = await request(app()).get(path);

    expect(response.status).toBe(200);
    expect(response.text).toContain('data-state="ready"');
  });

  test('panel with prefix stripped accepted', async () => {
    const path = pathAndQuery(sandbox.bitbucket.panelUrl('acme-ws', 'web-proxy')).slice(BASE_PATH.length);
    expect(path.startsWith('/panel?')).toBe(true);

    const response = await request(app()).get(path);

    expect(response.status).toBe(200);
    expect(response.text).toContain('data-state="ready"');
  });

  test('signed reinstall under prefix accepted', async () => {
    acme = await sandbox.bitbucket.install('acme-ws');

    expect(lastStatus(sandbox.addon, 'POST', INSTALLED_PATH)).toBe(204);
    expect((await sandbox.addon.handle.tenants.get(acme.clientKey))?.sharedSecret).toBe(acme.sharedSecret);
  });

  test('uninstall with prefix stripped accepted', async () => {
    const token = lifecycleToken(acme.clientKey, acme.sharedSecret, '/uninstalled');

    const response = await request(app())
      .post('/uninstalled')
      .set('Authorization', `JWT ${token}`)
      .send({ clientKey: acme.clientKey, eventType: 'uninstalled' });

    expect(response.status).toBe(204);
    expect(await sandbox.addon.handle.tenants.get(acme.clientKey)).toBeUndefined();
  });
});

describe('stripBasePath', () => {
  test.each([
    ['/app/panel/app', '/app', '/panel/app'],
    ['/app/panel', '/app', '/panel'],
    ['/app', '/app', '/'],
    ['/panel/app', '/app', '/panel/app'],
    ['/application/panel', '/app', '/application/panel'],
    ['/panel', '', '/panel'],
  ])('path %s under %s', (path, basePath, expected) => {
    expect(stripBasePath(path, basePath)).toBe(expected);
  });
});
