/**
 * Tests of the sandbox simulators themselves, over real sockets on loopback.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createQueryStringHash, decodeSymmetric, fromExpressRequest, fromMethodAndUrl, SymmetricAlgorithm } from 'atlassian-jwt';
import express from 'express';
import jwt from 'jsonwebtoken';
import { BitbucketSimulator, startBitbucketSimulator } from '../src/sandbox/bitbucket-simulator';
import { DockerHubSimulator, hubRateLimitFault, startDockerHubSimulator } from '../src/sandbox/docker-hub-simulator';
import { httpRequest, HttpResponse } from '../src/sandbox/http-request';
import { LoopbackServer, startLoopbackServer } from '../src/sandbox/loopback-server';

const SANDBOX_DIR = path.join(__dirname, '..', 'sandbox');
const APP_KEY = 'docker-hub-for-bitbucket-test';
const ACME_UUID = '{11111111-2222-3333-4444-555555555555}';
const WIDGET_UUID = '{66666666-7777-8888-9999-000000000000}';
const TOKEN_REJECTED = '{"type":"error","error":{"message":"Token is invalid, expired, or not supported for this endpoint."}}';
const NO_ACCESS =
  '{"type":"error","error":{"message":"You may not have access to this repository or it no longer exists in this workspace."}}';
const HUB_NOT_FOUND = '{"message":"object not found","errinfo":{}}';

function json(response: HttpResponse): any {
  return JSON.parse(response.body.toString('utf8'));
}

function elapsedSince(start: number): number {
  return Date.now() - start;
}

describe('docker hub simulator', () => {
  let hub: DockerHubSimulator;

  beforeAll(async () => {
    hub = await startDockerHubSimulator();
  });
  afterEach(() => {
    hub.clearFaults();
    hub.resetRequests();
  });
  afterAll(async () => {
    await hub.close();
  });

  test('listens on loopback', () => {
    expect(hub.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  test('repository matches nginx fixture', async () => {
    const response = await httpRequest(`${hub.url}/v2/repositories/library/nginx/`);
    const fixture = JSON.parse(fs.readFileSync(path.join(SANDBOX_DIR, 'docker-hub/fixtures/repo-get-library-nginx.json'), 'utf8'));
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('application/json');
    expect(json(response)).toEqual(fixture);
    expect(json(response).pull_count).toBe(12916987208);
  });

  test('repository without trailing slash', async () => {
    const response = await httpRequest(`${hub.url}/v2/repositories/library/nginx`);
    expect(response.status).toBe(200);
    expect(json(response).name).toBe('nginx');
  });

  test('official image needs library namespace', async () => {
    const response = await httpRequest(`${hub.url}/v2/repositories/nginx/`);
    expect(response.status).toBe(404);
  });

  test('tags page envelope', async () => {
    const response = await httpRequest(`${hub.url}/v2/repositories/library/nginx/tags/?page_size=2&ordering=last_updated`);
    const page = json(response);
    expect(response.status).toBe(200);
    expect(page.count).toBe(12);
    expect(page.previous).toBeNull();
    expect(page.next).toBe(`${hub.url}/v2/repositories/library/nginx/tags/?ordering=last_updated&page=2&page_size=2`);
    expect(page.results).toHaveLength(2);
    expect(page.results[0].name).toBe('latest');
    expect(page.results[0].images.map((image: any) => image.architecture)).toContain('arm64');
  });

  test('tags newest first', async () => {
    const page = json(await httpRequest(`${hub.url}/v2/repositories/acme-ws/release-train/tags/?page_size=100&ordering=last_updated`));
    const times = page.results.map((tag: any) => Date.parse(tag.last_updated));
    expect(times).toEqual([...times].sort((a, b) => b - a));
  });

  test('tags page_size capped at 100', async () => {
    const page = json(await httpRequest(`${hub.url}/v2/repositories/library/nginx/tags/?page_size=500`));
    expect(page.results).toHaveLength(12);
    expect(page.next).toBeNull();
  });

  test('tags default page size 10', async () => {
    const page = json(await httpRequest(`${hub.url}/v2/repositories/library/nginx/tags/`));
    expect(page.results).toHaveLength(10);
  });

  test('tags beyond anonymous offset cap', async () => {
    const response = await httpRequest(`${hub.url}/v2/repositories/library/nginx/tags/?page_size=100&page=11`);
    expect(response.status).toBe(403);
  });

  test('single tag', async () => {
    const response = await httpRequest(`${hub.url}/v2/repositories/library/nginx/tags/stable-alpine`);
    expect(response.status).toBe(200);
    expect(json(response).name).toBe('stable-alpine');
  });

  test('buildhistory 404 for new images', async () => {
    const response = await httpRequest(`${hub.url}/v2/repositories/library/nginx/buildhistory/?page_size=1`);
    expect(response.status).toBe(404);
    expect(response.body.toString()).toBe(HUB_NOT_FOUND);
  });

  test('buildhistory for legacy autobuild image', async () => {
    const response = await httpRequest(`${hub.url}/v2/repositories/rwgrim/docker-bubbleupnpserver/buildhistory/?page_size=1`);
    const body = json(response);
    expect(response.status).toBe(200);
    expect(body.count).toBe(2);
    expect(body.results).toHaveLength(1);
    expect(body.results[0].status).toBe(10);
  });

  test('unknown image 404 body', async () => {
    const response = await httpRequest(`${hub.url}/v2/repositories/acme-ws/ghost-image/`);
    expect(response.status).toBe(404);
    expect(response.headers['content-type']).toBe('application/json');
    expect(response.body.toString()).toBe(HUB_NOT_FOUND);
  });

  test('private image returns 404', async () => {
    const repository = await httpRequest(`${hub.url}/v2/repositories/acme-ws/private-image/`);
    const tags = await httpRequest(`${hub.url}/v2/repositories/acme-ws/private-image/tags/?page_size=10`);
    expect(repository.status).toBe(404);
    expect(tags.status).toBe(404);
    expect(hub.imageNames()).toContain('acme-ws/private-image');
  });

  test('pull count at int32 maximum', async () => {
    const body = json(await httpRequest(`${hub.url}/v2/repositories/acme-ws/pull-count-cap/`));
    expect(body.pull_count).toBe(2147483647);
  });

  test('sparse image fields', async () => {
    const body = json(await httpRequest(`${hub.url}/v2/repositories/acme-ws/sparse-metadata/`));
    expect(body.last_updated).toBeNull();
    expect(body).not.toHaveProperty('star_count');
  });

  test('images of sandbox repositories exist', async () => {
    const expected = [
      'acme-ws/widget-api',
      'acme-ws/empty-config',
      'acme-ws/release-train',
      'daithi10101/conformance-suite',
      'madwebsolutions/bitbucket-pipelines-php72',
      'splservices/addonbuildimage',
      'phenompeople/centos-tomcat',
      'dchevell/jira-software',
    ];
    for (const image of expected) {
      const response = await httpRequest(`${hub.url}/v2/repositories/${image}/`);
      expect([image, response.status]).toEqual([image, 200]);
    }
  });

  test('web page for official image', async () => {
    const response = await httpRequest(`${hub.url}/_/nginx`);
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('text/html');
    expect(response.body.toString()).toContain('12,916,987,208');
  });

  test('web page for user image', async () => {
    const response = await httpRequest(`${hub.url}/r/acme-ws/widget-api`);
    expect(response.status).toBe(200);
  });

  test('fault status 429 with Retry-After', async () => {
    hub.setFault('/v2/repositories/library/nginx', hubRateLimitFault({ retryAfterSeconds: 60 }));
    const response = await httpRequest(`${hub.url}/v2/repositories/library/nginx/`);
    expect(response.status).toBe(429);
    expect(response.headers['retry-after']).toBe('60');
    expect(response.headers['content-type']).toBe('text/plain');
    expect(response.body.toString()).toBe('Too Many Requests (HAP429).\n');
  });

  test('fault status 429 with X-Retry-After', async () => {
    const retryAt = new Date(Date.now() + 90_000);
    hub.setFault('/v2/repositories/library/nginx', hubRateLimitFault({ retryAt }));
    const response = await httpRequest(`${hub.url}/v2/repositories/library/nginx/`);
    expect(response.headers['x-retry-after']).toBe(String(Math.floor(retryAt.getTime() / 1000)));
    expect(response.headers['retry-after']).toBeUndefined();
  });

  test('fault status 504 default HTML', async () => {
    hub.setFault(/\/nginx\/?$/, { kind: 'status', status: 504 });
    const response = await httpRequest(`${hub.url}/v2/repositories/library/nginx/`);
    expect(response.status).toBe(504);
    expect(response.headers['content-type']).toBe('text/html');
    expect(response.body.toString()).toContain('504 Gateway Time-out');
  });

  test('fault status with own body and headers', async () => {
    hub.setFault('/nginx', { kind: 'status', status: 500, body: 'boom', contentType: 'text/plain', headers: { 'X-Test': '1' } });
    const response = await httpRequest(`${hub.url}/v2/repositories/library/nginx/`);
    expect(response.status).toBe(500);
    expect(response.body.toString()).toBe('boom');
    expect(response.headers['x-test']).toBe('1');
  });

  test('fault delay', async () => {
    hub.setFault('/nginx', { kind: 'delay', ms: 150 });
    const start = Date.now();
    const response = await httpRequest(`${hub.url}/v2/repositories/library/nginx/`);
    expect(response.status).toBe(200);
    expect(elapsedSince(start)).toBeGreaterThanOrEqual(140);
  });

  test('fault hang', async () => {
    hub.setFault('/nginx', { kind: 'hang' });
    await expect(httpRequest(`${hub.url}/v2/repositories/library/nginx/`, { timeoutMs: 200 })).rejects.toThrow(/timed out/);
  });

  test('fault reset', async () => {
    hub.setFault('/nginx', { kind: 'reset' });
    await expect(httpRequest(`${hub.url}/v2/repositories/library/nginx/`)).rejects.toMatchObject({ code: 'ECONNRESET' });
  });

  test('fault garbage', async () => {
    hub.setFault('/nginx', { kind: 'garbage' });
    const response = await httpRequest(`${hub.url}/v2/repositories/library/nginx/`);
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('application/json');
    expect(() => JSON.parse(response.body.toString())).toThrow(SyntaxError);
  });

  test('fault wrong content type', async () => {
    hub.setFault('/nginx', { kind: 'wrong-content-type' });
    const response = await httpRequest(`${hub.url}/v2/repositories/library/nginx/`);
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('text/html');
  });

  test('fault huge body is chunked', async () => {
    hub.setFault('/nginx', { kind: 'huge', bytes: 10 * 1024 * 1024 });
    const response = await httpRequest(`${hub.url}/v2/repositories/library/nginx/`, { maxBytes: 1024 * 1024 });
    expect(response.status).toBe(200);
    expect(response.truncated).toBe(true);
    expect(response.headers['content-length']).toBeUndefined();
    expect(response.body.subarray(0, 1).toString()).toBe('{');
  });

  test('fault huge body with length', async () => {
    hub.setFault('/nginx', { kind: 'huge', bytes: 200_000, contentLength: true });
    const response = await httpRequest(`${hub.url}/v2/repositories/library/nginx/`, { maxBytes: 1024 * 1024 });
    expect(response.headers['content-length']).toBe('200000');
    expect(response.body.length).toBe(200_000);
    expect(json(response).count).toBe(0);
  });

  test('fault json replaces body', async () => {
    hub.setFault('/nginx', { kind: 'json', body: {} });
    const response = await httpRequest(`${hub.url}/v2/repositories/library/nginx/`);
    expect(response.status).toBe(200);
    expect(response.body.toString()).toBe('{}');
  });

  test('fault limited by times', async () => {
    hub.setFault('/nginx', { kind: 'status', status: 503 }, { times: 1 });
    const first = await httpRequest(`${hub.url}/v2/repositories/library/nginx/`);
    const second = await httpRequest(`${hub.url}/v2/repositories/library/nginx/`);
    expect(first.status).toBe(503);
    expect(second.status).toBe(200);
  });

  test('fault removed with null', async () => {
    hub.setFault('/nginx', { kind: 'status', status: 503 });
    hub.setFault('/nginx', null);
    const response = await httpRequest(`${hub.url}/v2/repositories/library/nginx/`);
    expect(response.status).toBe(200);
  });

  test('fault rejects invalid status', () => {
    expect(() => hub.setFault('/x', { kind: 'status', status: 99 })).toThrow();
  });

  test('fault control over HTTP', async () => {
    const set = await httpRequest(`${hub.url}/__sandbox/faults`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ match: '/library/nginx', fault: { kind: 'status', status: 502 } }),
    });
    const faulted = await httpRequest(`${hub.url}/v2/repositories/library/nginx/`);
    const cleared = await httpRequest(`${hub.url}/__sandbox/faults`, { method: 'DELETE' });
    const normal = await httpRequest(`${hub.url}/v2/repositories/library/nginx/`);
    expect(set.status).toBe(204);
    expect(faulted.status).toBe(502);
    expect(cleared.status).toBe(204);
    expect(normal.status).toBe(200);
  });

  test('fault control rejects bad fault', async () => {
    const response = await httpRequest(`${hub.url}/__sandbox/faults`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ match: '/x', fault: { kind: 'explode' } }),
    });
    expect(response.status).toBe(400);
  });

  test('request log and counts', async () => {
    await httpRequest(`${hub.url}/v2/repositories/library/nginx/`);
    await httpRequest(`${hub.url}/v2/repositories/library/nginx/tags/?page_size=1`);
    await httpRequest(`${hub.url}/__sandbox/requests`);
    const log = hub.requests();
    expect(log).toHaveLength(2);
    expect(log[0]).toMatchObject({ method: 'GET', path: '/v2/repositories/library/nginx/', status: 200 });
    expect(log[1].url).toBe('/v2/repositories/library/nginx/tags/?page_size=1');
    expect(typeof log[0].at).toBe('number');
    expect(hub.requestCount('/v2/repositories/library/nginx/')).toBe(2);
    expect(hub.requestCount(/\/tags\/$/)).toBe(1);
  });

  test('request log reset', async () => {
    await httpRequest(`${hub.url}/v2/repositories/library/nginx/`);
    hub.resetRequests();
    expect(hub.requests()).toHaveLength(0);
    expect(hub.requestCount('/')).toBe(0);
  });
});

describe('docker hub simulator lifecycle', () => {
  test('latency delays responses', async () => {
    const slow = await startDockerHubSimulator({ latencyMs: 120 });
    try {
      const start = Date.now();
      await httpRequest(`${slow.url}/v2/repositories/library/nginx/`);
      expect(elapsedSince(start)).toBeGreaterThanOrEqual(110);
    } finally {
      await slow.close();
    }
  });

  test('close ends hanging connections', async () => {
    const hub = await startDockerHubSimulator();
    hub.setFault('/', { kind: 'hang' });
    const outcome = httpRequest(`${hub.url}/v2/repositories/library/nginx/`, { timeoutMs: 10_000 }).then(
      () => 'responded',
      () => 'failed',
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    const start = Date.now();
    await hub.close();
    expect(elapsedSince(start)).toBeLessThan(1000);
    expect(await outcome).toBe('failed');
  });

  test('close ends delayed responses', async () => {
    const hub = await startDockerHubSimulator();
    hub.setFault('/', { kind: 'delay', ms: 60_000 });
    const outcome = httpRequest(`${hub.url}/v2/repositories/library/nginx/`, { timeoutMs: 10_000 }).then(
      () => 'responded',
      () => 'failed',
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    await hub.close();
    expect(await outcome).toBe('failed');
  });

  test('rejects non-loopback host', async () => {
    await expect(startDockerHubSimulator({ host: '0.0.0.0' })).rejects.toThrow(/loopback/);
  });
});

/** A lifecycle callback as the stub add-on received it. */
interface LifecycleCall {
  path: string;
  authorization: string | undefined;
  body: any;
  /** Claims of the verified token; undefined when unsigned. */
  claims?: any;
  /** Reason verification failed, when it did. */
  failure?: string;
}

interface StubAddon {
  server: LoopbackServer;
  calls: LifecycleCall[];
  /** Secrets the stub accepted, by clientKey. */
  secrets: Map<string, string>;
  /** Status the next lifecycle call gets instead of normal handling. */
  forcedStatus?: number;
}

/**
 * Starts a minimal add-on that serves a descriptor and a panel route, records
 * lifecycle calls and checks their JWTs as ACE does. It is mounted both at the
 * root and under /docker-addon, to test a base URL with a path.
 */
async function startStubAddon(): Promise<StubAddon> {
  const stub = { calls: [] as LifecycleCall[], secrets: new Map<string, string>() } as StubAddon;
  const router = express.Router();
  const baseUrlOf = (request: express.Request) => `${stub.server.url}${request.baseUrl}`;

  router.get('/atlassian-connect.json', (request, response) => {
    response.json({
      key: APP_KEY,
      name: 'Docker Hub for Bitbucket (test)',
      baseUrl: baseUrlOf(request),
      authentication: { type: 'jwt' },
      lifecycle: { installed: '/installed', uninstalled: '/uninstalled' },
      scopes: ['repository', 'account'],
      modules: {
        webPanels: [
          {
            key: 'docker-hub-panel',
            location: 'org.bitbucket.repository.overview.informationPanel',
            name: { value: 'Docker Hub' },
            url: '/panel?repoPath={repository.full_name}&repoUuid={repository.uuid}',
          },
        ],
      },
    });
  });

  const lifecycle = (request: express.Request, response: express.Response) => {
    const call: LifecycleCall = { path: request.originalUrl, authorization: request.headers.authorization, body: request.body };
    stub.calls.push(call);
    if (stub.forcedStatus !== undefined) {
      response.status(stub.forcedStatus).send('Rejected by test stub');
      stub.forcedStatus = undefined;
      return;
    }
    const known = stub.secrets.get(request.body.clientKey);
    const token = call.authorization?.replace(/^JWT /, '');
    if (token !== undefined && known === undefined) {
      // Like ACE, an add-on without a record of this tenant cannot check the signature and accepts the call.
      call.claims = jwt.decode(token);
    } else if (token !== undefined && known !== undefined) {
      try {
        call.claims = decodeSymmetric(token, known, SymmetricAlgorithm.HS256);
        const expected = createQueryStringHash(fromExpressRequest(request), false, baseUrlOf(request));
        if (call.claims.qsh !== expected) {
          call.failure = 'qsh mismatch';
        }
      } catch (error) {
        call.failure = (error as Error).message;
      }
    } else if (known !== undefined) {
      call.failure = 'unsigned call for a known tenant';
    }
    if (call.failure !== undefined) {
      response.status(401).send(call.failure);
      return;
    }
    if (request.path === '/installed') {
      stub.secrets.set(request.body.clientKey, request.body.sharedSecret);
    } else {
      stub.secrets.delete(request.body.clientKey);
    }
    response.status(204).end();
  };
  router.post('/installed', lifecycle);
  router.post('/uninstalled', lifecycle);

  router.get('/panel', (request, response) => {
    const token = String(request.query.jwt ?? '');
    const unverified = jwt.decode(token) as any;
    const secret = unverified && stub.secrets.get(unverified.iss);
    try {
      const claims = jwt.verify(token, secret ?? 'no-secret-known', { algorithms: ['HS256'] }) as any;
      const expected = createQueryStringHash(fromExpressRequest(request), false, baseUrlOf(request));
      if (typeof claims.exp !== 'number' || claims.qsh !== expected) {
        throw new Error('missing exp or qsh mismatch');
      }
      response.send(`<div class="ac-content">${String(request.query.repoPath)}</div>`);
    } catch (error) {
      response.status(401).send((error as Error).message);
    }
  });

  const app = express();
  app.use(express.json());
  app.use('/docker-addon', router);
  app.use(router);
  stub.server = await startLoopbackServer(app);
  return stub;
}

interface ApiTokenOptions {
  secret: string;
  clientKey: string;
  pathAndQuery: string;
  method?: string;
  issuer?: string;
  issuedAt?: number;
  expiresInSeconds?: number;
  qsh?: string;
}

function apiToken(options: ApiTokenOptions): string {
  const issuedAt = options.issuedAt ?? Math.floor(Date.now() / 1000);
  const qsh = options.qsh ?? createQueryStringHash(fromMethodAndUrl(options.method ?? 'GET', options.pathAndQuery));
  return jwt.sign(
    { iss: options.issuer ?? APP_KEY, sub: options.clientKey, iat: issuedAt, exp: issuedAt + (options.expiresInSeconds ?? 180), qsh },
    options.secret,
    { algorithm: 'HS256' },
  );
}

describe('bitbucket simulator', () => {
  let stub: StubAddon;
  let bitbucket: BitbucketSimulator;
  let acme: { clientKey: string; sharedSecret: string };

  /** Sends a GET to the API, signed for the acme-ws tenant unless `headers` are given. */
  const apiGet = (pathAndQuery: string, headers?: Record<string, string>) =>
    httpRequest(`${bitbucket.apiUrl}${pathAndQuery}`, {
      headers: headers ?? { Authorization: `JWT ${apiToken({ ...acme, secret: acme.sharedSecret, pathAndQuery })}` },
    });

  beforeAll(async () => {
    stub = await startStubAddon();
    bitbucket = await startBitbucketSimulator({ addonBaseUrl: stub.server.url, appKey: APP_KEY });
    acme = await bitbucket.install('acme-ws');
  });
  afterEach(() => {
    bitbucket.clearFaults();
    bitbucket.resetRequests();
  });
  afterAll(async () => {
    await bitbucket.close();
    await stub.server.close();
  });

  test('web and api origins differ', () => {
    expect(new URL(bitbucket.webUrl).origin).not.toBe(new URL(bitbucket.apiUrl).origin);
    expect(new URL(bitbucket.webUrl).hostname).toBe('127.0.0.1');
    expect(new URL(bitbucket.apiUrl).hostname).toBe('127.0.0.1');
  });

  test('install first call unsigned', () => {
    const first = stub.calls[0];
    expect(first.path).toBe('/installed');
    expect(first.authorization).toBeUndefined();
  });

  test('install payload fields', () => {
    const body = stub.calls[0].body;
    expect(body.key).toBe(APP_KEY);
    expect(body.clientKey).toBe(`ari:cloud:bitbucket::app/${ACME_UUID}/${APP_KEY}`);
    expect(body.sharedSecret.length).toBeGreaterThanOrEqual(32);
    expect(typeof body.publicKey).toBe('string');
    expect(body.baseUrl).toBe(bitbucket.webUrl);
    expect(body.baseApiUrl).toBe(bitbucket.apiUrl);
    expect(body.productType).toBe('bitbucket');
    expect(body.eventType).toBe('installed');
    expect(body.principal).toMatchObject({ type: 'team', uuid: ACME_UUID, username: 'acme-ws' });
    expect(body.principal.links.html.href).toContain(bitbucket.webUrl);
    expect(body.user.uuid).toBe(ACME_UUID);
    expect(body.actor.type).toBe('user');
  });

  test('install returns installation', () => {
    expect(acme.clientKey).toBe(stub.calls[0].body.clientKey);
    expect(acme.sharedSecret).toBe(stub.calls[0].body.sharedSecret);
    expect(bitbucket.installation('acme-ws')).toEqual(acme);
  });

  test('api signed request succeeds', async () => {
    const response = await apiGet('/2.0/repositories/acme-ws/widget-api');
    const body = json(response);
    expect(response.status).toBe(200);
    expect(body.full_name).toBe('acme-ws/widget-api');
    expect(body.uuid).toBe(WIDGET_UUID);
    expect(body.mainbranch).toEqual({ type: 'branch', name: 'main' });
    expect(body.links.html.href).toBe(`${bitbucket.webUrl}/acme-ws/widget-api`);
  });

  test('api rejects wrong qsh', async () => {
    const pathAndQuery = '/2.0/repositories/acme-ws/widget-api';
    const token = apiToken({ ...acme, secret: acme.sharedSecret, pathAndQuery: '/2.0/repositories/acme-ws/other' });
    const response = await apiGet(pathAndQuery, { Authorization: `JWT ${token}` });
    expect(response.status).toBe(401);
    expect(response.body.toString()).toBe(TOKEN_REJECTED);
    expect(bitbucket.requests()[0].rejection).toMatch(/qsh/);
  });

  test('api rejects qsh without query', async () => {
    const token = apiToken({ ...acme, secret: acme.sharedSecret, pathAndQuery: '/2.0/repositories/acme-ws' });
    const response = await apiGet('/2.0/repositories/acme-ws?pagelen=5', { Authorization: `JWT ${token}` });
    expect(response.status).toBe(401);
  });

  test('api rejects Bearer scheme', async () => {
    const pathAndQuery = '/2.0/repositories/acme-ws/widget-api';
    const token = apiToken({ ...acme, secret: acme.sharedSecret, pathAndQuery });
    const response = await apiGet(pathAndQuery, { Authorization: `Bearer ${token}` });
    expect(response.status).toBe(401);
    expect(response.body.toString()).toBe(TOKEN_REJECTED);
  });

  test('api rejects token in query', async () => {
    const pathAndQuery = '/2.0/repositories/acme-ws/widget-api';
    const token = apiToken({ ...acme, secret: acme.sharedSecret, pathAndQuery });
    const response = await apiGet(`${pathAndQuery}?jwt=${token}`, {});
    expect(response.status).toBe(401);
  });

  test('api rejects expired token', async () => {
    const pathAndQuery = '/2.0/repositories/acme-ws/widget-api';
    const issuedAt = Math.floor(Date.now() / 1000) - 600;
    const token = apiToken({ ...acme, secret: acme.sharedSecret, pathAndQuery, issuedAt, expiresInSeconds: 180 });
    const response = await apiGet(pathAndQuery, { Authorization: `JWT ${token}` });
    expect(response.status).toBe(401);
    expect(bitbucket.requests()[0].rejection).toMatch(/expired/);
  });

  test('api rejects wrong secret', async () => {
    const pathAndQuery = '/2.0/repositories/acme-ws/widget-api';
    const token = apiToken({ ...acme, secret: 'not-the-shared-secret-of-acme-ws', pathAndQuery });
    const response = await apiGet(pathAndQuery, { Authorization: `JWT ${token}` });
    expect(response.status).toBe(401);
  });

  test('api rejects wrong issuer', async () => {
    const pathAndQuery = '/2.0/repositories/acme-ws/widget-api';
    const token = apiToken({ ...acme, secret: acme.sharedSecret, pathAndQuery, issuer: acme.clientKey });
    const response = await apiGet(pathAndQuery, { Authorization: `JWT ${token}` });
    expect(response.status).toBe(401);
  });

  test('api rejects missing token', async () => {
    const response = await apiGet('/2.0/repositories/acme-ws/widget-api', {});
    expect(response.status).toBe(401);
  });

  test('api tenant cannot read other workspace', async () => {
    const response = await apiGet('/2.0/repositories/other-ws/billing-service');
    expect(response.status).toBe(404);
    expect(response.body.toString()).toBe(NO_ACCESS);
  });

  test('api tenant cannot list other workspace', async () => {
    const response = await apiGet('/2.0/repositories/other-ws');
    expect(response.status).toBe(404);
  });

  test('api unknown repository 404', async () => {
    const response = await apiGet('/2.0/repositories/acme-ws/no-such-repo');
    expect(response.status).toBe(404);
    expect(response.body.toString()).toBe(NO_ACCESS);
  });

  test('api repository list paginates', async () => {
    const response = await apiGet('/2.0/repositories/acme-ws?pagelen=5');
    const page = json(response);
    expect(response.status).toBe(200);
    expect(page.pagelen).toBe(5);
    expect(page.page).toBe(1);
    expect(page.values).toHaveLength(5);
    expect(page.next).toBe(`${bitbucket.apiUrl}/2.0/repositories/acme-ws?page=2&pagelen=5`);
  });

  test('api uuid paths', async () => {
    const pathAndQuery = `/2.0/repositories/${encodeURIComponent(ACME_UUID)}/${encodeURIComponent(WIDGET_UUID)}`;
    const response = await apiGet(pathAndQuery);
    expect(pathAndQuery).toContain('%7B11111111');
    expect(response.status).toBe(200);
    expect(json(response).slug).toBe('widget-api');
  });

  test('api src HEAD with uuid path', async () => {
    const pathAndQuery = `/2.0/repositories/${encodeURIComponent(ACME_UUID)}/${encodeURIComponent(WIDGET_UUID)}/src/HEAD/README.md`;
    const response = await apiGet(pathAndQuery);
    expect(response.status).toBe(200);
  });

  test('api src raw bytes', async () => {
    const response = await apiGet('/2.0/repositories/acme-ws/php72-pipelines/src/master/.docker-repository.yml');
    const stored = fs.readFileSync(path.join(SANDBOX_DIR, 'bitbucket/acme-ws/php72-pipelines/files/.docker-repository.yml'));
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('application/x-yaml');
    expect(response.body.equals(stored)).toBe(true);
    expect(response.body.toString()).toContain('\r\n');
  });

  test('api src by head hash', async () => {
    const branch = json(await apiGet('/2.0/repositories/acme-ws/web-proxy/refs/branches/main'));
    const response = await apiGet(`/2.0/repositories/acme-ws/web-proxy/src/${branch.target.hash}/.docker-repository.yml`);
    expect(response.status).toBe(200);
    expect(response.body.toString()).toBe('repository: nginx\n');
  });

  test('api src empty config file', async () => {
    const response = await apiGet('/2.0/repositories/acme-ws/empty-config/src/main/.docker-repository.yml');
    expect(response.status).toBe(200);
    expect(response.body.length).toBe(0);
  });

  test('api src missing file', async () => {
    const response = await apiGet('/2.0/repositories/acme-ws/widget-api/src/main/.docker-repository.yml');
    expect(response.status).toBe(404);
    expect(json(response).type).toBe('error');
  });

  test('api src unknown revision', async () => {
    const response = await apiGet('/2.0/repositories/acme-ws/widget-api/src/no-such-branch/README.md');
    expect(response.status).toBe(404);
  });

  test('api src trailing slash after file', async () => {
    const response = await apiGet('/2.0/repositories/acme-ws/web-proxy/src/main/.docker-repository.yml/');
    expect(response.status).toBe(404);
  });

  test('api src root listing', async () => {
    const response = await apiGet('/2.0/repositories/acme-ws/widget-api/src/main/');
    const paths = json(response).values.map((entry: any) => entry.path);
    expect(response.status).toBe(200);
    expect(paths).toEqual(['Dockerfile', 'README.md', 'src']);
  });

  test('api src meta format', async () => {
    const response = await apiGet('/2.0/repositories/acme-ws/web-proxy/src/main/.docker-repository.yml?format=meta');
    expect(json(response)).toMatchObject({ type: 'commit_file', path: '.docker-repository.yml', size: 18 });
  });

  test('api branch with slash', async () => {
    const repository = json(await apiGet('/2.0/repositories/acme-ws/release-train'));
    const branchPath = `/2.0/repositories/acme-ws/release-train/refs/branches/${encodeURIComponent('release/2.x')}`;
    const branch = await apiGet(branchPath);
    const file = await apiGet(`/2.0/repositories/acme-ws/release-train/src/${encodeURIComponent('release/2.x')}/.docker-repository.yml`);
    expect(repository.mainbranch.name).toBe('release/2.x');
    expect(branchPath).toContain('release%2F2.x');
    expect(branch.status).toBe(200);
    expect(json(branch)).toMatchObject({ name: 'release/2.x', target: { type: 'commit' } });
    expect(json(branch).target.hash).toMatch(/^[0-9a-f]{40}$/);
    expect(file.status).toBe(200);
  });

  test('api empty repository', async () => {
    const repository = await apiGet('/2.0/repositories/acme-ws/empty-repo');
    const file = await apiGet('/2.0/repositories/acme-ws/empty-repo/src/main/README.md');
    expect(json(repository).mainbranch).toBeNull();
    expect(file.status).toBe(404);
  });

  test('api commit statuses', async () => {
    const branch = json(await apiGet('/2.0/repositories/acme-ws/addon-build-image/refs/branches/main'));
    const response = await apiGet(`/2.0/repositories/acme-ws/addon-build-image/commit/${branch.target.hash}/statuses?pagelen=10`);
    const page = json(response);
    expect(response.status).toBe(200);
    expect(page.pagelen).toBe(10);
    expect(page.values.map((status: any) => status.state)).toEqual(['SUCCESSFUL', 'FAILED']);
    expect(page.values[0]).toMatchObject({ type: 'build', key: 'pipelines-build' });
    expect(page.values[0].url.startsWith(bitbucket.webUrl)).toBe(true);
  });

  test('api commit statuses states', async () => {
    const states: Record<string, string[]> = {};
    for (const slug of ['widget-api', 'bubbleupnp-server', 'conformance-suite', 'php72-pipelines']) {
      const repository = json(await apiGet(`/2.0/repositories/acme-ws/${slug}`));
      const branchPath = `/2.0/repositories/acme-ws/${slug}/refs/branches/${encodeURIComponent(repository.mainbranch.name)}`;
      const hash = json(await apiGet(branchPath)).target.hash;
      const page = json(await apiGet(`/2.0/repositories/acme-ws/${slug}/commit/${hash}/statuses?pagelen=10`));
      states[slug] = page.values.map((status: any) => status.state);
    }
    expect(states['widget-api']).toEqual(['SUCCESSFUL']);
    expect(states['bubbleupnp-server']).toEqual(['FAILED']);
    expect(states['conformance-suite']).toEqual(['INPROGRESS']);
    expect(states['php72-pipelines']).toEqual([]);
  });

  test('api lfs redirect', async () => {
    const response = await apiGet('/2.0/repositories/acme-ws/lfs-config/src/main/.docker-repository.yml');
    expect(response.status).toBe(301);
    expect(new URL(String(response.headers.location)).origin).not.toBe(new URL(bitbucket.apiUrl).origin);
  });

  test('setFile serves any bytes', async () => {
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('repository: examplens/override\n')]);
    bitbucket.setFile('acme-ws', 'ghost-image', '.docker-repository.yml', bytes);
    const response = await apiGet('/2.0/repositories/acme-ws/ghost-image/src/main/.docker-repository.yml');
    expect(response.body.equals(bytes)).toBe(true);
  });

  test('setFile null deletes', async () => {
    bitbucket.setFile('acme-ws', 'centos-tomcat', '.docker-repository.yml', null);
    const response = await apiGet('/2.0/repositories/acme-ws/centos-tomcat/src/master/.docker-repository.yml');
    expect(response.status).toBe(404);
  });

  test('setRedirect returns 301', async () => {
    bitbucket.setRedirect('acme-ws', 'private-image', '.docker-repository.yml', 'http://127.0.0.2:9/media/file');
    const response = await apiGet('/2.0/repositories/acme-ws/private-image/src/main/.docker-repository.yml');
    expect(response.status).toBe(301);
    expect(response.headers.location).toBe('http://127.0.0.2:9/media/file');
  });

  test('setMainBranch null empties repository', async () => {
    bitbucket.setMainBranch('acme-ws', 'broken-config', null);
    const repository = await apiGet('/2.0/repositories/acme-ws/broken-config');
    const file = await apiGet('/2.0/repositories/acme-ws/broken-config/src/main/.docker-repository.yml');
    expect(json(repository).mainbranch).toBeNull();
    expect(file.status).toBe(404);
  });

  test('setMainBranch renames branch', async () => {
    bitbucket.setMainBranch('acme-ws', 'pull-count-cap', 'trunk');
    const repository = await apiGet('/2.0/repositories/acme-ws/pull-count-cap');
    const file = await apiGet('/2.0/repositories/acme-ws/pull-count-cap/src/trunk/.docker-repository.yml');
    expect(json(repository).mainbranch.name).toBe('trunk');
    expect(file.status).toBe(200);
  });

  test('api fault applies before auth', async () => {
    bitbucket.setFault('/src/', { kind: 'status', status: 500 });
    const response = await apiGet('/2.0/repositories/acme-ws/web-proxy/src/main/.docker-repository.yml');
    expect(response.status).toBe(500);
    expect(response.headers['content-type']).toBe('text/html');
  });

  test('api request log', async () => {
    await apiGet('/2.0/repositories/acme-ws/widget-api');
    expect(bitbucket.requestCount('/2.0/repositories/acme-ws/widget-api')).toBe(1);
    expect(bitbucket.requests()[0]).toMatchObject({ method: 'GET', status: 200 });
  });

  test('panelUrl signed for panel route', async () => {
    const url = bitbucket.panelUrl('acme-ws', 'widget-api');
    const parsed = new URL(url);
    const claims = jwt.decode(parsed.searchParams.get('jwt')!) as any;
    const response = await httpRequest(url);
    expect(parsed.origin).toBe(stub.server.url);
    expect(parsed.pathname).toBe('/panel');
    expect(parsed.searchParams.get('repoPath')).toBe('acme-ws/widget-api');
    expect(parsed.searchParams.get('repoUuid')).toBe(WIDGET_UUID);
    expect(url).toContain('repoUuid=%7B66666666-7777-8888-9999-000000000000%7D');
    expect(claims.iss).toBe(acme.clientKey);
    expect(claims.aud).toBe(acme.clientKey);
    expect(claims.exp - claims.iat).toBe(180);
    expect(response.status).toBe(200);
  });

  test('panelUrl tampering fails verification', async () => {
    const cases = {
      expired: { issuedAt: Math.floor(Date.now() / 1000) - 600 },
      secret: { secret: 'some-other-secret-of-32-characters' },
      qsh: { qsh: 'context-qsh' },
      omitQsh: { omitQsh: true },
      omitExp: { omitExp: true },
    };
    for (const [name, options] of Object.entries(cases)) {
      const response = await httpRequest(bitbucket.panelUrl('acme-ws', 'widget-api', options));
      expect([name, response.status]).toEqual([name, 401]);
    }
  });

  test('panelUrl clientKey option', () => {
    const url = bitbucket.panelUrl('acme-ws', 'widget-api', { clientKey: 'ck-test-0001' });
    const claims = jwt.decode(new URL(url).searchParams.get('jwt')!) as any;
    expect(claims.iss).toBe('ck-test-0001');
  });

  test('panelUrl needs install', () => {
    expect(() => bitbucket.panelUrl('other-ws', 'billing-service')).toThrow(/not installed/);
  });

  test('web overview embeds panel', async () => {
    const response = await httpRequest(bitbucket.repositoryPageUrl('acme-ws', 'widget-api'));
    const html = response.body.toString();
    const src = /<iframe[^>]*src="([^"]+)"/.exec(html)?.[1].replace(/&amp;/g, '&');
    expect(response.status).toBe(200);
    expect(src).toBeDefined();
    expect(src!.startsWith(`${stub.server.url}/panel?repoPath=acme-ws%2Fwidget-api&`)).toBe(true);
    expect((await httpRequest(src!)).status).toBe(200);
  });

  test('web overview lists repositories', async () => {
    const html = (await httpRequest(`${bitbucket.webUrl}/acme-ws/widget-api`)).body.toString();
    expect(html).toContain('href="/acme-ws/release-train"');
    expect(html).toContain('href="/other-ws/billing-service"');
  });

  test('web overview without install', async () => {
    const response = await httpRequest(`${bitbucket.webUrl}/other-ws/billing-service`);
    const html = response.body.toString();
    expect(response.status).toBe(200);
    expect(html).toContain('not installed on workspace other-ws');
    expect(html).not.toContain('<iframe');
  });

  test('web index lists repositories', async () => {
    const html = (await httpRequest(`${bitbucket.webUrl}/`)).body.toString();
    for (const repository of bitbucket.repositories()) {
      expect(html).toContain(`href="/${repository.fullName}"`);
    }
  });

  test('web all.js posts resize', async () => {
    const response = await httpRequest(`${bitbucket.webUrl}/atlassian-connect/all.js`);
    const script = response.body.toString();
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('application/javascript');
    expect(script).toContain('sandbox-resize');
    expect(script).toContain('ResizeObserver');
    expect(script).toContain(JSON.stringify(bitbucket.webUrl));
  });

  test('web unknown repository 404', async () => {
    const response = await httpRequest(`${bitbucket.webUrl}/acme-ws/no-such-repo`);
    expect(response.status).toBe(404);
  });
});

describe('bitbucket simulator lifecycle', () => {
  let stub: StubAddon;

  beforeAll(async () => {
    stub = await startStubAddon();
  });
  beforeEach(() => {
    // Every test starts a new simulator, so the add-on drops the tenants of earlier ones.
    stub.secrets.clear();
  });
  afterAll(async () => {
    await stub.server.close();
  });

  async function withSimulator(run: (bitbucket: BitbucketSimulator) => Promise<void>, addonBaseUrl = stub.server.url) {
    const bitbucket = await startBitbucketSimulator({ addonBaseUrl });
    try {
      await run(bitbucket);
    } finally {
      await bitbucket.close();
    }
  }

  test('reinstall signed with old secret', async () => {
    await withSimulator(async (bitbucket) => {
      const first = await bitbucket.install('other-ws');
      const second = await bitbucket.install('other-ws');
      const call = stub.calls[stub.calls.length - 1];
      expect(call.authorization).toMatch(/^JWT /);
      expect(call.failure).toBeUndefined();
      expect(call.claims.iss).toBe(first.clientKey);
      expect(call.claims.aud).toEqual([first.clientKey]);
      expect(call.claims.exp - call.claims.iat).toBe(180);
      expect(call.claims.qsh).toBe(createQueryStringHash(fromMethodAndUrl('POST', '/installed')));
      expect(second.sharedSecret).not.toBe(first.sharedSecret);
      expect(call.body.sharedSecret).toBe(second.sharedSecret);
      expect(() => decodeSymmetric(call.authorization!.slice(4), second.sharedSecret, SymmetricAlgorithm.HS256)).toThrow();
    });
  });

  test('reinstall rotates api secret', async () => {
    await withSimulator(async (bitbucket) => {
      const first = await bitbucket.install('other-ws');
      const second = await bitbucket.install('other-ws');
      const pathAndQuery = '/2.0/repositories/other-ws/billing-service';
      const call = (secret: string) =>
        httpRequest(`${bitbucket.apiUrl}${pathAndQuery}`, {
          headers: { Authorization: `JWT ${apiToken({ clientKey: first.clientKey, secret, pathAndQuery, issuer: APP_KEY })}` },
        });
      expect((await call(first.sharedSecret)).status).toBe(401);
      expect((await call(second.sharedSecret)).status).toBe(200);
    });
  });

  test('install rejected by add-on', async () => {
    await withSimulator(async (bitbucket) => {
      stub.forcedStatus = 500;
      await expect(bitbucket.install('other-ws')).rejects.toThrow(/500: Rejected by test stub/);
      expect(bitbucket.installation('other-ws')).toBeUndefined();
    });
  });

  test('uninstall signed with current secret', async () => {
    await withSimulator(async (bitbucket) => {
      const installed = await bitbucket.install('other-ws');
      await bitbucket.uninstall('other-ws');
      const call = stub.calls[stub.calls.length - 1];
      expect(call.path).toBe('/uninstalled');
      expect(call.failure).toBeUndefined();
      expect(call.body.eventType).toBe('uninstalled');
      expect(call.body).not.toHaveProperty('sharedSecret');
      expect(call.body.clientKey).toBe(installed.clientKey);
      expect(bitbucket.installation('other-ws')).toBeUndefined();
    });
  });

  test('uninstalled tenant gets 401', async () => {
    await withSimulator(async (bitbucket) => {
      const installed = await bitbucket.install('other-ws');
      await bitbucket.uninstall('other-ws');
      const pathAndQuery = '/2.0/repositories/other-ws/billing-service';
      const token = apiToken({ clientKey: installed.clientKey, secret: installed.sharedSecret, pathAndQuery });
      const response = await httpRequest(`${bitbucket.apiUrl}${pathAndQuery}`, { headers: { Authorization: `JWT ${token}` } });
      expect(response.status).toBe(401);
    });
  });

  test('install after uninstall signed', async () => {
    await withSimulator(async (bitbucket) => {
      const installed = await bitbucket.install('other-ws');
      await bitbucket.uninstall('other-ws');
      await bitbucket.install('other-ws');
      const call = stub.calls[stub.calls.length - 1];
      const claims = decodeSymmetric(call.authorization!.slice(4), installed.sharedSecret, SymmetricAlgorithm.HS256);
      expect(claims.iss).toBe(installed.clientKey);
    });
  });

  test('install unsigned on request', async () => {
    await withSimulator(async (bitbucket) => {
      await bitbucket.install('other-ws');
      await bitbucket.uninstall('other-ws');
      await bitbucket.install('other-ws', { signWith: null, sharedSecret: 'secret-A-with-at-least-32-characters' });
      const call = stub.calls[stub.calls.length - 1];
      expect(call.authorization).toBeUndefined();
      expect(call.body.sharedSecret).toBe('secret-A-with-at-least-32-characters');
    });
  });

  test('base path excluded from qsh', async () => {
    await withSimulator(async (bitbucket) => {
      await bitbucket.install('other-ws');
      await bitbucket.install('other-ws');
      const call = stub.calls[stub.calls.length - 1];
      const panel = new URL(bitbucket.panelUrl('other-ws', 'billing-service'));
      expect(call.path).toBe('/docker-addon/installed');
      expect(call.failure).toBeUndefined();
      expect(call.claims.qsh).toBe(createQueryStringHash(fromMethodAndUrl('POST', '/installed')));
      expect(panel.pathname).toBe('/docker-addon/panel');
      expect((await httpRequest(panel.toString())).status).toBe(200);
    }, `${stub.server.url}/docker-addon`);
  });

  test('uninstall needs install', async () => {
    await withSimulator(async (bitbucket) => {
      await expect(bitbucket.uninstall('acme-ws')).rejects.toThrow(/not installed/);
    });
  });

  test('install unknown workspace', async () => {
    await withSimulator(async (bitbucket) => {
      await expect(bitbucket.install('no-such-ws')).rejects.toThrow(/Unknown sandbox workspace/);
    });
  });

  test('appKey mismatch rejects install', async () => {
    const bitbucket = await startBitbucketSimulator({ addonBaseUrl: stub.server.url, appKey: 'another-key' });
    try {
      await expect(bitbucket.install('other-ws')).rejects.toThrow(/does not match/);
    } finally {
      await bitbucket.close();
    }
  });

  test('rejects non-loopback add-on', async () => {
    await expect(startBitbucketSimulator({ addonBaseUrl: 'https://addon.example.com' })).rejects.toThrow(/loopback/);
  });

  test('each simulator has own data', async () => {
    await withSimulator(async (first) => {
      first.setFile('acme-ws', 'widget-api', 'README.md', null);
      await withSimulator(async (second) => {
        const installed = await second.install('acme-ws');
        const pathAndQuery = '/2.0/repositories/acme-ws/widget-api/src/main/README.md';
        const token = apiToken({ ...installed, secret: installed.sharedSecret, pathAndQuery });
        const response = await httpRequest(`${second.apiUrl}${pathAndQuery}`, { headers: { Authorization: `JWT ${token}` } });
        expect(response.status).toBe(200);
      });
    });
  });
});
