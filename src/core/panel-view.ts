/**
 * Turns PanelData into the strings the panel template shows. Pure: the clock is a
 * parameter, so tests can pin every output.
 */
import { BitbucketCommitStatus } from './bitbucket';
import { CONFIG_FILE_NAME } from './config-file';
import { HubBuild, hubBuildState, HubRepository, HubTagPage } from './docker-hub';
import { UpstreamError } from './errors';
import {
  formatBytes,
  formatCount,
  formatExactCount,
  formatExactTime,
  formatRelativeTime,
  parseTimestamp,
  relativeTimeChangesAt,
} from './format';
import { dockerHubPagePath, formatImageRef, isOfficialImage } from './image-ref';
import { PanelData, Section } from './panel-service';

export type BuildState = 'passing' | 'failing' | 'cancelled' | 'in-progress' | 'stopped' | 'unknown';

const BUILD_STATE_LABELS: Record<BuildState, string> = {
  passing: 'Passed',
  failing: 'Failed',
  cancelled: 'Cancelled',
  'in-progress': 'In progress',
  stopped: 'Stopped',
  unknown: 'Unknown',
};

export interface TimeView {
  relative: string;
  exact: string;
}

export interface CountView {
  compact: string;
  exact: string;
}

export interface BuildView {
  state: BuildState;
  label: string;
  name: string;
  url?: string;
  time?: TimeView;
}

export interface NoticeView {
  level: 'info' | 'warning' | 'error';
  text: string;
}

export interface PanelView {
  state: PanelData['state'];
  repositoryName: string;
  /** Notice shown when the repository's config or main branch came from an earlier response. */
  bitbucketStaleNotice?: NoticeView;
  /** Shown alone when the panel has nothing else to show. */
  notice?: NoticeView;
  configLine?: number;
  image?: {
    reference: string;
    url: string;
    official: boolean;
    source: 'file' | 'default';
  };
  notes: NoticeView[];
  summary?: {
    description?: string;
    stars: CountView | null;
    pulls: CountView | null;
    lastPushed?: TimeView;
    isPrivate: boolean | null;
    automated: boolean | null;
  };
  summaryNotice?: NoticeView;
  tags?: Array<{ name: string; pushed?: TimeView; size?: string; architectures: string }>;
  tagsNotice?: NoticeView;
  hubBuild?: BuildView;
  hubBuildNotice?: NoticeView;
  commitBuilds?: BuildView[];
  commitBuildsNotice?: NoticeView;
  branch?: string;
}

export interface PanelViewOptions {
  /** Epoch milliseconds that relative times are measured from. */
  now: number;
  dockerHubWebUrl: string;
}

export function buildPanelView(data: PanelData, options: PanelViewOptions): PanelView {
  return buildPanelViewWithLifetime(data, options).view;
}

/**
 * Builds the view and returns with it the first instant at which building it
 * again from the same data may give another view, because a relative time such
 * as "5 minutes ago" moves on. Until then the view, and the page rendered from
 * it, can be reused.
 */
export function buildPanelViewWithLifetime(data: PanelData, options: PanelViewOptions): { view: PanelView; validUntil: number } {
  const clock = new ViewClock(options.now);
  const view = buildView(data, options, clock);
  return { view, validUntil: clock.validUntil };
}

function buildView(data: PanelData, options: PanelViewOptions, clock: ViewClock): PanelView {
  const repositoryName = `${data.repository.workspace}/${data.repository.slug}`;
  const stale = data.state === 'bitbucket-error' ? undefined : data.bitbucketStale;
  const bitbucketStaleNotice = stale
    ? {
        level: 'warning' as const,
        text: `Repository settings from ${formatAge(stale.storedAt, clock)}${stale.reason ? `: ${shortReason(stale.reason, clock)}` : ''}`,
      }
    : undefined;
  const base = { state: data.state, repositoryName, notes: [], bitbucketStaleNotice };
  switch (data.state) {
    case 'disabled':
      return {
        ...base,
        notice: {
          level: 'info',
          text:
            data.reason === 'empty-repository'
              ? `This repository has no commits yet. Commit ${CONFIG_FILE_NAME} at its root to show its Docker Hub image here.`
              : `Docker Hub is off for this repository. To turn it on, commit ${CONFIG_FILE_NAME} at the root of the main branch.`,
        },
      };
    case 'bitbucket-error':
      return { ...base, notice: { level: 'error', text: bitbucketErrorText(data.error, clock) } };
    case 'config-error':
      return {
        ...base,
        configLine: data.line,
        notice: {
          level: 'error',
          text: `${CONFIG_FILE_NAME}${data.line ? ` line ${data.line}` : ''}: ${data.problem}`,
        },
      };
    case 'ready':
      return readyView(data, base, options, clock);
  }
}

function readyView(
  data: Extract<PanelData, { state: 'ready' }>,
  base: Pick<PanelView, 'state' | 'repositoryName' | 'notes'>,
  options: PanelViewOptions,
  clock: ViewClock,
): PanelView {
  const reference = formatImageRef(data.image);
  const view: PanelView = {
    ...base,
    image: {
      reference,
      url: `${options.dockerHubWebUrl.replace(/\/+$/, '')}${dockerHubPagePath(data.image)}`,
      official: isOfficialImage(data.image),
      source: data.imageSource,
    },
    notes: data.notes.map((note) => ({
      level: 'warning' as const,
      text: `${CONFIG_FILE_NAME}${note.line ? ` line ${note.line}` : ''}: ${note.message}`,
    })),
    branch: data.branch,
  };

  const repository = data.hubRepository;
  if (repository.state === 'ok') {
    view.summary = summaryView(repository.value, clock);
    view.summaryNotice = staleNotice(repository, clock);
  } else {
    view.summaryNotice = { level: 'error', text: hubErrorText(repository.error, reference, data.imageSource, clock) };
  }

  if (data.tags.state === 'ok') {
    view.tags = tagsView(data.tags.value, clock);
    // One stale notice covers both when the repository and its tags are stale together.
    const summaryStale = repository.state === 'ok' && repository.stale;
    const tagsStale = summaryStale ? undefined : staleNotice(data.tags, clock);
    view.tagsNotice = tagsStale ?? (view.tags.length === 0 ? info('No tags pushed yet.') : undefined);
  } else if (repository.state === 'ok' || data.tags.error.kind !== repository.error.kind) {
    view.tagsNotice = { level: 'error', text: `Tags: ${hubErrorText(data.tags.error, reference, data.imageSource, clock)}` };
  }

  Object.assign(view, hubBuildView(data.hubBuild, clock));
  Object.assign(view, commitBuildsView(data.commitStatuses, data.branch, clock));
  return view;
}

function summaryView(repository: HubRepository, clock: ViewClock): PanelView['summary'] {
  return {
    description: repository.description?.trim() || undefined,
    stars: countView(repository.star_count),
    pulls: countView(repository.pull_count),
    lastPushed: timeView(repository.last_updated, clock),
    isPrivate: repository.is_private,
    automated: repository.is_automated,
  };
}

function tagsView(page: HubTagPage, clock: ViewClock): NonNullable<PanelView['tags']> {
  return page.tags.map((tag) => {
    const architectures = new Set<string>();
    for (const image of tag.images) {
      if (image.architecture && image.architecture !== 'unknown') {
        architectures.add(image.variant ? `${image.architecture}/${image.variant}` : image.architecture);
      }
    }
    return {
      name: tag.name,
      pushed: timeView(tag.tag_last_pushed ?? tag.last_updated, clock),
      size: tag.full_size === null ? undefined : formatBytes(tag.full_size),
      architectures: [...architectures].sort().join(', '),
    };
  });
}

function hubBuildView(section: Section<HubBuild | undefined>, clock: ViewClock): Partial<PanelView> {
  if (section.state === 'error') {
    if (section.error.kind === 'not-found') {
      return { hubBuildNotice: info('Docker Hub does not publish build results for this image.') };
    }
    return { hubBuildNotice: { level: 'warning', text: `Docker Hub build results: ${shortReason(section.error, clock)}` } };
  }
  if (section.value === undefined) {
    return { hubBuildNotice: info('Docker Hub lists no automated builds for this image.') };
  }
  const build = section.value;
  const state = hubBuildState(build.status);
  return {
    hubBuild: {
      state,
      label: BUILD_STATE_LABELS[state],
      name: build.dockertag_name ? `Docker Hub automated build of ${build.dockertag_name}` : 'Docker Hub automated build',
      time: timeView(build.last_updated ?? build.created_date, clock),
    },
    hubBuildNotice: staleNotice(section, clock),
  };
}

function commitBuildsView(section: Section<BitbucketCommitStatus[]>, branch: string, clock: ViewClock): Partial<PanelView> {
  if (section.state === 'error') {
    return { commitBuildsNotice: { level: 'warning', text: `Bitbucket build statuses: ${shortReason(section.error, clock)}` } };
  }
  const builds = section.value.map((status) => {
    const state = bitbucketBuildState(status.state);
    return {
      state,
      label: BUILD_STATE_LABELS[state],
      name: status.name?.trim() || status.key?.trim() || 'Build',
      url: safeLink(status.url),
      time: timeView(status.updated_on ?? status.created_on, clock),
    };
  });
  const notice = staleNotice(section, clock) ?? (builds.length === 0 ? info(`No builds reported for the head commit of ${branch}.`) : undefined);
  return { commitBuilds: builds, commitBuildsNotice: notice };
}

/** Maps Bitbucket's commit status states. Any other state maps to unknown, never to failing. */
export function bitbucketBuildState(state: string): BuildState {
  switch (state.toUpperCase()) {
    case 'SUCCESSFUL':
      return 'passing';
    case 'FAILED':
      return 'failing';
    case 'INPROGRESS':
      return 'in-progress';
    case 'STOPPED':
      return 'stopped';
    default:
      return 'unknown';
  }
}

function countView(value: number | null): CountView | null {
  return value === null ? null : { compact: formatCount(value), exact: formatExactCount(value) };
}

function timeView(value: string | null | undefined, clock: ViewClock): TimeView | undefined {
  const epochMs = parseTimestamp(value);
  return epochMs === undefined ? undefined : { relative: clock.relative(epochMs), exact: formatExactTime(epochMs) };
}

function staleNotice(section: Section<unknown>, clock: ViewClock): NoticeView | undefined {
  if (section.state !== 'ok' || !section.stale) {
    return undefined;
  }
  const age = formatAge(section.storedAt, clock);
  const reason = section.staleReason ? `: ${shortReason(section.staleReason, clock)}` : '';
  return { level: 'warning', text: `Stale data from ${age}${reason}` };
}

/** Formats when a cached response was stored, for "Stale data from …". */
function formatAge(storedAt: number, clock: ViewClock): string {
  const relative = clock.relative(storedAt);
  return relative === 'just now' ? 'a few seconds ago' : relative;
}

function hubErrorText(error: UpstreamError, reference: string, source: 'file' | 'default', clock: ViewClock): string {
  if (error.kind === 'not-found') {
    const hint =
      source === 'default'
        ? ` The name comes from the repository; set "repository: namespace/name" in ${CONFIG_FILE_NAME} to choose another.`
        : '';
    return `Docker Hub has no public image ${reference}. It does not exist, or it is private.${hint}`;
  }
  return shortReason(error, clock);
}

function bitbucketErrorText(error: UpstreamError, clock: ViewClock): string {
  switch (error.kind) {
    case 'not-found':
      return 'Bitbucket did not find this repository, or the add-on has no access to it.';
    case 'unauthorized':
      return `Could not read ${CONFIG_FILE_NAME}: Bitbucket rejected the add-on's credentials. Reinstalling the add-on may help.`;
    default:
      return `Could not read ${CONFIG_FILE_NAME}: ${shortReason(error, clock)}`;
  }
}

function shortReason(error: UpstreamError, clock: ViewClock): string {
  const name = error.service === 'docker-hub' ? 'Docker Hub' : 'Bitbucket';
  switch (error.kind) {
    case 'rate-limited': {
      const retryAt = error.retryAt ?? clock.readNow();
      return `${name} is rate-limiting requests; data will refresh ${clock.relative(retryAt)} (${formatExactTime(retryAt)}).`;
    }
    case 'timeout':
      return `${name} did not answer in time. Try again in a few minutes.`;
    case 'unavailable':
      return `${name} is unavailable right now. Try again in a few minutes.`;
    case 'unauthorized':
      return `${name} rejected the add-on's credentials.`;
    case 'not-found':
      return `${name} has no such resource.`;
    case 'invalid-response':
      return `${name} sent an unexpected response.`;
  }
}

function safeLink(url: string | null | undefined): string | undefined {
  if (!url) return undefined;
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'https:' || parsed.protocol === 'http:' ? parsed.toString() : undefined;
  } catch {
    return undefined;
  }
}

/** The time a view is built at. It formats times relative to it and records until when those texts hold. */
class ViewClock {
  /** First instant at which a text made from this clock may change. */
  validUntil = Infinity;

  constructor(private readonly now: number) {}

  relative(epochMs: number): string {
    this.validUntil = Math.min(this.validUntil, relativeTimeChangesAt(epochMs, this.now));
    return formatRelativeTime(epochMs, this.now);
  }

  /** Returns the current time for a text that shows it; such a text holds for this instant only. */
  readNow(): number {
    this.validUntil = this.now;
    return this.now;
  }
}

function info(text: string): NoticeView {
  return { level: 'info', text };
}
