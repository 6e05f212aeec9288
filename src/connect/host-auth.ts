/**
 * Verifies requests that Bitbucket signs for a tenant: the panel iframe and the
 * lifecycle callbacks. A token must be HS256, signed with the tenant's current
 * shared secret, unexpired within a small leeway, and carry the query string hash
 * of this exact request. Context tokens (`qsh: "context-qsh"`) are not accepted.
 */
import { createSecretKey, KeyObject } from 'node:crypto';
import { createQueryStringHash } from 'atlassian-jwt';
import type { Request } from 'express';
import jwt, { JwtPayload } from 'jsonwebtoken';
import { Tenant } from './tenants';

/** Rejection of a host request. The message is for the log only, because every client gets the same 401. */
export class HostAuthError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'HostAuthError';
  }
}

export interface HostAuthOptions {
  findTenant(clientKey: string): Promise<Tenant | undefined>;
  /** Path prefix of the add-on's base URL; removed before hashing when a request still carries it. */
  basePath: string;
  leewaySeconds: number;
}

export interface VerifiedHostRequest {
  tenant: Tenant;
  claims: JwtPayload;
}

const MAX_TOKEN_LENGTH = 8192;
const MAX_CLIENT_KEY_LENGTH = 512;

export function hasHostToken(request: Request): boolean {
  return tokenFrom(request) !== undefined;
}

export async function verifyHostRequest(request: Request, options: HostAuthOptions): Promise<VerifiedHostRequest> {
  const token = tokenFrom(request);
  if (token === undefined) {
    throw new HostAuthError('no JWT in the query string or Authorization header');
  }
  if (token.length > MAX_TOKEN_LENGTH) {
    throw new HostAuthError('JWT is too long');
  }
  const decoded = jwt.decode(token, { complete: true });
  if (!decoded || typeof decoded.payload !== 'object' || decoded.header.alg !== 'HS256') {
    throw new HostAuthError('JWT is malformed or not HS256');
  }
  const issuer = decoded.payload.iss;
  if (typeof issuer !== 'string' || issuer === '' || issuer.length > MAX_CLIENT_KEY_LENGTH) {
    throw new HostAuthError('JWT has no valid iss claim');
  }
  const tenant = await options.findTenant(issuer);
  if (!tenant) {
    throw new HostAuthError('JWT iss is not an installed tenant');
  }

  let claims: JwtPayload;
  try {
    // jsonwebtoken 9 first tries to parse a string secret as a PEM public key, and that failed parse
    // cost 0.35 to 1 ms per call on a 2-core machine (npm run bench:stages). A KeyObject skips it.
    claims = jwt.verify(token, secretKeyOf(tenant), {
      algorithms: ['HS256'],
      clockTolerance: options.leewaySeconds,
    }) as JwtPayload;
  } catch (error) {
    throw new HostAuthError(`JWT verification failed: ${(error as Error).message}`);
  }
  if (typeof claims.exp !== 'number') {
    throw new HostAuthError('JWT has no exp claim');
  }
  if (typeof claims.iat === 'number' && claims.iat > Date.now() / 1000 + options.leewaySeconds) {
    throw new HostAuthError('JWT iat is in the future beyond the leeway');
  }
  if (typeof claims.qsh !== 'string' || claims.qsh === 'context-qsh') {
    throw new HostAuthError('JWT has no request-bound qsh claim');
  }
  if (claims.qsh !== queryStringHash(request, options.basePath)) {
    throw new HostAuthError('JWT qsh does not match the request');
  }
  return { tenant, claims };
}

/**
 * Keys made from tenants' shared secrets, reused while the tenant object lives
 * (the tenant cache keeps one object per tenant, and a new secret comes with a new object).
 */
const secretKeys = new WeakMap<Tenant, KeyObject>();

function secretKeyOf(tenant: Tenant): KeyObject {
  let key = secretKeys.get(tenant);
  if (!key) {
    key = createSecretKey(Buffer.from(tenant.sharedSecret, 'utf8'));
    secretKeys.set(tenant, key);
  }
  return key;
}

/** Computes the query string hash of a request, with the base path removed only as a leading prefix. */
export function queryStringHash(request: Request, basePath: string): string {
  const rawPath = (request.originalUrl || request.url).split('?')[0];
  return createQueryStringHash({
    method: request.method,
    pathname: stripBasePath(rawPath, basePath),
    query: request.query as Record<string, string | string[]>,
  });
}

// NOTE: a base path equal to a route's first segment (such as "/panel") is ambiguous
// behind a proxy that strips it. Choose a base path that no route starts with.
export function stripBasePath(path: string, basePath: string): string {
  if (basePath === '' || basePath === '/') {
    return path;
  }
  if (path === basePath) {
    return '/';
  }
  return path.startsWith(`${basePath}/`) ? path.slice(basePath.length) : path;
}

function tokenFrom(request: Request): string | undefined {
  const fromQuery = request.query.jwt;
  const header = request.headers.authorization;
  const fromHeader = typeof header === 'string' && /^JWT /.test(header) ? header.slice(4).trim() : undefined;
  if (typeof fromQuery === 'string' && fromQuery !== '') {
    // Two tokens in one request are ambiguous; reject rather than pick one.
    return fromHeader === undefined ? fromQuery : undefined;
  }
  return fromHeader;
}
