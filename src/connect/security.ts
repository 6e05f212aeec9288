/**
 * Security headers. The panel lives in an iframe on bitbucket.org, so framing is
 * governed by CSP `frame-ancestors` naming the tenant's host, not by
 * X-Frame-Options, which would block Bitbucket too.
 */
import type { Response } from 'express';
import helmet from 'helmet';

/** Headers for every response; the CSP is set per response below. */
export function baseSecurityHeaders(production: boolean) {
  return helmet({
    contentSecurityPolicy: false,
    // X-Frame-Options cannot name bitbucket.org; frame-ancestors does.
    frameguard: false,
    // Bitbucket loads the panel from another origin.
    crossOriginResourcePolicy: { policy: 'cross-origin' },
    crossOriginEmbedderPolicy: false,
    // The panel URL carries the host's JWT; no Referer may leak it.
    referrerPolicy: { policy: 'no-referrer' },
    strictTransportSecurity: production ? { maxAge: 15552000, includeSubDomains: false } : false,
  });
}

/**
 * Returns the CSP of a panel page: only the add-on's own files, the host's all.js
 * and framing by the host. Pages sent before the tenant is known (401, 400) use
 * the configured default ancestors and no host, so that Bitbucket can still show them.
 */
export function panelContentSecurityPolicy(frameAncestors: string, hostOrigin?: string): string {
  const host = hostOrigin ? ` ${hostOrigin}` : '';
  return [
    "default-src 'none'",
    `script-src 'self'${host}`,
    "style-src 'self'",
    "img-src 'self' data:",
    `frame-ancestors ${frameAncestors}`,
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
}

/** Sets the headers of a panel page: no caching, because the page is per user and signed, and its CSP. */
export function setPanelSecurityHeaders(response: Response, contentSecurityPolicy: string): void {
  response.setHeader('Cache-Control', 'no-store');
  response.setHeader('Content-Security-Policy', contentSecurityPolicy);
}
