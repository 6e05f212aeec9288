/**
 * The panel while Docker Hub or Bitbucket misbehave: rate limits, error pages,
 * slow or hanging responses, reset connections and bodies of the wrong shape or
 * size. The simulators inject each fault over real sockets on 127.0.0.1. Every
 * view must still return 200 within the panel budget with a message that names
 * the problem, and show cached data, marked stale, where the add-on has some.
 */
import { Fault } from '../../src/sandbox/faults';
import { hubRateLimitFault } from '../../src/sandbox/docker-hub-simulator';
import {
  crashLogLines,
  PanelEnvironment,
  RejectionWatcher,
  sleep,
  startPanelEnvironment,
  watchUnhandledRejections,
} from '../helpers/panel-environment';
import { noticeTexts } from '../helpers/panel-html';

const PANEL_BUDGET_MS = 1500;
const UPSTREAM_TIMEOUT_MS = 1000;
/** Slack on top of the panel budget for the response to cross loopback and be read. */
const BUDGET_SLACK_MS = 1000;
const FAULT_ENV = {
  PANEL_BUDGET_MS: String(PANEL_BUDGET_MS),
  UPSTREAM_TIMEOUT_MS: String(UPSTREAM_TIMEOUT_MS),
};

const NGINX_PATHS = '/v2/repositories/library/nginx/';
const NGINX_REPOSITORY = /^\/v2\/repositories\/library\/nginx\/$/;
const UNAVAILABLE = 'Docker Hub is unavailable right now. Try again in a few minutes.';
const TIMED_OUT = 'Docker Hub did not answer in time. Try again in a few minutes.';
const UNEXPECTED = 'Docker Hub sent an unexpected response.';
const RATE_LIMITED = /^Docker Hub is rate-limiting requests; data will refresh in (1 minute|\d+ seconds) \((\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC\)\.$/;

/** Reads the exact refresh time out of a rate-limit message, in epoch milliseconds. */
function refreshTimeOf(message: string | undefined): number {
  const match = RATE_LIMITED.exec(message ?? '');
  return match ? Date.parse(`${match[2].replace(' ', 'T')}Z`) : NaN;
}

function formatUtcSecond(epochMs: number): string {
  return new Date(epochMs).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

describe('docker hub 429 with Retry-After', () => {
  let env: PanelEnvironment;
  let firstView: Awaited<ReturnType<PanelEnvironment['view']>>;
  let sentBefore: number;
  let answeredAfter: number;

  beforeAll(async () => {
    env = await startPanelEnvironment();
    env.hub.setFault('/v2/repositories/', hubRateLimitFault({ retryAfterSeconds: 60 }));
    sentBefore = Date.now();
    firstView = await env.view('web-proxy');
    answeredAfter = Date.now();
    env.hub.clearFaults();
  });
  afterAll(async () => {
    await env?.stop();
  });

  test('cold view shows rate-limit message', () => {
    expect(firstView.status).toBe(200);
    expect(firstView.page.state).toBe('ready');
    expect(noticeTexts(firstView.page, 'error')[0]).toMatch(RATE_LIMITED);
  });

  test('refresh time is sixty seconds out', () => {
    const refreshAt = refreshTimeOf(noticeTexts(firstView.page, 'error')[0]);

    expect(refreshAt).toBeGreaterThanOrEqual(sentBefore + 59_000);
    expect(refreshAt).toBeLessThanOrEqual(answeredAfter + 60_000);
  });

  test('pause stops calls for every repository', async () => {
    env.hub.resetRequests();
    const slugs = ['addon-build-image', 'conformance-suite', 'release-train', 'pull-count-cap', 'web-proxy'];
    for (const slug of slugs) {
      const { status, page } = await env.view(slug);

      expect(status).toBe(200);
      expect(noticeTexts(page, 'error')[0]).toMatch(RATE_LIMITED);
    }
    expect(env.hub.requests()).toEqual([]);
  });

  test('log has no crash lines', () => {
    expect(crashLogLines(env.addon)).toEqual([]);
  });
});

describe('docker hub 429 with X-Retry-After', () => {
  let env: PanelEnvironment;
  let retryAtSecond: number;
  let limited: Awaited<ReturnType<PanelEnvironment['view']>>;

  beforeAll(async () => {
    env = await startPanelEnvironment();
    // A short pause, so that the test can also see it end. The header carries whole seconds.
    const retryAt = new Date(Date.now() + 4000);
    retryAtSecond = Math.floor(retryAt.getTime() / 1000) * 1000;
    env.hub.setFault('/v2/repositories/', hubRateLimitFault({ retryAt }));
    limited = await env.view('web-proxy');
    env.hub.clearFaults();
  });
  afterAll(async () => {
    await env?.stop();
  });

  test('message gives exact refresh time', () => {
    expect(limited.status).toBe(200);
    expect(noticeTexts(limited.page, 'error')[0]).toContain(`(${formatUtcSecond(retryAtSecond)}).`);
  });

  test('refresh phrase points to the future', () => {
    expect(noticeTexts(limited.page, 'error')[0]).toMatch(/data will refresh in \d+ seconds \(/);
  });

  test('pause stops calls until then', async () => {
    env.hub.resetRequests();
    const paused = await env.view('release-train');
    expect(noticeTexts(paused.page, 'error')[0]).toContain('Docker Hub is rate-limiting requests');
    expect(env.hub.requests()).toEqual([]);

    await sleep(Math.max(0, retryAtSecond - Date.now()) + 300);
    const resumed = await env.view('web-proxy');
    expect(resumed.page.stats.pulls?.text).toBe('12.9B');
    expect(env.hub.requestCount(NGINX_REPOSITORY)).toBe(1);
  });
});

describe('docker hub faults on a cold cache', () => {
  let env: PanelEnvironment;
  let rejections: RejectionWatcher;

  beforeAll(async () => {
    rejections = watchUnhandledRejections();
    env = await startPanelEnvironment({ env: FAULT_ENV });
  });
  beforeEach(async () => {
    env.resetSimulators();
    await env.purgeCache();
  });
  afterAll(async () => {
    await env?.stop();
    rejections?.stop();
  });

  test('504 page shows unavailable', async () => {
    env.hub.setFault(NGINX_PATHS, { kind: 'status', status: 504 });
    const { status, page } = await env.view('web-proxy');

    expect(status).toBe(200);
    expect(page.state).toBe('ready');
    expect(noticeTexts(page, 'error')).toContain(UNAVAILABLE);
    expect(page.stats.pulls).toBeUndefined();
  });

  test('ten-second delay answers within budget', async () => {
    env.hub.setFault(NGINX_PATHS, { kind: 'delay', ms: 10_000 });
    const { status, page, elapsedMs } = await env.view('web-proxy');

    expect(status).toBe(200);
    expect(elapsedMs).toBeLessThan(PANEL_BUDGET_MS + BUDGET_SLACK_MS);
    expect(noticeTexts(page, 'error')).toContain(TIMED_OUT);
  });

  test('hang answers within budget', async () => {
    env.hub.setFault(NGINX_PATHS, { kind: 'hang' });
    const { status, page, elapsedMs } = await env.view('web-proxy');

    expect(status).toBe(200);
    expect(elapsedMs).toBeLessThan(PANEL_BUDGET_MS + BUDGET_SLACK_MS);
    expect(noticeTexts(page, 'error')).toContain(TIMED_OUT);
  });

  test('reset connection shows unavailable', async () => {
    env.hub.setFault(NGINX_PATHS, { kind: 'reset' });
    const { status, page } = await env.view('web-proxy');

    expect(status).toBe(200);
    expect(noticeTexts(page, 'error')).toContain(UNAVAILABLE);
  });

  test.each<[string, Fault]>([
    ['truncated JSON', { kind: 'garbage' }],
    ['HTML content type', { kind: 'wrong-content-type' }],
    ['empty object', { kind: 'json', body: {} }],
    ['10 MB body', { kind: 'huge', bytes: 10 * 1024 * 1024 }],
  ])('%s shows unexpected response', async (_name, fault) => {
    env.hub.setFault(NGINX_PATHS, fault);
    const { status, page } = await env.view('web-proxy');

    expect(status).toBe(200);
    expect(page.state).toBe('ready');
    expect(noticeTexts(page, 'error')).toContain(UNEXPECTED);
  });

  test('add-on keeps serving after faults', async () => {
    const { status, page } = await env.view('web-proxy');

    expect(status).toBe(200);
    expect(page.stats.pulls?.text).toBe('12.9B');
  });

  test('failing tags keep repository stats', async () => {
    env.hub.setFault(/^\/v2\/repositories\/library\/nginx\/tags\/$/, { kind: 'status', status: 500 });
    const { page } = await env.view('web-proxy');

    expect(page.stats.pulls?.text).toBe('12.9B');
    expect(page.stats.stars?.text).toBe('21.2k');
    expect(noticeTexts(page, 'error')).toContain(`Tags: ${UNAVAILABLE}`);
    expect(page.tagNames).toEqual([]);
  });

  test('log has no crash lines', () => {
    expect(crashLogLines(env.addon)).toEqual([]);
  });

  test('no unhandled rejections', () => {
    expect(rejections.reasons()).toEqual([]);
  });
});

describe('docker hub repository bodies', () => {
  let env: PanelEnvironment;

  const nginxBody = (fields: Record<string, unknown>) => ({
    user: 'library',
    name: 'nginx',
    namespace: 'library',
    repository_type: 'image',
    status: 1,
    is_private: false,
    is_automated: false,
    star_count: 20000,
    pull_count: 2147483647,
    last_updated: '2024-01-01T00:00:00.000000Z',
    date_registered: '2014-06-05T00:00:00Z',
    description: 'placeholder',
    ...fields,
  });

  beforeAll(async () => {
    env = await startPanelEnvironment({ env: FAULT_ENV });
  });
  beforeEach(async () => {
    env.resetSimulators();
    await env.purgeCache();
  });
  afterAll(async () => {
    await env?.stop();
  });

  async function viewWithRepositoryBody(body: unknown) {
    env.hub.setFault(NGINX_REPOSITORY, { kind: 'json', body });
    return env.view('web-proxy');
  }

  test.each([
    [2147483647, '2.1B', '2,147,483,647'],
    [72673, '72.7k', '72,673'],
    [0, '0', '0'],
    [999, '999', '999'],
    [1000, '1k', '1,000'],
    [999999, '1M', '999,999'],
    [1000000, '1M', '1,000,000'],
    [10234567890, '10.2B', '10,234,567,890'],
  ])('pull count %d shows compact form', async (pullCount, text, title) => {
    const { page } = await viewWithRepositoryBody(nginxBody({ pull_count: pullCount }));

    expect(page.stats.pulls?.text).toBe(text);
    expect(page.stats.pulls?.title).toBe(title);
  });

  test('count beyond safe integers renders', async () => {
    env.hub.setFault(NGINX_REPOSITORY, {
      kind: 'status',
      status: 200,
      contentType: 'application/json',
      body: JSON.stringify(nginxBody({})).replace('2147483647', '9007199254740993'),
    });
    const { status, html, page } = await env.view('web-proxy');

    expect(status).toBe(200);
    // JSON.parse rounds the value to the nearest double, 2^53, so the title says it is approximate.
    expect(page.stats.pulls?.title).toBe('about 9,007,199,254,740,992');
    expect(page.stats.pulls?.text).toBe('9Q');
    expect(html).not.toMatch(/\de\+\d/);
  });

  test('null and missing fields show placeholders', async () => {
    const body = nginxBody({ pull_count: 0, last_updated: null, date_registered: null, description: null });
    delete (body as Record<string, unknown>).star_count;
    const { html, page } = await viewWithRepositoryBody(body);

    expect(page.state).toBe('ready');
    expect(page.stats.stars?.text).toBe('—');
    expect(page.stats.pulls?.text).toBe('0');
    expect(page.stats['last-pushed']?.text).toBe('—');
    expect(html).not.toContain('NaN');
    expect(html).not.toContain('undefined');
    expect(html).not.toContain('Invalid Date');
    // Missing fields are not filled in from other endpoints.
    expect(env.hub.requests()).toHaveLength(3);
  });

  // The add-on reads a digit string as the number it spells, and any other string as unknown.
  test('pull count as digit string', async () => {
    const { page } = await viewWithRepositoryBody(nginxBody({ pull_count: '12' }));

    expect(page.stats.pulls?.text).toBe('12');
    expect(page.stats.pulls?.title).toBe('12');
  });

  test('pull count as other string', async () => {
    const { page } = await viewWithRepositoryBody(nginxBody({ pull_count: 'many' }));

    expect(page.stats.pulls?.text).toBe('—');
  });

  test('empty object shows unexpected response', async () => {
    const { status, page } = await viewWithRepositoryBody({});

    expect(status).toBe(200);
    expect(noticeTexts(page, 'error')).toContain(UNEXPECTED);
    expect(page.stats.pulls).toBeUndefined();
  });
});

describe('docker hub faults on a warm cache', () => {
  const CACHED = [
    { slug: 'web-proxy', image: 'library/nginx', pulls: '12.9B' },
    { slug: 'addon-build-image', image: 'splservices/addonbuildimage', pulls: '8.8k' },
    { slug: 'centos-tomcat', image: 'phenompeople/centos-tomcat', pulls: '27k' },
    { slug: 'php72-pipelines', image: 'madwebsolutions/bitbucket-pipelines-php72', pulls: '153k' },
    { slug: 'conformance-suite', image: 'daithi10101/conformance-suite', pulls: '3.4k' },
    { slug: 'pull-count-cap', image: 'acme-ws/pull-count-cap', pulls: '2.1B' },
  ];
  /** Long enough for the relative age to read in seconds rather than "just now". */
  const CACHE_AGE_MS = 10_500;
  let env: PanelEnvironment;
  let rejections: RejectionWatcher;

  beforeAll(async () => {
    rejections = watchUnhandledRejections();
    env = await startPanelEnvironment({ env: { ...FAULT_ENV, CACHE_DOCKER_HUB_SECONDS: '1' } });
    for (const { slug } of CACHED) {
      await env.view(slug);
    }
    await sleep(CACHE_AGE_MS);
  });
  beforeEach(() => {
    env.resetSimulators();
  });
  afterAll(async () => {
    await env?.stop();
    rejections?.stop();
  });

  /** Asserts that the view shows the cached pulls with a stale notice giving an age of at least ten seconds and the reason. */
  async function expectStaleView(index: number, fault: Fault, reason: string | RegExp) {
    const { slug, image, pulls } = CACHED[index];
    env.hub.setFault(`/v2/repositories/${image}/`, fault);
    const response = await env.view(slug);
    const stale = noticeTexts(response.page, 'warning').find((text) => text.startsWith('Stale data from'));
    const age = /^Stale data from (\d+) seconds ago: (.*)$/.exec(stale ?? '');

    expect(response.status).toBe(200);
    expect(response.page.stats.pulls?.text).toBe(pulls);
    expect(stale).toMatch(/^Stale data from \d+ seconds ago: /);
    expect(Number(age?.[1])).toBeGreaterThanOrEqual(10);
    if (typeof reason === 'string') {
      expect(age?.[2]).toBe(reason);
    } else {
      expect(age?.[2]).toMatch(reason);
    }
    expect(env.hub.requests().length).toBeGreaterThan(0);
    return response;
  }

  test('504 shows stale stats', async () => {
    await expectStaleView(0, { kind: 'status', status: 504 }, UNAVAILABLE);
  });

  test('ten-second delay shows stale within budget', async () => {
    const { elapsedMs } = await expectStaleView(1, { kind: 'delay', ms: 10_000 }, TIMED_OUT);

    expect(elapsedMs).toBeLessThan(PANEL_BUDGET_MS + BUDGET_SLACK_MS);
  });

  test('hang shows stale within budget', async () => {
    const { elapsedMs } = await expectStaleView(2, { kind: 'hang' }, TIMED_OUT);

    expect(elapsedMs).toBeLessThan(PANEL_BUDGET_MS + BUDGET_SLACK_MS);
  });

  test('reset shows stale stats', async () => {
    await expectStaleView(3, { kind: 'reset' }, UNAVAILABLE);
  });

  test('garbage shows stale stats', async () => {
    await expectStaleView(4, { kind: 'garbage' }, UNEXPECTED);
  });

  // Runs last in this block: the 429 pauses every Docker Hub call of this add-on.
  test('429 shows stale stats', async () => {
    await expectStaleView(5, hubRateLimitFault({ retryAfterSeconds: 60 }), RATE_LIMITED);
  });

  test('log has no crash lines', () => {
    expect(crashLogLines(env.addon)).toEqual([]);
  });

  test('no unhandled rejections', () => {
    expect(rejections.reasons()).toEqual([]);
  });
});

describe('bitbucket faults', () => {
  const READ_FAILED = 'Could not read .docker-repository.yml';
  const REPOSITORY_ENDPOINT = /^\/2\.0\/repositories\/acme-ws\/web-proxy$/;
  const FILE_ENDPOINT = /^\/2\.0\/repositories\/acme-ws\/web-proxy\/src\//;
  let env: PanelEnvironment;
  let rejections: RejectionWatcher;

  beforeAll(async () => {
    rejections = watchUnhandledRejections();
    env = await startPanelEnvironment({ env: FAULT_ENV });
  });
  beforeEach(async () => {
    env.resetSimulators();
    await env.purgeCache();
  });
  afterAll(async () => {
    await env?.stop();
    rejections?.stop();
  });

  test.each<[string, RegExp, number]>([
    ['repository 401', REPOSITORY_ENDPOINT, 401],
    ['repository 403', REPOSITORY_ENDPOINT, 403],
    ['file 401', FILE_ENDPOINT, 401],
  ])('%s shows a read note', async (_name, endpoint, status) => {
    env.bitbucket.setFault(endpoint, { kind: 'status', status });
    const response = await env.view('web-proxy');

    expect(response.status).toBe(200);
    expect(response.page.state).toBe('bitbucket-error');
    expect(noticeTexts(response.page, 'error')).toEqual([
      `${READ_FAILED}: Bitbucket rejected the add-on's credentials. Reinstalling the add-on may help.`,
    ]);
    expect(response.page.image).toBeUndefined();
    expect(env.hub.requests()).toEqual([]);
  });

  test.each<[string, RegExp]>([
    ['repository', REPOSITORY_ENDPOINT],
    ['file', FILE_ENDPOINT],
  ])('%s 500 shows bitbucket error', async (_name, endpoint) => {
    env.bitbucket.setFault(endpoint, { kind: 'status', status: 500 });
    const response = await env.view('web-proxy');

    expect(response.status).toBe(200);
    expect(response.page.state).toBe('bitbucket-error');
    expect(noticeTexts(response.page, 'error')).toEqual([
      `${READ_FAILED}: Bitbucket is unavailable right now. Try again in a few minutes.`,
    ]);
  });

  test.each<[string, RegExp]>([
    ['repository', REPOSITORY_ENDPOINT],
    ['file', FILE_ENDPOINT],
  ])('%s hang answers within budget', async (_name, endpoint) => {
    env.bitbucket.setFault(endpoint, { kind: 'hang' });
    const response = await env.view('web-proxy');

    expect(response.status).toBe(200);
    expect(response.elapsedMs).toBeLessThan(PANEL_BUDGET_MS + BUDGET_SLACK_MS);
    expect(response.page.state).toBe('bitbucket-error');
    expect(noticeTexts(response.page, 'error')).toEqual([
      `${READ_FAILED}: Bitbucket did not answer in time. Try again in a few minutes.`,
    ]);
  });

  test('failing statuses keep image stats', async () => {
    env.bitbucket.setFault(/\/statuses$/, { kind: 'status', status: 500 });
    const { page } = await env.view('web-proxy');

    expect(page.state).toBe('ready');
    expect(page.stats.pulls?.text).toBe('12.9B');
    expect(noticeTexts(page, 'warning')).toContain(
      'Bitbucket build statuses: Bitbucket is unavailable right now. Try again in a few minutes.',
    );
  });

  test('log has no crash lines', () => {
    expect(crashLogLines(env.addon)).toEqual([]);
  });

  test('no unhandled rejections', () => {
    expect(rejections.reasons()).toEqual([]);
  });
});

describe('bitbucket faults on a warm cache', () => {
  /** Past the one-second freshness of config files and head commits, but within the main branch's ten. */
  const CACHE_AGE_MS = 2_500;
  let env: PanelEnvironment;

  beforeAll(async () => {
    env = await startPanelEnvironment({ env: { ...FAULT_ENV, CACHE_BITBUCKET_SECONDS: '1' } });
    await env.view('web-proxy');
    await env.view('addon-build-image');
    await sleep(CACHE_AGE_MS);
  });
  beforeEach(() => {
    env.resetSimulators();
  });
  afterAll(async () => {
    await env?.stop();
  });

  test('failed config read shows stale settings', async () => {
    env.bitbucket.setFault(/^\/2\.0\/repositories\/acme-ws\/web-proxy\/src\//, { kind: 'status', status: 500 });
    const { status, page } = await env.view('web-proxy');
    const stale = noticeTexts(page, 'warning').find((text) => text.startsWith('Repository settings from'));

    expect(status).toBe(200);
    expect(page.state).toBe('ready');
    expect(page.stats.pulls?.text).toBe('12.9B');
    expect(stale).toMatch(/^Repository settings from (\d+|a few) seconds ago: Bitbucket is unavailable/);
  });

  test('failed head lookup marks statuses stale', async () => {
    env.bitbucket.setFault(/\/refs\/branches\//, { kind: 'status', status: 500 });
    const { status, page } = await env.view('addon-build-image');
    const stale = noticeTexts(page, 'warning').find((text) => text.startsWith('Stale data from'));

    expect(status).toBe(200);
    expect(page.state).toBe('ready');
    expect(stale).toMatch(/^Stale data from (\d+|a few) seconds ago: Bitbucket is unavailable/);
  });
});
