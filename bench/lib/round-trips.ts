/**
 * Derives how many upstream round trips happened one after another from the
 * simulators' request logs, which record when each request arrived.
 */
import type { RequestLogEntry } from '../../src/sandbox/simulator-controls';

export interface UpstreamCall {
  service: 'bitbucket' | 'docker-hub';
  path: string;
  /** Epoch milliseconds when the simulator received the request. */
  at: number;
}

export interface CallChain {
  /** Longest run of calls where each one arrived after the response to the previous one could have been sent. */
  depth: number;
  /** Calls grouped by their position in the chain. Wave 1 waited for no earlier response. */
  waves: Array<Array<{ service: string; path: string; offsetMs: number }>>;
}

export function upstreamCalls(bitbucket: RequestLogEntry[], hub: RequestLogEntry[]): UpstreamCall[] {
  const calls: UpstreamCall[] = [
    ...bitbucket.map((entry) => ({ service: 'bitbucket' as const, path: entry.path, at: entry.at })),
    ...hub.map((entry) => ({ service: 'docker-hub' as const, path: entry.path, at: entry.at })),
  ];
  return calls.sort((a, b) => a.at - b.at);
}

/**
 * Assigns each call a depth: 1 plus the largest depth among the calls that
 * arrived at least `latencyMs` earlier, because only their responses could have
 * come back before it was sent. With every response delayed by `latencyMs`, two
 * calls sent together land in the same wave, and a call that waited for a
 * response lands in the next one.
 * NOTE: this reads arrival times only, so a call that was sent late for another
 * reason (a busy event loop) can look like it waited for a response.
 */
export function callChain(calls: UpstreamCall[], latencyMs: number): CallChain {
  const depths: number[] = [];
  for (let j = 0; j < calls.length; j += 1) {
    let depth = 1;
    for (let i = 0; i < j; i += 1) {
      if (calls[i].at + latencyMs <= calls[j].at) {
        depth = Math.max(depth, depths[i] + 1);
      }
    }
    depths.push(depth);
  }
  const start = calls[0]?.at ?? 0;
  const waves: CallChain['waves'] = [];
  calls.forEach((call, index) => {
    const wave = (waves[depths[index] - 1] ??= []);
    wave.push({ service: call.service, path: call.path, offsetMs: call.at - start });
  });
  return { depth: Math.max(0, ...depths), waves };
}

/** Counts calls per service and path, for checks such as "one call per endpoint". */
export function callsPerEndpoint(calls: UpstreamCall[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const call of calls) {
    const key = `${call.service} ${call.path}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}
