/**
 * Benchmark 1: warm panel renders per second and p99 latency, against /healthz on
 * the same add-on process in the same run.
 *
 * Every panel request carries a valid signed JWT, so token verification, the
 * tenant lookup, seven cache lookups and the template rendering are all measured.
 * Cache lifetimes are set to an hour so that no upstream call happens during the
 * measured runs, and the benchmark counts upstream calls to check that.
 *
 * Usage: node dist/bench/throughput.js [--profile]
 * With --profile the add-on runs under `node --cpu-prof`, only the panel route is
 * loaded, and the profile summary is printed and stored.
 */
import fs from 'node:fs';
import path from 'node:path';
import autocannon from 'autocannon';
import { readProcessCpuSeconds } from './lib/addon-process';
import { startBenchEnvironment } from './lib/environment';
import { getText } from './lib/http';
import { hasFlag, machineInfo, median, resultName, RESULTS_DIR, round, runMain, verdict, writeResult } from './lib/report';
import { printProfileSummary, summarizeProfile } from './profile-summary';

const REPOSITORY = 'bubbleupnp-server';
const CONNECTIONS = 10;
const WARM_UP_SECONDS = 3;
const RUN_SECONDS = 8;
/** Rounds of one /healthz run and one panel run. Even rounds swap the order so that drift affects both alike. */
const ROUNDS = 4;
const PROFILE_RUN_SECONDS = 12;
/** The token must outlive the whole benchmark. */
const TOKEN_LIFETIME_SECONDS = 900;
const TARGET_RATIO = 0.5;

type Route = 'healthz' | 'panel';

interface RouteRun {
  route: Route;
  round: number;
  requestsPerSecond: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  latencyMeanMs: number;
  completed: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  /** Responses whose body was not the expected page. */
  mismatches: number;
  /** CPU seconds the add-on used per second of the run, where 1.0 is one busy core. */
  addonCpuShare: number;
  /** Add-on CPU time per completed request, in milliseconds. Other load on the machine affects it less than rates. */
  addonCpuMsPerRequest: number;
  /** CPU seconds this process (autocannon and the idle simulators) used per second of the run. */
  loadGeneratorCpuShare: number;
}

const isHealthBody = (body: string) => body.includes('"status":"ok"');
const isReadyPanel = (body: string) => body.includes('data-state="ready"') && body.includes('rwgrim/docker-bubbleupnpserver');

async function main(): Promise<void> {
  const profile = hasFlag('profile');
  const profileDir = path.join(RESULTS_DIR, 'profiles');
  const profileName = `${resultName('throughput-addon')}.cpuprofile`;
  if (profile) {
    fs.mkdirSync(profileDir, { recursive: true });
    fs.rmSync(path.join(profileDir, profileName), { force: true });
  }

  const machine = machineInfo();
  const environment = await startBenchEnvironment({
    env: { CACHE_BITBUCKET_SECONDS: '3600', CACHE_DOCKER_HUB_SECONDS: '3600' },
    nodeArgs: profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${profileName}`] : [],
  });
  try {
    const panelUrl = environment.panelUrl(REPOSITORY, TOKEN_LIFETIME_SECONDS);
    const healthUrl = `${environment.addon.url}/healthz`;

    const cold = await getText(panelUrl);
    if (cold.status !== 200 || !isReadyPanel(cold.body)) {
      throw new Error(`The first panel view returned ${cold.status} without a ready panel:\n${cold.body.slice(0, 500)}`);
    }
    environment.resetRequestLogs();
    const warm = await getText(panelUrl);
    const callsOnWarmView = environment.hub.requests().length + environment.bitbucket.requests().length;
    if (warm.status !== 200 || !isReadyPanel(warm.body) || callsOnWarmView !== 0) {
      throw new Error(`The warm panel view returned ${warm.status} after ${callsOnWarmView} upstream calls; expected 200 and none`);
    }

    const load = async (route: Route, roundNumber: number, seconds: number): Promise<RouteRun> => {
      const pid = environment.addon.pid;
      const addonCpuBefore = readProcessCpuSeconds(pid);
      const ownCpuBefore = process.cpuUsage();
      const result = await autocannon({
        url: route === 'panel' ? panelUrl : healthUrl,
        connections: CONNECTIONS,
        duration: seconds,
        verifyBody: route === 'panel' ? isReadyPanel : isHealthBody,
      });
      const addonCpu = readProcessCpuSeconds(pid) - addonCpuBefore;
      const ownCpu = process.cpuUsage(ownCpuBefore);
      return {
        route,
        round: roundNumber,
        requestsPerSecond: round2(result.requests.average),
        latencyP50Ms: result.latency.p50,
        latencyP99Ms: result.latency.p99,
        latencyMeanMs: round2(result.latency.mean),
        completed: result.requests.total,
        non2xx: result.non2xx,
        errors: result.errors,
        timeouts: result.timeouts,
        mismatches: result.mismatches,
        addonCpuShare: round2(addonCpu / result.duration),
        addonCpuMsPerRequest: round(result.requests.total > 0 ? (1000 * addonCpu) / result.requests.total : Number.NaN, 3),
        loadGeneratorCpuShare: round2((ownCpu.user + ownCpu.system) / 1e6 / result.duration),
      };
    };

    await load('healthz', 0, WARM_UP_SECONDS);
    await load('panel', 0, WARM_UP_SECONDS);
    environment.resetRequestLogs();

    if (profile) {
      const run = await load('panel', 1, PROFILE_RUN_SECONDS);
      printRun(run);
      await environment.stop();
      const summary = summarizeProfile(path.join(profileDir, profileName), 25);
      printProfileSummary(summary);
      const file = writeResult('throughput-profile', { machine, settings: { connections: CONNECTIONS, seconds: PROFILE_RUN_SECONDS }, run, summary });
      console.log(`\nWrote ${file}`);
      return;
    }

    const runs: RouteRun[] = [];
    for (let roundNumber = 1; roundNumber <= ROUNDS; roundNumber += 1) {
      const order: Route[] = roundNumber % 2 === 1 ? ['healthz', 'panel'] : ['panel', 'healthz'];
      for (const route of order) {
        const run = await load(route, roundNumber, RUN_SECONDS);
        printRun(run);
        runs.push(run);
      }
    }
    const upstreamCallsDuringRuns = environment.hub.requests().length + environment.bitbucket.requests().length;

    const byRound = (route: Route) => runs.filter((run) => run.route === route).sort((a, b) => a.round - b.round);
    const health = byRound('healthz');
    const panel = byRound('panel');
    const ratios = panel.map((run, index) => round2(run.requestsPerSecond / health[index].requestsPerSecond));
    const p99Ratios = panel.map((run, index) => round2(run.latencyP99Ms / health[index].latencyP99Ms));
    const cpuRatios = panel.map((run, index) => round2(run.addonCpuMsPerRequest / health[index].addonCpuMsPerRequest));
    const throughputRatio = round2(median(ratios));
    const failures = runs.reduce((sum, run) => sum + run.non2xx + run.errors + run.timeouts + run.mismatches, 0);
    const target = { target: `panel/healthz requests per second >= ${TARGET_RATIO}`, met: throughputRatio >= TARGET_RATIO };

    const summary = {
      healthzRequestsPerSecondMedian: median(health.map((run) => run.requestsPerSecond)),
      panelRequestsPerSecondMedian: median(panel.map((run) => run.requestsPerSecond)),
      throughputRatioPerRound: ratios,
      throughputRatioMedian: throughputRatio,
      healthzP99MsMedian: median(health.map((run) => run.latencyP99Ms)),
      panelP99MsMedian: median(panel.map((run) => run.latencyP99Ms)),
      p99RatioPerRound: p99Ratios,
      p99RatioMedian: round2(median(p99Ratios)),
      healthzCpuMsPerRequestMedian: round(median(health.map((run) => run.addonCpuMsPerRequest)), 3),
      panelCpuMsPerRequestMedian: round(median(panel.map((run) => run.addonCpuMsPerRequest)), 3),
      cpuPerRequestRatioPerRound: cpuRatios,
      cpuPerRequestRatioMedian: round2(median(cpuRatios)),
      failedResponses: failures,
      upstreamCallsDuringRuns,
    };
    console.log('');
    console.log(`panel/healthz throughput ratio per round: ${ratios.join(', ')}; median ${throughputRatio}`);
    console.log(`panel/healthz p99 ratio per round: ${p99Ratios.join(', ')}; median ${summary.p99RatioMedian}`);
    console.log(`panel/healthz add-on CPU per request per round: ${cpuRatios.join(', ')}; median ${summary.cpuPerRequestRatioMedian}`);
    console.log(`failed or unexpected responses: ${failures}; upstream calls during the runs: ${upstreamCallsDuringRuns}`);
    console.log(`throughput: ${verdict(target)}`);

    const file = writeResult('throughput', {
      machine,
      settings: {
        repository: `${environment.workspace}/${REPOSITORY}`,
        connections: CONNECTIONS,
        pipelining: 1,
        runSeconds: RUN_SECONDS,
        warmUpSeconds: WARM_UP_SECONDS,
        rounds: ROUNDS,
        addonEnv: { NODE_ENV: 'test', LOG_LEVEL: 'warn', CACHE_BITBUCKET_SECONDS: 3600, CACHE_DOCKER_HUB_SECONDS: 3600 },
      },
      runs,
      summary,
      target,
    });
    console.log(`Wrote ${file}`);
  } finally {
    await environment.stop();
  }
}

function printRun(run: RouteRun): void {
  console.log(
    `round ${run.round} ${run.route.padEnd(7)} ${run.requestsPerSecond.toFixed(0).padStart(6)} req/s  ` +
      `p50 ${run.latencyP50Ms} ms  p99 ${run.latencyP99Ms} ms  add-on CPU ${run.addonCpuShare} ` +
      `(${run.addonCpuMsPerRequest} ms/request)  ` +
      `load generator CPU ${run.loadGeneratorCpuShare}  failed ${run.non2xx + run.errors + run.timeouts + run.mismatches}`,
  );
}

function round2(value: number): number {
  return round(value, 2);
}

runMain(main);
