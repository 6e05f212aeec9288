import { CacheBackend, CachePolicy, LocalCallSharing, MemoryCacheBackend, UpstreamCache } from '../../src/core/cache';
import { UpstreamError } from '../../src/core/errors';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const POLICY: CachePolicy = { freshMs: 5 * MINUTE, keepMs: 24 * 60 * MINUTE, notFoundMs: MINUTE };
const KEY = 't:ck-test-0001:hub:examplens/app:repository';

/** A clock that moves only when the test calls advance(). */
class ManualClock {
  private current = Date.parse('2024-06-15T12:00:00Z');

  readonly now = (): number => this.current;

  advance(ms: number): void {
    this.current += ms;
  }
}

/** Creates a promise and exposes its resolve function, so the test settles it by hand. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((settle) => {
    resolve = settle;
  });
  return { promise, resolve };
}

/** Lets promise chains that are already settled run to the end. */
function flushPendingWork(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

// UpstreamCache compares the deadline with the real clock (Date.now), not the injected one.
function deadlineIn(ms: number): number {
  return Date.now() + ms;
}

function setup(backend: CacheBackend = new MemoryCacheBackend()) {
  const clock = new ManualClock();
  const backendError = jest.fn();
  const cache = new UpstreamCache(backend, new LocalCallSharing(), { backendError }, clock.now);
  return { clock, cache, backend, backendError };
}

function unavailable(): UpstreamError {
  return new UpstreamError('docker-hub', 'unavailable', 'HTTP 503', { status: 503 });
}

function notFound(): UpstreamError {
  return new UpstreamError('docker-hub', 'not-found', 'HTTP 404', { status: 404 });
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject');
}

describe('UpstreamCache fresh records', () => {
  test('fresh hit calls loader once', async () => {
    const { cache } = setup();
    const loader = jest.fn(async () => 'v1');

    await cache.load(KEY, 'docker-hub', POLICY, deadlineIn(MINUTE), loader);
    const second = await cache.load(KEY, 'docker-hub', POLICY, deadlineIn(MINUTE), loader);

    expect(loader).toHaveBeenCalledTimes(1);
    expect(second.value).toBe('v1');
    expect(second.stale).toBe(false);
  });

  test('concurrent loads share one call', async () => {
    const { cache } = setup();
    const gate = deferred<string>();
    const loader = jest.fn(() => gate.promise);

    const loads = Array.from({ length: 20 }, () => cache.load(KEY, 'docker-hub', POLICY, deadlineIn(MINUTE), loader));
    gate.resolve('shared');
    const results = await Promise.all(loads);

    expect(loader).toHaveBeenCalledTimes(1);
    expect(results.map((result) => result.value)).toEqual(Array(20).fill('shared'));
  });

  test('record just before expiry is served', async () => {
    const { cache, clock } = setup();
    const loader = jest.fn(async () => 'v1');

    await cache.load(KEY, 'docker-hub', POLICY, deadlineIn(MINUTE), loader);
    clock.advance(POLICY.freshMs - 1);
    await cache.load(KEY, 'docker-hub', POLICY, deadlineIn(MINUTE), loader);

    expect(loader).toHaveBeenCalledTimes(1);
  });

  test('expired record calls loader again', async () => {
    const { cache, clock } = setup();
    const loader = jest.fn().mockResolvedValueOnce('v1').mockResolvedValueOnce('v2');

    await cache.load(KEY, 'docker-hub', POLICY, deadlineIn(MINUTE), loader);
    clock.advance(POLICY.freshMs);
    const second = await cache.load(KEY, 'docker-hub', POLICY, deadlineIn(MINUTE), loader);

    expect(loader).toHaveBeenCalledTimes(2);
    expect(second.value).toBe('v2');
    expect(second.stale).toBe(false);
  });
});

describe('UpstreamCache stale records', () => {
  test('loader failure serves stale record', async () => {
    const { cache, clock } = setup();
    const storedAt = clock.now();
    const failure = unavailable();
    const loader = jest.fn().mockResolvedValueOnce('good').mockRejectedValueOnce(failure);

    await cache.load(KEY, 'docker-hub', POLICY, deadlineIn(MINUTE), loader);
    clock.advance(POLICY.freshMs + MINUTE);
    const result = await cache.load(KEY, 'docker-hub', POLICY, deadlineIn(MINUTE), loader);

    expect(result.value).toBe('good');
    expect(result.stale).toBe(true);
    expect(result.storedAt).toBe(storedAt);
    expect(result.error).toBe(failure);
  });

  test('loader failure without record rejects', async () => {
    const { cache } = setup();
    const failure = unavailable();

    const loader = () => Promise.reject(failure);

    const error = await rejectionOf(cache.load(KEY, 'docker-hub', POLICY, deadlineIn(MINUTE), loader));

    expect(error).toBe(failure);
  });
});

describe('UpstreamCache not found', () => {
  test('not found is remembered', async () => {
    const { cache, clock } = setup();
    const loader = jest.fn(() => Promise.reject(notFound()));

    await rejectionOf(cache.load(KEY, 'docker-hub', POLICY, deadlineIn(MINUTE), loader));
    clock.advance(POLICY.notFoundMs - 1);
    const error = await rejectionOf(cache.load(KEY, 'docker-hub', POLICY, deadlineIn(MINUTE), loader));

    expect(loader).toHaveBeenCalledTimes(1);
    expect(error).toBeInstanceOf(UpstreamError);
    expect((error as UpstreamError).kind).toBe('not-found');
  });

  test('not found expires after notFoundMs', async () => {
    const { cache, clock } = setup();
    const loader = jest.fn().mockRejectedValueOnce(notFound()).mockResolvedValueOnce('created');

    await rejectionOf(cache.load(KEY, 'docker-hub', POLICY, deadlineIn(MINUTE), loader));
    clock.advance(POLICY.notFoundMs);
    const result = await cache.load(KEY, 'docker-hub', POLICY, deadlineIn(MINUTE), loader);

    expect(loader).toHaveBeenCalledTimes(2);
    expect(result.value).toBe('created');
  });

  test('not found is never served stale', async () => {
    const { cache, clock } = setup();
    const loader = jest.fn().mockResolvedValueOnce('old').mockRejectedValueOnce(notFound());

    await cache.load(KEY, 'docker-hub', POLICY, deadlineIn(MINUTE), loader);
    clock.advance(POLICY.freshMs);
    const error = await rejectionOf(cache.load(KEY, 'docker-hub', POLICY, deadlineIn(MINUTE), loader));

    expect(error).toBeInstanceOf(UpstreamError);
    expect((error as UpstreamError).kind).toBe('not-found');
  });

  test('failure after not found rejects', async () => {
    const { cache, clock } = setup();
    const failure = unavailable();
    const loader = jest.fn().mockRejectedValueOnce(notFound()).mockRejectedValueOnce(failure);

    await rejectionOf(cache.load(KEY, 'docker-hub', POLICY, deadlineIn(MINUTE), loader));
    clock.advance(POLICY.notFoundMs);
    const error = await rejectionOf(cache.load(KEY, 'docker-hub', POLICY, deadlineIn(MINUTE), loader));

    expect(error).toBe(failure);
  });
});

describe('UpstreamCache deadline', () => {
  test('hanging loader serves stale record', async () => {
    const { cache, clock } = setup();
    const hanging = deferred<string>();
    const loader = jest.fn().mockResolvedValueOnce('good').mockReturnValueOnce(hanging.promise);

    await cache.load(KEY, 'docker-hub', POLICY, deadlineIn(MINUTE), loader);
    clock.advance(POLICY.freshMs);
    const result = await cache.load(KEY, 'docker-hub', POLICY, deadlineIn(20), loader);
    hanging.resolve('late');

    expect(result.value).toBe('good');
    expect(result.stale).toBe(true);
    expect(result.error?.kind).toBe('timeout');
  });

  test('hanging loader without record times out', async () => {
    const { cache } = setup();
    const hanging = deferred<string>();

    const error = await rejectionOf(cache.load(KEY, 'docker-hub', POLICY, deadlineIn(20), () => hanging.promise));
    hanging.resolve('late');

    expect(error).toBeInstanceOf(UpstreamError);
    expect((error as UpstreamError).kind).toBe('timeout');
    expect((error as UpstreamError).service).toBe('docker-hub');
  });

  test('late answer fills the cache', async () => {
    const { cache } = setup();
    const hanging = deferred<string>();
    const loader = jest.fn(() => hanging.promise);

    await rejectionOf(cache.load(KEY, 'docker-hub', POLICY, deadlineIn(20), loader));
    hanging.resolve('late');
    await flushPendingWork();
    const result = await cache.load(KEY, 'docker-hub', POLICY, deadlineIn(MINUTE), loader);

    expect(loader).toHaveBeenCalledTimes(1);
    expect(result.value).toBe('late');
  });
});

describe('UpstreamCache backend failure', () => {
  const failingBackend: CacheBackend = {
    get: () => Promise.reject(new Error('backend down')),
    set: () => Promise.reject(new Error('backend down')),
    deleteByPrefix: () => Promise.resolve(),
  };

  test('failing backend acts as a miss', async () => {
    const { cache, backendError } = setup(failingBackend);

    const result = await cache.load(KEY, 'docker-hub', POLICY, deadlineIn(MINUTE), async () => 'direct');

    expect(result.value).toBe('direct');
    expect(backendError).toHaveBeenCalledWith('get', expect.any(Error));
    expect(backendError).toHaveBeenCalledWith('set', expect.any(Error));
  });
});

describe('UpstreamCache deleteByPrefix', () => {
  test('removes only that prefix', async () => {
    const { cache, backend } = setup();
    const keys = ['t:ck-1:bb:a', 't:ck-1:hub:b', 't:ck-10:bb:a', 't:ck-2:bb:a'];
    for (const key of keys) {
      await cache.load(key, 'bitbucket', POLICY, deadlineIn(MINUTE), async () => key);
    }

    await cache.deleteByPrefix('t:ck-1:');

    expect(await backend.get('t:ck-1:bb:a')).toBeUndefined();
    expect(await backend.get('t:ck-1:hub:b')).toBeUndefined();
    expect(await backend.get('t:ck-10:bb:a')).toBeDefined();
    expect(await backend.get('t:ck-2:bb:a')).toBeDefined();
  });
});

describe('LocalCallSharing', () => {
  test('finished call is not reused', async () => {
    const sharing = new LocalCallSharing();
    const loader = jest.fn(async () => 'value');

    await sharing.run('key', loader);
    await sharing.run('key', loader);

    expect(loader).toHaveBeenCalledTimes(2);
  });

  test('failed call is not reused', async () => {
    const sharing = new LocalCallSharing();
    const loader = jest.fn().mockRejectedValueOnce(unavailable()).mockResolvedValueOnce('value');

    await rejectionOf(sharing.run('key', loader));
    const value = await sharing.run('key', loader);

    expect(value).toBe('value');
  });

  test('different keys do not share', async () => {
    const sharing = new LocalCallSharing();
    const loader = jest.fn(async () => 'value');

    await Promise.all([sharing.run('a', loader), sharing.run('b', loader)]);

    expect(loader).toHaveBeenCalledTimes(2);
  });
});

describe('UpstreamCache purge during a call', () => {
  const OTHER_TENANT_KEY = 't:ck-test-0002:hub:examplens/app:repository';

  test('call in flight at purge not stored', async () => {
    const { cache, backend } = setup();
    const response = deferred<string>();
    const view = cache.load(KEY, 'docker-hub', POLICY, deadlineIn(5 * SECOND), () => response.promise);

    await cache.deleteByPrefix('t:ck-test-0001:');
    response.resolve('fetched before the purge');

    expect(await view).toMatchObject({ value: 'fetched before the purge', stale: false });
    await flushPendingWork();
    expect(await backend.get(KEY)).toBeUndefined();
  });

  test('404 in flight at purge not remembered', async () => {
    const { cache, backend } = setup();
    const response = deferred<string>();
    const view = cache.load(KEY, 'docker-hub', POLICY, deadlineIn(5 * SECOND), () =>
      response.promise.then(() => Promise.reject(notFound())),
    );

    cache.notePurge('t:ck-test-0001:');
    response.resolve('');

    expect(await rejectionOf(view)).toBeInstanceOf(UpstreamError);
    await flushPendingWork();
    expect(await backend.get(KEY)).toBeUndefined();
  });

  test('other tenant call still stored', async () => {
    const { cache, backend } = setup();
    const response = deferred<string>();
    const view = cache.load(OTHER_TENANT_KEY, 'docker-hub', POLICY, deadlineIn(5 * SECOND), () => response.promise);

    await cache.deleteByPrefix('t:ck-test-0001:');
    response.resolve('other tenant');
    await view;
    await flushPendingWork();

    expect((await backend.get(OTHER_TENANT_KEY))?.value).toBe('other tenant');
  });

  test('call started after purge stored', async () => {
    const { cache, backend } = setup();
    await cache.deleteByPrefix('t:ck-test-0001:');

    await cache.load(KEY, 'docker-hub', POLICY, deadlineIn(5 * SECOND), async () => 'fetched after the purge');

    expect((await backend.get(KEY))?.value).toBe('fetched after the purge');
  });

  test('purge mark reports later purges only', () => {
    const { cache, clock } = setup();
    cache.notePurge('t:ck-test-0001:');
    const mark = cache.purgeMark();

    expect(cache.purgedSince(KEY, mark)).toBe(false);
    clock.advance(SECOND);
    cache.notePurge('t:ck-test-0002:');
    expect(cache.purgedSince(KEY, mark)).toBe(false);
    expect(cache.purgedSince(OTHER_TENANT_KEY, mark)).toBe(true);
  });
});
