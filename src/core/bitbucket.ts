/**
 * Bitbucket Cloud REST API 2.0 client, signed as the add-on: `Authorization: JWT`
 * with `iss` = add-on key, `sub` = the tenant's clientKey and a query string hash
 * over the exact request. Requests go to the tenant's `baseApiUrl`.
 */
import { createSecretKey } from 'node:crypto';
import { createQueryStringHash, fromMethodAndUrl } from 'atlassian-jwt';
import jwt from 'jsonwebtoken';
import { z } from 'zod';
import { UpstreamError } from './errors';
import { errorForStatus, fetchBounded, parseJsonBody } from './http-client';

const MAX_JSON_BYTES = 512 * 1024;
const TOKEN_LIFETIME_SECONDS = 180;
export const STATUSES_PAGE_LENGTH = 10;

export interface BitbucketCredentials {
  appKey: string;
  clientKey: string;
  sharedSecret: string;
  baseApiUrl: string;
}

/** A repository as `workspace/repo_slug`, both parts checked by parseRepositoryPath. */
export interface RepositoryPath {
  workspace: string;
  slug: string;
}

const SLUG_PATTERN = /^[A-Za-z0-9_.-]{1,128}$/;

/** Parses `{repository.full_name}` from the panel URL; returns undefined when it is not `workspace/slug`. */
export function parseRepositoryPath(fullName: unknown): RepositoryPath | undefined {
  if (typeof fullName !== 'string') return undefined;
  const parts = fullName.split('/');
  if (parts.length !== 2) return undefined;
  const [workspace, slug] = parts;
  const valid = (part: string) => SLUG_PATTERN.test(part) && part !== '.' && part !== '..';
  return valid(workspace) && valid(slug) ? { workspace, slug } : undefined;
}

const repositorySchema = z.object({
  // The branch name goes into later request paths, so it is bounded; encodeURIComponent does the rest.
  mainbranch: z.object({ name: z.string().min(1).max(255).regex(/^[^\u0000-\u001f\u007f]+$/) }).nullable().optional(),
});
const branchSchema = z.object({
  target: z.object({ hash: z.string().regex(/^[0-9a-f]{7,64}$/i) }),
});
const statusSchema = z.object({
  // A missing or non-text state is a state the add-on does not know, shown as unknown like any other.
  state: z.string().catch(''),
  key: z.string().nullable().catch(null).optional(),
  name: z.string().nullable().catch(null).optional(),
  url: z.string().nullable().catch(null).optional(),
  updated_on: z.string().nullable().catch(null).optional(),
  created_on: z.string().nullable().catch(null).optional(),
});
// An entry that is not an object is dropped, so that it does not hide the others.
const statusPageSchema = z.object({
  values: z
    .array(z.unknown())
    .transform((entries) => entries.flatMap((entry) => {
      const parsed = statusSchema.safeParse(entry);
      return parsed.success ? [parsed.data] : [];
    })),
});
export type BitbucketCommitStatus = z.infer<typeof statusSchema>;

export type FileReadResult =
  | { kind: 'found'; bytes: Buffer; tooLarge: boolean }
  | { kind: 'missing' }
  /** Bitbucket redirects files kept in Git LFS to a media host; the add-on does not follow. */
  | { kind: 'redirected' };

export interface BitbucketClientOptions {
  userAgent: string;
  maxFileBytes: number;
}

export class BitbucketClient {
  constructor(private readonly options: BitbucketClientOptions) {}

  /** Returns the repository's main branch name, or null for a repository with no commits. */
  async getMainBranch(credentials: BitbucketCredentials, repository: RepositoryPath, deadline: number) {
    const body = await this.getJson(credentials, repositoryUrlPath(repository), deadline, repositorySchema);
    return body.mainbranch?.name ?? null;
  }

  async getBranchHead(credentials: BitbucketCredentials, repository: RepositoryPath, branch: string, deadline: number) {
    const path = `${repositoryUrlPath(repository)}/refs/branches/${encodeURIComponent(branch)}`;
    const body = await this.getJson(credentials, path, deadline, branchSchema);
    return body.target.hash;
  }

  async getCommitStatuses(credentials: BitbucketCredentials, repository: RepositoryPath, hash: string, deadline: number) {
    const path = `${repositoryUrlPath(repository)}/commit/${encodeURIComponent(hash)}/statuses?pagelen=${STATUSES_PAGE_LENGTH}`;
    const body = await this.getJson(credentials, path, deadline, statusPageSchema);
    // A response with more entries than requested is cut, so that the sidebar stays bounded.
    return body.values.slice(0, STATUSES_PAGE_LENGTH);
  }

  /**
   * Checks new credentials by listing one repository of the workspace. Bitbucket
   * returns 401 or 403 when the shared secret is not the one it issued.
   */
  async checkCredentials(credentials: BitbucketCredentials, workspaceUuid: string, deadline: number) {
    const path = `/2.0/repositories/${encodeURIComponent(workspaceUuid)}?pagelen=1`;
    const response = await this.signedGet(credentials, path, deadline, MAX_JSON_BYTES);
    if (response.status === 200) return 'confirmed';
    if (response.status === 401 || response.status === 403) return 'rejected';
    throw errorForStatus('bitbucket', response);
  }

  /** Reads a file at a branch name or commit hash, stopping after `maxFileBytes`. */
  async readFile(
    credentials: BitbucketCredentials,
    repository: RepositoryPath,
    revision: string,
    filePath: string,
    deadline: number,
  ): Promise<FileReadResult> {
    const encodedPath = filePath.split('/').map(encodeURIComponent).join('/');
    const path = `${repositoryUrlPath(repository)}/src/${encodeURIComponent(revision)}/${encodedPath}`;
    const response = await this.signedGet(credentials, path, deadline, this.options.maxFileBytes, '*/*');
    if (response.status === 404) {
      return { kind: 'missing' };
    }
    if (response.status >= 300 && response.status < 400) {
      return { kind: 'redirected' };
    }
    if (response.status !== 200) {
      throw errorForStatus('bitbucket', response);
    }
    return { kind: 'found', bytes: response.body, tooLarge: response.tooLarge };
  }

  private async getJson<T>(credentials: BitbucketCredentials, path: string, deadline: number, schema: z.ZodType<T, z.ZodTypeDef, unknown>) {
    const response = await this.signedGet(credentials, path, deadline, MAX_JSON_BYTES);
    if (response.status !== 200) {
      throw errorForStatus('bitbucket', response);
    }
    return parseJsonBody('bitbucket', response, schema);
  }

  /** Sends a GET signed for exactly `path` to the tenant's API host. */
  private signedGet(credentials: BitbucketCredentials, path: string, deadline: number, maxBytes: number, accept?: string) {
    const headers: Record<string, string> = { Authorization: `JWT ${signRequest(credentials, path)}` };
    if (accept) headers.Accept = accept;
    return fetchBounded({
      service: 'bitbucket',
      url: `${credentials.baseApiUrl.replace(/\/+$/, '')}${path}`,
      headers,
      deadline,
      maxBytes,
      userAgent: this.options.userAgent,
    });
  }
}

function repositoryUrlPath(repository: RepositoryPath): string {
  return `/2.0/repositories/${encodeURIComponent(repository.workspace)}/${encodeURIComponent(repository.slug)}`;
}

/** Signs one request; `pathAndQuery` must be exactly what is sent, already percent-encoded. */
export function signRequest(credentials: BitbucketCredentials, pathAndQuery: string, now = Date.now()): string {
  const issuedAt = Math.floor(now / 1000);
  const qsh = createQueryStringHash(fromMethodAndUrl('GET', pathAndQuery));
  return jwt.sign(
    { iss: credentials.appKey, sub: credentials.clientKey, iat: issuedAt, exp: issuedAt + TOKEN_LIFETIME_SECONDS, qsh },
    // A KeyObject skips jsonwebtoken 9's failed attempt to parse a string secret as a PEM private key.
    createSecretKey(Buffer.from(credentials.sharedSecret, 'utf8')),
    { algorithm: 'HS256' },
  );
}

export function isBitbucketError(error: unknown): error is UpstreamError {
  return error instanceof UpstreamError && error.service === 'bitbucket';
}
