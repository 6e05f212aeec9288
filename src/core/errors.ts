/**
 * The closed set of upstream failures. Clients turn every problem with Docker Hub
 * or Bitbucket into one of these kinds, and the panel turns each kind into words
 * in one place (panel-model.ts).
 */

export type UpstreamService = 'docker-hub' | 'bitbucket';

export type UpstreamErrorKind =
  /** The resource does not exist, or is private and the add-on may not see it. */
  | 'not-found'
  /** The upstream asked the add-on to slow down; `retryAt` is the time it may resume. */
  | 'rate-limited'
  /** The upstream rejected the add-on's credentials. */
  | 'unauthorized'
  /** 5xx, connection refused or reset, DNS failure. */
  | 'unavailable'
  /** No complete response arrived within the time allowed. */
  | 'timeout'
  /** A response arrived but not in the shape the add-on reads. */
  | 'invalid-response';

export class UpstreamError extends Error {
  constructor(
    readonly service: UpstreamService,
    readonly kind: UpstreamErrorKind,
    /** Detail for the log; never shown to users and never contains credentials. */
    readonly detail: string,
    readonly extra: { status?: number; retryAt?: number; rememberedUntil?: number } = {},
  ) {
    super(`${service} ${kind}: ${detail}`);
    this.name = 'UpstreamError';
  }

  get status(): number | undefined {
    return this.extra.status;
  }

  /** Epoch milliseconds after which the upstream accepts calls again (rate-limited only). */
  get retryAt(): number | undefined {
    return this.extra.retryAt;
  }

  /** Epoch milliseconds until which the cache serves this 404 without asking upstream (remembered 404s only). */
  get rememberedUntil(): number | undefined {
    return this.extra.rememberedUntil;
  }
}

export function isUpstreamError(error: unknown, kind?: UpstreamErrorKind): error is UpstreamError {
  return error instanceof UpstreamError && (kind === undefined || error.kind === kind);
}
