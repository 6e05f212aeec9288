/**
 * Gathers everything the panel shows for one repository: the config file from
 * Bitbucket, then the image from Docker Hub and the main branch's build statuses.
 * Independent of the host framework: it takes credentials and a repository and
 * returns plain data.
 */
import { LRUCache } from 'lru-cache';
import { BitbucketClient, BitbucketCommitStatus, BitbucketCredentials, RepositoryPath } from './bitbucket';
import { Cached, CachePolicy, deleteKeysWithPrefix, UpstreamCache } from './cache';
import { CONFIG_FILE_NAME, ConfigFileResult, ConfigNote, parseConfigFile } from './config-file';
import { DockerHubClient, HubBuild, HubRepository, HubTagPage } from './docker-hub';
import { isUpstreamError, UpstreamError } from './errors';
import { ImageRef, InvalidImageReference, parseImageReference } from './image-ref';

const SECOND_MS = 1000;
const MINUTE_MS = 60 * SECOND_MS;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

export interface CacheLifetimes {
  /** Freshness of Bitbucket responses (main branch, config file, head commit, statuses): served without a call. */
  bitbucketFreshMs: number;
  /** Freshness of Docker Hub responses (repository, tags): served without a call. */
  dockerHubFreshMs: number;
  /** How long a 404 is remembered, so that a missing image does not cost a call per view. */
  notFoundMs: number;
  /** Retention of a response, shown marked stale when its upstream fails. */
  staleKeepMs: number;
}

export const DEFAULT_CACHE_LIFETIMES: CacheLifetimes = {
  bitbucketFreshMs: MINUTE_MS,
  dockerHubFreshMs: 5 * MINUTE_MS,
  notFoundMs: MINUTE_MS,
  staleKeepMs: DAY_MS,
};

/** Cache policy per upstream endpoint, derived from the configured lifetimes. */
export function cachePolicies(lifetimes: CacheLifetimes) {
  const bitbucket = { freshMs: lifetimes.bitbucketFreshMs, keepMs: lifetimes.staleKeepMs, notFoundMs: lifetimes.notFoundMs };
  const dockerHub = { freshMs: lifetimes.dockerHubFreshMs, keepMs: lifetimes.staleKeepMs, notFoundMs: lifetimes.notFoundMs };
  return {
    // The main branch rarely changes, so it is kept ten times longer than other Bitbucket responses.
    mainBranch: { ...bitbucket, freshMs: bitbucket.freshMs * 10 },
    configFile: bitbucket,
    // A file read at a commit hash never changes, so it stays fresh as long as it is kept.
    configFileAtCommit: { ...bitbucket, freshMs: bitbucket.keepMs },
    branchHead: { ...bitbucket, freshMs: Math.ceil(bitbucket.freshMs / 2) },
    commitStatuses: { ...bitbucket, freshMs: Math.ceil(bitbucket.freshMs / 2) },
    hubRepository: dockerHub,
    hubTags: dockerHub,
    // Most images get a 404 here since Docker Hub retired classic autobuilds, so that 404 is kept an hour.
    hubBuild: { ...dockerHub, freshMs: dockerHub.freshMs * 3, notFoundMs: Math.max(HOUR_MS, lifetimes.notFoundMs) },
  } satisfies Record<string, CachePolicy>;
}
type CachePolicies = ReturnType<typeof cachePolicies>;

export type Section<T> =
  | { state: 'ok'; value: T; storedAt: number; stale: boolean; staleReason?: UpstreamError }
  | { state: 'error'; error: UpstreamError };

/** Result of reading the config file, cached instead of the file's bytes. */
type ConfigLookup = ConfigFileResult | { kind: 'missing' } | { kind: 'redirected' } | { kind: 'too-large' };

/** Earlier response served because the upstream failed or was too slow. */
export interface Staleness {
  storedAt: number;
  reason?: UpstreamError;
}

export type PanelData =
  | { state: 'disabled'; repository: RepositoryPath; reason: 'no-file' | 'empty-repository'; bitbucketStale?: Staleness }
  | { state: 'bitbucket-error'; repository: RepositoryPath; error: UpstreamError }
  | { state: 'config-error'; repository: RepositoryPath; problem: string; line?: number; bitbucketStale?: Staleness }
  | {
      state: 'ready';
      /** Set when the main branch or the config file came from an earlier answer. */
      bitbucketStale?: Staleness;
      repository: RepositoryPath;
      image: ImageRef;
      imageSource: 'file' | 'default';
      notes: ConfigNote[];
      hubRepository: Section<HubRepository>;
      tags: Section<HubTagPage>;
      hubBuild: Section<HubBuild | undefined>;
      commitStatuses: Section<BitbucketCommitStatus[]>;
      branch: string;
    };

export interface PanelServiceOptions {
  bitbucket: BitbucketClient;
  dockerHub: DockerHubClient;
  cache: UpstreamCache;
  upstreamTimeoutMs: number;
  maxConfigFileBytes: number;
  cacheLifetimes?: CacheLifetimes;
  /** Maximum number of repositories whose last panel data is kept for reuse. Default 5,000; 0 keeps none. */
  maxSnapshots?: number;
}

/** Panel data with the time until which every cached response it was made from is fresh. */
interface Snapshot {
  data: PanelData;
  freshUntil: number;
}

export interface PanelRequest {
  credentials: BitbucketCredentials;
  repository: RepositoryPath;
  /** Epoch milliseconds by which the panel must be answered. */
  deadline: number;
}

export class PanelService {
  private readonly policies: CachePolicies;
  /**
   * The last data of each repository, returned again while every cached response
   * in it is fresh, because the cache would return the same responses. Loads that
   * saw a stale response or an error other than a remembered 404 leave no snapshot.
   */
  private readonly snapshots: LRUCache<string, Snapshot> | undefined;

  constructor(private readonly options: PanelServiceOptions) {
    this.policies = cachePolicies(options.cacheLifetimes ?? DEFAULT_CACHE_LIFETIMES);
    const maxSnapshots = options.maxSnapshots ?? 5_000;
    this.snapshots = maxSnapshots > 0 ? new LRUCache({ max: maxSnapshots }) : undefined;
  }

  /**
   * Returns the panel data of a repository. While the data of an earlier call is
   * still fresh, returns that same object, so callers may reuse what they built from it.
   */
  async load(request: PanelRequest): Promise<PanelData> {
    const snapshotKey = `${tenantCachePrefix(request.credentials.clientKey)}${request.repository.workspace}/${request.repository.slug}`;
    const snapshot = this.snapshots?.get(snapshotKey);
    if (snapshot && Date.now() < snapshot.freshUntil) {
      return snapshot.data;
    }
    const purgeMark = this.options.cache.purgeMark();
    const freshness = new FreshnessTracker();
    const data = await this.loadFromCache(request, freshness);
    if (!this.snapshots) {
      return data;
    }
    // Data loaded across an uninstall must not outlive the purge that the uninstall made.
    if (Date.now() < freshness.freshUntil && !this.options.cache.purgedSince(snapshotKey, purgeMark)) {
      this.snapshots.set(snapshotKey, { data, freshUntil: freshness.freshUntil });
    } else if (snapshot) {
      this.snapshots.delete(snapshotKey);
    }
    return data;
  }

  /** Drops the snapshots of one tenant, or of all tenants, so that their next views read the cache again. */
  forgetSnapshots(clientKey?: string): void {
    if (!this.snapshots) {
      return;
    }
    if (clientKey === undefined) {
      this.snapshots.clear();
      return;
    }
    deleteKeysWithPrefix(this.snapshots, tenantCachePrefix(clientKey));
  }

  private async loadFromCache(request: PanelRequest, freshness: FreshnessTracker): Promise<PanelData> {
    const { repository } = request;
    const keys = new CacheKeys(request.credentials.clientKey, repository);
    const bitbucket = new BitbucketCalls(this.options, this.policies, request, keys, freshness);

    let branch: string | null;
    let bitbucketStale: Staleness | undefined;
    try {
      const cached = await bitbucket.mainBranch();
      branch = cached.value;
      bitbucketStale = oldestStale(bitbucketStale, cached);
    } catch (error) {
      return { state: 'bitbucket-error', repository, error: asUpstreamError(error) };
    }
    if (branch === null) {
      return { state: 'disabled', repository, reason: 'empty-repository', bitbucketStale };
    }

    // Bitbucket's src endpoint reads a branch name with "/" as part of the file path, even
    // when the "/" is percent-encoded (reported in MunifTanjim/node-bitbucket#141 and
    // CenterForOpenScience/waterbutler#377), so the file is read at the head commit instead.
    // NOTE: a cold view of such a repository takes one more sequential round trip than others.
    const head = bitbucket.branchHead(branch);
    const configLookup = branch.includes('/')
      ? head.then((cached) => bitbucket.configFileAtCommit(cached.value))
      : bitbucket.configFile(branch);
    head.catch(() => undefined);

    let lookup: ConfigLookup;
    try {
      const cached = await configLookup;
      lookup = cached.value;
      bitbucketStale = oldestStale(bitbucketStale, cached);
    } catch (error) {
      return { state: 'bitbucket-error', repository, error: asUpstreamError(error) };
    }
    const resolved = this.resolveImage(lookup, repository);
    if (resolved.state !== 'resolved') {
      return { ...resolved.data, bitbucketStale } as PanelData;
    }

    const image = resolved.image;
    const hub = new DockerHubCalls(this.options, this.policies, request, image, keys.hub(image), freshness);
    const statuses = head.then(async (cachedHead) => {
      const cached = await bitbucket.commitStatuses(cachedHead.value);
      // Statuses of a head commit that may be out of date are out of date too.
      return cachedHead.stale && !cached.stale ? { ...cached, stale: true, storedAt: cachedHead.storedAt, error: cachedHead.error } : cached;
    });
    const [hubRepository, tags, hubBuild, commitStatuses] = await Promise.all([
      settle(hub.repository()),
      settle(hub.tags()),
      settle(hub.latestBuild()),
      settle(statuses),
    ]);
    return {
      state: 'ready',
      bitbucketStale,
      repository,
      image,
      imageSource: resolved.source,
      notes: resolved.notes,
      hubRepository,
      tags,
      hubBuild,
      commitStatuses,
      branch,
    };
  }

  private resolveImage(
    lookup: ConfigLookup,
    repository: RepositoryPath,
  ):
    | { state: 'resolved'; image: ImageRef; source: 'file' | 'default'; notes: ConfigNote[] }
    | { state: 'stop'; data: PanelData } {
    const stop = (data: PanelData) => ({ state: 'stop' as const, data });
    switch (lookup.kind) {
      case 'missing':
        return stop({ state: 'disabled', repository, reason: 'no-file' });
      case 'redirected':
        return stop({
          state: 'config-error',
          repository,
          problem: 'Bitbucket redirected the file, which happens when it is kept in Git LFS; commit it as a regular file',
        });
      case 'too-large':
        return stop({
          state: 'config-error',
          repository,
          problem: `the file is larger than ${Math.floor(this.options.maxConfigFileBytes / 1024)} KiB`,
        });
      case 'invalid':
        return stop({ state: 'config-error', repository, problem: lookup.problem, line: lookup.line });
      case 'valid':
        break;
    }
    if (lookup.image) {
      return { state: 'resolved', image: lookup.image, source: 'file', notes: lookup.notes };
    }
    const defaultName = `${repository.workspace}/${repository.slug}`.toLowerCase();
    try {
      return { state: 'resolved', image: parseImageReference(defaultName), source: 'default', notes: lookup.notes };
    } catch (error) {
      if (!(error instanceof InvalidImageReference)) throw error;
      return stop({
        state: 'config-error',
        repository,
        problem: `the default image name ${defaultName} is not valid on Docker Hub; set "repository: namespace/name" in the file`,
      });
    }
  }
}

class CacheKeys {
  private readonly tenantPrefix: string;
  private readonly prefix: string;

  constructor(clientKey: string, repository: RepositoryPath) {
    const repositoryKey = `${repository.workspace}/${repository.slug}`.toLowerCase();
    this.tenantPrefix = tenantCachePrefix(clientKey);
    this.prefix = `${this.tenantPrefix}bb:${repositoryKey}:`;
  }

  bitbucket(name: string): string {
    return `${this.prefix}${name}`;
  }

  /** Docker Hub answers depend on the image only, so repositories of one tenant that name the same image share them. */
  hub(image: ImageRef): (name: string) => string {
    return (name) => `${this.tenantPrefix}hub:${image.namespace}/${image.name}:${name}`;
  }
}

/** Returns the prefix of every cache key of a tenant; the clientKey is encoded so that no tenant's prefix matches another's keys. */
export function tenantCachePrefix(clientKey: string): string {
  return `t:${encodeURIComponent(clientKey)}:`;
}

class BitbucketCalls {
  constructor(
    private readonly options: PanelServiceOptions,
    private readonly policies: CachePolicies,
    private readonly request: PanelRequest,
    private readonly keys: CacheKeys,
    private readonly freshness: FreshnessTracker,
  ) {}

  mainBranch(): Promise<Cached<string | null>> {
    return this.cached('main-branch', this.policies.mainBranch, (deadline) =>
      this.options.bitbucket.getMainBranch(this.request.credentials, this.request.repository, deadline),
    );
  }

  branchHead(branch: string): Promise<Cached<string>> {
    return this.cached(`head:${branch}`, this.policies.branchHead, (deadline) =>
      this.options.bitbucket.getBranchHead(this.request.credentials, this.request.repository, branch, deadline),
    );
  }

  configFile(branch: string): Promise<Cached<ConfigLookup>> {
    return this.readConfigFile(branch, this.policies.configFile);
  }

  configFileAtCommit(hash: string): Promise<Cached<ConfigLookup>> {
    return this.readConfigFile(hash, this.policies.configFileAtCommit);
  }

  private readConfigFile(revision: string, policy: CachePolicy): Promise<Cached<ConfigLookup>> {
    return this.cached(`config:${revision}`, policy, async (deadline) => {
      const { credentials, repository } = this.request;
      const file = await this.options.bitbucket.readFile(credentials, repository, revision, CONFIG_FILE_NAME, deadline);
      if (file.kind !== 'found') return file;
      if (file.tooLarge) return { kind: 'too-large' };
      return parseConfigFile(file.bytes);
    });
  }

  commitStatuses(hash: string): Promise<Cached<BitbucketCommitStatus[]>> {
    return this.cached(`statuses:${hash}`, this.policies.commitStatuses, (deadline) =>
      this.options.bitbucket.getCommitStatuses(this.request.credentials, this.request.repository, hash, deadline),
    );
  }

  private cached<T>(name: string, policy: CachePolicy, call: (deadline: number) => Promise<T>) {
    const loaded = this.options.cache.load(this.keys.bitbucket(name), 'bitbucket', policy, this.request.deadline, () =>
      call(Date.now() + this.options.upstreamTimeoutMs),
    );
    return this.freshness.track(loaded);
  }
}

class DockerHubCalls {
  constructor(
    private readonly options: PanelServiceOptions,
    private readonly policies: CachePolicies,
    private readonly request: PanelRequest,
    private readonly image: ImageRef,
    private readonly key: (name: string) => string,
    private readonly freshness: FreshnessTracker,
  ) {}

  repository() {
    return this.cached('repository', this.policies.hubRepository, (image, deadline) =>
      this.options.dockerHub.getRepository(image, deadline),
    );
  }

  tags() {
    return this.cached('tags', this.policies.hubTags, (image, deadline) => this.options.dockerHub.listTags(image, deadline));
  }

  latestBuild() {
    return this.cached('build', this.policies.hubBuild, (image, deadline) =>
      this.options.dockerHub.getLatestBuild(image, deadline),
    );
  }

  private cached<T>(name: string, policy: CachePolicy, call: (image: ImageRef, deadline: number) => Promise<T>) {
    const loaded = this.options.cache.load(this.key(name), 'docker-hub', policy, this.request.deadline, () =>
      call(this.image, Date.now() + this.options.upstreamTimeoutMs),
    );
    return this.freshness.track(loaded);
  }
}

/** Finds the earliest time until which every response of one load is fresh. */
class FreshnessTracker {
  freshUntil = Infinity;

  /** Returns `loaded` unchanged after noting how long its response stays fresh. */
  track<T>(loaded: Promise<Cached<T>>): Promise<Cached<T>> {
    return loaded.then(
      (cached) => {
        this.freshUntil = Math.min(this.freshUntil, cached.stale ? -Infinity : cached.freshUntil);
        return cached;
      },
      (error: unknown) => {
        // Only a 404 that the cache remembers comes back unchanged; the cache retries any other failure.
        const rememberedUntil = isUpstreamError(error, 'not-found') ? error.rememberedUntil : undefined;
        this.freshUntil = Math.min(this.freshUntil, rememberedUntil ?? -Infinity);
        throw error;
      },
    );
  }
}

function oldestStale(current: Staleness | undefined, cached: Cached<unknown>): Staleness | undefined {
  if (!cached.stale || (current && current.storedAt <= cached.storedAt)) {
    return current;
  }
  return { storedAt: cached.storedAt, reason: cached.error };
}

async function settle<T>(promise: Promise<Cached<T>>): Promise<Section<T>> {
  try {
    const cached = await promise;
    return { state: 'ok', value: cached.value, storedAt: cached.storedAt, stale: cached.stale, staleReason: cached.error };
  } catch (error) {
    return { state: 'error', error: asUpstreamError(error) };
  }
}

function asUpstreamError(error: unknown): UpstreamError {
  if (isUpstreamError(error)) return error;
  throw error;
}
