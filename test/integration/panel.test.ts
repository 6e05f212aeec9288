/**
 * The panel of each sandbox repository and the requests behind it. The add-on,
 * the Bitbucket simulator and the Docker Hub simulator run as real HTTP servers
 * on 127.0.0.1, and every page is fetched through the signed iframe URL.
 */
import { createQueryStringHash, fromMethodAndUrl } from 'atlassian-jwt';
import jwt, { JwtPayload } from 'jsonwebtoken';
import { CommitStatusRecord } from '../../src/sandbox/bitbucket-simulator';
import { OutgoingRequestRecorder, recordOutgoingRequests } from '../helpers/outgoing-requests';
import { crashLogLines, PanelEnvironment, startPanelEnvironment } from '../helpers/panel-environment';
import { noticeTexts } from '../helpers/panel-html';
import { createBitbucketDataDir, createHubDataDir, TemporaryDirectory } from '../helpers/sandbox-data';

const CONFIG_FILE = '.docker-repository.yml';

/** Paths of the three Docker Hub endpoints the add-on reads for an image. */
function hubEndpoints(image: string) {
  const base = `/v2/repositories/${image}/`;
  const escaped = base.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  return {
    base,
    repository: new RegExp(`^${escaped}$`),
    tags: new RegExp(`^${escaped}tags/$`),
    buildHistory: new RegExp(`^${escaped}buildhistory/$`),
  };
}

describe('panel of each sandbox repository', () => {
  let env: PanelEnvironment;

  beforeAll(async () => {
    env = await startPanelEnvironment();
  });
  beforeEach(async () => {
    env.resetSimulators();
    await env.purgeCache();
  });
  afterAll(async () => {
    await env?.stop();
  });

  test.each([
    ['addon-build-image', 'splservices/addonbuildimage', '8.8k', '8,812'],
    ['bubbleupnp-server', 'rwgrim/docker-bubbleupnpserver', '1.3M', '1,284,530'],
    ['centos-tomcat', 'phenompeople/centos-tomcat', '27k', '27,004'],
    ['conformance-suite', 'daithi10101/conformance-suite', '3.4k', '3,419'],
    ['php72-pipelines', 'madwebsolutions/bitbucket-pipelines-php72', '153k', '152,907'],
    ['pull-count-cap', 'acme-ws/pull-count-cap', '2.1B', '2,147,483,647'],
    ['release-train', 'acme-ws/release-train', '9.9M', '9,876,543'],
    ['web-proxy', 'library/nginx', '12.9B', '12,916,987,208'],
    ['empty-config', 'acme-ws/empty-config', '731', '731'],
  ])('configured image of %s shows pulls', async (slug, image, pullsText, pullsTitle) => {
    const response = await env.view(slug);

    expect(response.status).toBe(200);
    expect(response.page.state).toBe('ready');
    expect(response.page.image?.reference).toBe(image);
    expect(response.page.stats.pulls?.text).toBe(pullsText);
    expect(response.page.stats.pulls?.title).toBe(pullsTitle);
    const hubPaths = env.hub.requests().map((request) => request.path);
    expect(hubPaths.filter((path) => !path.startsWith(hubEndpoints(image).base))).toEqual([]);
  });

  test('official image shows exact counts', async () => {
    const { page } = await env.view('web-proxy');

    expect(page.stats.pulls).toEqual({ text: '12.9B', title: '12,916,987,208' });
    expect(page.stats.stars).toEqual({ text: '21.2k', title: '21,244' });
    expect(page.stats['last-pushed']?.title).toBe('2026-04-08 04:52:59 UTC');
  });

  test('official image links to underscore page', async () => {
    const { page } = await env.view('web-proxy');

    expect(page.image?.href).toBe(`${env.hub.url}/_/nginx`);
    expect(page.image?.official).toBe(true);
  });

  test('official image requests library path once', async () => {
    await env.view('web-proxy');
    const endpoints = hubEndpoints('library/nginx');

    expect(env.hub.requestCount(endpoints.repository)).toBe(1);
    expect(env.hub.requestCount(endpoints.tags)).toBe(1);
    expect(env.hub.requestCount(endpoints.buildHistory)).toBe(1);
    expect(env.hub.requests()).toHaveLength(3);
  });

  test('missing config file disables panel', async () => {
    const { status, page } = await env.view('widget-api');

    expect(status).toBe(200);
    expect(page.state).toBe('disabled');
    expect(page.notices).toHaveLength(1);
    expect(page.notices[0].text).toContain(CONFIG_FILE);
    expect(env.hub.requests()).toEqual([]);
  });

  test('empty repository disables panel', async () => {
    const { page } = await env.view('empty-repo');

    expect(page.state).toBe('disabled');
    expect(page.text).toContain('no commits');
    expect(page.text).toContain(CONFIG_FILE);
    expect(env.hub.requests()).toEqual([]);
  });

  test('broken config names file and line', async () => {
    const { page } = await env.view('broken-config');

    expect(page.state).toBe('config-error');
    expect(noticeTexts(page, 'error')).toHaveLength(1);
    expect(noticeTexts(page, 'error')[0]).toMatch(/^\.docker-repository\.yml line 1: it is not valid YAML/);
    expect(env.hub.requests()).toEqual([]);
  });

  test('missing image shows not found', async () => {
    const { page } = await env.view('ghost-image');

    expect(page.state).toBe('ready');
    expect(noticeTexts(page, 'error')).toContain(
      'Docker Hub has no public image acme-ws/ghost-image. It does not exist, or it is private.',
    );
    expect(page.stats.pulls).toBeUndefined();
  });

  test('private image shows not found', async () => {
    const { page } = await env.view('private-image');

    expect(page.state).toBe('ready');
    expect(noticeTexts(page, 'error')).toContain(
      'Docker Hub has no public image acme-ws/private-image. It does not exist, or it is private.',
    );
  });

  test('empty config shows default image', async () => {
    const { page } = await env.view('empty-config');

    expect(page.image?.reference).toBe('acme-ws/empty-config');
    expect(page.image?.defaultName).toBe(true);
  });

  test('empty config on widget-api requests default', async () => {
    env.bitbucket.setFile('acme-ws', 'widget-api', CONFIG_FILE, Buffer.alloc(0));
    try {
      const { page } = await env.view('widget-api');

      expect(page.state).toBe('ready');
      expect(page.image?.reference).toBe('acme-ws/widget-api');
      expect(env.hub.requestCount(hubEndpoints('acme-ws/widget-api').repository)).toBe(1);
    } finally {
      env.bitbucket.setFile('acme-ws', 'widget-api', CONFIG_FILE, null);
    }
  });

  test('branch with slash reads file at commit', async () => {
    const { page } = await env.view('release-train');
    const fileReads = env.bitbucket.requests().filter((request) => request.path.endsWith(`/${CONFIG_FILE}`));

    expect(page.state).toBe('ready');
    expect(page.image?.reference).toBe('acme-ws/release-train');
    expect(page.buildSourceLine).toContain('release/2.x');
    expect(fileReads).toHaveLength(1);
    expect(fileReads[0].path).toMatch(/\/src\/[0-9a-f]{40}\/\.docker-repository\.yml$/);
    expect(fileReads[0].status).toBe(200);
  });

  test('upper-case config value is lowered', async () => {
    const { page } = await env.view('conformance-suite');

    expect(page.image?.reference).toBe('daithi10101/conformance-suite');
    expect(noticeTexts(page, 'warning')).toContain(
      '.docker-repository.yml line 1: Docker Hub names are lower case, so the value was read in lower case',
    );
    expect(env.hub.requestCount(hubEndpoints('daithi10101/conformance-suite').repository)).toBe(1);
  });

  test('commit statuses show state and link', async () => {
    const { page } = await env.view('addon-build-image');
    const pipelines = `${env.bitbucket.webUrl}/acme-ws/addon-build-image/pipelines/results`;

    expect(page.builds).toEqual([
      { source: 'bitbucket', state: 'passing', label: 'Passed', name: 'Pipeline #311 (main)', href: `${pipelines}/311` },
      { source: 'bitbucket', state: 'failing', label: 'Failed', name: 'Image scan', href: `${pipelines}/312` },
    ]);
    expect(page.buildSourceLine).toContain('Bitbucket commit statuses');
  });

  test('running status shows In progress', async () => {
    const { page } = await env.view('conformance-suite');

    expect(page.builds).toHaveLength(1);
    expect(page.builds[0].state).toBe('in-progress');
    expect(page.builds[0].label).toBe('In progress');
    expect(page.builds[0].href).toBe(`${env.bitbucket.webUrl}/acme-ws/conformance-suite/pipelines/results/9`);
  });

  test('legacy autobuild names both sources', async () => {
    const { page } = await env.view('bubbleupnp-server');
    const hubBuilds = page.builds.filter((build) => build.source === 'docker-hub');
    const bitbucketBuilds = page.builds.filter((build) => build.source === 'bitbucket');

    expect(hubBuilds).toHaveLength(1);
    expect(hubBuilds[0].label).toBe('Passed');
    expect(bitbucketBuilds).toHaveLength(1);
    expect(bitbucketBuilds[0].label).toBe('Failed');
    expect(page.buildSourceLine).toContain('Bitbucket commit statuses');
    expect(page.buildSourceLine).toContain('Docker Hub automated builds');
  });

  test('unknown status state shows Unknown', async () => {
    const status = {
      key: 'custom-ci',
      name: 'Custom CI',
      // Bitbucket documents four states, and a new one must not be shown as a failure.
      state: 'PAUSED' as CommitStatusRecord['state'],
      url: '/acme-ws/centos-tomcat/pipelines/results/5',
      description: 'Paused',
      created_on: '2026-11-01T00:00:00.000000+00:00',
      updated_on: '2026-11-01T00:01:00.000000+00:00',
    };
    env.bitbucket.setCommitStatuses('acme-ws', 'centos-tomcat', [status]);
    try {
      const { page } = await env.view('centos-tomcat');

      expect(page.builds).toHaveLength(1);
      expect(page.builds[0].label).toBe('Unknown');
      expect(page.builds[0].state).toBe('unknown');
      expect(page.text).not.toContain('Failed');
    } finally {
      env.bitbucket.setCommitStatuses('acme-ws', 'centos-tomcat', []);
    }
  });

  test('status link with script scheme dropped', async () => {
    const status = {
      key: 'custom-ci',
      name: '<b>Custom CI</b>',
      state: 'SUCCESSFUL' as const,
      url: 'javascript:alert(1)',
      description: 'Passed',
      created_on: '2026-11-01T00:00:00.000000+00:00',
      updated_on: '2026-11-01T00:01:00.000000+00:00',
    };
    env.bitbucket.setCommitStatuses('acme-ws', 'centos-tomcat', [status]);
    try {
      const { html, page } = await env.view('centos-tomcat');

      expect(page.builds).toHaveLength(1);
      expect(page.builds[0].href).toBeUndefined();
      expect(page.builds[0].name).toBe('<b>Custom CI</b>');
      expect(html).not.toContain('javascript:');
      expect(html).not.toContain('<b>');
    } finally {
      env.bitbucket.setCommitStatuses('acme-ws', 'centos-tomcat', []);
    }
  });

  test('sparse metadata renders placeholders', async () => {
    env.bitbucket.setFile('acme-ws', 'sparse-metadata', CONFIG_FILE, Buffer.alloc(0));
    try {
      const { html, page } = await env.view('sparse-metadata');

      expect(page.state).toBe('ready');
      expect(page.stats.stars?.text).toBe('—');
      expect(page.stats.pulls?.text).toBe('0');
      expect(page.stats['last-pushed']?.text).toBe('—');
      expect(html).not.toMatch(/NaN|undefined|Invalid Date/);
    } finally {
      env.bitbucket.setFile('acme-ws', 'sparse-metadata', CONFIG_FILE, null);
    }
  });

  test('no crash lines in add-on log', () => {
    expect(crashLogLines(env.addon)).toEqual([]);
  });
});

describe('panel of an LFS config file', () => {
  let env: PanelEnvironment;
  let outgoing: OutgoingRequestRecorder;

  beforeAll(async () => {
    env = await startPanelEnvironment();
    outgoing = recordOutgoingRequests();
  });
  afterAll(async () => {
    outgoing?.stop();
    await env?.stop();
  });

  test('redirect is reported, not followed', async () => {
    env.resetSimulators();
    outgoing.reset();
    const { page } = await env.view('lfs-config');
    const fileReads = env.bitbucket.requests().filter((request) => request.path.endsWith(`/${CONFIG_FILE}`));

    expect(page.state).toBe('config-error');
    expect(noticeTexts(page, 'error')).toHaveLength(1);
    expect(noticeTexts(page, 'error')[0]).toContain(CONFIG_FILE);
    expect(noticeTexts(page, 'error')[0]).toContain('Git LFS');
    expect(fileReads.map((request) => request.status)).toEqual([301]);
    expect(outgoing.list().filter((request) => request.pathAndQuery.startsWith('/__media/'))).toEqual([]);
    expect(outgoing.to(env.bitbucket.webUrl)).toEqual([]);
    expect(env.hub.requests()).toEqual([]);
  });
});

describe('bitbucket request shape', () => {
  let env: PanelEnvironment;
  let outgoing: OutgoingRequestRecorder;

  beforeAll(async () => {
    env = await startPanelEnvironment();
    outgoing = recordOutgoingRequests();
    env.resetSimulators();
    await env.view('web-proxy');
    await env.view('release-train');
    outgoing.stop();
  });
  afterAll(async () => {
    outgoing?.stop();
    await env?.stop();
  });

  function apiRequests() {
    return outgoing.to(env.bitbucket.apiUrl);
  }

  function claimsOf(authorization: string | undefined): JwtPayload {
    const token = (authorization ?? '').replace(/^JWT /, '');
    const sharedSecret = env.bitbucket.installation('acme-ws')?.sharedSecret ?? '';
    return jwt.verify(token, sharedSecret, { algorithms: ['HS256'] }) as JwtPayload;
  }

  test('recorder saw the api calls', () => {
    // Each view reads the main branch, the file, the branch head and the statuses.
    expect(apiRequests()).toHaveLength(8);
  });

  test('authorization uses JWT scheme', () => {
    for (const request of apiRequests()) {
      expect(request.authorization).toMatch(/^JWT [\w-]+\.[\w-]+\.[\w-]+$/);
    }
  });

  test('token never in query string', () => {
    for (const request of apiRequests()) {
      expect(request.pathAndQuery).not.toMatch(/[?&]jwt=/);
    }
  });

  test('claims name add-on and tenant', () => {
    const clientKey = env.bitbucket.installation('acme-ws')?.clientKey;
    for (const request of apiRequests()) {
      const claims = claimsOf(request.authorization);
      expect(claims.iss).toBe(env.addon.config.appKey);
      expect(claims.sub).toBe(clientKey);
    }
  });

  test('qsh covers exact path sent', () => {
    for (const request of apiRequests()) {
      const expected = createQueryStringHash(fromMethodAndUrl('GET', request.pathAndQuery));
      expect(claimsOf(request.authorization).qsh).toBe(expected);
    }
  });

  test('file path has no trailing slash', () => {
    const fileReads = apiRequests()
      .map((request) => request.pathAndQuery)
      .filter((path) => path.includes('/src/'));

    expect(fileReads).toContain(`/2.0/repositories/acme-ws/web-proxy/src/main/${CONFIG_FILE}`);
    for (const path of fileReads) {
      expect(path.endsWith(`/${CONFIG_FILE}`)).toBe(true);
    }
  });

  test('calls go to api origin only', () => {
    const hostOrigins = new Set([env.bitbucket.apiUrl, env.bitbucket.webUrl]);
    const bitbucketOrigins = outgoing
      .list()
      .map((request) => request.origin)
      .filter((origin) => hostOrigins.has(origin));

    expect(outgoing.to(env.bitbucket.webUrl)).toEqual([]);
    expect(new Set(bitbucketOrigins)).toEqual(new Set([env.bitbucket.apiUrl]));
  });

  test('simulator accepts every api call', () => {
    const requests = env.bitbucket.requests();

    expect(requests.filter((request) => request.rejection !== undefined)).toEqual([]);
    expect(requests.filter((request) => request.status !== 200)).toEqual([]);
  });
});

describe('default image from repository name', () => {
  const longSlug = `Widget-${'x'.repeat(55)}`;
  let hubData: TemporaryDirectory;
  let bitbucketData: TemporaryDirectory;
  let env: PanelEnvironment;

  beforeAll(async () => {
    hubData = createHubDataDir([{ namespace: 'acme-ws', name: 'widget.api_v2', pullCount: 4321, starCount: 5 }]);
    bitbucketData = createBitbucketDataDir('Acme-WS', [
      { slug: 'Widget.API_v2', uuid: '{0000aaaa-1111-4222-8333-444455556661}', configFile: Buffer.alloc(0) },
      { slug: longSlug, uuid: '{0000aaaa-1111-4222-8333-444455556662}', configFile: Buffer.alloc(0) },
      { slug: 'widget.api_', uuid: '{0000aaaa-1111-4222-8333-444455556663}', configFile: Buffer.alloc(0) },
    ]);
    env = await startPanelEnvironment({
      hubDataDir: hubData.path,
      bitbucketDataDir: bitbucketData.path,
      workspace: 'Acme-WS',
    });
  });
  beforeEach(() => {
    env.resetSimulators();
  });
  afterAll(async () => {
    await env?.stop();
    hubData?.remove();
    bitbucketData?.remove();
  });

  test('mixed-case full name is lowered', async () => {
    const { page } = await env.view('Widget.API_v2');

    expect(page.state).toBe('ready');
    expect(page.image?.reference).toBe('acme-ws/widget.api_v2');
    expect(page.image?.defaultName).toBe(true);
    expect(page.stats.pulls?.title).toBe('4,321');
    expect(env.hub.requestCount(hubEndpoints('acme-ws/widget.api_v2').repository)).toBe(1);
    expect(env.hub.requests().filter((request) => /[A-Z]/.test(request.path))).toEqual([]);
  });

  test('long slug default is requested', async () => {
    const { page } = await env.view(longSlug);
    const image = `acme-ws/${longSlug.toLowerCase()}`;

    expect(page.image?.reference).toBe(image);
    expect(env.hub.requestCount(hubEndpoints(image).repository)).toBe(1);
    expect(noticeTexts(page, 'error')[0]).toContain(`set "repository: namespace/name" in ${CONFIG_FILE}`);
  });

  test('invalid default asks for repository key', async () => {
    const { status, page } = await env.view('widget.api_');

    expect(status).toBe(200);
    expect(page.state).toBe('config-error');
    expect(noticeTexts(page, 'error')).toHaveLength(1);
    expect(noticeTexts(page, 'error')[0]).toContain(CONFIG_FILE);
    expect(noticeTexts(page, 'error')[0]).toContain('acme-ws/widget.api_ is not valid on Docker Hub');
    expect(noticeTexts(page, 'error')[0]).toContain('set "repository: namespace/name"');
    expect(env.hub.requests()).toEqual([]);
  });
});
