/**
 * Benchmark 3: 200 concurrent first views of one repository. Every view needs the
 * same seven upstream responses. The add-on should call each endpoint once, and
 * the other views should share that call (LocalCallSharing) or its cached response.
 *
 * Two scenarios, each in a fresh add-on process on a repository nobody viewed yet:
 * upstream latency 100 ms, so that the views overlap the calls in flight, and
 * latency 0, so that some views arrive after the responses were cached.
 */
import { performance } from 'node:perf_hooks';
import { startBenchEnvironment } from './lib/environment';
import { getText } from './lib/http';
import { machineInfo, median, round, runMain, TargetCheck, verdict, writeResult } from './lib/report';
import { callsPerEndpoint, upstreamCalls } from './lib/round-trips';

const CONCURRENT_VIEWS = 200;
const REPOSITORY = 'bubbleupnp-server';
/** Viewed once before, so that the tenant is cached and the repository under test is the only cold thing. */
const WARM_UP_REPOSITORY = 'addon-build-image';
const SCENARIOS = [{ latencyMs: 100 }, { latencyMs: 0 }];
/** Endpoints a ready view of REPOSITORY calls: main branch, branch head, config file, statuses, and three on Docker Hub. */
const EXPECTED_ENDPOINTS = 7;

interface ScenarioResult {
  latencyMs: number;
  views: number;
  statuses: Record<string, number>;
  readyViews: number;
  wallMs: number;
  viewMedianMs: number;
  viewMaxMs: number;
  callsPerEndpoint: Record<string, number>;
  check: TargetCheck;
}

async function runScenario(latencyMs: number): Promise<ScenarioResult> {
  const environment = await startBenchEnvironment({ latencyMs });
  try {
    const warmUp = await getText(environment.panelUrl(WARM_UP_REPOSITORY));
    if (warmUp.status !== 200) {
      throw new Error(`The warm-up view returned ${warmUp.status}`);
    }
    environment.resetRequestLogs();

    const url = environment.panelUrl(REPOSITORY);
    const started = performance.now();
    const responses = await Promise.all(Array.from({ length: CONCURRENT_VIEWS }, () => getText(url)));
    const wallMs = performance.now() - started;

    const statuses: Record<string, number> = {};
    for (const response of responses) {
      statuses[response.status] = (statuses[response.status] ?? 0) + 1;
    }
    const readyViews = responses.filter((response) => response.status === 200 && response.body.includes('data-state="ready"')).length;
    const counts = callsPerEndpoint(upstreamCalls(environment.bitbucket.requests(), environment.hub.requests()));
    const endpoints = Object.keys(counts).length;
    const maxCalls = Math.max(...Object.values(counts));
    const check: TargetCheck = {
      target: `one call per endpoint (${EXPECTED_ENDPOINTS} endpoints) for ${CONCURRENT_VIEWS} ready views`,
      met: maxCalls === 1 && endpoints === EXPECTED_ENDPOINTS && readyViews === CONCURRENT_VIEWS,
    };
    const result: ScenarioResult = {
      latencyMs,
      views: CONCURRENT_VIEWS,
      statuses,
      readyViews,
      wallMs: round(wallMs),
      viewMedianMs: round(median(responses.map((response) => response.elapsedMs))),
      viewMaxMs: round(Math.max(...responses.map((response) => response.elapsedMs))),
      callsPerEndpoint: counts,
      check,
    };

    console.log(`\nlatency ${latencyMs} ms: ${readyViews}/${CONCURRENT_VIEWS} ready views in ${result.wallMs} ms (view median ${result.viewMedianMs} ms, max ${result.viewMaxMs} ms)`);
    for (const [endpoint, count] of Object.entries(counts)) {
      console.log(`  ${String(count).padStart(3)}  ${endpoint}`);
    }
    console.log(`latency ${latencyMs} ms: ${verdict(check)}`);
    return result;
  } finally {
    await environment.stop();
  }
}

async function main(): Promise<void> {
  const machine = machineInfo();
  const scenarios: ScenarioResult[] = [];
  for (const scenario of SCENARIOS) {
    scenarios.push(await runScenario(scenario.latencyMs));
  }
  const file = writeResult('concurrent-first-view', {
    machine,
    settings: { repository: `acme-ws/${REPOSITORY}`, concurrentViews: CONCURRENT_VIEWS, addonEnv: { NODE_ENV: 'test', LOG_LEVEL: 'warn' } },
    scenarios,
    met: scenarios.every((scenario) => scenario.check.met),
  });
  console.log(`Wrote ${file}`);
}

runMain(main);
