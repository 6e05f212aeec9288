/**
 * Express middleware shared by every route: request ids and access logs, and the
 * one error handler that turns failures into short responses without stack traces.
 */
import crypto from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from '../logger';

const REQUEST_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

export function requestLogging(logger: Logger) {
  return (request: Request, response: Response, next: NextFunction) => {
    const header = request.headers['x-request-id'];
    const requestId = typeof header === 'string' && REQUEST_ID_PATTERN.test(header) ? header : crypto.randomUUID();
    const started = process.hrtime.bigint();
    // Read now: mounted routers change request.path while they run.
    const requestPath = request.originalUrl.split('?')[0];
    response.set('X-Request-Id', requestId);
    response.locals.log = logger.child({ requestId });
    response.locals.logFields = {};
    response.on('finish', () => {
      const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
      // The path only: the query string carries the host's JWT.
      const entry = {
        method: request.method,
        path: requestPath,
        status: response.statusCode,
        durationMs: Math.round(durationMs * 10) / 10,
        ...response.locals.logFields,
      };
      response.locals.log.info(entry, 'request completed');
    });
    next();
  };
}

export function errorHandler(production: boolean) {
  return (error: unknown, request: Request, response: Response, next: NextFunction) => {
    const log: Logger = response.locals.log;
    const status = typeof (error as { status?: unknown }).status === 'number' ? (error as { status: number }).status : 500;
    if (status >= 500) {
      log.error({ error: errorSummary(error, !production) }, 'request failed');
    } else {
      log.warn({ status, error: errorSummary(error) }, 'request rejected');
    }
    if (response.headersSent) {
      next(error);
      return;
    }
    response.set('Cache-Control', 'no-store');
    if (status >= 500) {
      response.status(status).type('text').send('Internal error. Try again in a moment.');
      return;
    }
    response.status(status).json({ message: clientErrorMessage(error, status) });
  };
}

/** Describes a 4xx raised by Express's body parsers, such as invalid JSON or a body over the limit. */
function clientErrorMessage(error: unknown, status: number): string {
  const type = (error as { type?: unknown }).type;
  if (type === 'entity.parse.failed') return 'Invalid request body: it is not valid JSON';
  if (type === 'entity.too.large') return 'Invalid request body: it is larger than 64 KiB';
  if (status === 415) return 'Unsupported content type';
  return 'Bad request';
}

export function errorSummary(error: unknown, withStack = false): Record<string, unknown> {
  if (error instanceof Error) {
    return withStack ? { type: error.name, message: error.message, stack: error.stack } : { type: error.name, message: error.message };
  }
  return { message: String(error) };
}
