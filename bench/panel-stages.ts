/**
 * Times the CPU-bound stages of one warm panel request in isolation, in one
 * process and one run, so that their costs can be compared with each other:
 * decoding and verifying the host JWT, the query string hash, PanelService.load
 * with its snapshot and with seven warm cache reads, building the view model and
 * rendering the template. It also times signing one Bitbucket API token, which
 * every upstream call to Bitbucket does. Secrets are passed as KeyObjects, as
 * src/ does, and as strings, as src/ did before, which cost a failed PEM parse.
 *
 * The PanelData comes from a real PanelService that has loaded the repository
 * from the simulators once, so every stage sees the same input as in the add-on.
 */
import crypto from 'node:crypto';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import querystring from 'node:querystring';
import type { Request } from 'express';
import jwt from 'jsonwebtoken';
import nunjucks from 'nunjucks';
import { queryStringHash } from '../src/connect/host-auth';
import { BitbucketClient } from '../src/core/bitbucket';
import { LocalCallSharing, MemoryCacheBackend, UpstreamCache } from '../src/core/cache';
import { DockerHubClient } from '../src/core/docker-hub';
import { PanelService } from '../src/core/panel-service';
import { buildPanelView } from '../src/core/panel-view';
import { MemoryRateLimitGate } from '../src/core/rate-limit';
import { startBenchEnvironment } from './lib/environment';
import { machineInfo, PROJECT_ROOT, round, runMain, writeResult } from './lib/report';

const REPOSITORY = 'bubbleupnp-server';
/** Each stage runs for about this long after its warm-up. */
const STAGE_MS = 1500;
const WARM_UP_ITERATIONS = 2000;
const APP_KEY = 'docker-hub-for-bitbucket';
const HOUR_MS = 60 * 60 * 1000;

interface StageTiming {
  stage: string;
  microsecondsPerCall: number;
  calls: number;
}

/** Calls `fn` repeatedly for about STAGE_MS and returns the mean time per call. */
async function timeStage(stage: string, fn: () => unknown | Promise<unknown>): Promise<StageTiming> {
  for (let i = 0; i < WARM_UP_ITERATIONS; i += 1) {
    await fn();
  }
  let calls = 0;
  const started = performance.now();
  let elapsed = 0;
  while (elapsed < STAGE_MS) {
    for (let i = 0; i < 200; i += 1) {
      await fn();
    }
    calls += 200;
    elapsed = performance.now() - started;
  }
  const timing = { stage, microsecondsPerCall: round((1000 * elapsed) / calls, 2), calls };
  console.log(`${timing.microsecondsPerCall.toFixed(2).padStart(9)} µs  ${stage}`);
  return timing;
}

async function main(): Promise<void> {
  const machine = machineInfo();
  const environment = await startBenchEnvironment();
  try {
    const installation = environment.bitbucket.installation(environment.workspace)!;
    const panelUrl = new URL(environment.panelUrl(REPOSITORY, 900));
    const token = panelUrl.searchParams.get('jwt')!;
    const request = {
      method: 'GET',
      originalUrl: `${panelUrl.pathname}${panelUrl.search}`,
      url: `${panelUrl.pathname}${panelUrl.search}`,
      query: querystring.parse(panelUrl.search.slice(1)),
    } as unknown as Request;
    const verifyOptions = { algorithms: ['HS256' as const], clockTolerance: 60 };

    const serviceOptions = {
      bitbucket: new BitbucketClient({ userAgent: 'panel-stages-bench', maxFileBytes: 64 * 1024 }),
      dockerHub: new DockerHubClient({ baseUrl: environment.hub.url, userAgent: 'panel-stages-bench', rateLimitGate: new MemoryRateLimitGate() }),
      cache: new UpstreamCache(new MemoryCacheBackend(), new LocalCallSharing(), { backendError: () => undefined }),
      upstreamTimeoutMs: 2500,
      maxConfigFileBytes: 64 * 1024,
      // Longer than the whole run, so that every timed load finds fresh entries and calls no simulator.
      cacheLifetimes: { bitbucketFreshMs: HOUR_MS, dockerHubFreshMs: HOUR_MS, notFoundMs: HOUR_MS, staleKeepMs: HOUR_MS },
    };
    const panelService = new PanelService(serviceOptions);
    // Shares the cache, but keeps no snapshots, so that every load reads the seven cache entries.
    const panelServiceWithoutSnapshots = new PanelService({ ...serviceOptions, maxSnapshots: 0 });
    const panelRequest = () => ({
      credentials: { appKey: APP_KEY, clientKey: installation.clientKey, sharedSecret: installation.sharedSecret, baseApiUrl: environment.bitbucket.apiUrl },
      repository: { workspace: environment.workspace, slug: REPOSITORY },
      deadline: Date.now() + 3000,
    });
    const data = await panelService.load(panelRequest());
    if (data.state !== 'ready') {
      throw new Error(`Expected a ready panel for ${REPOSITORY}, got state ${data.state}`);
    }
    const views = new nunjucks.Environment(new nunjucks.FileSystemLoader(path.join(PROJECT_ROOT, 'views')), {
      autoescape: true,
      throwOnUndefined: false,
    });
    const viewOptions = { now: Date.now(), dockerHubWebUrl: environment.hub.url };
    const view = buildPanelView(data, viewOptions);
    const hostScriptUrl = `${environment.bitbucket.webUrl}/atlassian-connect/all.js`;

    console.log(`Stages of one warm panel request for ${environment.workspace}/${REPOSITORY}, mean time per call:`);
    const stages: StageTiming[] = [];
    stages.push(await timeStage('jwt.decode(token, { complete: true })', () => jwt.decode(token, { complete: true })));
    stages.push(await timeStage('jwt.verify with the secret as a string (before)', () => jwt.verify(token, installation.sharedSecret, verifyOptions)));
    stages.push(
      await timeStage('jwt.verify with the secret as a KeyObject (as src/connect/host-auth.ts does)', () =>
        jwt.verify(token, crypto.createSecretKey(Buffer.from(installation.sharedSecret, 'utf8')), verifyOptions),
      ),
    );
    // Claims shaped like those signRequest in src/core/bitbucket.ts signs for every Bitbucket API call.
    const apiClaims = { iss: APP_KEY, sub: installation.clientKey, iat: 1, exp: 181, qsh: 'a'.repeat(64) };
    stages.push(
      await timeStage('jwt.sign of an API token with the secret as a string (before)', () =>
        jwt.sign(apiClaims, installation.sharedSecret, { algorithm: 'HS256' }),
      ),
    );
    stages.push(
      await timeStage('jwt.sign of an API token with the secret as a KeyObject (as src/core/bitbucket.ts does)', () =>
        jwt.sign(apiClaims, crypto.createSecretKey(Buffer.from(installation.sharedSecret, 'utf8')), { algorithm: 'HS256' }),
      ),
    );
    stages.push(await timeStage('queryStringHash of the panel request', () => queryStringHash(request, '')));
    stages.push(await timeStage('PanelService.load, snapshot reused', () => panelService.load(panelRequest())));
    stages.push(await timeStage('PanelService.load, seven fresh cache reads', () => panelServiceWithoutSnapshots.load(panelRequest())));
    stages.push(await timeStage('buildPanelView', () => buildPanelView(data, viewOptions)));
    stages.push(await timeStage('nunjucks render of panel.njk', () => views.render('panel.njk', { view, hostScriptUrl })));

    const byName = (prefix: string) => stages.find((stage) => stage.stage.startsWith(prefix))!.microsecondsPerCall;
    const verifyRatio = round(byName('jwt.verify with the secret as a string') / byName('jwt.verify with the secret as a KeyObject'), 1);
    const signRatio = round(byName('jwt.sign of an API token with the secret as a string') / byName('jwt.sign of an API token with the secret as a KeyObject'), 1);
    console.log(`\njwt.verify with a string secret takes ${verifyRatio}× as long as with a KeyObject.`);
    console.log(`jwt.sign with a string secret takes ${signRatio}× as long as with a KeyObject.`);

    const file = writeResult('panel-stages', { machine, repository: `${environment.workspace}/${REPOSITORY}`, stageMs: STAGE_MS, stages, verifyStringToKeyObjectRatio: verifyRatio, signStringToKeyObjectRatio: signRatio });
    console.log(`Wrote ${file}`);
  } finally {
    await environment.stop();
  }
}

runMain(main);
