import { BitbucketCommitStatus } from '../../src/core/bitbucket';
import { HubBuild, HubRepository, HubTagPage } from '../../src/core/docker-hub';
import { UpstreamError } from '../../src/core/errors';
import { ImageRef } from '../../src/core/image-ref';
import { PanelData, Section } from '../../src/core/panel-service';
import { bitbucketBuildState, buildPanelView, buildPanelViewWithLifetime, PanelViewOptions } from '../../src/core/panel-view';

type ReadyData = Extract<PanelData, { state: 'ready' }>;

const NOW = Date.parse('2024-06-15T12:00:00Z');
const MINUTE = 60 * 1000;
const OPTIONS: PanelViewOptions = { now: NOW, dockerHubWebUrl: 'https://hub.docker.com' };
const REPOSITORY = { workspace: 'acme-ws', slug: 'widget-api' };
const EXAMPLE_IMAGE: ImageRef = { namespace: 'examplens', name: 'app' };

/** A repository body whose star count, dates and description are null. */
const SPARSE_REPOSITORY: HubRepository = {
  namespace: 'examplens',
  name: 'app',
  description: null,
  is_private: false,
  is_automated: false,
  star_count: null,
  pull_count: 0,
  last_updated: null,
  date_registered: null,
};

function ok<T>(value: T): Section<T> {
  return { state: 'ok', value, storedAt: NOW, stale: false };
}

function failed<T>(error: UpstreamError): Section<T> {
  return { state: 'error', error };
}

function hubError(kind: UpstreamError['kind'], extra: { status?: number; retryAt?: number } = {}) {
  return new UpstreamError('docker-hub', kind, `test ${kind}`, extra);
}

function readyData(overrides: Partial<ReadyData> = {}): ReadyData {
  const tags: HubTagPage = { total: 0, tags: [] };
  const statuses: BitbucketCommitStatus[] = [];
  return {
    state: 'ready',
    repository: REPOSITORY,
    image: EXAMPLE_IMAGE,
    imageSource: 'file',
    notes: [],
    hubRepository: ok(SPARSE_REPOSITORY),
    tags: ok(tags),
    hubBuild: ok<HubBuild | undefined>(undefined),
    commitStatuses: ok(statuses),
    branch: 'main',
    ...overrides,
  };
}

function hubBuild(status: number): HubBuild {
  return { status, dockertag_name: 'latest', created_date: null, last_updated: null };
}

function commitStatus(state: string, url: string | null = 'https://ci.example.test/builds/1'): BitbucketCommitStatus {
  return { state, key: 'ci', name: 'Pipeline', url, updated_on: '2024-06-15T11:55:00Z', created_on: null };
}

describe('buildPanelView missing fields', () => {
  const view = buildPanelView(readyData(), OPTIONS);

  test('missing star count is null', () => {
    expect(view.summary?.stars).toBeNull();
  });

  test('zero pull count shows zero', () => {
    expect(view.summary?.pulls).toEqual({ compact: '0', exact: '0' });
  });

  test('null last update is undefined', () => {
    expect(view.summary?.lastPushed).toBeUndefined();
  });

  test('null description is undefined', () => {
    expect(view.summary?.description).toBeUndefined();
  });
});

describe('buildPanelView pull counts', () => {
  test.each([
    [2147483647, '2.1B', '2,147,483,647'],
    [72673, '72.7k', '72,673'],
    [12916987208, '12.9B', '12,916,987,208'],
  ])('%d pulls show as %s', (pullCount, compact, exact) => {
    const data = readyData({ hubRepository: ok({ ...SPARSE_REPOSITORY, pull_count: pullCount }) });

    expect(buildPanelView(data, OPTIONS).summary?.pulls).toEqual({ compact, exact });
  });
});

describe('buildPanelView tags', () => {
  test('tag with null fields renders', () => {
    const page: HubTagPage = {
      total: 1,
      tags: [{ name: 'latest', full_size: null, last_updated: null, tag_last_pushed: null, images: [] }],
    };
    const view = buildPanelView(readyData({ tags: ok(page) }), OPTIONS);

    expect(view.tags).toEqual([{ name: 'latest', pushed: undefined, size: undefined, architectures: '' }]);
  });

  test('no tags gives a notice', () => {
    expect(buildPanelView(readyData(), OPTIONS).tagsNotice?.text).toContain('No tags');
  });
});

describe('buildPanelView official image', () => {
  const nginx: ImageRef = { namespace: 'library', name: 'nginx' };
  const view = buildPanelView(readyData({ image: nginx }), OPTIONS);

  test('link uses underscore page', () => {
    expect(view.image?.url).toBe('https://hub.docker.com/_/nginx');
  });

  test('image is marked official', () => {
    expect(view.image?.official).toBe(true);
  });

  test('base URL slash is not doubled', () => {
    const slashOptions = { ...OPTIONS, dockerHubWebUrl: 'https://hub.docker.com/' };
    const slashView = buildPanelView(readyData({ image: nginx }), slashOptions);

    expect(slashView.image?.url).toBe('https://hub.docker.com/_/nginx');
  });

  test('namespaced image is not official', () => {
    expect(buildPanelView(readyData(), OPTIONS).image?.official).toBe(false);
  });
});

describe('buildPanelView Docker Hub errors', () => {
  test('not-found default shows the hint', () => {
    const hubRepository = failed<HubRepository>(hubError('not-found', { status: 404 }));
    const data = readyData({ imageSource: 'default', hubRepository });
    const text = buildPanelView(data, OPTIONS).summaryNotice?.text;

    expect(text).toContain('examplens/app');
    expect(text).toContain('repository: namespace/name');
    expect(text).toContain('.docker-repository.yml');
  });

  test('not-found file shows no hint', () => {
    const hubRepository = failed<HubRepository>(hubError('not-found', { status: 404 }));
    const data = readyData({ imageSource: 'file', hubRepository });
    const text = buildPanelView(data, OPTIONS).summaryNotice?.text;

    expect(text).toContain('examplens/app');
    expect(text).not.toContain('.docker-repository.yml');
  });

  test('rate limit shows retry time', () => {
    const retryAt = Date.parse('2024-06-15T12:05:00Z');
    const data = readyData({ hubRepository: failed(hubError('rate-limited', { status: 429, retryAt })) });
    const notice = buildPanelView(data, OPTIONS).summaryNotice;

    expect(notice?.level).toBe('error');
    expect(notice?.text).toContain('rate-limiting');
    expect(notice?.text).toContain('2024-06-15 12:05:00 UTC');
    expect(notice?.text).toContain('in 5 minutes');
  });

  test('same tags error is not repeated', () => {
    const error = hubError('rate-limited', { status: 429, retryAt: NOW + 5 * MINUTE });
    const data = readyData({ hubRepository: failed(error), tags: failed(error) });

    expect(buildPanelView(data, OPTIONS).tagsNotice).toBeUndefined();
  });

  test('unexpected body names the problem', () => {
    const data = readyData({ hubRepository: failed(hubError('invalid-response')) });

    expect(buildPanelView(data, OPTIONS).summaryNotice?.text).toContain('unexpected response');
  });
});

describe('buildPanelView stale data', () => {
  const staleRepository: Section<HubRepository> = {
    state: 'ok',
    value: SPARSE_REPOSITORY,
    storedAt: NOW - 10 * MINUTE,
    stale: true,
    staleReason: hubError('unavailable', { status: 504 }),
  };
  const view = buildPanelView(readyData({ hubRepository: staleRepository }), OPTIONS);

  test('stale summary is still shown', () => {
    expect(view.summary?.pulls).toEqual({ compact: '0', exact: '0' });
  });

  test('notice mentions stale', () => {
    expect(view.summaryNotice?.text).toMatch(/stale/i);
  });

  test('notice gives the age', () => {
    expect(view.summaryNotice?.text).toContain('10 minutes ago');
  });

  test('notice is a warning', () => {
    expect(view.summaryNotice?.level).toBe('warning');
  });

  test('fresh section has no notice', () => {
    expect(buildPanelView(readyData(), OPTIONS).summaryNotice).toBeUndefined();
  });
});

describe('buildPanelView Docker Hub build', () => {
  test.each([
    [10, 'Passed'],
    [-1, 'Failed'],
    [-4, 'Cancelled'],
    [3, 'In progress'],
    [42, 'Unknown'],
  ])('status %d shows %s', (status, label) => {
    const data = readyData({ hubBuild: ok<HubBuild | undefined>(hubBuild(status)) });

    expect(buildPanelView(data, OPTIONS).hubBuild?.label).toBe(label);
  });

  test('unknown status is not failed', () => {
    const data = readyData({ hubBuild: ok<HubBuild | undefined>(hubBuild(42)) });

    expect(buildPanelView(data, OPTIONS).hubBuild?.state).not.toBe('failing');
  });
});

describe('buildPanelView Bitbucket builds', () => {
  test.each([
    ['SUCCESSFUL', 'passing'],
    ['FAILED', 'failing'],
    ['INPROGRESS', 'in-progress'],
    ['STOPPED', 'stopped'],
    ['WEIRD', 'unknown'],
  ])('state %s is %s', (state, expected) => {
    expect(bitbucketBuildState(state)).toBe(expected);
  });

  test('view maps commit status state', () => {
    const data = readyData({ commitStatuses: ok([commitStatus('FAILED')]) });

    expect(buildPanelView(data, OPTIONS).commitBuilds?.[0].state).toBe('failing');
  });

  test('https status link is kept', () => {
    const data = readyData({ commitStatuses: ok([commitStatus('SUCCESSFUL')]) });

    expect(buildPanelView(data, OPTIONS).commitBuilds?.[0].url).toBe('https://ci.example.test/builds/1');
  });

  test('javascript status link is dropped', () => {
    const data = readyData({ commitStatuses: ok([commitStatus('SUCCESSFUL', 'javascript:alert(1)')]) });

    expect(buildPanelView(data, OPTIONS).commitBuilds?.[0].url).toBeUndefined();
  });
});

describe('buildPanelView stopped states', () => {
  test('missing file names the file', () => {
    const view = buildPanelView({ state: 'disabled', repository: REPOSITORY, reason: 'no-file' }, OPTIONS);

    expect(view.notice?.text).toContain('.docker-repository.yml');
  });

  test('config error gives the line', () => {
    const data: PanelData = {
      state: 'config-error',
      repository: REPOSITORY,
      problem: 'duplicated mapping key',
      line: 3,
    };
    const view = buildPanelView(data, OPTIONS);

    expect(view.notice?.text).toContain('line 3');
    expect(view.notice?.text).toContain('.docker-repository.yml');
    expect(view.notice?.text).toContain('duplicated mapping key');
    expect(view.configLine).toBe(3);
  });

  test('Bitbucket rejection is visible', () => {
    const error = new UpstreamError('bitbucket', 'unauthorized', 'HTTP 403', { status: 403 });
    const view = buildPanelView({ state: 'bitbucket-error', repository: REPOSITORY, error }, OPTIONS);

    expect(view.notice?.level).toBe('error');
    expect(view.notice?.text).toContain('Could not read .docker-repository.yml');
  });
});

describe('buildPanelViewWithLifetime', () => {
  const SECOND = 1000;
  const timedData = readyData({
    hubRepository: ok({ ...SPARSE_REPOSITORY, last_updated: '2024-06-10T08:00:00Z' }),
    tags: ok({
      total: 1,
      tags: [{ name: 'latest', full_size: 1000, last_updated: null, tag_last_pushed: '2024-06-15T11:57:30Z', images: [] }],
    }),
    commitStatuses: ok([commitStatus('SUCCESSFUL')]),
  });

  test('view holds until the nearest relative time changes', () => {
    const { view, validUntil } = buildPanelViewWithLifetime(timedData, OPTIONS);
    // The tag was pushed 2.5 minutes before NOW, so its text turns to "3 minutes ago" first.
    expect(validUntil).toBe(Date.parse('2024-06-15T11:57:30Z') + 3 * MINUTE - 0.5 * SECOND);
    for (const at of [NOW + 1, NOW + 10 * SECOND, validUntil - 1]) {
      expect(buildPanelView(timedData, { ...OPTIONS, now: at })).toEqual(view);
    }
    expect(buildPanelView(timedData, { ...OPTIONS, now: validUntil })).not.toEqual(view);
  });

  test('view without relative times holds forever', () => {
    const { validUntil } = buildPanelViewWithLifetime(readyData(), OPTIONS);
    expect(validUntil).toBe(Infinity);
  });

  test('stale notice limits the lifetime', () => {
    const data = readyData({
      hubRepository: { state: 'ok', value: SPARSE_REPOSITORY, storedAt: NOW - 20 * SECOND, stale: true },
    });
    const { view, validUntil } = buildPanelViewWithLifetime(data, OPTIONS);
    expect(view.summaryNotice?.text).toContain('20 seconds ago');
    expect(validUntil).toBe(NOW + 0.5 * SECOND);
  });

  test('rate limit without retry time holds for no time', () => {
    const data = readyData({ hubRepository: failed(hubError('rate-limited')) });
    const { view, validUntil } = buildPanelViewWithLifetime(data, OPTIONS);
    expect(view.summaryNotice?.text).toContain('rate-limiting');
    expect(validUntil).toBe(NOW);
  });
});
