/**
 * The add-on's upstream cache seen from outside: concurrent views share one
 * call per upstream endpoint, fresh responses are served without a call, and a
 * 404 from Docker Hub is remembered. Panel data and pages are reused only while
 * their cached responses are fresh and their relative times still read the same.
 * Counts come from the simulators' request logs over real sockets on 127.0.0.1.
 */
import { STATUSES_PAGE_LENGTH } from '../../src/core/bitbucket';
import { PanelEnvironment, sleep, startPanelEnvironment } from '../helpers/panel-environment';
import { noticeTexts } from '../helpers/panel-html';

const BITBUCKET_REPOSITORY = '/2.0/repositories/acme-ws/bubbleupnp-server';
const HUB_IMAGE = '/v2/repositories/rwgrim/docker-bubbleupnpserver/';

/** One pattern per upstream endpoint that a view of acme-ws/bubbleupnp-server reads. */
const ENDPOINTS = {
  bitbucket: {
    repository: /^\/2\.0\/repositories\/acme-ws\/bubbleupnp-server$/,
    configFile: /^\/2\.0\/repositories\/acme-ws\/bubbleupnp-server\/src\/master\/\.docker-repository\.yml$/,
    branchRef: /^\/2\.0\/repositories\/acme-ws\/bubbleupnp-server\/refs\/branches\/master$/,
    statuses: /^\/2\.0\/repositories\/acme-ws\/bubbleupnp-server\/commit\/[0-9a-f]{40}\/statuses$/,
  },
  hub: {
    repository: /^\/v2\/repositories\/rwgrim\/docker-bubbleupnpserver\/$/,
    tags: /^\/v2\/repositories\/rwgrim\/docker-bubbleupnpserver\/tags\/$/,
    buildHistory: /^\/v2\/repositories\/rwgrim\/docker-bubbleupnpserver\/buildhistory\/$/,
  },
};

const CONCURRENT_VIEWS = 20;

describe('concurrent first views', () => {
  let env: PanelEnvironment;
  let responses: Array<Awaited<ReturnType<PanelEnvironment['view']>>>;

  beforeAll(async () => {
    env = await startPanelEnvironment();
    // Slow responses keep the first call in flight while the other views arrive.
    env.bitbucket.setFault(BITBUCKET_REPOSITORY, { kind: 'delay', ms: 200 });
    env.hub.setFault(HUB_IMAGE, { kind: 'delay', ms: 200 });
    const views = Array.from({ length: CONCURRENT_VIEWS }, () => env.view('bubbleupnp-server'));
    responses = await Promise.all(views);
  });
  afterAll(async () => {
    await env?.stop();
  });

  test('every view shows the image', () => {
    for (const response of responses) {
      expect(response.status).toBe(200);
      expect(response.page.state).toBe('ready');
      expect(response.page.stats.pulls?.text).toBe('1.3M');
    }
  });

  test.each(Object.entries(ENDPOINTS.bitbucket))('bitbucket %s called once', (_name, endpoint) => {
    expect(env.bitbucket.requestCount(endpoint)).toBe(1);
  });

  test.each(Object.entries(ENDPOINTS.hub))('docker hub %s called once', (_name, endpoint) => {
    expect(env.hub.requestCount(endpoint)).toBe(1);
  });

  test('no other upstream requests', () => {
    expect(env.bitbucket.requests()).toHaveLength(Object.keys(ENDPOINTS.bitbucket).length);
    expect(env.hub.requests()).toHaveLength(Object.keys(ENDPOINTS.hub).length);
  });
});

describe('cached responses', () => {
  let env: PanelEnvironment;

  beforeAll(async () => {
    env = await startPanelEnvironment();
  });
  beforeEach(() => {
    env.resetSimulators();
  });
  afterAll(async () => {
    await env?.stop();
  });

  test('fresh responses need no upstream call', async () => {
    await env.view('bubbleupnp-server');
    env.resetSimulators();
    const { page } = await env.view('bubbleupnp-server');

    expect(page.stats.pulls?.text).toBe('1.3M');
    expect(env.bitbucket.requests()).toEqual([]);
    expect(env.hub.requests()).toEqual([]);
  });

  test('missing image 404 is remembered', async () => {
    const ghostRepository = /^\/v2\/repositories\/acme-ws\/ghost-image\/$/;
    const notFound = 'Docker Hub has no public image acme-ws/ghost-image. It does not exist, or it is private.';

    const first = await env.view('ghost-image');
    expect(noticeTexts(first.page, 'error')).toContain(notFound);
    expect(env.hub.requestCount(ghostRepository)).toBe(1);

    env.hub.resetRequests();
    const second = await env.view('ghost-image');
    expect(noticeTexts(second.page, 'error')).toContain(notFound);
    expect(env.hub.requestCount(ghostRepository)).toBe(0);
  });
});

describe('answers shared between repositories', () => {
  let env: PanelEnvironment;

  beforeAll(async () => {
    env = await startPanelEnvironment();
  });
  afterAll(async () => {
    await env?.stop();
  });

  test('same image, one docker hub call', async () => {
    env.bitbucket.setFile('acme-ws', 'centos-tomcat', '.docker-repository.yml', Buffer.from('repository: _/nginx\n'));
    const first = await env.view('web-proxy');
    const second = await env.view('centos-tomcat');

    expect(first.page.stats.pulls?.text).toBe('12.9B');
    expect(second.page.stats.pulls?.text).toBe('12.9B');
    expect(env.hub.requestCount(/^\/v2\/repositories\/library\/nginx\/$/)).toBe(1);
  });

  test('status list cut to page length', async () => {
    await env.purgeCache();
    const values = Array.from({ length: 200 }, (_, index) => ({ state: 'SUCCESSFUL', key: `ci-${index}`, name: `Build ${index}` }));
    env.bitbucket.setFault(/\/repositories\/acme-ws\/widget-api\/commit\/[0-9a-f]+\/statuses$/, { kind: 'json', body: { values } });
    env.bitbucket.setFile('acme-ws', 'widget-api', '.docker-repository.yml', Buffer.from(''));
    const { page } = await env.view('widget-api');
    const names = page.builds.filter((build) => build.source === 'bitbucket').map((build) => build.name);

    expect(names).toHaveLength(STATUSES_PAGE_LENGTH);
    expect(names[0]).toBe('Build 0');
  });

  test('malformed status entries read alone', async () => {
    await env.purgeCache();
    env.bitbucket.setFault(/\/repositories\/acme-ws\/widget-api\/commit\/[0-9a-f]+\/statuses$/, {
      kind: 'json',
      body: {
        values: [
          { state: 'SUCCESSFUL', name: 'Good build', key: 'good' },
          { name: 'No state' },
          { state: null, name: 'Null state' },
          { state: 7, name: 'Number state' },
          'text',
        ],
      },
    });
    env.bitbucket.setFile('acme-ws', 'widget-api', '.docker-repository.yml', Buffer.from(''));
    const { html, page } = await env.view('widget-api');
    const states = Object.fromEntries(page.builds.map((build) => [build.name, build.state]));

    expect(states['Good build']).toBe('passing');
    expect(states['No state']).toBe('unknown');
    expect(states['Null state']).toBe('unknown');
    expect(states['Number state']).toBe('unknown');
    expect(page.builds.filter((build) => build.source === 'bitbucket')).toHaveLength(4);
    expect(html).not.toContain('lozenge-failing');
  });
});

describe('reused panel data', () => {
  const STATUSES = /^\/2\.0\/repositories\/acme-ws\/bubbleupnp-server\/commit\/[0-9a-f]{40}\/statuses$/;
  const TAGS = /^\/v2\/repositories\/rwgrim\/docker-bubbleupnpserver\/tags\/$/;
  let env: PanelEnvironment;

  beforeAll(async () => {
    // Bitbucket responses stay fresh for 1 s, and the head commit and its statuses for 0.5 s.
    env = await startPanelEnvironment({ env: { CACHE_BITBUCKET_SECONDS: '1' } });
  });
  beforeEach(async () => {
    env.resetSimulators();
    await env.purgeCache();
  });
  afterAll(async () => {
    await env?.stop();
  });

  test('changed build status shows once stale', async () => {
    const before = await env.view('bubbleupnp-server');
    expect(before.page.builds.map((build) => build.name)).not.toContain('Nightly build');
    env.bitbucket.setFault(STATUSES, {
      kind: 'json',
      body: { values: [{ state: 'FAILED', key: 'ci', name: 'Nightly build', url: null, updated_on: null, created_on: null }] },
    });

    const whileFresh = await env.view('bubbleupnp-server');
    await sleep(1_100);
    const afterwards = await env.view('bubbleupnp-server');

    expect(whileFresh.html).toBe(before.html);
    const bitbucketBuilds = afterwards.page.builds.filter((build) => build.source === 'bitbucket');
    expect(bitbucketBuilds.map((build) => build.name)).toEqual(['Nightly build']);
    expect(bitbucketBuilds.map((build) => build.state)).toEqual(['failing']);
  });

  test('file at unchanged commit not read again', async () => {
    const fileAtCommit = /^\/2\.0\/repositories\/acme-ws\/release-train\/src\/[0-9a-f]{40}\/\.docker-repository\.yml$/;
    const branchHead = /^\/2\.0\/repositories\/acme-ws\/release-train\/refs\/branches\//;
    await env.view('release-train');
    expect(env.bitbucket.requestCount(fileAtCommit)).toBe(1);
    env.bitbucket.resetRequests();

    // Past the 0.5 s head lifetime and the 1 s lifetime of files read at a branch name.
    await sleep(1_100);
    const { page } = await env.view('release-train');

    expect(page.state).toBe('ready');
    expect(env.bitbucket.requestCount(branchHead)).toBe(1);
    expect(env.bitbucket.requestCount(fileAtCommit)).toBe(0);
  });

  test('relative time moves on while data is fresh', async () => {
    const pushed = new Date(Date.now() - 7_000).toISOString();
    env.hub.setFault(TAGS, {
      kind: 'json',
      body: {
        count: 1,
        next: null,
        previous: null,
        results: [{ name: 'edge', full_size: 1000, last_updated: pushed, tag_last_pushed: pushed, images: [] }],
      },
    });
    const first = await env.view('bubbleupnp-server');
    expect(first.page.tagNames).toEqual(['edge']);
    expect(first.page.text).toContain('edge just now');
    env.hub.resetRequests();

    await sleep(Math.max(0, Date.parse(pushed) + 10_600 - Date.now()));
    const later = await env.view('bubbleupnp-server');

    expect(later.page.text).toMatch(/edge 1[01] seconds ago/);
    // Docker Hub responses stay fresh for 5 minutes, so the page changed without a call.
    expect(env.hub.requestCount(TAGS)).toBe(0);
  });
});

describe('uninstall during a view', () => {
  const HUB_REPOSITORY = /^\/v2\/repositories\/rwgrim\/docker-bubbleupnpserver\/$/;
  let env: PanelEnvironment;

  beforeAll(async () => {
    // Docker Hub responses would stay fresh for 10 minutes if one were stored after the purge.
    env = await startPanelEnvironment({ env: { CACHE_DOCKER_HUB_SECONDS: '600' } });
  });
  afterAll(async () => {
    await env?.stop();
  });

  test('response fetched across uninstall not kept', async () => {
    env.hub.setFault(HUB_REPOSITORY, { kind: 'delay', ms: 1_500 }, { times: 1 });
    const view = env.view('bubbleupnp-server');
    await sleep(400);
    await env.bitbucket.uninstall('acme-ws');
    // The view was verified before the uninstall, so it still gets its page.
    expect((await view).status).toBe(200);

    await env.bitbucket.install('acme-ws');
    env.hub.resetRequests();
    const after = await env.view('bubbleupnp-server');

    expect(after.page.state).toBe('ready');
    expect(after.page.stats.pulls?.text).toBe('1.3M');
    expect(env.hub.requestCount(HUB_REPOSITORY)).toBe(1);
  });
});
