/**
 * Crash safety of the compiled add-on (dist/src/server.js) run as a child process
 * on a sqlite file: a SIGKILL in the middle of a burst of first installs and
 * panel views loses no tenant whose install got a 204 response, and SIGTERM lets
 * a panel request in flight finish before the process exits with code 0.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import sqlite3 from 'sqlite3';
import { BitbucketSimulator, startBitbucketSimulator } from '../../src/sandbox/bitbucket-simulator';
import { DockerHubSimulator, startDockerHubSimulator } from '../../src/sandbox/docker-hub-simulator';
import { clientKeyFor, installPayload, randomSecret } from '../helpers/connect-host';
import { parsePanelHtml } from '../helpers/panel-html';
import { AddonProcess, compiledServerExists, freePort, startAddonProcess, stopAddonProcess } from '../helpers/process';
import { requireOrSkip } from '../helpers/services';

const describeWithBuild = requireOrSkip(
  compiledServerExists(),
  'dist/src/server.js is missing; run `npm run build` first (`npm test` builds before jest)',
);

/** Upper bound for every request the tests send, so that a stuck add-on fails a test instead of stalling it. */
const REQUEST_TIMEOUT_MS = 10_000;
/** Upper bound for a process to exit after a signal, above the 10 s that server.ts gives requests in flight. */
const EXIT_TIMEOUT_MS = 12_000;
const INSTALL_COUNT = 400;
const INSTALL_CONCURRENCY = 8;
const VIEW_CONCURRENCY = 4;
/** The kill comes once this many installs got a 204 response, well before all of them do. */
const KILL_AFTER_ACKNOWLEDGED = 10;
/**
 * The kill comes after this long even with fewer acknowledged installs. On sqlite,
 * concurrent first installs often fail with SQLITE_BUSY (a 500) or wait seconds,
 * so 204s arrive slowly.
 */
const MAX_BURST_MS = 20_000;

interface StoredTenant {
  clientKey: string;
  sharedSecret: string;
}

/** Reads the tenants ACE stored: rows of AddonSettings with key 'clientInfo', whose `val` is JSON text. */
function readStoredTenants(sqliteFile: string): Promise<Map<string, StoredTenant>> {
  return new Promise((resolve, reject) => {
    const database = new sqlite3.Database(sqliteFile, sqlite3.OPEN_READONLY, (openError) => {
      if (openError) reject(openError);
    });
    const query = "SELECT clientKey, val FROM AddonSettings WHERE key = 'clientInfo'";
    database.all(query, (queryError: Error | null, rows: Array<{ clientKey: string; val: unknown }>) => {
      database.close();
      if (queryError) {
        reject(queryError);
        return;
      }
      resolve(new Map(rows.map((row) => [row.clientKey, parseStoredValue(row.val)])));
    });
  });
}

/** Decodes `val`, which Sequelize may store as JSON text of JSON text. */
function parseStoredValue(value: unknown): StoredTenant {
  let decoded = value;
  for (let depth = 0; depth < 2 && typeof decoded === 'string'; depth += 1) {
    decoded = JSON.parse(decoded);
  }
  return decoded as StoredTenant;
}

async function sendWithTimeout(url: string, init: RequestInit = {}): Promise<{ status: number; body: string }> {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  return { status: response.status, body: await response.text() };
}

async function viewPanel(bitbucket: BitbucketSimulator, workspace: string, slug: string) {
  const { status, body } = await sendWithTimeout(bitbucket.panelUrl(workspace, slug));
  return { status, page: parsePanelHtml(body) };
}

/** Resolves with the exit code, or 'timeout' when the process is still running after `ms`. */
async function exitWithin(addon: AddonProcess, ms: number): Promise<number | null | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  const outcome = await Promise.race([addon.exited, timeout]);
  clearTimeout(timer);
  return outcome;
}

/** Resolves with 'refused' when nothing accepts connections on the port, 'connected' otherwise. */
function tryConnect(port: number): Promise<'connected' | 'refused' | 'timeout'> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.setTimeout(2000);
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve('timeout');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      resolve(error.code === 'ECONNREFUSED' ? 'refused' : 'connected');
    });
  });
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return condition();
}

describeWithBuild('SIGKILL during installs and panel views', () => {
  let dataDir: string;
  let sqliteFile: string;
  let port: number;
  let env: Record<string, string>;
  let hub: DockerHubSimulator;
  let bitbucket: BitbucketSimulator;
  let addon: AddonProcess | undefined;
  let restarted: AddonProcess | undefined;
  let descriptorKey: string;
  const sentSecrets = new Map<string, string>();
  const acknowledged: string[] = [];
  let unanswered = 0;
  let killSignal: NodeJS.Signals | null = null;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'crash-test-'));
    sqliteFile = path.join(dataDir, 'tenants.sqlite');
    hub = await startDockerHubSimulator();
    env = { DATABASE_URL: `sqlite:${sqliteFile}`, DOCKER_HUB_URL: hub.url };
    port = await freePort();
    addon = await startAddonProcess(env, port);
    const descriptor = await sendWithTimeout(`${addon.url}/atlassian-connect.json`);
    descriptorKey = (JSON.parse(descriptor.body) as { key: string }).key;
    bitbucket = await startBitbucketSimulator({ addonBaseUrl: addon.url, appKey: descriptorKey });
    await bitbucket.install('acme-ws');
    await bitbucket.install('other-ws');

    const running = addon;
    const burstDeadline = Date.now() + MAX_BURST_MS;
    let nextInstall = 0;
    let killed = false;
    let installsInFlight = 0;
    const installWorker = async () => {
      while (!killed && nextInstall < INSTALL_COUNT) {
        nextInstall += 1;
        const clientKey = `crash-test-${nextInstall}-${crypto.randomUUID()}`;
        const sharedSecret = randomSecret();
        sentSecrets.set(clientKey, sharedSecret);
        const payload = {
          ...installPayload({ clientKey, sharedSecret, baseUrl: bitbucket.webUrl, baseApiUrl: bitbucket.apiUrl }),
          key: descriptorKey,
        };
        installsInFlight += 1;
        try {
          const response = await sendWithTimeout(`${running.url}/installed`, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify(payload),
          });
          if (response.status === 204) acknowledged.push(clientKey);
        } catch {
          unanswered += 1;
        } finally {
          installsInFlight -= 1;
        }
        // The kill waits until other workers have installs in flight, so that it lands mid-write
        // even when a loaded machine lets the workers fall out of step.
        const killDue =
          (acknowledged.length >= KILL_AFTER_ACKNOWLEDGED && installsInFlight >= INSTALL_CONCURRENCY / 2) ||
          Date.now() > burstDeadline;
        if (!killed && killDue) {
          killed = true;
          running.signal('SIGKILL');
        }
      }
    };
    const viewWorker = async () => {
      const repositories: Array<[string, string]> = [
        ['acme-ws', 'web-proxy'],
        ['other-ws', 'billing-service'],
      ];
      for (let round = 0; !killed && round < INSTALL_COUNT; round += 1) {
        const [workspace, slug] = repositories[round % repositories.length];
        await viewPanel(bitbucket, workspace, slug).catch(() => undefined);
      }
    };
    await Promise.all([
      ...Array.from({ length: INSTALL_CONCURRENCY }, installWorker),
      ...Array.from({ length: VIEW_CONCURRENCY }, viewWorker),
    ]);
    await exitWithin(running, EXIT_TIMEOUT_MS);
    killSignal = running.child.signalCode;

    restarted = await startAddonProcess(env, port);
  }, 90_000);

  afterAll(async () => {
    await stopAddonProcess(restarted);
    if (addon?.child.exitCode === null && addon.child.signalCode === null) addon.signal('SIGKILL');
    await bitbucket?.close();
    await hub?.close();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('process died by SIGKILL', () => {
    expect(killSignal).toBe('SIGKILL');
  });

  test('kill landed mid-burst', () => {
    expect(acknowledged.length).toBeGreaterThan(0);
    expect(acknowledged.length).toBeLessThan(INSTALL_COUNT);
  });

  test('some installs were cut off', () => {
    // Installs in flight at the kill get no response. Without any, the kill did not land mid-burst.
    expect(unanswered).toBeGreaterThan(0);
  });

  test('every acknowledged tenant stored', async () => {
    const stored = await readStoredTenants(sqliteFile);
    const missing = acknowledged.filter((clientKey) => !stored.has(clientKey));
    expect(missing).toEqual([]);
  });

  test('stored secrets match sent secrets', async () => {
    const stored = await readStoredTenants(sqliteFile);
    const mismatched = acknowledged.filter((clientKey) => stored.get(clientKey)?.sharedSecret !== sentSecrets.get(clientKey));
    expect(mismatched).toEqual([]);
  });

  test('sandbox tenants still stored', async () => {
    const stored = await readStoredTenants(sqliteFile);
    expect(stored.has(clientKeyFor('acme-ws'))).toBe(true);
    expect(stored.has(clientKeyFor('other-ws'))).toBe(true);
  });

  test('restarted acme-ws panel is ready', async () => {
    const { status, page } = await viewPanel(bitbucket, 'acme-ws', 'web-proxy');
    expect(status).toBe(200);
    expect(page.state).toBe('ready');
  });

  test('restarted other-ws panel is ready', async () => {
    const { status, page } = await viewPanel(bitbucket, 'other-ws', 'billing-service');
    expect(status).toBe(200);
    expect(page.state).toBe('ready');
  });
});

const HUB_DELAY_MS = 1500;
const NGINX_PATH = '/v2/repositories/library/nginx/';

interface SigtermOutcome {
  status: number;
  page: ReturnType<typeof parsePanelHtml>;
  elapsedMs: number;
  connectionAfterSignal: 'connected' | 'refused' | 'timeout';
  exitCode: number | null | 'timeout';
}

/** Fetches a URL through `agent` with node:http, so that the test decides whether the connection is kept alive. */
function getWithAgent(url: string, agent: http.Agent): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      response.on('error', reject);
    });
    request.setTimeout(REQUEST_TIMEOUT_MS, () => request.destroy(new Error(`no response within ${REQUEST_TIMEOUT_MS} ms`)));
    request.on('error', reject);
  });
}

/**
 * Starts an add-on process, sends SIGTERM while a panel request waits on a slow
 * Docker Hub, probes the port for new connections, then waits for the response
 * and the exit. A browser keeps its connection to the add-on alive, and
 * `keepAlive` chooses between that and a client that closes after each response.
 */
async function runSigtermScenario(keepAlive: boolean): Promise<SigtermOutcome> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sigterm-test-'));
  const agent = new http.Agent({ keepAlive });
  let hub: DockerHubSimulator | undefined;
  let bitbucket: BitbucketSimulator | undefined;
  let addon: AddonProcess | undefined;
  try {
    hub = await startDockerHubSimulator();
    addon = await startAddonProcess({
      DATABASE_URL: `sqlite:${path.join(dataDir, 'tenants.sqlite')}`,
      DOCKER_HUB_URL: hub.url,
    });
    bitbucket = await startBitbucketSimulator({ addonBaseUrl: addon.url });
    await bitbucket.install('acme-ws');
    hub.setFault(NGINX_PATH, { kind: 'delay', ms: HUB_DELAY_MS });

    const started = Date.now();
    const inFlight = getWithAgent(bitbucket.panelUrl('acme-ws', 'web-proxy'), agent);
    inFlight.catch(() => undefined);
    // The signal goes out once the add-on waits on Docker Hub, so the request is surely in flight.
    const hubReached = hub;
    await waitFor(() => hubReached.requestCount(NGINX_PATH) > 0, REQUEST_TIMEOUT_MS);
    addon.signal('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const connectionAfterSignal = await tryConnect(addon.port);
    const response = await inFlight;
    const elapsedMs = Date.now() - started;
    const exitCode = await exitWithin(addon, EXIT_TIMEOUT_MS);
    return { status: response.status, page: parsePanelHtml(response.body), elapsedMs, connectionAfterSignal, exitCode };
  } finally {
    agent.destroy();
    await stopAddonProcess(addon);
    await bitbucket?.close();
    await hub?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

describeWithBuild('SIGTERM with a slow panel request in flight', () => {
  describe.each([
    ['keep-alive client', true],
    ['closing client', false],
  ])('%s', (_label, keepAlive) => {
    let outcome: SigtermOutcome;

    beforeAll(async () => {
      outcome = await runSigtermScenario(keepAlive);
    }, 60_000);

    test('new connections refused after SIGTERM', () => {
      expect(outcome.connectionAfterSignal).toBe('refused');
    });

    test('request in flight completes with 200', () => {
      expect(outcome.status).toBe(200);
      expect(outcome.page.state).toBe('ready');
    });

    test('request in flight waited for Docker Hub', () => {
      expect(outcome.elapsedMs).toBeGreaterThanOrEqual(HUB_DELAY_MS);
    });

    test('request in flight shows the image', () => {
      expect(outcome.page.image?.reference).toBe('library/nginx');
      expect(outcome.page.stats.pulls?.title).toBe('12,916,987,208');
    });

    // NOTE: with a keep-alive client this fails today. server.ts closes idle connections only once, when
    // SIGTERM arrives. The in-flight response still carries `Connection: keep-alive`, so its connection
    // stays open (keepAliveTimeout 65 s) until the 10 s grace timer exits the process with code 1.
    test('process exits with code 0', () => {
      expect(outcome.exitCode).toBe(0);
    });
  });
});
