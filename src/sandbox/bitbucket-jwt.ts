/**
 * The JWTs Bitbucket exchanges with a Connect add-on: tokens it signs for the
 * add-on (lifecycle callbacks, iframe URLs) and the check it applies to the
 * add-on's REST API calls.
 */
import { createQueryStringHash, fromMethodAndUrl } from 'atlassian-jwt';
import { createSecretKey } from 'node:crypto';
import jwt, { JwtPayload } from 'jsonwebtoken';

/** Lifetime of the tokens the simulator signs, in seconds. */
export const HOST_TOKEN_LIFETIME_SECONDS = 180;

/** Computes the query string hash of a request; `pathAndQuery` is taken as sent, still percent-encoded. */
export function queryStringHash(method: string, pathAndQuery: string): string {
  return createQueryStringHash(fromMethodAndUrl(method.toUpperCase(), pathAndQuery));
}

/**
 * Returns the path and query of `target` relative to the path of `baseUrl`, e.g.
 * "/panel?x=1" for http://h/app/panel?x=1 under http://h/app. The base path is
 * removed only as a whole leading segment sequence.
 */
export function pathRelativeToBase(target: URL, baseUrl: URL): string {
  const basePath = baseUrl.pathname.replace(/\/+$/, '');
  let pathname = target.pathname;
  if (basePath !== '' && (pathname === basePath || pathname.startsWith(`${basePath}/`))) {
    pathname = pathname.slice(basePath.length) || '/';
  }
  return `${pathname}${target.search}`;
}

export interface HostTokenOptions {
  clientKey: string;
  secret: string;
  method: string;
  /** Path relative to the add-on's base URL, with the query (a `jwt` parameter is ignored by the hash). */
  pathAndQuery: string;
  /** Epoch seconds; default now. */
  issuedAt?: number;
  /** Seconds from `iat` to `exp`; default 180. Negative values give an already expired token. */
  expiresInSeconds?: number;
  /** Replaces the computed query string hash. */
  qsh?: string;
  omitQsh?: boolean;
  omitExp?: boolean;
}

/** Signs a token as Bitbucket does for the add-on: HS256, `iss` = `aud` = clientKey, `iat`, `exp`, `qsh`. */
export function signHostToken(options: HostTokenOptions): string {
  const issuedAt = options.issuedAt ?? Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = { iss: options.clientKey, aud: options.clientKey, iat: issuedAt };
  if (!options.omitExp) {
    claims.exp = issuedAt + (options.expiresInSeconds ?? HOST_TOKEN_LIFETIME_SECONDS);
  }
  if (!options.omitQsh) {
    claims.qsh = options.qsh ?? queryStringHash(options.method, options.pathAndQuery);
  }
  // A KeyObject skips jsonwebtoken 9's failed attempt to read a string secret as a PEM key.
  return jwt.sign(claims, createSecretKey(Buffer.from(options.secret, 'utf8')), { algorithm: 'HS256' });
}

export interface ApiCaller {
  appKey: string;
  clientKey: string;
  sharedSecret: string;
}

export type ApiTokenCheck<T extends ApiCaller> = { ok: true; caller: T } | { ok: false; reason: string };

/** Upper bound on the Authorization header value, far above any real token. */
const MAX_TOKEN_LENGTH = 16 * 1024;

/**
 * Checks an add-on's REST API call the way Bitbucket does: `Authorization: JWT <token>`,
 * HS256, `sub` = the clientKey of an installed tenant, `iss` = that tenant's add-on
 * key, a valid signature with the tenant's current secret, an `exp` not yet
 * passed, and a `qsh` over this method, path and query exactly as received.
 */
export function verifyApiToken<T extends ApiCaller>(
  authorization: string | undefined,
  method: string,
  pathAndQuery: string,
  findCaller: (clientKey: string) => T | undefined,
  now = Date.now(),
): ApiTokenCheck<T> {
  const match = /^JWT (\S+)$/.exec(authorization ?? '');
  if (!match) {
    return { ok: false, reason: 'missing "Authorization: JWT <token>" header' };
  }
  const token = match[1];
  if (token.length > MAX_TOKEN_LENGTH) {
    return { ok: false, reason: 'token is too long' };
  }

  const decoded = jwt.decode(token, { complete: true });
  if (!decoded || typeof decoded.payload !== 'object' || decoded.header.alg !== 'HS256') {
    return { ok: false, reason: 'token is malformed or not HS256' };
  }
  const claims = decoded.payload as JwtPayload;
  const caller = typeof claims.sub === 'string' ? findCaller(claims.sub) : undefined;
  if (!caller) {
    return { ok: false, reason: 'sub is not the clientKey of an installed tenant' };
  }
  if (claims.iss !== caller.appKey) {
    return { ok: false, reason: `iss is not the add-on key ${caller.appKey}` };
  }

  try {
    jwt.verify(token, createSecretKey(Buffer.from(caller.sharedSecret, 'utf8')), { algorithms: ['HS256'], clockTimestamp: Math.floor(now / 1000) });
  } catch (error) {
    return { ok: false, reason: `signature or time check failed: ${(error as Error).message}` };
  }
  if (typeof claims.exp !== 'number') {
    return { ok: false, reason: 'token has no exp claim' };
  }

  const expected = queryStringHash(method, pathAndQuery);
  if (claims.qsh !== expected) {
    return { ok: false, reason: `qsh does not match ${method.toUpperCase()} ${pathAndQuery}` };
  }
  return { ok: true, caller };
}
