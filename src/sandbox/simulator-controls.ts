/**
 * Controls that every simulator shares: the request log, fault injection, a fixed
 * added latency, and the `/__sandbox` HTTP routes that change them from outside
 * the process (used by the demo).
 */
import express from 'express';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { z } from 'zod';
import {
  applyFault,
  Fault,
  faultSchema,
  FaultRules,
  matchesPath,
  PathMatch,
  SetFaultOptions,
  StatusBody,
} from './faults';

export const CONTROL_PATH_PREFIX = '/__sandbox';

export interface RequestLogEntry {
  method: string;
  /** Path as received, still percent-encoded, without the query. */
  path: string;
  /** Path and query as received. */
  url: string;
  /** Epoch milliseconds when the request arrived. */
  at: number;
  /** Response status, set once the response is sent; undefined while pending or when the connection was dropped. */
  status?: number;
  /** Reason the simulator rejected the request, e.g. the failed JWT check, for test diagnostics. */
  rejection?: string;
}

/** Entries kept per simulator; older ones are dropped so long benchmarks stay within memory. */
const MAX_LOG_ENTRIES = 10_000;
/** Distinct paths counted; further new paths are not counted. */
const MAX_COUNTED_PATHS = 10_000;

export class RequestLog {
  private entries: RequestLogEntry[] = [];
  private counts = new Map<string, number>();

  add(entry: RequestLogEntry): void {
    this.entries.push(entry);
    if (this.entries.length > MAX_LOG_ENTRIES) {
      this.entries.splice(0, this.entries.length - MAX_LOG_ENTRIES);
    }
    const count = this.counts.get(entry.path);
    if (count !== undefined || this.counts.size < MAX_COUNTED_PATHS) {
      this.counts.set(entry.path, (count ?? 0) + 1);
    }
  }

  list(): RequestLogEntry[] {
    return this.entries.map((entry) => ({ ...entry }));
  }

  /** Counts requests since the last reset whose path contains `match` (string) or matches it (RegExp). */
  count(match: PathMatch): number {
    let total = 0;
    for (const [path, count] of this.counts) {
      if (matchesPath(match, path)) {
        total += count;
      }
    }
    return total;
  }

  reset(): void {
    this.entries = [];
    this.counts.clear();
  }
}

/** Timers of delayed responses; `clear()` cancels them all when the simulator closes. */
export class TimerSet {
  private timers = new Set<NodeJS.Timeout>();
  private cleared = false;

  /** Resolves after `ms`; never resolves once the set is cleared, because the connection is gone by then. */
  sleep(ms: number): Promise<void> {
    if (this.cleared) {
      return new Promise<void>(() => undefined);
    }
    if (ms <= 0) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.add(timer);
    });
  }

  clear(): void {
    this.cleared = true;
    for (const timer of this.timers) {
      clearTimeout(timer);
    }
    this.timers.clear();
  }
}

export interface SimulatorControlsOptions {
  latencyMs?: number;
  defaultStatusBody(status: number): StatusBody;
}

export class SimulatorControls {
  readonly log = new RequestLog();
  readonly faults = new FaultRules();
  readonly timers = new TimerSet();
  private readonly latencyMs: number;

  constructor(private readonly options: SimulatorControlsOptions) {
    const latencyMs = options.latencyMs ?? 0;
    if (!Number.isFinite(latencyMs) || latencyMs < 0) {
      throw new Error(`Invalid latencyMs ${latencyMs}: expected a number of milliseconds >= 0`);
    }
    this.latencyMs = latencyMs;
  }

  setFault(match: PathMatch, fault: Fault | null, options?: SetFaultOptions): void {
    this.faults.set(match, fault, options);
  }

  /**
   * Middleware that logs each request, then applies a matching fault and the
   * configured latency. Requests under `/__sandbox` skip all three.
   */
  middleware(): RequestHandler {
    return (request: Request, response: Response, next: NextFunction) => {
      if (isControlPath(request.originalUrl)) {
        next();
        return;
      }
      const url = request.originalUrl;
      const entry: RequestLogEntry = { method: request.method, path: url.split('?')[0], url, at: Date.now() };
      this.log.add(entry);
      response.on('finish', () => {
        entry.status = response.statusCode;
      });
      response.locals.logEntry = entry;
      this.handle(request, response, next, entry.path).catch(next);
    };
  }

  private async handle(request: Request, response: Response, next: NextFunction, path: string): Promise<void> {
    const fault = this.faults.take(path);
    if (fault) {
      const handled = await applyFault(request, response, fault, {
        defaultStatusBody: this.options.defaultStatusBody,
        sleep: (ms) => this.timers.sleep(ms),
      });
      if (handled) {
        return;
      }
    }
    await this.timers.sleep(this.latencyMs);
    next();
  }

  /**
   * Routes under `/__sandbox`:
   * - `POST /__sandbox/faults` with JSON `{match, fault, regex?, times?}` sets a fault (`fault: null` removes it);
   * - `DELETE /__sandbox/faults` removes all faults;
   * - `GET /__sandbox/requests` returns the request log, `DELETE /__sandbox/requests` empties it.
   */
  router(): express.Router {
    const router = express.Router();
    router.use(express.json({ limit: '1mb' }));
    router.post('/faults', (request, response) => {
      const parsed = faultRequestSchema.safeParse(request.body);
      if (!parsed.success) {
        response.status(400).json({ error: `Invalid fault request: ${parsed.error.issues[0].message}` });
        return;
      }
      const { match, regex, fault, times } = parsed.data;
      let pathMatch: PathMatch = match;
      if (regex) {
        try {
          pathMatch = new RegExp(match);
        } catch (error) {
          response.status(400).json({ error: `Invalid regex "${match}": ${(error as Error).message}` });
          return;
        }
      }
      this.faults.set(pathMatch, fault, { times });
      response.status(204).end();
    });
    router.delete('/faults', (_request, response) => {
      this.faults.clear();
      response.status(204).end();
    });
    router.get('/requests', (_request, response) => {
      response.json(this.log.list());
    });
    router.delete('/requests', (_request, response) => {
      this.log.reset();
      response.status(204).end();
    });
    return router;
  }
}

const faultRequestSchema = z.object({
  match: z.string().min(1),
  regex: z.boolean().optional(),
  fault: faultSchema.nullable(),
  times: z.number().int().positive().optional(),
});

function isControlPath(url: string): boolean {
  const path = url.split('?')[0];
  return path === CONTROL_PATH_PREFIX || path.startsWith(`${CONTROL_PATH_PREFIX}/`);
}

/** Records why a request was rejected in its request log entry. */
export function noteRejection(response: Response, reason: string): void {
  const entry = response.locals.logEntry as RequestLogEntry | undefined;
  if (entry) {
    entry.rejection = reason;
  }
}
