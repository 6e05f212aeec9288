/**
 * Docker Hub API client. Reads the repository, its newest tags and, where Docker Hub
 * still keeps it, the legacy automated-build history. Anonymous: the add-on shows
 * public images only.
 */
import { z } from 'zod';
import { UpstreamError } from './errors';
import { errorForStatus, fetchBounded, parseJsonBody, UpstreamResponse } from './http-client';
import { ImageRef } from './image-ref';
import { RateLimitGate } from './rate-limit';

/** Docker Hub returns repository objects of a few kilobytes, but full READMEs can reach hundreds. */
const MAX_RESPONSE_BYTES = 2 * 1024 * 1024;
/** Tags shown in the sidebar: one page of the newest, sized for a narrow column. */
export const TAGS_PAGE_SIZE = 5;

/** Counts arrive as JSON numbers; a digit string is read as a number, anything else as unknown. */
const count = z.preprocess((value) => {
  if (typeof value === 'string' && /^\d{1,20}$/.test(value)) return Number(value);
  return value;
}, z.number().int().nonnegative().nullable().catch(null));
const optionalText = z.string().nullable().catch(null);
const optionalTime = z.string().nullable().catch(null);
const optionalFlag = z.boolean().nullable().catch(null);

const repositorySchema = z.object({
  namespace: z.string(),
  name: z.string(),
  description: optionalText.optional().transform((value) => value ?? null),
  is_private: optionalFlag.optional().transform((value) => value ?? null),
  is_automated: optionalFlag.optional().transform((value) => value ?? null),
  star_count: count.optional().transform((value) => value ?? null),
  pull_count: count.optional().transform((value) => value ?? null),
  last_updated: optionalTime.optional().transform((value) => value ?? null),
  date_registered: optionalTime.optional().transform((value) => value ?? null),
});
export type HubRepository = z.infer<typeof repositorySchema>;

const imageSchema = z.object({
  architecture: optionalText.optional(),
  os: optionalText.optional(),
  variant: optionalText.optional(),
  size: count.optional(),
});
const tagSchema = z.object({
  name: z.string(),
  full_size: count.optional().transform((value) => value ?? null),
  last_updated: optionalTime.optional().transform((value) => value ?? null),
  tag_last_pushed: optionalTime.optional().transform((value) => value ?? null),
  images: z.array(imageSchema).catch([]).optional().transform((value) => value ?? []),
});
const tagPageSchema = z.object({
  count: count.optional(),
  results: z.array(tagSchema),
});
export type HubTag = z.infer<typeof tagSchema>;
export interface HubTagPage {
  total: number | null;
  tags: HubTag[];
}

const buildHistorySchema = z.object({
  results: z.array(
    z.object({
      status: z.number().int(),
      dockertag_name: optionalText.optional().transform((value) => value ?? null),
      created_date: optionalTime.optional().transform((value) => value ?? null),
      last_updated: optionalTime.optional().transform((value) => value ?? null),
    }),
  ),
});
export type HubBuild = z.infer<typeof buildHistorySchema>['results'][number];

export interface DockerHubClientOptions {
  baseUrl: string;
  userAgent: string;
  rateLimitGate: RateLimitGate;
}

export class DockerHubClient {
  private readonly baseUrl: string;

  constructor(private readonly options: DockerHubClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
  }

  getRepository(image: ImageRef, deadline: number): Promise<HubRepository> {
    return this.getJson(`${repositoryPath(image)}/`, deadline, repositorySchema);
  }

  async listTags(image: ImageRef, deadline: number): Promise<HubTagPage> {
    const query = `page_size=${TAGS_PAGE_SIZE}&ordering=last_updated`;
    const page = await this.getJson(`${repositoryPath(image)}/tags/?${query}`, deadline, tagPageSchema);
    return { total: page.count ?? null, tags: page.results.slice(0, TAGS_PAGE_SIZE) };
  }

  /** Returns the newest legacy autobuild, or undefined when Docker Hub lists none. */
  async getLatestBuild(image: ImageRef, deadline: number): Promise<HubBuild | undefined> {
    const history = await this.getJson(`${repositoryPath(image)}/buildhistory/?page_size=1`, deadline, buildHistorySchema);
    return history.results[0];
  }

  private async getJson<T>(path: string, deadline: number, schema: z.ZodType<T, z.ZodTypeDef, unknown>): Promise<T> {
    const pausedUntil = await this.options.rateLimitGate.pausedUntil();
    if (pausedUntil !== undefined) {
      throw new UpstreamError('docker-hub', 'rate-limited', 'paused after an earlier 429', { retryAt: pausedUntil });
    }
    const response = await fetchBounded({
      service: 'docker-hub',
      url: `${this.baseUrl}${path}`,
      deadline,
      maxBytes: MAX_RESPONSE_BYTES,
      userAgent: this.options.userAgent,
    });
    await this.checkStatus(response);
    return parseJsonBody('docker-hub', response, schema);
  }

  private async checkStatus(response: UpstreamResponse): Promise<void> {
    if (response.status === 200) {
      return;
    }
    const error = errorForStatus('docker-hub', response);
    if (error.kind === 'rate-limited' && error.retryAt !== undefined) {
      await this.options.rateLimitGate.pause(error.retryAt);
    }
    // Docker Hub returns 401 or 403 for private repositories it does not show anonymously.
    if (error.kind === 'unauthorized') {
      throw new UpstreamError('docker-hub', 'not-found', error.detail, { status: error.status });
    }
    throw error;
  }
}

function repositoryPath(image: ImageRef): string {
  // Both parts passed parseImageReference, so they hold only [a-z0-9._-]; encoding is a second guard.
  return `/v2/repositories/${encodeURIComponent(image.namespace)}/${encodeURIComponent(image.name)}`;
}

export type HubBuildState = 'passing' | 'failing' | 'cancelled' | 'in-progress' | 'unknown';

/**
 * Maps a legacy autobuild `status` code. Docker never documented the codes; 10 is
 * success, -4 cancelled, -1 and -2 failures and 0 to 9 the stages of a running
 * build, as third-party clients agree. Any other value is unknown, never failing.
 */
export function hubBuildState(status: number): HubBuildState {
  if (status === 10) return 'passing';
  if (status === -4) return 'cancelled';
  if (status === -1 || status === -2) return 'failing';
  if (status >= 0 && status <= 9) return 'in-progress';
  return 'unknown';
}
